//! `DataFrame` handle: lazy plans over a session, executed on collect.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::sync::{Arc, Mutex, PoisonError};

use arrow_pyarrow::{PyArrowType, ToPyArrow};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchReader};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::JoinType;
use datafusion::common::config::{CsvOptions, TableParquetOptions};
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{Column, RecursionUnnestOption, UnnestOptions};
use datafusion::dataframe::DataFrame;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{LogicalPlan, Partitioning, SortExpr};
use datafusion::physical_plan::{
    ExecutionPlan, collect, collect_partitioned, execute_stream, execute_stream_partitioned,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::catalog::PyTable;
use super::errors::guard;
use super::expr::{self, PyExpr, PySortExpr, deepest, deepest_sort, exprs, sorts};
use super::plan::{PyExecutionPlan, PyLogicalPlan};
use super::runtime::{stream_claim, wait_for_depth};
use super::stream::{PyRecordBatchStream, StreamReader};
use dfship_core::codec::bounded::with_stack;
use dfship_core::depth::plan_expr_depth;
use dfship_core::error::DfshipError;
use dfship_core::query;
use dfship_distributed::membership::Membership;

#[pyclass(name = "DataFrame", module = "dfship._internal", frozen)]
pub struct PyDataFrame {
    /// Dropped in [`Drop`], on a stack sized by `depth`.
    df: ManuallyDrop<DataFrame>,
    /// The deepest expression in the plan: planning and running it need a
    /// stack sized by it.
    depth: usize,
    /// The physical plan this frame last ran, whose nodes keep the metrics
    /// of that run (see `execution_plan`).
    executed: Executed,
}

/// Where a run leaves its physical plan.
#[derive(Default, Clone)]
struct Executed(Arc<Mutex<Option<Arc<dyn ExecutionPlan>>>>);

impl Executed {
    /// Plans `df`, remembers the plan, and hands it over with its task context.
    async fn plan(
        &self,
        df: DataFrame,
    ) -> datafusion::error::Result<(Arc<dyn ExecutionPlan>, Arc<TaskContext>)> {
        let task = Arc::new(df.task_ctx());
        let plan = df.create_physical_plan().await?;
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&plan));
        Ok((plan, task))
    }

    fn last(&self) -> Option<Arc<dyn ExecutionPlan>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl PyDataFrame {
    pub fn new(df: DataFrame) -> Self {
        let depth = plan_expr_depth(df.logical_plan());
        Self { df: ManuallyDrop::new(df), depth, executed: Executed::default() }
    }

    /// A copy of the frame (its top plan node owns expressions, which a copy
    /// clones), made on a large enough stack.
    pub fn dataframe(&self) -> DataFrame {
        with_stack(self.depth, || (*self.df).clone())
    }

    /// A new frame from this one; `depth` is the deepest expression `f`
    /// adds, and `f` runs on a stack sized for it.
    fn then(
        &self,
        depth: usize,
        f: impl FnOnce(DataFrame) -> datafusion::error::Result<DataFrame>,
    ) -> PyResult<Self> {
        let depth = depth.max(self.depth);
        guard(|| {
            with_stack(depth, || {
                let df = f((*self.df).clone()).map_err(DfshipError::from)?;
                Ok(Self {
                    depth: depth.max(plan_expr_depth(df.logical_plan())),
                    df: ManuallyDrop::new(df),
                    executed: Executed::default(),
                })
            })
        })
    }

    fn collect_batches(&self, py: Python<'_>) -> PyResult<Vec<RecordBatch>> {
        let executed = self.executed.clone();
        self.run(py, false, move |df| {
            let executed = executed.clone();
            async move {
                let (plan, task) = executed.plan(df).await?;
                collect(plan, task).await
            }
        })
    }

    /// Runs `op` on a copy of the frame. On a distributed session whose
    /// workers go missing, the query runs again, planned anew, as many times
    /// as the session allows ([`Membership::run`]); `writes` (or a plan
    /// that writes) runs once unless the session retries writes.
    fn run<T, F, Fut>(&self, py: Python<'_>, writes: bool, op: F) -> PyResult<T>
    where
        F: Fn(DataFrame) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = datafusion::error::Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let df = self.dataframe();
        match Membership::of(df.task_ctx().session_config()) {
            None => wait_for_depth(py, self.depth, op(df)),
            Some(membership) => {
                let writes = writes || plan_writes(df.logical_plan());
                wait_for_depth(py, self.depth, async move { membership.run(writes, || op(df.clone())).await })
            }
        }
    }
}

