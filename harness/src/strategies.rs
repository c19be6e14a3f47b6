//! proptest strategies for whole [`Case`]s: a random schema and batch, the
//! Python UDFs involved, and a typed expression tree evaluated as a
//! projection, an aggregate or a window.
//!
//! Trees are typed: each category ([`Ty`]) has its own strategy, built
//! bottom-up level by level so that every node's children have the types
//! its operator needs, which keeps almost every generated expression valid
//! (and the invalid rest fails the same way on both sides of a crossing).
//! Leaves come first in every choice, so shrinking walks towards columns and
//! literals and a failure prints as a small tree.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;

use crate::spec::{
    Agg, BinOp, Case, Column, E, Family, Lit, Root, Ty, UdfKind, UdfSpec, Value, Volatility, Win,
};

/// What a generated case may contain.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Deepest scalar expression (levels below the root).
    pub max_depth: u32,
    /// Python UDFs (their pool) may appear.
    pub python_udfs: bool,
    /// FFI UDFs (examples/ffi-udf) may appear: only where the receiver can load them.
    pub ffi: bool,
    /// Most rows in the batch.
    pub max_rows: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { max_depth: 3, python_udfs: true, ffi: true, max_rows: 8 }
    }
}

// Positions in the UDF pool a tree refers to before unused UDFs are pruned.
const POOL_SCALAR_INT: usize = 0;
const POOL_SCALAR_FLOAT: usize = 1;
const POOL_AGGREGATE: usize = 2;
const POOL_WINDOW: usize = 3;
const POOL_FFI_SCALAR: usize = 4;
const POOL_FFI_AGGREGATE: usize = 5;
const POOL_FFI_WINDOW: usize = 6;

const STRINGS: [&str; 10] = ["", "a", "ab", "Abc", "a_b", "xyz", "A%b", "héllo", "b a", "ABBA"];
const LIKE_PATTERNS: [&str; 8] = ["a%", "%b", "_b%", "%", "A%", "a_c", "", "%a%"];
const REGEXES: [&str; 4] = ["a", "^[ab]", "b+$", "[[:upper:]]"];

/// A random schema: 1 to 6 columns of random categories.
pub fn schema() -> impl Strategy<Value = Vec<Column>> {
    prop::collection::vec(select(Ty::ALL.to_vec()), 1..=6).prop_map(|tys| {
        tys.into_iter().enumerate().map(|(i, ty)| Column { name: format!("c{i}"), ty }).collect()
    })
}

/// A non-null literal value of `ty`.
pub fn value(ty: Ty) -> BoxedStrategy<Value> {
    match ty {
        Ty::Int => prop_oneof![4 => -20_i64..20, 1 => select(vec![0_i64, 1, -1, 1000, i64::MAX, i64::MIN])]
            .prop_map(Value::Int)
            .boxed(),
        Ty::Float => prop_oneof![
            4 => (-2000_i32..2000).prop_map(|v| f64::from(v) / 8.0),
            1 => select(vec![0.0, -0.0, f64::NAN, f64::INFINITY, 0.1, 1e300]),
        ]
        .prop_map(Value::Float)
        .boxed(),
        Ty::Decimal => (-99_999_i64..99_999).prop_map(Value::Decimal).boxed(),
        Ty::Str => prop_oneof![
            3 => select(STRINGS.to_vec()).prop_map(str::to_owned),
            1 => prop::collection::vec(select(vec!['a', 'b', 'B', '_', '%', ' ', 'é']), 0..5)
                .prop_map(String::from_iter),
        ]
        .prop_map(Value::Str)
        .boxed(),
        Ty::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Ty::Date => (18_000_i32..20_500).prop_map(Value::Date).boxed(),
        Ty::Ts => (1_550_000_000_000_000_i64..1_750_000_000_000_000).prop_map(Value::Ts).boxed(),
        Ty::List => {
            prop::option::weighted(0.85, prop::collection::vec(prop::option::weighted(0.8, -9_i64..9), 0..4))
                .prop_map(Value::List)
                .boxed()
        }
    }
}

