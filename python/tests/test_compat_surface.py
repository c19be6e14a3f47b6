"""The names added so code written for the `datafusion` package runs
unchanged: grouping sets, plan and expression kinds, the expression
helpers, literals with metadata and `Utf8View` strings, `dfship.common`,
and the function signatures the package uses (keyword arguments,
deprecation warnings for constant arguments given as expressions)."""

from __future__ import annotations

import pathlib
import pickle
import threading
import time
import warnings
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import dfship
from dfship import SessionContext, col, lit
from dfship import functions as f
from dfship.common import DFSchema, NullTreatment, SqlSchema
from dfship.expr import (
    EXPR_TYPE_ERROR,
    Aggregate,
    AggregateFunction,
    Column,
    Filter,
    GroupingSet,
    InList,
    Limit,
    Literal,
    Projection,
    Sort,
    TableScan,
    coerce_to_expr,
    coerce_to_expr_list,
    coerce_to_expr_or_none,
    ensure_expr,
    ensure_expr_list,
)


@pytest.fixture
def ctx() -> SessionContext:
    ctx = SessionContext()
    ctx.from_pydict({"a": [1, 1, 2], "b": ["x", "y", "x"], "c": [10, 20, 30]}, name="t")
    return ctx


def _rows(df: dfship.DataFrame) -> list[tuple[object, ...]]:
    table = df.to_arrow_table()
    return sorted(
        zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True),
        key=repr,
    )


def test_rollup_cube_and_grouping_sets_group_at_every_level(ctx: SessionContext) -> None:
    df = ctx.table("t")
    rollup = df.aggregate([GroupingSet.rollup("a", "b")], [f.sum(col("c")).alias("s")])
    assert _rows(rollup) == sorted(
        [(1, "x", 10), (1, "y", 20), (2, "x", 30), (1, None, 30), (2, None, 30), (None, None, 60)],
        key=repr,
    )
    cube = df.aggregate([GroupingSet.cube(col("a"), col("b"))], [f.sum(col("c")).alias("s")])
    assert len(_rows(cube)) == 8  # (a, b) 3 + (a) 2 + (b) 2 + () 1
    sets = df.aggregate(
        [GroupingSet.grouping_sets([col("a")], ["b"])],
        [f.sum(col("c")).alias("s"), f.grouping(col("a")).alias("ga")],
    )
    assert _rows(sets) == sorted(
        [(1, None, 30, 0), (2, None, 30, 0), (None, "x", 40, 1), (None, "y", 20, 1)], key=repr
    )
    assert repr(GroupingSet.rollup("a")) == "Expr(ROLLUP (a))"


def test_a_grouping_set_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown grouping set kind"):
        dfship._internal.grouping_set("pivot", [[col("a").raw]])
    with pytest.raises(ValueError, match="one list"):
        dfship._internal.grouping_set("rollup", [[col("a").raw], [col("b").raw]])


def test_plans_and_expressions_show_their_kinds(ctx: SessionContext) -> None:
    plan = ctx.sql("SELECT a, count(*) AS n FROM t WHERE c > 5 GROUP BY a").logical_plan()
    projection = plan.to_variant()
    assert isinstance(projection, Projection)
    assert [repr(e) for e in projection.projections()] == [
        "Expr(t.a)",
        "Expr(count(Int64(1)) AS count(*) AS n)",
    ]
    aggregate = projection.input()[0].to_variant()
    assert isinstance(aggregate, Aggregate)
    key = aggregate.group_by_exprs()[0].to_variant()
    assert isinstance(key, Column) and key.qualified_name() == "t.a"
    assert isinstance(aggregate.aggregate_exprs()[0].to_variant(), AggregateFunction)
    filt = aggregate.input()[0].to_variant()
    assert isinstance(filt, Filter)
    assert repr(filt.predicate()) == "Expr(t.c > Int64(5))"
    assert isinstance(filt.input()[0].to_variant(), TableScan)
    assert isinstance(ctx.sql("SELECT a FROM t ORDER BY a").logical_plan().to_variant(), Sort)


