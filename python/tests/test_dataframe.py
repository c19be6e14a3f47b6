"""DataFrame: transformations and results."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
from conftest import multi_partition_frame

import dfship
from dfship import DataFrame, SessionContext, col, lit
from dfship import functions as f
from dfship.exceptions import PlanError


def test_select_by_name_and_expression(people: DataFrame) -> None:
    assert people.select("name").to_pydict() == {"name": ["ann", "bob", "cid", "dee", None]}
    out = people.select(col("age") + 1, (col("salary") * 2).alias("double"))
    assert out.schema().names == ["age + Int64(1)", "double"]
    assert out.to_pydict()["double"] == [200.0, 300.0, 160.0, None, 240.0]


def test_with_column_adds_and_replaces(people: DataFrame) -> None:
    out = people.with_column("older", col("age") + lit(10)).with_column("age", lit(0))
    d = out.to_pydict()
    assert d["older"] == [41, 55, None, 38, 62]
    assert d["age"] == [0] * 5
    assert out.schema().names == ["name", "dept", "age", "salary", "older"]


def test_filter_with_several_predicates(people: DataFrame) -> None:
    out = people.filter(col("dept") == "eng", col("age") > 40).select("name")
    assert out.to_pydict() == {"name": ["bob", None]}
    assert people.filter() is people  # no predicate: the frame as it is
    # A string predicate is SQL, typed against the frame.
    sql = people.filter("age > 40", col("dept") == "eng").select("name")
    assert sql.to_pydict() == {"name": ["bob", None]}


def test_aggregate_with_and_without_groups(people: DataFrame) -> None:
    by_dept = people.aggregate(
        [col("dept")],
        [
            f.count(col("age")).alias("n"),
            f.avg(col("salary")).alias("avg"),
            f.max(col("age")).alias("oldest"),
        ],
    ).sort("dept")
    assert by_dept.to_pydict() == {
        "dept": ["eng", "ops"],
        "n": [3, 1],
        "avg": [123.33333333333333, 80.0],
        "oldest": [52, 28],
    }
    total = people.aggregate(None, [f.sum(col("salary")).alias("s")])
    assert total.to_pydict() == {"s": [450.0]}


def test_sort_directions_and_nulls(people: DataFrame) -> None:
    asc = (
        people.sort(col("age").sort(ascending=True, nulls_first=True))
        .select("age")
        .to_pydict()["age"]
    )
    assert asc == [None, 28, 31, 45, 52]
    desc = (
        people.sort(col("age").sort(ascending=False, nulls_first=False))
        .select("age")
        .to_pydict()["age"]
    )
    assert desc == [52, 45, 31, 28, None]
    two_keys = (
        people.sort("dept", col("salary").desc(nulls_first=False))
        .select("name")
        .to_pydict()["name"]
    )
    assert two_keys == ["bob", None, "ann", "cid", "dee"]


def test_limit_and_offset(people: DataFrame) -> None:
    ordered = people.sort("age")
    assert ordered.limit(2).select("age").to_pydict() == {"age": [28, 31]}
    assert ordered.limit(2, offset=3).select("age").to_pydict() == {"age": [52, None]}
    assert ordered.limit(0).count() == 0
    with pytest.raises(ValueError, match="negative"):
        people.limit(-1)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("inner", {"id": [2, 3], "l": ["b", "c"], "r": ["B", "C"]}),
        ("left", {"id": [1, 2, 3], "l": ["a", "b", "c"], "r": [None, "B", "C"]}),
        ("right", {"id": [2, 3, 4], "l": ["b", "c", None], "r": ["B", "C", "D"]}),
        ("full", {"id": [1, 2, 3, 4], "l": ["a", "b", "c", None], "r": [None, "B", "C", "D"]}),
        ("semi", {"id": [2, 3], "l": ["b", "c"]}),
        ("anti", {"id": [1], "l": ["a"]}),
    ],
)
def test_join_kinds(ctx: SessionContext, how: str, expected: dict[str, list[object]]) -> None:
    left = ctx.from_pydict({"id": [1, 2, 3], "l": ["a", "b", "c"]})
    right = ctx.from_pydict({"id": [2, 3, 4], "r": ["B", "C", "D"]})
    out = left.join(right, on="id", how=how).sort("id")  # type: ignore[arg-type]
    assert out.to_pydict() == expected


def test_join_with_different_key_names_keeps_both(ctx: SessionContext) -> None:
    left = ctx.from_pydict({"a": [1, 2], "x": [10, 20]})
    right = ctx.from_pydict({"b": [2, 3], "y": [200, 300]})
    out = left.join(right, left_on="a", right_on="b")
    assert out.to_pydict() == {"a": [2], "x": [20], "b": [2], "y": [200]}
    with pytest.raises(ValueError, match="either `on` or `left_on` and `right_on`"):
        left.join(right)
    with pytest.raises(ValueError, match="should not provided with `on`"):
        left.join(right, on="a", left_on="a", right_on="b")


def test_join_without_coalescing_keeps_both_keys(ctx: SessionContext) -> None:
    left = ctx.from_pydict({"id": [1, 2]})
    right = ctx.from_pydict({"id": [2, 3]})
    out = left.join(right, on="id", coalesce_duplicate_keys=False)
    assert out.schema().names == ["id", "id"]
    assert out.count() == 1


def test_join_on_registered_tables_and_unknown_key(ctx: SessionContext) -> None:
    a = ctx.from_pydict({"k": [1, 2], "x": ["p", "q"]}, name="a")
    b = ctx.from_pydict({"k": [2], "y": ["r"]}, name="b")
    assert a.join(b, on="k").to_pydict() == {"k": [2], "x": ["q"], "y": ["r"]}
    with pytest.raises(PlanError):
        a.join(b, on="nope")


def test_distinct(ctx: SessionContext) -> None:
    df = ctx.from_pydict({"a": [1, 1, 2, None, None]})
    assert sorted(df.distinct().to_pydict()["a"], key=lambda v: (v is None, v)) == [1, 2, None]


def test_results_in_every_shape(people: DataFrame) -> None:
    batches = people.collect()
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    table = people.to_arrow_table()
    assert table.num_rows == 5 and table.schema == people.schema()
    assert people.to_pylist()[0] == {"name": "ann", "dept": "eng", "age": 31, "salary": 100.0}
    assert pa.table(people).equals(table)
    assert pl.from_arrow(pa.table(people)).shape == (5, 4)
    assert pl.DataFrame(people).shape == (5, 4)
    assert people.count() == 5


def test_results_of_an_empty_frame(people: DataFrame) -> None:
    empty = people.filter(col("age") > 1000)
    assert empty.count() == 0
    assert empty.to_pydict() == {"name": [], "dept": [], "age": [], "salary": []}
    assert empty.to_pylist() == []
    assert empty.to_arrow_table().num_rows == 0
    assert "name" in repr(empty)


def test_schema_without_running(people: DataFrame) -> None:
    assert people.schema() == pa.schema(
        [
            ("name", pa.string()),
            ("dept", pa.string()),
            ("age", pa.int64()),
            ("salary", pa.float64()),
        ]
    )


def test_explain_prints_plans(people: DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    people.filter(col("age") > 30).explain()
    out = capsys.readouterr().out
    assert "logical_plan" in out and "physical_plan" in out
    people.filter(col("age") > 30).explain(analyze=True)
    analyzed = capsys.readouterr().out
    assert "Plan with Metrics" in analyzed and "output_rows=3" in analyzed


def test_show_and_repr_are_tables(people: DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    people.show(2)
    out = capsys.readouterr().out
    assert "| name | dept | age | salary |" in out
    assert "| ann  | eng  | 31  | 100.0  |" in out
    assert "dee" not in out
    assert "showing the first 2 rows" in out
    assert "| bob  |" in repr(people)


def test_multi_partition_aggregate_and_sort(ctx: SessionContext) -> None:
    df = multi_partition_frame(ctx, parts=4, rows=100)
    out = df.aggregate([col("k")], [f.sum(col("v")).alias("s")]).sort("k").to_pydict()
    assert out == {
        "k": [0, 1, 2, 3, 4],
        "s": [sum(i for i in range(100) if i % 5 == k) for k in range(5)],
    }
    assert df.sort(col("v").desc()).limit(3).to_pydict()["v"] == [99, 98, 97]


def test_version_is_exposed() -> None:
    assert dfship.__version__.count(".") == 2


def test_set_operations_keep_sql_multiplicities(ctx: dfship.SessionContext) -> None:
    a = ctx.from_pydict({"x": [1, 2, 2, 3]})
    b = ctx.from_pydict({"x": [2, 2, 2, 4]})

    def rows(df: dfship.DataFrame) -> list[int]:
        return sorted(df.to_pydict()["x"])

    assert rows(a.union(b)) == [1, 2, 2, 2, 2, 2, 3, 4]
    assert rows(a.union(b, distinct=True)) == rows(a.union_distinct(b)) == [1, 2, 3, 4]
    # DataFusion's ALL variants keep or drop each left row by membership in
    # the right side (a semi or anti join), not by counting copies.
    assert rows(a.intersect(b)) == [2, 2]
    assert rows(a.except_all(b)) == [1, 3]
    assert rows(b.except_all(a)) == [4]
    # The same through SQL, as the reference for the multiplicities.
    ctx.register_record_batches("ta", [a.collect()])
    ctx.register_record_batches("tb", [b.collect()])
    assert rows(ctx.sql("select x from ta intersect all select x from tb")) == rows(a.intersect(b))
    assert rows(ctx.sql("select x from ta except all select x from tb")) == rows(a.except_all(b))
    assert rows(ctx.sql("select x from tb except all select x from ta")) == rows(b.except_all(a))
    with pytest.raises(dfship.exceptions.PlanError):
        a.union(ctx.from_pydict({"x": [1], "y": [2]}))


def test_rename_and_drop_columns(ctx: dfship.SessionContext) -> None:
    df = ctx.from_pydict({"a": [1], "b": [2], "c": [3]})
    renamed = df.with_column_renamed("a", "z")
    assert renamed.schema().names == ["z", "b", "c"]
    assert renamed.drop("b", "c").to_pydict() == {"z": [1]}
    # Names that are not columns are ignored, as in the datafusion package.
    assert df.with_column_renamed("nope", "q").schema().names == ["a", "b", "c"]
    assert df.drop("nope").schema().names == ["a", "b", "c"]


def test_head_tail_with_columns_and_polars(ctx: dfship.SessionContext) -> None:
    df = ctx.from_pydict({"a": list(range(8))}).sort(col("a"))
    assert df.head().to_pydict() == {"a": [0, 1, 2, 3, 4]}
    assert df.tail().to_pydict() == {"a": [3, 4, 5, 6, 7]}
    assert df.tail(0).count() == 0
    assert df.tail(100).count() == 8
    with pytest.raises(ValueError, match="must not be negative"):
        df.tail(-1)
    out = df.head(2).with_columns([(col("a") + 1).alias("a")], b=col("a") * lit(2))
    # Replaced in place, then added; the keyword expression sees the new a.
    assert out.to_pydict() == {"a": [1, 2], "b": [2, 4]}
    frame = out.to_polars()
    assert isinstance(frame, pl.DataFrame)
    assert frame.to_dict(as_series=False) == {"a": [1, 2], "b": [2, 4]}


def test_fill_null_casts_per_column_and_skips_what_cannot_take_the_value(
    ctx: dfship.SessionContext,
) -> None:
    import datetime as dt

    df = ctx.from_pydict(
        {"i": [1, None], "f": [None, 2.5], "s": [None, "b"], "d": [dt.date(2024, 1, 1), None]}
    )
    assert df.fill_null(0, subset=["i", "f"]).to_pydict() == {
        "i": [1, 0],
        "f": [0.0, 2.5],
        "s": [None, "b"],
        "d": [dt.date(2024, 1, 1), None],
    }
    # A date fills only the date column: nothing else takes it.
    assert df.fill_null(dt.date(2000, 1, 1)).to_pydict()["d"] == [
        dt.date(2024, 1, 1),
        dt.date(2000, 1, 1),
    ]
    assert df.fill_null(dt.date(2000, 1, 1)).to_pydict()["i"] == [1, None]
    # Same names and types (a filled column is no longer nullable).
    assert [(f.name, f.type) for f in df.fill_null(0).schema()] == [
        (f.name, f.type) for f in df.schema()
    ]
    with pytest.raises(ValueError, match="no column named 'nope'"):
        df.fill_null(0, subset=["i", "nope"])


def test_from_polars_and_from_arrow_table(ctx: dfship.SessionContext) -> None:
    frame = pl.DataFrame({"a": [1, 2], "s": ["x", None]})
    assert ctx.from_polars(frame, name="p").to_pydict() == {"a": [1, 2], "s": ["x", None]}
    assert ctx.table("p").count() == 2
    table = pa.table({"a": [3]})
    assert ctx.from_arrow_table(table).to_pydict() == {"a": [3]}
