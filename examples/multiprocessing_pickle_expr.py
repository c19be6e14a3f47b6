"""A multiprocessing pool evaluates a different parametric expression per
task. Each expression carries a closure-capturing Python UDF; the pool's
initializer installs the worker slot, the session every unpickled
expression decodes against, which holds the worker's own data and nothing
else.

    python examples/multiprocessing_pickle_expr.py [fork|spawn|forkserver]
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import sys

import pyarrow as pa
import pyarrow.compute as pc

import dfship
from dfship import col, ipc, udf

READINGS = {"sensor": ["a", "b", "a", "c", "b"], "celsius": [21.5, 19.0, 23.25, 30.0, 18.5]}


# ANCHOR: factory
def calibrated(offset: float, scale: float) -> dfship.ScalarUDF:
    """A UDF made by a factory: `offset` and `scale` live in its closure and
    are pickled with its code."""

    def apply(values: pa.Array) -> pa.Array:
        return pc.add(pc.multiply(values, scale), offset)

    return udf(apply, [pa.float64()], pa.float64(), "immutable", name="calibrated")


# ANCHOR_END: factory


# ANCHOR: initializer
_worker_ctx: dfship.SessionContext | None = None


def init_worker() -> None:
    """Runs once in every pool process: a session with the worker's data,
    installed in the worker slot so pickle.loads decodes against it, and
    warmed (imports, function registry) so the first task decodes as fast
    as the later ones."""
    global _worker_ctx
    _worker_ctx = dfship.SessionContext()
    _worker_ctx.from_pydict(READINGS, name="readings")
    ipc.init_worker(_worker_ctx)


def evaluate(blob: bytes) -> list[float]:
    expr = pickle.loads(blob)  # decodes against the worker slot
    assert _worker_ctx is not None
    return _worker_ctx.table("readings").select(expr.alias("v")).to_pydict()["v"]


# ANCHOR_END: initializer


def main(method: str) -> None:
    # ANCHOR: tasks
    tasks = [(0.0, 1.0), (32.0, 1.8), (273.15, 1.0)]  # identity, Fahrenheit, Kelvin
    blobs = [pickle.dumps(calibrated(offset, scale)(col("celsius"))) for offset, scale in tasks]
    with mp.get_context(method).Pool(2, initializer=init_worker) as pool:
        results = pool.map(evaluate, blobs)
    # ANCHOR_END: tasks
    init_worker()  # the same evaluation here, for comparison
    for (offset, scale), blob, got in zip(tasks, blobs, results, strict=True):
        expected = [c * scale + offset for c in READINGS["celsius"]]
        assert got == evaluate(blob), (got, evaluate(blob))
        assert all(abs(g - e) < 1e-9 for g, e in zip(got, expected, strict=True)), got
        print(f"{method}: offset={offset} scale={scale} -> {[round(v, 2) for v in got]}")
    print(f"{method}: {len(tasks)} tasks, {sum(map(len, blobs))} payload bytes, all match")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "spawn")