@pytest.mark.parametrize(
    ("sql", "skip", "fetch"),
    [
        ("SELECT a FROM t LIMIT 2", None, 2),
        ("SELECT a FROM t LIMIT 2 OFFSET 1", 1, 2),
        ("SELECT a FROM t OFFSET 1", 1, None),
    ],
)
def test_a_limit_tells_skip_from_fetch(
    ctx: SessionContext, sql: str, skip: int | None, fetch: int | None
) -> None:
    node = ctx.sql(sql).logical_plan().to_variant()
    assert isinstance(node, Limit)
    got_skip, got_fetch = node.skip(), node.fetch()
    assert (None if got_skip is None else got_skip.python_value().as_py()) == skip
    assert (None if got_fetch is None else got_fetch.python_value().as_py()) == fetch


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("CREATE INDEX i ON t (a)", "CreateIndex"),
        ("START TRANSACTION", "TransactionStart"),
        ("COMMIT", "TransactionEnd"),
        ("INSERT INTO t VALUES (3, 'z', 40)", "DmlStatement"),
        ("COPY t TO 'out.csv' STORED AS CSV", "CopyTo"),
        ("DESCRIBE t", "DescribeTable"),
        ("VALUES (1)", "Values"),
    ],
)
def test_statements_show_their_own_kind(ctx: SessionContext, sql: str, kind: str) -> None:
    plan = ctx.sql(sql).logical_plan()
    assert type(plan.to_variant()).__name__ == kind


def test_an_in_list_shows_its_parts(ctx: SessionContext) -> None:
    variant = col("b").in_list(["x", "q"]).to_variant()
    assert isinstance(variant, InList)
    assert isinstance(variant.expr().to_variant(), Column)
    assert repr(variant.list()) == repr([lit("x"), lit("q")])
    assert not variant.negated()
    assert col("b").in_list(["x"], negated=True).to_variant().negated()
    literal = lit(123).to_variant()
    assert isinstance(literal, Literal)
    assert (literal.value_i64(), literal.data_type()) == (123, "Int64")


def test_expression_helpers_refuse_or_wrap() -> None:
    e = col("a")
    assert ensure_expr(e) is e.expr is e.raw
    for bad in ("a", b"a", 1):
        with pytest.raises(
            TypeError, match=EXPR_TYPE_ERROR.replace("(", r"\(").replace(")", r"\)")
        ):
            ensure_expr(bad)
    assert ensure_expr_list([e, [col("b")]]) == [e.raw, col("b").raw]
    with pytest.raises(TypeError):
        ensure_expr_list("ab")
    assert coerce_to_expr(e) is e
    assert repr(coerce_to_expr(3)) == "Expr(Int64(3))"
    assert coerce_to_expr_or_none(None) is None
    assert [repr(x) for x in coerce_to_expr_list([1, "s"])] == [
        "Expr(Int64(1))",
        'Expr(Utf8View("s"))',
    ]


def test_string_literals_are_utf8view_unless_asked(ctx: SessionContext) -> None:
    assert repr(lit("s")) == 'Expr(Utf8View("s"))'
    assert repr(dfship.Expr.string_literal("s")) == 'Expr(Utf8("s"))'
    assert repr(lit(pa.scalar("s", pa.string()))) == 'Expr(Utf8("s"))'
    out = ctx.table("t").select(lit("k").alias("k"), dfship.Expr.string_literal("k").alias("u"))
    assert out.schema().field("k").type == pa.string_view()
    assert out.schema().field("u").type == pa.string()


def test_literal_metadata_reaches_the_field(ctx: SessionContext) -> None:
    out = ctx.table("t").select(dfship.lit_with_metadata(7, {"unit": "m"}).alias("x"))
    assert out.schema().field("x").metadata == {b"unit": b"m"}
    got = out.select(f.arrow_metadata(col("x"), "unit").alias("u")).to_pydict()
    assert got["u"][0] == "m"
    assert dfship.literal_with_metadata is dfship.lit_with_metadata


