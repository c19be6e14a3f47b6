//! `ExecutionPlan`: the physical plan a DataFrame runs, which can be shipped
//! as a `DFSP` frame and run elsewhere.

use std::mem::ManuallyDrop;
use std::sync::Arc;

use arrow_pyarrow::ToPyArrow;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::metrics::{Metric, MetricValue};
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, collect, displayable};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::expr::PyExpr;
use super::runtime::{stream_claim, wait_for_depth};
use super::session::{PySessionContext, from_frame, to_frame};
use super::stream::PyRecordBatchStream;
use dfship_core::codec::bounded::with_stack;
use dfship_core::codec::physical::{decode_physical_plan_measured, plan_depth};
use dfship_core::codec::{decode_logical_plan, encode_logical_plan, encode_physical_plan};
use dfship_core::depth::plan_expr_depth;
use dfship_core::slots;

#[pyclass(name = "RawExecutionPlan", module = "dfship._internal", frozen)]
pub struct PyExecutionPlan {
    /// Dropped in [`Drop`], on a stack sized by `depth`.
    plan: ManuallyDrop<Arc<dyn ExecutionPlan>>,
    /// A bound on the recursion any walk of the plan (its nodes and their
    /// expressions) takes.
    depth: usize,
}

impl PyExecutionPlan {
    pub fn new(plan: Arc<dyn ExecutionPlan>) -> Self {
        let depth = plan_depth(&plan).recursion();
        Self { plan: ManuallyDrop::new(plan), depth }
    }

    fn with_depth(plan: Arc<dyn ExecutionPlan>, depth: usize) -> Self {
        Self { plan: ManuallyDrop::new(plan), depth }
    }
}

impl Drop for PyExecutionPlan {
    fn drop(&mut self) {
        // SAFETY: `plan` is taken once, here, and never touched again.
        let plan = unsafe { ManuallyDrop::take(&mut self.plan) };
        with_stack(self.depth, move || drop(plan));
    }
}

#[pymethods]
impl PyExecutionPlan {
    /// Serializes into a `DFSP` frame with the settings of `ctx`, else of
    /// this thread's sender slot, else the defaults.
    #[pyo3(signature = (ctx=None))]
    fn to_bytes<'py>(
        &self,
        py: Python<'py>,
        ctx: Option<PyRef<'_, PySessionContext>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        to_frame(py, ctx.as_deref(), |s| encode_physical_plan(&self.plan, &s.physical_codec(), &s.limits))
    }

    /// Rebuilds a plan from `to_bytes` output, resolving functions and
    /// following the settings of `ctx`, else this thread's worker slot, else
    /// the global session.
    #[staticmethod]
    #[pyo3(signature = (buf, ctx=None))]
    fn from_bytes(buf: &[u8], ctx: Option<PyRef<'_, PySessionContext>>) -> PyResult<Self> {
        let (plan, depth) = from_frame(ctx.as_deref(), |session| {
            let settings = &session.settings;
            decode_physical_plan_measured(
                buf,
                &session.task_ctx(),
                &settings.physical_codec(),
                &settings.limits,
            )
        })?;
        Ok(Self::with_depth(plan, depth.recursion()))
    }

    /// Runs every partition on `ctx` (else the worker slot's session, else
    /// the global one) and returns the batches.
    #[pyo3(signature = (ctx=None))]
    fn collect(&self, py: Python<'_>, ctx: Option<PyRef<'_, PySessionContext>>) -> PyResult<Py<PyList>> {
        let task = slots::decode_session(ctx.as_deref().map(|c| &c.session)).task_ctx();
        let plan = Arc::clone(&self.plan);
        let batches = wait_for_depth(py, self.depth, async move { collect(plan, task).await })?;
        let items = batches.iter().map(|b| b.to_pyarrow(py)).collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.unbind())
    }

    /// Starts partition `partition` on `ctx` (else the worker slot's
    /// session, else the global one): its batches as a stream.
    #[pyo3(signature = (partition, ctx=None))]
    fn execute_partition(
        &self,
        py: Python<'_>,
        partition: usize,
        ctx: Option<PyRef<'_, PySessionContext>>,
    ) -> PyResult<PyRecordBatchStream> {
        let count = self.plan.output_partitioning().partition_count();
        if partition >= count {
            return Err(pyo3::exceptions::PyIndexError::new_err(format!(
                "partition {partition} of a plan with {count} partitions"
            )));
        }
        let task = slots::decode_session(ctx.as_deref().map(|c| &c.session)).task_ctx();
        let plan = Arc::clone(&self.plan);
        let claim = stream_claim(py);
        let stream = wait_for_depth(py, self.depth, async move { plan.execute(partition, task) })?;
        Ok(PyRecordBatchStream::new(stream, self.depth, claim))
    }

    fn children(&self) -> Vec<Self> {
        self.plan.children().into_iter().map(|c| Self::with_depth(Arc::clone(c), self.depth)).collect()
    }

    #[getter]
    fn partition_count(&self) -> usize {
        self.plan.output_partitioning().partition_count()
    }

    /// The top node's kind (`FilterExec`, `DataSourceExec`, ...).
    fn name(&self) -> String {
        self.plan.name().to_owned()
    }

    /// The top node on one line.
    fn display(&self) -> String {
        with_stack(self.depth, || displayable(self.plan.as_ref()).one_line().to_string())
    }

    /// The whole plan, one node per line.
    fn display_indent(&self) -> String {
        with_stack(self.depth, || displayable(self.plan.as_ref()).indent(false).to_string())
    }

    fn __repr__(&self) -> String {
        self.display_indent()
    }

    /// What this node recorded while it ran (`None` for a node that keeps
    /// no metrics): one entry per metric and partition.
    fn metrics(&self) -> Option<Vec<MetricRow>> {
        self.plan.metrics().map(|set| set.iter().map(|m| metric_row(m)).collect())
    }
}

