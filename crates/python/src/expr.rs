//! `RawExpr` and `RawSortExpr`: logical expressions as Python objects.
//! The public `dfship.Expr` wraps these.

use std::sync::Arc;

use arrow_pyarrow::PyArrowType;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::metadata::FieldMetadata;
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::expr::{Alias, Case, Cast, Like, NullTreatment, Sort, TryCast, WindowFunction};
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, Operator, WindowFrame, WindowFrameBound, WindowFrameUnits,
    WindowFunctionDefinition,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::errors::guard;
use super::session::{PySessionContext, from_frame, to_frame};
use dfship_core::codec::bounded::with_stack;
use dfship_core::codec::{decode_logical_expr_measured, encode_logical_expr};
use dfship_core::convert::scalar_from_python;
use dfship_core::depth;
use dfship_core::error::DfshipError;

/// The process-wide expression depth limit.
#[pyfunction]
pub fn max_expression_depth() -> usize {
    depth::max_expression_depth()
}

/// Sets the process-wide expression depth limit (at least 1).
#[pyfunction]
pub fn set_max_expression_depth(depth: usize) -> PyResult<()> {
    Ok(depth::set_max_expression_depth(depth)?)
}

/// An expression and its nesting depth. Every recursive operation on it
/// (clone, display, comparison, hashing, drop, planning) runs on a stack
/// sized by that depth, and no `PyExpr` deeper than the process limit
/// exists: building or decoding one raises `ExpressionTooDeepError`.
#[pyclass(name = "RawExpr", module = "dfship._internal", frozen, skip_from_py_object)]
pub struct PyExpr {
    expr: Expr,
    depth: usize,
}

impl PyExpr {
    /// Wraps `expr`, refusing it when it nests deeper than the limit.
    pub fn new(expr: Expr) -> PyResult<Self> {
        let (expr, depth) = depth::checked(expr)?;
        Ok(Self { expr, depth })
    }

    /// Wraps `expr`, whose depth a decode measured, refusing it when it
    /// nests deeper than the limit.
    pub fn measured(expr: Expr, depth: usize) -> PyResult<Self> {
        let (expr, depth) = depth::checked_at(expr, depth)?;
        Ok(Self { expr, depth })
    }

    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    pub fn depth(&self) -> usize {
        self.depth
    }

    /// A copy of the expression, made on a large enough stack.
    pub fn cloned(&self) -> Expr {
        with_stack(self.depth, || self.expr.clone())
    }
}

impl Drop for PyExpr {
    fn drop(&mut self) {
        if self.depth > 1 {
            let expr = std::mem::replace(&mut self.expr, Expr::Literal(ScalarValue::Null, None));
            with_stack(self.depth, move || drop(expr));
        }
    }
}

#[pyclass(name = "RawSortExpr", module = "dfship._internal", frozen, skip_from_py_object)]
pub struct PySortExpr {
    sort: Sort,
    depth: usize,
}

impl PySortExpr {
    fn new(sort: Sort, depth: usize) -> Self {
        Self { sort, depth }
    }

    pub fn cloned(&self) -> Sort {
        with_stack(self.depth, || self.sort.clone())
    }
}

impl Drop for PySortExpr {
    fn drop(&mut self) {
        if self.depth > 1 {
            let expr = std::mem::replace(&mut self.sort.expr, Expr::Literal(ScalarValue::Null, None));
            with_stack(self.depth, move || drop(expr));
        }
    }
}