/// One cell: null about one time in six.
fn cell(ty: Ty) -> BoxedStrategy<Option<Value>> {
    prop::option::weighted(0.83, value(ty)).boxed()
}

/// `0..=max_rows` rows of the columns.
pub fn rows(columns: &[Column], max_rows: usize) -> BoxedStrategy<Vec<Vec<Option<Value>>>> {
    let row: Vec<BoxedStrategy<Option<Value>>> = columns.iter().map(|c| cell(c.ty)).collect();
    prop::collection::vec(row, 0..=max_rows).boxed()
}

fn literal(ty: Ty) -> BoxedStrategy<Lit> {
    let value = value(ty).prop_map(|v| match v {
        Value::Int(v) => Lit::Int(v),
        Value::Float(v) => Lit::Float(v),
        Value::Decimal(v) => Lit::Decimal(v),
        Value::Str(v) => Lit::Str(v),
        Value::Bool(v) => Lit::Bool(v),
        Value::Date(v) => Lit::Date(v),
        Value::Ts(v) => Lit::Ts(v),
        // List literals are built with make_array instead.
        Value::List(_) => Lit::Null(Ty::List),
    });
    prop_oneof![6 => value, 1 => Just(Lit::Null(ty))].boxed()
}

fn columns_of(columns: &[Column], ty: Ty) -> Vec<String> {
    columns.iter().filter(|c| c.ty == ty).map(|c| c.name.clone()).collect()
}

/// A leaf of `ty`: one of its columns, or a literal.
fn leaf(columns: &[Column], ty: Ty) -> BoxedStrategy<E> {
    let lit = literal(ty).prop_map(E::Lit);
    let cols = columns_of(columns, ty);
    if cols.is_empty() {
        lit.boxed()
    } else {
        prop_oneof![2 => select(cols).prop_map(E::Col), 1 => lit].boxed()
    }
}

#[allow(clippy::unnecessary_box_returns)] // the tree's children are boxed
fn b(e: E) -> Box<E> {
    Box::new(e)
}

fn fun1(name: &'static str, s: &BoxedStrategy<E>) -> BoxedStrategy<E> {
    s.clone().prop_map(move |a| E::Fun(name, vec![a])).boxed()
}

fn fun2(name: &'static str, x: &BoxedStrategy<E>, y: &BoxedStrategy<E>) -> BoxedStrategy<E> {
    (x.clone(), y.clone()).prop_map(move |(a, c)| E::Fun(name, vec![a, c])).boxed()
}

fn binop(ops: Vec<BinOp>, x: &BoxedStrategy<E>, y: &BoxedStrategy<E>) -> BoxedStrategy<E> {
    (select(ops), x.clone(), y.clone()).prop_map(|(op, a, c)| E::Bin(op, b(a), b(c))).boxed()
}

fn cast_of(s: &BoxedStrategy<E>, to: Ty) -> BoxedStrategy<E> {
    s.clone().prop_map(move |a| E::Cast(b(a), to)).boxed()
}

fn lit_e(l: Lit) -> E {
    E::Lit(l)
}

/// The strategies of one level, by type.
type Level = BTreeMap<Ty, BoxedStrategy<E>>;

