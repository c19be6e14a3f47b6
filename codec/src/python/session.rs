//! `SessionContext` and `SessionConfig` handles.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_pyarrow::{FromPyArrow, PyArrowType};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::ffi_stream::ArrowArrayStreamReader;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchReader};
use datafusion::common::{Column, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::execution::TaskContext;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::context::SessionContext;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, GreedyMemoryPool, MemoryPool, UnboundedMemoryPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::Expr;
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionConfig};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;

use super::catalog::{PyCatalog, PyTable};
use super::dataframe::PyDataFrame;
use super::errors::guard;
use super::expr::{PySortExpr, sorts};
use super::runtime::wait_for;
use super::udf::{PyAggregateUDF, PyScalarUDF, PyWindowUDF};
use crate::codec::signing::PayloadKeys;
use crate::codec::{PythonLogicalCodec, WireLimits};
use crate::convert::scalar_from_python;
use crate::error::DfshipError;

#[pyclass(name = "SessionConfig", module = "dfship._internal", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PySessionConfig {
    pub config: SessionConfig,
}

#[pymethods]
impl PySessionConfig {
    #[new]
    #[pyo3(signature = (options=None))]
    fn new(options: Option<HashMap<String, String>>) -> PyResult<Self> {
        let mut config = SessionConfig::new();
        for (key, value) in options.unwrap_or_default() {
            config = config.set_str(&key, &value);
        }
        Ok(Self { config })
    }

    fn set(&self, key: &str, value: &str) -> PyResult<Self> {
        let mut options = self.config.options().as_ref().clone();
        options.set(key, value).map_err(DfshipError::from)?;
        Ok(Self { config: SessionConfig::from(options) })
    }

    fn with_target_partitions(&self, n: usize) -> PyResult<Self> {
        if n == 0 {
            return Err(PyValueError::new_err("target_partitions must be at least 1"));
        }
        Ok(Self { config: self.config.clone().with_target_partitions(n) })
    }

    fn with_batch_size(&self, n: usize) -> PyResult<Self> {
        if n == 0 {
            return Err(PyValueError::new_err("batch_size must be at least 1"));
        }
        Ok(Self { config: self.config.clone().with_batch_size(n) })
    }

    fn with_information_schema(&self, enabled: bool) -> Self {
        Self { config: self.config.clone().with_information_schema(enabled) }
    }

    #[getter]
    fn target_partitions(&self) -> usize {
        self.config.target_partitions()
    }

    #[getter]
    fn batch_size(&self) -> usize {
        self.config.batch_size()
    }

    fn options(&self) -> HashMap<String, String> {
        self.config.options().entries().into_iter().filter_map(|e| e.value.map(|v| (e.key, v))).collect()
    }
}

#[derive(Clone, Debug)]
enum Disk {
    Os,
    Disabled,
    Directories(Vec<PathBuf>),
}

#[derive(Clone, Copy, Debug)]
enum Pool {
    Unbounded,
    FairSpill(usize),
    Greedy(usize),
}

/// Where a session may spill and how much memory its queries may hold.
#[pyclass(name = "RuntimeEnvBuilder", module = "dfship._internal", frozen, skip_from_py_object)]
#[derive(Clone, Debug)]
pub struct PyRuntimeEnvBuilder {
    disk: Disk,
    pool: Pool,
}

impl PyRuntimeEnvBuilder {
    pub(crate) fn build(&self) -> PyResult<Arc<RuntimeEnv>> {
        let mode = match &self.disk {
            Disk::Os => DiskManagerMode::OsTmpDirectory,
            Disk::Disabled => DiskManagerMode::Disabled,
            Disk::Directories(dirs) => DiskManagerMode::Directories(dirs.clone()),
        };
        let pool: Arc<dyn MemoryPool> = match self.pool {
            Pool::Unbounded => Arc::new(UnboundedMemoryPool::default()),
            Pool::FairSpill(size) => Arc::new(FairSpillPool::new(size)),
            Pool::Greedy(size) => Arc::new(GreedyMemoryPool::new(size)),
        };
        let env = RuntimeEnvBuilder::new()
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(mode))
            .with_memory_pool(pool)
            .build()
            .map_err(DfshipError::from)?;
        Ok(Arc::new(env))
    }

    fn with(&self, disk: Option<Disk>, pool: Option<Pool>) -> Self {
        Self { disk: disk.unwrap_or_else(|| self.disk.clone()), pool: pool.unwrap_or(self.pool) }
    }
}

