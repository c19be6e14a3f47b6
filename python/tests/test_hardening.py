"""Bad bytes never crash and never decode into something else; depth and size
limits give typed errors instead of stack overflows."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap

import _frames
import pyarrow as pa
import pytest
from _unpickles import Unpickles
from _workers import evaluate, make_closure_udf, make_udaf

import dfship
from dfship import Expr, SessionContext, col, lit
from dfship import functions as f
from dfship.exceptions import (
    CorruptPayloadError,
    DfshipError,
    ExpressionTooDeepError,
    PayloadError,
    PayloadTooLargeError,
    UnsupportedFormatError,
)


def payloads() -> list[bytes]:
    return [
        (col("a") + lit(1)).to_bytes(),
        f.when(col("a") > 1, f.upper(col("s"))).otherwise(lit("x")).to_bytes(),
        make_closure_udf(2, {"bias": 1})(col("a")).to_bytes(),
        make_udaf()(col("a")).to_bytes(),
    ]


def test_every_truncation_is_refused() -> None:
    for blob in payloads():
        for n in range(len(blob)):
            with pytest.raises(PayloadError):
                Expr.from_bytes(blob[:n])


def test_every_single_bit_flip_is_refused() -> None:
    for blob in payloads()[:3]:
        for i in range(len(blob)):
            for bit in (0, 3, 7):
                bad = bytearray(blob)
                bad[i] ^= 1 << bit
                with pytest.raises(PayloadError):
                    Expr.from_bytes(bytes(bad))


def test_random_multi_byte_damage_is_refused() -> None:
    rng = random.Random(1234)
    for blob in payloads():
        for _ in range(300):
            bad = bytearray(blob)
            for _ in range(rng.randint(1, 8)):
                bad[rng.randrange(len(bad))] = rng.randrange(256)
            if bytes(bad) == blob:
                continue
            with pytest.raises(PayloadError):
                Expr.from_bytes(bytes(bad))


def test_random_bytes_are_refused() -> None:
    rng = random.Random(99)
    for n in [0, 1, 5, 11, 64, 1000]:
        for _ in range(50):
            junk = bytes(rng.randrange(256) for _ in range(n))
            with pytest.raises(PayloadError):
                Expr.from_bytes(junk)
    for prefix in [b"DFSE", b"DFSE\x01", b"DFSE\x01\x00", b"DFSE\x01\x00\x00"]:
        with pytest.raises(CorruptPayloadError):
            Expr.from_bytes(prefix)


def test_resealed_garbage_bodies_are_refused_without_crashing() -> None:
    """Bodies that pass the check but are not valid messages: each is refused
    with a typed error, or (rarely: random bytes can form a valid message)
    decodes into an expression that encodes and decodes again to itself."""
    rng = random.Random(7)
    header = (col("a") + 1).to_bytes()[:6]
    refused: dict[str, int] = {}
    decoded = 0
    for n in [1, 3, 17, 200]:
        for _ in range(100):
            body = bytes(rng.randrange(256) for _ in range(n))
            try:
                expr = Expr.from_bytes(_frames.seal(header, body))
            except DfshipError as e:
                # A re-sealed frame always passes its check: the body's decoder refused it.
                kind = "check failed" if "its check is" in str(e) else type(e).__name__
                refused[kind] = refused.get(kind, 0) + 1
                continue
            decoded += 1
            assert Expr.from_bytes(expr.to_bytes()).equals(expr)
    assert "check failed" not in refused
    assert sum(refused.values()) + decoded == 400
    assert sum(refused.values()) > 300, (refused, decoded)


def test_huge_declared_lengths_are_refused() -> None:
    for length in [
        b"\xff\xff\xff\xff\x0f",
        b"\xff" * 9 + b"\x01",
        b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x02",
    ]:
        with pytest.raises(PayloadError):
            Expr.from_bytes(b"DFSE\x01\x00" + length + b"\x00" * 8)


def test_unknown_versions_and_flags_are_refused() -> None:
    blob = (col("a") + 1).to_bytes()
    _, body = _frames.split(blob)
    with pytest.raises(UnsupportedFormatError, match="version 2"):
        Expr.from_bytes(_frames.seal(b"DFSE\x02\x00", body))
    with pytest.raises(UnsupportedFormatError, match="flag"):
        Expr.from_bytes(_frames.seal(b"DFSE\x01\x80", body))
    with pytest.raises(CorruptPayloadError, match="not a dfship payload"):
        Expr.from_bytes(_frames.seal(b"DFSX\x01\x00", body))


def test_signed_frames_are_refused_while_no_key_can_verify_them() -> None:
    """A tag nobody checks proves nothing: a signed frame is refused, before
    its body is decoded or any UDF unpickled."""
    dfship._internal.clear_decoded_udf_cache()
    for blob in payloads():
        header, body = _frames.split(blob)
        signed = _frames.seal(header, body, tag=bytes(40))
        with Unpickles() as probe, pytest.raises(UnsupportedFormatError, match="signed"):
            Expr.from_bytes(signed)
        assert probe.count == 0


def test_the_inline_python_flag_must_match_the_body() -> None:
    dfship._internal.clear_decoded_udf_cache()
    udf_blob = make_closure_udf(2, {"bias": 1})(col("a")).to_bytes()
    header, body = _frames.split(udf_blob)
    assert header[5] & 0x01, "a frame with an inline UDF is flagged"
    cleared = _frames.seal(header[:5] + bytes([header[5] & ~0x01]), body)
    with Unpickles() as probe, pytest.raises(CorruptPayloadError, match=r"flag is clear.*'scale'"):
        Expr.from_bytes(cleared)
    assert probe.count == 0, "refused before the unpickler ran"
    builtin = (col("a") + 1).to_bytes()
    header, body = _frames.split(builtin)
    assert not header[5] & 0x01
    flagged = _frames.seal(header[:5] + bytes([header[5] | 0x01]), body)
    with pytest.raises(CorruptPayloadError, match="flag is set"):
        Expr.from_bytes(flagged)


def test_payload_size_limit_on_encode_and_decode() -> None:
    small = SessionContext().with_wire_limits(max_payload_bytes=200)
    assert small.wire_limits["max_payload_bytes"] == 200
    udf_expr = make_closure_udf(2, {"bias": 1})(col("a"))
    with pytest.raises(PayloadTooLargeError, match="over the limit of 200 bytes"):
        udf_expr.to_bytes(small)
    blob = udf_expr.to_bytes()
    with pytest.raises(PayloadTooLargeError):
        Expr.from_bytes(blob, ctx=small)
    assert Expr.from_bytes((col("a") + 1).to_bytes(small), ctx=small).equals(col("a") + 1)
    with pytest.raises(ValueError, match="at least"):
        SessionContext().with_wire_limits(max_payload_bytes=3)


def right_deep(depth: int) -> Expr:
    expr = col("a")
    for _ in range(depth - 1):
        expr = lit(1) + expr
    return expr


def nested_calls(depth: int) -> Expr:
    expr = col("a")
    for _ in range(depth - 1):
        expr = f.abs(expr)
    return expr


@pytest.mark.parametrize(("make", "expected"), [(right_deep, 1000 - 1 + 5), (nested_calls, 5)])
def test_depth_1000_round_trips_and_evaluates(make, expected) -> None:  # type: ignore[no-untyped-def]
    expr = make(1000)
    assert expr.depth() == 1000
    back = Expr.from_bytes(expr.to_bytes())
    assert back.depth() == 1000
    assert evaluate(back, [5]) == [expected]


@pytest.fixture
def deeper_expressions():  # type: ignore[no-untyped-def]
    """Lets this process build expressions up to 5,000 levels."""
    dfship.set_max_expression_depth(5_000)
    yield
    dfship.set_max_expression_depth(dfship._internal.DEFAULT_MAX_EXPRESSION_DEPTH)


@pytest.mark.usefixtures("deeper_expressions")
def test_depth_over_the_limit_is_refused_at_encode_and_decode() -> None:
    deep = right_deep(2_500)
    with pytest.raises(
        ExpressionTooDeepError, match="2500 levels deep, over the limit of 2000 at encode"
    ) as info:
        deep.to_bytes()
    assert (info.value.depth, info.value.limit) == (2500, 2000)
    permissive = SessionContext().with_wire_limits(max_depth=5_000)
    blob = deep.to_bytes(permissive)
    with pytest.raises(ExpressionTooDeepError, match="at decode"):
        Expr.from_bytes(blob)
    assert Expr.from_bytes(blob, ctx=permissive).depth() == 2_500
    shallow = SessionContext().with_wire_limits(max_depth=10)
    with pytest.raises(ExpressionTooDeepError):
        right_deep(11).to_bytes(shallow)
    with pytest.raises(ExpressionTooDeepError):
        Expr.from_bytes(right_deep(50).to_bytes(), ctx=shallow)


def test_adversarial_nesting_never_overflows_the_stack() -> None:
    """A body crafted to nest a million levels (about 5 MB), with a valid
    check: refused before any recursive decoder sees it."""
    body = _frames.nested_messages(1_000_000)
    blob = _frames.seal(b"DFSE\x01\x00", body)
    assert len(blob) < SessionContext().wire_limits["max_payload_bytes"]
    with pytest.raises(ExpressionTooDeepError) as info:
        Expr.from_bytes(blob)
    assert info.value.depth > info.value.limit == 2000


def test_deep_expressions_in_a_thread_with_a_small_stack() -> None:
    """Decoding grows its own stack: a 1000-deep payload decodes even on a
    thread with a 256 KiB stack."""
    import threading

    blob = right_deep(1000).to_bytes()
    out: dict[str, object] = {}

    def work() -> None:
        try:
            out["depth"] = Expr.from_bytes(blob).depth()
        except BaseException as e:
            out["error"] = e

    threading.stack_size(256 * 1024)
    try:
        t = threading.Thread(target=work)
        t.start()
        t.join()
    finally:
        threading.stack_size(0)
    assert out == {"depth": 1000}


def test_nothing_escapes_as_base_exception_in_a_fresh_interpreter() -> None:
    """Every single-bit flip of four payloads (built-ins, a closure UDF, an
    aggregate UDF), with the frame's check left stale and with the frame
    re-sealed so that the flip reaches the decoders and the UDF payloads, in
    a child interpreter so that a crash shows as a bad exit code. Each input
    is refused with a typed error or decodes into an expression (whose
    re-encoding gives an expression or a typed error); nothing else escapes,
    not even a BaseException."""
    code = textwrap.dedent(
        """
        import json, sys
        sys.path.insert(0, sys.argv[1])
        import _frames
        from _workers import make_closure_udf, make_udaf
        from dfship import Expr, col, lit
        from dfship import functions as f
        from dfship.exceptions import DfshipError

        blobs = [
            (col("a") + lit(1)).to_bytes(),
            f.when(col("a") > 1, f.upper(col("s"))).otherwise(lit("x")).to_bytes(),
            make_closure_udf(2, {"bias": 1})(col("a")).to_bytes(),
            make_udaf()(col("a")).to_bytes(),
        ]
        tally = {"stale": {}, "resealed": {}, "decoded": 0, "escaped": []}
        for blob in blobs:
            header, body = _frames.split(blob)
            variants = []
            for i in range(len(blob) * 8):
                bad = bytearray(blob)
                bad[i // 8] ^= 1 << (i % 8)
                variants.append(("stale", bytes(bad)))
            for i in range(len(body) * 8):
                bad = bytearray(body)
                bad[i // 8] ^= 1 << (i % 8)
                variants.append(("resealed", _frames.seal(header, bytes(bad))))
            for kind, bad in variants:
                try:
                    expr = Expr.from_bytes(bad)
                except DfshipError as e:
                    key = type(e).__name__ + (" (check)" if "its check is" in str(e) else "")
                    tally[kind][key] = tally[kind].get(key, 0) + 1
                    continue
                except BaseException as e:
                    tally["escaped"].append(f"{kind}: {type(e).__name__}: {e}")
                    continue
                tally["decoded"] += 1
                try:
                    expr.to_bytes()
                except DfshipError:
                    # A flip inside a pickle can decode into another callable
                    # that no longer pickles: typed, so not an escape (signed
                    # payloads are what refuse such a flip up front).
                    tally["not_reencodable"] = tally.get("not_reencodable", 0) + 1
                except BaseException as e:
                    tally["escaped"].append(f"re-encode: {type(e).__name__}: {e}")
        print(json.dumps(tally))
        """
    )
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run(
        [sys.executable, "-c", code, tests_dir],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ,
    )
    assert done.returncode == 0, f"the child died ({done.returncode}):\n{done.stderr[-4000:]}"
    tally = json.loads(done.stdout)
    assert tally["escaped"] == []
    # With a stale check, every flip is caught by the frame.
    assert set(tally["stale"]) <= {
        "CorruptPayloadError",
        "CorruptPayloadError (check)",
        "UnsupportedFormatError",
        "PayloadTooLargeError",
    }
    # Re-sealed, the flips get past the check into the decoders: no refusal is
    # a check failure, and several kinds of decoder error appear.
    assert not any(key.endswith("(check)") for key in tally["resealed"]), tally["resealed"]
    assert sum(tally["resealed"].values()) > 0
    assert len(tally["resealed"]) >= 2, tally["resealed"]


def test_wire_constants_are_exposed() -> None:
    assert dfship._internal.WIRE_FORMAT_VERSION == 1
    assert SessionContext().wire_limits["max_depth"] == dfship._internal.DEFAULT_MAX_DEPTH == 2000


def test_node_and_closure_limits_name_themselves() -> None:
    defaults = SessionContext().wire_limits
    assert defaults == {
        "max_depth": dfship.ipc.DEFAULT_MAX_DEPTH,
        "max_payload_bytes": dfship.ipc.DEFAULT_MAX_PAYLOAD_BYTES,
        "max_nodes": dfship.ipc.DEFAULT_MAX_NODES,
        "max_closure_bytes": dfship.ipc.DEFAULT_MAX_CLOSURE_BYTES,
    }
    # Nodes: a sum of 50 terms has 99 nodes.
    wide = col("a")
    for i in range(49):
        wide = wide + lit(i)
    few = SessionContext().with_wire_limits(max_nodes=50)
    too_many = r"99 nodes, over the limit of 50 at encode.*max_nodes"
    with pytest.raises(PayloadTooLargeError, match=too_many):
        wide.to_bytes(few)
    with pytest.raises(PayloadTooLargeError, match="at decode"):
        Expr.from_bytes(wide.to_bytes(), few)
    back = Expr.from_bytes(wide.to_bytes(), SessionContext())
    assert back.canonical_name() == wide.canonical_name()
    # Closures: UDFs capturing 200 kB of data, which is stored compressed,
    # and 100 kB of random bytes, which is not.
    small = SessionContext().with_wire_limits(max_closure_bytes=10_000)
    too_big = r"'holds_table' pickles to \d+ bytes.*max_closure_bytes"
    for table in (bytes(range(256)) * 800, random.Random(7).randbytes(100_000)):

        def holds_table(a: pa.Array, table: bytes = table) -> pa.Array:
            return a if len(table) else a.slice(0, 0)

        udf = dfship.udf(holds_table, [pa.int64()], pa.int64(), "immutable", name="holds_table")
        big = udf(col("a"))
        with pytest.raises(PayloadTooLargeError, match=too_big):
            big.to_bytes(small)
        blob = big.to_bytes()
        dfship.ipc.clear_decoded_udf_cache()
        with Unpickles() as probe, pytest.raises(PayloadTooLargeError, match="holds_table"):
            Expr.from_bytes(blob, small)
        assert probe.count == 0
        assert Expr.from_bytes(blob).canonical_name() == big.canonical_name()
    for bad in ({"max_nodes": 0}, {"max_closure_bytes": 0}, {"max_closure_bytes": 1 << 40}):
        with pytest.raises(ValueError, match="max_"):
            SessionContext().with_wire_limits(**bad)
