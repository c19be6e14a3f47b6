"""The chaos run: the 22 TPC-H queries in a loop on worker processes while a
chaos thread kills, freezes, terminates and restarts them.

Every few seconds the chaos thread picks a random worker and does one of:

- ``kill``: SIGKILL, then a new worker on the same port after a pause;
- ``freeze``: SIGSTOP, then SIGCONT a few seconds later;
- ``term``: SIGTERM (the worker drains and must exit 0), then a new one;

Each query's result is compared with single-node's. A query either
completes with the right result, or fails with one of dfship's typed
exceptions; anything else counts against the run: a wrong result, an
untyped error, a query still running after the hang limit, a worker that
exits other than as told (SIGKILL's -9, SIGTERM's 0; a SIGABRT is -6).
"""

from __future__ import annotations

import json
import random
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa

from dfship.distributed import DistributedContext, WorkerProcess, spawn_worker
from dfship.exceptions import DfshipError
from dfship_tpch import compare, context, is_ordered, query_text, register, run_query

ACTIONS = ("kill", "freeze", "term")


@dataclass
class Report:
    seconds: float = 0.0
    workers: int = 0
    queries: int = 0
    completed: int = 0
    failed_typed: int = 0
    failed_untyped: int = 0
    wrong: int = 0
    hangs: int = 0
    aborts: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    typed_errors: dict[str, int] = field(default_factory=dict)
    #: Total time of the completed queries over what the same queries took
    #: with no chaos.
    overhead: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.wrong or self.hangs or self.aborts or self.failed_untyped)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """Worker processes on fixed ports, restarted in place."""

    def __init__(self, n: int, threads: int) -> None:
        self.threads = threads
        self.ports = [_free_port() for _ in range(n)]
        self.procs: list[WorkerProcess | None] = [self._start(p) for p in self.ports]
        self.lock = threading.Lock()
        self.exits: list[tuple[str, int, int]] = []  # (action, expected, got)

    def _start(self, port: int) -> WorkerProcess:
        return spawn_worker(port, threads=self.threads, args=["--grace-period", "10"])

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def act(self, rng: random.Random, action: str) -> None:
        i = rng.randrange(len(self.ports))
        w = self.procs[i]
        if w is None:
            return
        if action == "freeze":
            w.proc.send_signal(signal.SIGSTOP)
            time.sleep(rng.uniform(2.0, 6.0))
            w.proc.send_signal(signal.SIGCONT)
            return
        sig, expected = (signal.SIGKILL, -9) if action == "kill" else (signal.SIGTERM, 0)
        self.procs[i] = None
        code = w.stop(sig, timeout=60)
        self.exits.append((action, expected, code))
        time.sleep(rng.uniform(0.5, 3.0))
        self.procs[i] = self._start(self.ports[i])

    def stop(self) -> None:
        for i, w in enumerate(self.procs):
            if w is not None:
                code = w.stop(timeout=60)
                self.exits.append(("final term", 0, code))
                self.procs[i] = None


def run_chaos(
    data: str,
    *,
    workers: int = 3,
    seconds: float = 60.0,
    interval: float = 4.0,
    hang_limit: float = 180.0,
    max_attempts: int = 5,
    bytes_per_task: int | None = 1 << 20,
    seed: int = 0,
    threads: int = 1,
    log: Any = print,
) -> Report:
    rng = random.Random(seed)
    queries = list(range(1, 23))
    single = context(data)
    want = {q: run_query(single, q) for q in queries}
    cluster = Cluster(workers, threads)
    report = Report(workers=workers)
    try:
        ctx = DistributedContext(
            cluster.urls, bytes_per_task=bytes_per_task, max_attempts=max_attempts
        )
        register(ctx, data)
        calm: dict[int, float] = {}
        for q in queries:
            started = time.monotonic()
            got = run_query(ctx, q)
            calm[q] = time.monotonic() - started
            problem = compare(got, want[q], ordered=is_ordered(query_text(q)))
            if problem:
                report.wrong += 1
                report.problems.append(f"q{q:02d} without chaos: {problem}")
        log(f"chaos: without chaos the 22 queries take {sum(calm.values()):.1f} s")

        stop = threading.Event()
        actions: Counter[str] = Counter()

        def chaos() -> None:
            while not stop.wait(rng.uniform(interval / 2, interval * 1.5)):
                action = rng.choice(ACTIONS)
                actions[action] += 1
                cluster.act(rng, action)

        agent = threading.Thread(target=chaos, name="chaos", daemon=True)
        started = time.monotonic()
        agent.start()
        attempts: Counter[str] = Counter()
        typed: Counter[str] = Counter()
        chaotic = 0.0
        calm_of_completed = 0.0
        n = 0
        while time.monotonic() - started < seconds:
            q = queries[n % len(queries)]
            n += 1
            report.queries += 1
            outcome: list[Any] = []

            def one(q: int = q, outcome: list[Any] = outcome) -> None:
                t0 = time.monotonic()
                try:
                    outcome.append(run_query(ctx, q))
                except BaseException as e:  # classified below
                    outcome.append(e)
                outcome.append(time.monotonic() - t0)

            thread = threading.Thread(target=one, daemon=True)
            thread.start()
            thread.join(hang_limit)
            if thread.is_alive():
                report.hangs += 1
                report.problems.append(f"q{q:02d} still running after {hang_limit:g} s")
                break
            result, took = outcome
            attempts[str(len(ctx.last_query_attempts()))] += 1
            if isinstance(result, pa.Table):
                problem = compare(result, want[q], ordered=is_ordered(query_text(q)))
                if problem:
                    report.wrong += 1
                    report.problems.append(f"q{q:02d}: {problem}")
                else:
                    report.completed += 1
                    chaotic += took
                    calm_of_completed += calm[q]
            elif isinstance(result, DfshipError):
                report.failed_typed += 1
                typed[type(result).__name__] += 1
            else:
                report.failed_untyped += 1
                report.problems.append(f"q{q:02d}: {type(result).__name__}: {result}"[:500])
        stop.set()
        agent.join(120)
        report.seconds = time.monotonic() - started
        report.actions = dict(actions)
        report.attempts = dict(sorted(attempts.items()))
        report.typed_errors = dict(typed)
        report.overhead = chaotic / calm_of_completed if calm_of_completed else None
    finally:
        cluster.stop()
    for action, expected, code in cluster.exits:
        if code != expected:
            report.aborts += 1
            report.problems.append(f"a worker told to {action} exited {code}, not {expected}")
    return report


def render(report: Report) -> str:
    share = report.completed / report.queries if report.queries else 0.0
    lines = [
        f"chaos: {report.seconds:.0f} s, {report.workers} workers, actions {report.actions}",
        f"  queries {report.queries}: completed {report.completed} ({share:.0%}), "
        f"failed typed {report.failed_typed} {report.typed_errors}, "
        f"failed untyped {report.failed_untyped}",
        f"  wrong results {report.wrong}, hangs {report.hangs}, aborted workers {report.aborts}",
        f"  attempts per query {report.attempts}",
        "  time of completed queries over the same without chaos: "
        + ("n/a" if report.overhead is None else f"{report.overhead:.2f}x"),
    ]
    lines += [f"  problem: {p}" for p in report.problems]
    lines.append("chaos: " + ("OK" if report.ok else "FAILED"))
    return "\n".join(lines)


def to_json(report: Report) -> str:
    return json.dumps({**asdict(report), "ok": report.ok}, indent=2)
