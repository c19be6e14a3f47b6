"""Worker processes after the parent has run queries, for every start method.

The parent runs a query first, so that its async runtime exists (with worker
threads) before the children are made. A fork-started child inherits memory
but not threads: a runtime that is not fork-aware hangs there forever on the
first multi-partition plan. Every wait below has a timeout, so a hang fails
the test instead of stalling the run.
"""

from __future__ import annotations

import multiprocessing as mp
import os

import _workers
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