/// Compound expressions of `ty` whose children come from `below`.
#[allow(clippy::too_many_lines)] // one table of every operator, by type
fn compounds(ty: Ty, below: &Level, config: &Config) -> Vec<(u32, BoxedStrategy<E>)> {
    let s = |t: Ty| below[&t].clone();
    let (int, float, dec, st, boolean, date, ts, list) = (
        s(Ty::Int),
        s(Ty::Float),
        s(Ty::Decimal),
        s(Ty::Str),
        s(Ty::Bool),
        s(Ty::Date),
        s(Ty::Ts),
        s(Ty::List),
    );
    let case = {
        let value = s(ty);
        (prop::collection::vec((boolean.clone(), value.clone()), 1..=2), prop::option::of(value))
            .prop_map(|(whens, otherwise)| E::Case(whens, otherwise.map(b)))
            .boxed()
    };
    let coalesce = fun2("coalesce", &s(ty), &s(ty));
    let mut out: Vec<(u32, BoxedStrategy<E>)> = match ty {
        Ty::Int => vec![
            (4, binop(vec![BinOp::Add, BinOp::Sub, BinOp::Mul], &int, &int)),
            (
                1,
                (int.clone(), int.clone())
                    .prop_map(|(a, d)| {
                        E::Bin(BinOp::Div, b(a), b(E::Fun("nullif", vec![d, lit_e(Lit::Int(0))])))
                    })
                    .boxed(),
            ),
            (1, int.clone().prop_map(|a| E::Neg(b(a))).boxed()),
            (1, fun1("abs", &int)),
            (1, cast_of(&dec, Ty::Int)),
            (1, cast_of(&boolean, Ty::Int)),
            (1, cast_of(&fun1("character_length", &st), Ty::Int)),
            (1, cast_of(&fun1("array_length", &list), Ty::Int)),
            (1, list.clone().prop_map(|l| E::Fun("array_element", vec![l, lit_e(Lit::Int(1))])).boxed()),
            (
                1,
                cast_of(
                    &date
                        .clone()
                        .prop_map(|d| E::Fun("date_part", vec![lit_e(Lit::Str("year".into())), d]))
                        .boxed(),
                    Ty::Int,
                ),
            ),
            (1, fun2("greatest", &int, &int)),
            (
                1,
                st.clone().prop_map(|a| E::Fun("regexp_count", vec![a, lit_e(Lit::Str("a".into()))])).boxed(),
            ),
            (1, case),
            (1, coalesce),
        ],
        Ty::Float => vec![
            (4, binop(vec![BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div], &float, &float)),
            (2, cast_of(&int, Ty::Float)),
            (1, float.clone().prop_map(|a| E::Fun("sqrt", vec![E::Fun("abs", vec![a])])).boxed()),
            (1, fun1("round", &float)),
            (1, fun1("floor", &float)),
            (1, fun1("ceil", &float)),
            (1, case),
            (1, coalesce),
        ],
        Ty::Decimal => vec![
            (2, binop(vec![BinOp::Add, BinOp::Sub], &dec, &dec)),
            (2, cast_of(&int, Ty::Decimal)),
            (1, fun1("abs", &dec)),
            (1, case),
            (1, coalesce),
        ],
        Ty::Str => vec![
            (1, fun1("upper", &st)),
            (1, fun1("lower", &st)),
            (1, fun1("btrim", &st)),
            (1, fun1("reverse", &st)),
            (1, fun1("initcap", &st)),
            (1, fun1("md5", &st)),
            (1, fun1("to_hex", &int)),
            (2, fun2("concat", &st, &st)),
            (
                1,
                (st.clone(), 1_i64..4)
                    .prop_map(|(a, p)| E::Fun("substr", vec![a, lit_e(Lit::Int(p))]))
                    .boxed(),
            ),
            (
                1,
                st.clone()
                    .prop_map(|a| {
                        E::Fun("replace", vec![a, lit_e(Lit::Str("a".into())), lit_e(Lit::Str("Z".into()))])
                    })
                    .boxed(),
            ),
            (
                1,
                st.clone()
                    .prop_map(|a| {
                        E::Fun(
                            "regexp_replace",
                            vec![a, lit_e(Lit::Str("[ab]".into())), lit_e(Lit::Str("X".into()))],
                        )
                    })
                    .boxed(),
            ),
            (
                1,
                st.clone()
                    .prop_map(|a| {
                        E::Fun("split_part", vec![a, lit_e(Lit::Str("_".into())), lit_e(Lit::Int(1))])
                    })
                    .boxed(),
            ),
            (
                1,
                (st.clone(), 0_i64..3).prop_map(|(a, n)| E::Fun("left", vec![a, lit_e(Lit::Int(n))])).boxed(),
            ),
            (
                1,
                (st.clone(), 0_i64..3)
                    .prop_map(|(a, n)| E::Fun("repeat", vec![a, lit_e(Lit::Int(n))]))
                    .boxed(),
            ),
            (1, cast_of(&int, Ty::Str)),
            (1, cast_of(&date, Ty::Str)),
            (1, case),
            (1, coalesce),
        ],
        Ty::Bool => {
            let mut v = vec![
                (2, binop(vec![BinOp::And, BinOp::Or], &boolean, &boolean)),
                (1, boolean.clone().prop_map(|a| E::Not(b(a))).boxed()),
            ];
            let comparisons = vec![BinOp::Eq, BinOp::NotEq, BinOp::Lt, BinOp::LtEq, BinOp::Gt, BinOp::GtEq];
            for t in [Ty::Int, Ty::Float, Ty::Decimal, Ty::Str, Ty::Date, Ty::Ts] {
                v.push((1, binop(comparisons.clone(), &s(t), &s(t))));
            }
            v.push((1, binop(comparisons, &int, &float)));
            let any_ty = Union::new(Ty::ALL.iter().map(|t| s(*t))).boxed();
            v.push((1, any_ty.clone().prop_map(|a| E::IsNull(b(a))).boxed()));
            v.push((1, any_ty.prop_map(|a| E::IsNotNull(b(a))).boxed()));
            for t in [Ty::Int, Ty::Float, Ty::Date] {
                v.push((
                    1,
                    (s(t), s(t), s(t), any::<bool>())
                        .prop_map(|(a, lo, hi, n)| E::Between(b(a), b(lo), b(hi), n))
                        .boxed(),
                ));
            }
            for t in [Ty::Int, Ty::Str] {
                v.push((
                    1,
                    (s(t), prop::collection::vec(s(t), 1..=3), any::<bool>())
                        .prop_map(|(a, items, n)| E::InList(b(a), items, n))
                        .boxed(),
                ));
            }
            v.push((
                2,
                (st.clone(), select(LIKE_PATTERNS.to_vec()), any::<bool>(), any::<bool>())
                    .prop_map(|(a, p, negated, ci)| E::Like {
                        expr: b(a),
                        pattern: p.to_owned(),
                        negated,
                        case_insensitive: ci,
                    })
                    .boxed(),
            ));
            v.push((
                1,
                (st.clone(), select(vec!["a", "A", "x"]))
                    .prop_map(|(a, p)| E::Fun("starts_with", vec![a, lit_e(Lit::Str(p.into()))]))
                    .boxed(),
            ));
            v.push((
                1,
                (st.clone(), select(REGEXES.to_vec()))
                    .prop_map(|(a, p)| E::Fun("regexp_like", vec![a, lit_e(Lit::Str(p.into()))]))
                    .boxed(),
            ));
            v.push((1, fun1("isnan", &float)));
            if config.ffi {
                v.push((4, int.clone().prop_map(|a| E::Udf(POOL_FFI_SCALAR, vec![a])).boxed()));
            }
            v
        }
        Ty::Date => vec![(2, cast_of(&ts, Ty::Date)), (1, case), (1, coalesce)],
        Ty::Ts => vec![
            (
                2,
                (select(vec!["day", "hour", "month", "year"]), ts.clone())
                    .prop_map(|(p, t)| E::Fun("date_trunc", vec![lit_e(Lit::Str(p.into())), t]))
                    .boxed(),
            ),
            (1, cast_of(&date, Ty::Ts)),
            (1, case),
        ],
        Ty::List => vec![
            (2, fun2("make_array", &int, &int)),
            (1, fun2("array_append", &list, &int)),
            (1, fun1("array_sort", &list)),
            (1, fun1("array_distinct", &list)),
        ],
    };
    if config.python_udfs {
        match ty {
            Ty::Int => out.push((10, int.prop_map(|a| E::Udf(POOL_SCALAR_INT, vec![a])).boxed())),
            Ty::Float => out.push((6, float.prop_map(|a| E::Udf(POOL_SCALAR_FLOAT, vec![a])).boxed())),
            _ => {}
        }
    }
    out
}

