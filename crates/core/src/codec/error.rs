//! Why the codec refused or failed.

use datafusion::error::DataFusionError;
use pyo3::PyErr;

use super::family::UdfFamily;
use crate::exceptions::Exception;
use dfship_wire::WireError;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// An inline UDF's pickled callable is over the session's limit.
    #[error(
        "the Python {family} UDF '{udf}' pickles to {size} bytes, over the limit of {limit} for inline \
         callables; raise it with SessionContext.with_wire_limits(max_closure_bytes=...) on both sides, \
         or capture less in the UDF's closure"
    )]
    ClosureTooLarge { udf: String, family: UdfFamily, size: u64, limit: u64 },
    /// The expression has more nodes than the session's limit.
    #[error(
        "expression has {nodes} nodes, over the limit of {limit} at {stage}; raise it with \
         SessionContext.with_wire_limits(max_nodes=...) on both sides if this is expected"
    )]
    TooManyNodes { nodes: usize, limit: usize, stage: &'static str },
    /// The bytes failed a frame or payload check.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The frame carries an authentication tag, and the decoding session has
    /// no key to verify it with: a tag that is not checked proves nothing, so
    /// the payload is refused rather than trusted.
    #[error(
        "payload is signed, and the decoding session holds no payload key to verify its signature: \
         refused unverified. Decode with a session made by SessionContext.with_payload_key(key)"
    )]
    Unverifiable,
    /// The session requires signed payloads and this one is not signed.
    #[error(
        "payload is not signed: this session accepts only payloads signed with its key (id {key_id}); \
         sign on the sender with SessionContext.with_payload_key(key) (or DFSHIP_PAYLOAD_KEY)"
    )]
    Unsigned { key_id: String },
    /// Signed with a key the session does not hold.
    #[error(
        "payload is signed with an unknown key (id {found}); this session accepts key ids {accepted:?}. \
         Give the receiver the sender's key, as its key or in previous= while keys rotate"
    )]
    UnknownKey { found: String, accepted: Vec<String> },
    /// The MAC does not match: the bytes were changed after signing.
    #[error(
        "payload signature does not match (key id {key_id}): the payload was altered after it was signed"
    )]
    BadSignature { key_id: String },
    /// A key that cannot be used.
    #[error("{0}")]
    BadKey(String),
    /// The frame checked out but its body is not a valid message.
    #[error("payload is corrupt: {0}")]
    Malformed(String),
    /// A strict session was handed an inline Python UDF.
    #[error(
        "refused inline Python {family} UDF '{udf}': Python UDF inlining is disabled on the decoding \
         session, so its pickled code was not loaded. Register '{udf}' on the receiving session and \
         send it by name (sender session with_python_udf_inlining(enabled=False)), or enable inlining \
         on the receiver if the sender is trusted"
    )]
    InliningDisabled { udf: String, family: UdfFamily },
    /// A function the expression names is not registered on the receiver.
    #[error(
        "unknown {family} function '{name}': the expression refers to it by name and the decoding \
         session has no such function. Register it on the worker's session and install that session \
         with dfship.ipc.set_worker_ctx(), or pass ctx= to Expr.from_bytes()"
    )]
    UnknownFunction { name: String, family: UdfFamily },
    /// The expression nests deeper than the session's limit.
    #[error(
        "expression is nested {depth} levels deep, over the limit of {limit} at {stage}; raise it with \
         SessionContext.with_wire_limits(max_depth=...) on both sides if this is expected"
    )]
    TooDeep { depth: usize, limit: usize, stage: &'static str },
    /// Bytes about to be decoded as protobuf nest deeper than allowed:
    /// refused before any recursive decoder saw them.
    #[error(
        "the {what} nests {levels} protobuf messages deep, over the limit of {limit}: refused before \
         decoding"
    )]
    NestedTooDeep { what: &'static str, levels: usize, limit: usize },
    /// The payload was made by the `datafusion` Python package.
    #[error(
        "the {family} UDF '{udf}' carries a payload of the 'datafusion' Python package, which dfship \
         does not load: serialize the expression with dfship"
    )]
    ForeignPayload { udf: String, family: UdfFamily },
    /// Pickling the callable failed (for example, it captured an open file).
    #[error("cannot serialize Python {family} UDF '{udf}': {error}")]
    Pickle { udf: String, family: UdfFamily, error: PyErr },
    /// The payload decoded, but DataFusion could not build what it
    /// describes (or could not serialize what it was given): its error,
    /// whole.
    #[error(transparent)]
    Query(DataFusionError),
    /// Unpickling the callable failed (for example, a module it imports is
    /// missing on this machine).
    #[error("cannot load Python {family} UDF '{udf}': {error}")]
    Unpickle { udf: String, family: UdfFamily, error: PyErr },
}