#[pymethods]
impl PyRuntimeEnvBuilder {
    #[new]
    fn new() -> Self {
        Self { disk: Disk::Os, pool: Pool::Unbounded }
    }

    fn with_disk_manager_disabled(&self) -> Self {
        self.with(Some(Disk::Disabled), None)
    }

    fn with_disk_manager_os(&self) -> Self {
        self.with(Some(Disk::Os), None)
    }

    fn with_disk_manager_specified(&self, paths: Vec<PathBuf>) -> PyResult<Self> {
        if paths.is_empty() {
            return Err(PyValueError::new_err("with_disk_manager_specified needs at least one directory"));
        }
        Ok(self.with(Some(Disk::Directories(paths)), None))
    }

    fn with_temp_file_path(&self, path: PathBuf) -> Self {
        self.with(Some(Disk::Directories(vec![path])), None)
    }

    fn with_unbounded_memory_pool(&self) -> Self {
        self.with(None, Some(Pool::Unbounded))
    }

    fn with_fair_spill_pool(&self, size: usize) -> Self {
        self.with(None, Some(Pool::FairSpill(size)))
    }

    fn with_greedy_memory_pool(&self, size: usize) -> Self {
        self.with(None, Some(Pool::Greedy(size)))
    }

    fn __repr__(&self) -> String {
        format!("RuntimeEnvBuilder(disk={:?}, pool={:?})", self.disk, self.pool)
    }
}

/// A handle on a session, with this handle's codec settings: several
/// handles (see `with_python_udf_inlining`) can share one session, its
/// tables and functions, with different settings.
#[pyclass(name = "SessionContext", module = "dfship._internal", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PySessionContext {
    pub ctx: SessionContext,
    pub codec: PythonLogicalCodec,
    pub limits: WireLimits,
    /// Shared by every handle on the same session.
    pub registry: Arc<Registry>,
}

/// The function registry an expression decodes against, built from the
/// session on first use and rebuilt after a registration through any handle.
/// Building it copies every function map of the session, which would
/// otherwise dominate the cost of decoding a small expression.
#[derive(Default)]
pub struct Registry {
    generation: AtomicU64,
    built: Mutex<Option<(u64, Arc<TaskContext>)>>,
}

impl Registry {
    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn task_ctx(&self, ctx: &SessionContext) -> Arc<TaskContext> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Ok(built) = self.built.try_lock()
            && let Some((g, task)) = built.as_ref()
            && *g == generation
        {
            return Arc::clone(task);
        }
        let task = ctx.task_ctx();
        if let Ok(mut built) = self.built.try_lock() {
            *built = Some((generation, Arc::clone(&task)));
        }
        task
    }
}

impl PySessionContext {
    pub fn from_session(ctx: SessionContext) -> Self {
        // Frames over in-memory data re-expose the scan's columns unqualified
        // (see `table_frame`). DataFusion 55's `push_down_leaf_projections`
        // pass moves field accesses such as `s['x']` below that projection
        // and then fails on the qualified and unqualified `s` side by side,
        // so Python sessions run without it; the extracted accesses stay
        // where the first pass puts them, which gives the same results.
        ctx.remove_optimizer_rule("push_down_leaf_projections");
        Self {
            ctx,
            codec: PythonLogicalCodec::new(),
            limits: WireLimits::default(),
            registry: Arc::default(),
        }
    }

    /// The process-wide session behind `SessionContext.global_ctx()`, the
    /// module-level `read_*` helpers and the last step of decode resolution,
    /// created on first use.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<PySessionContext> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let mut global = Self::from_session(SessionContext::new());
            global.limits.keys = env_payload_key();
            global
        })
    }

    pub fn task_ctx(&self) -> Arc<TaskContext> {
        self.registry.task_ctx(&self.ctx)
    }
}

/// The environment variable whose UTF-8 bytes are the global session's
/// payload key.
pub const PAYLOAD_KEY_ENV: &str = "DFSHIP_PAYLOAD_KEY";

