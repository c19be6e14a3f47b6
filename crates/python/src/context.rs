//! The methods of the `SessionContext` handle: SQL, data sources, tables,
//! functions and the settings a session ships with.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use arrow_pyarrow::{FromPyArrow, PyArrowType};
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::ffi_stream::ArrowArrayStreamReader;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchReader};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::options::ArrowReadOptions;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::ListingOptions;
use datafusion::execution::context::{SQLOptions, SessionContext};
use datafusion::prelude::{CsvReadOptions, JsonReadOptions, ParquetReadOptions};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;

use super::catalog::{PyCatalog, PyTable};
use super::config::{PyRuntimeEnvBuilder, PySessionConfig};
use super::dataframe::PyDataFrame;
use super::errors::guard;
use super::expr::{PyExpr, PySortExpr, sorts};
use super::object_store::PyObjectStore;
use super::plan::PyLogicalPlan;
use super::runtime::wait_for;
use super::session::PySessionContext;
use super::udf::{PyAggregateUDF, PyScalarUDF, PyWindowUDF};
use super::udtf::PyTableFunction;
use dfship_core::codec::signing::PayloadKeys;
use dfship_core::convert::scalar_from_python;
use dfship_core::error::DfshipError;
use dfship_core::query;
use dfship_core::session::ShipSettings;

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

/// A CSV option that is one ASCII character.
fn one_byte(name: &str, value: &str) -> PyResult<u8> {
    match value.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be a single character (one ASCII byte), not {value:?}"
        ))),
    }
}

/// A CSV option that is `true` or `false`.
fn flag(name: &str, value: &str) -> PyResult<bool> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(PyValueError::new_err(format!("{name} must be true or false, not {value:?}"))),
    }
}

