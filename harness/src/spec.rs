//! The harness's description of a test case: a schema, a batch, the Python
//! UDFs involved and one expression tree, in plain data that prints as a
//! short readable counterexample and renders both to a DataFusion [`Expr`]
//! (for the Rust-level properties) and to Python source using dfship's API
//! (for the driver process).
//!
//! [`Expr`]: datafusion::logical_expr::Expr

use std::fmt;

/// Value categories the generator reasons about. `Decimal` is any decimal
/// (arithmetic widens precision); `List` is a list of `Int64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ty {
    Int,
    Float,
    Decimal,
    Str,
    Bool,
    Date,
    Ts,
    List,
}

impl Ty {
    pub const ALL: [Ty; 8] = [Ty::Int, Ty::Float, Ty::Decimal, Ty::Str, Ty::Bool, Ty::Date, Ty::Ts, Ty::List];

    /// The pyarrow type a column or typed null of this category has.
    pub fn pyarrow(self) -> &'static str {
        match self {
            Ty::Int => "pa.int64()",
            Ty::Float => "pa.float64()",
            Ty::Decimal => "pa.decimal128(10, 2)",
            Ty::Str => "pa.string()",
            Ty::Bool => "pa.bool_()",
            Ty::Date => "pa.date32()",
            Ty::Ts => "pa.timestamp('us')",
            Ty::List => "pa.list_(pa.int64())",
        }
    }

    /// Whether `<`, `min`, `max` and `between` apply.
    pub fn ordered(self) -> bool {
        !matches!(self, Ty::List | Ty::Bool)
    }
}

/// A literal. Decimals, dates and timestamps are written as casts of their
/// text form so both renderings build the same typed literal.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null(Ty),
    Int(i64),
    Float(f64),
    Decimal(i64),
    Str(String),
    Bool(bool),
    Date(i32),
    Ts(i64),
}

impl Lit {
    pub fn ty(&self) -> Ty {
        match self {
            Lit::Null(t) => *t,
            Lit::Int(_) => Ty::Int,
            Lit::Float(_) => Ty::Float,
            Lit::Decimal(_) => Ty::Decimal,
            Lit::Str(_) => Ty::Str,
            Lit::Bool(_) => Ty::Bool,
            Lit::Date(_) => Ty::Date,
            Lit::Ts(_) => Ty::Ts,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    And,
    Or,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Eq => "==",
            BinOp::NotEq => "!=",
            BinOp::Lt => "<",
            BinOp::LtEq => "<=",
            BinOp::Gt => ">",
            BinOp::GtEq => ">=",
            BinOp::And => "&",
            BinOp::Or => "|",
        }
    }
}

/// A scalar expression tree.
#[derive(Debug, Clone, PartialEq)]
pub enum E {
    Col(String),
    Lit(Lit),
    Bin(BinOp, Box<E>, Box<E>),
    Not(Box<E>),
    Neg(Box<E>),
    IsNull(Box<E>),
    IsNotNull(Box<E>),
    Cast(Box<E>, Ty),
    /// `CASE WHEN c THEN v ... [ELSE o] END`.
    Case(Vec<(E, E)>, Option<Box<E>>),
    InList(Box<E>, Vec<E>, bool),
    Between(Box<E>, Box<E>, Box<E>, bool),
    /// `expr [NOT] [I]LIKE pattern`.
    Like {
        expr: Box<E>,
        pattern: String,
        negated: bool,
        case_insensitive: bool,
    },
    /// A built-in scalar function by its DataFusion name.
    Fun(&'static str, Vec<E>),
    /// The case's scalar UDF number `n`.
    Udf(usize, Vec<E>),
}

/// A built-in or Python aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum Agg {
    /// A built-in aggregate by name, with `DISTINCT` or not.
    Builtin(&'static str, E, bool),
    /// `count(*)`.
    CountStar,
    /// The case's aggregate UDF number `n`.
    Udf(usize, E),
}

/// A window function.
#[derive(Debug, Clone, PartialEq)]
pub enum Win {
    /// Ranking functions without arguments (`row_number`, `rank`, ...).
    Rank(&'static str),
    Ntile(i64),
    /// `lag`/`lead` by one.
    Shift(&'static str, E),
    /// An aggregate used as a window function.
    Agg(Agg),
    /// The case's window UDF number `n`.
    Udf(usize, E),
    /// A window UDF without arguments (FFI `row_index`).
    UdfNullary(usize),
}

/// What the expression is evaluated as.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// `SELECT rid, e AS out ... ORDER BY rid`.
    Select(E),
    /// `SELECT [g,] agg AS out ... [GROUP BY g ORDER BY g]`.
    Aggregate { agg: Agg, group_by: Option<String> },
    /// `SELECT rid, win OVER (PARTITION BY p ORDER BY o, rid) AS out ... ORDER BY rid`.
    Window { win: Win, partition_by: Option<String>, order_by: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Scalar,
    Aggregate,
    Window,
}

impl Family {
    /// The family as dfship's errors name it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Scalar => "scalar",
            Family::Aggregate => "aggregate",
            Family::Window => "window",
        }
    }
}

/// How a Python UDF's behaviour is defined, which decides how pickle ships it.
#[derive(Debug, Clone, PartialEq)]
pub enum UdfKind {
    /// A function with no free variables (`k` is a constant in its code).
    SelfContained { k: i64 },
    /// A closure capturing one small integer.
    Closure { k: i64 },
    /// A closure capturing a large table (`n` entries).
    ClosureLarge { n: usize, seed: i64 },
    /// A function of an importable module, pickled by reference.
    Module,
    /// A UDF exported through DataFusion's FFI (examples/ffi-udf): always by name.
    Ffi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Volatility {
    Immutable,
    Stable,
    Volatile,
}

impl Volatility {
    pub fn name(self) -> &'static str {
        match self {
            Volatility::Immutable => "immutable",
            Volatility::Stable => "stable",
            Volatility::Volatile => "volatile",
        }
    }
}

/// One Python UDF of a case. Scalar UDFs map `input` to `input` (or `Int` to
/// `Bool` for FFI); aggregates and window UDFs map `Int` to `Int`.
#[derive(Debug, Clone, PartialEq)]
pub struct UdfSpec {
    pub family: Family,
    pub kind: UdfKind,
    pub input: Ty,
    pub volatility: Volatility,
}

impl UdfSpec {
    pub fn output(&self) -> Ty {
        match (self.family, &self.kind) {
            (Family::Scalar, UdfKind::Ffi) => Ty::Bool,
            (Family::Scalar, _) => self.input,
            _ => Ty::Int,
        }
    }

