//! Sessions that ship work: a DataFusion session with the settings that
//! decide what its encodes write and its decodes accept.
//!
//! [`ShipSettings`] is the one place those settings live: whether Python
//! UDFs travel inline, the wire limits, and the payload keys (inside
//! [`WireLimits`]). A [`ShipSession`] pairs them with a
//! DataFusion `SessionContext`; several sessions can share one DataFusion
//! session (its tables and functions) with different settings.
//!
//! Which session an encode or decode follows when none is given is decided
//! in [`crate::slots`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use datafusion::execution::TaskContext;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;

use crate::codec::signing::PayloadKeys;
use crate::codec::{PythonLogicalCodec, PythonPhysicalCodec, WireLimits};
use crate::error::{DfshipError, Result};

/// The environment variable whose UTF-8 bytes are the process's payload key.
pub const PAYLOAD_KEY_ENV: &str = "DFSHIP_PAYLOAD_KEY";

/// The payload key `DFSHIP_PAYLOAD_KEY` gives the process, if it is set and
/// not empty (an empty value is no key).
pub fn env_payload_key() -> Option<PayloadKeys> {
    let value = std::env::var_os(PAYLOAD_KEY_ENV)?;
    let bytes = value.as_encoded_bytes();
    if bytes.is_empty() {
        return None;
    }
    PayloadKeys::new(bytes, &[]).ok()
}

/// What a session writes and accepts on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipSettings {
    /// Whether Python UDFs travel inline (off: by name, and inline payloads
    /// are refused without being unpickled).
    pub inlining: bool,
    /// Bounds, and the keys that sign and verify frames.
    pub limits: WireLimits,
}

impl Default for ShipSettings {
    fn default() -> Self {
        Self { inlining: true, limits: WireLimits::default() }
    }
}

impl ShipSettings {
    /// The defaults, signed with the process's key (`DFSHIP_PAYLOAD_KEY`)
    /// when it has one.
    pub fn from_env() -> Self {
        let mut settings = Self::default();
        settings.limits.keys = env_payload_key();
        settings
    }

    pub fn with_inlining(mut self, enabled: bool) -> Self {
        self.inlining = enabled;
        self
    }

    /// Signs with `key` and accepts payloads signed with it or one of
    /// `previous`.
    pub fn with_payload_key(mut self, key: &[u8], previous: &[&[u8]]) -> Result<Self> {
        let keys =
            PayloadKeys::new(key, previous).map_err(|e| DfshipError::InvalidArgument(e.to_string()))?;
        self.limits.keys = Some(keys);
        Ok(self)
    }

    pub fn with_keys(mut self, keys: Option<PayloadKeys>) -> Self {
        self.limits.keys = keys;
        self
    }

    /// Other wire limits; `None` keeps the current value. Each limit has a
    /// floor that a frame cannot go under.
    pub fn with_wire_limits(
        mut self,
        max_depth: Option<usize>,
        max_payload_bytes: Option<usize>,
        max_nodes: Option<usize>,
        max_closure_bytes: Option<u64>,
    ) -> Result<Self> {
        let invalid = |message: String| Err(DfshipError::InvalidArgument(message));
        if let Some(n) = max_nodes {
            if n == 0 {
                return invalid("max_nodes must be at least 1".into());
            }
            self.limits.max_nodes = n;
        }
        if let Some(c) = max_closure_bytes {
            if c == 0 || c > dfship_wire::MAX_CALLABLE_BYTES {
                return invalid(format!(
                    "max_closure_bytes must be between 1 and {}",
                    dfship_wire::MAX_CALLABLE_BYTES
                ));
            }
            self.limits.max_closure_bytes = c;
        }
        if let Some(d) = max_depth {
            if d == 0 {
                return invalid("max_depth must be at least 1".into());
            }
            self.limits.max_depth = d;
        }
        if let Some(b) = max_payload_bytes {
            if b < dfship_wire::MIN_FRAME_LEN {
                return invalid(format!("max_payload_bytes must be at least {}", dfship_wire::MIN_FRAME_LEN));
            }
            self.limits.max_payload_bytes = b;
        }
        Ok(self)
    }

    /// The logical codec these settings encode and decode with.
    pub fn logical_codec(&self) -> PythonLogicalCodec {
        PythonLogicalCodec::new().with_python_udf_inlining(self.inlining)
    }

    /// The physical codec these settings encode and decode with.
    pub fn physical_codec(&self) -> PythonPhysicalCodec {
        PythonPhysicalCodec::new().with_python_udf_inlining(self.inlining)
    }
}

