//! The `dfship._internal` extension module: thin handles over the Rust core
//! (`dfship-core`) and the distributed layer (`dfship-distributed`).
//! Everything public is wrapped by the Python package `dfship`. It is the top
//! of dfship's layer crates: nothing else in the workspace may depend on it
//! (see `ARCHITECTURE.md`).
//!
//! This crate converts arguments, wraps core types in `#[pyclass]` handles
//! and maps errors to Python exceptions ([`errors`]); anything a Rust user
//! of the core would need (settings, limits, which session an encode
//! follows, validation) belongs in the crates below.

pub mod catalog;
pub mod config;
pub mod context;
pub mod dataframe;
pub mod distributed;
pub mod errors;
pub mod expr;
pub mod functions;
pub mod object_store;
pub mod plan;
pub mod runtime;
pub mod session;
pub mod slots;
pub mod stream;
pub mod udf;
pub mod udtf;

use pyo3::prelude::*;

/// Every Rust allocation of the module: decoding builds many small nodes
/// and, for closures, megabyte buffers that glibc's malloc would return to
/// the kernel on free and fault in again on the next decode.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use dfship_core::exceptions::Exception;

#[pymodule]
#[pyo3(name = "_internal")]
fn internal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Whether this extension was built optimised: figures measured with a
    // debug build say so (the cluster lab's report, for one).
    m.add("RELEASE_BUILD", !cfg!(debug_assertions))?;
    m.add_class::<session::PySessionContext>()?;
    m.add_class::<config::PySessionConfig>()?;
    m.add_class::<config::PyRuntimeEnvBuilder>()?;
    m.add_class::<catalog::PyCatalog>()?;
    m.add_class::<catalog::PySchema>()?;
    m.add_class::<catalog::PyTable>()?;
    m.add_class::<stream::PyRecordBatchStream>()?;
    m.add_class::<plan::PyLogicalPlan>()?;
    m.add_class::<dataframe::PyDataFrame>()?;
    m.add_class::<expr::PyExpr>()?;
    m.add_class::<plan::PyExecutionPlan>()?;
    m.add_class::<expr::PySortExpr>()?;
    m.add_class::<udf::PyScalarUDF>()?;
    m.add_class::<udf::PyAggregateUDF>()?;
    m.add_class::<udf::PyWindowUDF>()?;
    m.add_class::<udtf::PyTableFunction>()?;
    m.add_class::<distributed::PyWorker>()?;
    m.add_class::<object_store::PyObjectStore>()?;
    m.add_class::<object_store::PyAmazonS3>()?;
    m.add_class::<object_store::PyGoogleCloud>()?;
    m.add_class::<object_store::PyMicrosoftAzure>()?;
    m.add_class::<object_store::PyHttp>()?;
    m.add_class::<object_store::PyLocalFileSystem>()?;
    m.add_function(wrap_pyfunction!(distributed::distributed_session, m)?)?;
    m.add_function(wrap_pyfunction!(distributed::distributed_attempts, m)?)?;
    m.add_function(wrap_pyfunction!(distributed::distributed_members, m)?)?;
    m.add_function(wrap_pyfunction!(distributed::probe_workers, m)?)?;
    m.add_function(wrap_pyfunction!(functions::scalar_function, m)?)?;
    m.add_function(wrap_pyfunction!(functions::aggregate_function, m)?)?;
    m.add_function(wrap_pyfunction!(functions::window_function, m)?)?;
    m.add_function(wrap_pyfunction!(functions::builtin_function_names, m)?)?;
    m.add_function(wrap_pyfunction!(functions::grouping_set, m)?)?;
    m.add_function(wrap_pyfunction!(functions::lambda_variable, m)?)?;
    m.add_function(wrap_pyfunction!(functions::lambda_function, m)?)?;
    m.add_function(wrap_pyfunction!(functions::higher_order_function, m)?)?;
    m.add_function(wrap_pyfunction!(slots::set_sender_ctx, m)?)?;
    m.add_function(wrap_pyfunction!(slots::get_sender_ctx, m)?)?;
    m.add_function(wrap_pyfunction!(slots::clear_sender_ctx, m)?)?;
    m.add_function(wrap_pyfunction!(slots::set_worker_ctx, m)?)?;
    m.add_function(wrap_pyfunction!(slots::get_worker_ctx, m)?)?;
    m.add_function(wrap_pyfunction!(slots::clear_worker_ctx, m)?)?;
    m.add_function(wrap_pyfunction!(expr::max_expression_depth, m)?)?;
    m.add_function(wrap_pyfunction!(expr::set_max_expression_depth, m)?)?;
    m.add("DEFAULT_MAX_EXPRESSION_DEPTH", dfship_core::depth::DEFAULT_MAX_EXPR_DEPTH)?;
    m.add_function(wrap_pyfunction!(decoded_udf_cache_len, m)?)?;
    m.add_function(wrap_pyfunction!(clear_decoded_udf_cache, m)?)?;
    m.add("WIRE_FORMAT_VERSION", dfship_wire::CURRENT)?;
    m.add("DEFAULT_MAX_DEPTH", dfship_core::codec::WireLimits::DEFAULT_MAX_DEPTH)?;
    m.add("DEFAULT_MAX_PAYLOAD_BYTES", dfship_core::codec::WireLimits::DEFAULT_MAX_PAYLOAD_BYTES)?;
    m.add("DEFAULT_MAX_NODES", dfship_core::codec::WireLimits::DEFAULT_MAX_NODES)?;
    m.add("DEFAULT_MAX_CLOSURE_BYTES", dfship_core::codec::WireLimits::DEFAULT_MAX_CLOSURE_BYTES)?;
    let exceptions: Vec<&str> = Exception::ALL.iter().map(|e| e.name()).collect();
    m.add("EXCEPTION_NAMES", exceptions)?;
    runtime::register_fork_hooks(m)?;
    Ok(())
}

/// How many decoded immutable Python UDFs are kept for reuse.
#[pyfunction]
fn decoded_udf_cache_len() -> usize {
    dfship_core::codec::decoded_udf_cache_len()
}

/// Forgets every decoded Python UDF kept for reuse.
#[pyfunction]
fn clear_decoded_udf_cache() {
    dfship_core::codec::clear_decoded_udf_cache();
}
