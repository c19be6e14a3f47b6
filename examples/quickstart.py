"""Quick start: build an expression with a Python UDF, pickle it, evaluate it
in a freshly spawned process that registered nothing.

    python examples/quickstart.py
"""

from __future__ import annotations

import multiprocessing as mp
import pickle

import pyarrow as pa
import pyarrow.compute as pc

import dfship
from dfship import col, lit, udf


# ANCHOR: build
def make_expression() -> dfship.Expr:
    threshold = 10  # captured by the UDF's closure: it travels with it

    def above(values: pa.Array) -> pa.Array:
        return pc.greater(values, threshold)

    is_big = udf(above, [pa.int64()], pa.bool_(), "immutable", name="above_threshold")
    return dfship.functions.when(is_big(col("n")), lit("big")).otherwise(lit("small"))


# ANCHOR_END: build


# ANCHOR: evaluate
def evaluate(blob: bytes) -> list[str]:
    """Runs in the worker: unpickle, then evaluate against local data."""
    expr = pickle.loads(blob)
    ctx = dfship.SessionContext()
    df = ctx.from_pydict({"n": [3, 12, 7, 40]})
    return df.select(expr.alias("size")).to_pydict()["size"]


# ANCHOR_END: evaluate


def main() -> None:
    # ANCHOR: ship
    blob = pickle.dumps(make_expression())
    with mp.get_context("spawn").Pool(1) as pool:
        remote = pool.apply(evaluate, (blob,))
    # ANCHOR_END: ship
    local = evaluate(blob)
    assert remote == local == ["small", "big", "small", "big"], (remote, local)
    print(f"payload {len(blob)} bytes; worker result {remote}: same as local")


if __name__ == "__main__":
    main()
