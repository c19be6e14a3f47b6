"""Queries that survive lost workers: retries over the workers that answer,
membership (dropped workers come back), probing, and a worker's graceful
shutdown on SIGTERM. Every worker is a real `python -m dfship.worker`
process, killed, stopped or terminated for real."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from _cluster import free_port, start_worker

from dfship import SessionContext, udf
from dfship.distributed import (
    DistributedContext,
    Worker,
    WorkerProcess,
    probe,
    spawn_worker,
)
from dfship.exceptions import WorkerUnavailableError

BYTES_PER_TASK = 64 * 1024
QUERY = (
    "SELECT l_returnflag, count(*) AS n, sum(l_quantity) AS q FROM lineitem GROUP BY 1 ORDER BY 1"
)
UDF_QUERY = (
    "SELECT l_returnflag, count(*) AS n, sum(marked(l_orderkey)) AS k"
    " FROM lineitem GROUP BY 1 ORDER BY 1"
)


def register(ctx: SessionContext, data: str) -> None:
    ctx.register_parquet("lineitem", f"{data}/lineitem")


def expected(data: str, query: str = QUERY, *udfs: Any) -> dict[str, list[Any]]:
    local = SessionContext()
    register(local, data)
    for u in udfs:
        local.register_udf(u)
    return local.sql(query).to_pydict()


def coordinator(workers: list[WorkerProcess], data: str, **kw: Any) -> DistributedContext:
    ctx = DistributedContext([w.url for w in workers], bytes_per_task=BYTES_PER_TASK, **kw)
    register(ctx, data)
    return ctx


def killer(victim_pid: int, pause: float = 0.002) -> Any:
    """A UDF that SIGKILLs the worker process `victim_pid` when it runs there,
    and passes its values through anywhere else."""

    def marked(values: pa.Array) -> pa.Array:
        if os.getpid() == victim_pid:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(pause)
        return values

    return udf(marked, [pa.int64()], pa.int64(), "volatile", name="marked")


def passthrough() -> Any:
    return udf(lambda v: v, [pa.int64()], pa.int64(), "volatile", name="marked")


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        w.stop(signal.SIGKILL)


def test_a_worker_killed_mid_query_is_retried_and_reported(
    tpch_data: str, workers: list[WorkerProcess]
) -> None:
    workers += [start_worker(), start_worker()]
    doomed, steady = workers
    ctx = coordinator(workers, tpch_data, max_attempts=2)
    ctx.register_udf(killer(doomed.pid))
    result = ctx.sql(UDF_QUERY).to_pydict()
    assert result == expected(tpch_data, UDF_QUERY, passthrough())
    assert doomed.proc.wait(timeout=10) == -signal.SIGKILL
    first, second = ctx.last_query_attempts()
    assert set(first.workers) == {doomed.url, steady.url}
    assert first.error is not None and "WorkerUnavailableError" in first.error, first
    assert first.lost == [doomed.url], first
    assert second.workers == [steady.url] and second.error is None and second.lost == []
    assert ctx.worker_states()[doomed.url] is not None
    assert ctx.worker_states()[steady.url] is None


def test_one_attempt_fails_as_before(tpch_data: str, workers: list[WorkerProcess]) -> None:
    workers += [start_worker(), start_worker()]
    doomed = workers[0]
    ctx = coordinator(workers, tpch_data, max_attempts=1)
    ctx.register_udf(killer(doomed.pid))
    with pytest.raises(WorkerUnavailableError, match=doomed.url):
        ctx.sql(UDF_QUERY).collect()
    (only,) = ctx.last_query_attempts()
    assert only.error is not None and only.lost == [doomed.url], only


def test_errors_that_are_not_about_workers_are_not_retried(
    tpch_data: str, workers: list[WorkerProcess]
) -> None:
    workers += [start_worker(), start_worker()]

    def refuse(values: pa.Array) -> pa.Array:
        raise ValueError("this UDF refuses its input")

    ctx = coordinator(workers, tpch_data, max_attempts=3)
    ctx.register_udf(udf(refuse, [pa.int64()], pa.int64(), "volatile", name="marked"))
    with pytest.raises(Exception, match="refuses its input") as caught:
        ctx.sql(UDF_QUERY).collect()
    assert not isinstance(caught.value, WorkerUnavailableError)
    attempts = ctx.last_query_attempts()
    assert len(attempts) == 1, attempts
    assert all(state is None for state in ctx.worker_states().values())


def test_every_worker_lost_is_a_typed_error_after_the_attempts(
    tpch_data: str, workers: list[WorkerProcess]
) -> None:
    workers += [start_worker(), start_worker()]
    ctx = coordinator(workers, tpch_data, max_attempts=3)
    assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
    for w in workers:
        w.proc.kill()
        w.proc.wait(timeout=10)
    started = time.monotonic()
    with pytest.raises(WorkerUnavailableError) as caught:
        ctx.sql(QUERY).collect()
    assert time.monotonic() - started < 30
    attempts = ctx.last_query_attempts()
    assert 2 <= len(attempts) <= 3, attempts
    assert all(a.error for a in attempts)
    assert "none of this session's 2 dfship workers answers" in str(caught.value), caught.value
    assert all(why is not None for why in ctx.worker_states().values())


def test_a_frozen_worker_is_dropped_in_bounded_time(
    tpch_data: str, workers: list[WorkerProcess]
) -> None:
    workers += [start_worker(), start_worker()]
    frozen, steady = workers
    ctx = coordinator(workers, tpch_data, max_attempts=2)
    assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
    frozen.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
        took = time.monotonic() - started
        first, second = ctx.last_query_attempts()
        assert first.lost == [frozen.url], first
        assert first.error is not None and "no answer" in first.error, first
        assert second.workers == [steady.url]
        assert took < 45, took
    finally:
        frozen.proc.send_signal(signal.SIGCONT)


def test_a_worker_that_comes_back_is_used_again(
    tpch_data: str, workers: list[WorkerProcess]
) -> None:
    port = free_port()
    workers += [spawn_worker(port, threads=2), start_worker()]
    back = workers[0]
    ctx = coordinator(workers, tpch_data, max_attempts=2)
    back.proc.kill()
    back.proc.wait(timeout=10)
    assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
    assert ctx.worker_states()[back.url] is not None
    assert back.url not in ctx.last_query_attempts()[-1].workers
    workers.append(spawn_worker(port, threads=2))
    # Queries keep running; the background probe brings the worker back.
    deadline = time.monotonic() + 20
    while ctx.worker_states()[back.url] is not None:
        assert time.monotonic() < deadline, ctx.worker_states()
        assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
        time.sleep(0.2)
    assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
    (only,) = ctx.last_query_attempts()
    assert back.url in only.workers and only.error is None


def test_writes_run_once_unless_retrying_them_is_asked_for(
    tpch_data: str, workers: list[WorkerProcess], tmp_path: Any
) -> None:
    workers += [spawn_worker(threads=2, args=["--allow-writes"]) for _ in range(3)]
    query = "SELECT l_orderkey, marked(l_orderkey) AS k FROM lineitem"
    once = coordinator(workers[:2], tpch_data, max_attempts=3)
    once.register_udf(killer(workers[0].pid))
    with pytest.raises(WorkerUnavailableError):
        once.sql(query).write_parquet(str(tmp_path / "once"))
    assert len(once.last_query_attempts()) == 1
    retried = coordinator(workers[1:], tpch_data, max_attempts=3, retry_writes=True)
    retried.register_udf(killer(workers[1].pid))
    # One output file, which the rerun overwrites: a directory would keep
    # the files a failed attempt finished (the guide says so).
    retried.sql(query).write_parquet(str(tmp_path / "retried.parquet"))
    assert len(retried.last_query_attempts()) == 2
    local = SessionContext()
    local.register_parquet("written", str(tmp_path / "retried.parquet"))
    assert local.sql("SELECT count(*) AS n FROM written").to_pydict() == expected(
        tpch_data, "SELECT count(*) AS n FROM lineitem"
    )


def test_max_attempts_is_checked() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="max_attempts"):
            DistributedContext(["http://127.0.0.1:1"], max_attempts=bad)  # type: ignore[arg-type]


def collect_into(ctx: DistributedContext, result: list[Any]) -> None:
    result.append(ctx.sql(UDF_QUERY).to_pydict())


# -- probe -------------------------------------------------------------------


def test_probe_tells_each_workers_state() -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    with Worker(token="s3cret") as guarded, Worker(python_udf_inlining=False) as open_:
        with_token, unreachable = probe([guarded.url, gone], token="s3cret")
        assert with_token.reachable and with_token.version and with_token.token_required
        assert with_token.authorized and with_token.inlining is True
        assert with_token.tasks_running == 0 and not with_token.draining
        assert not unreachable.reachable and unreachable.error and unreachable.version is None
        (without,) = probe([guarded.url])
        assert without.reachable and without.token_required and not without.authorized
        assert without.inlining is None and without.tasks_running is None
        (plain,) = probe([open_.url])
        assert plain.authorized and not plain.token_required and plain.inlining is False


def test_probe_counts_running_tasks_and_sees_a_draining_worker(
    tpch_data: str, tmp_path: Any, workers: list[WorkerProcess]
) -> None:
    gate = str(tmp_path / "open")

    def gated(values: pa.Array) -> pa.Array:
        # Waits for the test to open the gate (a file: the UDF is pickled).
        deadline = time.monotonic() + 60
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
        return values

    # Threads to spare beside the tasks the gate holds, to answer probes.
    workers += [spawn_worker(threads=4), spawn_worker(threads=4)]
    ctx = coordinator(workers, tpch_data)
    ctx.register_udf(udf(gated, [pa.int64()], pa.int64(), "volatile", name="marked"))
    result: list[Any] = []
    query = threading.Thread(target=collect_into, args=(ctx, result))
    query.start()
    deadline = time.monotonic() + 30
    while not any(s.tasks_running for s in probe([w.url for w in workers])):
        assert time.monotonic() < deadline, probe([w.url for w in workers])
        time.sleep(0.05)
    states = probe([w.url for w in workers])
    busy = next(w for w, s in zip(workers, states, strict=True) if s.tasks_running)
    busy.proc.send_signal(signal.SIGTERM)
    while not probe([busy.url])[0].draining:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Draining: a new query runs on the other worker, the running one goes on.
    other = coordinator(workers, tpch_data)
    assert other.sql(QUERY).to_pydict() == expected(tpch_data)
    assert busy.url not in other.last_query_attempts()[-1].workers
    assert "shutting down" in (other.worker_states()[busy.url] or ""), other.worker_states()
    assert query.is_alive()
    open(gate, "w").close()
    query.join(60)
    assert result == [expected(tpch_data, UDF_QUERY, passthrough())]
    assert busy.stop(timeout=60) == 0, busy.output


def test_an_in_process_worker_drains_and_stops() -> None:
    w = Worker()
    assert w.tasks == 0
    assert w.drain(5) == 0
    assert not w.running
    assert w.drain(5) == 0  # twice is harmless
    (state,) = probe([w.url])
    assert not state.reachable


# -- shutdown ----------------------------------------------------------------


SIGTERM_RUNS = int(os.environ.get("DFSHIP_SIGTERM_RUNS", "50"))


def test_sigterm_lets_running_queries_finish_and_exits_0(tpch_data: str) -> None:
    """SIGTERM in the middle of a query: the query completes with the right
    result and the worker exits 0, never by a signal. Half of the runs first
    SIGKILL the worker's peer (a case that once ended in SIGABRT)."""
    udfs = [passthrough()]
    want = expected(tpch_data, UDF_QUERY, *udfs)
    steady = start_worker()
    try:
        for run in range(SIGTERM_RUNS):
            victim = start_worker()
            peer = start_worker() if run % 2 else None
            members = [victim, steady] + ([peer] if peer else [])
            ctx = coordinator(members, tpch_data)
            ctx.register_udf(killer(-1, pause=0.3))
            result: list[Any] = []
            query = threading.Thread(target=collect_into, args=(ctx, result))
            query.start()
            time.sleep(0.3)
            if peer is not None:
                peer.proc.kill()
            victim.proc.send_signal(signal.SIGTERM)
            query.join(60)
            assert not query.is_alive(), f"run {run}: the query hung"
            assert result == [want], f"run {run}: {ctx.last_query_attempts()}"
            code = victim.stop(timeout=60)
            assert code == 0, f"run {run}: exit {code}: {victim.output}"
            assert any("draining" in line for line in victim.output), victim.output
            if peer is not None:
                peer.stop(signal.SIGKILL)
    finally:
        assert steady.stop() == 0


