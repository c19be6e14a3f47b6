"""Expressions and built-in functions, evaluated for real."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from dfship import Expr, SessionContext, Window, WindowFrame, col, column, lit, literal
from dfship import functions as f
from dfship.exceptions import DfshipError


def one(ctx: SessionContext, expr: Expr, data: dict[str, list[Any]] | None = None) -> list[Any]:
    df = ctx.from_pydict(data or {"a": [1, 2, None], "b": [10, 0, 5], "s": ["Ab", "cd", None]})
    return df.select(expr.alias("out")).to_pydict()["out"]


def test_arithmetic_operators(ctx: SessionContext) -> None:
    assert one(ctx, col("a") + col("b")) == [11, 2, None]
    assert one(ctx, col("b") - 1) == [9, -1, 4]
    assert one(ctx, 2 * col("a")) == [2, 4, None]
    assert one(ctx, col("b") / 2) == [5, 0, 2]
    assert one(ctx, col("b") % 3) == [1, 0, 2]
    assert one(ctx, 100 - col("b")) == [90, 100, 95]
    assert one(ctx, -col("a")) == [-1, -2, None]
    assert one(ctx, col("b").cast(pa.float64()) / 4) == [2.5, 0.0, 1.25]


def test_division_by_zero_is_a_typed_error(ctx: SessionContext) -> None:
    with pytest.raises(DfshipError, match=r"(?i)divide by zero"):
        one(ctx, col("a") / col("b"))


def test_comparison_and_boolean_operators(ctx: SessionContext) -> None:
    assert one(ctx, col("a") == 1) == [True, False, None]
    assert one(ctx, col("a") != 1) == [False, True, None]
    assert one(ctx, col("b") < 5) == [False, True, False]
    assert one(ctx, col("b") <= 5) == [False, True, True]
    assert one(ctx, col("b") > 5) == [True, False, False]
    assert one(ctx, col("b") >= 5) == [True, False, True]
    assert one(ctx, (col("b") > 1) & (col("b") < 8)) == [False, False, True]
    assert one(ctx, (col("b") == 0) | (col("b") == 10)) == [True, True, False]
    assert one(ctx, ~(col("b") == 0)) == [True, False, True]


def test_expressions_refuse_truthiness() -> None:
    with pytest.raises(TypeError, match="no truth value"):
        bool(col("a") == 1)
    with pytest.raises(TypeError):
        hash(col("a"))


def test_literals_of_many_types(ctx: SessionContext) -> None:
    data = {"a": [1]}
    assert one(ctx, lit(True), data) == [True]
    assert one(ctx, lit(1.5), data) == [1.5]
    assert one(ctx, lit("x"), data) == ["x"]
    assert one(ctx, lit(b"\x00\x01"), data) == [b"\x00\x01"]
    assert one(ctx, lit(None), data) == [None]
    assert one(ctx, lit(dt.date(2024, 2, 29)), data) == [dt.date(2024, 2, 29)]
    assert one(ctx, lit(Decimal("1.25")), data) == [Decimal("1.25")]
    assert one(ctx, lit([1, 2]), data) == [[1, 2]]
    assert one(ctx, lit(pa.scalar(7, pa.int8())), data) == [7]
    assert one(ctx, literal(2**62), data) == [2**62]
    assert column("a").equals(col("a"))


def test_alias_cast_and_try_cast(ctx: SessionContext) -> None:
    df = ctx.from_pydict({"s": ["1", "x", None]})
    out = df.select(col("s").try_cast(pa.int32()).alias("n"), col("s").alias("t"))
    assert out.schema() == pa.schema([("n", pa.int32()), ("t", pa.string())])
    assert out.to_pydict() == {"n": [1, None, None], "t": ["1", "x", None]}
    assert one(ctx, col("a").cast(str)) == ["1", "2", None]
    assert one(ctx, col("a").cast(float)) == [1.0, 2.0, None]
    with pytest.raises(DfshipError):
        df.select(col("s").cast(pa.int32())).collect()
    with pytest.raises(TypeError):
        col("a").cast(list)  # type: ignore[arg-type]


def test_null_checks_and_between(ctx: SessionContext) -> None:
    assert one(ctx, col("a").is_null()) == [False, False, True]
    assert one(ctx, col("a").is_not_null()) == [True, True, False]
    assert one(ctx, col("b").between(1, 5)) == [False, False, True]
    assert one(ctx, col("b").between(1, 5, negated=True)) == [True, True, False]


def test_like_and_ilike(ctx: SessionContext) -> None:
    assert one(ctx, col("s").like("A%")) == [True, False, None]
    assert one(ctx, col("s").like("A%", negated=True)) == [False, True, None]
    assert one(ctx, col("s").ilike("a_")) == [True, False, None]
    assert one(ctx, col("s").like("c_")) == [False, True, None]


def test_in_list(ctx: SessionContext) -> None:
    assert one(ctx, f.in_list(col("b"), [0, 5])) == [False, True, True]
    assert one(ctx, col("b").in_list([0, 5], negated=True)) == [True, False, False]


def test_case_when_otherwise(ctx: SessionContext) -> None:
    searched = (
        f.when(col("b") > 6, lit("high")).when(col("b") > 2, lit("mid")).otherwise(lit("low"))
    )
    assert one(ctx, searched) == ["high", "low", "mid"]
    assert one(ctx, f.when(col("b") > 6, "high").end()) == ["high", None, None]
    simple = f.case(col("b")).when(0, "zero").when(10, "ten").otherwise("other")
    assert one(ctx, simple) == ["ten", "zero", "other"]


def test_math_functions(ctx: SessionContext) -> None:
    data = {"x": [-2.5, 4.0]}
    assert one(ctx, f.abs(col("x")), data) == [2.5, 4.0]
    assert one(ctx, f.sqrt(f.abs(col("x"))), data)[1] == 2.0
    assert one(ctx, f.round(col("x")), data) == [-3.0, 4.0]
    assert one(ctx, f.round(lit(3.14159), 2), data)[0] == pytest.approx(3.14)
    assert one(ctx, f.ceil(col("x")), data) == [-2.0, 4.0]
    assert one(ctx, f.floor(col("x")), data) == [-3.0, 4.0]
    assert one(ctx, f.power(lit(2), lit(10)), data)[0] == 1024
    assert one(ctx, f.ln(f.exp(lit(1.0))), data)[0] == pytest.approx(1.0)
    assert one(ctx, f.log(lit(10.0), lit(1000.0)), data)[0] == pytest.approx(3.0)
    assert one(ctx, f.signum(col("x")), data) == [-1.0, 1.0]
    assert one(ctx, f.gcd(lit(12), lit(18)), data)[0] == 6
    assert one(ctx, f.trunc(col("x")), data) == [-2.0, 4.0]
    assert one(ctx, f.pi(), data)[0] == pytest.approx(3.14159265)


def test_string_functions(ctx: SessionContext) -> None:
    data = {"s": ["Hello", None], "t": ["x", "y"]}
    assert one(ctx, f.upper(col("s")), data) == ["HELLO", None]
    assert one(ctx, f.lower(col("s")), data) == ["hello", None]
    assert one(ctx, f.length(col("s")), data) == [5, None]
    assert one(ctx, f.concat(col("s"), lit("!")), data) == ["Hello!", "!"]
    assert one(ctx, f.concat_ws("-", col("t"), col("t")), data) == ["x-x", "y-y"]
    assert one(ctx, f.substr(col("s"), 2, 3), data) == ["ell", None]
    assert one(ctx, f.replace(col("s"), "l", "L"), data) == ["HeLLo", None]
    assert one(ctx, f.trim(lit("  a ")), data)[0] == "a"
    assert one(ctx, f.lpad(col("t"), 3, "0"), data) == ["00x", "00y"]
    assert one(ctx, f.starts_with(col("s"), "He"), data) == [True, None]
    assert one(ctx, f.regexp_replace(col("s"), "l+", "_"), data) == ["He_o", None]
    assert one(ctx, f.split_part(lit("a,b,c"), ",", 2), data)[0] == "b"
    assert one(ctx, f.md5(lit("a")), data)[0] == "0cc175b9c0f1b6a831c399e269772661"
    assert one(ctx, f.strpos(col("s"), "l"), data) == [3, None]


def test_conditional_functions(ctx: SessionContext) -> None:
    assert one(ctx, f.coalesce(col("a"), lit(0))) == [1, 2, 0]
    assert one(ctx, f.nullif(col("b"), lit(0))) == [10, None, 5]
    assert one(ctx, f.greatest(col("a"), col("b"))) == [10, 2, 5]
    assert one(ctx, f.least(col("a"), col("b"))) == [1, 0, 5]
    assert one(ctx, f.nvl(col("a"), lit(-1))) == [1, 2, -1]


def test_date_and_time_functions(ctx: SessionContext) -> None:
    data = {
        "d": [dt.date(2024, 3, 15), None],
        "ts": [dt.datetime(2024, 3, 15, 13, 45), dt.datetime(2023, 1, 1)],
    }
    assert one(ctx, f.date_part("year", col("d")), data) == [2024, None]
    assert one(ctx, f.extract("month", col("ts")), data) == [3, 1]
    assert one(ctx, f.date_trunc("month", col("ts")), data) == [
        dt.datetime(2024, 3, 1),
        dt.datetime(2023, 1, 1),
    ]
    assert one(ctx, f.to_timestamp(lit("2024-01-02T03:04:05")), data)[0] == dt.datetime(
        2024, 1, 2, 3, 4, 5
    )
    assert one(ctx, f.to_date(lit("2024-01-02")), data)[0] == dt.date(2024, 1, 2)
    assert one(ctx, f.make_date(lit(2020), lit(5), lit(6)), data)[0] == dt.date(2020, 5, 6)
    assert one(ctx, f.to_char(col("d"), "%Y/%m"), data) == ["2024/03", None]
    now = one(ctx, f.to_unixtime(f.now()), data)[0]
    assert abs(now - dt.datetime.now(dt.timezone.utc).timestamp()) < 300


def test_array_functions(ctx: SessionContext) -> None:
    data = {"l": [[1, 2, 3], [], None]}
    assert one(ctx, f.array_length(col("l")), data) == [3, 0, None]
    assert one(ctx, f.array_element(col("l"), lit(2)), data) == [2, None, None]
    assert one(ctx, f.array_has(col("l"), lit(3)), data) == [True, False, None]
    assert one(ctx, f.make_array(lit(1), lit(2)), data)[0] == [1, 2]


def test_aggregate_functions(ctx: SessionContext) -> None:
    df = ctx.from_pydict({"g": ["a", "a", "b", "b", "b"], "v": [1.0, 3.0, 2.0, 2.0, None]})
    out = (
        df.aggregate(
            [col("g")],
            [
                f.count(col("v")).alias("n"),
                f.count().alias("rows"),
                f.count(col("v"), distinct=True).alias("nd"),
                f.sum(col("v")).alias("sum"),
                f.avg(col("v")).alias("avg"),
                f.min(col("v")).alias("min"),
                f.max(col("v")).alias("max"),
                f.stddev(col("v")).alias("sd"),
                f.median(col("v")).alias("med"),
                f.array_agg(col("v"), order_by=[col("v")]).alias("arr"),
                f.sum(col("v"), filter=col("v") > 1.5).alias("big"),
            ],
        )
        .sort("g")
        .to_pydict()
    )
    assert out["n"] == [2, 2] and out["rows"] == [2, 3] and out["nd"] == [2, 1]
    assert out["sum"] == [4.0, 4.0] and out["avg"] == [2.0, 2.0]
    assert out["min"] == [1.0, 2.0] and out["max"] == [3.0, 2.0]
    assert out["sd"][0] == pytest.approx(1.41421356) and out["sd"][1] == 0.0
    assert out["med"] == [2.0, 2.0]
    assert out["arr"] == [[1.0, 3.0], [2.0, 2.0, None]]
    assert out["big"] == [3.0, 4.0]


def test_window_functions(ctx: SessionContext) -> None:
    df = ctx.from_pydict(
        {"k": ["a", "a", "a", "b", "b"], "t": [1, 2, 3, 1, 2], "v": [10, 20, 30, 5, 5]}
    )
    order = [col("k"), col("t")]
    out = (
        df.select(
            "k",
            "t",
            f.row_number(partition_by=[col("k")], order_by=[col("t")]).alias("rn"),
            f.rank(partition_by=[col("k")], order_by=[col("v")]).alias("rk"),
            f.dense_rank(partition_by="k", order_by=[col("v").desc()]).alias("drk"),
            f.lag(col("v"), 1, 0, partition_by=[col("k")], order_by=[col("t")]).alias("prev"),
            f.lead(col("v"), partition_by=[col("k")], order_by=[col("t")]).alias("next"),
            f.sum(col("v"))
            .over(Window(partition_by=[col("k")], order_by=[col("t")]))
            .alias("running"),
            f.sum(col("v"))
            .over(
                Window(
                    partition_by=[col("k")],
                    order_by=[col("t")],
                    window_frame=WindowFrame("rows", 1, 0),
                )
            )
            .alias("pair"),
            f.avg(col("v")).over(Window(partition_by=[col("k")])).alias("mean"),
        )
        .sort(*order)
        .to_pydict()
    )
    assert out["rn"] == [1, 2, 3, 1, 2]
    assert out["rk"] == [1, 2, 3, 1, 1]
    assert out["drk"] == [3, 2, 1, 1, 1]
    assert out["prev"] == [0, 10, 20, 0, 5]
    assert out["next"] == [20, 30, None, 5, None]
    assert out["running"] == [10, 30, 60, 5, 10]
    assert out["pair"] == [10, 30, 50, 5, 10]
    assert out["mean"] == [20.0, 20.0, 20.0, 5.0, 5.0]


def test_over_refuses_plain_expressions() -> None:
    with pytest.raises(TypeError, match="aggregate or window function"):
        col("a").over(Window())
    with pytest.raises(ValueError, match="units"):
        WindowFrame("weeks", None, None)


def test_unknown_builtin_is_refused() -> None:
    with pytest.raises(ValueError, match="no built-in scalar function"):
        f.call("no_such_function", col("a"))


def test_every_listed_function_exists() -> None:
    scalar, aggregate, window = __import__("dfship")._internal.builtin_function_names()
    assert {"abs", "upper", "date_trunc", "coalesce"} <= set(scalar)
    assert {"sum", "count", "stddev", "median"} <= set(aggregate)
    assert {"row_number", "rank", "lag", "lead"} <= set(window)
    # Each wrapper is called on data and compared with SQL in test_functions_vs_sql.py.


def test_expression_display_and_names() -> None:
    e = (col("a") + 1).alias("x")
    assert repr(e) == "Expr(a + Int64(1) AS x)"
    assert e.schema_name() == "x"
    assert e.variant_name() == "Alias"
    assert repr(col("a").sort(ascending=False)) == "SortExpr(a DESC NULLS LAST)"