/// Typed strategies for trees of at most `depth` levels, by type.
fn levels(columns: &[Column], depth: u32, config: &Config) -> Level {
    let mut level: Level = Ty::ALL.iter().map(|t| (*t, leaf(columns, *t))).collect();
    for _ in 0..depth {
        let mut next = Level::new();
        for t in Ty::ALL {
            let mut options = vec![(3, leaf(columns, t))];
            options.push((4, Union::new_weighted(compounds(t, &level, config)).boxed()));
            next.insert(t, Union::new_weighted(options).boxed());
        }
        level = next;
    }
    level
}

/// A Python UDF of `family` and `input`, of any generated kind.
pub fn python_udf(family: Family, input: Ty) -> BoxedStrategy<UdfSpec> {
    let kind = prop_oneof![
        (-5_i64..5).prop_map(|k| UdfKind::SelfContained { k }),
        (-5_i64..5).prop_map(|k| UdfKind::Closure { k }),
        (select(vec![20_000_usize, 60_000]), 0_i64..100)
            .prop_map(|(n, seed)| UdfKind::ClosureLarge { n, seed }),
        Just(UdfKind::Module),
    ];
    let volatility = select(vec![Volatility::Immutable, Volatility::Stable, Volatility::Volatile]);
    (kind, volatility).prop_map(move |(kind, volatility)| UdfSpec { family, kind, input, volatility }).boxed()
}

