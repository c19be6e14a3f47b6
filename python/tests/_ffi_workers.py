"""FFI helpers for the tests and their worker processes (importable by
spawn and forkserver children)."""

from __future__ import annotations

import pickle
from typing import Any

import dfship
from dfship import Expr, SessionContext, Window, col, ipc

try:
    import dfship_ffi_example as ffi
except ImportError as e:  # pragma: no cover - a setup problem, reported loudly
    raise ImportError("examples/ffi-udf is not installed: run the tests through `make test`") from e

EXPECTED = {"scalar": [False, True, False, True, None], "aggregate": [2], "window": [0, 1, 2, 3, 4]}


def with_ffi(ctx: SessionContext) -> SessionContext:
    ctx.register_udf(dfship.udf(ffi.IsEven()))
    ctx.register_udaf(dfship.udaf(ffi.CountEven()))
    ctx.register_udwf(dfship.udwf(ffi.RowIndex()))
    return ctx


def ffi_exprs() -> dict[str, Expr]:
    return {
        "scalar": dfship.udf(ffi.IsEven())(col("a")),
        "aggregate": dfship.udaf(ffi.CountEven())(col("a")),
        "window": dfship.udwf(ffi.RowIndex())().over(Window(order_by=[col("a")])),
    }


def run(ctx: SessionContext, exprs: dict[str, Expr]) -> dict[str, Any]:
    df = ctx.from_pydict({"a": [1, 2, 3, 4, None]})
    return {
        "scalar": df.select(exprs["scalar"].alias("r")).to_pydict()["r"],
        "aggregate": df.aggregate([], [exprs["aggregate"].alias("r")]).to_pydict()["r"],
        "window": df.select(col("a"), exprs["window"].alias("r")).sort("a").to_pydict()["r"],
    }


def init_ffi_worker() -> None:
    ipc.set_worker_ctx(with_ffi(SessionContext()))


def decode_and_run(blobs: dict[str, bytes]) -> dict[str, Any]:
    """Decodes through the worker slot, then evaluates."""
    exprs = {family: pickle.loads(blob) for family, blob in blobs.items()}
    return run(with_ffi(SessionContext()), exprs)