/// One metric of one node, as plain values: its name, its count (for
/// every metric but a timestamp), its timestamp in nanoseconds since the
/// epoch (for `start_timestamp`/`end_timestamp`, once set), its partition
/// (`None` for the whole operator), its labels, and DataFusion's rendering.
type MetricRow = (String, Option<usize>, Option<i64>, Option<usize>, Vec<(String, String)>, String);

fn metric_row(metric: &Metric) -> MetricRow {
    let value = metric.value();
    let (count, timestamp) = match value {
        MetricValue::StartTimestamp(t) | MetricValue::EndTimestamp(t) => {
            (None, t.value().and_then(|at| at.timestamp_nanos_opt()))
        }
        other => (Some(other.as_usize()), None),
    };
    let labels = metric.labels().iter().map(|l| (l.name().to_owned(), l.value().to_owned())).collect();
    (value.name().to_owned(), count, timestamp, metric.partition(), labels, metric.to_string())
}

/// A logical plan (see `DataFrame.logical_plan`), for inspection.
#[pyclass(name = "LogicalPlan", module = "dfship._internal", frozen)]
pub struct PyLogicalPlan {
    /// Dropped in [`Drop`], on a stack sized by `depth`.
    plan: ManuallyDrop<LogicalPlan>,
    depth: usize,
}

impl PyLogicalPlan {
    pub fn new(plan: LogicalPlan) -> Self {
        let depth = plan_expr_depth(&plan);
        Self { plan: ManuallyDrop::new(plan), depth }
    }

    /// A copy of the plan, made on a large enough stack.
    pub fn cloned(&self) -> LogicalPlan {
        with_stack(self.depth, || (*self.plan).clone())
    }
}

impl Drop for PyLogicalPlan {
    fn drop(&mut self) {
        // SAFETY: `plan` is taken once, here, and never touched again.
        let plan = unsafe { ManuallyDrop::take(&mut self.plan) };
        with_stack(self.depth, move || drop(plan));
    }
}