fn ffi_udf(family: Family) -> UdfSpec {
    UdfSpec { family, kind: UdfKind::Ffi, input: Ty::Int, volatility: Volatility::Immutable }
}

/// The pool of UDFs a tree may call, at the `POOL_*` positions.
fn pool() -> impl Strategy<Value = Vec<UdfSpec>> {
    (
        python_udf(Family::Scalar, Ty::Int),
        python_udf(Family::Scalar, Ty::Float),
        python_udf(Family::Aggregate, Ty::Int),
        python_udf(Family::Window, Ty::Int),
    )
        .prop_map(|(si, sf, a, w)| {
            vec![si, sf, a, w, ffi_udf(Family::Scalar), ffi_udf(Family::Aggregate), ffi_udf(Family::Window)]
        })
}

fn hashable(columns: &[Column]) -> Vec<String> {
    columns
        .iter()
        .filter(|c| matches!(c.ty, Ty::Int | Ty::Str | Ty::Bool | Ty::Date))
        .map(|c| c.name.clone())
        .collect()
}

fn orderable(columns: &[Column]) -> Vec<String> {
    columns.iter().filter(|c| c.ty.ordered()).map(|c| c.name.clone()).collect()
}

fn optional_column(names: Vec<String>) -> BoxedStrategy<Option<String>> {
    if names.is_empty() { Just(None).boxed() } else { prop::option::of(select(names)).boxed() }
}

