"""A SQL query planned into stages and run across two dfship workers, with
Python UDFs (a closure-capturing scalar UDF and an aggregate UDF) that only
this process registered: they travel with the query.

The script writes a small dataset of parquet files, starts two workers as
separate processes (`python -m dfship.worker`, sharing a token), or with
`--ray` as actors of a local Ray instance, runs the query distributed and on
one node, and checks both give the same answer.

    python examples/distributed_query.py [--ray]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import dfship
from dfship import Accumulator, udaf, udf
from dfship.distributed import DistributedContext

TOKEN = "example-token"


def write_sales(folder: Path, files: int = 6, rows: int = 20_000) -> None:
    for i in range(files):
        n = pa.array(range(i * rows, (i + 1) * rows), pa.int64())
        table = pa.table(
            {
                "store": pc.cast(pc.bit_wise_and(n, 7), pa.int32()),
                "cents": pc.add(pc.multiply(pc.bit_wise_and(n, 1023), 37), 99),
            }
        )
        pq.write_table(table, folder / f"part-{i}.parquet")


# ANCHOR: workers
def start_worker() -> tuple[subprocess.Popen[str], str]:
    """One worker process; it prints the URL it listens on."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dfship.worker", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        # The token travels in the environment, not on the command line.
        env={**os.environ, "DFSHIP_WORKER_TOKEN": TOKEN},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "dfship worker listening on http://127.0.0.1:PORT ..."
    return proc, line.split("listening on ")[1].split()[0]


# ANCHOR_END: workers


# ANCHOR: udfs
def price_band(step_cents: int) -> dfship.ScalarUDF:
    """`step_cents` lives in the closure and travels with the query."""

    def band(cents: pa.Array) -> pa.Array:
        return pc.multiply(pc.divide(cents, step_cents), step_cents)

    return udf(band, [pa.int64()], pa.int64(), "immutable", name="price_band")


class Spread(Accumulator):
    """max - min, merged across the workers' partial states."""

    def __init__(self) -> None:
        self.lo: int | None = None
        self.hi: int | None = None

    def _take(self, lo: object, hi: object) -> None:
        if isinstance(lo, int) and isinstance(hi, int):
            self.lo = lo if self.lo is None else min(self.lo, lo)
            self.hi = hi if self.hi is None else max(self.hi, hi)

    def update(self, values: pa.Array) -> None:
        bounds = pc.min_max(values)
        self._take(bounds["min"].as_py(), bounds["max"].as_py())

    def merge(self, states: list[pa.Array]) -> None:
        for lo, hi in zip(states[0].to_pylist(), states[1].to_pylist(), strict=True):
            self._take(lo, hi)

    def state(self) -> list[pa.Scalar]:
        return [pa.scalar(self.lo, pa.int64()), pa.scalar(self.hi, pa.int64())]

    def evaluate(self) -> pa.Scalar:
        if self.lo is None or self.hi is None:
            return pa.scalar(None, pa.int64())
        return pa.scalar(self.hi - self.lo, pa.int64())


spread = udaf(
    Spread, [pa.int64()], pa.int64(), [pa.int64(), pa.int64()], "immutable", name="spread"
)
# ANCHOR_END: udfs

QUERY = """
SELECT store, price_band(cents) AS band, count(*) AS sales, spread(cents) AS spread
FROM sales GROUP BY store, price_band(cents) ORDER BY store, band
"""


def register(ctx: dfship.SessionContext, data: Path) -> dfship.SessionContext:
    ctx.register_parquet("sales", str(data))
    ctx.register_udf(price_band(10_000))
    ctx.register_udaf(spread)
    return ctx


def run(urls: list[str], data: Path) -> tuple[str, dict[str, list[object]]]:
    # ANCHOR: query
    ctx = DistributedContext(urls, token=TOKEN, bytes_per_task=16 * 1024)
    register(ctx, data)
    df = ctx.sql(QUERY)
    plan = df.execution_plan().display_indent()
    result = df.to_pydict()
    # ANCHOR_END: query
    return plan, result


def on_processes(data: Path) -> tuple[str, dict[str, list[object]]]:
    workers = [start_worker() for _ in range(2)]
    try:
        return run([url for _, url in workers], data)
    finally:
        for proc, _ in workers:
            proc.terminate()
            proc.wait(timeout=30)


def on_ray(data: Path) -> tuple[str, dict[str, list[object]]]:
    import ray

    from dfship.distributed.ray import start_workers

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        # ANCHOR: ray
        workers = start_workers(2, token=TOKEN)  # two actors, one worker each
        try:
            return run(list(workers), data)
        finally:
            workers.stop()
        # ANCHOR_END: ray
    finally:
        ray.shutdown()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        write_sales(data)
        plan, result = on_ray(data) if "--ray" in sys.argv[1:] else on_processes(data)
        local = register(dfship.SessionContext(), data).sql(QUERY).to_pydict()
    stages = [line.strip() for line in plan.splitlines() if "[Stage" in line]
    print(f"distributed over 2 workers, {len(stages)} network boundaries:")
    for line in stages:
        print(f"  {line}")
    print(f"{len(result['sales'])} groups, {sum(result['sales'])} sales")
    assert result == local, (result, local)
    print("same as single-node")


if __name__ == "__main__":
    main()
