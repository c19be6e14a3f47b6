//! The coordinating session: datafusion-distributed's planner, behind a
//! planner that adds the headers each query's workers need.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_distributed::{DistributedExt, SessionStateBuilderExt};
use futures::StreamExt;
use http::{HeaderMap, HeaderValue};
use url::Url;

use super::bundle::{self, UDF_HEADER};
use super::channels::{Channels, auth_header, parse_worker_urls, validate_token};
use super::membership::{LiveWorkers, Membership};
use super::tls::ClientTls;
use dfship_core::error::DfshipError;
use dfship_core::exceptions::{Exception, TAG_PREFIX};
use dfship_core::session::{ShipSession, ShipSettings};

/// What a coordinator needs beside its workers.
#[derive(Debug, Clone)]
pub struct CoordinatorSettings {
    /// What the Python UDFs sent along are encoded with: with inlining off
    /// none are sent and workers resolve every function by name; the key
    /// signs the UDF frames.
    pub ship: ShipSettings,
    /// Sent with every request when set.
    pub token: Option<String>,
    /// Input bytes per task for file scans (datafusion-distributed's
    /// `file_scan_config_bytes_per_partition`).
    pub bytes_per_task: Option<usize>,
    /// What `https://` workers are verified with, and the certificate
    /// presented to workers that require one.
    pub tls: Option<ClientTls>,
    /// The most one message a worker sends back may take.
    pub max_response_bytes: usize,
    /// How many times a query may run when workers are lost (see
    /// [`Membership::run`]).
    pub max_attempts: usize,
    /// Whether queries that write may run more than once.
    pub retry_writes: bool,
}

/// The fewest target partitions a coordinating session plans with (see
/// [`coordinator_state`]).
pub const MIN_TARGET_PARTITIONS: usize = 2;

/// The state builder of a coordinating session over `workers`.
pub fn coordinator_state(
    workers: Vec<Url>,
    config: SessionConfig,
    builder: SessionStateBuilder,
    settings: CoordinatorSettings,
) -> Result<SessionStateBuilder> {
    let channels = Channels::new(settings.ship.limits.keys.clone(), settings.tls.clone())
        .with_max_response(settings.max_response_bytes)
        .with_probe_token(settings.token.as_deref())?;
    let membership = Membership::new(workers, channels.clone(), settings.max_attempts, settings.retry_writes);
    // At one target partition DataFusion plans without exchanges (Single
    // mode aggregates, CollectLeft joins over an unsplit input), and
    // datafusion-distributed 4.0.0 still splits such a stage's scan into
    // tasks: each task then aggregates only its share and the query answers
    // wrongly (harness/FINDINGS.md, finding 5). A coordinator on one core
    // (a 1-CPU container, a pinned process) would plan so by default; from
    // two partitions on, DataFusion places the exchanges the distributed
    // planner turns into network boundaries.
    let config = if config.target_partitions() < MIN_TARGET_PARTITIONS {
        config.with_target_partitions(MIN_TARGET_PARTITIONS)
    } else {
        config
    };
    // Frames of this session find it there (`Membership::of`).
    let config = config.with_extension(Arc::clone(&membership));
    let mut builder = builder
        .with_config(config)
        .with_distributed_worker_resolver(LiveWorkers(Arc::clone(&membership)))
        .with_distributed_channel_resolver(channels.clone())
        .with_distributed_planner();
    if let Some(bytes) = settings.bytes_per_task {
        builder = builder.with_distributed_file_scan_config_bytes_per_partition(bytes)?;
    }
    let inner = builder
        .query_planner()
        .take()
        .ok_or_else(|| DataFusionError::Internal("datafusion-distributed set no query planner".into()))?;
    Ok(builder.with_query_planner(Arc::new(HeaderPlanner { inner, settings, membership })))
}

/// A coordinating session over `workers` (URLs, see
/// [`parse_worker_urls`](crate::channels::parse_worker_urls)): its queries are
/// planned into stages and run on them. `builder` carries the runtime
/// environment, `config` the session options.
pub fn coordinator_session(
    workers: &[String],
    config: SessionConfig,
    builder: SessionStateBuilder,
    settings: CoordinatorSettings,
) -> std::result::Result<ShipSession, DfshipError> {
    let urls = parse_worker_urls(workers)?;
    validate_token(settings.token.as_deref())?;
    if settings.tls.is_none()
        && let Some(url) = urls.iter().find(|u| u.scheme() == "https")
    {
        return Err(DfshipError::InvalidArgument(format!(
            "worker URL '{url}' is https://, which needs TLS settings (tls=Tls(ca=...)) to verify \
             the worker with"
        )));
    }
    if settings.max_attempts == 0 {
        return Err(DfshipError::InvalidArgument("max_attempts must be at least 1".into()));
    }
    if settings.max_response_bytes == 0 {
        return Err(DfshipError::InvalidArgument("max_response_bytes must be at least 1".into()));
    }
    if settings.bytes_per_task == Some(0) {
        return Err(DfshipError::InvalidArgument("bytes_per_task must be at least 1".into()));
    }
    let ship = settings.ship.clone();
    let state = coordinator_state(urls, config, builder, settings)?.build();
    Ok(ShipSession::new(SessionContext::new_with_state(state)).with_settings(ship))
}