def test_function_signatures_of_the_package(ctx: SessionContext) -> None:
    df = ctx.from_pydict({"s": ["abcabc"], "v": [[3, None, 1]], "x": [1.0]})
    row = df.select(
        f.regexp_count(col("s"), "ABC", start=2, flags="i").alias("count"),
        f.regexp_instr(col("s"), "c", n=2).alias("instr"),
        f.array_sort(col("v"), descending=True, null_first=True).alias("sorted"),
        f.array_slice(col("v"), 1, 3, stride=2).alias("sliced"),
        f.array_position(col("v"), 1, index=2).alias("pos"),
        f.string_to_array(lit("a,NA,b"), ",", null_string="NA").alias("split"),
        f.overlay(col("s"), "XY", 2, 3).alias("overlay"),
        f.get_field(f.named_struct([("p", f.named_struct([("q", col("x"))]))]), "p", "q").alias(
            "nested"
        ),
        f.make_map({"k": 1}).alias("map"),
        f.arrow_cast(col("x"), pa.int32()).alias("cast"),
        f.generate_series(1, 5, 2).alias("series"),
    ).to_pylist()[0]
    assert row == {
        "count": 1,
        "instr": 6,
        "sorted": [None, 3, 1],
        "sliced": [3, 1],
        "pos": 3,
        "split": ["a", None, "b"],
        "overlay": "aXYbc",
        "nested": 1.0,
        "map": [("k", 1)],
        "cast": 1,
        "series": [1, 3, 5],
    }


def test_percentiles_read_their_sort_order() -> None:
    df = SessionContext().from_pydict({"a": [1.0, 2.0, 3.0, 4.0, 5.0]})
    got = df.aggregate(
        [],
        [
            f.percentile_cont(col("a"), 0.25).alias("p"),
            f.percentile_cont(col("a").sort(ascending=False), 0.25).alias("desc"),
            f.quantile_cont(col("a"), 0.5, filter=col("a") > 2).alias("q"),
            f.approx_percentile_cont(col("a"), 0.5, num_centroids=10).alias("approx"),
        ],
    ).to_pylist()[0]
    assert got == {"p": 2.0, "desc": 4.0, "q": 4.0, "approx": 3.0}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: f.encode(col("a"), lit("hex")), r"encode\(\) argument 'encoding'"),
        (lambda: f.digest(col("a"), lit("md5")), r"digest\(\) argument 'method'"),
        (lambda: f.arrow_cast(col("a"), lit("Int8")), r"arrow_cast\(\) argument 'data_type'"),
        (lambda: f.date_part(lit("year"), col("d")), r"date_part\(\) argument 'part'"),
        (lambda: f.extract(lit("year"), col("d")), r"extract\(\) argument 'part'"),
        (lambda: f.datetrunc(lit("day"), col("d")), r"datetrunc\(\) argument 'part'"),
    ],
)
def test_constant_arguments_given_as_expressions_warn(call: object, message: str) -> None:
    with pytest.warns(DeprecationWarning, match=message):
        call()  # type: ignore[operator]


def test_constant_arguments_given_as_values_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        f.encode(col("a"), "hex")
        f.arrow_cast(col("a"), "Int8")
        f.date_trunc("day", col("d"))


def test_with_metadata_and_make_map_refuse_bad_input() -> None:
    assert f.with_metadata(col("a"), {}) is not None
    with pytest.raises(ValueError, match="non-empty"):
        f.with_metadata(col("a"), {"": "v"})
    with pytest.raises(ValueError, match="same length"):
        f.make_map(["a", "b"], [1])
    with pytest.raises(ValueError, match="make_map"):
        f.make_map("a", 1, "b")
    with pytest.raises(ValueError, match="at least one field name"):
        f.get_field(col("s"))


def test_common_types() -> None:
    assert NullTreatment is dfship.NullTreatment
    assert DFSchema.empty().field_names() == []
    schema = DFSchema(pa.schema([("a", pa.int64())]), qualifier="t")
    assert (schema.field_names(), schema.qualifiers(), len(schema)) == (["a"], ["t"], 1)
    shared = SqlSchema("s")
    errors: list[BaseException] = []

    def rename(i: int) -> None:
        try:
            for _ in range(200):
                shared.name = f"s{i}"
                assert shared.name.startswith("s")
                shared.tables = [*shared.tables, i][-3:]
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=rename, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(shared.tables) == 3 and shared.views == [] and shared.functions == []