/// A built-in or Python aggregate over trees from `level`.
fn aggregate(level: &Level, config: &Config) -> BoxedStrategy<Agg> {
    let s = |t: Ty| level[&t].clone();
    let builtin = |name: &'static str, t: Ty, distinct: bool| {
        (s(t), if distinct { any::<bool>().boxed() } else { Just(false).boxed() })
            .prop_map(move |(e, d)| Agg::Builtin(name, e, d))
            .boxed()
    };
    let mut options: Vec<(u32, BoxedStrategy<Agg>)> = vec![
        (2, builtin("sum", Ty::Int, true)),
        (1, builtin("sum", Ty::Float, false)),
        (1, builtin("sum", Ty::Decimal, false)),
        (1, builtin("avg", Ty::Int, false)),
        (1, builtin("avg", Ty::Decimal, false)),
        (1, builtin("min", Ty::Str, false)),
        (1, builtin("max", Ty::Date, false)),
        (1, builtin("max", Ty::Ts, false)),
        (1, builtin("min", Ty::Float, false)),
        (2, builtin("count", Ty::Str, true)),
        (1, builtin("count", Ty::List, false)),
        (1, builtin("array_agg", Ty::Int, false)),
        (1, builtin("bool_and", Ty::Bool, false)),
        (1, builtin("bool_or", Ty::Bool, false)),
        (1, builtin("median", Ty::Int, false)),
        (1, builtin("approx_distinct", Ty::Str, false)),
        (1, builtin("stddev", Ty::Float, false)),
        (1, Just(Agg::CountStar).boxed()),
    ];
    if config.python_udfs {
        options.push((12, s(Ty::Int).prop_map(|e| Agg::Udf(POOL_AGGREGATE, e)).boxed()));
    }
    if config.ffi {
        options.push((4, s(Ty::Int).prop_map(|e| Agg::Udf(POOL_FFI_AGGREGATE, e)).boxed()));
    }
    Union::new_weighted(options).boxed()
}

fn window(level: &Level, config: &Config) -> BoxedStrategy<Win> {
    let s = |t: Ty| level[&t].clone();
    let any_ty = Union::new(Ty::ALL.iter().map(|t| s(*t))).boxed();
    let mut options: Vec<(u32, BoxedStrategy<Win>)> = vec![
        (
            2,
            select(vec!["row_number", "rank", "dense_rank", "percent_rank", "cume_dist"])
                .prop_map(Win::Rank)
                .boxed(),
        ),
        (1, (1_i64..4).prop_map(Win::Ntile).boxed()),
        (2, (select(vec!["lag", "lead"]), any_ty).prop_map(|(n, e)| Win::Shift(n, e)).boxed()),
        (
            2,
            prop_oneof![
                s(Ty::Int).prop_map(|e| Agg::Builtin("sum", e, false)),
                s(Ty::Str).prop_map(|e| Agg::Builtin("max", e, false)),
                s(Ty::Float).prop_map(|e| Agg::Builtin("min", e, false)),
                s(Ty::Date).prop_map(|e| Agg::Builtin("count", e, false)),
            ]
            .prop_map(Win::Agg)
            .boxed(),
        ),
    ];
    if config.python_udfs {
        options.push((8, s(Ty::Int).prop_map(|e| Win::Udf(POOL_WINDOW, e)).boxed()));
        options.push((1, s(Ty::Int).prop_map(|e| Win::Agg(Agg::Udf(POOL_AGGREGATE, e))).boxed()));
    }
    if config.ffi {
        options.push((3, Just(Win::UdfNullary(POOL_FFI_WINDOW)).boxed()));
    }
    Union::new_weighted(options).boxed()
}

fn root(columns: &[Column], config: &Config) -> BoxedStrategy<Root> {
    let below = levels(columns, config.max_depth.saturating_sub(1), config);
    let shallow = levels(columns, config.max_depth.saturating_sub(2), config);
    // The root of a projection is always a compound (a bare column proves
    // little); integers, floats and booleans are where the UDFs are.
    let weight = |t: Ty| match t {
        Ty::Int => 4,
        Ty::Float | Ty::Bool => 2,
        _ => 1,
    };
    let mut roots: Vec<(u32, BoxedStrategy<E>)> = Ty::ALL
        .iter()
        .map(|t| (weight(*t), Union::new_weighted(compounds(*t, &below, config)).boxed()))
        .collect();
    if config.python_udfs {
        roots.push((4, below[&Ty::Int].clone().prop_map(|a| E::Udf(POOL_SCALAR_INT, vec![a])).boxed()));
        roots.push((2, below[&Ty::Float].clone().prop_map(|a| E::Udf(POOL_SCALAR_FLOAT, vec![a])).boxed()));
    }
    let select_root = Union::new_weighted(roots).prop_map(Root::Select);
    let aggregate_root = (aggregate(&shallow, config), optional_column(hashable(columns)))
        .prop_map(|(agg, group_by)| Root::Aggregate { agg, group_by });
    let window_root =
        (window(&shallow, config), optional_column(hashable(columns)), optional_column(orderable(columns)))
            .prop_map(|(win, partition_by, order_by)| Root::Window { win, partition_by, order_by });
    prop_oneof![3 => select_root, 1 => aggregate_root, 1 => window_root].boxed()
}