/// The payload key `DFSHIP_PAYLOAD_KEY` gives the process, if it is set and
/// not empty (an empty value is no key).
pub(crate) fn env_payload_key() -> Option<PayloadKeys> {
    let value = std::env::var_os(PAYLOAD_KEY_ENV)?;
    let bytes = value.as_encoded_bytes();
    if bytes.is_empty() {
        return None;
    }
    PayloadKeys::new(bytes, &[]).ok()
}

fn mem_table(partitions: Vec<Vec<RecordBatch>>, schema: Option<SchemaRef>) -> PyResult<MemTable> {
    let schema = match schema {
        Some(schema) => schema,
        None => partitions.iter().flatten().next().map(RecordBatch::schema).ok_or_else(|| {
            PyValueError::new_err("cannot infer a schema from no record batches: pass schema=")
        })?,
    };
    let partitions = if partitions.is_empty() { vec![vec![]] } else { partitions };
    Ok(MemTable::try_new(schema, partitions).map_err(DfshipError::from)?)
}

fn batches(partitions: Vec<Vec<PyArrowType<RecordBatch>>>) -> Vec<Vec<RecordBatch>> {
    partitions.into_iter().map(|p| p.into_iter().map(|b| b.0).collect()).collect()
}

fn compression_type(name: Option<&str>) -> PyResult<FileCompressionType> {
    Ok(match name {
        Some(c) => FileCompressionType::from_str(c).map_err(DfshipError::from)?,
        None => FileCompressionType::UNCOMPRESSED,
    })
}

/// Hive-style partition columns as DataFusion takes them.
fn partition_cols(cols: Vec<(String, PyArrowType<DataType>)>) -> Vec<(String, DataType)> {
    cols.into_iter().map(|(name, t)| (name, t.0)).collect()
}