/// What kind of refusal or failure a [`CodecError`] is: the classification
/// callers map to their own error types, so that they need not know the
/// wire format's internals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecErrorKind {
    /// Damaged, truncated or not a dfship payload at all.
    Corrupt,
    /// A format version, flag or payload kind this build does not read.
    Unsupported,
    /// Over the receiver's size limit.
    TooLarge,
    /// A Python UDF pickled by another Python minor version.
    PythonVersionMismatch,
    /// Nested deeper than the limit.
    TooDeep,
    /// An inline Python UDF sent to a session that refuses them.
    InliningDisabled,
    /// A function the receiver does not have.
    UnknownFunction,
    /// A Python callable could not be pickled or unpickled.
    Serialization,
    /// A signed session refused a payload: unsigned, another key, altered.
    Signature,
    /// DataFusion refused what the payload describes.
    Query,
}

impl CodecErrorKind {
    /// The `dfship.exceptions` class raised for this kind.
    pub fn exception(self) -> Exception {
        match self {
            Self::Corrupt => Exception::CorruptPayload,
            Self::Unsupported => Exception::UnsupportedFormat,
            Self::TooLarge => Exception::PayloadTooLarge,
            Self::PythonVersionMismatch => Exception::PythonVersionMismatch,
            Self::TooDeep => Exception::ExpressionTooDeep,
            Self::InliningDisabled => Exception::InliningDisabled,
            Self::UnknownFunction => Exception::UnknownFunction,
            Self::Serialization => Exception::Serialization,
            Self::Signature => Exception::Signature,
            Self::Query => Exception::Execution,
        }
    }
}

impl CodecError {
    /// The codec error this one carries inside DataFusion's error, if any,
    /// else this one: decoding reports a UDF's refusal through DataFusion.
    pub fn innermost(&self) -> &Self {
        match self {
            Self::Query(e) => crate::chain::find_in_chain::<Self>(e).map_or(self, Self::innermost),
            _ => self,
        }
    }

    pub fn kind(&self) -> CodecErrorKind {
        match self {
            Self::Wire(w) => match w {
                WireError::UnsupportedVersion { .. } | WireError::UnknownFlags { .. } => {
                    CodecErrorKind::Unsupported
                }
                WireError::TooLarge { .. } => CodecErrorKind::TooLarge,
                WireError::PythonVersionMismatch { .. } => CodecErrorKind::PythonVersionMismatch,
                _ => CodecErrorKind::Corrupt,
            },
            Self::Malformed(_) => CodecErrorKind::Corrupt,
            Self::ClosureTooLarge { .. } | Self::TooManyNodes { .. } => CodecErrorKind::TooLarge,
            Self::Unsigned { .. } | Self::UnknownKey { .. } | Self::BadSignature { .. } => {
                CodecErrorKind::Signature
            }
            Self::Unverifiable | Self::BadKey(_) | Self::ForeignPayload { .. } => CodecErrorKind::Unsupported,
            Self::InliningDisabled { .. } => CodecErrorKind::InliningDisabled,
            Self::UnknownFunction { .. } => CodecErrorKind::UnknownFunction,
            Self::TooDeep { .. } | Self::NestedTooDeep { .. } => CodecErrorKind::TooDeep,
            Self::Pickle { .. } | Self::Unpickle { .. } => CodecErrorKind::Serialization,
            Self::Query(_) => CodecErrorKind::Query,
        }
    }

    /// The sender's and the receiver's Python (major, minor), for
    /// [`CodecErrorKind::PythonVersionMismatch`].
    pub fn python_versions(&self) -> Option<((u8, u8), (u8, u8))> {
        match self {
            Self::Wire(WireError::PythonVersionMismatch { sender, receiver }) => Some((*sender, *receiver)),
            _ => None,
        }
    }
}

/// A codec error as the DataFusion error datafusion-proto's codec traits return.
pub(crate) fn codec_error(err: CodecError) -> DataFusionError {
    DataFusionError::External(Box::new(err))
}