#[pymethods]
impl PyLogicalPlan {
    /// Serializes into a `DFSL` frame with the settings of `ctx`, else of
    /// this thread's sender slot, else the defaults.
    #[pyo3(signature = (ctx=None))]
    fn to_bytes<'py>(
        &self,
        py: Python<'py>,
        ctx: Option<PyRef<'_, PySessionContext>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        to_frame(py, ctx.as_deref(), |s| encode_logical_plan(&self.plan, &s.logical_codec(), &s.limits))
    }

    /// Rebuilds a plan from `to_bytes` output, resolving tables and
    /// functions through `ctx`, else this thread's worker slot, else the
    /// global session, whose settings decide what is accepted.
    #[staticmethod]
    #[pyo3(signature = (buf, ctx=None))]
    fn from_bytes(buf: &[u8], ctx: Option<PyRef<'_, PySessionContext>>) -> PyResult<Self> {
        let (plan, depth) = from_frame(ctx.as_deref(), |session| {
            let settings = &session.settings;
            decode_logical_plan(buf, &session.task_ctx(), &settings.logical_codec(), &settings.limits)
        })?;
        Ok(Self { plan: ManuallyDrop::new(plan), depth })
    }

    /// The plans this node reads from.
    fn inputs(&self) -> Vec<Self> {
        with_stack(self.depth, || self.plan.inputs().into_iter().map(|p| Self::new(p.clone())).collect())
    }

    /// The kind of the top node (`Projection`, `Filter`, `TableScan`, ...).
    fn variant_name(&self) -> &'static str {
        match &*self.plan {
            LogicalPlan::Projection(_) => "Projection",
            LogicalPlan::Filter(_) => "Filter",
            LogicalPlan::Window(_) => "Window",
            LogicalPlan::Aggregate(_) => "Aggregate",
            LogicalPlan::Sort(_) => "Sort",
            LogicalPlan::Join(_) => "Join",
            LogicalPlan::Repartition(_) => "Repartition",
            LogicalPlan::Union(_) => "Union",
            LogicalPlan::TableScan(_) => "TableScan",
            LogicalPlan::EmptyRelation(_) => "EmptyRelation",
            LogicalPlan::Subquery(_) => "Subquery",
            LogicalPlan::SubqueryAlias(_) => "SubqueryAlias",
            LogicalPlan::Limit(_) => "Limit",
            LogicalPlan::Statement(_) => "Statement",
            LogicalPlan::Values(_) => "Values",
            LogicalPlan::Explain(_) => "Explain",
            LogicalPlan::Analyze(_) => "Analyze",
            LogicalPlan::Extension(_) => "Extension",
            LogicalPlan::Distinct(_) => "Distinct",
            LogicalPlan::Dml(_) => "Dml",
            LogicalPlan::Ddl(_) => "Ddl",
            LogicalPlan::Copy(_) => "Copy",
            LogicalPlan::DescribeTable(_) => "DescribeTable",
            LogicalPlan::Unnest(_) => "Unnest",
            LogicalPlan::RecursiveQuery(_) => "RecursiveQuery",
        }
    }

    /// The kind of the top node as the `datafusion` package's plan classes
    /// name it: [`variant_name`](Self::variant_name), with statements, DDL,
    /// DML and `COPY` told apart (`TransactionStart`, `CreateIndex`,
    /// `DmlStatement`, `CopyTo`, ...).
    fn node_kind(&self) -> &'static str {
        use datafusion::logical_expr::{DdlStatement, Statement};
        match &*self.plan {
            LogicalPlan::Statement(s) => match s {
                Statement::TransactionStart(_) => "TransactionStart",
                Statement::TransactionEnd(_) => "TransactionEnd",
                Statement::SetVariable(_) => "SetVariable",
                Statement::ResetVariable(_) => "ResetVariable",
                Statement::Prepare(_) => "Prepare",
                Statement::Execute(_) => "Execute",
                Statement::Deallocate(_) => "Deallocate",
            },
            LogicalPlan::Ddl(d) => match d {
                DdlStatement::CreateExternalTable(_) => "CreateExternalTable",
                DdlStatement::CreateMemoryTable(_) => "CreateMemoryTable",
                DdlStatement::CreateView(_) => "CreateView",
                DdlStatement::CreateCatalogSchema(_) => "CreateCatalogSchema",
                DdlStatement::CreateCatalog(_) => "CreateCatalog",
                DdlStatement::CreateIndex(_) => "CreateIndex",
                DdlStatement::DropTable(_) => "DropTable",
                DdlStatement::DropView(_) => "DropView",
                DdlStatement::DropCatalogSchema(_) => "DropCatalogSchema",
                DdlStatement::CreateFunction(_) => "CreateFunction",
                DdlStatement::DropFunction(_) => "DropFunction",
            },
            LogicalPlan::Dml(_) => "DmlStatement",
            LogicalPlan::Copy(_) => "CopyTo",
            _ => self.variant_name(),
        }
    }

    /// The expressions of the top node (an aggregate's grouping keys first,
    /// then its aggregates).
    fn expressions(&self) -> PyResult<Vec<PyExpr>> {
        with_stack(self.depth, || self.plan.expressions().into_iter().map(PyExpr::new).collect())
    }

    /// How many of [`expressions`](Self::expressions) are grouping keys (0
    /// unless the top node is an aggregate).
    fn group_expr_count(&self) -> usize {
        match &*self.plan {
            LogicalPlan::Aggregate(a) => a.group_expr.len(),
            _ => 0,
        }
    }

    /// The top node on one line.
    fn display(&self) -> String {
        with_stack(self.depth, || self.plan.display().to_string())
    }

    /// The whole plan, one node per line.
    fn display_indent(&self) -> String {
        with_stack(self.depth, || self.plan.display_indent().to_string())
    }

    /// [`display_indent`](Self::display_indent) with each node's output schema.
    fn display_indent_schema(&self) -> String {
        with_stack(self.depth, || self.plan.display_indent_schema().to_string())
    }

    /// The plan in Graphviz `dot` syntax.
    fn display_graphviz(&self) -> String {
        with_stack(self.depth, || self.plan.display_graphviz().to_string())
    }

    fn __repr__(&self) -> String {
        self.display_indent()
    }
}
