"""Logical plans travel in a checked frame (magic DFSL) under the session's
limits, like expressions and physical plans: over files, with Python UDFs
inline, by pickle and into another process; damaged or foreign bytes and
plans that cannot be described are refused with typed errors."""

from __future__ import annotations

import multiprocessing as mp
import pathlib
import pickle

import _frames
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from _workers import make_closure_udf

import dfship
from dfship import Expr, LogicalPlan, SessionContext, col, lit
from dfship.exceptions import (
    CorruptPayloadError,
    ExpressionTooDeepError,
    PayloadTooLargeError,
    PlanError,
    UnsupportedFormatError,
)


@pytest.fixture
def files(tmp_path: pathlib.Path) -> pathlib.Path:
    pq.write_table(pa.table({"k": [1, 2, 1, 3], "a": [10, 20, 30, 40]}), tmp_path / "t.parquet")
    return tmp_path / "t.parquet"


def query(ctx: SessionContext, path: pathlib.Path) -> dfship.DataFrame:
    ctx.register_parquet("t", path)
    scaled = make_closure_udf(2, {"bias": 1})(col("a")).alias("s")
    return (
        ctx.sql("SELECT k, a FROM t WHERE a > (SELECT min(a) FROM t)")
        .select(col("k"), scaled)
        .aggregate([col("k")], [dfship.functions.sum(col("s")).alias("total")])
        .sort(col("k"))
    )


def run(plan: LogicalPlan, ctx: SessionContext) -> dict[str, list[object]]:
    return ctx.create_dataframe_from_logical_plan(plan).to_pydict()


def test_a_plan_over_files_with_a_python_udf_round_trips(files: pathlib.Path) -> None:
    df = query(SessionContext(), files)
    expected = df.to_pydict()
    assert expected == {"k": [1, 2, 3], "total": [61, 41, 81]}
    blob = df.logical_plan().to_bytes()
    assert blob[:4] == b"DFSL"
    receiver = SessionContext()
    receiver.register_parquet("t", files)
    assert run(LogicalPlan.from_bytes(blob, receiver), receiver) == expected
    # The context may come first, as in the datafusion package; pickle works too.
    assert run(LogicalPlan.from_bytes(receiver, blob), receiver) == expected
    assert run(pickle.loads(pickle.dumps(df.logical_plan())), receiver) == expected


def _decode_in_child(blob: bytes, path: str) -> dict[str, list[object]]:
    ctx = SessionContext()
    ctx.register_parquet("t", path)
    return run(LogicalPlan.from_bytes(blob, ctx), ctx)


def test_a_plan_runs_in_a_spawned_process(files: pathlib.Path) -> None:
    df = query(SessionContext(), files)
    with mp.get_context("spawn").Pool(1) as pool:
        got = pool.apply(_decode_in_child, (df.logical_plan().to_bytes(), str(files)))
    assert got == df.to_pydict()


def test_frames_are_checked(files: pathlib.Path) -> None:
    blob = query(SessionContext(), files).logical_plan().to_bytes()
    header, body = _frames.split(blob)
    with pytest.raises(CorruptPayloadError, match="expected DFSL"):
        LogicalPlan.from_bytes((col("a") + 1).to_bytes())
    with pytest.raises(CorruptPayloadError, match="expected DFSE"):
        Expr.from_bytes(blob)
    with pytest.raises(CorruptPayloadError, match="truncated"):
        LogicalPlan.from_bytes(blob[:-5])
    damaged = bytearray(blob)
    damaged[len(header) + 3] ^= 0x10
    with pytest.raises(CorruptPayloadError):
        LogicalPlan.from_bytes(bytes(damaged))
    with pytest.raises(UnsupportedFormatError, match="signed"):
        LogicalPlan.from_bytes(_frames.seal(header, body, tag=b"\0" * 40))
    # The inline flag must match the body.
    cleared = _frames.seal(header[:5] + bytes([header[5] & ~0x01]), body)
    with pytest.raises(CorruptPayloadError, match="flag is clear"):
        LogicalPlan.from_bytes(cleared)
    small = SessionContext().with_wire_limits(max_payload_bytes=100)
    with pytest.raises(PayloadTooLargeError):
        LogicalPlan.from_bytes(blob, small)
    # Nesting past the limit is refused before anything decodes it.
    nested = _frames.seal(header[:5] + bytes([header[5] & ~0x01]), _frames.nested_messages(1000))
    shallow = SessionContext().with_wire_limits(max_depth=50)
    with pytest.raises(ExpressionTooDeepError, match="nests 1000 protobuf messages deep"):
        LogicalPlan.from_bytes(nested, shallow)


def test_signed_sessions_sign_and_verify_plans(files: pathlib.Path) -> None:
    key = b"k" * 32
    signer = SessionContext().with_payload_key(key)
    plan = query(SessionContext(), files).logical_plan()
    blob = plan.to_bytes(signer)
    receiver = SessionContext().with_payload_key(key)
    receiver.register_parquet("t", files)
    assert run(LogicalPlan.from_bytes(blob, receiver), receiver)["k"] == [1, 2, 3]
    with pytest.raises(dfship.exceptions.SignatureError, match="not signed"):
        LogicalPlan.from_bytes(plan.to_bytes(), receiver)


def test_depth_is_bounded_on_encode_and_decode() -> None:
    e = col("a")
    for _ in range(60):
        e = e + col("a")
    plan = SessionContext().sql("SELECT 1 AS a").select(e.alias("x")).logical_plan()
    shallow = SessionContext().with_wire_limits(max_depth=20)
    with pytest.raises(ExpressionTooDeepError, match="at encode"):
        plan.to_bytes(shallow)
    blob = plan.to_bytes()
    with pytest.raises(ExpressionTooDeepError):
        LogicalPlan.from_bytes(blob, shallow)
    assert run(LogicalPlan.from_bytes(blob), SessionContext()) == {"x": [61]}


def test_in_memory_data_is_refused_with_the_way_out() -> None:
    df = SessionContext().from_pydict({"a": [1]}).filter(col("a") > lit(0))
    with pytest.raises(PlanError, match=r"in-memory data does not.*execution_plan"):
        df.logical_plan().to_bytes()
    # The physical plan carries the data.
    assert (
        dfship.ExecutionPlan.from_bytes(df.execution_plan().to_bytes()).collect()[0].num_rows == 1
    )