fn compression_type(name: Option<&str>) -> PyResult<FileCompressionType> {
    Ok(match name {
        Some(c) => FileCompressionType::from_str(c).map_err(|_| {
            PyValueError::new_err(format!(
                "file_compression_type must be one of: gzip, bz2, xz, zstd (or None for uncompressed), not {c:?}"
            ))
        })?,
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
    fn with_settings(&self, settings: ShipSettings) -> Self {
        Self { session: self.session.with_settings(settings) }
    }

    fn table_frame(&self, py: Python<'_>, table: MemTable, name: Option<&str>) -> PyResult<PyDataFrame> {
        guard(|| {
            let table = Arc::new(table);
            if let Some(name) = name {
                self.session.ctx.register_table(name, table).map_err(DfshipError::from)?;
                return self.table(py, name);
            }
            Ok(PyDataFrame::new(
                query::unqualified_frame(&self.session.ctx, table).map_err(DfshipError::from)?,
            ))
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
            None => SessionContext::new_with_config_rt(config, dfship_core::stores::default_runtime()),
        };
        Ok(Self::from_session(ctx))
    }

    #[staticmethod]
    fn global_ctx() -> Self {
        Self::global()
    }

    /// Reads URLs of `schema` (`"s3://"` or `"s3"`) and `host` (default: the
    /// store's bucket, container or server) from `store`.
    #[pyo3(signature = (schema, store, host=None))]
    fn register_object_store(
        &self,
        schema: &str,
        store: PyRef<'_, PyObjectStore>,
        host: Option<&str>,
    ) -> PyResult<()> {
        let (schema, host) = split_schema(schema, host);
        let url = store.url(Some(schema), host)?;
        self.session.ctx.runtime_env().register_object_store(&url, Arc::clone(&store.store));
        Ok(())
    }

    /// Forgets the store registered for `schema` and `host`.
    #[pyo3(signature = (schema, host=None))]
    fn deregister_object_store(&self, schema: &str, host: Option<&str>) -> PyResult<()> {
        let (schema, host) = split_schema(schema, host);
        let name = schema.trim_end_matches('/').trim_end_matches(':');
        let text = format!("{name}://{}", host.unwrap_or(""));
        let url = url::Url::parse(&text).map_err(|e| DfshipError::InvalidArgument(format!("{text}: {e}")))?;
        self.session.ctx.runtime_env().deregister_object_store(&url).map_err(DfshipError::from)?;
        Ok(())
    }

    /// A new handle on the same session with inline Python UDFs on or off.
    fn with_python_udf_inlining(&self, enabled: bool) -> Self {
        self.with_settings(self.session.settings.clone().with_inlining(enabled))
    }

    #[getter]
    fn python_udf_inlining(&self) -> bool {
        self.session.settings.inlining
    }

    /// A new handle on the same session that signs what it encodes with
    /// `key` and accepts on decode only payloads signed with `key` or one of
    /// `previous`.
    #[pyo3(signature = (key, previous=vec![]))]
    fn with_payload_key(&self, key: Vec<u8>, previous: Vec<Vec<u8>>) -> PyResult<Self> {
        let previous: Vec<&[u8]> = previous.iter().map(Vec::as_slice).collect();
        Ok(self.with_settings(self.session.settings.clone().with_payload_key(&key, &previous)?))
    }

    /// The id of the key this handle signs with (never the key), if any.
    #[getter]
    fn payload_key_id(&self) -> Option<String> {
        self.session.settings.limits.keys.as_ref().map(PayloadKeys::key_id)
    }

    /// The ids of the previous keys this handle accepts.
    #[getter]
    fn previous_payload_key_ids(&self) -> Vec<String> {
        self.session.settings.limits.keys.as_ref().map(PayloadKeys::previous_key_ids).unwrap_or_default()
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
        let settings = self.session.settings.clone().with_wire_limits(
            max_depth,
            max_payload_bytes,
            max_nodes,
            max_closure_bytes,
        )?;
        Ok(self.with_settings(settings))
    }

    #[getter]
    fn wire_limits(&self) -> (usize, usize, usize, u64) {
        let l = &self.session.settings.limits;
        (l.max_depth, l.max_payload_bytes, l.max_nodes, l.max_closure_bytes)
    }

    #[getter]
    fn session_id(&self) -> String {
        self.session.ctx.session_id()
    }

    /// Whether two handles share one session.
    fn same_session(&self, other: &PySessionContext) -> bool {
        self.session.same_session(&other.session)
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
        let ctx = self.session.ctx.clone();
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
        self.session.ctx.register_table(name, Arc::clone(&table.provider)).map_err(DfshipError::from)?;
        Ok(())
    }

    /// Registers `df` as a view named `name`.
    fn register_view(&self, name: &str, df: &PyDataFrame) -> PyResult<()> {
        self.session.ctx.register_table(name, df.dataframe().into_view()).map_err(DfshipError::from)?;
        Ok(())
    }

    /// Names of the tables in the default catalog and schema.
    fn tables(&self) -> HashSet<String> {
        let state = self.session.ctx.state();
        let options = &state.config().options().catalog;
        self.session
            .ctx
            .catalog(&options.default_catalog)
            .and_then(|c| c.schema(&options.default_schema))
            .map(|s| s.table_names().into_iter().collect())
            .unwrap_or_default()
    }

    fn catalog_names(&self) -> HashSet<String> {
        self.session.ctx.catalog_names().into_iter().collect()
    }

    #[pyo3(signature = (name="datafusion"))]
    fn catalog(&self, name: &str) -> PyResult<PyCatalog> {
        match self.session.ctx.catalog(name) {
            Some(catalog) => Ok(PyCatalog { catalog }),
            None => Err(PyKeyError::new_err(format!("no catalog named {name:?}"))),
        }
    }

    /// A frame that runs `plan` in this session (DDL and statements run now,
    /// as through `sql`).
    fn execute_logical_plan(&self, py: Python<'_>, plan: &PyLogicalPlan) -> PyResult<PyDataFrame> {
        let ctx = self.session.ctx.clone();
        let plan = plan.cloned();
        wait_for(py, async move { ctx.execute_logical_plan(plan).await }).map(PyDataFrame::new)
    }

    /// A SQL expression typed against `schema` (its fields qualified by
    /// `qualifier` when given).
    #[pyo3(signature = (sql, schema, qualifier=None))]
    fn parse_sql_expr(
        &self,
        sql: &str,
        schema: PyArrowType<Schema>,
        qualifier: Option<&str>,
    ) -> PyResult<PyExpr> {
        use datafusion::common::DFSchema;
        let df_schema = match qualifier {
            Some(q) => DFSchema::try_from_qualified_schema(q, &schema.0),
            None => DFSchema::try_from(schema.0),
        }
        .map_err(DfshipError::from)?;
        let expr = self.session.ctx.parse_sql_expr(sql, &df_schema).map_err(DfshipError::from)?;
        PyExpr::new(expr)
    }

    /// When the session started, as an RFC 3339 timestamp.
    fn session_start_time(&self) -> String {
        self.session.ctx.session_start_time().to_rfc3339()
    }

    /// Removes the logical optimizer rule `name`; whether there was one.
    fn remove_optimizer_rule(&self, name: &str) -> bool {
        self.session.ctx.remove_optimizer_rule(name)
    }

    /// Lets catalogs that list their tables lazily refresh the list.
    fn refresh_catalogs(&self, py: Python<'_>) -> PyResult<()> {
        let ctx = self.session.ctx.clone();
        wait_for(py, async move { ctx.refresh_catalogs().await })
    }

    /// The session's setting `key` (`datafusion.execution.batch_size`), as text.
    fn config_value(&self, key: &str) -> Option<String> {
        let state = self.session.ctx.state();
        state.config_options().entries().into_iter().find(|e| e.key == key).and_then(|e| e.value)
    }

    /// A frame over Arrow IPC files.
    #[pyo3(signature = (path, schema=None, file_extension=".arrow", table_partition_cols=vec![]))]
    fn read_arrow(
        &self,
        py: Python<'_>,
        path: Vec<String>,
        schema: Option<PyArrowType<Schema>>,
        file_extension: &str,
        table_partition_cols: Vec<(String, PyArrowType<DataType>)>,
    ) -> PyResult<PyDataFrame> {
        let ctx = self.session.ctx.clone();
        let schema = schema_ref(schema.as_ref());
        let file_extension = file_extension.to_owned();
        let partition_cols = partition_cols(table_partition_cols);
        wait_for(py, async move {
            let options = ArrowReadOptions {
                schema: schema.as_ref(),
                file_extension: &file_extension,
                table_partition_cols: partition_cols,
            };
            ctx.read_arrow(path, options).await
        })
        .map(PyDataFrame::new)
    }

    /// Registers Arrow IPC files as table `name`.
    #[pyo3(signature = (name, path, schema=None, file_extension=".arrow", table_partition_cols=vec![]))]
    fn register_arrow(
        &self,
        py: Python<'_>,
        name: String,
        path: String,
        schema: Option<PyArrowType<Schema>>,
        file_extension: &str,
        table_partition_cols: Vec<(String, PyArrowType<DataType>)>,
    ) -> PyResult<()> {
        let ctx = self.session.ctx.clone();
        let schema = schema_ref(schema.as_ref());
        let file_extension = file_extension.to_owned();
        let partition_cols = partition_cols(table_partition_cols);
        wait_for(py, async move {
            let options = ArrowReadOptions {
                schema: schema.as_ref(),
                file_extension: &file_extension,
                table_partition_cols: partition_cols,
            };
            ctx.register_arrow(name.as_str(), &path, options).await
        })
    }

    /// A frame with no columns and one row, as `SELECT` without `FROM` sees.
    fn empty_table(&self) -> PyResult<PyDataFrame> {
        Ok(PyDataFrame::new(self.session.ctx.read_empty().map_err(DfshipError::from)?))
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
        let ctx = self.session.ctx.clone();
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
        let ctx = self.session.ctx.clone();
        let schema = schema.map(|s| Arc::new(s.0));
        wait_for(
            py,
            async move { ctx.register_listing_table(name.as_str(), &path, options, schema, None).await },
        )
    }

    fn table(&self, py: Python<'_>, name: &str) -> PyResult<PyDataFrame> {
        let ctx = self.session.ctx.clone();
        let name = name.to_owned();
        wait_for(py, async move { ctx.table(name.as_str()).await }).map(PyDataFrame::new)
    }

    fn table_exist(&self, name: &str) -> PyResult<bool> {
        Ok(self.session.ctx.table_exist(name).map_err(DfshipError::from)?)
    }

    fn deregister_table(&self, name: &str) -> PyResult<()> {
        self.session.ctx.deregister_table(name).map_err(DfshipError::from)?;
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
        self.session.ctx.register_table(name, Arc::new(table)).map_err(DfshipError::from)?;
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
        let ctx = self.session.ctx.clone();
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

    #[pyo3(signature = (path, file_extension=".parquet", parquet_pruning=true, skip_metadata=true, schema=None, table_partition_cols=vec![], file_sort_order=vec![]))]
    #[allow(clippy::too_many_arguments)]
    fn read_parquet(
        &self,
        py: Python<'_>,
        path: Vec<String>,
        file_extension: &str,
        parquet_pruning: bool,
        skip_metadata: bool,
        schema: Option<PyArrowType<Schema>>,
        table_partition_cols: Vec<(String, PyArrowType<DataType>)>,
        file_sort_order: Vec<Vec<PyRef<'_, PySortExpr>>>,
    ) -> PyResult<PyDataFrame> {
        let ctx = self.session.ctx.clone();
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
            ctx.read_parquet(path, options).await
        })
        .map(PyDataFrame::new)
    }

    #[pyo3(signature = (name, path, schema=None, has_header=true, delimiter=",", schema_infer_max_records=1000, file_extension=".csv", file_compression_type=None, dialect=vec![], table_partition_cols=vec![], file_sort_order=vec![]))]
    #[allow(clippy::too_many_arguments)]
    fn register_csv(
        &self,
        py: Python<'_>,
        name: String,
        path: Vec<String>,
        schema: Option<PyArrowType<Schema>>,
        has_header: bool,
        delimiter: &str,
        schema_infer_max_records: usize,
        file_extension: &str,
        file_compression_type: Option<&str>,
        dialect: Vec<(String, String)>,
        table_partition_cols: Vec<(String, PyArrowType<DataType>)>,
        file_sort_order: Vec<Vec<PyRef<'_, PySortExpr>>>,
    ) -> PyResult<()> {
        let df = self.read_csv(
            py,
            path,
            schema,
            has_header,
            delimiter,
            schema_infer_max_records,
            file_extension,
            file_compression_type,
            dialect,
            table_partition_cols,
            file_sort_order,
        )?;
        self.session
            .ctx
            .register_table(name.as_str(), df.dataframe().into_view())
            .map_err(DfshipError::from)?;
        Ok(())
    }

    /// A frame over CSV files. `dialect` holds the other reading options by
    /// name: `quote`, `escape`, `comment`, `terminator` (one ASCII
    /// character each), `newlines_in_values` and `truncated_rows`
    /// (`true`/`false`) and `null_regex`.
    #[pyo3(signature = (path, schema=None, has_header=true, delimiter=",", schema_infer_max_records=1000, file_extension=".csv", file_compression_type=None, dialect=vec![], table_partition_cols=vec![], file_sort_order=vec![]))]
    #[allow(clippy::too_many_arguments)]
    fn read_csv(
        &self,
        py: Python<'_>,
        path: Vec<String>,
        schema: Option<PyArrowType<Schema>>,
        has_header: bool,
        delimiter: &str,
        schema_infer_max_records: usize,
        file_extension: &str,
        file_compression_type: Option<&str>,
        dialect: Vec<(String, String)>,
        table_partition_cols: Vec<(String, PyArrowType<DataType>)>,
        file_sort_order: Vec<Vec<PyRef<'_, PySortExpr>>>,
    ) -> PyResult<PyDataFrame> {
        let compression = compression_type(file_compression_type)?;
        let delimiter = one_byte("delimiter", delimiter)?;
        let sort_order = sort_orders(&file_sort_order);
        let mut quote = None;
        let mut escape = None;
        let mut comment = None;
        let mut terminator = None;
        let mut newlines_in_values = false;
        let mut truncated_rows = false;
        let mut null_regex = None;
        for (key, value) in &dialect {
            match key.as_str() {
                "quote" => quote = Some(one_byte(key, value)?),
                "escape" => escape = Some(one_byte(key, value)?),
                "comment" => comment = Some(one_byte(key, value)?),
                "terminator" => terminator = Some(one_byte(key, value)?),
                "newlines_in_values" => newlines_in_values = flag(key, value)?,
                "truncated_rows" => truncated_rows = flag(key, value)?,
                "null_regex" => null_regex = Some(value.clone()),
                other => return Err(PyValueError::new_err(format!("unknown CSV option {other:?}"))),
            }
        }
        let ctx = self.session.ctx.clone();
        let schema = schema_ref(schema.as_ref());
        let file_extension = file_extension.to_owned();
        let partition_cols = partition_cols(table_partition_cols);
        wait_for(py, async move {
            let mut options = CsvReadOptions::new()
                .has_header(has_header)
                .delimiter(delimiter)
                .schema_infer_max_records(schema_infer_max_records)
                .file_extension(&file_extension)
                .file_compression_type(compression)
                .terminator(terminator)
                .newlines_in_values(newlines_in_values)
                .null_regex(null_regex)
                .truncated_rows(truncated_rows)
                .table_partition_cols(partition_cols)
                .file_sort_order(sort_order);
            if let Some(q) = quote {
                options = options.quote(q);
            }
            if let Some(e) = escape {
                options = options.escape(e);
            }
            if let Some(c) = comment {
                options = options.comment(c);
            }
            options.schema = schema.as_ref();
            ctx.read_csv(path, options).await
        })
        .map(PyDataFrame::new)
    }

    #[pyo3(signature = (path, schema=None, schema_infer_max_records=1000, file_extension=".json", table_partition_cols=vec![], file_compression_type=None))]
    #[allow(clippy::too_many_arguments)]
    fn read_json(
        &self,
        py: Python<'_>,
        path: Vec<String>,
        schema: Option<PyArrowType<Schema>>,
        schema_infer_max_records: usize,
        file_extension: &str,
        table_partition_cols: Vec<(String, PyArrowType<DataType>)>,
        file_compression_type: Option<&str>,
    ) -> PyResult<PyDataFrame> {
        let compression = compression_type(file_compression_type)?;
        let ctx = self.session.ctx.clone();
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
            ctx.read_json(path, options).await
        })
        .map(PyDataFrame::new)
    }

    fn register_udf(&self, udf: &PyScalarUDF) {
        self.session.ctx.register_udf(udf.udf.as_ref().clone());
        self.session.registry.invalidate();
    }

    fn register_udaf(&self, udaf: &PyAggregateUDF) {
        self.session.ctx.register_udaf(udaf.udaf.as_ref().clone());
        self.session.registry.invalidate();
    }

    fn register_udwf(&self, udwf: &PyWindowUDF) {
        self.session.ctx.register_udwf(udwf.udwf.as_ref().clone());
        self.session.registry.invalidate();
    }

    /// Registers every Spark-compatible function of `datafusion-spark`,
    /// over any built-in of the same name, so SQL sees Spark's semantics.
    fn enable_spark_functions(&self) {
        let spark = &*dfship_core::builtins::SPARK;
        for udf in spark.scalar.values() {
            self.session.ctx.register_udf(udf.as_ref().clone());
        }
        for udaf in spark.aggregate.values() {
            self.session.ctx.register_udaf(udaf.as_ref().clone());
        }
        for udwf in spark.window.values() {
            self.session.ctx.register_udwf(udwf.as_ref().clone());
        }
        self.session.registry.invalidate();
    }

    /// Makes a table function callable by name in SQL (`FROM name(...)`).
    fn register_udtf(&self, function: &PyTableFunction) {
        self.session.ctx.register_udtf(function.name(), function.function());
    }

    fn deregister_udtf(&self, name: &str) {
        self.session.ctx.deregister_udtf(name);
    }

    fn deregister_udf(&self, name: &str) {
        self.session.ctx.deregister_udf(name);
        self.session.registry.invalidate();
    }

    fn deregister_udaf(&self, name: &str) {
        self.session.ctx.deregister_udaf(name);
        self.session.registry.invalidate();
    }

    fn deregister_udwf(&self, name: &str) {
        self.session.ctx.deregister_udwf(name);
        self.session.registry.invalidate();
    }

    /// Names of every scalar, aggregate and window function the session knows.
    /// `name(args...)` for the function `name` registered in this session
    /// (a UDF or a built-in): `kind` is `scalar`, `aggregate` or `window`.
    fn call_registered(&self, kind: &str, name: &str, args: Vec<PyRef<'_, PyExpr>>) -> PyResult<PyExpr> {
        use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction, WindowFunction};
        use datafusion::logical_expr::{Expr, WindowFunctionDefinition};
        let state = self.session.ctx.state();
        let args = super::expr::exprs(&args);
        let missing = |what: &str| PyKeyError::new_err(format!("no {what} named {name:?} in this session"));
        let expr = match kind {
            "scalar" => {
                let f = state.scalar_functions().get(name).ok_or_else(|| missing("UDF"))?;
                Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(f), args))
            }
            "aggregate" => {
                let f = state.aggregate_functions().get(name).ok_or_else(|| missing("UDAF"))?;
                Expr::AggregateFunction(AggregateFunction::new_udf(
                    Arc::clone(f),
                    args,
                    false,
                    None,
                    vec![],
                    None,
                ))
            }
            "window" => {
                let f = state.window_functions().get(name).ok_or_else(|| missing("UDWF"))?;
                Expr::WindowFunction(Box::new(WindowFunction::new(
                    WindowFunctionDefinition::WindowUDF(Arc::clone(f)),
                    args,
                )))
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "kind must be scalar, aggregate or window, not {other:?}"
                )));
            }
        };
        PyExpr::new(expr)
    }

    fn registered_function_names(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let state = self.session.ctx.state();
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

/// `("s3://bucket", None)` means `("s3://", Some("bucket"))`.
fn split_schema<'a>(schema: &'a str, host: Option<&'a str>) -> (&'a str, Option<&'a str>) {
    match schema.split_once("://") {
        Some((name, rest)) if host.is_none() && !rest.is_empty() => (name, Some(rest.trim_end_matches('/'))),
        Some((name, _)) => (name, host),
        None => (schema, host),
    }
}
