"""Ray actors evaluate expressions built on the driver, Python UDFs (a
closure-capturing scalar UDF and a window UDF) included. Nothing is
registered on the actors: the UDFs travel inline, through Ray's own
serialization, which pickles them.

Starts a local Ray instance (two CPUs) and stops it at the end.

    python examples/ray_pickle_expr.py
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import ray

import dfship
from dfship import Window, WindowEvaluator, col, ipc, udf, udwf

ORDERS = {"shop": ["n", "s", "n", "s", "n"], "day": [1, 1, 2, 2, 3], "sales": [10, 7, 14, 3, 12]}


# ANCHOR: udfs
def with_tax(rate: float) -> dfship.ScalarUDF:
    def apply(values: pa.Array) -> pa.Array:
        return pc.multiply(pc.cast(values, pa.float64()), 1 + rate)

    return udf(apply, [pa.int64()], pa.float64(), "immutable", name="with_tax")


class RunningMax(WindowEvaluator):
    def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
        return pa.array(pc.cumulative_max(values[0]))


running_max = udwf(RunningMax, [pa.int64()], pa.int64(), "immutable", name="running_max")
# ANCHOR_END: udfs


# ANCHOR: actor
@ray.remote
class Evaluator:
    """Holds a session with its own data and no functions registered."""

    def __init__(self) -> None:
        self.ctx = dfship.SessionContext()
        self.ctx.from_pydict(ORDERS, name="orders")
        ipc.init_worker(self.ctx)  # the worker slot, warmed for the first call

    def evaluate(self, exprs: list[dfship.Expr]) -> dict[str, list[object]]:
        # `exprs` arrive already unpickled by Ray, through dfship's __reduce__.
        df = self.ctx.table("orders").select(col("day"), *exprs).sort(col("day"))
        return df.to_pydict()


# ANCHOR_END: actor


def main() -> None:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # ANCHOR: ship
        by_shop = Window(partition_by=[col("shop")], order_by=[col("day")])
        exprs = [
            with_tax(0.25)(col("sales")).alias("gross"),
            running_max(col("sales")).over(by_shop).alias("best_so_far"),
        ]
        actors = [Evaluator.remote() for _ in range(2)]
        results = ray.get([actor.evaluate.remote(exprs) for actor in actors])
        # ANCHOR_END: ship
    finally:
        ray.shutdown()
    local = dfship.SessionContext()
    local.from_pydict(ORDERS, name="orders")
    expected = local.table("orders").select(col("day"), *exprs).sort(col("day")).to_pydict()
    for result in results:
        assert sorted(map(tuple, zip(*result.values(), strict=True))) == sorted(
            map(tuple, zip(*expected.values(), strict=True))
        ), (result, expected)
    print(f"ray: {len(actors)} actors, gross = {sorted(results[0]['gross'])}")
    print("ray: every actor's result matches the local one")


if __name__ == "__main__":
    main()