# -- DataFrame and SessionContext additions -----------------------------------


def test_explain_formats(ctx: SessionContext, capsys: pytest.CaptureFixture[str]) -> None:
    df = ctx.table("t").filter(col("a") > 1)
    for fmt, marker in [
        (dfship.ExplainFormat.TREE, "┌"),
        (dfship.ExplainFormat.PGJSON, '"Plan"'),
        (dfship.ExplainFormat.GRAPHVIZ, "digraph"),
        (dfship.ExplainFormat.INDENT, "FilterExec"),
    ]:
        df.explain(format=fmt)
        out = capsys.readouterr().out
        assert "plan_type" in out and marker in out, fmt


def test_parquet_writer_options_reach_the_file(ctx: SessionContext, tmp_path: Any) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "o.parquet"
    options = dfship.ParquetWriterOptions(
        compression="gzip",
        compression_level=7,
        max_row_group_size=2,
        created_by="dfship-test",
        column_specific_options={"b": dfship.ParquetColumnOptions(compression="snappy")},
    )
    ctx.table("t").write_parquet_with_options(out, options)
    meta = pq.ParquetFile(out).metadata
    assert meta.created_by == "dfship-test"
    assert meta.num_row_groups == 2
    columns = {meta.row_group(0).column(i).path_in_schema: i for i in range(3)}
    assert meta.row_group(0).column(columns["a"]).compression == "GZIP"
    assert meta.row_group(0).column(columns["b"]).compression == "SNAPPY"
    with pytest.raises(ValueError, match="Parquet option"):
        ctx.table("t").write_parquet_with_options(
            tmp_path / "bad.parquet", dfship.ParquetWriterOptions(writer_version="9.9")
        )


def test_write_table_appends_and_overwrite_is_typed(ctx: SessionContext) -> None:
    ctx.sql("CREATE TABLE dest (a BIGINT, b VARCHAR, c BIGINT)").collect()
    ctx.table("t").write_table("dest")
    ctx.table("t").filter(col("a") == 2).write_table("dest")
    assert ctx.table("dest").count() == 4
    with pytest.raises(ValueError, match="insert_op"):
        ctx.table("t").raw.write_table("dest", "upsert")


def test_frame_methods_of_the_package(ctx: SessionContext) -> None:
    df = ctx.table("t")
    assert df["a"].schema().names == ["a"]
    assert df[["b", "a"]].schema().names == ["b", "a"]
    assert repr(df.column("a")) == "Expr(t.a)"
    assert repr(df.alias("u").column("a")) == "Expr(u.a)"
    assert repr(df.parse_sql_expr("a + 1")) == "Expr(t.a + Int64(1))"
    assert df.select_exprs("a * 2 AS d").to_pydict() == {"d": [2, 2, 4]}
    assert df.cast({"a": pa.int8()}).schema().field("a").type == pa.int8()
    assert df.collect_column("c").to_pylist() == [10, 20, 30]
    assert df.transform(lambda d, n: d.limit(n), 1).count() == 1
    assert df.sort_by("c").collect_column("c").to_pylist() == [10, 20, 30]
    other = ctx.from_pydict({"c": [99], "a": [7]})
    both = df.select("a", "c").union_by_name(other).sort(col("c"))
    assert both.to_pydict() == {"a": [1, 1, 2, 7], "c": [10, 20, 30, 99]}
    firsts = df.distinct_on([col("a")], [col("a"), col("c")], [col("a"), col("c").sort(False)])
    assert firsts.sort(col("a")).to_pydict() == {"a": [1, 2], "c": [20, 30]}
    ranked = df.window(f.row_number(order_by=[col("c")]).alias("r")).sort(col("c"))
    assert ranked.collect_column("r").to_pylist() == [1, 2, 3]
    with pytest.raises(dfship.exceptions.DfshipError):
        df.find_qualified_columns("nope")