/// Plans with datafusion-distributed, then puts the query's headers (the
/// token, its Python UDFs) above the plan so that they go with the requests
/// the coordinator makes.
#[derive(Debug)]
struct HeaderPlanner {
    inner: Arc<dyn QueryPlanner + Send + Sync>,
    settings: CoordinatorSettings,
    membership: Arc<Membership>,
}

#[async_trait]
impl QueryPlanner for HeaderPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let udfs = if self.settings.ship.inlining { bundle::python_udfs(logical_plan)? } else { vec![] };
        let plan = self.inner.create_physical_plan(logical_plan, session).await?;
        let mut headers = HeaderMap::new();
        if let Some(token) = &self.settings.token {
            let (name, value) = auth_header(token)?;
            headers.insert(name, value);
        }
        if !udfs.is_empty() {
            let value =
                bundle::write_header(&udfs, &self.settings.ship.logical_codec(), &self.settings.ship.limits)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let value = HeaderValue::try_from(value).map_err(|e| DataFusionError::Internal(e.to_string()))?;
            headers.insert(UDF_HEADER, value);
        }
        let names = udfs.iter().map(|u| format!("{} {}", u.family(), u.name())).collect();
        Ok(Arc::new(WithHeadersExec {
            input: plan,
            headers,
            names,
            membership: Arc::clone(&self.membership),
        }))
    }
}

/// Runs its input with `headers` added to the session's passthrough
/// headers, which datafusion-distributed sends with every request to a
/// worker.
#[derive(Debug)]
pub struct WithHeadersExec {
    input: Arc<dyn ExecutionPlan>,
    headers: HeaderMap,
    /// The Python UDFs the headers carry, for display.
    names: Vec<String>,
    /// Its workers: probed when the query fails, to name (and mark down)
    /// the ones that are gone.
    membership: Arc<Membership>,
}

impl DisplayAs for WithHeadersExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShipPythonUdfsExec: udfs=[{}]", self.names.join(", "))?;
        if self.headers.contains_key(http::header::AUTHORIZATION) {
            write!(f, ", token=yes")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for WithHeadersExec {
    fn name(&self) -> &'static str {
        "ShipPythonUdfsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "ShipPythonUdfsExec takes one child, not {}",
                children.len()
            )));
        }
        let input = children.remove(0);
        Ok(Arc::new(Self {
            input,
            headers: self.headers.clone(),
            names: self.names.clone(),
            membership: Arc::clone(&self.membership),
        }))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let mut config = context.session_config().clone();
        config.set_distributed_passthrough_headers(self.headers.clone())?;
        let context = TaskContext::new(
            context.task_id(),
            context.session_id(),
            config,
            context.scalar_functions().clone(),
            context.higher_order_functions().clone(),
            context.aggregate_functions().clone(),
            context.window_functions().clone(),
            context.runtime_env(),
        );
        let stream = self.input.execute(partition, Arc::new(context))?;
        let membership = Arc::clone(&self.membership);
        let failed = AtomicBool::new(false);
        let stream = stream.then(move |batch| {
            let membership = Arc::clone(&membership);
            // Only the first error is worth probing for.
            let first = batch.is_err() && !failed.swap(true, Ordering::Relaxed);
            async move {
                match batch {
                    Err(e) if first => Err(name_lost_workers(e, &membership).await),
                    other => other,
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), stream)))
    }
}

/// How many times a failed query probes its workers, and the pause between
/// rounds.
const PROBE_ROUNDS: usize = 3;
const PROBE_PAUSE: Duration = Duration::from_millis(250);

/// `err`, or, when some workers no longer answer (or refuse this process's
/// connections), an error naming them: the crate's transport errors do not
/// say which peer went. The workers that no longer answer, or shut down,
/// are marked down in `membership`.
async fn name_lost_workers(err: DataFusionError, membership: &Membership) -> DataFusionError {
    let message = err.to_string();
    if message.contains(TAG_PREFIX) {
        return err;
    }
    // A killed worker's listening socket can outlive, by a moment, the
    // connections whose reset brought the error here: probe a few times.
    let (mut lost, mut refused) = (Vec::new(), Vec::new());
    for round in 0..PROBE_ROUNDS {
        if round > 0 {
            tokio::time::sleep(PROBE_PAUSE).await;
        }
        (lost, refused) = membership.sweep().await;
        if !lost.is_empty() || !refused.is_empty() {
            break;
        }
    }
    if !lost.is_empty() {
        return DataFusionError::Execution(Exception::WorkerUnavailable.tagged(format_args!(
            "the query failed and these dfship workers no longer answer: {}; the error was: {message}",
            lost.join(", ")
        )));
    }
    if !refused.is_empty() {
        return DataFusionError::Execution(Exception::WorkerAuth.tagged(format_args!(
            "the query failed and these dfship workers refuse this process's connections: {}; the \
             error was: {message}",
            refused.join("; ")
        )));
    }
    if TLS_REFUSALS.iter().any(|r| message.contains(r)) {
        // Every worker answers this process: the refusal came from a call
        // one worker made to another, reported as text.
        return DataFusionError::Execution(Exception::WorkerAuth.tagged(format_args!(
            "a dfship worker refused another's TLS connection (check --tls-ca and, under mutual \
             TLS, --tls-client-cert on every worker): {message}"
        )));
    }
    err
}

/// How rustls words a refused handshake, as a worker reports it.
const TLS_REFUSALS: [&str; 3] =
    ["received fatal alert: ", "invalid peer certificate: ", "peer sent no certificates"];
