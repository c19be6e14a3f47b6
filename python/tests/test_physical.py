"""Physical plans travel in the same checked frame as expressions, with the
same flags and limits, and damaged plan bytes never crash a process."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pathlib
import pickle
import subprocess
import sys
import textwrap

import _frames
import pytest
from _workers import install_worker_slot, plan_query, rows, run_plan, run_plan_frame

import dfship
from dfship import ExecutionPlan, Expr, SessionContext, col
from dfship.exceptions import (
    CorruptPayloadError,
    InliningDisabledError,
    PayloadTooLargeError,
    UnsupportedFormatError,
)

HERE = os.path.dirname(os.path.abspath(__file__))


def expected() -> list[tuple[int, int]]:
    return rows(plan_query().collect())


def test_a_plan_round_trips_and_runs_the_same() -> None:
    df = plan_query()
    plan = df.execution_plan()
    blob = plan.to_bytes()
    assert blob[:4] == b"DFSP"
    assert blob[5] & 0x01, "the plan holds inline Python UDFs and says so"
    back = ExecutionPlan.from_bytes(blob)
    assert back.display_indent() == plan.display_indent()
    assert back.partition_count == plan.partition_count
    assert [c.display() for c in back.children()] == [c.display() for c in plan.children()]
    assert rows(back.collect()) == rows(plan.collect()) == expected()
    # scale(a) = 2a + 1; rows with s > 3 summed per k.
    assert expected() == [(1, 7 + 13), (2, 5 + 9 + 11)]
    # Pickle goes through the same frame.
    assert rows(pickle.loads(pickle.dumps(plan)).collect()) == expected()
    # A plan without Python UDFs has the flag clear.
    plain = SessionContext().from_pydict({"a": [1, 2]}).filter(col("a") > 1)
    plain_blob = plain.execution_plan().to_bytes()
    assert not plain_blob[5] & 0x01
    assert rows(ExecutionPlan.from_bytes(plain_blob).collect()) == [(2,)]


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_plans_run_in_worker_processes(method: str) -> None:
    blob = pickle.dumps(plan_query().execution_plan())
    with mp.get_context(method).Pool(1) as pool:
        assert pool.apply(run_plan, (blob,)) == expected()


def test_strict_receivers_refuse_inline_python_in_plans_and_take_it_by_name() -> None:
    blob = plan_query().execution_plan().to_bytes()
    strict = SessionContext().with_python_udf_inlining(enabled=False)
    with pytest.raises(InliningDisabledError, match="refused inline Python"):
        ExecutionPlan.from_bytes(blob, ctx=strict)
    # Sent by name, the UDFs resolve on a worker that registered them.
    by_name = plan_query().execution_plan().to_bytes(strict)
    assert not by_name[5] & 0x01
    spawn = mp.get_context("spawn")
    with spawn.Pool(1, initializer=install_worker_slot, initargs=(True, True)) as pool:
        assert pool.apply(run_plan_frame, (by_name,)) == expected()
        # The inline frame is refused by the strict worker, as here.
        with pytest.raises(InliningDisabledError):
            pool.apply(run_plan_frame, (blob,))
    with (
        spawn.Pool(1, initializer=install_worker_slot, initargs=(False, False)) as pool,
        pytest.raises(dfship.exceptions.UnknownFunctionError, match="scale"),
    ):
        pool.apply(run_plan_frame, (by_name,))


def test_plan_frames_are_checked_like_expression_frames() -> None:
    blob = plan_query().execution_plan().to_bytes()
    header, body = _frames.split(blob)
    # Wrong family either way.
    with pytest.raises(CorruptPayloadError, match="expected DFSP"):
        ExecutionPlan.from_bytes((col("a") + 1).to_bytes())
    with pytest.raises(CorruptPayloadError, match="expected DFSE"):
        Expr.from_bytes(blob)
    # A stale check.
    damaged = bytearray(blob)
    damaged[len(header) + 3] ^= 0x10
    with pytest.raises(CorruptPayloadError):
        ExecutionPlan.from_bytes(bytes(damaged))
    # Signed: refused while no key can verify it.
    with pytest.raises(UnsupportedFormatError, match="signed"):
        ExecutionPlan.from_bytes(_frames.seal(header, body, tag=b"\0" * 40))
    # The inline flag must match the body, both ways.
    cleared = _frames.seal(header[:5] + bytes([header[5] & ~0x01]), body)
    with pytest.raises(CorruptPayloadError, match="flag is clear"):
        ExecutionPlan.from_bytes(cleared)
    plain = SessionContext().from_pydict({"a": [1]}).execution_plan().to_bytes()
    p_header, p_body = _frames.split(plain)
    with pytest.raises(CorruptPayloadError, match="flag is set"):
        ExecutionPlan.from_bytes(_frames.seal(p_header[:5] + bytes([p_header[5] | 0x01]), p_body))
    # Size limits, on encode and on decode.
    small = SessionContext().with_wire_limits(max_payload_bytes=200)
    with pytest.raises(PayloadTooLargeError):
        plan_query().execution_plan().to_bytes(small)
    with pytest.raises(PayloadTooLargeError):
        ExecutionPlan.from_bytes(blob, ctx=small)


def test_plan_depth_is_bounded_on_encode_and_decode() -> None:
    """A plan whose body nests past the session's limit is refused on both
    sides (the limit counts protobuf levels, three per expression level)."""
    e = col("a")
    for _ in range(100):
        e = e + col("a")
    plan = SessionContext().from_pydict({"a": [1]}).select(e).execution_plan()
    shallow = SessionContext().with_wire_limits(max_depth=20)
    with pytest.raises(dfship.exceptions.ExpressionTooDeepError, match="at encode"):
        plan.to_bytes(shallow)
    blob = plan.to_bytes()
    with pytest.raises(dfship.exceptions.ExpressionTooDeepError):
        ExecutionPlan.from_bytes(blob, ctx=shallow)
    assert rows(ExecutionPlan.from_bytes(blob).collect()) == [(101,)]


MUTATE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import _frames
from _workers import plan_query
from dfship import ExecutionPlan, SessionContext
from dfship.exceptions import DfshipError

blob = plan_query().execution_plan().to_bytes()
header, body = _frames.split(blob)
payload_at = body.find(b"DFSa")
variants = []
# Every truncation of the frame.
variants += [blob[:n] for n in range(len(blob))]
# Every byte of the body inverted, re-sealed so the decoders see it.
for i in range(len(body)):
    bad = bytearray(body)
    bad[i] ^= 0xFF
    variants.append(_frames.seal(header, bytes(bad)))
# The aggregate UDF payload's header, types, encoding and length bytes
# (everything before its pickle) set to edge values, re-sealed.
for i in range(payload_at, payload_at + 24):
    for value in (0x00, 0x01, 0x7F, 0x80, 0xFF):
        bad = bytearray(body)
        bad[i] = value
        variants.append(_frames.seal(header, bytes(bad)))
tally = {"refused": {}, "decoded": 0, "escaped": [], "payload_at": payload_at}
for bad in variants:
    try:
        plan = ExecutionPlan.from_bytes(bad)
    except DfshipError as e:
        tally["refused"][type(e).__name__] = tally["refused"].get(type(e).__name__, 0) + 1
        continue
    except BaseException as e:
        tally["escaped"].append(f"{type(e).__name__}: {e}")
        continue
    tally["decoded"] += 1
    try:
        plan.to_bytes()
        plan.display_indent()
    except DfshipError:
        pass
    except BaseException as e:
        tally["escaped"].append(f"re-encode: {type(e).__name__}: {e}")
print(json.dumps(tally))
"""


