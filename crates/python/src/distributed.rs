//! `dfship.distributed`: workers, and the coordinating session behind
//! `DistributedContext`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use datafusion::execution::SessionStateBuilder;
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use super::config::{PyRuntimeEnvBuilder, PySessionConfig};
use super::errors::guard;
use super::session::PySessionContext;
use dfship_core::error::DfshipError;
use dfship_core::session::{ShipSession, ShipSettings};
use dfship_core::stores::StoreRegistry;
use dfship_distributed::channels::{Channels, DEFAULT_MAX_RESPONSE_BYTES, Probe, parse_worker_urls};
use dfship_distributed::coordinator::{CoordinatorSettings, coordinator_session};
use dfship_distributed::membership::{DEFAULT_MAX_ATTEMPTS, Membership};
use dfship_distributed::policy::Policy;
use dfship_distributed::tls::{ClientTls, ServerTls};
use dfship_distributed::validate_token;
use dfship_distributed::worker::{RunningWorker, WorkerLimits, WorkerSettings};

/// A worker's certificate chain, key and, for mutual TLS, client CA (PEM).
type ServerPem = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);
/// The CA that verifies the workers called, and the certificate and key
/// presented to them (PEM).
type ClientPem = (Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);

fn client((ca, cert, key): ClientPem) -> Result<ClientTls, DfshipError> {
    ClientTls::from_pem(ca.as_deref(), cert.as_deref(), key.as_deref())
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
    #[pyo3(signature = (port, host, token, python_udf_inlining, ctx=None, threads=None, object_stores=vec![], tls=None, client_tls=None, payload_key=None, memory_limit=None, query_timeout=None, max_concurrent_tasks=None, data_roots=vec![], allow_writes=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        port: u16,
        host: String,
        token: Option<String>,
        python_udf_inlining: bool,
        ctx: Option<PyRef<'_, PySessionContext>>,
        threads: Option<usize>,
        object_stores: Vec<String>,
        tls: Option<ServerPem>,
        client_tls: Option<ClientPem>,
        payload_key: Option<Vec<u8>>,
        memory_limit: Option<usize>,
        query_timeout: Option<f64>,
        max_concurrent_tasks: Option<usize>,
        data_roots: Vec<String>,
        allow_writes: bool,
    ) -> PyResult<Self> {
        if memory_limit == Some(0) || max_concurrent_tasks == Some(0) {
            return Err(DfshipError::InvalidArgument(
                "memory_limit and max_concurrent_tasks must be at least 1".into(),
            )
            .into());
        }
        let query_timeout = query_timeout
            .map(|secs| {
                Duration::try_from_secs_f64(secs).ok().filter(|d| !d.is_zero()).ok_or_else(|| {
                    DfshipError::InvalidArgument(format!(
                        "query_timeout {secs} is not a positive number of seconds"
                    ))
                })
            })
            .transpose()?;
        let policy = Policy::new(&data_roots, allow_writes)?;
        validate_token(token.as_deref())?;
        let tls = tls.map(|(cert, key, ca)| ServerTls::from_pem(&cert, &key, ca.as_deref())).transpose()?;
        let client_tls = client_tls.map(client).transpose()?;
        let base: &ShipSession = match ctx.as_deref() {
            Some(c) => &c.session,
            None => ShipSession::global(),
        };
        // The worker's own stores (`--object-store`) come first, then the
        // stores of the session it was given, then its environment's.
        let mut stores = StoreRegistry::new();
        if let Some(c) = ctx.as_deref() {
            stores = stores.with_fallback(Arc::clone(&c.session.ctx.runtime_env().object_store_registry));
        }
        for spec in &object_stores {
            stores.register_spec(spec)?;
        }
        let settings = WorkerSettings {
            ship: match payload_key {
                Some(key) => base.settings.clone().with_payload_key(&key, &[])?,
                None => base.settings.clone(),
            }
            .with_inlining(python_udf_inlining),
            token,
            functions: ctx.as_deref().map(|c| c.session.ctx.clone()),
            stores: Arc::new(stores),
            tls,
            client_tls,
            limits: WorkerLimits { memory: memory_limit, query_timeout, max_tasks: max_concurrent_tasks },
            policy,
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

    /// The tasks it runs now.
    #[getter]
    fn tasks(&self) -> usize {
        self.running.lock().ok().and_then(|r| r.as_ref().map(RunningWorker::tasks)).unwrap_or(0)
    }

    /// Shuts down gracefully: refuses new tasks, gives running ones up to
    /// `grace` seconds, then stops. Returns the tasks still running when it
    /// stopped.
    fn drain(&self, py: Python<'_>, grace: f64) -> PyResult<usize> {
        let grace = Duration::try_from_secs_f64(grace)
            .map_err(|_| DfshipError::InvalidArgument(format!("grace {grace} is not a number of seconds")))?;
        let taken = self.running.lock().ok().and_then(|mut r| r.take());
        match taken {
            Some(mut worker) => guard(|| Ok(py.detach(move || worker.drain(grace)))),
            None => Ok(0),
        }
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
#[pyo3(signature = (workers, token=None, config=None, runtime=None, bytes_per_task=None, payload_key=None, python_udf_inlining=true, tls=None, max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES, max_attempts=DEFAULT_MAX_ATTEMPTS, retry_writes=false))]
#[allow(clippy::too_many_arguments)]
pub fn distributed_session(
    workers: Vec<String>,
    token: Option<String>,
    config: Option<PyRef<'_, PySessionConfig>>,
    runtime: Option<PyRef<'_, PyRuntimeEnvBuilder>>,
    bytes_per_task: Option<usize>,
    payload_key: Option<Vec<u8>>,
    python_udf_inlining: bool,
    tls: Option<ClientPem>,
    max_response_bytes: usize,
    max_attempts: usize,
    retry_writes: bool,
) -> PyResult<PySessionContext> {
    let tls = tls.map(client).transpose()?;
    let ship = match payload_key {
        Some(key) => ShipSettings::default().with_payload_key(&key, &[])?,
        None => ShipSettings::from_env(),
    }
    .with_inlining(python_udf_inlining);
    let mut builder = SessionStateBuilder::new().with_default_features();
    builder = builder.with_runtime_env(match runtime {
        Some(runtime) => runtime.build()?,
        None => dfship_core::stores::default_runtime(),
    });
    let config = config.map(|c| c.config.clone()).unwrap_or_default();
    let settings = CoordinatorSettings {
        ship,
        token,
        bytes_per_task,
        tls,
        max_response_bytes,
        max_attempts,
        retry_writes,
    };
    Ok(coordinator_session(&workers, config, builder, settings)?.into())
}

fn membership(ctx: &PySessionContext) -> PyResult<Arc<Membership>> {
    Membership::of(ctx.session.ctx.state().config())
        .ok_or_else(|| DfshipError::InvalidArgument("this session is not a DistributedContext".into()).into())
}

/// The attempts of the session's most recent query: for each, the workers
/// it was planned over, its error (`None` for the one that gave the
/// result), the workers it found gone and how long it took.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn distributed_attempts(
    ctx: PyRef<'_, PySessionContext>,
) -> PyResult<Vec<(Vec<String>, Option<String>, Vec<String>, f64)>> {
    Ok(membership(&ctx)?
        .last_attempts()
        .into_iter()
        .map(|a| (a.workers, a.error, a.lost, a.seconds))
        .collect())
}

/// Each worker of the session and, for one marked down, why.
#[pyfunction]
pub fn distributed_members(ctx: PyRef<'_, PySessionContext>) -> PyResult<Vec<(String, Option<String>)>> {
    Ok(membership(&ctx)?.states())
}

/// A probed worker: `(url, reachable, why not, version, token required,
/// authorized, inlining, tasks, draining)`.
type Probed = (String, bool, Option<String>, Option<String>, bool, bool, Option<bool>, Option<usize>, bool);

/// Probes each of `workers` (concurrently, each within 2 s).
#[pyfunction]
#[pyo3(signature = (workers, token=None, tls=None))]
pub fn probe_workers(
    py: Python<'_>,
    workers: Vec<String>,
    token: Option<String>,
    tls: Option<ClientPem>,
) -> PyResult<Vec<Probed>> {
    let urls = parse_worker_urls(&workers)?;
    validate_token(token.as_deref())?;
    let tls = tls.map(client).transpose()?;
    let channels = Channels::new(None, tls).with_probe_token(token.as_deref()).map_err(DfshipError::from)?;
    let probes = super::runtime::wait_for(py, async move {
        Ok(futures::future::join_all(urls.iter().map(|u| channels.probe(u))).await)
    })?;
    Ok(workers
        .into_iter()
        .zip(probes)
        .map(|(url, probe)| match probe {
            Probe::Answers(s) => {
                (url, true, None, s.version, s.token_required, s.authorized, s.inlining, s.tasks, s.draining)
            }
            Probe::Lost(why) | Probe::Refused(why) => {
                (url, false, Some(why), None, false, false, None, None, false)
            }
        })
        .collect())
}