    pub fn is_ffi(&self) -> bool {
        self.kind == UdfKind::Ffi
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: Ty,
}

/// One value of a column (`None` is null).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Decimal(i64),
    Str(String),
    Bool(bool),
    Date(i32),
    Ts(i64),
    List(Option<Vec<Option<i64>>>),
}

/// A whole case: its data, its UDFs and its expression.
#[derive(Clone, PartialEq)]
pub struct Case {
    pub columns: Vec<Column>,
    /// Row-major values, one `Option` per column; a non-null `rid` column
    /// (the row number) is added in front when the batch is built.
    pub rows: Vec<Vec<Option<Value>>>,
    pub udfs: Vec<UdfSpec>,
    pub root: Root,
}

impl Case {
    /// The name a UDF of this case is registered under: it depends on the
    /// UDF's definition only, so different cases never clash on a receiver.
    pub fn udf_name(&self, index: usize) -> String {
        let u = &self.udfs[index];
        match (&u.kind, u.family) {
            (UdfKind::Ffi, Family::Scalar) => "ffi_is_even".into(),
            (UdfKind::Ffi, Family::Aggregate) => "ffi_count_even".into(),
            (UdfKind::Ffi, Family::Window) => "ffi_row_index".into(),
            (kind, family) => {
                let tag = match kind {
                    UdfKind::SelfContained { k } => format!("self{}", signed(*k)),
                    UdfKind::Closure { k } => format!("clo{}", signed(*k)),
                    UdfKind::ClosureLarge { n, seed } => format!("big{n}s{}", signed(*seed)),
                    UdfKind::Module => "mod".into(),
                    UdfKind::Ffi => unreachable!("handled above"),
                };
                let input = format!("{:?}", u.input).to_lowercase();
                format!("h_{}_{tag}_{input}_{}", family.name(), u.volatility.name())
            }
        }
    }

    pub fn uses_ffi(&self) -> bool {
        self.udfs.iter().any(UdfSpec::is_ffi)
    }
}

fn signed(v: i64) -> String {
    if v < 0 { format!("m{}", -v) } else { v.to_string() }
}

impl fmt::Debug for Case {
    /// Prints the case as Python-ish source: what a reader needs to replay it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Case {{")?;
        let cols: Vec<String> = self.columns.iter().map(|c| format!("{}: {:?}", c.name, c.ty)).collect();
        writeln!(f, "  schema: rid, {}", cols.join(", "))?;
        writeln!(f, "  rows ({}):", self.rows.len())?;
        for (i, row) in self.rows.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .map(|v| match v {
                    None => "null".into(),
                    Some(v) => format!("{v:?}"),
                })
                .collect();
            writeln!(f, "    {i}: [{}]", cells.join(", "))?;
        }
        for (i, u) in self.udfs.iter().enumerate() {
            writeln!(
                f,
                "  u{i} = {} {:?} {:?} -> {:?}, {}",
                u.family.name(),
                u.kind,
                u.input,
                u.output(),
                u.volatility.name()
            )?;
        }
        writeln!(f, "  expr: {}", crate::render::python_root(self))?;
        write!(f, "}}")
    }
}
