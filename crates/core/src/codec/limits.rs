//! What a session requires of the frames it encodes and decodes.

use super::signing::PayloadKeys;

/// What a session requires of the frames it encodes and decodes: bounds,
/// and the keys that sign them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireLimits {
    /// Deepest expression nesting accepted.
    pub max_depth: usize,
    /// Largest frame accepted, in bytes.
    pub max_payload_bytes: usize,
    /// Most expression nodes accepted.
    pub max_nodes: usize,
    /// Largest pickled callable of an inline Python UDF, in bytes.
    pub max_closure_bytes: u64,
    /// With keys, frames are signed on encode, and on decode only frames
    /// signed with one of them are accepted.
    pub keys: Option<PayloadKeys>,
}

impl WireLimits {
    pub const DEFAULT_MAX_DEPTH: usize = 2_000;
    pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 256 * 1024 * 1024;
    pub const DEFAULT_MAX_NODES: usize = 1_000_000;
    pub const DEFAULT_MAX_CLOSURE_BYTES: u64 = 64 * 1024 * 1024;
}

impl WireLimits {
    /// The protobuf nesting an expression within `max_depth` may take.
    pub fn proto_levels(&self) -> usize {
        self.max_depth.saturating_mul(PROTO_LEVELS_PER_EXPR).saturating_add(PROTO_LEVELS_SLACK)
    }
}

impl Default for WireLimits {
    fn default() -> Self {
        Self {
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_payload_bytes: Self::DEFAULT_MAX_PAYLOAD_BYTES,
            max_nodes: Self::DEFAULT_MAX_NODES,
            max_closure_bytes: Self::DEFAULT_MAX_CLOSURE_BYTES,
            keys: None,
        }
    }
}

/// Protobuf nesting accepted by default in bytes handed to a codec: what an
/// expression of the default wire depth may take.
pub const DEFAULT_MAX_NESTING: usize =
    WireLimits::DEFAULT_MAX_DEPTH * PROTO_LEVELS_PER_EXPR + PROTO_LEVELS_SLACK;

/// Protobuf nesting levels one expression level may take (a `CASE` branch
/// takes three: the node, its when/then pair, the inner node).
pub(super) const PROTO_LEVELS_PER_EXPR: usize = 3;
/// Extra protobuf levels for leaves (a literal's value, a cast's type).
const PROTO_LEVELS_SLACK: usize = 16;
