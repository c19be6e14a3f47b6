//! `dfship.distributed`: workers, and the coordinating session behind
//! `DistributedContext`.

use std::sync::Mutex;

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionContext;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use url::Url;

use super::errors::guard;
use super::session::{PyRuntimeEnvBuilder, PySessionConfig, PySessionContext, env_payload_key};
use crate::codec::signing::PayloadKeys;
use crate::distributed::auth_header;
use crate::distributed::coordinator::{CoordinatorSettings, coordinator_state};
use crate::distributed::worker::{RunningWorker, WorkerSettings};
use crate::error::DfshipError;

fn check_token(token: Option<&str>) -> PyResult<()> {
    match token {
        Some("") => Err(PyValueError::new_err("a worker token must not be empty")),
        Some(t) => auth_header(t).map(drop).map_err(|e| PyValueError::new_err(e.to_string())),
        None => Ok(()),
    }
}

/// A worker serving datafusion-distributed tasks from this process, on a
/// runtime of its own.
#[pyclass(name = "Worker", module = "dfship._internal", frozen)]
pub struct PyWorker {
    url: String,
    running: Mutex<Option<RunningWorker>>,
}

#[pymethods]
impl PyWorker {
    #[new]
    #[pyo3(signature = (port, host, token, python_udf_inlining, ctx=None, threads=None))]
    fn new(
        py: Python<'_>,
        port: u16,
        host: String,
        token: Option<String>,
        python_udf_inlining: bool,
        ctx: Option<PyRef<'_, PySessionContext>>,
        threads: Option<usize>,
    ) -> PyResult<Self> {
        check_token(token.as_deref())?;
        let base = ctx.as_deref().unwrap_or_else(|| PySessionContext::global());
        let settings = WorkerSettings {
            codec: base.codec.clone().with_python_udf_inlining(python_udf_inlining),
            limits: base.limits.clone(),
            token,
            functions: ctx.as_deref().map(|c| c.ctx.clone()),
        };
        let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
        let running = guard(|| {
            py.detach(|| RunningWorker::start(&host, port, threads, settings)).map_err(|e| {
                PyOSError::new_err(format!("cannot start a dfship worker on {host}:{port}: {e}"))
            })
        })?;
        Ok(Self { url: running.url().to_owned(), running: Mutex::new(Some(running)) })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn running(&self) -> bool {
        self.running.lock().is_ok_and(|r| r.as_ref().is_some_and(RunningWorker::is_running))
    }

    /// Stops serving; running requests get a few seconds to finish.
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        let taken = self.running.lock().ok().and_then(|mut r| r.take());
        if let Some(mut worker) = taken {
            guard(|| {
                py.detach(move || worker.stop());
                Ok(())
            })?;
        }
        Ok(())
    }
}

/// The session of a `DistributedContext`: queries are planned into stages
/// and run on `workers`.
#[pyfunction]
#[pyo3(signature = (workers, token=None, config=None, runtime=None, bytes_per_task=None, payload_key=None, python_udf_inlining=true))]
#[allow(clippy::too_many_arguments)]
pub fn distributed_session(
    workers: Vec<String>,
    token: Option<String>,
    config: Option<PyRef<'_, PySessionConfig>>,
    runtime: Option<PyRef<'_, PyRuntimeEnvBuilder>>,
    bytes_per_task: Option<usize>,
    payload_key: Option<Vec<u8>>,
    python_udf_inlining: bool,
) -> PyResult<PySessionContext> {
    if workers.is_empty() {
        return Err(PyValueError::new_err("a DistributedContext needs at least one worker URL"));
    }
    let urls = workers
        .iter()
        .map(|w| match Url::parse(w) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
            Ok(_) => Err(PyValueError::new_err(format!("worker URL '{w}' must be http://host:port"))),
            Err(e) => Err(PyValueError::new_err(format!("worker URL '{w}' is not a URL: {e}"))),
        })
        .collect::<PyResult<Vec<_>>>()?;
    check_token(token.as_deref())?;
    if bytes_per_task == Some(0) {
        return Err(PyValueError::new_err("bytes_per_task must be at least 1"));
    }
    let keys = match payload_key {
        Some(key) => Some(PayloadKeys::new(&key, &[]).map_err(|e| PyValueError::new_err(e.to_string()))?),
        None => env_payload_key(),
    };
    let mut handle = PySessionContext::from_session(SessionContext::new());
    handle.codec = handle.codec.with_python_udf_inlining(python_udf_inlining);
    handle.limits.keys = keys;
    let settings = CoordinatorSettings {
        codec: handle.codec.clone(),
        limits: handle.limits.clone(),
        token,
        bytes_per_task,
    };
    let mut builder = SessionStateBuilder::new().with_default_features();
    if let Some(runtime) = runtime {
        builder = builder.with_runtime_env(runtime.build()?);
    }
    let config = config.map(|c| c.config.clone()).unwrap_or_default();
    let state = coordinator_state(urls, config, builder, settings).map_err(DfshipError::from)?.build();
    handle.ctx = SessionContext::new_with_state(state);
    handle.ctx.remove_optimizer_rule("push_down_leaf_projections");
    Ok(handle)
}