/// The deepest of some expressions.
pub fn deepest(items: &[PyRef<'_, PyExpr>]) -> usize {
    items.iter().map(|e| e.depth).max().unwrap_or(0)
}

pub fn exprs(items: &[PyRef<'_, PyExpr>]) -> Vec<Expr> {
    items.iter().map(|e| e.cloned()).collect()
}

pub fn sorts(items: &[PyRef<'_, PySortExpr>]) -> Vec<Sort> {
    items.iter().map(|s| s.cloned()).collect()
}

/// The deepest of some sort keys.
pub fn deepest_sort(items: &[PyRef<'_, PySortExpr>]) -> usize {
    items.iter().map(|s| s.depth).max().unwrap_or(0)
}

fn operator(op: &str) -> PyResult<Operator> {
    Ok(match op {
        "+" => Operator::Plus,
        "-" => Operator::Minus,
        "*" => Operator::Multiply,
        "/" => Operator::Divide,
        "%" => Operator::Modulo,
        "==" => Operator::Eq,
        "!=" => Operator::NotEq,
        "<" => Operator::Lt,
        "<=" => Operator::LtEq,
        ">" => Operator::Gt,
        ">=" => Operator::GtEq,
        "and" => Operator::And,
        "or" => Operator::Or,
        "&" => Operator::BitwiseAnd,
        "|" => Operator::BitwiseOr,
        "^" => Operator::BitwiseXor,
        "<<" => Operator::BitwiseShiftLeft,
        ">>" => Operator::BitwiseShiftRight,
        "||" => Operator::StringConcat,
        "is_distinct_from" => Operator::IsDistinctFrom,
        "is_not_distinct_from" => Operator::IsNotDistinctFrom,
        other => return Err(PyValueError::new_err(format!("unknown operator {other:?}"))),
    })
}

fn frame_bound(value: Option<u64>, start: bool) -> WindowFrameBound {
    match (value, start) {
        (None, true) => WindowFrameBound::Preceding(ScalarValue::UInt64(None)),
        (None, false) => WindowFrameBound::Following(ScalarValue::UInt64(None)),
        (Some(0), _) => WindowFrameBound::CurrentRow,
        (Some(n), true) => WindowFrameBound::Preceding(ScalarValue::UInt64(Some(n))),
        (Some(n), false) => WindowFrameBound::Following(ScalarValue::UInt64(Some(n))),
    }
}

/// Builds a window frame from `units` (`rows`, `range`, `groups`) and bounds:
/// `None` is unbounded, `0` the current row, `n` n rows preceding (start) or
/// following (end).
pub fn window_frame(units: &str, start: Option<u64>, end: Option<u64>) -> PyResult<WindowFrame> {
    let units = match units.to_ascii_lowercase().as_str() {
        "rows" => WindowFrameUnits::Rows,
        "range" => WindowFrameUnits::Range,
        "groups" => WindowFrameUnits::Groups,
        other => {
            return Err(PyValueError::new_err(format!(
                "window frame units must be 'rows', 'range' or 'groups', not {other:?}"
            )));
        }
    };
    Ok(WindowFrame::new_bounds(units, frame_bound(start, true), frame_bound(end, false)))
}

fn null_treatment(ignore_nulls: Option<bool>) -> Option<NullTreatment> {
    ignore_nulls.map(|ignore| if ignore { NullTreatment::IgnoreNulls } else { NullTreatment::RespectNulls })
}

#[pymethods]
impl PyExpr {
    #[staticmethod]
    fn column(name: &str) -> PyResult<Self> {
        Self::new(Expr::Column(Column::from_name(name)))
    }

    /// A column reference parsed as SQL would (`t.a` is column `a` of `t`).
    #[staticmethod]
    fn qualified_column(name: &str) -> PyResult<Self> {
        Self::new(Expr::Column(Column::from_qualified_name(name)))
    }

    /// A literal of `value`. A Python `str` becomes a `Utf8View` literal
    /// unless `string_view` is false (then `Utf8`, which some function
    /// arguments require); `metadata` becomes the literal's field metadata.
    #[staticmethod]
    #[pyo3(signature = (value, string_view=true, metadata=None))]
    fn literal(
        value: &Bound<'_, PyAny>,
        string_view: bool,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    ) -> PyResult<Self> {
        let scalar = match scalar_from_python(value, None)? {
            ScalarValue::Utf8(s) if string_view && value.is_instance_of::<pyo3::types::PyString>() => {
                ScalarValue::Utf8View(s)
            }
            other => other,
        };
        Self::new(Expr::Literal(scalar, metadata.map(FieldMetadata::from)))
    }

    fn binary(&self, op: &str, other: &PyExpr) -> PyResult<Self> {
        let op = operator(op)?;
        Self::new(Expr::BinaryExpr(BinaryExpr::new(Box::new(self.cloned()), op, Box::new(other.cloned()))))
    }

    fn negate(&self) -> PyResult<Self> {
        Self::new(Expr::Negative(Box::new(self.cloned())))
    }

    fn not_(&self) -> PyResult<Self> {
        Self::new(Expr::Not(Box::new(self.cloned())))
    }

    /// Names the expression; `metadata` goes on the output field.
    #[pyo3(signature = (name, metadata=None))]
    fn alias(
        &self,
        name: &str,
        metadata: Option<std::collections::BTreeMap<String, String>>,
    ) -> PyResult<Self> {
        let alias =
            Alias::new(self.cloned(), None::<&str>, name).with_metadata(metadata.map(FieldMetadata::from));
        Self::new(Expr::Alias(alias))
    }

    fn cast(&self, to: PyArrowType<DataType>) -> PyResult<Self> {
        let field = Arc::new(Field::new("", to.0, true));
        Self::new(Expr::Cast(Cast { expr: Box::new(self.cloned()), field }))
    }

    fn try_cast(&self, to: PyArrowType<DataType>) -> PyResult<Self> {
        let field = Arc::new(Field::new("", to.0, true));
        Self::new(Expr::TryCast(TryCast { expr: Box::new(self.cloned()), field }))
    }

    fn is_null(&self) -> PyResult<Self> {
        Self::new(Expr::IsNull(Box::new(self.cloned())))
    }

    fn is_not_null(&self) -> PyResult<Self> {
        Self::new(Expr::IsNotNull(Box::new(self.cloned())))
    }

    fn between(&self, low: &PyExpr, high: &PyExpr, negated: bool) -> PyResult<Self> {
        Self::new(Expr::Between(Between::new(
            Box::new(self.cloned()),
            negated,
            Box::new(low.cloned()),
            Box::new(high.cloned()),
        )))
    }

    #[pyo3(signature = (pattern, negated, case_insensitive, escape_char=None))]
    fn like(
        &self,
        pattern: &PyExpr,
        negated: bool,
        case_insensitive: bool,
        escape_char: Option<char>,
    ) -> PyResult<Self> {
        Self::new(Expr::Like(Like::new(
            negated,
            Box::new(self.cloned()),
            Box::new(pattern.cloned()),
            escape_char,
            case_insensitive,
        )))
    }

    fn in_list(&self, values: Vec<PyRef<'_, PyExpr>>, negated: bool) -> PyResult<Self> {
        Self::new(self.cloned().in_list(exprs(&values), negated))
    }

    fn sort(&self, ascending: bool, nulls_first: bool) -> PySortExpr {
        PySortExpr::new(Sort::new(self.cloned(), ascending, nulls_first), self.depth)
    }

    /// Turns an aggregate or window function call into a windowed one.
    #[pyo3(signature = (partition_by, order_by, frame=None, ignore_nulls=None))]
    fn over(
        &self,
        partition_by: Vec<PyRef<'_, PyExpr>>,
        order_by: Vec<PyRef<'_, PySortExpr>>,
        frame: Option<(String, Option<u64>, Option<u64>)>,
        ignore_nulls: Option<bool>,
    ) -> PyResult<Self> {
        let (alias, inner) = match &self.expr {
            Expr::Alias(a) => (Some(a.name.clone()), a.expr.as_ref()),
            other => (None, other),
        };
        let mut window = match inner {
            Expr::AggregateFunction(agg) => {
                let mut w = WindowFunction::new(
                    WindowFunctionDefinition::AggregateUDF(Arc::clone(&agg.func)),
                    with_stack(self.depth, || agg.params.args.clone()),
                );
                w.params.distinct = agg.params.distinct;
                w.params.filter = with_stack(self.depth, || agg.params.filter.clone());
                w.params.null_treatment = agg.params.null_treatment;
                w
            }
            Expr::WindowFunction(w) => with_stack(self.depth, || w.as_ref().clone()),
            other => {
                return Err(PyTypeError::new_err(format!(
                    "over() needs an aggregate or window function, not {}",
                    other.variant_name()
                )));
            }
        };
        let order_by = sorts(&order_by);
        window.params.window_frame = match frame {
            Some((units, start, end)) => window_frame(&units, start, end)?,
            None => WindowFrame::new((!order_by.is_empty()).then_some(false)),
        };
        window.params.partition_by = exprs(&partition_by);
        window.params.order_by = order_by;
        if let Some(nt) = null_treatment(ignore_nulls) {
            window.params.null_treatment = Some(nt);
        }
        let expr = Expr::WindowFunction(Box::new(window));
        Self::new(match alias {
            Some(name) => Expr::Alias(Alias::new(expr, None::<&str>, name)),
            None => expr,
        })
    }

    /// Applies the options of an aggregate or window call (`ORDER BY`,
    /// `FILTER`, `DISTINCT`, null treatment, `PARTITION BY`, frame) at once.
    /// An alias around the call is kept.
    #[pyo3(signature = (order_by=None, filter=None, distinct=false, ignore_nulls=None, partition_by=None, frame=None))]
    fn build_call(
        &self,
        order_by: Option<Vec<PyRef<'_, PySortExpr>>>,
        filter: Option<PyRef<'_, PyExpr>>,
        distinct: bool,
        ignore_nulls: Option<bool>,
        partition_by: Option<Vec<PyRef<'_, PyExpr>>>,
        frame: Option<(String, Option<u64>, Option<u64>)>,
    ) -> PyResult<Self> {
        use datafusion::logical_expr::ExprFunctionExt;
        let depth = [
            self.depth,
            order_by.as_deref().map_or(0, deepest_sort),
            filter.as_ref().map_or(0, |f| f.depth),
            partition_by.as_deref().map_or(0, deepest),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let (alias, inner) = match &self.expr {
            Expr::Alias(a) => (Some(a.name.clone()), a.expr.as_ref()),
            other => (None, other),
        };
        match inner {
            Expr::WindowFunction(_) => {}
            Expr::AggregateFunction(_) if partition_by.is_none() && frame.is_none() => {}
            Expr::AggregateFunction(_) => {
                return Err(PyTypeError::new_err(
                    "partition_by and window_frame apply to window functions; \
                     make an aggregate a window function with .over(Window(...))",
                ));
            }
            other => {
                return Err(PyTypeError::new_err(format!(
                    "order_by, filter, distinct, null_treatment, partition_by and window_frame \
                     apply to an aggregate or window function call, not {}",
                    other.variant_name()
                )));
            }
        }
        let frame = frame.map(|(u, s, e)| window_frame(&u, s, e)).transpose()?;
        let (order_by, filter, partition_by) =
            (order_by.as_deref().map(sorts), filter.map(|f| f.cloned()), partition_by.as_deref().map(exprs));
        guard(|| {
            with_stack(depth, || {
                // DataFusion's builder: options not given take their defaults.
                let mut builder = inner.clone().null_treatment(null_treatment(ignore_nulls));
                if let Some(o) = order_by {
                    builder = builder.order_by(o);
                }
                if let Some(f) = filter {
                    builder = builder.filter(f);
                }
                if distinct {
                    builder = builder.distinct();
                }
                if let Some(p) = partition_by {
                    builder = builder.partition_by(p);
                }
                if let Some(w) = frame {
                    builder = builder.window_frame(w);
                }
                let built = builder.build().map_err(DfshipError::from)?;
                Self::new(match alias {
                    Some(name) => Expr::Alias(Alias::new(built, None::<&str>, name)),
                    None => built,
                })
            })
        })
    }

    /// The expression as DataFusion prints it.
    fn canonical_name(&self) -> String {
        self.__repr__()
    }

    /// The value of a literal as a `pyarrow.Scalar` of its type.
    fn python_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        use arrow_pyarrow::ToPyArrow;
        match &self.expr {
            Expr::Literal(value, _) => {
                let array = value.to_array().map_err(DfshipError::from)?;
                let array = array.to_data().to_pyarrow(py)?;
                array.call_method1("__getitem__", (0,))
            }
            other => Err(PyTypeError::new_err(format!(
                "python_value() needs a literal, not {}",
                other.variant_name()
            ))),
        }
    }

    /// The direct sub-expressions, in order.
    fn operands(&self) -> PyResult<Vec<Self>> {
        use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
        with_stack(self.depth, || {
            let mut children = Vec::new();
            self.expr
                .apply_children(|child| {
                    children.push(child.clone());
                    Ok(TreeNodeRecursion::Continue)
                })
                .map_err(DfshipError::from)?;
            children.into_iter().map(Self::new).collect()
        })
    }

    /// The operator of a binary expression (`+`, `AND`, ...).
    fn binary_op(&self) -> Option<String> {
        match &self.expr {
            Expr::BinaryExpr(b) => Some(b.op.to_string()),
            _ => None,
        }
    }

    /// The name an alias gives, for an alias.
    fn alias_name(&self) -> Option<String> {
        match &self.expr {
            Expr::Alias(a) => Some(a.name.clone()),
            _ => None,
        }
    }

    /// The Arrow type of a literal, as DataFusion prints it.
    fn literal_type(&self) -> Option<String> {
        match &self.expr {
            Expr::Literal(value, _) => Some(value.data_type().to_string()),
            _ => None,
        }
    }

    /// The table qualifier of a column reference, if it has one.
    fn column_relation(&self) -> Option<String> {
        match &self.expr {
            Expr::Column(c) => c.relation.as_ref().map(ToString::to_string),
            _ => None,
        }
    }

    #[staticmethod]
    #[pyo3(signature = (base, whens, thens, otherwise=None))]
    fn case(
        base: Option<PyRef<'_, PyExpr>>,
        whens: Vec<PyRef<'_, PyExpr>>,
        thens: Vec<PyRef<'_, PyExpr>>,
        otherwise: Option<PyRef<'_, PyExpr>>,
    ) -> PyResult<Self> {
        if whens.is_empty() || whens.len() != thens.len() {
            return Err(PyValueError::new_err("a case expression needs one or more when/then pairs"));
        }
        let when_then =
            exprs(&whens).into_iter().zip(exprs(&thens)).map(|(w, t)| (Box::new(w), Box::new(t))).collect();
        Self::new(Expr::Case(Case::new(
            base.map(|b| Box::new(b.cloned())),
            when_then,
            otherwise.map(|o| Box::new(o.cloned())),
        )))
    }

    /// Serializes into a dfship frame with the settings of `ctx`, else of
    /// this thread's sender slot, else the defaults (inlining on).
    #[pyo3(signature = (ctx=None))]
    fn to_bytes<'py>(
        &self,
        py: Python<'py>,
        ctx: Option<PyRef<'_, PySessionContext>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        to_frame(py, ctx.as_deref(), |s| encode_logical_expr(&self.expr, &s.logical_codec(), &s.limits))
    }

    /// Rebuilds an expression from `to_bytes` output, resolving functions
    /// named in it through `ctx`, else this thread's worker slot, else the
    /// global session; the same session's settings decide what is accepted.
    #[staticmethod]
    #[pyo3(signature = (buf, ctx=None))]
    fn from_bytes(buf: &[u8], ctx: Option<PyRef<'_, PySessionContext>>) -> PyResult<Self> {
        let (expr, depth) = from_frame(ctx.as_deref(), |session| {
            let settings = &session.settings;
            decode_logical_expr_measured(
                buf,
                &session.task_ctx(),
                &settings.logical_codec(),
                &settings.limits,
            )
        })?;
        guard(|| Self::measured(expr, depth))
    }

    /// Nesting depth of the expression tree.
    #[pyo3(name = "depth")]
    fn py_depth(&self) -> usize {
        self.depth
    }

    /// The name the expression gets as an output column.
    fn schema_name(&self) -> String {
        with_stack(self.depth, || self.expr.schema_name().to_string())
    }

    fn variant_name(&self) -> String {
        self.expr.variant_name().to_owned()
    }

    /// The referenced column name, for a bare column expression.
    fn column_name(&self) -> Option<String> {
        match &self.expr {
            Expr::Column(c) => Some(c.name.clone()),
            _ => None,
        }
    }

    fn __repr__(&self) -> String {
        with_stack(self.depth, || self.expr.to_string())
    }

    fn __eq__(&self, other: &PyExpr) -> bool {
        with_stack(self.depth.max(other.depth), || self.expr == other.expr)
    }

    fn __hash__(&self) -> PyResult<u64> {
        use std::hash::{Hash, Hasher};
        guard(|| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            with_stack(self.depth, || self.expr.hash(&mut h));
            Ok(h.finish())
        })
    }
}

#[pymethods]
impl PySortExpr {
    fn expr(&self) -> PyResult<PyExpr> {
        PyExpr::new(with_stack(self.depth, || self.sort.expr.clone()))
    }

    fn ascending(&self) -> bool {
        self.sort.asc
    }

    fn nulls_first(&self) -> bool {
        self.sort.nulls_first
    }

    fn __repr__(&self) -> String {
        with_stack(self.depth, || self.sort.to_string())
    }
}