impl Drop for PyDataFrame {
    fn drop(&mut self) {
        // SAFETY: `df` is taken once, here, and never touched again.
        let df = unsafe { ManuallyDrop::take(&mut self.df) };
        with_stack(self.depth, move || drop(df));
    }
}

/// `exprs` with the variables of their lambdas typed against the frame's
/// columns (what SQL planning does; expressions built in Python need it
/// before a plan node can type them).
fn resolve_lambdas(
    exprs: Vec<datafusion::logical_expr::Expr>,
    df: &DataFrame,
) -> datafusion::error::Result<Vec<datafusion::logical_expr::Expr>> {
    use datafusion::logical_expr::Expr;
    exprs
        .into_iter()
        .map(|e| {
            let has_lambda = e.exists(|n| Ok(matches!(n, Expr::LambdaVariable(_))))?;
            if has_lambda { Ok(e.resolve_lambda_variables(df.schema())?.data) } else { Ok(e) }
        })
        .collect()
}

/// Whether running `plan` writes (INSERT, COPY and the like).
fn plan_writes(plan: &LogicalPlan) -> bool {
    plan.exists(|node| Ok(matches!(node, LogicalPlan::Dml(_) | LogicalPlan::Copy(_)))).unwrap_or(true)
}

fn join_type(how: &str) -> PyResult<JoinType> {
    Ok(match how {
        "inner" => JoinType::Inner,
        "left" => JoinType::Left,
        "right" => JoinType::Right,
        "full" => JoinType::Full,
        "semi" | "left_semi" => JoinType::LeftSemi,
        "anti" | "left_anti" => JoinType::LeftAnti,
        "right_semi" => JoinType::RightSemi,
        "right_anti" => JoinType::RightAnti,
        other => {
            return Err(PyValueError::new_err(format!(
                "how must be one of inner, left, right, full, semi, anti; not {other:?}"
            )));
        }
    })
}

fn positive(n: usize, name: &str) -> PyResult<()> {
    if n == 0 {
        return Err(PyValueError::new_err(format!("{name} must be at least 1")));
    }
    Ok(())
}

/// How a frame is written: made anew for each attempt at the write
/// (DataFusion's options are not `Clone`).
#[derive(Clone)]
struct WriteSpec {
    single_file_output: Option<bool>,
    partition_by: Vec<String>,
    sort_by: Vec<SortExpr>,
}

impl WriteSpec {
    fn options(&self) -> DataFrameWriteOptions {
        let mut options = DataFrameWriteOptions::new()
            .with_partition_by(self.partition_by.clone())
            .with_sort_by(self.sort_by.clone());
        if let Some(single) = self.single_file_output {
            options = options.with_single_file_output(single);
        }
        options
    }
}

