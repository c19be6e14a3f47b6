//! dfship's core: what ships DataFusion work, Python UDFs included, and
//! what runs it in this process.
//!
//! dfship is a workspace of layer crates, each depending only on those
//! below it (`tools/check_layers.py` fails the build otherwise):
//!
//! 1. `dfship-wire` — the frame every serialized object travels in: layout,
//!    flags, checksums, varints; no DataFusion types;
//! 2. `dfship-core` (this crate) — everything a Rust program needs to ship
//!    and run work:
//!    * [`codec`] — datafusion-proto extension codecs that carry Python UDFs
//!      inline ([`codec::PythonLogicalCodec`], [`codec::PythonPhysicalCodec`]),
//!      bounded decoding, signing;
//!    * [`udf`] — DataFusion UDF implementations backed by Python callables
//!      (scalar, aggregate, window);
//!    * [`runtime`] — the process-owned async runtime, re-created after `fork`;
//!    * [`convert`] — Python values as DataFusion scalars, for UDFs and literals;
//!    * [`builtins`] — DataFusion's built-in functions by name and alias;
//!    * [`query`] — query building beyond DataFusion's DataFrame (joins that
//!      coalesce their keys);
//!    * [`session`] — a DataFusion session with the settings its shipping
//!      follows ([`session::ShipSettings`]: inlining, limits, keys), the
//!      process's key from `DFSHIP_PAYLOAD_KEY`; [`slots`] — the per-thread
//!      sender and worker sessions and the rule choosing which settings an
//!      encode or decode follows; [`depth`] — the process-wide expression
//!      depth limit;
//!    * [`error`] — the crate's one error type (the codec layer returns its
//!      own, [`codec::CodecError`], which DataFusion's errors travel inside
//!      whole), [`exceptions`], the table of the exception each error
//!      becomes in Python and the tag a worker's refusal carries it in, and
//!      [`pyerr`], the one place errors become Python exceptions;
//! 3. `dfship-distributed` — query-level distribution on
//!    datafusion-distributed: workers, the coordinating planner, the request
//!    guard, Python UDFs sent with each query;
//! 4. `dfship-python` — only the `dfship._internal` extension module that
//!    the Python package `dfship` wraps: argument conversion, `#[pyclass]`
//!    handles and the error mapping.

//! # How depth and size are bounded
//!
//! No input and no depth may crash the process, so every recursive walk is
//! either preceded by a bound or given a stack sized for what it walks:
//!
//! * **Bytes in.** A frame's declared length is checked against the
//!   session's `max_payload_bytes` before anything else
//!   ([`dfship_wire::read_frame`]). Every protobuf message, wherever it sits (the
//!   frame body, the Arrow types inside an inline UDF payload, any byte
//!   string datafusion-proto hands a codec), goes through
//!   [`codec::bounded`]: its nesting is measured without recursion
//!   (messages and groups alike) and refused over the limit, then it is
//!   decoded on a stack grown to fit. prost's own limit is off so that legal
//!   deep expressions decode; a source test keeps every decode on this path.
//!   Nesting does not bound the trees built from a message, because
//!   datafusion-proto folds flat operand lists (`a + b + c`) into left-deep
//!   chains: the same scan bounds how deep such folding can go, conversion
//!   runs on a stack sized for that (longer lists than
//!   [`codec::bounded::MAX_UNFOLDED`] are refused), and the tree that comes
//!   out is measured exactly before it is accepted. Arrow IPC streams inside
//!   a message (the batches of an in-memory scan) have every declared body
//!   length checked against the bytes present before Arrow allocates it.
//!   A compressed callable's stated length is bounded by
//!   [`dfship_wire::MAX_CALLABLE_BYTES`] and by what LZ4 can expand the block to,
//!   before allocation; the decoded-UDF cache is bounded in entries and bytes.
//! * **Expressions in memory.** The Python layer keeps each expression's
//!   depth beside it and refuses to build or decode one over the
//!   process-wide limit (`dfship.set_max_expression_depth`, default 2,000).
//!   Cloning, displaying, comparing, hashing and dropping run on a stack
//!   sized by that depth ([`codec::bounded::with_stack`]); so do plan
//!   building and, past [`runtime::RUNTIME_DEPTH`], the whole query
//!   ([`runtime::block_on_sized`]).
//! * **Panics in conversion.** datafusion-proto and Arrow assert some
//!   invariants of what they decode by panicking. The conversion of a
//!   decoded message runs under `codec::framing::converting`, which
//!   reports a panic as corrupt input; the fuzz targets in `fuzz/` check
//!   that nothing escapes a decode call.
//! * **Bytes out.** Encoding checks the depth iteratively against the
//!   session's wire `max_depth` (default 2,000) before serializing, and the
//!   frame size against `max_payload_bytes`.
//! * **Physical plans and expressions** ([`codec::physical`]) share the
//!   frame, its flags and both limits. Their depth only shows once they are
//!   serialized, so encoding runs on a stack for the deepest body the limits
//!   allow and then holds the body to the same nesting bound a receiver
//!   applies; decoded plans keep their measured nesting, which sizes the
//!   stacks that display, run and drop them.

pub mod builtins;
pub mod chain;
pub mod codec;
pub mod convert;
pub mod depth;
pub mod error;
pub mod exceptions;
pub mod panics;
pub mod pyerr;
pub mod query;
pub mod runtime;
pub mod session;
pub mod slots;
pub mod stores;
pub mod udf;

pub use error::{DfshipError, Result};
