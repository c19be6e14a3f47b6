"""The cluster lab: TPC-H on dfship workers that share neither cores nor a
network stack, on one machine.

The lab (:mod:`dfship_tpch.netlab`) gives the coordinator and each worker a
network namespace of its own, joined through a bridge by veth pairs shaped
with ``tc``'s token bucket filter, and pins every process to cores with
``taskset``. For each dataset, these configurations run the 22 queries
(each as its own process, :mod:`dfship_tpch.labrun`, in the coordinator's
namespace):

1. single-node on cores 0 and 1 (its results are the reference);
2. single-node on core 1;
3. one worker on core 1, the coordinator on core 0, links at the first rate;
4. two workers, on core 1 and core 0, the coordinator on core 0 too, at
   each rate.

Every result is compared with the reference; any difference fails the run.
The report (:func:`render`) gives the times, the bytes that crossed the
links, the speedup and parallel efficiency of two workers over one, and for
the queries that scale worst (and Q1 and Q6) where their time went.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfship.distributed import WorkerProcess, spawn_worker
from dfship_tpch import TABLES, dataset, table_files
from dfship_tpch.labrun import TOKEN_ENV
from dfship_tpch.netlab import Lab, LabError, bits_per_second, burst_bytes

RATES = ("10gbit", "1gbit", "100mbit")
WORKER_PORT = 7100
#: The goals the report is held against (2 workers over 1, SF 10, first rate).
GOAL_SCAN = 1.7
GOAL_SUITE = 1.5
SCAN_QUERIES = (1, 6)


@dataclass(frozen=True)
class Config:
    key: str
    label: str
    coordinator_cpus: str
    workers: int = 0
    rate: str | None = None
    #: Whether the data is read from the lab's S3 server.
    store: bool = False


def configs(rates: Sequence[str], store: bool = False) -> list[Config]:
    """The configurations in the order they run (the first writes the
    reference results the others are checked against); with ``store``, one
    and two workers again, reading the data from the S3 server."""
    out = [
        Config("single-2c", "single-node, 2 cores", "0,1"),
        Config("single-1c", "single-node, 1 core", "1"),
        # Fresh worker processes run their first queries slower (allocator,
        # thread pools, imports): one untimed pass on both warms them.
        Config("warm-up", f"warm-up, 2 workers, {rates[0]}", "0", 2, rates[0]),
        Config(f"1w-{rates[0]}", f"1 worker, {rates[0]}", "0", 1, rates[0]),
    ]
    out += [Config(f"2w-{r}", f"2 workers, {r}", "0", 2, r) for r in rates]
    if store:
        r = rates[0]
        out += [
            Config(f"1w-{r}-s3", f"1 worker, {r}, S3", "0", 1, r, True),
            Config(f"2w-{r}-s3", f"2 workers, {r}, S3", "0", 2, r, True),
        ]
    return out


@dataclass
class Store:
    """The lab's S3 server (moto, :mod:`dfship_tpch.s3_server`) in its own
    namespace, and the ``AWS_*`` variables that point at it."""

    proc: subprocess.Popen[str]
    env: dict[str, str]
    bucket: str = "tpch"

    def url(self, sf: float) -> str:
        return f"s3://{self.bucket}/sf{sf:g}"

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_PRINT_AWS_ENV = (
    "import json, os, sys; "
    "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('AWS_')}), flush=True); "
    "sys.stdin.read()"
)


def start_store(lab: Lab, scratch: Path) -> Store:
    """Starts the S3 server in the ``s3`` node, listening on its address;
    it runs until :meth:`Store.stop` (or the lab's teardown)."""
    log = scratch / "s3-server.log"
    proc = lab.popen(
        "s3",
        [sys.executable, "-m", "dfship_tpch.s3_server", "--host", lab.nodes["s3"].address,
         "--bucket", "tpch", "--log", str(log), "--", sys.executable, "-c", _PRINT_AWS_ENV],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            return Store(proc, json.loads(line))
    proc.wait()
    text = log.read_text() if log.exists() else ""
    raise LabError(f"the lab's S3 server did not start (exit status {proc.returncode}): {text}")


def warm(data: str) -> int:
    """Reads every file of the dataset once, so that no configuration pays
    for the disk; returns the bytes read."""
    total = 0
    for table in TABLES:
        for path in table_files(data, table):
            with open(path, "rb") as f:
                while chunk := f.read(1 << 22):
                    total += len(chunk)
    return total


def link_rate(lab: Lab, src: str, dst: str, nbytes: int) -> float:
    """Sends ``nbytes`` from node ``src`` to node ``dst`` over TCP and
    returns the bits per second the receiver saw (first byte to last)."""
    port = 7199
    server = lab.popen(
        dst,
        [sys.executable, "-c", _RECEIVER, lab.nodes[dst].address, str(port)],
        stdout=subprocess.PIPE,
    )
    assert server.stdout is not None
    ready = server.stdout.readline()
    if ready.strip() != "ready":
        raise RuntimeError(f"the link check's receiver did not start: {ready!r}")
    sender = lab.popen(
        src, [sys.executable, "-c", _SENDER, lab.nodes[dst].address, str(port), str(nbytes)]
    )
    sender.wait(timeout=600)
    out, _ = server.communicate(timeout=600)
    got, seconds = out.split()
    if int(got) != nbytes:
        raise RuntimeError(f"the link check received {got} of {nbytes} bytes")
    return 8 * nbytes / float(seconds)


_RECEIVER = """
import socket, sys, time
s = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("ready", flush=True)
c, _ = s.accept()
first = c.recv(1 << 20)
start = time.perf_counter()
n = len(first)
while b := c.recv(1 << 20):
    n += len(b)
print(n, time.perf_counter() - start)
"""

_SENDER = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
left = int(sys.argv[3])
block = bytes(1 << 20)
while left:
    n = min(left, len(block))
    c.sendall(block[:n])
    left -= n
c.close()
"""


def _drive(
    lab: Lab, cfg: Config, spec: dict[str, Any], scratch: Path, env: dict[str, str]
) -> dict[str, Any]:
    spec_path = scratch / f"{cfg.key}.spec.json"
    out_path = scratch / f"{cfg.key}.out.json"
    spec_path.write_text(json.dumps(spec))
    proc = lab.popen(
        "coord",
        [sys.executable, "-m", "dfship_tpch.labrun", str(spec_path), str(out_path)],
        cpus=cfg.coordinator_cpus,
        env=env,
    )
    code = proc.wait()
    if not out_path.exists():
        raise RuntimeError(f"{cfg.label}: the run failed (exit status {code})")
    result: dict[str, Any] = json.loads(out_path.read_text())
    result["config"] = cfg.__dict__
    return result


def _start_worker(lab: Lab, node: str, cpu: str, token: str, env: dict[str, str]) -> WorkerProcess:
    return spawn_worker(
        WORKER_PORT,
        host=lab.nodes[node].address,
        token=token,
        threads=1,
        env=env,
        prefix=lab.prefix(node, cpu),
    )


def run_dataset(
    lab: Lab,
    data: str,
    *,
    rates: Sequence[str],
    iterations: int,
    queries: Sequence[int],
    scratch: Path,
    log: Callable[[str], None],
    explain_extra: Sequence[int] = SCAN_QUERIES,
    bytes_per_task: int | None = None,
    store: Store | None = None,
) -> dict[str, Any]:
    """Every configuration on one dataset; the workers are started in
    their namespaces and stopped at the end. With ``store``, the dataset is
    uploaded to it and also read from there by one and two workers."""
    sf, parts = dataset(data)
    log(f"TPC-H SF {sf:g} ({parts} files per table): reading it once ({warm(data) / 1e9:.2f} GB)")
    token = secrets.token_hex(16)
    store_env = store.env if store else {}
    env = {**os.environ, **store_env, TOKEN_ENV: token}
    if store is not None:
        lab.shape(None)
        start = time.perf_counter()
        upload = lab.popen(
            "coord",
            [sys.executable, "-m", "dfship_tpch.labrun", "--upload", data, store.url(sf)],
            env=env,
        )
        if upload.wait() != 0:
            raise LabError(f"uploading {data} to {store.url(sf)} failed")
        log(f"uploaded to {store.url(sf)} in {time.perf_counter() - start:.1f} s")
    reference = scratch / f"reference-sf{sf:g}"
    base = {
        "data": str(Path(data).resolve()),
        "queries": list(queries),
        "iterations": iterations,
        "reference": str(reference),
        "hub": lab.hub,
        "workers": [],
        "bytes_per_task": bytes_per_task,
    }
    runs: dict[str, Any] = {}
    workers: dict[str, WorkerProcess] = {}
    try:
        for cfg in configs(rates, store is not None):
            lab.shape(cfg.rate)
            for node, cpu in (("w1", "1"), ("w2", "0"))[: cfg.workers]:
                if node not in workers:
                    workers[node] = _start_worker(lab, node, cpu, token, store_env)
            urls = [workers[n].url for n in ("w1", "w2")[: cfg.workers]]
            log(
                f"{cfg.label}: coordinator on core(s) {cfg.coordinator_cpus}"
                + (f", workers {', '.join(urls)}" if urls else "")
            )
            spec = {
                **base,
                "label": cfg.label,
                "workers": urls,
                "write_reference": cfg.key == "single-2c",
            }
            if cfg.key == "warm-up":
                spec["iterations"] = 0
            if cfg.store:
                assert store is not None
                spec["data"] = store.url(sf)
            runs[cfg.key] = _drive(lab, cfg, spec, scratch, env)
        one, two = f"1w-{rates[0]}", f"2w-{rates[0]}"
        worst = sorted(queries, key=lambda q: _speedup(runs, one, two, q))[:3]
        explain = list(dict.fromkeys([*worst, *(q for q in explain_extra if q in queries)]))
        cfg = Config(
            f"explain-{rates[0]}", f"2 workers, {rates[0]}, EXPLAIN ANALYZE", "0", 2, rates[0]
        )
        lab.shape(cfg.rate)
        log(
            f"where the time goes: q{', q'.join(f'{q:02d}' for q in explain)} under EXPLAIN ANALYZE"
        )
        spec = {
            **base,
            "label": cfg.label,
            "queries": [],
            "explain": explain,
            "workers": [workers["w1"].url, workers["w2"].url],
        }
        runs[cfg.key] = _drive(lab, cfg, spec, scratch, env)
    finally:
        for w in workers.values():
            w.stop()
    return {
        "sf": sf,
        "parts": parts,
        "bytes_per_task": bytes_per_task,
        "store": store is not None,
        "runs": runs,
    }


def _speedup(runs: dict[str, Any], one: str, two: str, q: int) -> float:
    return float(runs[one]["queries"][str(q)]["seconds"] / runs[two]["queries"][str(q)]["seconds"])


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import dfship

    return {
        "date": time.strftime("%Y-%m-%d"),
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "dfship": dfship.__version__,
        "build": "release" if dfship.RELEASE_BUILD else "debug",
    }


def run_lab(
    datasets: Sequence[str],
    *,
    rates: Sequence[str] = RATES,
    iterations: Callable[[float], int] = lambda sf: 3 if sf <= 1 else 0,
    queries: Sequence[int] = range(1, 23),
    link_check_bytes: int = 200_000_000,
    bytes_per_task: int | None = None,
    s3: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Builds the lab, runs every dataset, tears the lab down; returns the
    figures :func:`render` reports. With ``s3``, an S3 server runs in a
    namespace of its own and the first dataset is also read from it."""
    for rate in rates:
        bits_per_second(rate)
    nodes = ["coord", "w1", "w2", *(["s3"] if s3 else [])]
    with (
        tempfile.TemporaryDirectory(prefix="dfship-lab-") as tmp,
        Lab(nodes) as lab,
    ):
        scratch = Path(tmp)
        log(
            f"lab: namespaces {lab.hub} (bridge) and "
            + ", ".join(f"{n.namespace} ({n.address})" for n in lab.nodes.values())
        )
        checks = {}
        for rate in rates:
            lab.shape(rate)
            size = min(link_check_bytes, bits_per_second(rate) // 8 * 2)
            measured = link_rate(lab, "w1", "w2", size)
            checks[rate] = measured
            # A full bucket goes through at once: only bytes beyond it are
            # held to the rate (with 15% of slack for timing).
            seconds = 8 * size / measured
            if size > 1.15 * bits_per_second(rate) / 8 * seconds + burst_bytes(rate):
                raise LabError(
                    f"the link carried {measured / 1e9:.3f} Gbit/s, over its limit of {rate}: "
                    "the tc shaping is not in effect"
                )
            log(
                f"link at {rate}: {measured / 1e9:.3f} Gbit/s measured w1 -> w2 "
                f"({size / 1e6:.0f} MB)"
            )
        datasets_run: list[dict[str, Any]] = []
        results = {
            "machine": machine(),
            "rates": list(rates),
            "link_check": checks,
            "datasets": datasets_run,
        }
        store = start_store(lab, scratch) if s3 else None
        for i, data in enumerate(datasets):
            sf, _ = dataset(data)
            datasets_run.append(
                run_dataset(
                    lab,
                    data,
                    rates=rates,
                    iterations=iterations(sf),
                    queries=queries,
                    scratch=scratch,
                    log=log,
                    bytes_per_task=bytes_per_task,
                    store=store if i == 0 else None,
                )
            )
        if store is not None:
            store.stop()
        return results