fn write_options(
    single_file_output: Option<bool>,
    partition_by: Vec<String>,
    sort_by: &[PyRef<'_, PySortExpr>],
) -> WriteSpec {
    WriteSpec { single_file_output, partition_by, sort_by: sorts(sort_by) }
}

/// Renders batches as a text table, noting when rows were left out.
fn render(batches: &[RecordBatch], shown: usize, more: bool) -> PyResult<String> {
    let mut text = pretty_format_batches(batches).map_err(DfshipError::from)?.to_string();
    if more {
        text.push_str("\n(showing the first ");
        text.push_str(&shown.to_string());
        text.push_str(" rows)");
    }
    Ok(text)
}

#[pymethods]
impl PyDataFrame {
    fn select(&self, exprs: Vec<PyRef<'_, PyExpr>>) -> PyResult<Self> {
        let list = expr::exprs(&exprs);
        self.then(deepest(&exprs), |df| {
            let list = resolve_lambdas(list, &df)?;
            df.select(list)
        })
    }

    fn with_column(&self, name: &str, expr: &PyExpr) -> PyResult<Self> {
        let (depth, expr) = (expr.depth(), expr.cloned());
        self.then(depth, |df| {
            let expr = resolve_lambdas(vec![expr], &df)?.remove(0);
            df.with_column(name, expr)
        })
    }

    fn filter(&self, predicate: &PyExpr) -> PyResult<Self> {
        let (depth, predicate) = (predicate.depth(), predicate.cloned());
        self.then(depth, |df| {
            let predicate = resolve_lambdas(vec![predicate], &df)?.remove(0);
            df.filter(predicate)
        })
    }

    fn aggregate(&self, group_by: Vec<PyRef<'_, PyExpr>>, aggs: Vec<PyRef<'_, PyExpr>>) -> PyResult<Self> {
        let depth = deepest(&group_by).max(deepest(&aggs));
        let (group_by, aggs) = (exprs(&group_by), exprs(&aggs));
        self.then(depth, |df| df.aggregate(group_by, aggs))
    }

    fn sort(&self, exprs: Vec<PyRef<'_, PySortExpr>>) -> PyResult<Self> {
        let depth = deepest_sort(&exprs);
        let keys = sorts(&exprs);
        self.then(depth, |df| df.sort(keys))
    }

    fn limit(&self, count: usize, offset: usize) -> PyResult<Self> {
        self.then(0, |df| df.limit(offset, Some(count)))
    }

    fn distinct(&self) -> PyResult<Self> {
        self.then(0, DataFrame::distinct)
    }

    /// Rows of both frames (`UNION ALL`; `UNION` with `distinct`).
    fn union(&self, other: &PyDataFrame, distinct: bool) -> PyResult<Self> {
        let right = other.dataframe();
        self.then(other.depth, |df| if distinct { df.union_distinct(right) } else { df.union(right) })
    }

    /// Rows found in both frames (`INTERSECT ALL`; `INTERSECT` with `distinct`).
    fn intersect(&self, other: &PyDataFrame, distinct: bool) -> PyResult<Self> {
        let right = other.dataframe();
        self.then(other.depth, |df| if distinct { df.intersect_distinct(right) } else { df.intersect(right) })
    }

    /// Rows of this frame not found in `other` (`EXCEPT ALL`; `EXCEPT` with `distinct`).
    fn except_all(&self, other: &PyDataFrame, distinct: bool) -> PyResult<Self> {
        let right = other.dataframe();
        self.then(other.depth, |df| if distinct { df.except_distinct(right) } else { df.except(right) })
    }

    /// One row per element of the list (or field of the struct) columns.
    /// `recursions` holds `(input, output, depth)` for columns unnested
    /// more than one level.
    #[pyo3(signature = (columns, preserve_nulls=true, recursions=None))]
    fn unnest_columns(
        &self,
        columns: Vec<String>,
        preserve_nulls: bool,
        recursions: Option<Vec<(String, String, usize)>>,
    ) -> PyResult<Self> {
        let mut options = UnnestOptions::new().with_preserve_nulls(preserve_nulls);
        for (input, output, depth) in recursions.unwrap_or_default() {
            options = options.with_recursions(RecursionUnnestOption {
                input_column: Column::from_name(input),
                output_column: Column::from_name(output),
                depth,
            });
        }
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        self.then(0, |df| df.unnest_columns_with_options(&names, options))
    }

    /// Summary statistics of every column (count, null_count, mean, std,
    /// min, max, median).
    fn describe(&self, py: Python<'_>) -> PyResult<Self> {
        let df = self.dataframe();
        wait_for_depth(py, self.depth, async move { df.describe().await }).map(Self::new)
    }

    /// Runs the query now and keeps its result in memory: a frame over it.
    fn cache(&self, py: Python<'_>) -> PyResult<Self> {
        let df = self.dataframe();
        wait_for_depth(py, self.depth, async move { df.cache().await }).map(Self::new)
    }

    /// The frame under another table name (a subquery alias): its columns
    /// are then qualified by `alias`.
    fn alias(&self, alias: &str) -> PyResult<Self> {
        self.then(0, |df| df.alias(alias))
    }

    /// A SQL expression parsed against the frame's schema.
    fn parse_sql_expr(&self, sql: &str) -> PyResult<PyExpr> {
        let expr =
            guard(|| Ok(with_stack(self.depth, || self.df.parse_sql_expr(sql)).map_err(DfshipError::from)?))?;
        PyExpr::new(expr)
    }

    /// The rows of both frames, columns matched by name (missing ones null).
    fn union_by_name(&self, other: &PyDataFrame, distinct: bool) -> PyResult<Self> {
        let other_df = other.dataframe();
        self.then(other.depth, |df| {
            if distinct { df.union_by_name_distinct(other_df) } else { df.union_by_name(other_df) }
        })
    }

    /// `DISTINCT ON (on_expr) select_expr ORDER BY sort_expr`: the first row
    /// of each group of equal `on_expr`.
    #[pyo3(signature = (on_expr, select_expr, sort_expr=None))]
    fn distinct_on(
        &self,
        on_expr: Vec<PyRef<'_, PyExpr>>,
        select_expr: Vec<PyRef<'_, PyExpr>>,
        sort_expr: Option<Vec<PyRef<'_, PySortExpr>>>,
    ) -> PyResult<Self> {
        let depth = deepest(&on_expr).max(deepest(&select_expr));
        let (on, select) = (exprs(&on_expr), exprs(&select_expr));
        let sort = sort_expr.as_deref().map(sorts);
        self.then(depth, |df| df.distinct_on(on, select, sort))
    }

    /// The frame with window function columns added.
    fn window(&self, exprs: Vec<PyRef<'_, PyExpr>>) -> PyResult<Self> {
        let depth = deepest(&exprs);
        let list = expr::exprs(&exprs);
        self.then(depth, |df| df.window(list))
    }

    /// Inserts the frame's rows into the registered table `table_name`.
    #[pyo3(signature = (table_name, insert_op="append", single_file_output=None, partition_by=vec![], sort_by=vec![]))]
    fn write_table(
        &self,
        py: Python<'_>,
        table_name: &str,
        insert_op: &str,
        single_file_output: Option<bool>,
        partition_by: Vec<String>,
        sort_by: Vec<PyRef<'_, PySortExpr>>,
    ) -> PyResult<()> {
        use datafusion::logical_expr::dml::InsertOp;
        let op = match insert_op {
            "append" => InsertOp::Append,
            "overwrite" => InsertOp::Overwrite,
            "replace" => InsertOp::Replace,
            other => {
                return Err(PyValueError::new_err(format!(
                    "insert_op must be append, overwrite or replace; not {other:?}"
                )));
            }
        };
        let spec = WriteSpec { single_file_output, partition_by, sort_by: sorts(&sort_by) };
        let name = table_name.to_owned();
        self.run(py, true, move |df| {
            let (name, options) = (name.clone(), spec.options().with_insert_operation(op));
            async move { df.write_table(&name, options).await }
        })
        .map(drop)
    }

    /// For each name, the qualified column of the frame's schema it means.
    fn find_qualified_columns(&self, names: Vec<String>) -> PyResult<Vec<PyExpr>> {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let found = guard(|| Ok(self.df.find_qualified_columns(&refs).map_err(DfshipError::from)?))?;
        found
            .into_iter()
            .map(|(qualifier, field)| {
                PyExpr::new(datafusion::logical_expr::Expr::Column(Column::new(
                    qualifier.cloned(),
                    field.name(),
                )))
            })
            .collect()
    }

    /// Spreads rows round-robin over `num` partitions.
    fn repartition(&self, num: usize) -> PyResult<Self> {
        positive(num, "num")?;
        self.then(0, |df| df.repartition(Partitioning::RoundRobinBatch(num)))
    }

    /// Spreads rows over `num` partitions by a hash of `exprs`.
    fn repartition_by_hash(&self, exprs: Vec<PyRef<'_, PyExpr>>, num: usize) -> PyResult<Self> {
        positive(num, "num")?;
        let depth = deepest(&exprs);
        let list = expr::exprs(&exprs);
        self.then(depth, |df| df.repartition(Partitioning::Hash(list, num)))
    }

    /// Joins on arbitrary predicates (equalities among them become join keys).
    fn join_on(&self, right: &PyDataFrame, on_exprs: Vec<PyRef<'_, PyExpr>>, how: &str) -> PyResult<Self> {
        let how = join_type(how)?;
        let depth = deepest(&on_exprs).max(right.depth);
        let (on, right) = (exprs(&on_exprs), right.dataframe());
        self.then(depth, |df| df.join_on(right, how, on))
    }

    /// Starts the query; its batches, one at a time, from every partition.
    fn execute_stream(&self, py: Python<'_>) -> PyResult<PyRecordBatchStream> {
        let df = self.dataframe();
        let claim = stream_claim(py);
        let executed = self.executed.clone();
        let stream = wait_for_depth(py, self.depth, async move {
            let (plan, task) = executed.plan(df).await?;
            execute_stream(plan, task)
        })?;
        Ok(PyRecordBatchStream::new(stream, self.depth, claim))
    }

    /// Starts the query; one stream per output partition.
    fn execute_stream_partitioned(&self, py: Python<'_>) -> PyResult<Vec<PyRecordBatchStream>> {
        let df = self.dataframe();
        let claim = stream_claim(py);
        let executed = self.executed.clone();
        let streams = wait_for_depth(py, self.depth, async move {
            let (plan, task) = executed.plan(df).await?;
            execute_stream_partitioned(plan, task)
        })?;
        Ok(streams.into_iter().map(|s| PyRecordBatchStream::new(s, self.depth, Arc::clone(&claim))).collect())
    }

    /// Starts the query; a `pyarrow.RecordBatchReader` pulling its batches
    /// one at a time.
    fn arrow_reader(&self, py: Python<'_>) -> PyResult<PyArrowType<Box<dyn RecordBatchReader + Send>>> {
        let df = self.dataframe();
        let claim = stream_claim(py);
        let executed = self.executed.clone();
        let stream = wait_for_depth(py, self.depth, async move {
            let (plan, task) = executed.plan(df).await?;
            execute_stream(plan, task)
        })?;
        Ok(PyArrowType(Box::new(StreamReader::new(stream, self.depth, claim))))
    }

    /// Runs the query; its batches, partition by partition.
    fn collect_partitioned(&self, py: Python<'_>) -> PyResult<Vec<Py<PyList>>> {
        let executed = self.executed.clone();
        let partitions = self.run(py, false, move |df| {
            let executed = executed.clone();
            async move {
                let (plan, task) = executed.plan(df).await?;
                collect_partitioned(plan, task).await
            }
        })?;
        partitions
            .iter()
            .map(|batches| {
                let items = batches.iter().map(|b| b.to_pyarrow(py)).collect::<PyResult<Vec<_>>>()?;
                Ok(PyList::new(py, items)?.unbind())
            })
            .collect()
    }

    /// The frame as a table provider (a view over its plan).
    #[allow(clippy::wrong_self_convention)] // the datafusion package's name; the frame stays usable
    fn into_view(&self, temporary: bool) -> PyTable {
        let df = self.dataframe();
        PyTable::new(if temporary { df.into_temporary_view() } else { df.into_view() })
    }

    /// Writes Parquet. `settings` are DataFusion's Parquet writer options
    /// by key (`max_row_group_size`, `statistics_enabled`, `compression::col`
    /// for one column, `metadata::key` for file metadata).
    #[pyo3(signature = (path, compression=None, single_file_output=None, partition_by=vec![], sort_by=vec![], settings=vec![]))]
    #[allow(clippy::too_many_arguments)]
    fn write_parquet(
        &self,
        py: Python<'_>,
        path: String,
        compression: Option<String>,
        single_file_output: Option<bool>,
        partition_by: Vec<String>,
        sort_by: Vec<PyRef<'_, PySortExpr>>,
        settings: Vec<(String, String)>,
    ) -> PyResult<()> {
        use datafusion::common::config::ConfigField;
        let options = write_options(single_file_output, partition_by, &sort_by);
        let mut parquet = TableParquetOptions::default();
        parquet.global.compression = compression;
        for (key, value) in &settings {
            parquet
                .set(key, value)
                .map_err(|e| PyValueError::new_err(format!("Parquet option {key}={value}: {e}")))?;
        }
        self.run(py, true, move |df| {
            let (path, options, parquet) = (path.clone(), options.options(), parquet.clone());
            async move { df.write_parquet(&path, options, Some(parquet)).await }
        })?;
        Ok(())
    }

    #[pyo3(signature = (path, with_header=false, single_file_output=None, partition_by=vec![], sort_by=vec![]))]
    fn write_csv(
        &self,
        py: Python<'_>,
        path: String,
        with_header: bool,
        single_file_output: Option<bool>,
        partition_by: Vec<String>,
        sort_by: Vec<PyRef<'_, PySortExpr>>,
    ) -> PyResult<()> {
        let options = write_options(single_file_output, partition_by, &sort_by);
        let csv = CsvOptions::default().with_has_header(with_header);
        self.run(py, true, move |df| {
            let (path, options, csv) = (path.clone(), options.options(), csv.clone());
            async move { df.write_csv(&path, options, Some(csv)).await }
        })?;
        Ok(())
    }

    #[pyo3(signature = (path, single_file_output=None, partition_by=vec![], sort_by=vec![]))]
    fn write_json(
        &self,
        py: Python<'_>,
        path: String,
        single_file_output: Option<bool>,
        partition_by: Vec<String>,
        sort_by: Vec<PyRef<'_, PySortExpr>>,
    ) -> PyResult<()> {
        let options = write_options(single_file_output, partition_by, &sort_by);
        self.run(py, true, move |df| {
            let (path, options) = (path.clone(), options.options());
            async move { df.write_json(&path, options, None).await }
        })?;
        Ok(())
    }

    fn with_column_renamed(&self, old_name: &str, new_name: &str) -> PyResult<Self> {
        self.then(0, |df| df.with_column_renamed(old_name, new_name))
    }

    fn drop(&self, columns: Vec<String>) -> PyResult<Self> {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        self.then(0, |df| df.drop_columns(&names))
    }

    /// Joins on equal keys. With `coalesce_duplicate_keys`, a key that has the same name
    /// on both sides appears once in the result (for outer joins, the value
    /// from whichever side has one).
    fn join(
        &self,
        right: &PyDataFrame,
        how: &str,
        left_on: Vec<String>,
        right_on: Vec<String>,
        coalesce_duplicate_keys: bool,
    ) -> PyResult<Self> {
        if left_on.len() != right_on.len() || left_on.is_empty() {
            return Err(PyValueError::new_err(
                "join needs the same number (at least one) of left and right keys",
            ));
        }
        let how = join_type(how)?;
        let (right_depth, right) = (right.depth, right.dataframe());
        self.then(right_depth, |left| {
            let (l, r): (Vec<&str>, Vec<&str>) =
                (left_on.iter().map(String::as_str).collect(), right_on.iter().map(String::as_str).collect());
            query::join(left, right, how, &l, &r, coalesce_duplicate_keys)
        })
    }

    fn collect(&self, py: Python<'_>) -> PyResult<Py<PyList>> {
        let batches = self.collect_batches(py)?;
        let items = batches.iter().map(|b| b.to_pyarrow(py)).collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.unbind())
    }

    fn count(&self, py: Python<'_>) -> PyResult<usize> {
        self.run(py, false, |df| async move { df.count().await })
    }

    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.df.schema().as_arrow().to_pyarrow(py)
    }

    #[pyo3(signature = (verbose, analyze, format=None))]
    fn explain(
        &self,
        py: Python<'_>,
        verbose: bool,
        analyze: bool,
        format: Option<&str>,
    ) -> PyResult<String> {
        let plan = match format {
            None => self.then(0, |df| df.explain(verbose, analyze))?,
            Some(format) => {
                let format: datafusion::common::format::ExplainFormat = format
                    .parse()
                    .map_err(|e: datafusion::error::DataFusionError| PyValueError::new_err(e.to_string()))?;
                let option = datafusion::logical_expr::ExplainOption::default()
                    .with_verbose(verbose)
                    .with_analyze(analyze)
                    .with_format(format);
                self.then(0, |df| df.explain_with_options(option))?
            }
        };
        let batches = plan.collect_batches(py)?;
        render(&batches, 0, false)
    }

    /// The first `rows` rows as a text table.
    fn to_string(&self, py: Python<'_>, rows: usize) -> PyResult<String> {
        self.preview(py, rows).map(|(text, _)| text)
    }

    /// The first `rows` rows as a text table, and how many batches the
    /// query gave for them (0: it gave none, not even an empty one).
    /// An `EXPLAIN` shows whole (a limit cannot sit above it).
    fn preview(&self, py: Python<'_>, rows: usize) -> PyResult<(String, usize)> {
        let explains = matches!(self.df.logical_plan(), LogicalPlan::Explain(_) | LogicalPlan::Analyze(_));
        let head = if explains { self.then(0, Ok)? } else { self.then(0, |df| df.limit(0, Some(rows + 1)))? };
        let batches = head.collect_batches(py)?;
        let rows = if explains { usize::MAX } else { rows };
        let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let more = total > rows;
        let batches = if more {
            let mut left = rows;
            batches
                .into_iter()
                .filter_map(|b| {
                    let take = left.min(b.num_rows());
                    left -= take;
                    (take > 0).then(|| b.slice(0, take))
                })
                .collect()
        } else {
            batches
        };
        if batches.is_empty() {
            let empty = RecordBatch::new_empty(self.df.schema().inner().clone());
            return Ok((render(&[empty], 0, false)?, 0));
        }
        Ok((render(&batches, rows, more)?, batches.len()))
    }

    /// The physical plan this frame last ran (collect, a stream), with the
    /// metrics that run recorded; a new plan if it has not run yet.
    fn execution_plan(&self, py: Python<'_>) -> PyResult<PyExecutionPlan> {
        if let Some(plan) = self.executed.last() {
            return Ok(PyExecutionPlan::new(plan));
        }
        let df = self.dataframe();
        let plan = wait_for_depth(py, self.depth, async move { df.create_physical_plan().await })?;
        Ok(PyExecutionPlan::new(plan))
    }

    /// The logical plan as built, before optimization.
    fn logical_plan(&self) -> PyLogicalPlan {
        PyLogicalPlan::new(with_stack(self.depth, || self.df.logical_plan().clone()))
    }

    /// The logical plan after DataFusion's optimizer.
    fn optimized_logical_plan(&self) -> PyResult<PyLogicalPlan> {
        let df = self.dataframe();
        guard(|| {
            with_stack(self.depth, || {
                Ok(PyLogicalPlan::new(df.into_optimized_plan().map_err(DfshipError::from)?))
            })
        })
    }
}
