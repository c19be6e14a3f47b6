"""Functions run inside worker processes by the multiprocessing tests.

They live in a module of their own (not in a test file) so that spawn and
forkserver children can import them by name.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import dfship
from dfship import col
from dfship import functions as f


def four_partition_aggregate() -> dict[str, list[Any]]:
    """A grouped aggregate over 4 partitions with 4 target partitions: it runs
    on the async runtime's worker threads, which is what hangs after a fork in
    a runtime that is not fork-aware."""
    config = dfship.SessionConfig().with_target_partitions(4)
    ctx = dfship.SessionContext(config)
    partitions = [
        [
            pa.record_batch(
                {
                    "k": pa.array([i % 3 for i in range(p, 400, 4)]),
                    "v": pa.array(list(range(p, 400, 4))),
                }
            )
        ]
        for p in range(4)
    ]
    df = ctx.create_dataframe(partitions)
    out = df.aggregate([col("k")], [f.sum(col("v")).alias("s"), f.count().alias("n")]).sort("k")
    return out.to_pydict()


def sql_on_global_session() -> list[Any]:
    return dfship.SessionContext.global_ctx().sql("SELECT 40 + 2 AS x").to_pydict()["x"]


def evaluate(expr: dfship.Expr, batch: list[Any]) -> list[Any]:
    """The user guide's worker function."""
    ctx = dfship.SessionContext()
    df = ctx.from_pydict({"a": batch})
    return df.with_column("result", expr).select("result").to_pydict()["result"]


def make_double() -> dfship.ScalarUDF:
    return dfship.udf(
        lambda arr: pa.array([(v.as_py() or 0) * 2 for v in arr]),
        [pa.int64()],
        pa.int64(),
        volatility="immutable",
        name="double",
    )


def add_udf_and_query() -> list[Any]:
    """A UDF made and run entirely inside the worker."""
    plus_one = dfship.udf(
        lambda a: pc.add(a, 1), [pa.int64()], pa.int64(), "immutable", name="plus_one"
    )
    ctx = dfship.SessionContext(dfship.SessionConfig().with_target_partitions(4))
    partitions = [
        [pa.record_batch({"a": pa.array([p * 10 + i for i in range(3)])})] for p in range(4)
    ]
    df = ctx.create_dataframe(partitions).select(plus_one(col("a")).alias("b")).sort("b")
    return df.to_pydict()["b"]