def test_csv_read_options(ctx: SessionContext, tmp_path: Any) -> None:
    path = tmp_path / "x.txt"
    path.write_text("# a comment\n1;'p;q'\n2;r\n")
    options = (
        dfship.CsvReadOptions(has_header=False, delimiter=";")
        .with_quote("'")
        .with_comment("#")
        .with_null_regex("NA")
        .with_file_extension(".txt")
    )
    got = ctx.read_csv(path, options=options).to_pydict()
    assert got == {"column_1": [1, 2], "column_2": ["p;q", "r"]}
    ctx.register_csv("x", path, options=options)
    assert ctx.table("x").count() == 2
    with pytest.raises(ValueError, match="single character"):
        dfship.CsvReadOptions(delimiter=";;")
    with pytest.raises(ValueError, match="unknown CSV option"):
        ctx.raw.read_csv([str(path)], dialect=[("quoting", "'")])
    with pytest.raises(ValueError, match="true or false"):
        ctx.raw.read_csv([str(path)], dialect=[("truncated_rows", "yes")])
    with pytest.raises(TypeError, match="CsvReadOptions"):
        ctx.read_csv(path, options={"delimiter": ";"})  # type: ignore[arg-type]


def test_arrow_ipc_files(ctx: SessionContext, tmp_path: Any) -> None:
    import pyarrow.feather as feather

    feather.write_feather(pa.table({"a": [1, 2]}), tmp_path / "f.arrow", compression="uncompressed")
    assert ctx.read_arrow(str(tmp_path / "f.arrow")).to_pydict() == {"a": [1, 2]}
    ctx.register_arrow("f", str(tmp_path))
    assert ctx.sql("SELECT sum(a) AS s FROM f").to_pydict() == {"s": [3]}
    with pytest.raises(NotImplementedError, match="Avro"):
        ctx.read_avro(str(tmp_path / "x.avro"))


def test_session_methods_of_the_package(ctx: SessionContext) -> None:
    plan = ctx.table("t").filter(col("a") == 2).logical_plan()
    assert ctx.execute_logical_plan(plan).to_pydict() == {"a": [2], "b": ["x"], "c": [30]}
    schema = DFSchema(pa.schema([("a", pa.int64())]), qualifier="t")
    assert repr(ctx.parse_sql_expr("a > 1", schema)) == "Expr(t.a > Int64(1))"
    assert repr(ctx.parse_sql_expr("1 + 2", DFSchema.empty())) == "Expr(Int64(1) + Int64(2))"
    import datetime as dt

    assert dt.datetime.fromisoformat(ctx.session_start_time()[:26]).year >= 2024
    assert ctx.remove_optimizer_rule("push_down_filter") is True
    assert ctx.remove_optimizer_rule("push_down_filter") is False
    assert ctx.enable_ident_normalization() is True
    ctx.sql("SET datafusion.sql_parser.enable_ident_normalization = false")
    assert ctx.enable_ident_normalization() is False
    assert "abs" in ctx.udfs() and "sum" in ctx.udafs() and "row_number" in ctx.udwfs()
    assert ctx.read_empty().collect()[0].num_columns == 0
    batch = pa.record_batch({"z": [5]})
    assert ctx.read_batch(batch).to_pydict() == {"z": [5]}
    assert ctx.read_batches([batch, batch]).count() == 2
    ctx.register_batch("zb", batch)
    assert ctx.table("zb").to_pydict() == {"z": [5]}
    table = ctx.catalog().schema().table("t")
    assert ctx.read_table(table).count() == 3
    assert "__dfship_read_table" not in " ".join(ctx.tables())


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/local/file.parquet", "Cannot determine object store URL"),
        ("relative/f.parquet", "Cannot determine object store URL"),
        ("s3:///key.parquet", "must include a host or bucket"),
        ("C:\\data\\f.parquet", "must include a host or bucket"),
    ],
)
def test_object_store_paths_must_be_urls(ctx: SessionContext, path: str, message: str) -> None:
    from dfship.object_store import LocalFileSystem

    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ctx.read_parquet(path, object_store=LocalFileSystem())


# -- HTML rendering ----------------------------------------------------------------


@pytest.fixture
def formatter_reset() -> Any:
    from dfship.dataframe_formatter import reset_formatter

    reset_formatter()
    yield
    reset_formatter()


