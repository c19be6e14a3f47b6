//! A dfship worker: datafusion-distributed's worker service on its own
//! runtime, behind a token check, with a session builder that registers the
//! query's Python UDFs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::context::SessionContext;
use datafusion_distributed::{
    DistributedExt, Worker, WorkerPlanRewriteEvent, WorkerPlanRewriteEventResponse, WorkerQueryContext,
    WorkerSessionBuilder,
};
use http::HeaderMap;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use super::bundle::{self, PythonUdf, UDF_HEADER};
use super::channels::{Channels, auth_header};
use super::guard::{Checks, REFUSED_HEADER, RequestGuard, token_digest};
use super::policy::Policy;
use super::supervise::{Supervision, TaskSlots};
use super::tls::{ClientTls, ServerTls};
use dfship_core::codec::CodecError;
use dfship_core::codec::physical::plan_depth;
use dfship_core::session::ShipSettings;
use dfship_core::stores::StoreRegistry;

/// Stack of the worker's runtime threads: they run DataFusion's recursive
/// operators. Decoding a plan, the deepest recursion, runs on a stack
/// sized for that plan instead ([`super::guard`]).
const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;
/// How long `stop` lets running requests finish.
const DRAIN: Duration = Duration::from_secs(5);

/// What a worker runs queries with.
#[derive(Clone)]
pub struct WorkerSettings {
    /// What the Python UDFs a query brings are decoded with: with inlining
    /// off they are refused; the bounds, and the keys a UDF frame must be
    /// signed with.
    pub ship: ShipSettings,
    /// Required of every request when set.
    pub token: Option<String>,
    /// A session whose registered functions (FFI UDFs, Python UDFs made on
    /// the worker) every query can call by name.
    pub functions: Option<SessionContext>,
    /// Where the URLs a plan names are read from: the worker's own
    /// configuration, never anything a query brings.
    pub stores: Arc<StoreRegistry>,
    /// Served on every connection when set: callers reach the worker at an
    /// `https://` URL.
    pub tls: Option<ServerTls>,
    /// What the workers this one calls (for shuffles) over `https://` are
    /// verified with, and the certificate it presents to them.
    pub client_tls: Option<ClientTls>,
    /// What a query may cost the worker.
    pub limits: WorkerLimits,
    /// What a plan may read and write.
    pub policy: Policy,
}

/// What a query may cost a worker; `None`: unbounded.
#[derive(Debug, Clone, Default)]
pub struct WorkerLimits {
    /// The memory pool every query's operators draw from, in bytes.
    pub memory: Option<usize>,
    /// How long any one request (a task's stream) may run.
    pub query_timeout: Option<Duration>,
    /// How many tasks may run at once; more are refused (`WorkerBusyError`).
    pub max_tasks: Option<usize>,
}

/// HTTP/2 streams one connection may have open at once: a query opens one
/// per task and per shuffle stream, on one connection per peer.
pub const MAX_CONCURRENT_STREAMS: u32 = 1024;

#[derive(Clone)]
struct WorkerSession {
    settings: Arc<WorkerSettings>,
    channels: Channels,
    url: Arc<str>,
}

/// A refusal the coordinator turns back into the typed exception.
fn refusal(url: &str, what: &str, err: &CodecError) -> DataFusionError {
    let err = err.innermost();
    DataFusionError::Execution(
        err.kind().exception().tagged(format_args!("the dfship worker at {url} refused {what}: {err}")),
    )
}

#[async_trait]
impl WorkerSessionBuilder for WorkerSession {
    async fn build_session_state(&self, ctx: WorkerQueryContext) -> Result<SessionState> {
        let WorkerQueryContext { mut builder, headers } = ctx;
        if let Some(refusal) = headers.get(REFUSED_HEADER) {
            // The guard refused this task's plan: fail the task with that.
            let refusal = String::from_utf8_lossy(refusal.as_bytes()).into_owned();
            return Err(DataFusionError::Execution(refusal));
        }
        builder = builder.with_distributed_channel_resolver(self.channels.clone());
        // The request's nesting was bounded before the plan was decoded
        // (`guard`); operand lists fold into deeper chains than they nest,
        // so the decoded plan is measured exactly before it is registered.
        let (limits, url) = (self.settings.ship.limits.clone(), Arc::clone(&self.url));
        let policy = self.settings.policy.clone();
        builder =
            builder.with_distributed_worker_plan_rewrite_handler(move |ev: WorkerPlanRewriteEvent<'_>| {
                plan_depth(&ev.plan)
                    .check(&limits, "decode")
                    .map_err(|e| refusal(&url, "the query plan", &e))?;
                // Before any of it runs: what it reads, whether it writes.
                if policy.restricts() {
                    policy.check(&ev.plan, &url)?;
                }
                Ok(WorkerPlanRewriteEventResponse::new(ev.plan))
            });
        if let Some(token) = &self.settings.token {
            // Requests this worker makes of other workers carry it too.
            let (name, value) = auth_header(token)?;
            let mut own = HeaderMap::new();
            own.insert(name, value);
            builder = builder.with_distributed_passthrough_headers(own)?;
        }
        if let Some(own) = &self.settings.functions {
            // Only the function maps are copied, under the session's lock:
            // this runs for every task.
            let state = own.state_ref();
            let state = state.read();
            builder
                .scalar_functions()
                .get_or_insert_default()
                .extend(state.scalar_functions().values().cloned());
            builder
                .aggregate_functions()
                .get_or_insert_default()
                .extend(state.aggregate_functions().values().cloned());
            builder
                .window_functions()
                .get_or_insert_default()
                .extend(state.window_functions().values().cloned());
        }
        if let Some(value) = headers.get(UDF_HEADER) {
            let udfs = bundle::read_header(
                value.as_bytes(),
                &self.settings.ship.logical_codec(),
                &self.settings.ship.limits,
            )
            .map_err(|e| refusal(&self.url, "the query's Python UDFs", &e))?;
            for udf in udfs {
                match udf {
                    PythonUdf::Scalar(u) => builder.scalar_functions().get_or_insert_default().push(u),
                    PythonUdf::Aggregate(u) => builder.aggregate_functions().get_or_insert_default().push(u),
                    PythonUdf::Window(u) => builder.window_functions().get_or_insert_default().push(u),
                }
            }
        }
        Ok(builder.build())
    }
}

