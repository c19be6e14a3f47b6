"""concurrent.futures: a process pool computes per-shard aggregates with an
aggregate Python UDF (an Accumulator class made by a factory), shipped by
pickle; the driver combines the shards and checks against one local run.

    python examples/concurrent_futures_expr.py [fork|spawn|forkserver]
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc

import dfship
from dfship import Accumulator, col, ipc, udaf

SHARDS = [
    {"city": ["oslo", "rome", "oslo"], "amount": [120.0, 80.0, 5000.0]},
    {"city": ["rome", "rome", "lima"], "amount": [60.0, 9000.0, 45.0]},
    {"city": ["lima", "oslo", "lima"], "amount": [30.0, 75.0, 700.0]},
]


# ANCHOR: accumulator
def capped_sum(cap: float) -> dfship.AggregateUDF:
    """Sums amounts, each counted at most `cap`: the class is built here, so
    `cap` is part of the pickled UDF."""

    class CappedSum(Accumulator):
        def __init__(self) -> None:
            self.total = 0.0

        def update(self, values: pa.Array) -> None:
            self.total += pc.sum(pc.min_element_wise(values, cap)).as_py() or 0.0

        def merge(self, states: list[pa.Array]) -> None:
            self.total += pc.sum(states[0]).as_py() or 0.0

        def state(self) -> list[pa.Scalar]:
            return [pa.scalar(self.total)]

        def evaluate(self) -> pa.Scalar:
            return pa.scalar(self.total)

    return udaf(CappedSum, pa.float64(), pa.float64(), [pa.float64()], "immutable", name="capped")


# ANCHOR_END: accumulator


def shard_totals(shard: int, blob: bytes) -> dict[str, float]:
    total = pickle.loads(blob)
    df = dfship.SessionContext().from_pydict(SHARDS[shard])
    out = df.aggregate([col("city")], [total.alias("t")]).to_pydict()
    return dict(zip(out["city"], out["t"], strict=True))


def main(method: str) -> None:
    # ANCHOR: executor
    blob = pickle.dumps(capped_sum(1000.0)(col("amount")))
    context = mp.get_context(method)
    with ProcessPoolExecutor(2, mp_context=context, initializer=ipc.init_worker) as pool:
        futures = [pool.submit(shard_totals, i, blob) for i in range(len(SHARDS))]
        partials = [f.result() for f in futures]
    # ANCHOR_END: executor
    combined: dict[str, float] = {}
    for partial in partials:
        for city, value in partial.items():
            combined[city] = combined.get(city, 0.0) + value
    everything = {k: [v for shard in SHARDS for v in shard[k]] for k in ("city", "amount")}
    local = dfship.SessionContext().from_pydict(everything)
    out = local.aggregate([col("city")], [capped_sum(1000.0)(col("amount")).alias("t")]).to_pydict()
    expected = dict(zip(out["city"], out["t"], strict=True))
    assert combined == expected, (combined, expected)
    print(f"{method}: {len(blob)}-byte aggregate UDF over {len(SHARDS)} shards -> {combined}")
    print(f"{method}: same as one local run")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "spawn")
