"""Every wrapper in ``dfship.functions``, called on data and compared with
DataFusion SQL of the same function on the same table.

Each entry names the SQL call and the wrapper call built from the same
arguments, so a wrapper that forwards to the wrong function, drops or
reorders an argument, or mistypes a literal gives another result than SQL.
A final check makes sure no name in ``functions.__all__`` goes untested.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

from dfship import Expr, SessionConfig, SessionContext, col, lit
from dfship import functions as f

TABLE = pa.table(
    {
        "i": pa.array([1, 2, 3, 4], pa.int64()),
        "n": pa.array([-3, 0, 7, 12], pa.int64()),
        "m": pa.array([4, 6, 2, 5], pa.int64()),
        "z": pa.array([None, 1, None, 2], pa.int64()),
        "x": pa.array([0.5, 0.25, 0.75, 0.125]),
        "y": pa.array([1.5, 2.0, 3.0, 4.5]),
        "b": pa.array([True, False, True, True]),
        "s": pa.array(["Hello", "wOrld", " pad ", "a,b"]),
        "t": pa.array(["lo", "O", "pad", "b"]),
        "ds": pa.array(["2024-01-02", "2023-12-31", "2020-02-29", "1999-07-04"]),
        "d": pa.array(
            [dt.date(2024, 1, 2), dt.date(2023, 12, 31), dt.date(2020, 2, 29), dt.date(1999, 7, 4)]
        ),
        "ts": pa.array(
            [
                dt.datetime(2024, 1, 2, 3, 4, 5),
                dt.datetime(2023, 12, 31, 23, 59, 59),
                dt.datetime(2020, 2, 29, 12, 0, 0),
                dt.datetime(1999, 7, 4, 0, 0, 1),
            ],
            pa.timestamp("ns"),
        ),
        "arr": pa.array([[1, 2, 2], [3], [], [4, 1]], pa.list_(pa.int64())),
    }
)


@dataclass(frozen=True)
class C:
    """A column argument."""

    name: str


@dataclass(frozen=True)
class Raw:
    """An argument spelled differently in SQL and in Python."""

    sql: str
    py: Expr


def sql_of(arg: Any) -> str:
    if isinstance(arg, C):
        return arg.name
    if isinstance(arg, Raw):
        return arg.sql
    if isinstance(arg, bool):
        return "TRUE" if arg else "FALSE"
    if isinstance(arg, str):
        return "'" + arg.replace("'", "''") + "'"
    if arg is None:
        return "NULL"
    return repr(arg)


def py_of(arg: Any) -> Any:
    if isinstance(arg, C):
        return col(arg.name)
    if isinstance(arg, Raw):
        return arg.py
    return arg


HOUR = Raw("INTERVAL '1 hour'", f.arrow_cast(lit("1 hour"), "Interval(MonthDayNano)"))
ORIGIN = Raw("TIMESTAMP '2024-01-01'", f.to_timestamp(lit("2024-01-01")))

# Scalar functions: SQL name -> arguments (the wrapper of the same name takes
# the same arguments in the same order).
SCALAR: dict[str, tuple[Any, ...]] = {
    "abs": (C("n"),),
    "acos": (C("x"),),
    "acosh": (C("y"),),
    "ascii": (C("s"),),
    "asin": (C("x"),),
    "asinh": (C("x"),),
    "atan": (C("x"),),
    "atanh": (C("x"),),
    "atan2": (C("x"), C("y")),
    "bit_length": (C("s"),),
    "btrim": (C("s"),),
    "cardinality": (C("arr"),),
    "cbrt": (C("n"),),
    "ceil": (C("x"),),
    "char_length": (C("s"),),
    "character_length": (C("s"),),
    "chr": (C("m"),),
    "cos": (C("x"),),
    "cosh": (C("x"),),
    "cot": (C("x"),),
    "degrees": (C("x"),),
    "exp": (C("x"),),
    "factorial": (C("m"),),
    "floor": (C("y"),),
    "initcap": (C("s"),),
    "isnan": (C("x"),),
    "iszero": (C("n"),),
    "length": (C("s"),),
    "ln": (C("y"),),
    "log10": (C("y"),),
    "log2": (C("y"),),
    "lower": (C("s"),),
    "ltrim": (C("s"),),
    "md5": (C("s"),),
    "octet_length": (C("s"),),
    "radians": (C("x"),),
    "reverse": (C("s"),),
    "rtrim": (C("s"),),
    "sha224": (C("s"),),
    "sha256": (C("s"),),
    "sha384": (C("s"),),
    "sha512": (C("s"),),
    "signum": (C("n"),),
    "sin": (C("x"),),
    "sinh": (C("x"),),
    "sqrt": (C("y"),),
    "tan": (C("x"),),
    "tanh": (C("x"),),
    "to_hex": (C("n"),),
    "upper": (C("s"),),
    "arrow_typeof": (C("n"),),
    "flatten": (Raw("make_array(arr, arr)", f.make_array(col("arr"), col("arr"))),),
    "array_length": (C("arr"),),
    "array_dims": (C("arr"),),
    "array_ndims": (C("arr"),),
    "array_distinct": (C("arr"),),
    "array_sort": (C("arr"),),
    "array_reverse": (C("arr"),),
    "to_unixtime": (C("ts"),),
    "from_unixtime": (C("n"),),
    "to_date": (C("ds"),),
    "trim": (C("s"),),
    "power": (C("y"), C("m")),
    "pow": (C("y"), 2),
    "gcd": (C("n"), C("m")),
    "lcm": (C("n"), C("m")),
    "nanvl": (C("x"), C("y")),
    "left": (C("s"), 2),
    "right": (C("s"), 2),
    "repeat": (C("s"), 2),
    "starts_with": (C("s"), C("t")),
    "ends_with": (C("s"), C("t")),
    "strpos": (C("s"), C("t")),
    "instr": (C("s"), C("t")),
    "contains": (C("s"), C("t")),
    "levenshtein": (C("s"), C("t")),
    "nullif": (C("n"), 0),
    "ifnull": (C("z"), C("n")),
    "nvl": (C("z"), C("n")),
    "date_trunc": ("month", C("ts")),
    "datetrunc": ("year", C("ts")),
    "date_part": ("year", C("d")),
    "datepart": ("day", C("d")),
    "array_element": (C("arr"), 1),
    "array_has": (C("arr"), 2),
    "array_append": (C("arr"), 9),
    "array_prepend": (9, C("arr")),
    "array_position": (C("arr"), 2),
    "array_remove": (C("arr"), 2),
    "arrow_cast": (C("n"), "Int8"),
    "regexp_like": (C("s"), "l+"),
    "regexp_match": (C("s"), "(l+)"),
    "regexp_count": (C("s"), "l"),
    "find_in_set": (C("t"), "a,b,lo"),
    "replace": (C("s"), "l", "L"),
    "translate": (C("s"), "lo", "01"),
    "split_part": (C("s"), ",", 1),
    "nvl2": (C("z"), C("n"), C("m")),
    "make_date": (2024, C("m"), C("m")),
    "date_bin": (HOUR, C("ts"), ORIGIN),
    "array_slice": (C("arr"), 1, 2),
    "array_replace": (C("arr"), 2, 7),
    "concat": (C("s"), C("t"), C("n")),
    "coalesce": (C("z"), C("n")),
    "greatest": (C("n"), C("m")),
    "least": (C("n"), C("m")),
    "make_array": (C("n"), C("m")),
    "array_concat": (C("arr"), C("arr")),
    "log": (2, C("y")),
    "round": (C("x"), 1),
    "trunc": (C("y"), 0),
    "substr": (C("s"), 2, 3),
    "substring": (C("s"), 2, 3),
    "lpad": (C("s"), 7, "*"),
    "rpad": (C("s"), 7, "*"),
    "concat_ws": (",", C("s"), C("t")),
    "regexp_replace": (C("s"), "l", "L", "g"),
    "to_timestamp": (C("ds"),),
    "to_timestamp_seconds": (C("ds"),),
    "to_timestamp_millis": (C("ds"),),
    "to_timestamp_micros": (C("ds"),),
    "to_char": (C("d"), "%Y/%m"),
    "pi": (),
    "array_indexof": (C("arr"), 1, 1),
    "list_indexof": (C("arr"), 2),
    "list_position": (C("arr"), 4, 1),
    "list_slice": (C("arr"), 1, 3, 2),
    "overlay": (C("s"), "XY", 2, 1),
    "string_to_array": (C("s"), ",", "b"),
    "string_to_list": (C("s"), "l"),
    "generate_series": (1, C("m"), 2),
    "regexp_instr": (C("s"), "l", 1, 2),
    "encode": (C("s"), "hex"),
    "decode": (Raw("encode(s, 'base64')", f.encode(col("s"), "base64")), "base64"),
    "digest": (C("s"), "sha256"),
    "arrow_try_cast": (C("s"), "Int64"),
    "arrow_metadata": (C("n"),),
}

# Wrappers whose SQL spelling is another function or a construct.
SPECIAL: dict[str, tuple[str, Callable[[], Expr]]] = {
    "extract": ("date_part('month', d)", lambda: f.extract("month", col("d"))),
    "named_struct": (
        "named_struct('a', n, 'b', s)",
        lambda: f.named_struct(("a", col("n")), ("b", col("s"))),
    ),
    "get_field": (
        "get_field(named_struct('a', n, 'b', s), 'b')",
        lambda: f.get_field(f.named_struct(("a", col("n")), ("b", col("s"))), "b"),
    ),
    "alias": ("n + 1", lambda: f.alias(col("n") + 1, "renamed")),
    "column": ("s", lambda: f.column("s")),
    "literal": ("'lit'", lambda: f.literal("lit")),
    "with_metadata": (
        "arrow_metadata(with_metadata(n, 'unit', 'm'), 'unit')",
        lambda: f.arrow_metadata(f.with_metadata(col("n"), {"unit": "m"}), "unit"),
    ),
    "make_map": (
        "map(make_array(arrow_cast('a', 'Utf8View'), arrow_cast('b', 'Utf8View')),"
        " make_array(n, m))",
        lambda: f.make_map(["a", "b"], [col("n"), col("m")]),
    ),
    "array": ("make_array(n, m)", lambda: f.array(col("n"), col("m"))),
    "list_sort": (
        "array_sort(arr, 'DESC', 'NULLS FIRST')",
        lambda: f.list_sort(col("arr"), descending=True, null_first=True),
    ),
    "gen_series": ("generate_series(i, m)", lambda: f.gen_series(col("i"), col("m"))),
    "is_nan": ("isnan(x)", lambda: f.is_nan(col("x"))),
    "list_min": ("array_min(arr)", lambda: f.list_min(col("arr"))),
    "list_overlap": (
        "array_has_any(arr, make_array(1, 4))",
        lambda: f.list_overlap(col("arr"), f.make_array(1, 4)),
    ),
    "call": ("abs(n)", lambda: f.call("abs", col("n"))),
    "case": (
        "CASE n WHEN 0 THEN 'zero' WHEN 7 THEN 'seven' ELSE 'other' END",
        lambda: (
            f.case(col("n"))
            .when(lit(0), lit("zero"))
            .when(lit(7), lit("seven"))
            .otherwise(lit("other"))
        ),
    ),
    "when": (
        "CASE WHEN n > 5 THEN 'big' WHEN n < 0 THEN 'neg' END",
        lambda: f.when(col("n") > 5, lit("big")).when(col("n") < 0, lit("neg")).end(),
    ),
    "in_list": ("n IN (0, 7)", lambda: f.in_list(col("n"), [lit(0), lit(7)])),
}

# Higher-order functions, compared with SQL's lambda syntax (which needs a
# dialect that has lambdas).
LAMBDA: dict[str, tuple[str, Callable[[], Expr]]] = {
    "array_transform": (
        "array_transform(arr, lambda x: x * 2)",
        lambda: f.array_transform(col("arr"), lambda x: x * 2),
    ),
    "list_transform": (
        "array_transform(arr, lambda x: x + i)",
        lambda: f.list_transform(col("arr"), lambda x: x + col("i")),
    ),
    "array_filter": (
        "array_filter(arr, lambda x: x > 1)",
        lambda: f.array_filter(col("arr"), lambda x: x > 1),
    ),
    "list_filter": (
        "array_filter(arr, lambda x: x < 3)",
        lambda: f.list_filter(col("arr"), lambda x: x < 3),
    ),
    "array_any_match": (
        "array_any_match(arr, lambda x: x = 2)",
        lambda: f.array_any_match(col("arr"), lambda x: x == 2),
    ),
    "any_match": (
        "array_any_match(arr, lambda x: x > 3)",
        lambda: f.any_match(col("arr"), lambda x: x > 3),
    ),
    "list_any_match": (
        "array_any_match(arr, lambda x: x < 2)",
        lambda: f.list_any_match(col("arr"), lambda x: x < 2),
    ),
    "lambda_": (
        "array_transform(arr, lambda y: y - 1)",
        lambda: f.array_transform(col("arr"), f.lambda_(["y"], f.lambda_var("y") - 1)),
    ),
    "lambda_var": (
        "array_filter(arr, lambda z: z <> 2)",
        lambda: f.array_filter(col("arr"), f.lambda_(["z"], f.lambda_var("z") != 2)),
    ),
}

AGGREGATE: dict[str, tuple[str, Callable[[], Expr]]] = {
    "approx_distinct": ("approx_distinct(n)", lambda: f.approx_distinct(col("n"))),
    "approx_median": ("approx_median(x)", lambda: f.approx_median(col("x"))),
    "approx_percentile_cont": (
        "approx_percentile_cont(0.5) WITHIN GROUP (ORDER BY x)",
        lambda: f.approx_percentile_cont(col("x"), 0.5),
    ),
    "approx_percentile_cont_with_weight": (
        "approx_percentile_cont_with_weight(m, 0.5, 50) WITHIN GROUP (ORDER BY x DESC)",
        lambda: f.approx_percentile_cont_with_weight(
            col("x").sort(ascending=False), col("m"), 0.5, num_centroids=50
        ),
    ),
    "percentile_cont": (
        "percentile_cont(0.25) WITHIN GROUP (ORDER BY y)",
        lambda: f.percentile_cont(col("y"), 0.25),
    ),
    "quantile_cont": (
        "quantile_cont(0.75) WITHIN GROUP (ORDER BY y) FILTER (WHERE y > 1.5)",
        lambda: f.quantile_cont(col("y"), 0.75, filter=col("y") > 1.5),
    ),
    "array_agg": (
        "array_agg(n ORDER BY i DESC)",
        lambda: f.array_agg(col("n"), order_by=[col("i").sort(ascending=False)]),
    ),
    "avg": ("avg(n)", lambda: f.avg(col("n"))),
    "mean": ("mean(n)", lambda: f.mean(col("n"))),
    "bit_and": ("bit_and(m)", lambda: f.bit_and(col("m"))),
    "bit_or": ("bit_or(m)", lambda: f.bit_or(col("m"))),
    "bit_xor": ("bit_xor(m)", lambda: f.bit_xor(col("m"))),
    "bool_and": ("bool_and(b)", lambda: f.bool_and(col("b"))),
    "bool_or": ("bool_or(b)", lambda: f.bool_or(col("b"))),
    "corr": ("corr(x, y)", lambda: f.corr(col("x"), col("y"))),
    "count": ("count(DISTINCT z)", lambda: f.count(col("z"), distinct=True)),
    "count_star": ("count(*)", lambda: f.count_star()),
    "covar": ("covar(x, y)", lambda: f.covar(col("x"), col("y"))),
    "covar_pop": ("covar_pop(x, y)", lambda: f.covar_pop(col("x"), col("y"))),
    "covar_samp": ("covar_samp(x, y)", lambda: f.covar_samp(col("x"), col("y"))),
    "first_value": (
        "first_value(n ORDER BY m)",
        lambda: f.first_value(col("n"), order_by=[col("m")]),
    ),
    "last_value": ("last_value(n ORDER BY m)", lambda: f.last_value(col("n"), order_by=[col("m")])),
    "nth_value": (
        "nth_value(n, 2 ORDER BY m)",
        lambda: f.nth_value(col("n"), 2, order_by=[col("m")]),
    ),
    "order_by": (
        "first_value(z ORDER BY z DESC NULLS LAST)",
        lambda: f.first_value(col("z"), order_by=f.order_by(col("z"), False, nulls_first=False)),
    ),
    "max": ("max(s)", lambda: f.max(col("s"))),
    "min": ("min(y)", lambda: f.min(col("y"))),
    "median": ("median(n)", lambda: f.median(col("n"))),
    "stddev": ("stddev(y)", lambda: f.stddev(col("y"))),
    "stddev_pop": ("stddev_pop(y)", lambda: f.stddev_pop(col("y"))),
    "stddev_samp": ("stddev_samp(y)", lambda: f.stddev_samp(col("y"))),
    "string_agg": (
        "string_agg(t, '|' ORDER BY i DESC)",
        lambda: f.string_agg(col("t"), "|", order_by=[col("i").sort(ascending=False)]),
    ),
    "sum": ("sum(n) FILTER (WHERE n > 0)", lambda: f.sum(col("n"), filter=col("n") > 0)),
    "var": ("var(y)", lambda: f.var(col("y"))),
    "var_pop": ("var_pop(y)", lambda: f.var_pop(col("y"))),
    "var_samp": ("var_samp(y)", lambda: f.var_samp(col("y"))),
    "var_sample": ("var_sample(y)", lambda: f.var_sample(col("y"))),
}


def _ranking(name: str) -> tuple[str, Callable[[], Expr]]:
    wrapper = getattr(f, name)
    return f"{name}() OVER (ORDER BY m)", lambda: wrapper(order_by=[col("m")])


WINDOW: dict[str, tuple[str, Callable[[], Expr]]] = {
    name: _ranking(name)
    for name in ("row_number", "rank", "dense_rank", "percent_rank", "cume_dist")
}
WINDOW |= {
    "ntile": ("ntile(3) OVER (ORDER BY m)", lambda: f.ntile(3, order_by=[col("m")])),
    "lag": (
        "lag(n, 2, 0) OVER (PARTITION BY b ORDER BY m)",
        lambda: f.lag(col("n"), 2, 0, partition_by=[col("b")], order_by=[col("m")]),
    ),
    "lead": ("lead(n) OVER (ORDER BY m)", lambda: f.lead(col("n"), order_by=[col("m")])),
}

# Values differ from call to call: compared by type (and range) instead.
NONDETERMINISTIC = ("now", "current_date", "current_time", "today", "random", "uuid")


@pytest.fixture(scope="module")
def table() -> SessionContext:
    ctx = SessionContext()
    ctx.from_arrow(TABLE, name="t")
    return ctx


def plain(t: pa.DataType) -> pa.DataType:
    """``t`` with Utf8View as Utf8: lit() makes a str a Utf8View literal, as
    the datafusion package does, where SQL's string literals are Utf8, so a
    function of a literal string returns the one type in Python and the
    other in SQL."""
    if t == pa.string_view():
        return pa.string()
    if pa.types.is_list(t):
        return pa.list_(plain(t.value_type))
    return t


def sql_column(ctx: SessionContext, select: str) -> pa.ChunkedArray:
    return ctx.sql(f"SELECT {select} AS out FROM t ORDER BY i").to_arrow_table().column("out")


def py_column(ctx: SessionContext, expr: Expr) -> pa.ChunkedArray:
    # Sorted after the projection: a window may reorder its input.
    df = ctx.table("t").select(col("i"), expr.alias("out")).sort(col("i"))
    return df.to_arrow_table().column("out")


@pytest.mark.parametrize("name", sorted(SCALAR))
def test_scalar_wrapper_matches_sql(table: SessionContext, name: str) -> None:
    args = SCALAR[name]
    want = sql_column(table, f"{name}({', '.join(sql_of(a) for a in args)})")
    got = py_column(table, getattr(f, name)(*(py_of(a) for a in args)))
    assert plain(got.type) == plain(want.type), name
    assert got.to_pylist() == want.to_pylist(), name


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_wrapper_matches_sql(table: SessionContext, name: str) -> None:
    sql, build = SPECIAL[name]
    want = sql_column(table, sql)
    got = py_column(table, build())
    assert (plain(got.type), got.to_pylist()) == (plain(want.type), want.to_pylist()), name


@pytest.mark.parametrize("name", sorted(LAMBDA))
def test_lambda_wrapper_matches_sql(name: str) -> None:
    ctx = SessionContext(SessionConfig().set("datafusion.sql_parser.dialect", "DuckDB"))
    ctx.from_arrow(TABLE, name="t")
    sql, build = LAMBDA[name]
    want = sql_column(ctx, sql)
    got = py_column(ctx, build())
    assert (plain(got.type), got.to_pylist()) == (plain(want.type), want.to_pylist()), name


@pytest.mark.parametrize("name", sorted(AGGREGATE))
def test_aggregate_wrapper_matches_sql(table: SessionContext, name: str) -> None:
    sql, build = AGGREGATE[name]
    want = table.sql(f"SELECT {sql} AS out FROM t").to_arrow_table().column("out")
    got = table.table("t").aggregate([], [build().alias("out")]).to_arrow_table().column("out")
    assert plain(got.type) == plain(want.type), name
    # Floating-point aggregates may sum in another order: equal to rounding.
    expected = want.to_pylist()
    assert got.to_pylist() == (pytest.approx(expected) if got.type == pa.float64() else expected), (
        name
    )


@pytest.mark.parametrize("name", sorted(WINDOW))
def test_window_wrapper_matches_sql(table: SessionContext, name: str) -> None:
    sql, build = WINDOW[name]
    want = sql_column(table, sql)
    got = py_column(table, build())
    assert (plain(got.type), got.to_pylist()) == (plain(want.type), want.to_pylist()), name


@pytest.mark.parametrize("name", NONDETERMINISTIC)
def test_nondeterministic_wrapper_matches_sql_by_type(table: SessionContext, name: str) -> None:
    want = sql_column(table, f"{name}()")
    got = py_column(table, getattr(f, name)())
    assert plain(got.type) == plain(want.type), name
    assert len(got) == len(want) == TABLE.num_rows
    if name == "random":
        assert all(0.0 <= v < 1.0 for v in got.to_pylist())
    if name == "uuid":
        assert len(set(got.to_pylist())) == TABLE.num_rows


def test_builtin_names_lists_what_sql_knows(table: SessionContext) -> None:
    names = f.builtin_names()
    for name in SCALAR:
        assert name in names["scalar"], name
    for name in ("sum", "avg", "count", "string_agg", "median"):
        assert name in names["aggregate"], name
    for name in WINDOW:
        assert name in names["window"] or name in names["aggregate"], name
    assert "no_such_function" not in names["scalar"]


def test_every_wrapper_is_compared_with_sql() -> None:
    covered = set(SCALAR) | set(SPECIAL) | set(LAMBDA) | set(AGGREGATE) | set(WINDOW)
    covered |= set(NONDETERMINISTIC)
    covered.add("builtin_names")
    covered.add("union_extract")  # SQL cannot build a union: test_compat_surface checks it
    assert set(f.__all__) - covered == set()
    assert covered - set(f.__all__) == set()
