"""Shipping expressions within one process: the codec, the slots, the toggle."""

from __future__ import annotations

import copy
import pickle
import sys
import threading
from collections.abc import Iterator
from typing import Any

import _frames
import pyarrow as pa
import pytest
from _unpickles import Unpickles
from _workers import aggregate_with, evaluate, make_closure_udf, make_udaf, make_udwf, window_with

import dfship
from dfship import Expr, SessionContext, col, ipc, lit
from dfship import functions as f
from dfship.exceptions import (
    InliningDisabledError,
    PythonVersionMismatchError,
    SerializationError,
    UnknownFunctionError,
)


@pytest.fixture(autouse=True)
def _empty_slots() -> Iterator[None]:
    ipc.clear_worker_ctx()
    ipc.clear_sender_ctx()
    dfship._internal.clear_decoded_udf_cache()
    yield
    ipc.clear_worker_ctx()
    ipc.clear_sender_ctx()


def big_builtin() -> Expr:
    """A ~27-node expression of built-ins: case, upper, abs, between, in-list."""
    return (
        f.when(col("a").between(1, 10), f.upper(col("s")))
        .when(f.in_list(f.abs(col("a") - 100), [lit(1), lit(2), lit(3)]), lit("near"))
        .when(f.abs(col("a")) > 150, f.upper(f.concat(col("s"), lit("!"))))
        .otherwise(f.concat(col("s"), lit("?")))
    )


# -- round trips -----------------------------------------------------------------


def test_builtin_expressions_round_trip_and_evaluate_alike(ctx: SessionContext) -> None:
    df = ctx.from_pydict({"a": [5, 98, 200, None], "s": ["x", "y", "z", None]})
    for expr in [col("a") + lit(1), big_builtin(), (col("a") * 2).cast(pa.float32()).alias("d")]:
        back = Expr.from_bytes(expr.to_bytes())
        assert back.equals(expr)
        assert df.select(back.alias("r")).to_pydict() == df.select(expr.alias("r")).to_pydict()


def test_pickle_copy_and_deepcopy(ctx: SessionContext) -> None:
    expr = make_closure_udf(3, {"bias": 1})(col("a")) + 1
    for back in (pickle.loads(pickle.dumps(expr)), copy.copy(expr), copy.deepcopy(expr)):
        assert isinstance(back, Expr)
        assert evaluate(back, [1, 2, None]) == [5, 8, None]


def test_from_bytes_accepts_bytes_like_only() -> None:
    blob = (col("a") + 1).to_bytes()
    assert Expr.from_bytes(bytearray(blob)).equals(col("a") + 1)
    assert Expr.from_bytes(memoryview(blob)).equals(col("a") + 1)
    with pytest.raises(TypeError, match="bytes"):
        Expr.from_bytes("DFSE")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        Expr.from_bytes(12)  # type: ignore[arg-type]


def test_frame_header_says_what_is_inside() -> None:
    plain = (col("a") + 1).to_bytes()
    assert plain[:6] == b"DFSE\x01\x00"
    inline = make_closure_udf(2, {"bias": 0})(col("a")).to_bytes()
    assert inline[:6] == b"DFSE\x01\x01"
    assert b"DFSs" in inline
    assert b"DFPY" not in inline


def test_closures_travel_with_their_state() -> None:
    offsets = {"bias": 10}
    expr = make_closure_udf(3, offsets)(col("a"))
    blob = pickle.dumps(expr)
    offsets["bias"] = 1000  # captured at serialization time
    assert evaluate(pickle.loads(blob), [1, 2]) == [13, 16]


def test_large_captured_state_travels() -> None:
    table = {i: i * i for i in range(20_000)}

    def lookup(a: pa.Array) -> pa.Array:
        return pa.array([table.get(v) for v in a.to_pylist()], pa.int64())

    expr = dfship.udf(lookup, [pa.int64()], pa.int64(), "immutable", name="lookup")(col("a"))
    blob = expr.to_bytes()
    assert len(blob) > 100_000
    assert evaluate(Expr.from_bytes(blob), [3, 19_999, -1]) == [9, 19_999**2, None]


