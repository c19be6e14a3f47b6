//! Query-level distribution on datafusion-distributed.
//!
//! The third of dfship's layer crates: it uses `dfship-wire` and
//! `dfship-core`, and only `dfship-python` uses it (see `ARCHITECTURE.md`).
//!
//! A coordinating session plans a query into stages with the crate's
//! planner and sends each stage's tasks to dfship workers, which run them
//! and stream Arrow batches back. Built-in functions and FFI UDFs travel by
//! name and resolve in each worker's registry, as the crate intends.
//!
//! # Python UDFs
//!
//! The crate composes its own physical codec before any user codec, and a
//! composed datafusion-proto codec stops at the first codec that accepts a
//! function: the crate's accepts every one (by name), so a user codec can
//! never write a Python UDF inline into the plan. Rather than patch the
//! crate, the coordinator sends the query's Python UDFs in a request header
//! ([`bundle`]): dfship frames, signed with the coordinator's key if it has
//! one. The worker's session builder, which runs before the plan is decoded,
//! checks them under the worker's own settings (inlining, keys, limits) and
//! registers them, so the by-name lookup in the plan finds them. A worker
//! with inlining off refuses them; one with a key refuses them unsigned.
//!
//! # Tokens
//!
//! With a token, every request carries `authorization: Bearer <token>`,
//! and a worker refuses any request without it before the request reaches
//! the crate's service. Workers add their token to the requests they make
//! of each other.
//!
//! # Errors across the wire
//!
//! An error crosses from worker to coordinator as text. A worker's refusal
//! starts with `[dfship:<ExceptionName>]` (`dfship_core::exceptions`) so that
//! the coordinator raises the same typed exception a local decode would.

pub mod bundle;
pub mod channels;
pub mod coordinator;
pub mod guard;
pub mod membership;
pub mod policy;
pub mod supervise;
pub mod tls;
pub mod worker;

pub use channels::{
    CONNECT_TIMEOUT, Channels, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT, auth_header, parse_worker_urls,
    validate_token,
};
