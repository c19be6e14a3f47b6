"""Signed payloads: a session with a payload key signs what it encodes and
refuses, before decoding or unpickling anything, every payload not signed
with one of its keys."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import subprocess
import sys

import pytest
from _unpickles import Unpickles
from _workers import (
    counted_load,
    global_key_id,
    install_keyed_worker_slot,
    make_closure_udf,
    make_udaf,
    make_udwf,
)

from dfship import ExecutionPlan, Expr, SessionContext, col, ipc
from dfship.exceptions import PayloadError, SignatureError, UnsupportedFormatError

KEY = b"correct horse battery staple"
OTHER = b"a key nobody gave the receiver"
TIMEOUT = 120


def _exprs() -> dict[str, Expr]:
    return {
        "builtin": (col("a") + 1) * 2,
        "scalar": make_closure_udf(3, {"bias": 1})(col("a")),
        "aggregate": make_udaf()(col("a")),
        "window": make_udwf()(col("a")),
    }


def test_round_trip_with_a_key() -> None:
    ctx = SessionContext().with_payload_key(KEY)
    for name, expr in _exprs().items():
        blob = expr.to_bytes(ctx)
        assert blob[5] & 0b10, f"{name}: not flagged as signed"
        assert Expr.from_bytes(blob, ctx).canonical_name() == expr.canonical_name()
    plan = ctx.from_pydict({"a": [1, 2, 3]}).filter(col("a") > 1).execution_plan()
    signed_plan = plan.to_bytes(ctx)
    assert sum(b.num_rows for b in ExecutionPlan.from_bytes(signed_plan, ctx).collect()) == 2
    with pytest.raises(SignatureError, match="not signed"):
        ExecutionPlan.from_bytes(plan.to_bytes(), ctx)


def test_refuses_unsigned_and_foreign_payloads_without_unpickling() -> None:
    receiver = SessionContext().with_payload_key(KEY)
    foreign = SessionContext().with_payload_key(OTHER)
    for name, expr in _exprs().items():
        for blob, why in ((expr.to_bytes(), "not signed"), (expr.to_bytes(foreign), "unknown key")):
            ipc.clear_decoded_udf_cache()
            with Unpickles() as probe, pytest.raises(SignatureError, match=why) as info:
                Expr.from_bytes(blob, receiver)
            assert probe.count == 0, f"{name}: unpickled before refusing"
            assert isinstance(info.value, PayloadError)
            for secret in (KEY, OTHER):
                assert secret.decode() not in str(info.value)


def _reseal(frame: bytes) -> bytes:
    """The frame with its CRC recomputed, as someone altering it would."""
    import zlib

    body = frame[:-4]
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_every_tampered_bit_is_refused_before_unpickling() -> None:
    ctx = SessionContext().with_payload_key(KEY)
    blob = make_closure_udf(2, {"bias": 5})(col("a")).to_bytes(ctx)
    kinds: set[str] = set()
    for i in range(len(blob) - 4):
        for bit in range(8):
            bad = bytearray(blob)
            bad[i] ^= 1 << bit
            ipc.clear_decoded_udf_cache()
            with Unpickles() as probe, pytest.raises(PayloadError) as info:
                Expr.from_bytes(_reseal(bytes(bad)), ctx)
            assert probe.count == 0, f"bit {bit} of byte {i}: unpickled before refusing"
            kinds.add(type(info.value).__name__)
    # Header damage is caught as malformed or unsupported; everything the
    # MAC covers, as a signature failure.
    assert "SignatureError" in kinds, kinds
    assert kinds <= {"SignatureError", "CorruptPayloadError", "UnsupportedFormatError"}, kinds


def test_rotation_accepts_previous_keys_and_signs_with_the_current_one() -> None:
    old = SessionContext().with_payload_key(b"old")
    rotated = SessionContext().with_payload_key(b"new", previous=[b"old"])
    new_only = SessionContext().with_payload_key(b"new")
    expr = make_closure_udf(1, {"bias": 0})(col("a"))
    assert Expr.from_bytes(expr.to_bytes(old), rotated).canonical_name() == expr.canonical_name()
    signed_by_rotated = expr.to_bytes(rotated)
    assert Expr.from_bytes(signed_by_rotated, new_only).canonical_name() == expr.canonical_name()
    with pytest.raises(SignatureError, match="unknown key"):
        Expr.from_bytes(signed_by_rotated, old)  # previous keys never sign
    assert rotated.payload_key_id == new_only.payload_key_id
    assert rotated.previous_payload_key_ids == [old.payload_key_id]


def test_keyless_sessions_refuse_signed_payloads() -> None:
    blob = (col("a") + 1).to_bytes(SessionContext().with_payload_key(KEY))
    with pytest.raises(UnsupportedFormatError, match="with_payload_key"):
        Expr.from_bytes(blob, SessionContext())


def test_keys_never_appear_in_reprs_or_errors() -> None:
    ctx = SessionContext().with_payload_key(KEY, previous=[OTHER])
    shown = repr(ctx) + str(ctx.payload_key_id) + str(ctx.previous_payload_key_ids)
    assert KEY.decode() not in shown and OTHER.decode() not in shown
    assert len(ctx.payload_key_id or "") == 16  # an 8-byte id, as hex
    with pytest.raises(TypeError, match="bytes"):
        SessionContext().with_payload_key("text key")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        SessionContext().with_payload_key(b"")
    assert SessionContext().payload_key_id is None


def _signed_pickle(expr: Expr, key: bytes = KEY) -> bytes:
    ipc.set_sender_ctx(SessionContext().with_payload_key(key))
    try:
        return pickle.dumps(expr)
    finally:
        ipc.clear_sender_ctx()


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_through_slots_and_pickle_in_pools(method: str) -> None:
    expr = make_closure_udf(2, {"bias": 1})(col("a"))
    signed, unsigned = _signed_pickle(expr), pickle.dumps(expr)
    foreign = _signed_pickle(expr, OTHER)
    context = mp.get_context(method)
    with context.Pool(1, initializer=install_keyed_worker_slot, initargs=(KEY,)) as pool:
        ok = pool.apply_async(counted_load, (signed, [1, 2])).get(TIMEOUT)
        refused = pool.apply_async(counted_load, (unsigned, [1, 2])).get(TIMEOUT)
        wrong_key = pool.apply_async(counted_load, (foreign, [1, 2])).get(TIMEOUT)
    assert ok[0] == "" and ok[1] == [3, 5] and ok[2] > 0, ok  # the probe sees unpickling
    assert refused == ("SignatureError", [], 0), refused
    assert wrong_key == ("SignatureError", [], 0), wrong_key


def test_the_environment_variable_protects_a_spawn_worker_without_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DFSHIP_PAYLOAD_KEY", KEY.decode())
    expr = make_closure_udf(2, {"bias": 1})(col("a"))
    signed, unsigned = _signed_pickle(expr), pickle.dumps(expr)
    # No initializer: the worker decodes against its global session, which
    # the environment variable gave the key.
    with mp.get_context("spawn").Pool(1) as pool:
        key_id = pool.apply_async(global_key_id).get(TIMEOUT)
        refused = pool.apply_async(counted_load, (unsigned, [1])).get(TIMEOUT)
        ok = pool.apply_async(counted_load, (signed, [1])).get(TIMEOUT)
    assert key_id == SessionContext().with_payload_key(KEY).payload_key_id
    assert refused == ("SignatureError", [], 0), refused
    assert ok[0] == "" and ok[1] == [3], ok


def test_the_environment_variable_signs_what_the_process_pickles() -> None:
    code = "import pickle, dfship\nprint(pickle.dumps(dfship.col('a') + 1).hex())\n"
    env = {**os.environ, "DFSHIP_PAYLOAD_KEY": KEY.decode()}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    blob = bytes.fromhex(out.strip())
    ipc.set_worker_ctx(SessionContext().with_payload_key(KEY))
    try:
        assert pickle.loads(blob).canonical_name() == "a + Int64(1)"
    finally:
        ipc.clear_worker_ctx()
    ipc.set_worker_ctx(SessionContext().with_payload_key(OTHER))
    try:
        with pytest.raises(SignatureError, match="unknown key"):
            pickle.loads(blob)
    finally:
        ipc.clear_worker_ctx()


CAMPAIGN = """
import json, sys, zlib
sys.path.insert(0, sys.argv[1])
from _unpickles import Unpickles
from _workers import make_closure_udf, make_udaf, make_udwf
from dfship import Expr, SessionContext, col, ipc, lit
from dfship import functions as f
from dfship.exceptions import DfshipError