/// A worker serving on its own runtime until stopped.
pub struct RunningWorker {
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<Result<(), tonic::transport::Error>>>,
    runtime: Option<Runtime>,
    /// The worker's threads cannot be stopped for a fork: while it serves, a
    /// fork is reported as unsafe (see [`dfship_core::runtime::before_fork`]).
    serving: Option<dfship_core::runtime::Claim>,
    /// Set by [`RunningWorker::drain`]: new tasks are refused.
    draining: Arc<AtomicBool>,
    /// The tasks running.
    slots: Arc<TaskSlots>,
}

impl RunningWorker {
    /// Binds `host:port` (0 picks a free port) and serves on `threads`
    /// runtime threads.
    pub fn start(host: &str, port: u16, threads: usize, settings: WorkerSettings) -> std::io::Result<Self> {
        let serving = dfship_core::runtime::claim();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("dfship-worker")
            .thread_stack_size(WORKER_STACK_BYTES)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind((host, port)))?;
        let address = listener.local_addr()?;
        let scheme = if settings.tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{address}");
        let max_payload = settings.ship.limits.max_payload_bytes;
        // One runtime for every query: datafusion-distributed keeps its
        // channels to other workers per runtime.
        let stores: Arc<dyn datafusion::execution::object_store::ObjectStoreRegistry> =
            settings.stores.clone();
        let mut runtime_env =
            datafusion::execution::runtime_env::RuntimeEnvBuilder::new().with_object_store_registry(stores);
        if let Some(bytes) = settings.limits.memory {
            runtime_env = runtime_env.with_memory_limit(bytes, 1.0);
        }
        let runtime_env = runtime_env.build_arc().map_err(std::io::Error::other)?;
        let shared: Arc<str> = Arc::from(url.as_str());
        // Without a cap, the slots only count the tasks running.
        let slots = TaskSlots::new(settings.limits.max_tasks.unwrap_or(usize::MAX));
        let draining = Arc::new(AtomicBool::new(false));
        let checks = Checks {
            token: settings.token.as_deref().map(token_digest),
            limits: settings.ship.limits.clone(),
            url: Arc::clone(&shared),
            slots: Some(Arc::clone(&slots)),
            supervision: Supervision { url: Arc::clone(&shared), timeout: settings.limits.query_timeout },
            inlining: settings.ship.inlining,
            draining: Arc::clone(&draining),
        };
        let tls = settings.tls.clone();
        let session = WorkerSession {
            channels: Channels::new(settings.ship.limits.keys.clone(), settings.client_tls.clone())
                .with_max_response(max_payload),
            settings: Arc::new(settings),
            url: shared,
        };
        // Plans and work units arrive in requests: bounded like any payload.
        let service = Worker::from_session_builder(session)
            .with_runtime_env(runtime_env)
            .into_worker_server()
            .max_decoding_message_size(max_payload);
        let service = RequestGuard::new(service, checks);
        // Header blocks are read whole before the token is checked: bounded
        // by what the Python UDF header may hold, and no more.
        let header_limit = u32::try_from(bundle::MAX_HEADER_BYTES + 64 * 1024).unwrap_or(u32::MAX);
        let mut builder = Server::builder();
        if let Some(tls) = &tls {
            builder = builder.tls_config(tls.config()).map_err(std::io::Error::other)?;
        }
        let (shutdown, stopped) = oneshot::channel::<()>();
        let served = runtime.spawn(async move {
            let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
            builder
                .http2_max_header_list_size(header_limit)
                .max_concurrent_streams(Some(MAX_CONCURRENT_STREAMS))
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self {
            url,
            shutdown: Some(shutdown),
            served: Some(served),
            runtime: Some(runtime),
            serving: Some(serving),
            draining,
            slots,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_running(&self) -> bool {
        self.runtime.is_some()
    }

    /// The tasks running now.
    pub fn tasks(&self) -> usize {
        self.slots.in_use()
    }

    /// Shuts down gracefully: new tasks are refused at once (as
    /// `WorkerUnavailableError`, which a coordinator answers by running the
    /// query on its other workers), running ones get up to `grace` to
    /// finish, then the worker stops. Returns how many tasks were still
    /// running when it stopped. Blocks, like [`RunningWorker::stop`].
    pub fn drain(&mut self, grace: Duration) -> usize {
        self.draining.store(true, Ordering::Release);
        let deadline = std::time::Instant::now() + grace;
        while self.slots.in_use() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let cut = self.slots.in_use();
        self.stop();
        cut
    }

    /// Stops accepting requests, lets running ones finish for a few seconds
    /// and shuts the runtime down. Blocks: call it without the GIL, as
    /// running Python UDFs need it to finish.
    pub fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            if let Some(served) = self.served.take() {
                let _ = runtime.block_on(async move { tokio::time::timeout(DRAIN, served).await });
            }
            runtime.shutdown_timeout(Duration::from_secs(1));
        }
        self.serving = None;
    }
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        // Dropped without `stop`: never block here (the dropping thread may
        // hold the GIL that running UDFs wait for).
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