def test_mutated_plans_never_crash_a_process() -> None:
    """Truncations, inverted bytes and edge values in the UDF payload of a
    plan, re-sealed with a valid check, decoded in a child interpreter:
    every one is refused with a typed error or decodes; nothing else
    escapes and the child survives."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MUTATE), HERE],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"the child died ({done.returncode}):\n{done.stderr[-3000:]}"
    tally = json.loads(done.stdout.strip().splitlines()[-1])
    assert tally["payload_at"] > 0
    assert tally["escaped"] == []
    # The decoders, not just the frame check, did the refusing.
    assert {"CorruptPayloadError", "SerializationError"} & set(tally["refused"]), tally
    assert len(tally["refused"]) >= 2, tally


FUZZ = pathlib.Path(__file__).resolve().parents[2] / "fuzz"


@pytest.mark.parametrize(
    "found",
    [
        # Refused by dfship's own scan before Arrow reads it.
        ("corpus/physical_strict/regression-ipc-buffer-outside-body", CorruptPayloadError),
        # Arrow's IPC reader panics on this schema: caught, reported as corrupt.
        ("corpus/physical_strict/regression-ipc-schema-without-fields", CorruptPayloadError),
    ],
)
def test_fuzzer_findings_raise_typed_errors(found: tuple[str, type[Exception]]) -> None:
    """Inputs the physical_strict fuzz target found (one flags byte, then a
    plan body): decoding raises a typed error and the process goes on."""
    path, error = found
    data = (FUZZ / path).read_bytes()
    frame = _frames.seal(b"DFSP" + bytes([1, data[0] & 1]), data[1:])
    strict = SessionContext().with_python_udf_inlining(enabled=False)
    with pytest.raises(error):
        ExecutionPlan.from_bytes(frame, strict)
