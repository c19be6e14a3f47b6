//! A [`Case`] rendered two ways: Python source that builds it with dfship's
//! public API (what the driver process runs) and a DataFusion [`Expr`] with
//! the UDFs built in this process (what the Rust-level properties encode).

use std::fmt::Write as _;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{
    AggregateUDF, Expr, ExprFunctionExt, Like, ScalarUDF, SortExpr, WindowFunctionDefinition, WindowUDF,
    cast, col, in_list, lit, not, when,
};

use crate::spec::{Agg, BinOp, Case, E, Family, Lit, Root, Ty, UdfKind, UdfSpec, Win};

/// The Arrow type of a category.
pub fn data_type(ty: Ty) -> DataType {
    match ty {
        Ty::Int => DataType::Int64,
        Ty::Float => DataType::Float64,
        Ty::Decimal => DataType::Decimal128(10, 2),
        Ty::Str => DataType::Utf8,
        Ty::Bool => DataType::Boolean,
        Ty::Date => DataType::Date32,
        Ty::Ts => DataType::Timestamp(TimeUnit::Microsecond, None),
        Ty::List => DataType::new_list(DataType::Int64, true),
    }
}

/// `1234` unscaled as the decimal text `12.34`.
pub fn decimal_text(unscaled: i64) -> String {
    let sign = if unscaled < 0 { "-" } else { "" };
    let abs = unscaled.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Days since the epoch as `YYYY-MM-DD`.
pub fn date_text(days: i32) -> String {
    // Civil-from-days (proleptic Gregorian), for the generator's range.
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffff`.
pub fn ts_text(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400) as i32;
    let s = secs.rem_euclid(86_400);
    format!("{}T{:02}:{:02}:{:02}.{frac:06}", date_text(days), s / 3600, s / 60 % 60, s % 60)
}

fn py_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn py_float(v: f64) -> String {
    if v.is_nan() {
        "float('nan')".into()
    } else if v.is_infinite() {
        if v > 0.0 { "float('inf')".into() } else { "float('-inf')".into() }
    } else {
        format!("{v:?}")
    }
}

/// Python source of a literal.
pub fn python_lit(l: &Lit) -> String {
    match l {
        Lit::Null(t) => format!("lit(None).cast({})", t.pyarrow()),
        Lit::Int(v) => format!("lit({v})"),
        Lit::Float(v) => format!("lit({})", py_float(*v)),
        Lit::Decimal(u) => format!("lit({}).cast({})", py_str(&decimal_text(*u)), Ty::Decimal.pyarrow()),
        Lit::Str(s) => format!("lit({})", py_str(s)),
        Lit::Bool(b) => format!("lit({})", if *b { "True" } else { "False" }),
        Lit::Date(d) => format!("lit({}).cast({})", py_str(&date_text(*d)), Ty::Date.pyarrow()),
        Lit::Ts(t) => format!("lit({}).cast({})", py_str(&ts_text(*t)), Ty::Ts.pyarrow()),
    }
}

/// Python source of a scalar expression.
pub fn python_expr(e: &E) -> String {
    let list = |items: &[E]| items.iter().map(python_expr).collect::<Vec<_>>().join(", ");
    match e {
        E::Col(name) => format!("col({})", py_str(name)),
        E::Lit(l) => python_lit(l),
        E::Bin(op, a, b) => format!("({} {} {})", python_expr(a), op.symbol(), python_expr(b)),
        E::Not(a) => format!("~{}", python_expr(a)),
        E::Neg(a) => format!("-{}", python_expr(a)),
        E::IsNull(a) => format!("{}.is_null()", python_expr(a)),
        E::IsNotNull(a) => format!("{}.is_not_null()", python_expr(a)),
        E::Cast(a, t) => format!("{}.cast({})", python_expr(a), t.pyarrow()),
        E::Case(whens, otherwise) => {
            let mut s = String::from("F");
            for (c, v) in whens {
                let _ = write!(s, ".when({}, {})", python_expr(c), python_expr(v));
            }
            match otherwise {
                Some(o) => {
                    let _ = write!(s, ".otherwise({})", python_expr(o));
                }
                None => s.push_str(".end()"),
            }
            s
        }
        E::InList(a, items, negated) => {
            format!("F.in_list({}, [{}], negated={})", python_expr(a), list(items), py_bool(*negated))
        }
        E::Between(a, lo, hi, negated) => format!(
            "{}.between({}, {}, negated={})",
            python_expr(a),
            python_expr(lo),
            python_expr(hi),
            py_bool(*negated)
        ),
        E::Like { expr, pattern, negated, case_insensitive } => format!(
            "{}.like(lit({}), negated={}, case_insensitive={})",
            python_expr(expr),
            py_str(pattern),
            py_bool(*negated),
            py_bool(*case_insensitive)
        ),
        E::Fun(name, args) => format!("F.{name}({})", list(args)),
        E::Udf(i, args) => format!("u{i}({})", list(args)),
    }
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

fn python_agg(a: &Agg) -> String {
    match a {
        Agg::Builtin(name, e, true) => format!("F.{name}({}, distinct=True)", python_expr(e)),
        Agg::Builtin(name, e, false) => format!("F.{name}({})", python_expr(e)),
        Agg::CountStar => "F.count_star()".into(),
        Agg::Udf(i, e) => format!("u{i}({})", python_expr(e)),
    }
}

/// Python source of the case's whole expression (window clause included).
pub fn python_root(case: &Case) -> String {
    match &case.root {
        Root::Select(e) => python_expr(e),
        Root::Aggregate { agg, .. } => python_agg(agg),
        Root::Window { win, partition_by, order_by } => {
            let partition = match partition_by {
                Some(p) => format!("[col({})]", py_str(p)),
                None => "None".into(),
            };
            let mut keys = Vec::new();
            if let Some(o) = order_by {
                keys.push(format!("col({}).sort(ascending=True, nulls_first=True)", py_str(o)));
            }
            keys.push("col(\"rid\").sort(ascending=True, nulls_first=True)".into());
            let order = format!("[{}]", keys.join(", "));
            let window = format!("Window(partition_by={partition}, order_by={order})");
            match win {
                Win::Rank(name) => format!("F.{name}(partition_by={partition}, order_by={order})"),
                Win::Ntile(n) => format!("F.ntile({n}, partition_by={partition}, order_by={order})"),
                Win::Shift(name, e) => {
                    format!("F.{name}({}, 1, partition_by={partition}, order_by={order})", python_expr(e))
                }
                Win::Agg(a) => format!("{}.over({window})", python_agg(a)),
                Win::Udf(i, e) => format!("u{i}({}).over({window})", python_expr(e)),
                Win::UdfNullary(i) => format!("u{i}().over({window})"),
            }
        }
    }
}

/// The context the driver evaluates the expression in.
pub fn python_context(case: &Case) -> serde_json::Value {
    match &case.root {
        Root::Aggregate { group_by, .. } => serde_json::json!({"kind": "aggregate", "group_by": group_by}),
        _ => serde_json::json!({"kind": "select"}),
    }
}

/// Python source defining `body`: the UDF's function, accumulator or
/// evaluator class (not FFI).
pub fn python_udf_body(u: &UdfSpec) -> String {
    let float = u.input == Ty::Float;
    let scalar_op = |k: String| {
        if float {
            format!("pc.add(pc.multiply(a, 0.5), {k})")
        } else {
            format!("pc.add(pc.multiply(a, 3), {k})")
        }
    };
    let head = "import pyarrow as pa\nimport pyarrow.compute as pc\nimport dfship\n";
    match (u.family, &u.kind) {
        (_, UdfKind::Ffi) => unreachable!("FFI UDFs have no Python body"),
        (Family::Scalar, UdfKind::Module) => {
            format!("from harness_udfs import {} as body\n", if float { "half" } else { "add_seven" })
        }
        (Family::Aggregate, UdfKind::Module) => "from harness_udfs import CountNonNull as body\n".into(),
        (Family::Window, UdfKind::Module) => "from harness_udfs import RunningMax as body\n".into(),
        (Family::Scalar, UdfKind::SelfContained { k }) => {
            format!("{head}def body(a):\n    return {}\n", scalar_op(k.to_string()))
        }
        (Family::Scalar, UdfKind::Closure { k }) => format!(
            "{head}def _make(k):\n    def body(a):\n        return {}\n    return body\nbody = _make({k})\n",
            scalar_op("k".into())
        ),
        (Family::Scalar, UdfKind::ClosureLarge { n, seed }) => format!(
            "{head}def _make(n, seed):\n    table = [(seed + 7 * i) % 101 for i in range(n)]\n    def body(a):\n        return {}\n    return body\nbody = _make({n}, {seed})\n",
            scalar_op("table[seed % n]".into())
        ),
        (Family::Aggregate, kind) => {
            let (make_args, k, params) = closure_parts(kind);
            format!(
                "{head}def _make({params}):\n    class Acc(dfship.Accumulator):\n        def __init__(self):\n            self.total = 0\n        def update(self, *values):\n            self.total += (pc.sum(values[0]).as_py() or 0) + {k}\n        def merge(self, states):\n            self.total += pc.sum(states[0]).as_py() or 0\n        def state(self):\n            return [pa.scalar(self.total, pa.int64())]\n        def evaluate(self):\n            return pa.scalar(self.total, pa.int64())\n    return Acc\nbody = _make({make_args})\n"
            )
        }
        (Family::Window, kind) => {
            let (make_args, k, params) = closure_parts(kind);
            format!(
                "{head}def _make({params}):\n    class Ev(dfship.WindowEvaluator):\n        def evaluate_all(self, values, num_rows):\n            total, out = {k}, []\n            for v in values[0].to_pylist():\n                total += v or 0\n                out.append(total)\n            return pa.array(out, pa.int64())\n    return Ev\nbody = _make({make_args})\n"
            )
        }
    }
}

/// For aggregate and window bodies: the `_make` arguments, the expression of
/// the constant inside, and the `_make` parameters. A self-contained body
/// writes its constant into the code and captures nothing.
fn closure_parts(kind: &UdfKind) -> (String, String, String) {
    match kind {
        UdfKind::SelfContained { k } => (String::new(), k.to_string(), String::new()),
        UdfKind::Closure { k } => (k.to_string(), "k".into(), "k".into()),
        UdfKind::ClosureLarge { n, seed } => {
            (format!("[(({seed}) + 7 * i) % 101 for i in range({n})]"), "table[-1]".into(), "table".into())
        }
        UdfKind::Module | UdfKind::Ffi => unreachable!("no generated body"),
    }
}

/// Python source defining `u{index}`: the UDF object built with dfship.
pub fn python_udf_source(case: &Case, index: usize) -> String {
    let u = &case.udfs[index];
    let var = format!("u{index}");
    if u.is_ffi() {
        let (make, class) = match u.family {
            Family::Scalar => ("udf", "IsEven"),
            Family::Aggregate => ("udaf", "CountEven"),
            Family::Window => ("udwf", "RowIndex"),
        };
        return format!(
            "import dfship\nimport dfship_ffi_example as ffi\n{var} = dfship.{make}(ffi.{class}())\n"
        );
    }
    let name = py_str(&case.udf_name(index));
    let vol = py_str(u.volatility.name());
    let input = u.input.pyarrow();
    let wrap = match u.family {
        Family::Scalar => {
            format!("{var} = dfship.udf(body, [{input}], {}, {vol}, name={name})\n", u.output().pyarrow())
        }
        Family::Aggregate => {
            format!("{var} = dfship.udaf(body, [{input}], pa.int64(), [pa.int64()], {vol}, name={name})\n")
        }
        Family::Window => format!("{var} = dfship.udwf(body, [{input}], pa.int64(), {vol}, name={name})\n"),
    };
    format!("import pyarrow as pa\nimport dfship\n{}{wrap}", python_udf_body(u))
}

/// A UDF built in this process, ready to call.
#[derive(Debug, Clone)]
pub enum BuiltUdf {
    Scalar(Arc<ScalarUDF>),
    Aggregate(Arc<AggregateUDF>),
    Window(Arc<WindowUDF>),
}

/// Builds DataFusion expressions for a case, with built-in functions from
/// `registry` and the case's UDFs from `udfs` (same order as `case.udfs`).
pub struct RustBuilder<'a> {
    pub registry: &'a dyn FunctionRegistry,
    pub udfs: &'a [BuiltUdf],
}

impl RustBuilder<'_> {
    pub fn lit(&self, l: &Lit) -> Expr {
        match l {
            Lit::Null(t) => cast(lit(ScalarValue::Null), data_type(*t)),
            Lit::Int(v) => lit(*v),
            Lit::Float(v) => lit(*v),
            Lit::Decimal(u) => cast(lit(decimal_text(*u)), data_type(Ty::Decimal)),
            Lit::Str(s) => lit(s.clone()),
            Lit::Bool(b) => lit(*b),
            Lit::Date(d) => cast(lit(date_text(*d)), data_type(Ty::Date)),
            Lit::Ts(t) => cast(lit(ts_text(*t)), data_type(Ty::Ts)),
        }
    }

    pub fn expr(&self, e: &E) -> DfResult<Expr> {
        let all = |items: &[E]| items.iter().map(|i| self.expr(i)).collect::<DfResult<Vec<_>>>();
        Ok(match e {
            E::Col(name) => col(name.as_str()),
            E::Lit(l) => self.lit(l),
            E::Bin(op, a, b) => {
                let (a, b) = (self.expr(a)?, self.expr(b)?);
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    BinOp::Div => a / b,
                    BinOp::Eq => a.eq(b),
                    BinOp::NotEq => a.not_eq(b),
                    BinOp::Lt => a.lt(b),
                    BinOp::LtEq => a.lt_eq(b),
                    BinOp::Gt => a.gt(b),
                    BinOp::GtEq => a.gt_eq(b),
                    BinOp::And => a.and(b),
                    BinOp::Or => a.or(b),
                }
            }
            E::Not(a) => not(self.expr(a)?),
            E::Neg(a) => -self.expr(a)?,
            E::IsNull(a) => self.expr(a)?.is_null(),
            E::IsNotNull(a) => self.expr(a)?.is_not_null(),
            E::Cast(a, t) => cast(self.expr(a)?, data_type(*t)),
            E::Case(whens, otherwise) => {
                let mut builder = when(self.expr(&whens[0].0)?, self.expr(&whens[0].1)?);
                for (c, v) in &whens[1..] {
                    builder = builder.when(self.expr(c)?, self.expr(v)?);
                }
                match otherwise {
                    Some(o) => builder.otherwise(self.expr(o)?)?,
                    None => builder.end()?,
                }
            }
            E::InList(a, items, negated) => in_list(self.expr(a)?, all(items)?, *negated),
            E::Between(a, lo, hi, negated) => {
                let (a, lo, hi) = (self.expr(a)?, self.expr(lo)?, self.expr(hi)?);
                if *negated { a.not_between(lo, hi) } else { a.between(lo, hi) }
            }
            E::Like { expr, pattern, negated, case_insensitive } => Expr::Like(Like::new(
                *negated,
                Box::new(self.expr(expr)?),
                Box::new(lit(pattern.clone())),
                None,
                *case_insensitive,
            )),
            E::Fun(name, args) => self.registry.udf(name)?.call(all(args)?),
            E::Udf(i, args) => match &self.udfs[*i] {
                BuiltUdf::Scalar(u) => u.call(all(args)?),
                other => {
                    return Err(datafusion::error::DataFusionError::Internal(format!("u{i} is {other:?}")));
                }
            },
        })
    }

    fn aggregate_udf(&self, a: &Agg) -> DfResult<(Arc<AggregateUDF>, Vec<Expr>, bool)> {
        Ok(match a {
            Agg::Builtin(name, e, distinct) => (self.registry.udaf(name)?, vec![self.expr(e)?], *distinct),
            // count(*) is count of a non-null constant.
            Agg::CountStar => (self.registry.udaf("count")?, vec![lit(1_i64)], false),
            Agg::Udf(i, e) => match &self.udfs[*i] {
                BuiltUdf::Aggregate(u) => (Arc::clone(u), vec![self.expr(e)?], false),
                other => {
                    return Err(datafusion::error::DataFusionError::Internal(format!("u{i} is {other:?}")));
                }
            },
        })
    }

    pub fn aggregate(&self, a: &Agg) -> DfResult<Expr> {
        let (udaf, args, distinct) = self.aggregate_udf(a)?;
        let call = udaf.call(args);
        if distinct { call.distinct().build() } else { Ok(call) }
    }

    /// The case's root expression, aliased `out`.
    pub fn root(&self, case: &Case) -> DfResult<Expr> {
        Ok(match &case.root {
            Root::Select(e) => self.expr(e)?,
            Root::Aggregate { agg, .. } => self.aggregate(agg)?,
            Root::Window { win, partition_by, order_by } => {
                let (fun, args) = match win {
                    Win::Rank(name) => {
                        (WindowFunctionDefinition::WindowUDF(self.registry.udwf(name)?), vec![])
                    }
                    Win::Ntile(n) => {
                        (WindowFunctionDefinition::WindowUDF(self.registry.udwf("ntile")?), vec![lit(*n)])
                    }
                    Win::Shift(name, e) => (
                        WindowFunctionDefinition::WindowUDF(self.registry.udwf(name)?),
                        vec![self.expr(e)?, lit(1_i64)],
                    ),
                    Win::Agg(a) => {
                        let (udaf, args, _) = self.aggregate_udf(a)?;
                        (WindowFunctionDefinition::AggregateUDF(udaf), args)
                    }
                    Win::Udf(i, _) | Win::UdfNullary(i) => match &self.udfs[*i] {
                        BuiltUdf::Window(u) => {
                            let args = match win {
                                Win::Udf(_, e) => vec![self.expr(e)?],
                                _ => vec![],
                            };
                            (WindowFunctionDefinition::WindowUDF(Arc::clone(u)), args)
                        }
                        other => {
                            return Err(datafusion::error::DataFusionError::Internal(format!(
                                "u{i} is {other:?}"
                            )));
                        }
                    },
                };
                let mut keys = Vec::new();
                if let Some(o) = order_by {
                    keys.push(SortExpr::new(col(o.as_str()), true, true));
                }
                keys.push(SortExpr::new(col("rid"), true, true));
                let partition = partition_by.iter().map(|p| col(p.as_str())).collect();
                let window = Expr::from(WindowFunction::new(fun, args));
                window.partition_by(partition).order_by(keys).build()?
            }
        })
    }
}