KEY = b"campaign key"
# The five reference expressions: a small built-in, a larger built-in, a
# closure scalar UDF, an aggregate UDF and a window UDF.
exprs = [
    col("a") + lit(1),
    f.when(col("a").between(1, 9) & col("s").in_list(["x", "y"]), f.upper(col("s")))
    .otherwise(f.abs(col("b")).cast(str)),
    make_closure_udf(2, {"bias": 1})(col("a")),
    make_udaf()(col("a")),
    make_udwf()(col("a")),
]
modes = {
    "permissive": SessionContext(),
    "strict": SessionContext().with_python_udf_inlining(enabled=False),
    "signed": SessionContext().with_payload_key(KEY),
}
report = {}
for mode, ctx in modes.items():
    tally = {"refused": {}, "same": 0, "altered": {"stale": 0, "resealed": 0, "truncated": 0},
             "escaped": [], "unpickled_before_refusal": 0, "inputs": 0}
    for expr in exprs:
        blob = expr.to_bytes(ctx if mode == "signed" else None)
        original = expr.canonical_name()
        variants = [("truncated", blob[:n]) for n in range(len(blob))]
        for i in range(len(blob) * 8):
            bad = bytearray(blob)
            bad[i // 8] ^= 1 << (i % 8)
            variants.append(("stale", bytes(bad)))
            body = bytes(bad[:-4])
            variants.append(("resealed", body + zlib.crc32(body).to_bytes(4, "little")))
        for kind, bad in variants:
            tally["inputs"] += 1
            ipc.clear_decoded_udf_cache()
            with Unpickles() as probe:
                try:
                    got = Expr.from_bytes(bad, ctx)
                except DfshipError as e:
                    got = e
                except BaseException as e:
                    tally["escaped"].append(f"{kind}: {type(e).__name__}: {e}")
                    continue
            if isinstance(got, DfshipError):
                name = type(got).__name__
                tally["refused"][name] = tally["refused"].get(name, 0) + 1
                if mode != "permissive" and probe.count:
                    tally["unpickled_before_refusal"] += 1
            elif got.canonical_name() == original:
                tally["same"] += 1
            else:
                tally["altered"][kind] += 1
    report[mode] = tally
print(json.dumps(report))
"""


def test_campaign_truncations_and_bit_flips_in_every_mode() -> None:
    """Every truncation and single-bit flip (check left stale, and re-sealed)
    of the five reference payloads, decoded by a permissive, a strict and a
    signed session, in a child interpreter so that a crash shows as its exit
    code."""
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run(
        [sys.executable, "-c", CAMPAIGN, tests_dir],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"the child died ({done.returncode}):\n{done.stderr[-4000:]}"
    report = json.loads(done.stdout)
    for mode, tally in report.items():
        assert tally["inputs"] > 20_000, (mode, tally["inputs"])
        assert tally["escaped"] == [], (mode, tally["escaped"])
        # A stale check or a cut frame never decodes into anything else.
        assert tally["altered"]["stale"] == 0 and tally["altered"]["truncated"] == 0, (mode, tally)
    signed, strict = report["signed"], report["strict"]
    # Signed: no altered payload decodes at all, and no refusal unpickled.
    assert signed["altered"] == {"stale": 0, "resealed": 0, "truncated": 0}, signed
    # The only variants that decode are the flips of a check bit, which
    # re-sealing undoes: 32 per payload, giving back the signed bytes.
    assert signed["same"] == 5 * 32, signed
    assert signed["refused"].get("SignatureError", 0) > 10_000, signed["refused"]
    assert signed["unpickled_before_refusal"] == 0, signed
    # Strict: inline code is refused without being unpickled.
    assert strict["refused"].get("InliningDisabledError", 0) > 0, strict["refused"]
    assert strict["unpickled_before_refusal"] == 0, strict
    # Permissive and re-sealed, flips reach the decoders: some decode into
    # other expressions. That is what signing is for.
    assert report["permissive"]["altered"]["resealed"] > 0, report["permissive"]
