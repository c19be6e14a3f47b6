"""UDFs from another library through DataFusion's FFI: they work locally and
always travel by name. `examples/ffi-udf` is built into the test environment
by `make`."""

from __future__ import annotations

import multiprocessing as mp
import pickle

import pytest
from _ffi_workers import EXPECTED, decode_and_run, ffi, ffi_exprs, init_ffi_worker, run, with_ffi

import dfship
from dfship import Expr, SessionContext
from dfship.exceptions import UnknownFunctionError

TIMEOUT = 120


def test_ffi_udfs_work_locally(ctx: SessionContext) -> None:
    assert run(ctx, ffi_exprs()) == EXPECTED
    assert dfship.udf(ffi.IsEven()).name == "ffi_is_even"
    capsule = ffi.IsEven().__datafusion_scalar_udf__()
    assert dfship.udf(capsule).name == "ffi_is_even"
    with_ffi(ctx).from_pydict({"a": [6]}, name="t")
    assert ctx.sql("SELECT ffi_is_even(a) AS e FROM t").to_pydict() == {"e": [True]}


def test_wrong_capsules_are_refused() -> None:
    with pytest.raises(ValueError, match="datafusion_scalar_udf"):
        dfship.ScalarUDF.from_ffi(ffi.CountEven().__datafusion_aggregate_udf__())
    with pytest.raises(TypeError, match="PyCapsule"):
        dfship.ScalarUDF.from_ffi(42)


@pytest.mark.parametrize("inlining", [True, False])
def test_ffi_udfs_always_travel_by_name(inlining: bool) -> None:
    sender = SessionContext().with_python_udf_inlining(enabled=inlining)
    for family, expr in ffi_exprs().items():
        blob = expr.to_bytes(sender)
        assert b"DFS" not in blob[6:], family
        with pytest.raises(UnknownFunctionError) as info:
            Expr.from_bytes(blob, ctx=SessionContext())
        assert info.value.name.startswith("ffi_")
    registered = with_ffi(SessionContext()).with_python_udf_inlining(enabled=False)
    back = {
        family: Expr.from_bytes(e.to_bytes(sender), ctx=registered)
        for family, e in ffi_exprs().items()
    }
    assert run(registered, back) == EXPECTED


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_ffi_udfs_resolve_on_the_worker_slot(method: str) -> None:
    blobs = {family: pickle.dumps(expr) for family, expr in ffi_exprs().items()}
    with mp.get_context(method).Pool(1, initializer=init_ffi_worker) as pool:
        assert pool.apply_async(decode_and_run, (blobs,)).get(TIMEOUT) == EXPECTED
