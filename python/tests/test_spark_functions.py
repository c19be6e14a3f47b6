"""dfship.functions.spark: Spark's semantics, its argument conventions, and
Spark functions that keep their identity across pickle, plan frames and SQL."""

from __future__ import annotations

import datetime as dt
import pickle

import pyarrow as pa
import pytest

import dfship
from dfship import SessionContext, col, lit
from dfship import functions as f
from dfship.functions import spark


def value(expr: dfship.Expr, ctx: SessionContext | None = None) -> object:
    df = (ctx or SessionContext()).from_pydict({"x": [1]})
    return df.select(expr.alias("v")).to_pydict()["v"][0]


def test_module_is_reachable_both_ways() -> None:
    from dfship import spark_functions

    assert f.spark is spark_functions
    assert set(spark.__all__) <= set(dir(spark))


def test_spark_semantics_differ_from_the_builtins_of_the_same_name() -> None:
    # concat: Spark's is NULL when any input is; DataFusion's skips NULLs.
    assert value(f.concat(lit("a"), lit(None), lit("b"))) == "ab"
    assert value(spark.concat(lit("a"), lit(None), lit("b"))) is None
    # ceil: Spark's returns an integer, DataFusion's a float.
    assert value(spark.ceil(lit(1.2))) == 2
    assert isinstance(value(spark.ceil(lit(1.2))), int)
    assert isinstance(value(f.ceil(lit(1.2))), float)


def test_spark_only_functions_compute_known_values() -> None:
    assert value(spark.crc32(lit("ABC"))) == 2743272264
    assert value(spark.sha2(lit("abc"), 256)) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert value(spark.pmod(lit(-7), lit(3))) == 2
    assert value(spark.bin(lit(10))) == "1010"
    assert value(spark.soundex(lit("Tymczak"))) == "T522"
    assert value(spark.elt(lit(3), lit("a"), lit("b"), lit("c"))) == "c"


def test_aggregates_take_options() -> None:
    ctx = SessionContext()
    df = ctx.from_pydict({"g": [1, 1, 2], "v": [1, 1, 5]})
    out = (
        df.aggregate(
            [col("g")],
            [
                spark.try_sum("v").alias("s"),
                spark.collect_set(col("v")).alias("c"),
                spark.avg(col("v"), filter=col("v") > 1).alias("a"),
            ],
        )
        .sort(col("g"))
        .to_pydict()
    )
    assert out["s"] == [2, 5]
    assert [sorted(c) for c in out["c"]] == [[1], [5]]
    # FILTER holds per group too (datafusion-spark's grouped avg alone
    # would ignore it).
    assert out["a"] == [None, 5.0]


def test_argument_conventions() -> None:
    ctx = SessionContext()
    df = ctx.from_pydict({"s": ["hello", "world"], "pat": ["h%", "x%"]})
    # A plain str where pyspark takes a column is a column name...
    assert df.select(spark.like("s", "pat").alias("v")).to_pydict()["v"] == [True, False]
    # ... where it takes a value, a literal.
    day = lit(pa.scalar(dt.date(2024, 2, 28), type=pa.date32()))
    assert value(spark.date_add(day, 2)) == dt.date(2024, 3, 1)
    assert value(spark.next_day(day, "Mon")) == dt.date(2024, 3, 4)
    assert value(spark.make_dt_interval(hours=1, secs=1.5)) == dt.timedelta(hours=1, seconds=1.5)
    with pytest.raises(TypeError, match="an Expr or an int"):
        spark.date_add(day, "2")
    with pytest.raises(NotImplementedError, match="seed"):
        spark.shuffle(spark.array(lit(1)), seed=3)
    with pytest.raises(NotImplementedError, match="escapeChar"):
        spark.ilike(lit("a"), lit("a"), escapeChar="!")


def test_unknown_function_and_library_are_typed_errors() -> None:
    with pytest.raises(ValueError, match='no Spark scalar function named "nope"'):
        dfship._internal.scalar_function("nope", [], "spark")
    with pytest.raises(ValueError, match='no function library named "hive"'):
        dfship._internal.builtin_function_names("hive")


def test_pickled_spark_function_keeps_spark_semantics() -> None:
    """Spark's concat is named like the built-in; the receiver must rebuild
    Spark's, not resolve the bare name to DataFusion's."""
    expr = spark.concat(lit("a"), lit(None), lit("b"))
    back = pickle.loads(pickle.dumps(expr))
    assert value(back) is None
    # Spark-only functions need no enable_spark_functions on the receiver.
    assert value(pickle.loads(pickle.dumps(spark.crc32(lit("ABC"))))) == 2743272264
    # Built-ins travel as before, by name, with no tag.
    plain = f.concat(lit("a"), lit(None), lit("b"))
    assert b"dfship:spark" not in pickle.dumps(plain)
    assert value(pickle.loads(pickle.dumps(plain))) == "ab"


def test_physical_plan_with_spark_functions_round_trips() -> None:
    ctx = SessionContext()
    df = ctx.from_pydict({"a": ["x", None]}).select(spark.concat(col("a"), lit("!")).alias("c"))
    plan = dfship.ExecutionPlan.from_bytes(df.execution_plan().to_bytes(), SessionContext())
    assert pa.Table.from_batches(plan.collect()).to_pydict() == {"c": ["x!", None]}
    # SQL of a session with Spark's functions, run by one without them.
    ctx.enable_spark_functions()
    df = ctx.sql("SELECT concat(a, '!') AS c FROM (VALUES ('x'), (NULL)) AS t(a)")
    plan = dfship.ExecutionPlan.from_bytes(df.execution_plan().to_bytes(), SessionContext())
    assert pa.Table.from_batches(plan.collect()).to_pydict() == {"c": ["x!", None]}


def test_enable_spark_functions_switches_sql() -> None:
    ctx = SessionContext()
    assert ctx.sql("SELECT concat('a', NULL) AS c").to_pydict() == {"c": ["a"]}
    with pytest.raises(Exception, match="xxhash64"):
        ctx.sql("SELECT xxhash64('a')").collect()
    ctx.enable_spark_functions()
    assert ctx.sql("SELECT concat('a', NULL) AS c").to_pydict() == {"c": [None]}
    assert ctx.sql("SELECT crc32('ABC') AS c").to_pydict() == {"c": [2743272264]}
    # Another session is untouched.
    assert SessionContext().sql("SELECT concat('a', NULL) AS c").to_pydict() == {"c": ["a"]}
