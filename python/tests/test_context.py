"""SessionContext: getting data in, SQL, tables, the global session."""

from __future__ import annotations

import json

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import dfship
from dfship import SessionConfig, SessionContext, col
from dfship.exceptions import PlanError


def test_from_pydict_and_pylist_round_trip(ctx: SessionContext) -> None:
    data = {"a": [1, None, 3], "b": ["x", "y", None]}
    assert ctx.from_pydict(data).to_pydict() == data
    rows = [{"a": 1, "b": "x"}, {"a": None, "b": None}]
    assert ctx.from_pylist(rows).to_pylist() == rows


def test_from_pydict_empty_columns(ctx: SessionContext) -> None:
    df = ctx.from_pydict({"a": pa.array([], pa.int64())})
    assert df.count() == 0
    assert df.to_pydict() == {"a": []}
    assert df.schema().field("a").type == pa.int64()


def test_from_arrow_accepts_tables_batches_readers_and_polars(ctx: SessionContext) -> None:
    table = pa.table({"a": [1, 2, 3]})
    expected = {"a": [1, 2, 3]}
    assert ctx.from_arrow(table).to_pydict() == expected
    assert ctx.from_arrow(table.to_batches()[0]).to_pydict() == expected
    assert (
        ctx.from_arrow(
            pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        ).to_pydict()
        == expected
    )
    assert ctx.from_arrow(pl.DataFrame({"a": [1, 2, 3]})).to_pydict() == expected


def test_from_arrow_refuses_non_arrow_objects(ctx: SessionContext) -> None:
    with pytest.raises(TypeError, match="does not export Arrow data"):
        ctx.from_arrow([1, 2, 3])


def test_named_frames_are_queryable_by_sql(ctx: SessionContext) -> None:
    ctx.from_pydict({"a": [1, 2, 3]}, name="t")
    assert ctx.table_exist("t")
    assert ctx.sql("SELECT sum(a) AS s FROM t").to_pydict() == {"s": [6]}
    assert ctx.table("t").count() == 3
    ctx.deregister_table("t")
    assert not ctx.table_exist("t")


def test_create_dataframe_keeps_partitions(ctx: SessionContext) -> None:
    batches = [[pa.record_batch({"a": [i, i + 10]})] for i in range(4)]
    df = ctx.create_dataframe(batches, name="parts")
    assert len(df.collect()) == 4
    assert sorted(df.to_pydict()["a"]) == [0, 1, 2, 3, 10, 11, 12, 13]


def test_create_dataframe_with_no_batches_needs_a_schema(ctx: SessionContext) -> None:
    with pytest.raises(ValueError, match="schema"):
        ctx.create_dataframe([[]])
    df = ctx.create_dataframe([[]], schema=pa.schema([("a", pa.int32())]))
    assert df.count() == 0
    assert df.schema() == pa.schema([("a", pa.int32())])


def test_create_dataframe_refuses_mismatched_batches(ctx: SessionContext) -> None:
    with pytest.raises(PlanError, match=r"(?i)mismatch"):
        ctx.create_dataframe([[pa.record_batch({"a": [1]})], [pa.record_batch({"b": ["x"]})]])


def test_register_record_batches(ctx: SessionContext) -> None:
    ctx.register_record_batches(
        "rb", [[pa.record_batch({"a": [1, 2]})], [pa.record_batch({"a": [3]})]]
    )
    assert ctx.sql("SELECT count(*) AS n, max(a) AS m FROM rb").to_pydict() == {"n": [3], "m": [3]}


def test_parquet_read_and_register(ctx: SessionContext, tmp_path) -> None:
    path = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]}), path)
    assert ctx.read_parquet(path).filter(col("a") >= 2).to_pydict() == {
        "a": [2, 3],
        "b": ["y", "z"],
    }
    ctx.register_parquet("pq", str(path))
    assert ctx.sql("SELECT b FROM pq WHERE a = 1").to_pydict() == {"b": ["x"]}


