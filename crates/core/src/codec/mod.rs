//! datafusion-proto extension codecs that carry Python UDFs.
//!
//! [`PythonLogicalCodec`] and [`PythonPhysicalCodec`] plug into
//! datafusion-proto's `LogicalExtensionCodec` and `PhysicalExtensionCodec`.
//! A Python UDF (scalar, aggregate or window, see [`crate::udf`]) is written
//! **inline**: its callable, declared types and volatility go into the
//! `fun_definition` bytes of its node, as the payload described in
//! [`dfship_wire`], so the receiver needs nothing registered. Any other UDF
//! (built-ins, FFI UDFs, other Rust UDFs) goes by name through the inner codec
//! and is resolved in the receiver's function registry.
//!
//! With inlining disabled ([`PythonLogicalCodec::with_python_udf_inlining`])
//! Python UDFs go by name too, and the codec **refuses** any inline payload it
//! is asked to decode, naming the UDF and its family, before its pickled
//! bytes are looked at: the unpickler never runs.
//!
//! Any pyo3 host can use these codecs from Rust; the inline payloads need a
//! Python interpreter with `cloudpickle` importable to encode, and `pickle`
//! to decode.
//!
//! ```no_run
//! use datafusion::prelude::*;
//! use datafusion_proto::logical_plan::to_proto::serialize_expr;
//! use dfship_core::codec::PythonLogicalCodec;
//!
//! let codec = PythonLogicalCodec::new().with_python_udf_inlining(false);
//! let node = serialize_expr(&(col("a") + lit(1)), &codec).unwrap();
//! ```

pub mod bounded;
mod cache;
pub mod error;
pub mod expr;
mod extension;
pub mod family;
mod framing;
pub mod limits;
pub mod logical_plan;
pub mod payload;
pub mod physical;
pub mod signing;
mod tracking;

pub use error::CodecError;
pub use expr::{decode_logical_expr, decode_logical_expr_measured, encode_logical_expr};
pub use extension::{
    PythonLogicalCodec, PythonPhysicalCodec, clear_decoded_udf_cache, decoded_udf_cache_len,
};
pub use family::UdfFamily;
pub use limits::{DEFAULT_MAX_NESTING, WireLimits};
pub use logical_plan::{decode_logical_plan, encode_logical_plan};
pub use physical::{decode_physical_expr, decode_physical_plan, encode_physical_expr, encode_physical_plan};