/// Declared file orderings, one list of sort keys each.
fn sort_orders(orders: &[Vec<PyRef<'_, PySortExpr>>]) -> Vec<Vec<datafusion::logical_expr::SortExpr>> {
    orders.iter().map(|keys| sorts(keys)).collect()
}

fn schema_ref(schema: Option<&PyArrowType<Schema>>) -> Option<Schema> {
    schema.map(|s| s.0.clone())
}

impl PySessionContext {
    fn table_frame(&self, py: Python<'_>, table: MemTable, name: Option<&str>) -> PyResult<PyDataFrame> {
        guard(|| {
            let table = Arc::new(table);
            if let Some(name) = name {
                self.ctx.register_table(name, table).map_err(DfshipError::from)?;
                return self.table(py, name);
            }
            // An anonymous table's columns would carry DataFusion's placeholder
            // qualifier into every derived column name; re-expose them unqualified.
            let df = self.ctx.read_table(table).map_err(DfshipError::from)?;
            let columns: Vec<Expr> = df
                .schema()
                .iter()
                .map(|(q, f)| Expr::Column(Column::new(q.cloned(), f.name())).alias(f.name()))
                .collect();
            Ok(PyDataFrame::new(df.select(columns).map_err(DfshipError::from)?))
        })
    }
}

#[pymethods]
impl PySessionContext {
    #[new]
    #[pyo3(signature = (config=None, runtime=None))]
    fn new(
        config: Option<PyRef<'_, PySessionConfig>>,
        runtime: Option<PyRef<'_, PyRuntimeEnvBuilder>>,
    ) -> PyResult<Self> {
        let config = config.map(|c| c.config.clone()).unwrap_or_default();
        let ctx = match runtime {
            Some(r) => SessionContext::new_with_config_rt(config, r.build()?),
            None => SessionContext::new_with_config(config),
        };
        Ok(Self::from_session(ctx))
    }

    #[staticmethod]
    fn global_ctx() -> Self {
        Self::global().clone()
    }

    /// A new handle on the same session with inline Python UDFs on or off.
    fn with_python_udf_inlining(&self, enabled: bool) -> Self {
        Self { codec: self.codec.clone().with_python_udf_inlining(enabled), ..self.clone() }
    }

    #[getter]
    fn python_udf_inlining(&self) -> bool {
        self.codec.python_udf_inlining()
    }

    /// A new handle on the same session that signs what it encodes with
    /// `key` and accepts on decode only payloads signed with `key` or one of
    /// `previous`.
    #[pyo3(signature = (key, previous=vec![]))]
    fn with_payload_key(&self, key: Vec<u8>, previous: Vec<Vec<u8>>) -> PyResult<Self> {
        let previous: Vec<&[u8]> = previous.iter().map(Vec::as_slice).collect();
        let keys = PayloadKeys::new(&key, &previous).map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { limits: WireLimits { keys: Some(keys), ..self.limits.clone() }, ..self.clone() })
    }

    /// The id of the key this handle signs with (never the key), if any.
    #[getter]
    fn payload_key_id(&self) -> Option<String> {
        self.limits.keys.as_ref().map(PayloadKeys::key_id)
    }

    /// The ids of the previous keys this handle accepts.
    #[getter]
    fn previous_payload_key_ids(&self) -> Vec<String> {
        self.limits.keys.as_ref().map(PayloadKeys::previous_key_ids).unwrap_or_default()
    }

    /// A new handle on the same session with other wire limits.
    #[pyo3(signature = (max_depth=None, max_payload_bytes=None, max_nodes=None, max_closure_bytes=None))]
    fn with_wire_limits(
        &self,
        max_depth: Option<usize>,
        max_payload_bytes: Option<usize>,
        max_nodes: Option<usize>,
        max_closure_bytes: Option<u64>,
    ) -> PyResult<Self> {
        let mut limits = self.limits.clone();
        if let Some(n) = max_nodes {
            if n == 0 {
                return Err(PyValueError::new_err("max_nodes must be at least 1"));
            }
            limits.max_nodes = n;
        }
        if let Some(c) = max_closure_bytes {
            if c == 0 || c > crate::wire::MAX_CALLABLE_BYTES {
                return Err(PyValueError::new_err(format!(
                    "max_closure_bytes must be between 1 and {}",
                    crate::wire::MAX_CALLABLE_BYTES
                )));
            }
            limits.max_closure_bytes = c;
        }
        if let Some(d) = max_depth {
            if d == 0 {
                return Err(PyValueError::new_err("max_depth must be at least 1"));
            }
            limits.max_depth = d;
        }
        if let Some(b) = max_payload_bytes {
            if b < crate::wire::MIN_FRAME_LEN {
                return Err(PyValueError::new_err(format!(
                    "max_payload_bytes must be at least {}",
                    crate::wire::MIN_FRAME_LEN
                )));
            }
            limits.max_payload_bytes = b;
        }
        Ok(Self { limits, ..self.clone() })
    }

    #[getter]
    fn wire_limits(&self) -> (usize, usize, usize, u64) {
        let l = &self.limits;
        (l.max_depth, l.max_payload_bytes, l.max_nodes, l.max_closure_bytes)
    }

    #[getter]
    fn session_id(&self) -> String {
        self.ctx.session_id()
    }

    /// Whether two handles share one session.
    fn same_session(&self, other: &PySessionContext) -> bool {
        self.ctx.session_id() == other.ctx.session_id()
    }

    /// Plans `query`. `allow` holds whether DDL, DML and other statements
    /// are allowed (all by default); `param_values` fill `$name` placeholders.
    #[pyo3(signature = (query, allow=None, param_values=None))]
    fn sql(
        &self,
        py: Python<'_>,
        query: String,
        allow: Option<(bool, bool, bool)>,
        param_values: Option<HashMap<String, Bound<'_, PyAny>>>,
    ) -> PyResult<PyDataFrame> {
        let params = param_values
            .map(|values| {
                values
                    .into_iter()
                    .map(|(name, value)| Ok((name, scalar_from_python(&value, None)?)))
                    .collect::<PyResult<HashMap<String, ScalarValue>>>()
            })
            .transpose()?;
        let ctx = self.ctx.clone();
        let (ddl, dml, statements) = allow.unwrap_or((true, true, true));
        let options =
            SQLOptions::new().with_allow_ddl(ddl).with_allow_dml(dml).with_allow_statements(statements);
        wait_for(py, async move {
            let df = ctx.sql_with_options(&query, options).await?;
            match params {
                Some(params) => df.with_param_values(params),
                None => Ok(df),
            }
        })
        .map(PyDataFrame::new)
    }

    /// Registers a table (see `DataFrame.into_view`) under `name`.
    fn register_table(&self, name: &str, table: &PyTable) -> PyResult<()> {
        self.ctx.register_table(name, Arc::clone(&table.provider)).map_err(DfshipError::from)?;
        Ok(())
    }

    /// Registers `df` as a view named `name`.
    fn register_view(&self, name: &str, df: &PyDataFrame) -> PyResult<()> {
        self.ctx.register_table(name, df.dataframe().into_view()).map_err(DfshipError::from)?;
        Ok(())
    }

    /// Names of the tables in the default catalog and schema.
    fn tables(&self) -> HashSet<String> {
        let state = self.ctx.state();
        let options = &state.config().options().catalog;
        self.ctx
            .catalog(&options.default_catalog)
            .and_then(|c| c.schema(&options.default_schema))
            .map(|s| s.table_names().into_iter().collect())
            .unwrap_or_default()
    }

    fn catalog_names(&self) -> HashSet<String> {
        self.ctx.catalog_names().into_iter().collect()
    }

    #[pyo3(signature = (name="datafusion"))]
    fn catalog(&self, name: &str) -> PyResult<PyCatalog> {
        match self.ctx.catalog(name) {
            Some(catalog) => Ok(PyCatalog { catalog }),
            None => Err(PyKeyError::new_err(format!("no catalog named {name:?}"))),
        }
    }

    /// A frame with no columns and one row, as `SELECT` without `FROM` sees.
    fn empty_table(&self) -> PyResult<PyDataFrame> {
        Ok(PyDataFrame::new(self.ctx.read_empty().map_err(DfshipError::from)?))
    }

    #[pyo3(signature = (name, path, schema=None, schema_infer_max_records=1000, file_extension=".json", table_partition_cols=vec![], file_compression_type=None))]
    #[allow(clippy::too_many_arguments)]
    fn register_json(
        &self,
        py: Python<'_>,
        name: String,
        path: String,
        schema: Option<PyArrowType<Schema>>,
        schema_infer_max_records: usize,
        file_extension: &str,
        table_partition_cols: Vec<(String, PyArrowType<DataType>)>,
        file_compression_type: Option<&str>,
    ) -> PyResult<()> {
        let compression = compression_type(file_compression_type)?;
        let ctx = self.ctx.clone();
        let schema = schema_ref(schema.as_ref());
        let file_extension = file_extension.to_owned();
        let partition_cols = partition_cols(table_partition_cols);
        wait_for(py, async move {
            let mut options = JsonReadOptions::default()
                .schema_infer_max_records(schema_infer_max_records)
                .file_extension(&file_extension)
                .table_partition_cols(partition_cols)
                .file_compression_type(compression);
            options.schema = schema.as_ref();
            ctx.register_json(name.as_str(), &path, options).await
        })
    }

    /// Registers a directory of Parquet files (hive-style partition folders
    /// become `table_partition_cols`) as one table.
    #[pyo3(signature = (name, path, table_partition_cols=vec![], file_extension=".parquet", schema=None, file_sort_order=vec![]))]
    fn register_listing_table(
        &self,
        py: Python<'_>,
        name: String,
        path: String,
        table_partition_cols: Vec<(String, PyArrowType<DataType>)>,
        file_extension: &str,
        schema: Option<PyArrowType<Schema>>,
        file_sort_order: Vec<Vec<PyRef<'_, PySortExpr>>>,
    ) -> PyResult<()> {
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(file_extension)
            .with_table_partition_cols(partition_cols(table_partition_cols))
            .with_file_sort_order(sort_orders(&file_sort_order));
        let ctx = self.ctx.clone();
        let schema = schema.map(|s| Arc::new(s.0));
        wait_for(
            py,
            async move { ctx.register_listing_table(name.as_str(), &path, options, schema, None).await },
        )
    }

    fn table(&self, py: Python<'_>, name: &str) -> PyResult<PyDataFrame> {
        let ctx = self.ctx.clone();
        let name = name.to_owned();
        wait_for(py, async move { ctx.table(name.as_str()).await }).map(PyDataFrame::new)
    }

    fn table_exist(&self, name: &str) -> PyResult<bool> {
        Ok(self.ctx.table_exist(name).map_err(DfshipError::from)?)
    }

    fn deregister_table(&self, name: &str) -> PyResult<()> {
        self.ctx.deregister_table(name).map_err(DfshipError::from)?;
        Ok(())
    }

    #[pyo3(signature = (partitions, name=None, schema=None))]
    fn create_dataframe(
        &self,
        py: Python<'_>,
        partitions: Vec<Vec<PyArrowType<RecordBatch>>>,
        name: Option<&str>,
        schema: Option<PyArrowType<Schema>>,
    ) -> PyResult<PyDataFrame> {
        let table = mem_table(batches(partitions), schema.map(|s| Arc::new(s.0)))?;
        self.table_frame(py, table, name)
    }

    fn register_record_batches(
        &self,
        name: &str,
        partitions: Vec<Vec<PyArrowType<RecordBatch>>>,
    ) -> PyResult<()> {
        let table = mem_table(batches(partitions), None)?;
        self.ctx.register_table(name, Arc::new(table)).map_err(DfshipError::from)?;
        Ok(())
    }

    /// A data frame over everything an Arrow C stream (`__arrow_c_stream__`)
    /// yields, in one partition.
    #[pyo3(signature = (data, name=None))]
    fn read_arrow_stream(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        name: Option<&str>,
    ) -> PyResult<PyDataFrame> {
        let reader = ArrowArrayStreamReader::from_pyarrow_bound(data)?;
        let schema = reader.schema();
        let partition = reader.collect::<Result<Vec<_>, _>>().map_err(DfshipError::from)?;
        let table = mem_table(vec![partition], Some(schema))?;
        self.table_frame(py, table, name)
    }

    #[pyo3(signature = (name, path, file_extension=".parquet", parquet_pruning=true, skip_metadata=true, schema=None, table_partition_cols=vec![], file_sort_order=vec![]))]
    fn register_parquet(
        &self,
        py: Python<'_>,
        name: String,
        path: String,
        file_extension: &str,
        parquet_pruning: bool,
        skip_metadata: bool,
        schema: Option<PyArrowType<Schema>>,
        table_partition_cols: Vec<(String, PyArrowType<DataType>)>,
        file_sort_order: Vec<Vec<PyRef<'_, PySortExpr>>>,
    ) -> PyResult<()> {
        let ctx = self.ctx.clone();
        let schema = schema_ref(schema.as_ref());
        let file_extension = file_extension.to_owned();
        let partition_cols = partition_cols(table_partition_cols);
        let sort_order = sort_orders(&file_sort_order);
        wait_for(py, async move {
            let mut options = ParquetReadOptions::default()
                .file_extension(&file_extension)
                .parquet_pruning(parquet_pruning)
                .skip_metadata(skip_metadata)
                .table_partition_cols(partition_cols)
                .file_sort_order(sort_order);
            options.schema = schema.as_ref();
            ctx.register_parquet(name.as_str(), &path, options).await
        })
    }

    #[pyo3(signature = (paths, file_extension=".parquet", parquet_pruning=true, skip_metadata=true, schema=None))]
    fn read_parquet(
        &self,
        py: Python<'_>,
        paths: Vec<String>,
        file_extension: &str,
        parquet_pruning: bool,
        skip_metadata: bool,
        schema: Option<PyArrowType<Schema>>,
    ) -> PyResult<PyDataFrame> {
        let ctx = self.ctx.clone();
        let schema = schema_ref(schema.as_ref());
        let file_extension = file_extension.to_owned();
        wait_for(py, async move {
            let mut options = ParquetReadOptions::default()
                .file_extension(&file_extension)
                .parquet_pruning(parquet_pruning)
                .skip_metadata(skip_metadata);
            options.schema = schema.as_ref();
            ctx.read_parquet(paths, options).await
        })
        .map(PyDataFrame::new)
    }

    #[pyo3(signature = (name, paths, schema=None, has_header=true, delimiter=",", schema_infer_max_records=1000, file_extension=".csv", file_compression_type=None))]
    #[allow(clippy::too_many_arguments)]
    fn register_csv(
        &self,
        py: Python<'_>,
        name: String,
        paths: Vec<String>,
        schema: Option<PyArrowType<Schema>>,
        has_header: bool,
        delimiter: &str,
        schema_infer_max_records: usize,
        file_extension: &str,
        file_compression_type: Option<&str>,
    ) -> PyResult<()> {
        let df = self.read_csv(
            py,
            paths,
            schema,
            has_header,
            delimiter,
            schema_infer_max_records,
            file_extension,
            file_compression_type,
        )?;
        self.ctx.register_table(name.as_str(), df.dataframe().into_view()).map_err(DfshipError::from)?;
        Ok(())
    }

    #[pyo3(signature = (paths, schema=None, has_header=true, delimiter=",", schema_infer_max_records=1000, file_extension=".csv", file_compression_type=None))]
    fn read_csv(
        &self,
        py: Python<'_>,
        paths: Vec<String>,
        schema: Option<PyArrowType<Schema>>,
        has_header: bool,
        delimiter: &str,
        schema_infer_max_records: usize,
        file_extension: &str,
        file_compression_type: Option<&str>,
    ) -> PyResult<PyDataFrame> {
        let compression = compression_type(file_compression_type)?;
        let delimiter = match delimiter.as_bytes() {
            [d] => *d,
            _ => return Err(PyValueError::new_err("delimiter must be exactly one ASCII character")),
        };
        let ctx = self.ctx.clone();
        let schema = schema_ref(schema.as_ref());
        let file_extension = file_extension.to_owned();
        wait_for(py, async move {
            let mut options = CsvReadOptions::new()
                .has_header(has_header)
                .delimiter(delimiter)
                .schema_infer_max_records(schema_infer_max_records)
                .file_extension(&file_extension)
                .file_compression_type(compression);
            options.schema = schema.as_ref();
            ctx.read_csv(paths, options).await
        })
        .map(PyDataFrame::new)
    }

    #[pyo3(signature = (paths, schema=None, schema_infer_max_records=1000, file_extension=".json"))]
    fn read_json(
        &self,
        py: Python<'_>,
        paths: Vec<String>,
        schema: Option<PyArrowType<Schema>>,
        schema_infer_max_records: usize,
        file_extension: &str,
    ) -> PyResult<PyDataFrame> {
        let ctx = self.ctx.clone();
        let schema = schema_ref(schema.as_ref());
        let file_extension = file_extension.to_owned();
        wait_for(py, async move {
            let mut options = JsonReadOptions::default()
                .schema_infer_max_records(schema_infer_max_records)
                .file_extension(&file_extension);
            options.schema = schema.as_ref();
            ctx.read_json(paths, options).await
        })
        .map(PyDataFrame::new)
    }

    fn register_udf(&self, udf: &PyScalarUDF) {
        self.ctx.register_udf(udf.udf.as_ref().clone());
        self.registry.invalidate();
    }

    fn register_udaf(&self, udaf: &PyAggregateUDF) {
        self.ctx.register_udaf(udaf.udaf.as_ref().clone());
        self.registry.invalidate();
    }

    fn register_udwf(&self, udwf: &PyWindowUDF) {
        self.ctx.register_udwf(udwf.udwf.as_ref().clone());
        self.registry.invalidate();
    }

    fn deregister_udf(&self, name: &str) {
        self.ctx.deregister_udf(name);
        self.registry.invalidate();
    }

    fn deregister_udaf(&self, name: &str) {
        self.ctx.deregister_udaf(name);
        self.registry.invalidate();
    }

    fn deregister_udwf(&self, name: &str) {
        self.ctx.deregister_udwf(name);
        self.registry.invalidate();
    }

    /// Names of every scalar, aggregate and window function the session knows.
    fn registered_function_names(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let state = self.ctx.state();
        let mut names = (
            state.scalar_functions().keys().cloned().collect::<Vec<_>>(),
            state.aggregate_functions().keys().cloned().collect::<Vec<_>>(),
            state.window_functions().keys().cloned().collect::<Vec<_>>(),
        );
        names.0.sort();
        names.1.sort();
        names.2.sort();
        names
    }
}