def test_all_three_udf_families_round_trip() -> None:
    values = list(range(20))
    agg = make_udaf()(col("a"))
    assert aggregate_with(Expr.from_bytes(agg.to_bytes()), values) == aggregate_with(agg, values)
    win = make_udwf()(col("a"))
    assert window_with(Expr.from_bytes(win.to_bytes()), values) == window_with(win, values)
    assert window_with(win, [1, 2, 3]) == [1, 3, 6]


# -- resolution: explicit ctx > worker slot > global --------------------------------


def by_name_blob() -> bytes:
    """An expression that refers to `scale` by name (strict sender)."""
    strict = SessionContext().with_python_udf_inlining(enabled=False)
    return make_closure_udf(2, {"bias": 1})(col("a")).to_bytes(strict)


def with_scale(factor: int) -> SessionContext:
    ctx = SessionContext()
    ctx.register_udf(make_closure_udf(factor, {"bias": 0}))
    return ctx


def test_explicit_ctx_wins_over_the_worker_slot() -> None:
    blob = by_name_blob()
    ipc.set_worker_ctx(with_scale(10))
    explicit = Expr.from_bytes(blob, ctx=with_scale(100))
    assert evaluate(explicit, [1]) == [100]
    assert evaluate(Expr.from_bytes(blob), [1]) == [10]


def test_worker_slot_wins_over_the_global_session() -> None:
    blob = by_name_blob()
    with pytest.raises(UnknownFunctionError) as info:
        Expr.from_bytes(blob)  # global session: no `scale`
    assert info.value.name == "scale"
    assert info.value.family == "scalar"
    assert "set_worker_ctx" in str(info.value)
    ipc.set_worker_ctx(with_scale(7))
    assert evaluate(pickle.loads(pickle.dumps(Expr.from_bytes(blob))), [1]) == [7]


def test_global_session_resolves_when_no_slot_is_set() -> None:
    g = SessionContext.global_ctx()
    g.register_udf(
        dfship.udf(lambda a: a, [pa.int64()], pa.int64(), "immutable", name="global_only")
    )
    strict = SessionContext().with_python_udf_inlining(enabled=False)
    expr = dfship.udf(lambda a: a, [pa.int64()], pa.int64(), "immutable", name="global_only")(
        col("a")
    )
    try:
        back = Expr.from_bytes(expr.to_bytes(strict))
        assert evaluate(back, [4]) == [4]
    finally:
        g.deregister_udf("global_only")


def test_sender_slot_is_used_on_encode_only() -> None:
    expr = make_closure_udf(2, {"bias": 1})(col("a"))
    ipc.set_sender_ctx(SessionContext().with_python_udf_inlining(enabled=False))
    by_name = pickle.dumps(expr)
    assert b"DFSs" not in by_name
    # The sender slot plays no part in decoding: an inline payload made with
    # an explicit permissive ctx still decodes on this thread.
    inline = expr.to_bytes(SessionContext())
    assert b"DFSs" in inline
    assert evaluate(Expr.from_bytes(inline), [1]) == [3]


def test_worker_slot_is_used_on_decode_only() -> None:
    ipc.set_worker_ctx(SessionContext().with_python_udf_inlining(enabled=False))
    blob = make_closure_udf(2, {"bias": 1})(col("a")).to_bytes()
    assert b"DFSs" in blob  # the strict worker slot did not affect encoding
    with pytest.raises(InliningDisabledError):
        Expr.from_bytes(blob)


def test_slots_are_thread_local() -> None:
    main_worker = SessionContext()
    ipc.set_worker_ctx(main_worker)
    ipc.set_sender_ctx(main_worker)
    seen: dict[str, Any] = {}

    def other() -> None:
        seen["worker"], seen["sender"] = ipc.get_worker_ctx(), ipc.get_sender_ctx()
        own = SessionContext()
        ipc.set_worker_ctx(own)
        seen["own"] = ipc.get_worker_ctx() is own

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen == {"worker": None, "sender": None, "own": True}
    assert ipc.get_worker_ctx() is main_worker
    assert ipc.get_sender_ctx() is main_worker


def test_slot_holds_a_reference_not_a_copy() -> None:
    ctx = SessionContext()
    ipc.set_worker_ctx(ctx)
    ctx.register_udf(make_closure_udf(5, {"bias": 0}))  # after installing
    assert evaluate(Expr.from_bytes(by_name_blob()), [1]) == [5]
    with pytest.raises(TypeError):
        ipc.set_worker_ctx("ctx")  # type: ignore[arg-type]


