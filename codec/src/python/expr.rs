//! `RawExpr` and `RawSortExpr`: logical expressions as Python objects.
//! The public `dfship.Expr` wraps these.

use std::sync::Arc;

use arrow_pyarrow::{FromPyArrow, PyArrowType};
use datafusion::arrow::array::{ArrayData, make_array};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::expr::{Alias, Case, Cast, Like, NullTreatment, Sort, TryCast, WindowFunction};
use datafusion::logical_expr::{
    Between, BinaryExpr, Expr, Operator, WindowFrame, WindowFrameBound, WindowFrameUnits,
    WindowFunctionDefinition,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString};

use super::errors::guard;
use super::session::PySessionContext;
use super::slots;
use crate::codec::{PythonLogicalCodec, WireLimits, decode_logical_expr, encode_logical_expr};

#[pyclass(name = "RawExpr", module = "dfship._internal", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PyExpr {
    pub expr: Expr,
}

impl From<Expr> for PyExpr {
    fn from(expr: Expr) -> Self {
        Self { expr }
    }
}

#[pyclass(name = "RawSortExpr", module = "dfship._internal", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PySortExpr {
    pub sort: Sort,
}

pub fn exprs(items: Vec<PyRef<'_, PyExpr>>) -> Vec<Expr> {
    items.iter().map(|e| e.expr.clone()).collect()
}

