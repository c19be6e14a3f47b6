//! Whole expressions in and out of frames, with size and depth limits.
//!
//! Expression trees are recursive and so are the protobuf and DataFusion
//! routines that walk them. Depth is therefore checked before any recursive
//! step — on encode by walking the tree iteratively, on decode by measuring
//! the nesting of the protobuf body without recursion
//! ([`crate::wire::protobuf_depth`]) — and deep inputs run on a stack grown
//! to fit, so no input within the limit can overflow the stack and no input
//! over it is decoded at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Expr, HigherOrderUDF, ScalarUDF, WindowUDF};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::logical_plan::from_proto::parse_expr;
use datafusion_proto::logical_plan::to_proto::serialize_expr;
use datafusion_proto::protobuf::{FromProtoError, LogicalExprNode};
use prost::Message;

use super::bounded::decode_message;
pub use super::bounded::with_stack;
use super::error::CodecError;
use super::{PythonLogicalCodec, codec_error};
use crate::error::DfshipError;
use crate::wire::{FLAG_INLINE_PYTHON, FLAG_SIGNED, MAGIC_LOGICAL_EXPR, read_frame, write_frame_with};

/// Bounds on what a session encodes and decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    /// Deepest expression nesting accepted.
    pub max_depth: usize,
    /// Largest frame accepted, in bytes.
    pub max_payload_bytes: usize,
}

impl WireLimits {
    pub const DEFAULT_MAX_DEPTH: usize = 2_000;
    pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 256 * 1024 * 1024;
}

impl WireLimits {
    /// The protobuf nesting an expression within `max_depth` may take.
    pub fn proto_levels(&self) -> usize {
        self.max_depth.saturating_mul(PROTO_LEVELS_PER_EXPR).saturating_add(PROTO_LEVELS_SLACK)
    }
}

impl Default for WireLimits {
    fn default() -> Self {
        Self { max_depth: Self::DEFAULT_MAX_DEPTH, max_payload_bytes: Self::DEFAULT_MAX_PAYLOAD_BYTES }
    }
}

/// Protobuf nesting levels one expression level may take (a `CASE` branch
/// takes three: the node, its when/then pair, the inner node).
const PROTO_LEVELS_PER_EXPR: usize = 3;
/// Extra protobuf levels for leaves (a literal's value, a cast's type).
const PROTO_LEVELS_SLACK: usize = 16;
/// The nesting depth of an expression, found without recursion.
pub fn expr_depth(expr: &Expr) -> usize {
    let mut max = 0;
    let mut stack = vec![(expr, 1usize)];
    while let Some((e, depth)) = stack.pop() {
        max = max.max(depth);
        // `apply_children` visits only the direct children: no recursion.
        let _ = e.apply_children(|child| {
            stack.push((child, depth + 1));
            Ok(TreeNodeRecursion::Continue)
        });
    }
    max
}

/// Wraps the codec for one encode or decode. It records whether any inline
/// payload was written or read (so the frame can say so, and a decoder can
/// hold the frame's flag to it), delegates every other codec method, and keeps the first UDF
/// error whole: datafusion-proto discards encoding errors (the UDF would then
/// silently go by name) and flattens decoding errors from nested nodes into
/// text (losing their type).
#[derive(Debug)]
struct Tracked {
    codec: PythonLogicalCodec,
    /// On decode: whether the frame says its body holds inline Python code.
    flagged_inline: bool,
    inline: AtomicBool,
    failure: Mutex<Option<DataFusionError>>,
}

impl Tracked {
    fn new(codec: &PythonLogicalCodec, limits: &WireLimits, flagged_inline: bool) -> Self {
        Self {
            codec: codec.clone().with_max_nesting(limits.proto_levels()),
            flagged_inline,
            inline: AtomicBool::new(false),
            failure: Mutex::new(None),
        }
    }

    fn keep<T>(&self, outcome: DfResult<T>) -> DfResult<T> {
        outcome.map_err(|e| {
            let message = e.to_string();
            if let Ok(mut slot) = self.failure.lock() {
                slot.get_or_insert(e);
            }
            DataFusionError::Execution(message)
        })
    }

    fn take_failure(&self) -> Option<DataFusionError> {
        self.failure.lock().ok().and_then(|mut f| f.take())
    }

    /// Decodes one function node. An inline payload in a frame whose flag
    /// says there is none is refused before the codec (and the unpickler)
    /// sees it.
    fn decode_with<T>(&self, name: &str, buf: &[u8], decode: impl FnOnce() -> DfResult<T>) -> DfResult<T> {
        if buf.starts_with(b"DFS") {
            self.inline.store(true, Ordering::Relaxed);
            if !self.flagged_inline {
                return self.keep(Err(codec_error(CodecError::Malformed(format!(
                    "the frame's inline-Python flag is clear, but its body holds an inline Python UDF \
                     ('{name}'): refused without loading it"
                )))));
            }
        }
        self.keep(decode())
    }