# -- the inlining toggle -----------------------------------------------------------

FAMILIES = ["scalar", "aggregate", "window"]


def family_expr(family: str) -> Expr:
    return {
        "scalar": lambda: make_closure_udf(2, {"bias": 1})(col("a")),
        "aggregate": lambda: make_udaf()(col("a")),
        "window": lambda: make_udwf()(col("a")),
    }[family]()


def run_family(family: str, expr: Expr) -> list[Any]:
    values = [1, 2, 3, 4]
    if family == "scalar":
        return evaluate(expr, values)
    if family == "aggregate":
        return aggregate_with(expr, values)
    return window_with(expr, values)


def receiver(strict: bool, registered: bool) -> SessionContext:
    ctx = SessionContext()
    if registered:
        ctx.register_udf(make_closure_udf(2, {"bias": 1}))
        ctx.register_udaf(make_udaf())
        ctx.register_udwf(make_udwf())
    return ctx.with_python_udf_inlining(enabled=not strict)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("sender_inlines", [True, False])
@pytest.mark.parametrize("receiver_inlines", [True, False])
@pytest.mark.parametrize("registered", [True, False])
def test_toggle_matrix(
    family: str, sender_inlines: bool, receiver_inlines: bool, registered: bool
) -> None:
    expr = family_expr(family)
    expected = run_family(family, expr)
    sender = SessionContext().with_python_udf_inlining(enabled=sender_inlines)
    blob = expr.to_bytes(sender)
    assert (f"DFS{family[0]}".encode() in blob) == sender_inlines
    recv = receiver(strict=not receiver_inlines, registered=registered)
    with Unpickles() as probe:
        if sender_inlines and not receiver_inlines:
            with pytest.raises(InliningDisabledError) as info:
                Expr.from_bytes(blob, ctx=recv)
            message = str(info.value)
            assert info.value.udf in message
            assert f"Python {family} UDF" in message
            assert "Register" in message and "with_python_udf_inlining" in message
            assert (info.value.udf, info.value.family) == (message.split("'")[1], family)
        elif not sender_inlines and not registered:
            with pytest.raises(UnknownFunctionError):
                Expr.from_bytes(blob, ctx=recv)
        else:
            assert run_family(family, Expr.from_bytes(blob, ctx=recv)) == expected
    if sender_inlines and not receiver_inlines:
        assert probe.count == 0, "a strict receiver ran the unpickler"
    if sender_inlines and receiver_inlines:
        assert probe.count > 0, "the probe does not see unpickling"


def test_toggle_returns_a_new_handle_on_the_same_session() -> None:
    ctx = SessionContext()
    strict = ctx.with_python_udf_inlining(enabled=False)
    assert strict is not ctx
    assert (ctx.python_udf_inlining, strict.python_udf_inlining) == (True, False)
    strict.register_udf(make_closure_udf(2, {"bias": 0}))
    ctx.from_pydict({"a": [1]}, name="t")
    assert strict.sql("SELECT scale(a) AS x FROM t").to_pydict() == {"x": [2]}
    with pytest.raises(TypeError):
        ctx.with_python_udf_inlining(False)  # type: ignore[misc]


def test_two_toggles_coexist_in_one_process() -> None:
    blob = make_closure_udf(2, {"bias": 1})(col("a")).to_bytes()
    permissive, strict = SessionContext(), SessionContext().with_python_udf_inlining(enabled=False)
    assert evaluate(Expr.from_bytes(blob, ctx=permissive), [1]) == [3]
    with pytest.raises(InliningDisabledError):
        Expr.from_bytes(blob, ctx=strict)
    assert evaluate(Expr.from_bytes(blob, ctx=permissive), [1]) == [3]


# -- decode cache -----------------------------------------------------------------


def test_immutable_udfs_are_unpickled_once() -> None:
    blob = make_closure_udf(2, {"bias": 1})(col("a")).to_bytes()
    with Unpickles() as first:
        Expr.from_bytes(blob)
    with Unpickles() as second:
        again = Expr.from_bytes(blob)
    assert first.count > 0
    assert second.count == 0
    assert evaluate(again, [1]) == [3]
    assert dfship._internal.decoded_udf_cache_len() >= 1