pub fn sorts(items: Vec<PyRef<'_, PySortExpr>>) -> Vec<Sort> {
    items.iter().map(|s| s.sort.clone()).collect()
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

/// A Python value as a DataFusion literal. Plain `bool`, `int`, `float`,
/// `str`, `bytes` and `None` are converted directly; anything else goes
/// through `pyarrow.scalar`, which knows dates, decimals, lists and more.
pub fn scalar_from_python(value: &Bound<'_, PyAny>) -> PyResult<ScalarValue> {
    if value.is_none() {
        return Ok(ScalarValue::Null);
    }
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(ScalarValue::Boolean(Some(b.is_true())));
    }
    if value.is_instance_of::<PyInt>()
        && let Ok(i) = value.extract::<i64>()
    {
        return Ok(ScalarValue::Int64(Some(i)));
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        return Ok(ScalarValue::Float64(Some(f.value())));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(ScalarValue::Utf8(Some(s.to_str()?.to_owned())));
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(ScalarValue::Binary(Some(b.as_bytes().to_vec())));
    }
    let py = value.py();
    let pa = py.import("pyarrow")?;
    let scalar = if value.is_instance(&pa.getattr("Scalar")?)? {
        value.clone()
    } else {
        pa.call_method1("scalar", (value,))?
    };
    let array = pa.call_method1("array", (vec![scalar.call_method0("as_py")?], scalar.getattr("type")?))?;
    let array = make_array(ArrayData::from_pyarrow_bound(&array)?);
    ScalarValue::try_from_array(&array, 0).map_err(|e| PyValueError::new_err(e.to_string()))
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
    fn column(name: &str) -> Self {
        Expr::Column(Column::from_name(name)).into()
    }

    /// A column reference parsed as SQL would (`t.a` is column `a` of `t`).
    #[staticmethod]
    fn qualified_column(name: &str) -> Self {
        Expr::Column(Column::from_qualified_name(name)).into()
    }

    #[staticmethod]
    fn literal(value: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Expr::Literal(scalar_from_python(value)?, None).into())
    }

    fn binary(&self, op: &str, other: &PyExpr) -> PyResult<Self> {
        Ok(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(self.expr.clone()),
            operator(op)?,
            Box::new(other.expr.clone()),
        ))
        .into())
    }

    fn negate(&self) -> Self {
        Expr::Negative(Box::new(self.expr.clone())).into()
    }

    fn not_(&self) -> Self {
        Expr::Not(Box::new(self.expr.clone())).into()
    }

    fn alias(&self, name: &str) -> Self {
        Expr::Alias(Alias::new(self.expr.clone(), None::<&str>, name)).into()
    }

    fn cast(&self, to: PyArrowType<DataType>) -> Self {
        let field = Arc::new(Field::new("", to.0, true));
        Expr::Cast(Cast { expr: Box::new(self.expr.clone()), field }).into()
    }

    fn try_cast(&self, to: PyArrowType<DataType>) -> Self {
        let field = Arc::new(Field::new("", to.0, true));
        Expr::TryCast(TryCast { expr: Box::new(self.expr.clone()), field }).into()
    }

    fn is_null(&self) -> Self {
        Expr::IsNull(Box::new(self.expr.clone())).into()
    }

    fn is_not_null(&self) -> Self {
        Expr::IsNotNull(Box::new(self.expr.clone())).into()
    }

    fn between(&self, low: &PyExpr, high: &PyExpr, negated: bool) -> Self {
        Expr::Between(Between::new(
            Box::new(self.expr.clone()),
            negated,
            Box::new(low.expr.clone()),
            Box::new(high.expr.clone()),
        ))
        .into()
    }

    #[pyo3(signature = (pattern, negated, case_insensitive, escape_char=None))]
    fn like(
        &self,
        pattern: &PyExpr,
        negated: bool,
        case_insensitive: bool,
        escape_char: Option<char>,
    ) -> Self {
        Expr::Like(Like::new(
            negated,
            Box::new(self.expr.clone()),
            Box::new(pattern.expr.clone()),
            escape_char,
            case_insensitive,
        ))
        .into()
    }

    fn in_list(&self, values: Vec<PyRef<'_, PyExpr>>, negated: bool) -> Self {
        self.expr.clone().in_list(exprs(values), negated).into()
    }

    fn sort(&self, ascending: bool, nulls_first: bool) -> PySortExpr {
        PySortExpr { sort: Sort::new(self.expr.clone(), ascending, nulls_first) }
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
                    agg.params.args.clone(),
                );
                w.params.distinct = agg.params.distinct;
                w.params.filter.clone_from(&agg.params.filter);
                w.params.null_treatment = agg.params.null_treatment;
                w
            }
            Expr::WindowFunction(w) => w.as_ref().clone(),
            other => {
                return Err(PyTypeError::new_err(format!(
                    "over() needs an aggregate or window function, not {}",
                    other.variant_name()
                )));
            }
        };
        let order_by = sorts(order_by);
        window.params.window_frame = match frame {
            Some((units, start, end)) => window_frame(&units, start, end)?,
            None => WindowFrame::new((!order_by.is_empty()).then_some(false)),
        };
        window.params.partition_by = exprs(partition_by);
        window.params.order_by = order_by;
        if let Some(nt) = null_treatment(ignore_nulls) {
            window.params.null_treatment = Some(nt);
        }
        let expr = Expr::WindowFunction(Box::new(window));
        Ok(match alias {
            Some(name) => Expr::Alias(Alias::new(expr, None::<&str>, name)).into(),
            None => expr.into(),
        })
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
            exprs(whens).into_iter().zip(exprs(thens)).map(|(w, t)| (Box::new(w), Box::new(t))).collect();
        Ok(Expr::Case(Case::new(
            base.map(|b| Box::new(b.expr.clone())),
            when_then,
            otherwise.map(|o| Box::new(o.expr.clone())),
        ))
        .into())
    }

    /// Serializes into a dfship frame with the settings of `ctx`, else of
    /// this thread's sender slot, else the defaults (inlining on).
    #[pyo3(signature = (ctx=None))]
    fn to_bytes<'py>(
        &self,
        py: Python<'py>,
        ctx: Option<PyRef<'_, PySessionContext>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            let bytes = match ctx {
                Some(ctx) => encode_logical_expr(&self.expr, &ctx.codec, &ctx.limits),
                None => match slots::sender() {
                    Some(ctx) => encode_logical_expr(&self.expr, &ctx.codec, &ctx.limits),
                    None => {
                        encode_logical_expr(&self.expr, &PythonLogicalCodec::new(), &WireLimits::default())
                    }
                },
            }?;
            Ok(PyBytes::new(py, &bytes))
        })
    }

    /// Rebuilds an expression from `to_bytes` output, resolving functions
    /// named in it through `ctx`, else this thread's worker slot, else the
    /// global session; the same session's settings decide what is accepted.
    #[staticmethod]
    #[pyo3(signature = (buf, ctx=None))]
    fn from_bytes(buf: &[u8], ctx: Option<PyRef<'_, PySessionContext>>) -> PyResult<Self> {
        guard(|| {
            let decode =
                |ctx: &PySessionContext| decode_logical_expr(buf, &ctx.task_ctx(), &ctx.codec, &ctx.limits);
            let expr = match ctx {
                Some(ctx) => decode(&ctx),
                None => match slots::worker() {
                    Some(ctx) => decode(&ctx),
                    None => decode(PySessionContext::global()),
                },
            }?;
            Ok(expr.into())
        })
    }

    /// Nesting depth of the expression tree.
    fn depth(&self) -> usize {
        crate::codec::expr::expr_depth(&self.expr)
    }

    /// The name the expression gets as an output column.
    fn schema_name(&self) -> String {
        self.expr.schema_name().to_string()
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
        self.expr.to_string()
    }

    fn __eq__(&self, other: &PyExpr) -> bool {
        self.expr == other.expr
    }

    fn __hash__(&self) -> PyResult<u64> {
        use std::hash::{Hash, Hasher};
        guard(|| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            self.expr.hash(&mut h);
            Ok(h.finish())
        })
    }
}

#[pymethods]
impl PySortExpr {
    fn expr(&self) -> PyExpr {
        self.sort.expr.clone().into()
    }

    fn ascending(&self) -> bool {
        self.sort.asc
    }

    fn nulls_first(&self) -> bool {
        self.sort.nulls_first
    }

    fn __repr__(&self) -> String {
        self.sort.to_string()
    }
}