/// The function registry an expression decodes against, built from the
/// session on first use and rebuilt after a registration through any
/// [`ShipSession`] on it. Building it copies every function map of the
/// session, which would otherwise dominate the cost of decoding a small
/// expression.
#[derive(Default)]
pub struct Registry {
    generation: AtomicU64,
    built: Mutex<Option<(u64, Arc<TaskContext>)>>,
}

impl Registry {
    /// Forgets the built registry: the session's functions changed.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn task_ctx(&self, ctx: &SessionContext) -> Arc<TaskContext> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Ok(built) = self.built.try_lock()
            && let Some((g, task)) = built.as_ref()
            && *g == generation
        {
            return Arc::clone(task);
        }
        let task = ctx.task_ctx();
        if let Ok(mut built) = self.built.try_lock() {
            *built = Some((generation, Arc::clone(&task)));
        }
        task
    }
}

/// A DataFusion session and the settings its shipping follows.
#[derive(Clone)]
pub struct ShipSession {
    pub ctx: SessionContext,
    pub settings: ShipSettings,
    /// Shared by every `ShipSession` on the same DataFusion session.
    pub registry: Arc<Registry>,
}

impl ShipSession {
    /// A session over `ctx` with the default settings (no key: see
    /// [`ShipSettings::from_env`]).
    pub fn new(ctx: SessionContext) -> Self {
        Self::prepare(&ctx);
        Self { ctx, settings: ShipSettings::default(), registry: Arc::default() }
    }

    /// What every dfship session changes in DataFusion's defaults.
    ///
    /// Frames over in-memory data re-expose the scan's columns unqualified.
    /// DataFusion 55's `push_down_leaf_projections` pass moves field accesses
    /// such as `s['x']` below that projection and then fails on the qualified
    /// and unqualified `s` side by side, so dfship sessions run without it;
    /// the extracted accesses stay where the first pass puts them, which
    /// gives the same results.
    pub fn prepare(ctx: &SessionContext) {
        ctx.remove_optimizer_rule("push_down_leaf_projections");
    }

    /// The process-wide session: the last step of decode resolution and the
    /// session of module-level helpers, created on first use with the
    /// process's payload key.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<ShipSession> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let ctx =
                SessionContext::new_with_config_rt(SessionConfig::new(), crate::stores::default_runtime());
            Self::new(ctx).with_settings(ShipSettings::from_env())
        })
    }

    /// The same DataFusion session with other settings.
    pub fn with_settings(&self, settings: ShipSettings) -> Self {
        Self { settings, ..self.clone() }
    }

    /// The context functions resolve in when decoding.
    pub fn task_ctx(&self) -> Arc<TaskContext> {
        self.registry.task_ctx(&self.ctx)
    }

    /// Whether two sessions share one DataFusion session.
    pub fn same_session(&self, other: &Self) -> bool {
        self.ctx.session_id() == other.ctx.session_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_limits_are_checked_and_kept() {
        let base = ShipSettings::default();
        for refused in [
            base.clone().with_wire_limits(Some(0), None, None, None),
            base.clone().with_wire_limits(None, Some(dfship_wire::MIN_FRAME_LEN - 1), None, None),
            base.clone().with_wire_limits(None, None, Some(0), None),
            base.clone().with_wire_limits(None, None, None, Some(0)),
            base.clone().with_wire_limits(None, None, None, Some(dfship_wire::MAX_CALLABLE_BYTES + 1)),
        ] {
            assert!(matches!(refused, Err(DfshipError::InvalidArgument(_))), "{refused:?}");
        }
        let set = base.with_wire_limits(Some(7), None, Some(9), None).expect("valid");
        assert_eq!((set.limits.max_depth, set.limits.max_nodes), (7, 9));
        assert_eq!(set.limits.max_payload_bytes, WireLimits::DEFAULT_MAX_PAYLOAD_BYTES);
    }

    #[test]
    fn codecs_follow_the_inlining_setting() {
        for inlining in [true, false] {
            let settings = ShipSettings::default().with_inlining(inlining);
            assert_eq!(settings.logical_codec().python_udf_inlining(), inlining);
            assert_eq!(settings.physical_codec().python_udf_inlining(), inlining);
        }
    }

    #[test]
    fn a_payload_key_is_kept_and_a_bad_one_refused() {
        let keyed = ShipSettings::default().with_payload_key(b"0123456789abcdef", &[]).expect("key");
        assert!(keyed.limits.keys.is_some());
        assert!(matches!(
            ShipSettings::default().with_payload_key(b"", &[]),
            Err(DfshipError::InvalidArgument(_))
        ));
    }
}
