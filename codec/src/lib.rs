//! dfship ships Apache DataFusion work to other processes.
//!
//! The crate is layered; each layer only knows the one below it:
//!
//! * [`wire`] — the frame every serialized object travels in; pure Rust, its
//!   module doc is the format's specification;
//! * [`codec`] — datafusion-proto extension codecs that carry Python UDFs
//!   inline ([`codec::PythonLogicalCodec`], [`codec::PythonPhysicalCodec`]);
//! * [`udf`] — DataFusion UDF implementations backed by Python callables
//!   (scalar, aggregate, window);
//! * [`runtime`] — the process-owned async runtime, re-created after `fork`;
//! * [`error`] — the crate's one error type;
//! * [`python`] — the thin `#[pymodule]` (`dfship._internal`) that the Python
//!   package `dfship` wraps.

pub mod codec;
pub mod error;
pub mod python;
pub mod runtime;
pub mod udf;
pub mod wire;

pub use error::{DfshipError, Result};