    fn record(&self, before: usize, buf: &[u8], outcome: DfResult<()>) -> DfResult<()> {
        match outcome {
            Ok(()) => {
                if buf.len() > before && buf[before..].starts_with(b"DFS") {
                    self.inline.store(true, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(e) => self.keep(Err(e)),
        }
    }
}

impl LogicalExtensionCodec for Tracked {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[datafusion::logical_expr::LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<datafusion::logical_expr::Extension> {
        self.codec.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &datafusion::logical_expr::Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.codec.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &datafusion::common::TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn datafusion::datasource::TableProvider>> {
        self.codec.try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &datafusion::common::TableReference,
        node: Arc<dyn datafusion::datasource::TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        self.codec.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_file_format(&self, buf: &[u8], ctx: &TaskContext) -> DfResult<Arc<dyn FileFormatFactory>> {
        self.codec.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(&self, buf: &mut Vec<u8>, node: Arc<dyn FileFormatFactory>) -> DfResult<()> {
        self.codec.try_encode_file_format(buf, node)
    }

    fn try_decode_higher_order_function(&self, name: &str, buf: &[u8]) -> DfResult<Arc<HigherOrderUDF>> {
        self.keep(self.codec.try_decode_higher_order_function(name, buf))
    }

    fn try_encode_higher_order_function(&self, node: &HigherOrderUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        let before = buf.len();
        let outcome = self.codec.try_encode_higher_order_function(node, buf);
        self.record(before, buf, outcome)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<ScalarUDF>> {
        self.decode_with(name, buf, || self.codec.try_decode_udf(name, buf))
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<AggregateUDF>> {
        self.decode_with(name, buf, || self.codec.try_decode_udaf(name, buf))
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> DfResult<Arc<WindowUDF>> {
        self.decode_with(name, buf, || self.codec.try_decode_udwf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        let before = buf.len();
        let outcome = self.codec.try_encode_udf(node, buf);
        self.record(before, buf, outcome)
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        let before = buf.len();
        let outcome = self.codec.try_encode_udaf(node, buf);
        self.record(before, buf, outcome)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> DfResult<()> {
        let before = buf.len();
        let outcome = self.codec.try_encode_udwf(node, buf);
        self.record(before, buf, outcome)
    }
}

/// Serializes `expr` into a `DFSE` frame.
pub fn encode_logical_expr(
    expr: &Expr,
    codec: &PythonLogicalCodec,
    limits: &WireLimits,
) -> Result<Vec<u8>, DfshipError> {
    let depth = expr_depth(expr);
    if depth > limits.max_depth {
        return Err(CodecError::TooDeep { depth, limit: limits.max_depth, stage: "encode" }.into());
    }
    let encoding = Tracked::new(codec, limits, false);
    let frame = with_stack(depth * PROTO_LEVELS_PER_EXPR, || {
        let node = serialize_expr(expr, &encoding);
        if let Some(failure) = encoding.take_failure() {
            return Err(DfshipError::DataFusion(failure));
        }
        let node =
            node.map_err(|e| CodecError::Malformed(format!("cannot serialize the expression: {e}")))?;
        let flags = if encoding.inline.load(Ordering::Relaxed) { FLAG_INLINE_PYTHON } else { 0 };
        // The body is encoded straight into the frame.
        Ok(write_frame_with(MAGIC_LOGICAL_EXPR, flags, node.encoded_len(), |out| node.encode_raw(out), None))
    })?;
    if frame.len() > limits.max_payload_bytes {
        return Err(CodecError::from(crate::wire::WireError::TooLarge {
            size: frame.len() as u64,
            limit: limits.max_payload_bytes,
        })
        .into());
    }
    Ok(frame)
}

/// Checks a `DFSE` frame and rebuilds its expression, resolving functions
/// named in it through `registry`.
pub fn decode_logical_expr(
    bytes: &[u8],
    registry: &TaskContext,
    codec: &PythonLogicalCodec,
    limits: &WireLimits,
) -> Result<Expr, DfshipError> {
    let frame =
        read_frame(bytes, &[MAGIC_LOGICAL_EXPR], limits.max_payload_bytes).map_err(CodecError::from)?;
    if frame.flags & FLAG_SIGNED != 0 {
        return Err(CodecError::Unverifiable.into());
    }
    let proto_limit = limits.proto_levels();
    let (node, proto_depth) =
        decode_message::<LogicalExprNode>(frame.body, proto_limit, "body").map_err(|e| match e {
            // Reported in expression levels, as the limit is set.
            CodecError::NestedTooDeep { levels, .. } => {
                CodecError::TooDeep { depth: levels.div_ceil(2), limit: limits.max_depth, stage: "decode" }
            }
            other => other,
        })?;
    with_stack(proto_depth, || {
        let flagged = frame.flags & FLAG_INLINE_PYTHON != 0;
        let decoding = Tracked::new(codec, limits, flagged);
        let parsed = parse_expr(&node, registry, &decoding);
        if let Some(failure) = decoding.take_failure() {
            return Err(DfshipError::DataFusion(failure));
        }
        let expr = parsed.map_err(|e| match e {
            FromProtoError::DataFusionError(e) => DfshipError::DataFusion(e),
            other => CodecError::Malformed(other.to_string()).into(),
        })?;
        drop(node);
        // The flag is written exactly when the body holds inline Python code
        // (the other way round was refused while decoding).
        if flagged && !decoding.inline.load(Ordering::Relaxed) {
            return Err(CodecError::Malformed(
                "the frame's inline-Python flag is set, but its body holds no inline Python UDF".into(),
            )
            .into());
        }
        // The protobuf bound above keeps decoding safe; this one is exact.
        let depth = expr_depth(&expr);
        if depth > limits.max_depth {
            return Err(CodecError::TooDeep { depth, limit: limits.max_depth, stage: "decode" }.into());
        }
        Ok(expr)
    })
}