@pytest.mark.parametrize("volatility", ["stable", "volatile"])
def test_stable_and_volatile_udfs_are_never_shared(volatility: str) -> None:
    expr = dfship.udf(lambda a: a, [pa.int64()], pa.int64(), volatility, name="v")(col("a"))
    blob = expr.to_bytes()
    counts = []
    for _ in range(2):
        with Unpickles() as probe:
            Expr.from_bytes(blob)
        counts.append(probe.count)
    assert all(c > 0 for c in counts)


def test_same_payload_under_another_name_is_not_confused() -> None:
    a = dfship.udf(lambda x: x, [pa.int64()], pa.int64(), "immutable", name="first")(col("a"))
    b = dfship.udf(lambda x: x, [pa.int64()], pa.int64(), "immutable", name="second")(col("a"))
    assert "first" in repr(Expr.from_bytes(a.to_bytes()))
    assert "second" in repr(Expr.from_bytes(b.to_bytes()))


# -- version stamp, limits, bad input ----------------------------------------------


def test_python_version_mismatch_names_both_versions() -> None:
    blob = make_closure_udf(2, {"bias": 1})(col("a")).to_bytes()
    other = (3, sys.version_info.minor + 1)
    edited = _frames.set_python_stamp(blob, *other)
    with Unpickles() as probe, pytest.raises(PythonVersionMismatchError) as info:
        Expr.from_bytes(edited)
    assert probe.count == 0
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"Python {other[0]}.{other[1]}" in str(info.value)
    assert f"Python {here}" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert info.value.sender == other
    assert info.value.receiver == (sys.version_info.major, sys.version_info.minor)


def test_builtins_only_payloads_ignore_the_python_version() -> None:
    """Only inline UDF payloads carry the sender's Python version: an expression
    of built-ins carries none, so it crosses interpreters freely (the harness's
    cross-interpreter suite does so for real)."""
    expr = f.upper(col("s")) + f.abs(col("a"))
    blob = expr.to_bytes()
    header, _ = _frames.split(blob)
    assert header[5] & 0x01 == 0, "no inline-Python flag on a built-ins-only frame"
    # Stamping every payload with a foreign version finds nothing to stamp...
    foreign = _frames.set_python_stamp(blob, 3, sys.version_info.minor + 1)
    assert foreign == blob
    assert Expr.from_bytes(foreign).equals(expr)
    # ...whereas the same edit on a UDF payload takes effect and is refused.
    with_udf = make_closure_udf(2, {"bias": 1})(col("a")).to_bytes()
    with pytest.raises(PythonVersionMismatchError):
        Expr.from_bytes(_frames.set_python_stamp(with_udf, 3, sys.version_info.minor + 1))


def test_unpicklable_closure_is_a_serialization_error() -> None:
    lock = threading.Lock()  # locks cannot be pickled
    expr = dfship.udf(
        lambda a: lock and a, [pa.int64()], pa.int64(), "immutable", name="holds_lock"
    )(col("a"))
    with pytest.raises(SerializationError, match="holds_lock") as info:
        expr.to_bytes()
    assert isinstance(info.value.__cause__, TypeError)
    assert info.value.udf == "holds_lock"


def test_datafusion_package_payloads_are_recognised() -> None:
    blob = make_closure_udf(2, {"bias": 1})(col("a")).to_bytes()
    foreign = _frames.edit_body(blob, lambda b: b.replace(b"DFSs", b"DFPY"))
    with pytest.raises(
        dfship.exceptions.UnsupportedFormatError, match="'datafusion' Python package"
    ):
        Expr.from_bytes(foreign)


def test_refusals_inside_nested_expressions_keep_their_type() -> None:
    nested = (make_closure_udf(2, {"bias": 1})(col("a")) + 1) * f.abs(col("a"))
    strict = SessionContext().with_python_udf_inlining(enabled=False)
    with pytest.raises(InliningDisabledError, match="'scale'"):
        Expr.from_bytes(nested.to_bytes(), ctx=strict)
    by_name = (make_closure_udf(2, {"bias": 1})(col("a")) + 1).to_bytes(strict)
    with pytest.raises(UnknownFunctionError, match="'scale'"):
        Expr.from_bytes(by_name)
    stamped = _frames.set_python_stamp(nested.to_bytes(), 3, 99)
    with pytest.raises(PythonVersionMismatchError):
        Expr.from_bytes(stamped)