def test_html_rows_bounded_by_rows_and_memory(formatter_reset: None) -> None:
    from dfship.dataframe_formatter import configure_formatter

    df = SessionContext().from_pydict({"a": list(range(50)), "s": ["v" * 40] * 50})
    html = df._repr_html_()
    assert html.count("<tr") == 11 and "Data truncated" in html  # default: 10 rows
    assert "expandable-container" in html
    configure_formatter(max_rows=100, min_rows=2)
    assert df._repr_html_().count("<tr") == 51
    configure_formatter(max_rows=100, min_rows=3, max_memory_bytes=10)
    html = df._repr_html_()
    assert html.count("<tr") == 4 and "Data truncated" in html
    configure_formatter(
        enable_cell_expansion=False, max_cell_length=5, show_truncation_message=False
    )
    html = df._repr_html_()
    assert "expandable-container" not in html and "vvvvv..." in html
    assert "Data truncated" not in html


def test_html_customisation(formatter_reset: None) -> None:
    from dfship.dataframe_formatter import (
        DataFrameHtmlFormatter,
        configure_formatter,
        get_formatter,
        set_formatter,
    )

    df = SessionContext().from_pydict({"a": [1, 7], "b": ["<x>", None]})
    get_formatter().register_formatter(int, lambda v: f"<i>{v * 10}</i>")
    html = df._repr_html_()
    assert "<i>10</i>" in html and "<i>70</i>" in html and "&lt;x&gt;" in html
    set_formatter(DataFrameHtmlFormatter(use_shared_styles=False))
    get_formatter().set_custom_header_builder(lambda field: f"<th title='t'>{field.name}!</th>")
    get_formatter().set_custom_cell_builder(lambda v, r, c, t: f"<td>{r}:{c}:{v}</td>")
    html = df._repr_html_()
    assert "<th title='t'>a!</th>" in html and "<td>1:1:None</td>" in html
    assert "df-styles" in html and "<style>" not in html
    with pytest.raises(ValueError, match="Invalid formatter parameters"):
        configure_formatter(not_a_setting=1)
    for bad in ({"max_rows": 0}, {"min_rows": 5, "max_rows": 4}, {"max_memory_bytes": -1}):
        with pytest.raises(ValueError, match=r"max_rows|max_memory_bytes"):
            DataFrameHtmlFormatter(**bad)
    with pytest.warns(DeprecationWarning, match="repr_rows"):
        assert DataFrameHtmlFormatter(repr_rows=12).max_rows == 12
    text = get_formatter().format_str(df.collect(), df.schema())
    assert text.splitlines()[1] == "| a | b   |"


def test_union_extract_and_expression_slices() -> None:
    union = pa.UnionArray.from_sparse(
        pa.array([0, 1, 0], pa.int8()), [pa.array([1, 2, 3]), pa.array(["x", "y", "z"])], ["n", "s"]
    )
    ctx = SessionContext()
    df = ctx.from_arrow(pa.table({"u": union, "l": [[1, 2, 3, 4]] * 3, "i": [0, 1, 2]}))
    got = df.select(
        f.union_extract(col("u"), "s").alias("s"),
        col("l")[col("i") : col("i") + 2].alias("window"),
        col("l")[lit(0) : lit(4) : lit(2)].alias("stepped"),
    ).to_pydict()
    assert got == {
        "s": [None, "y", None],
        "window": [[1, 2], [2, 3], [3, 4]],
        "stepped": [[1, 3]] * 3,
    }
    with pytest.raises(TypeError, match="int or Expr"):
        col("l")[lit(0) : "x"]
    assert f.gen_series.__name__ == "gen_series" and f.list_sort.__name__ == "list_sort"