# -- Ray ---------------------------------------------------------------------


def test_a_ray_actor_killed_is_restarted_and_used_again(tpch_data: str) -> None:
    ray = pytest.importorskip("ray", reason="Ray has no build for this Python")
    from dfship.distributed.ray import start_workers

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        workers = start_workers(2, num_cpus=1, threads=2, max_restarts=1)
        urls = list(workers)
        ctx = DistributedContext(
            urls, bytes_per_task=BYTES_PER_TASK, token=workers.token, max_attempts=2
        )
        register(ctx, tpch_data)
        assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
        victim = workers.actors[0]
        old_pid = ray.get(victim.pid.remote())
        os.kill(old_pid, signal.SIGKILL)
        # The query runs on the other worker meanwhile.
        assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
        assert ctx.worker_states()[urls[0]] is not None
        # Ray restarts the actor, on the same port of the same node.
        deadline = time.monotonic() + 60
        while True:
            try:
                new_pid = ray.get(victim.pid.remote(), timeout=10)
                break
            except ray.exceptions.ActorUnavailableError:
                assert time.monotonic() < deadline, "the actor was not restarted"
                time.sleep(0.5)
        assert new_pid != old_pid
        assert workers.refresh() == urls
        deadline = time.monotonic() + 30
        while ctx.worker_states()[urls[0]] is not None:
            assert time.monotonic() < deadline, ctx.worker_states()
            assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
            time.sleep(0.2)
        assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
        assert urls[0] in ctx.last_query_attempts()[-1].workers
        workers.stop()
    finally:
        ray.shutdown()
