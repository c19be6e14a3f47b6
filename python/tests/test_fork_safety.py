"""Worker processes after the parent has run queries, for every start method.

The parent runs a query first, so that its async runtime exists (with worker
threads) before the children are made. A fork-started child inherits memory
but not threads: a runtime that is not fork-aware hangs there forever on the
first multi-partition plan. Every wait below has a timeout, so a hang fails
the test instead of stalling the run.

A child also inherits the lock wait queues of the parent's idle runtime
threads, which point into memory the child's own new threads reuse; so an
idle runtime is stopped at every fork, and one in use makes the fork warn.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import _workers
import pyarrow as pa
import pytest

import dfship

START_METHODS = ["fork", "spawn", "forkserver"]
TIMEOUT = 120

EXPECTED = {
    "k": [0, 1, 2],
    "s": [sum(i for i in range(400) if i % 3 == k) for k in range(3)],
    "n": [len([i for i in range(400) if i % 3 == k]) for k in range(3)],
}


@pytest.fixture(autouse=True)
def _parent_has_run_queries() -> None:
    ctx = dfship.SessionContext()
    assert ctx.sql("SELECT 1 AS one").to_pydict() == {"one": [1]}
    # A multi-partition plan in the parent too, so its runtime has busy workers.
    assert _workers.four_partition_aggregate() == EXPECTED
    assert dfship.SessionContext.global_ctx().sql("SELECT 2 AS two").to_pydict() == {"two": [2]}


@pytest.mark.parametrize("method", START_METHODS)
def test_pool_runs_multi_partition_query_after_parent_query(method: str) -> None:
    with mp.get_context(method).Pool(processes=2) as pool:
        results = [pool.apply_async(_workers.four_partition_aggregate) for _ in range(4)]
        assert [r.get(timeout=TIMEOUT) for r in results] == [EXPECTED] * 4


@pytest.mark.parametrize("method", START_METHODS)
def test_pool_runs_python_udfs_and_global_session(method: str) -> None:
    with mp.get_context(method).Pool(processes=2) as pool:
        assert pool.apply_async(_workers.add_udf_and_query).get(timeout=TIMEOUT) == sorted(
            p * 10 + i + 1 for p in range(4) for i in range(3)
        )
        assert pool.apply_async(_workers.sql_on_global_session).get(timeout=TIMEOUT) == [42]


def forked_child_exit_code() -> int:
    """Runs the aggregate in a child made by os.fork (no multiprocessing):
    0 when it gives the expected result."""
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            code = 0 if _workers.four_partition_aggregate() == EXPECTED else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_bare_fork_child_runs_queries() -> None:
    assert forked_child_exit_code() == 0


def test_grandchild_of_fork_runs_queries() -> None:
    """A forked child that queries and then forks again: each generation
    re-creates the runtime."""
    ctx = mp.get_context("fork")
    with ctx.Pool(processes=1) as pool:
        assert pool.apply_async(_fork_again).get(timeout=TIMEOUT) == EXPECTED


def _fork_again() -> dict[str, list[int]]:
    assert _workers.four_partition_aggregate() == EXPECTED
    assert forked_child_exit_code() == 0
    return _workers.four_partition_aggregate()


def runtime_threads() -> int:
    """Threads of this process's query runtime (named ``dfship-query``)."""
    count = 0
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            count += (task / "comm").read_text().strip() == "dfship-query"
    return count


def no_runtime_threads_soon() -> bool:
    """True once the runtime's threads are gone (they may take a moment to
    leave /proc after being joined)."""
    deadline = time.monotonic() + 5
    while runtime_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return runtime_threads() == 0


def fork_and_reap() -> None:
    """os.fork with a child that exits at once."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)


def fork_warnings(fork: Callable[[], object]) -> list[str]:
    """The RuntimeWarnings that `fork` raised (a warning raised in a fork
    hook only reaches a recording filter: as an error it would be dropped)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fork()
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


needs_proc = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")


@needs_proc
def test_fork_stops_the_idle_runtime_and_the_next_query_restarts_it() -> None:
    gc.collect()  # streams left by other tests hold the runtime
    assert runtime_threads() > 0  # the fixture's queries started it
    assert fork_warnings(fork_and_reap) == []
    assert no_runtime_threads_soon()
    assert _workers.four_partition_aggregate() == EXPECTED
    assert runtime_threads() > 0


@needs_proc
def test_fork_with_an_open_stream_warns_and_keeps_the_stream_working() -> None:
    gc.collect()
    ctx = dfship.SessionContext(dfship.SessionConfig().with_target_partitions(4))
    df = ctx.from_pydict({"v": list(range(1000))}).repartition(4)
    stream = df.execute_stream()
    first = stream.next()
    warned = fork_warnings(fork_and_reap)
    assert len(warned) == 1 and "result stream not read to its end" in warned[0], warned
    assert runtime_threads() > 0  # left running for the stream
    rest = list(stream)
    values = [v for b in [first, *rest] for v in b.to_pyarrow().column(0).to_pylist()]
    assert sorted(values) == list(range(1000))
    # Exhausted, the stream no longer holds the runtime.
    assert fork_warnings(fork_and_reap) == []
    assert no_runtime_threads_soon()


def test_partition_streams_hold_the_runtime_until_all_are_done() -> None:
    gc.collect()
    ctx = dfship.SessionContext(dfship.SessionConfig().with_target_partitions(2))
    parts = [[pa.record_batch({"v": pa.array(range(p, 100, 2))})] for p in range(2)]
    streams = ctx.create_dataframe(parts).execute_stream_partitioned()
    assert len(streams) == 2
    list(streams[0])
    assert len(fork_warnings(fork_and_reap)) == 1
    list(streams[1])
    assert fork_warnings(fork_and_reap) == []


def test_fork_while_a_worker_serves_in_process_warns() -> None:
    from dfship.distributed import Worker

    gc.collect()
    with Worker():
        warned = fork_warnings(fork_and_reap)
        assert len(warned) == 1 and "a Worker serving" in warned[0], warned
    assert fork_warnings(fork_and_reap) == []


FORK_ROUNDS = 150


def test_forked_pools_after_udf_queries_never_crash() -> None:
    """Round after round, the parent runs Python UDF queries over four
    partitions and forks a pool whose workers run them too. Every fork must
    find the runtime idle (no warning). Without stopping the runtime at fork,
    a few percent of children aborted (corrupted lock queues)."""
    ctx = mp.get_context("fork")
    crashed = 0
    warned: list[str] = []
    for _ in range(FORK_ROUNDS):
        assert _workers.halve_twice() == [v / 4 for v in range(200)]

        def run_pool() -> None:
            nonlocal crashed
            with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
                try:
                    assert all(
                        pool.map(_workers.halve_twice_three_times, range(4), timeout=TIMEOUT)
                    )
                except BrokenProcessPool:
                    crashed += 1

        warned += fork_warnings(run_pool)
    assert warned == []
    assert crashed == 0, f"{crashed} of {FORK_ROUNDS} forked pools lost a worker"