def test_registered_functions_by_name(ctx: SessionContext) -> None:
    shout = dfship.udf(
        lambda s: pa.compute.utf8_upper(s), [pa.string()], pa.string(), "immutable", name="shout"
    )
    ctx.register_udf(shout)
    df = ctx.table("t")
    assert df.select(ctx.udf("shout")(col("b")).alias("u")).to_pydict() == {"u": ["X", "Y", "X"]}
    assert df.aggregate([], [ctx.udaf("sum")(col("c")).alias("s")]).to_pydict() == {"s": [60]}
    ranked = df.select(ctx.udwf("row_number")().over(dfship.Window(order_by=[col("c")])).alias("r"))
    assert sorted(ranked.to_pydict()["r"]) == [1, 2, 3]
    for lookup, what in ((ctx.udf, "UDF"), (ctx.udaf, "UDAF"), (ctx.udwf, "UDWF")):
        with pytest.raises(KeyError, match=f"no {what} named"):
            lookup("nope")
    with pytest.raises(ValueError, match="kind must be"):
        ctx.raw.call_registered("table", "sum", [])


def test_lambdas_build_check_and_ship() -> None:
    import pickle

    df = SessionContext().from_pydict({"a": [[1, 2, 3], [4, 5]]})
    expr = f.array_transform(col("a"), lambda value: value * 2)
    assert "value" in expr.canonical_name()
    shipped = pickle.loads(pickle.dumps(expr))
    assert df.select(shipped.alias("r")).to_pydict() == {"r": [[2, 4, 6], [8, 10]]}
    constant = f.array_transform(col("a"), lambda v: 0)
    assert df.select(constant.alias("r")).to_pydict() == {"r": [[0, 0, 0], [0, 0]]}
    with pytest.raises(TypeError, match="expected an Expr or callable"):
        f.array_transform(col("a"), 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one parameter"):
        f.array_transform(col("a"), lambda: lit(1))
    with pytest.raises(ValueError, match="no higher-order function"):
        dfship._internal.higher_order_function("array_fold", [col("a").raw])


def test_arrow_export_takes_a_requested_schema() -> None:
    df = SessionContext().from_pydict({"a": [1, 2], "b": [3, 4], "c": [5, 6]})
    table = pa.table(df, schema=pa.schema([("c", pa.int64()), ("a", pa.int64())]))
    assert table.to_pydict() == {"c": [5, 6], "a": [1, 2]}
    missing = pa.table(df, schema=pa.schema([("g", pa.string())]))
    assert missing.to_pydict() == {"g": [None, None]}
    with pytest.raises(ValueError, match="Fail to merge schema field 'a'"):
        pa.table(df, schema=pa.schema([("a", pa.string())]))
    batches = [b.to_pyarrow() for b in df]
    assert sum(b.num_rows for b in batches) == 2


# -- metrics of the run a frame last made -------------------------------------


def _filtered(ctx: SessionContext) -> dfship.DataFrame:
    ctx.sql("CREATE TABLE t AS VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    return ctx.sql("SELECT * FROM t WHERE column1 > 1")


def _rows_by_node(df: dfship.DataFrame) -> dict[str, int | None]:
    return {name: m.output_rows for name, m in df.execution_plan().collect_metrics()}


@pytest.mark.parametrize(
    "run",
    [
        lambda df: df.collect(),
        lambda df: df.collect_partitioned(),
        lambda df: list(df.execute_stream()),
        lambda df: [list(s) for s in df.execute_stream_partitioned()],
        lambda df: df.to_arrow_table(),
    ],
    ids=["collect", "collect_partitioned", "stream", "streams", "arrow"],
)
def test_a_run_leaves_its_metrics_on_the_frame(run: Any) -> None:
    df = _filtered(SessionContext())
    assert not any(_rows_by_node(df).values())  # planned, not run
    run(df)
    rows = _rows_by_node(df)
    assert rows["FilterExec"] == 2
    names = {m.name for _, ms in df.execution_plan().collect_metrics() for m in ms.metrics()}
    assert {"output_rows", "elapsed_compute"} <= names


def test_metrics_carry_partitions_labels_and_timestamps() -> None:
    df = _filtered(SessionContext())
    df.collect()
    metrics = [m for _, ms in df.execution_plan().collect_metrics() for m in ms.metrics()]
    stamps = [m for m in metrics if m.name in ("start_timestamp", "end_timestamp")]
    counts = [m for m in metrics if m.name == "output_rows"]
    assert counts and all(isinstance(m.value, int) for m in counts)
    assert all(m.value_as_datetime is None for m in counts)
    assert all(m.partition is None or m.partition >= 0 for m in metrics)
    assert all(isinstance(m.labels(), dict) for m in metrics)
    for stamp in stamps:
        if stamp.value is not None:
            assert stamp.value == stamp.value_as_datetime
            assert stamp.value.tzinfo is not None
            assert abs(stamp.value.timestamp() - time.time()) < 3600
    filter_set = dict(df.execution_plan().collect_metrics())["FilterExec"]
    assert filter_set.sum_by_name("output_rows") == 2
    assert filter_set.sum_by_name("no_such_metric") is None
    assert "output_rows" in repr(filter_set)


def test_a_new_frame_forgets_the_run_of_the_one_it_came_from() -> None:
    df = _filtered(SessionContext())
    df.collect()
    later = df.limit(1)
    assert not any(_rows_by_node(later).values())


def test_plan_bytes_take_the_context_on_either_side(ctx: SessionContext) -> None:
    df = ctx.from_pydict({"a": [1, 2, 3]}).filter(col("a") > 1)
    blob = df.execution_plan().to_bytes()
    for plan in (
        dfship.ExecutionPlan.from_bytes(blob, ctx),
        dfship.ExecutionPlan.from_bytes(ctx, blob),
    ):
        assert sum(b.num_rows for b in plan.collect()) == 2
    with pytest.warns(DeprecationWarning, match="to_proto"):
        legacy = df.execution_plan().to_proto()
    with pytest.warns(DeprecationWarning, match="from_proto"):
        plan = dfship.ExecutionPlan.from_proto(ctx, legacy)
    assert sum(b.num_rows for b in plan.collect()) == 2


def test_decorated_udfs_are_named_after_their_definitions() -> None:
    @dfship.udf([pa.int64()], pa.int64(), "immutable")
    def double(x: pa.Array) -> pa.Array:
        """Twice x."""
        return pc.multiply(x, 2)

    assert double.__name__ == "double"
    assert double.__doc__ == "Twice x."
    assert double.__wrapped__.__name__ == "double"
    assert double.name == "double"
    plain = dfship.udf(lambda x: x, [pa.int64()], pa.int64(), "immutable", name="same")
    assert not hasattr(plain, "__name__")
    # Calls still build expressions that ship.
    expr = pickle.loads(pickle.dumps(double(col("a"))))
    assert SessionContext().from_pydict({"a": [2]}).select(expr.alias("d")).to_pydict() == {
        "d": [4]
    }


def test_comparing_with_none_tests_for_null(ctx: SessionContext) -> None:
    df = ctx.from_pydict({"a": [1, None, 3], "b": ["x", "y", None]})
    assert df.filter(col("a") == None).count() == 1  # noqa: E711
    assert df.filter(col("a") != None).count() == 2  # noqa: E711
    assert df.filter(col("b") == None).to_pydict() == {"a": [3], "b": [None]}  # noqa: E711
    # A null literal still compares as SQL does: never true.
    assert df.filter(col("a") == lit(None)).count() == 0


def test_columns_by_attribute(ctx: SessionContext) -> None:
    df = ctx.from_pydict({"s": [{"name": "x", "n": 1}], "total": [2]})
    out = df.select(col.s["name"].alias("name"), col.total).to_pydict()
    assert out == {"name": ["x"], "total": [2]}
    assert repr(col.total) == repr(col("total")) == "Expr(total)"
    with pytest.raises(AttributeError):
        col.__wrapped__  # noqa: B018
    assert pickle.loads(pickle.dumps(col)) is not None


def test_reader_options_are_checked_with_the_reason(
    ctx: SessionContext, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r'delimiter must be a single character.*"wrong"'):
        ctx.register_csv("c", path, delimiter="wrong")
    with pytest.raises(
        ValueError, match=r'file_compression_type must be one of: gzip, bz2, xz, zstd.*"rar"'
    ):
        ctx.register_csv("c", path, file_compression_type="rar")
    ctx.register_csv("c", path)
    assert ctx.sql("SELECT b FROM c").to_pydict() == {"b": [2]}
