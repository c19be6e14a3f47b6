"""Code written for the `datafusion` package, with only the import changed.

Each test is user code in the style of the datafusion documentation (our
own), run against dfship through its public API, with its results checked
against SQL on the same session or against values worked out by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import pickle
import re
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dfship as datafusion
from dfship import (
    DataFrameWriteOptions,
    RuntimeEnvBuilder,
    SessionConfig,
    SessionContext,
    SQLOptions,
    col,
    lit,
    udf,
)
from dfship import functions as f
from dfship.expr import (
    NullTreatment,
    RexType,
    Window,
    WindowFrame,
    WindowFrameBound,
)

# -- fixtures ------------------------------------------------------------------


@pytest.fixture
def ctx() -> SessionContext:
    ctx = SessionContext()
    ctx.from_pydict(
        {
            "k": ["a", "a", "b", "b", "b", None],
            "v": [1, None, 3, 3, 5, 6],
            "t": [1, 2, 3, 4, 5, 6],
        },
        name="t",
    )
    return ctx


def rows(df: datafusion.DataFrame, *order: str) -> list[dict[str, object]]:
    result = df.to_pylist()
    if order:
        result.sort(key=lambda r: tuple((r[o] is None, r[o]) for o in order))
    return result


# -- Expr: options of aggregate and window calls --------------------------------


def test_aggregate_builders_equal_sql(ctx: SessionContext) -> None:
    df = ctx.table("t").aggregate(
        [col("k")],
        [
            f.sum(col("v")).distinct().build().alias("sd"),
            f.sum(col("v")).filter(col("t") > 3).build().alias("sf"),
            f.array_agg(col("v")).order_by(col("t").sort(ascending=False)).build().alias("ordered"),
            f.first_value(col("v"))
            .order_by(col("t"))
            .null_treatment(NullTreatment.IGNORE_NULLS)
            .build()
            .alias("first"),
        ],
    )
    sql = ctx.sql(
        "SELECT k, sum(DISTINCT v) AS sd, sum(v) FILTER (WHERE t > 3) AS sf, "
        "array_agg(v ORDER BY t DESC) AS ordered, "
        "first_value(v ORDER BY t) IGNORE NULLS AS first FROM t GROUP BY k"
    )
    assert rows(df, "k") == rows(sql, "k")
    # Worked out by hand for group "b": v = 3, 3, 5 at t = 3, 4, 5.
    b = next(r for r in rows(df) if r["k"] == "b")
    assert b == {"k": "b", "sd": 8, "sf": 8, "ordered": [5, 3, 3], "first": 3}


def test_window_builders_equal_sql(ctx: SessionContext) -> None:
    running = (
        f.sum(col("v")).over(Window(partition_by=[col("k")], order_by=[col("t")])).alias("running")
    )
    framed = (
        f.row_number()
        .partition_by(col("k"))
        .order_by(col("t").sort(ascending=False))
        .build()
        .alias("rn")
    )
    moving = (
        f.avg(col("t"))
        .over(Window(order_by=[col("t")], window_frame=WindowFrame("rows", 1, 1)))
        .alias("moving")
    )
    df = ctx.table("t").select(col("t"), running, framed, moving)
    sql = ctx.sql(
        "SELECT t, sum(v) OVER (PARTITION BY k ORDER BY t) AS running, "
        "row_number() OVER (PARTITION BY k ORDER BY t DESC) AS rn, "
        "avg(t) OVER (ORDER BY t ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) AS moving FROM t"
    )
    assert rows(df, "t") == rows(sql, "t")
    assert [r["moving"] for r in rows(df, "t")] == [1.5, 2.0, 3.0, 4.0, 5.0, 5.5]


def test_window_frame_builder_on_a_window_function(ctx: SessionContext) -> None:
    windowed = f.sum(col("t")).over(Window(order_by=[col("t")]))
    # As in DataFusion, options not given to the builder take their defaults,
    # so the ordering is given again with the frame.
    pairs = windowed.window_frame(WindowFrame("rows", 1, 0)).order_by(col("t")).build()
    got = ctx.table("t").select(col("t"), pairs.alias("x")).sort(col("t")).to_pydict()
    assert got["x"] == [1, 3, 5, 7, 9, 11]
    sql = ctx.sql(
        "SELECT t, sum(t) OVER (ORDER BY t ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS x FROM t"
    )
    assert rows(sql, "t") == rows(ctx.table("t").select(col("t"), pairs.alias("x")), "t")


def test_builders_refuse_what_does_not_apply() -> None:
    with pytest.raises(TypeError, match="aggregate or window function"):
        (col("a") + 1).distinct().build()
    with pytest.raises(TypeError, match=r"over\(Window"):
        f.sum(col("a")).partition_by(col("b")).build()
    with pytest.raises(TypeError, match="NullTreatment"):
        f.sum(col("a")).null_treatment("ignore")  # type: ignore[arg-type]


def test_builder_keeps_an_alias_and_pickles() -> None:
    built = f.sum(col("v")).alias("s").distinct().build()
    assert built.canonical_name() == "sum(DISTINCT v) AS s"
    assert pickle.loads(pickle.dumps(built)).canonical_name() == "sum(DISTINCT v) AS s"


def test_window_frame_bounds() -> None:
    frame = WindowFrame("ROWS", 3, None)
    assert frame.get_frame_units() == "rows"
    lower, upper = frame.get_lower_bound(), frame.get_upper_bound()
    assert isinstance(lower, WindowFrameBound)
    assert (lower.is_preceding(), lower.get_offset(), lower.is_unbounded()) == (True, 3, False)
    assert (upper.is_following(), upper.is_unbounded(), upper.get_offset()) == (True, True, None)
    current = WindowFrame("range", 0, 0).get_upper_bound()
    assert current.is_current_row() and not current.is_following()


# -- Expr: fields, elements, values, introspection ------------------------------


def test_getitem_fields_elements_and_slices() -> None:
    ctx = SessionContext()
    df = ctx.from_pydict({"s": [{"x": 1, "y": "p"}, {"x": 2, "y": "q"}], "l": [[1, 2, 3], [4]]})
    got = df.select(
        col("s")["x"].alias("x"),
        col("s")["y"].alias("y"),
        col("l")[0].alias("first"),
        col("l")[-1].alias("last"),
        col("l")[1:].alias("tail"),
        col("l")[:2].alias("head"),
        col("l")[::2].alias("even"),
    ).to_pydict()
    lists = [[1, 2, 3], [4]]
    assert got == {
        "x": [1, 2],
        "y": ["p", "q"],
        "first": [1, 4],
        "last": [3, 4],
        "tail": [x[1:] for x in lists],
        "head": [x[:2] for x in lists],
        "even": [x[::2] for x in lists],
    }
    with pytest.raises(TypeError, match="indexed by"):
        col("l")[1.5]  # type: ignore[index]


def test_python_value_and_names() -> None:
    import datetime

    assert lit(7).python_value() == pa.scalar(7)
    assert lit(2.5).python_value().as_py() == 2.5
    assert lit("x").python_value().as_py() == "x"
    assert lit(None).python_value().as_py() is None
    assert lit(datetime.date(2024, 2, 29)).python_value().as_py() == datetime.date(2024, 2, 29)
    with pytest.raises(TypeError, match="literal"):
        col("a").python_value()
    e = (col("a") + lit(1)).alias("b")
    assert e.canonical_name() == "a + Int64(1) AS b"
    assert e.schema_name() == "b"
    assert e.variant_name() == "Alias"


def test_rex_type_and_to_variant() -> None:
    assert col("a").rex_type() is RexType.Reference
    assert lit(1).rex_type() is RexType.Literal
    assert col("a").alias("b").rex_type() is RexType.Alias
    assert (col("a") + 1).rex_type() is RexType.Call
    assert f.sum(col("a")).rex_type() is RexType.Call
    binary = (col("a") * lit(2)).to_variant()
    assert type(binary).__name__ == "BinaryExpr"
    assert binary.op() == "*"
    assert binary.left().equals(col("a")) and binary.right().equals(lit(2))
    column = col("a").to_variant()
    assert (column.name(), column.relation(), column.qualified_name()) == ("a", None, "a")
    literal = lit(5).to_variant()
    assert (literal.value(), literal.data_type()) == (5, "Int64")
    alias = col("a").alias("z").to_variant()
    assert alias.alias() == "z" and alias.expr().canonical_name() == "a"
    other = f.abs(col("a")).to_variant()
    assert other.variant_name() == "ScalarFunction"
    assert [o.canonical_name() for o in other.operands()] == ["a"]


def test_function_methods_equal_sql() -> None:
    ctx = SessionContext()
    ctx.from_pydict({"x": [4.0, 2.25], "s": [" Ab", "c "], "l": [[1, 2, 2], [3]]}, name="v")
    df = ctx.table("v").select(
        col("x").sqrt().alias("a"),
        col("x").ln().alias("b"),
        col("s").upper().alias("c"),
        col("s").trim().alias("d"),
        col("s").md5().alias("e"),
        col("l").array_distinct().alias("f"),
        col("l").cardinality().alias("g"),
        col("x").is_nan().alias("h"),
    )
    sql = ctx.sql(
        "SELECT sqrt(x) AS a, ln(x) AS b, upper(s) AS c, trim(s) AS d, md5(s) AS e, "
        "array_distinct(l) AS f, cardinality(l) AS g, isnan(x) AS h FROM v"
    )
    assert df.to_pydict() == sql.to_pydict()
    assert df.to_pydict()["c"] == [" AB", "C "]
    for name in ("abs", "floor", "reverse", "to_hex", "array_length", "list_length", "iszero"):
        assert getattr(col("x"), name)().variant_name() == "ScalarFunction", name


def test_alias_metadata_reaches_the_schema() -> None:
    df = SessionContext().from_pydict({"a": [1]})
    field = df.select(col("a").alias("b", metadata={"unit": "m"})).schema().field("b")
    assert field.metadata == {b"unit": b"m"}


# -- DataFrame: writing ----------------------------------------------------------


def test_write_parquet_csv_json_round_trip(ctx: SessionContext, tmp_path: pathlib.Path) -> None:
    df = ctx.table("t").filter(col("k").is_not_null()).sort(col("t"))
    expected = df.to_pydict()

    df.write_parquet(tmp_path / "out.parquet", "zstd", 9)
    meta = pq.ParquetFile(tmp_path / "out.parquet").metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert ctx.read_parquet(tmp_path / "out.parquet").sort(col("t")).to_pydict() == expected

    df.write_parquet(tmp_path / "snappy.parquet", datafusion.dataframe.Compression.SNAPPY)
    snappy = pq.ParquetFile(tmp_path / "snappy.parquet").metadata
    assert snappy.row_group(0).column(0).compression == "SNAPPY"
    with pytest.raises(ValueError, match="takes no level"):
        df.write_parquet(tmp_path / "bad.parquet", "snappy", 3)

    df.write_csv(tmp_path / "out.csv", with_header=True)
    assert (tmp_path / "out.csv").read_text().splitlines()[0] == "k,v,t"
    assert ctx.read_csv(tmp_path / "out.csv").sort(col("t")).to_pydict() == expected

    df.write_json(tmp_path / "out.json")
    lines = (tmp_path / "out.json").read_text().splitlines()
    assert [json.loads(line)["t"] for line in lines] == expected["t"]


def test_write_options_partition_and_directory(ctx: SessionContext, tmp_path: pathlib.Path) -> None:
    df = ctx.table("t").filter(col("k").is_not_null())
    df.write_parquet(tmp_path / "parts", write_options=DataFrameWriteOptions(partition_by="k"))
    assert sorted(p.name for p in (tmp_path / "parts").iterdir()) == ["k=a", "k=b"]
    ctx.register_listing_table(
        "parts", tmp_path / "parts", table_partition_cols=[("k", pa.string())]
    )
    got = ctx.sql("SELECT k, count(*) AS n FROM parts GROUP BY k ORDER BY k").to_pydict()
    assert got == {"k": ["a", "b"], "n": [2, 3]}

    # A path with the extension is one file unless single_file_output=False says otherwise.
    df.write_csv(
        tmp_path / "dir.csv", write_options=DataFrameWriteOptions(single_file_output=False)
    )
    assert (tmp_path / "dir.csv").is_dir()
    df.write_csv(
        tmp_path / "sorted.csv",
        with_header=True,
        write_options=DataFrameWriteOptions(
            single_file_output=True, sort_by=col("t").sort(ascending=False)
        ),
    )
    first_data_line = (tmp_path / "sorted.csv").read_text().splitlines()[1]
    assert first_data_line.endswith(",5")


# -- DataFrame: shaping ----------------------------------------------------------


def test_unnest_describe_cache_repartition(ctx: SessionContext) -> None:
    nested = ctx.from_pydict({"id": [1, 2, 3], "l": [[10, 20], [], None]})
    # An empty list gives no row; a null list a null row unless preserve_nulls=False.
    assert nested.unnest_columns("l").sort(col("id")).to_pydict() == {
        "id": [1, 1, 3],
        "l": [10, 20, None],
    }
    assert nested.unnest_columns("l", preserve_nulls=False).to_pydict() == {
        "id": [1, 1],
        "l": [10, 20],
    }
    deep = ctx.from_pydict({"l": [[[1, 2], [3]]]})
    assert deep.unnest_columns("l", recursions=[("l", "l", 2)]).to_pydict() == {"l": [1, 2, 3]}

    stats = ctx.table("t").select(col("v")).describe().to_pydict()
    assert dict(zip(stats["describe"], stats["v"], strict=True)) == pytest.approx(
        {
            "count": 5,
            "null_count": 1,
            "mean": 3.6,
            "std": 1.9493589,
            "min": 1,
            "max": 6,
            "median": 3,
        }
    )

    cached = ctx.table("t").filter(col("v") > 2).cache()
    ctx.deregister_table("t")
    assert cached.count() == 4  # the result was kept: the table is gone

    df = ctx.from_pydict({"a": list(range(10))})
    assert "Repartition: RoundRobinBatch partition_count=3" in str(df.repartition(3).logical_plan())
    hashed = df.repartition_by_hash(col("a") % 2, num=2)
    assert "Hash(a % Int64(2)) partition_count=2" in str(hashed.logical_plan())
    assert sorted(hashed.to_pydict()["a"]) == list(range(10))
    with pytest.raises(ValueError, match="at least 1"):
        df.repartition(0)


def test_join_on_and_set_operations(ctx: SessionContext) -> None:
    left = ctx.from_pydict({"id": [1, 2, 3], "lo": [0, 5, 10]})
    right = ctx.from_pydict({"rid": [1, 2, 3, 3], "x": [1, 7, 12, 2]})
    got = left.join_on(right, col("id") == col("rid"), col("x") > col("lo"), how="left")
    assert rows(got.select("id", "x"), "id") == [
        {"id": 1, "x": 1},
        {"id": 2, "x": 7},
        {"id": 3, "x": 12},
    ]
    a = ctx.from_pydict({"x": [1, 2, 2, 3]})
    b = ctx.from_pydict({"x": [2, 2, 2, 3, 4]})
    assert sorted(a.intersect(b).to_pydict()["x"]) == [2, 2, 3]
    assert sorted(a.intersect(b, distinct=True).to_pydict()["x"]) == [2, 3]
    assert sorted(a.except_all(b, distinct=True).to_pydict()["x"]) == [1]
    # The older spelling of join keys still works, with a DeprecationWarning.
    right2 = ctx.from_pydict({"key": [2, 3], "y": ["p", "q"]})
    with pytest.deprecated_call(match="join_keys"):
        joined = left.join(right2, join_keys=(["id"], ["key"]))
    assert rows(joined.select("id", "y"), "id") == [{"id": 2, "y": "p"}, {"id": 3, "y": "q"}]


# -- DataFrame: results ----------------------------------------------------------


def test_streams_and_partitions(ctx: SessionContext) -> None:
    df = ctx.sql("SELECT value AS v FROM generate_series(1, 50000)")
    stream = df.execute_stream()
    assert stream.schema.names == ["v"]
    batches = [b.to_pyarrow() for b in stream]
    assert len(batches) > 1
    assert sum(b.num_rows for b in batches) == 50000
    with pytest.raises(StopIteration):
        stream.next()
    one = ctx.table("t").execute_stream().next()
    assert pa.record_batch(one).num_rows == 6  # __arrow_c_array__

    parts = ctx.create_dataframe([[pa.record_batch({"a": [1]})], [pa.record_batch({"a": [2, 3]})]])
    streams = parts.execute_stream_partitioned()
    assert [sum(b.to_pyarrow().num_rows for b in s) for s in streams] == [1, 2]
    assert [[b.num_rows for b in p] for p in parts.collect_partitioned()] == [[1], [2]]

    async def consume() -> int:
        total = 0
        async for batch in df.execute_stream():
            total += batch.to_pyarrow().num_rows
        return total

    assert asyncio.run(consume()) == 50000


def test_stream_errors_are_typed(ctx: SessionContext) -> None:
    def boom(a: pa.Array) -> pa.Array:
        raise ZeroDivisionError("no")

    bad = udf(boom, [pa.int64()], pa.int64(), "immutable", name="boom")
    stream = ctx.table("t").select(bad(col("t"))).execute_stream()
    with pytest.raises(datafusion.exceptions.UdfError, match="ZeroDivisionError"):
        stream.next()
    with pytest.raises(StopIteration):
        stream.next()
    reader = pa.RecordBatchReader.from_stream(ctx.table("t").select(bad(col("t"))))
    with pytest.raises(Exception, match="ZeroDivisionError"):
        reader.read_all()


STREAM_PROBE = textwrap.dedent(
    """
    import sys
    import pyarrow as pa
    import dfship

    def peak_kib():
        # The high-water mark of this process's own memory (ru_maxrss would
        # include the parent's, inherited across exec).
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])

    how = sys.argv[1]
    df = dfship.SessionContext().sql(
        "SELECT value AS v, value * 2 AS w FROM generate_series(1, 30000000)"
    )
    before = peak_kib()
    if how == "execute_stream":
        rows = sum(b.to_pyarrow().num_rows for b in df.execute_stream())
    elif how == "arrow_c_stream":
        rows = sum(b.num_rows for b in pa.RecordBatchReader.from_stream(df))
    else:
        rows = sum(b.num_rows for b in df.collect())
    print(rows, (peak_kib() - before) // 1024)
    """
)


def _peak_growth_mib(how: str) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", STREAM_PROBE, how],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.skipif(
    not pathlib.Path("/proc/self/status").exists(),
    reason="reads the memory high-water mark from /proc (Linux only)",
)
def test_streaming_a_large_result_holds_little_memory() -> None:
    """30 million rows of two int64 columns are 480 MB: collecting them
    grows the process by hundreds of MiB, streaming them by a few batches."""
    rows, collected = _peak_growth_mib("collect")
    assert rows == 30_000_000 and collected > 300, collected
    for how in ("execute_stream", "arrow_c_stream"):
        rows, streamed = _peak_growth_mib(how)
        assert rows == 30_000_000
        assert streamed < 64, (how, streamed)


def test_plans_views_and_html(ctx: SessionContext) -> None:
    df = ctx.table("t").filter(col("v") > 2).select(col("k"))
    plan = df.logical_plan()
    assert plan.variant_name() == "Projection"
    assert [p.variant_name() for p in plan.inputs()] == ["Filter"]
    assert "Filter: t.v > Int64(2)" in plan.display_indent()
    assert "[k:Utf8" in plan.display_indent_schema()
    assert plan.display_graphviz().lstrip().startswith("// Begin DataFusion GraphViz Plan")
    optimized = df.optimized_logical_plan()
    assert "projection=[k, v]" in optimized.display_indent()
    assert "FilterExec" in df.execution_plan().display_indent()

    view = df.into_view()
    assert (view.kind, view.schema.names) == ("view", ["k"])
    ctx.register_table("big_v", view)
    assert ctx.sql("SELECT count(*) AS n FROM big_v").to_pydict() == {"n": [4]}
    assert df.into_view(temporary=True).kind == "temporary"

    html = ctx.from_pydict({"a": ["<b>&"]})._repr_html_()
    assert re.search(r"<th[^>]*>a</th>", html)
    assert "&lt;b&gt;&amp;" in html and "<b>&" not in html
    many = ctx.from_pydict({"a": list(range(30))})._repr_html_()
    assert many.count("<tr>") == 11 and "Data truncated" in many


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the pinned pandas (3.1) needs Python 3.11 or newer"
)
def test_to_pandas_and_polars(ctx: SessionContext) -> None:
    import pandas
    import polars

    frame = ctx.table("t").sort(col("t")).to_pandas()
    assert isinstance(frame, pandas.DataFrame) and list(frame["t"]) == [1, 2, 3, 4, 5, 6]
    back = ctx.from_pandas(frame).sort(col("t")).to_pydict()
    assert back["t"] == [1, 2, 3, 4, 5, 6]
    assert isinstance(ctx.table("t").to_polars(), polars.DataFrame)


# -- SessionContext ----------------------------------------------------------------


def test_register_table_view_catalog(ctx: SessionContext) -> None:
    ctx.register_table("arrow_t", pa.table({"a": [1, 2, 3]}))
    ctx.register_table("df_t", ctx.table("arrow_t").filter(col("a") > 1))
    ctx.register_view("view_t", ctx.table("arrow_t").select((col("a") * 10).alias("b")))
    assert ctx.sql("SELECT sum(a) AS s FROM df_t").to_pydict() == {"s": [5]}
    assert ctx.sql("SELECT sum(b) AS s FROM view_t").to_pydict() == {"s": [60]}
    assert ctx.tables() == {"t", "arrow_t", "df_t", "view_t"}
    assert "datafusion" in ctx.catalog_names()
    schema = ctx.catalog().schema("public")
    assert ctx.catalog().schema_names() == {"public"}
    assert schema.table_names() == ctx.tables()
    assert schema.table("view_t").kind == "view"
    assert schema.table("arrow_t").schema == pa.schema([("a", pa.int64())])
    ctx.deregister_table("df_t")
    assert "df_t" not in ctx.tables() and not schema.table_exist("df_t")
    with pytest.raises(KeyError):
        schema.table("df_t")
    with pytest.raises(KeyError):
        ctx.catalog("nope")
    with pytest.raises(TypeError, match="register_table takes"):
        ctx.register_table("x", 42)


def test_register_json_and_listing_tables(tmp_path: pathlib.Path) -> None:
    import gzip

    ctx = SessionContext()
    (tmp_path / "j").mkdir()
    for day, values in {"1": [1, 2], "2": [3]}.items():
        folder = tmp_path / "j" / f"day={day}"
        folder.mkdir()
        with gzip.open(folder / "part.json.gz", "wt") as out:
            out.writelines(json.dumps({"x": v}) + "\n" for v in values)
    ctx.register_json(
        "j",
        tmp_path / "j",
        file_extension=".json.gz",
        file_compression_type="gzip",
        table_partition_cols=[("day", pa.string())],
    )
    got = ctx.sql("SELECT day, sum(x) AS s FROM j GROUP BY day ORDER BY day").to_pydict()
    assert got == {"day": ["1", "2"], "s": [3, 3]}

    (tmp_path / "p" / "year=2024").mkdir(parents=True)
    pq.write_table(pa.table({"v": [3, 1, 2]}), tmp_path / "p" / "year=2024" / "a.parquet")
    # A type named by a string still works, with a deprecation warning.
    with pytest.warns(DeprecationWarning, match="'year'.*pass a pyarrow.DataType"):
        ctx.register_listing_table(
            "p",
            tmp_path / "p",
            table_partition_cols=[("year", "int")],
            file_sort_order=[[col("v")]],
        )
    assert ctx.sql("SELECT year, count(*) AS n FROM p GROUP BY year").to_pydict() == {
        "year": [2024],
        "n": [3],
    }
    # A store is registered for a URL's scheme and host: a bare path has none.
    with pytest.raises(ValueError, match="Cannot determine object store URL"):
        ctx.register_json("x", tmp_path, object_store=datafusion.object_store.LocalFileSystem())


def test_empty_table_and_sql_options(ctx: SessionContext) -> None:
    assert ctx.empty_table().select(lit(1).alias("one")).to_pydict() == {"one": [1]}
    no_ddl = SQLOptions().with_allow_ddl(False)
    with pytest.raises(ValueError, match="DDL not supported"):
        ctx.sql_with_options("CREATE TABLE x AS SELECT 1", no_ddl)
    assert not ctx.table_exist("x")
    no_dml = SQLOptions().with_allow_dml(False)
    ctx.sql("CREATE TABLE y (a INT)")
    with pytest.raises(ValueError, match="DML not supported"):
        ctx.sql("INSERT INTO y VALUES (1)", options=no_dml).collect()
    with pytest.raises(ValueError, match="not supported"):
        ctx.sql(
            "SET datafusion.execution.batch_size = 1", SQLOptions().with_allow_statements(False)
        )
    allowed = ctx.sql_with_options("SELECT count(*) AS n FROM t", no_ddl)
    assert allowed.to_pydict() == {"n": [6]}


def test_sql_parameters(ctx: SessionContext) -> None:
    got = ctx.sql(
        "SELECT t FROM t WHERE v > $low AND k = $key", param_values={"low": 2, "key": "b"}
    )
    assert sorted(got.to_pydict()["t"]) == [3, 4, 5]
    tricky = "it's $low"
    assert ctx.sql("SELECT $s AS s", param_values={"s": tricky}).to_pydict() == {"s": [tricky]}
    small = ctx.table("t").filter(col("t") < 3)
    got = ctx.sql("SELECT count(*) AS n FROM $frame WHERE t > $cut", frame=small, cut=1)
    assert got.to_pydict() == {"n": [1]}


def test_runtime_memory_limit_and_spilling(tmp_path: pathlib.Path) -> None:
    query = "SELECT value FROM generate_series(1, 2000000) ORDER BY value DESC"
    config = (
        SessionConfig()
        .with_target_partitions(1)
        .set("datafusion.execution.sort_spill_reservation_bytes", str(1 << 20))
    )
    tight = RuntimeEnvBuilder().with_greedy_memory_pool(1 << 20).with_disk_manager_disabled()
    with pytest.raises(datafusion.exceptions.DfshipError, match=r"(?i)resources exhausted"):
        SessionContext(config, tight).sql(query).collect()

    spill_dir = tmp_path / "spill"
    spill_dir.mkdir()
    spilling = RuntimeEnvBuilder().with_fair_spill_pool(4 << 20).with_temp_file_path(spill_dir)
    ctx = SessionContext(config, spilling)
    df = ctx.sql(query)
    result = df.limit(3).to_pydict()
    assert result == {"value": [2000000, 1999999, 1999998]}
    metrics = ctx.sql(f"EXPLAIN ANALYZE {query}").to_pydict()["plan"][0]
    assert "spill_count=" in metrics and "spill_count=0" not in metrics

    no_disk = RuntimeEnvBuilder().with_fair_spill_pool(4 << 20).with_disk_manager_disabled()
    with pytest.raises(datafusion.exceptions.DfshipError):
        SessionContext(config, no_disk).sql(query).collect()


def test_session_config_setters() -> None:
    config = (
        SessionConfig()
        .with_default_catalog_and_schema("shop", "sales")
        .with_create_default_catalog_and_schema(True)
        .with_repartition_aggregations(False)
        .with_repartition_joins(False)
        .with_repartition_windows(False)
        .with_repartition_sorts(False)
        .with_repartition_file_scans(False)
        .with_repartition_file_min_size(1234)
        .with_parquet_pruning(False)
        .with_information_schema(True)
    )
    options = config.options()
    assert options["datafusion.catalog.default_catalog"] == "shop"
    assert options["datafusion.optimizer.repartition_joins"] == "false"
    assert options["datafusion.optimizer.repartition_file_min_size"] == "1234"
    assert options["datafusion.execution.parquet.pruning"] == "false"
    ctx = SessionContext(config)
    ctx.from_pydict({"a": [1]}, name="orders")
    assert ctx.catalog("shop").schema("sales").table_names() == {"orders"}
    got = ctx.sql(
        "SELECT table_catalog, table_schema FROM information_schema.tables "
        "WHERE table_name = 'orders'"
    ).to_pydict()
    assert got == {"table_catalog": ["shop"], "table_schema": ["sales"]}


# -- errors: except clauses written for the datafusion package -------------------


def test_errors_are_the_builtin_types_datafusion_raises(ctx: SessionContext) -> None:
    with pytest.raises(ValueError, match="Expected: an SQL statement"):
        ctx.sql("SELEC 1")
    with pytest.raises(ValueError, match="Cannot coerce arithmetic expression"):
        ctx.sql("SELECT 'a' + 1")
    with pytest.raises(KeyError):
        ctx.table("missing")
    double = udf(lambda a: a, [pa.int64()], pa.int64(), "immutable", name="same_value")
    payload = double(col("t")).to_bytes()
    strict = SessionContext().with_python_udf_inlining(enabled=False)
    with pytest.raises(RuntimeError, match="inlin"):
        datafusion.Expr.from_bytes(payload, strict)
    with pytest.raises(RuntimeError):
        datafusion.Expr.from_bytes(b"garbage")


def test_user_code_runs_unchanged_in_a_worker_process(tmp_path: pathlib.Path) -> None:
    """A script in the datafusion style, with only the import changed."""
    script = tmp_path / "user_code.py"
    script.write_text(
        textwrap.dedent(
            """
            import dfship as datafusion
            from dfship import SessionContext, col, lit, functions as f

            ctx = SessionContext()
            df = ctx.from_pydict({"g": ["x", "y", "x"], "n": [1, 2, 3]})
            total = f.sum(col("double")).filter(col("n") > 1).build().alias("s")
            out = (
                df.with_columns(double=col("n") * lit(2))
                .aggregate([col("g")], [total])
                .sort(col("g"))
            )
            print(out.to_pydict())
            """
        )
    )
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, env=env
    )
    assert result.stdout.strip() == "{'g': ['x', 'y'], 's': [6, 4]}"