/// Whole cases under `config`.
pub fn case(config: Config) -> impl Strategy<Value = Case> {
    schema()
        .prop_flat_map(move |columns| {
            let columns = Arc::new(columns);
            (Just(Arc::clone(&columns)), rows(&columns, config.max_rows), pool(), root(&columns, &config))
        })
        .prop_map(|(columns, rows, pool, root)| {
            prune(Case { columns: (*columns).clone(), rows, udfs: pool, root })
        })
}

/// Drops the pool's unused UDFs and renumbers the references.
fn prune(mut case: Case) -> Case {
    let mut used = Vec::new();
    visit_udfs(&mut case.root, &mut |i| {
        if !used.contains(i) {
            used.push(*i);
        }
    });
    used.sort_unstable();
    visit_udfs(&mut case.root, &mut |i| *i = used.iter().position(|u| u == i).unwrap_or(0));
    case.udfs = used.iter().map(|i| case.udfs[*i].clone()).collect();
    case
}

/// Calls `f` on every UDF reference of the root.
pub fn visit_udfs(root: &mut Root, f: &mut impl FnMut(&mut usize)) {
    fn agg(a: &mut Agg, f: &mut impl FnMut(&mut usize)) {
        match a {
            Agg::Builtin(_, e, _) => expr(e, f),
            Agg::CountStar => {}
            Agg::Udf(i, e) => {
                f(i);
                expr(e, f);
            }
        }
    }
    fn expr(e: &mut E, f: &mut impl FnMut(&mut usize)) {
        match e {
            E::Col(_) | E::Lit(_) => {}
            E::Bin(_, a, c) => {
                expr(a, f);
                expr(c, f);
            }
            E::Not(a)
            | E::Neg(a)
            | E::IsNull(a)
            | E::IsNotNull(a)
            | E::Cast(a, _)
            | E::Like { expr: a, .. } => {
                expr(a, f);
            }
            E::Case(whens, otherwise) => {
                for (c, v) in whens {
                    expr(c, f);
                    expr(v, f);
                }
                if let Some(o) = otherwise {
                    expr(o, f);
                }
            }
            E::InList(a, items, _) => {
                expr(a, f);
                for i in items.iter_mut() {
                    expr(i, f);
                }
            }
            E::Between(a, lo, hi, _) => {
                expr(a, f);
                expr(lo, f);
                expr(hi, f);
            }
            E::Fun(_, args) => args.iter_mut().for_each(|a| expr(a, f)),
            E::Udf(i, args) => {
                f(i);
                for a in args.iter_mut() {
                    expr(a, f);
                }
            }
        }
    }
    match root {
        Root::Select(e) => expr(e, f),
        Root::Aggregate { agg: a, .. } => agg(a, f),
        Root::Window { win, .. } => match win {
            Win::Rank(_) | Win::Ntile(_) => {}
            Win::Shift(_, e) => expr(e, f),
            Win::Agg(a) => agg(a, f),
            Win::Udf(i, e) => {
                f(i);
                expr(e, f);
            }
            Win::UdfNullary(i) => f(i),
        },
    }
}