def test_csv_read_and_register(ctx: SessionContext, tmp_path) -> None:
    path = tmp_path / "data.csv"
    pacsv.write_csv(pa.table({"a": [1, 2], "b": ["p", "q"]}), path)
    assert ctx.read_csv(path).sort("a").to_pydict() == {"a": [1, 2], "b": ["p", "q"]}
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("a;b\n5;z\n")
    assert ctx.read_csv(semicolons, delimiter=";").to_pydict() == {"a": [5], "b": ["z"]}
    ctx.register_csv("c", path)
    assert ctx.sql("SELECT sum(a) AS s FROM c").to_pydict() == {"s": [3]}


def test_csv_with_explicit_schema_and_no_header(ctx: SessionContext, tmp_path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("1,x\n2,y\n")
    schema = pa.schema([("n", pa.int32()), ("s", pa.string())])
    df = ctx.read_csv(path, schema=schema, has_header=False)
    assert df.schema() == schema
    assert df.to_pydict() == {"n": [1, 2], "s": ["x", "y"]}


def test_json_read(ctx: SessionContext, tmp_path) -> None:
    path = tmp_path / "rows.json"
    path.write_text("\n".join(json.dumps({"a": i, "b": f"s{i}"}) for i in range(3)))
    assert ctx.read_json(path).sort("a").to_pydict() == {"a": [0, 1, 2], "b": ["s0", "s1", "s2"]}


def test_missing_file_is_a_typed_error(ctx: SessionContext, tmp_path) -> None:
    with pytest.raises(dfship.exceptions.DfshipError):
        ctx.read_parquet(tmp_path / "nope.parquet")


def test_module_level_readers_use_the_global_session(tmp_path) -> None:
    path = tmp_path / "g.parquet"
    pq.write_table(pa.table({"a": [7]}), path)
    assert dfship.read_parquet(path).to_pydict() == {"a": [7]}
    csv_path = tmp_path / "g.csv"
    csv_path.write_text("a\n8\n")
    assert dfship.read_csv(csv_path).to_pydict() == {"a": [8]}
    json_path = tmp_path / "g.json"
    json_path.write_text('{"a": 9}\n')
    assert dfship.read_json(json_path).to_pydict() == {"a": [9]}


def test_global_ctx_is_one_session() -> None:
    g = SessionContext.global_ctx()
    assert g is SessionContext.global_ctx()
    g.from_pydict({"a": [1]}, name="global_t")
    try:
        # Another wrapper on the raw global session sees the same tables.
        assert SessionContext._wrap(dfship._internal.SessionContext.global_ctx()).table_exist(
            "global_t"
        )
    finally:
        g.deregister_table("global_t")
    assert SessionContext().session_id != g.session_id


def test_config_target_partitions_shapes_the_plan() -> None:
    ctx = SessionContext(SessionConfig().with_target_partitions(3))
    df = ctx.from_pydict({"a": list(range(100))})
    out = df.aggregate([col("a") % 7], [dfship.functions.count()])
    assert out.count() == 7
    assert "Hash(" in out.raw.explain(False, False) and ", 3)" in out.raw.explain(False, False)
    assert SessionConfig().with_target_partitions(3).target_partitions == 3
    with pytest.raises(ValueError, match="at least 1"):
        SessionConfig().with_target_partitions(0)


def test_config_set_and_options() -> None:
    config = SessionConfig({"datafusion.execution.batch_size": "1024"}).set(
        "datafusion.catalog.information_schema", "true"
    )
    assert config.batch_size == 1024
    assert config.options()["datafusion.catalog.information_schema"] == "true"
    ctx = SessionContext(config)
    assert ctx.sql("SELECT count(*) AS n FROM information_schema.tables").to_pydict()["n"][0] > 0
    with pytest.raises(dfship.exceptions.DfshipError):
        SessionConfig().set("datafusion.no_such_option", "1")


def test_sql_errors_are_plan_errors(ctx: SessionContext) -> None:
    with pytest.raises(PlanError, match="nowhere"):
        ctx.sql("SELECT * FROM nowhere")
    with pytest.raises(PlanError):
        ctx.sql("SELEKT 1")


def test_sql_ddl_runs_eagerly(ctx: SessionContext) -> None:
    ctx.sql("CREATE TABLE made AS VALUES (1, 'a'), (2, 'b')")
    assert ctx.table("made").count() == 2
