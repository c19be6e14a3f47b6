"""The 22 TPC-H queries on dfship workers against single-node.

Worker processes are started on this machine; each query runs single-node
and distributed over the first N of them, for every N asked, and the results
are compared. Bytes moved are read from the loopback interface's counters
around one distributed run of the query, so they count everything the
coordinator and the workers send each other (plans, Arrow batches, gRPC
framing); run it on an otherwise quiet machine.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from dfship.distributed import DistributedContext, WorkerProcess, spawn_worker
from dfship_tpch import compare, context, is_ordered, query_text, register, run_query

LOOPBACK = Path("/sys/class/net/lo/statistics/tx_bytes")


@dataclass
class Timed:
    query: int
    single_seconds: float
    #: workers -> (fastest seconds, bytes moved, difference or None)
    distributed: dict[int, tuple[float, int | None, str | None]] = field(default_factory=dict)


def loopback_bytes() -> int | None:
    """Bytes sent over loopback so far, where Linux exposes the counter."""
    try:
        return int(LOOPBACK.read_text())
    except (OSError, ValueError):
        return None


def fastest(run: Callable[[], pa.Table], iterations: int) -> tuple[float, pa.Table | None]:
    best, result = float("inf"), None
    for _ in range(iterations):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_distributed(
    data: str,
    sizes: Sequence[int],
    queries: Iterable[int],
    iterations: int,
    report: Callable[[Timed], None],
    bytes_per_task: int | None = None,
) -> list[Timed]:
    """Runs each query single-node and on the first N workers for every N in
    ``sizes``; ``report`` sees each query's figures as they come."""
    workers: list[WorkerProcess] = [spawn_worker() for _ in range(max(sizes))]
    try:
        single = context(data)
        contexts = {}
        for n in sizes:
            ctx = DistributedContext([w.url for w in workers[:n]], bytes_per_task=bytes_per_task)
            register(ctx, data)
            contexts[n] = ctx
        results = []
        for q in queries:
            seconds, want = fastest(functools.partial(run_query, single, q), iterations)
            assert want is not None
            timed = Timed(q, seconds)
            for n, ctx in contexts.items():
                before = loopback_bytes()
                got = run_query(ctx, q)
                after = loopback_bytes()
                moved = None if before is None or after is None else after - before
                best, _ = fastest(functools.partial(run_query, ctx, q), max(iterations - 1, 1))
                problem = compare(got, want, ordered=is_ordered(query_text(q)))
                timed.distributed[n] = (best, moved, problem)
            report(timed)
            results.append(timed)
        return results
    finally:
        for w in workers:
            w.stop()
