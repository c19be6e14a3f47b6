"""One configuration of the cluster lab, run where the lab puts it (in the
coordinator's namespace, pinned): ``python -m dfship_tpch.labrun SPEC OUT``;
``python -m dfship_tpch.labrun --upload DIR s3://BUCKET/PREFIX`` copies a
dataset to the lab's S3 server.

SPEC is a JSON file naming the data, the queries, how many timed runs each
gets, and the workers (none: single-node). Each query runs once, with the
bytes crossing the lab's links counted around that run, then ``iterations``
more times, the fastest counting. The result of the first run is compared
with the reference (the results of the single-node configuration that ran
first and wrote them). OUT receives the figures as JSON. Queries named in
``explain`` also run under EXPLAIN ANALYZE, whose metrics say where their
time went.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc

from dfship import SessionContext
from dfship.distributed import DistributedContext
from dfship_tpch import _is_ddl, compare, is_ordered, query_text, register, statements
from dfship_tpch.netlab import hub_bytes

TOKEN_ENV = "DFSHIP_LAB_TOKEN"

_DURATION = re.compile(r"([\d.]+)\s*(ns|µs|us|ms|s)\b")
_SIZE = re.compile(r"([\d.]+)\s*(B|KB|MB|GB|TB)\b")
_UNIT_SECONDS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
_UNIT_BYTES = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def _durations(text: str) -> list[float]:
    return [float(v) * _UNIT_SECONDS[u] for v, u in _DURATION.findall(text)]


def _sizes(text: str) -> list[float]:
    return [float(v) * _UNIT_BYTES[u] for v, u in _SIZE.findall(text)]


def breakdown(explained: str) -> dict[str, Any]:
    """What EXPLAIN ANALYZE of a distributed plan tells of where time went:
    the slowest stage-plan delivery and the plan bytes sent (the
    coordinator's ``plan_send_latency_max`` and ``plan_bytes_sent``), the
    bytes the network boundaries moved (``bytes_transferred``), and each
    stage's task count.

    >>> b = breakdown('''DistributedExec ── plan_send_latency_max={0:9.11ms, 1:2ms},
    ...   plan_bytes_sent={0:37.8 KB}
    ...   [Stage 2] => NetworkShuffleExec: metrics=[bytes_transferred=1.5 MB, msg_count=8]
    ...   ┌───── Stage 2 ── tasks=2, partitions=4
    ...   ┌───── Stage 1 ── tasks=1, partitions=1''')
    >>> round(b["plan_send_seconds"], 5), int(b["plan_bytes"]), int(b["exchange_bytes"])
    (0.00911, 38707, 1572864)
    >>> b["stages"]
    {'1': 1, '2': 2}
    """
    send: list[float] = []
    plan_bytes = 0.0
    exchange = 0.0
    stages: dict[str, int] = {}
    for line in explained.splitlines():
        m = re.search(r"plan_send_latency_max=\{([^}]*)\}", line)
        if m:
            send += _durations(m.group(1))
        m = re.search(r"plan_bytes_sent=\{([^}]*)\}", line)
        if m:
            plan_bytes += sum(_sizes(m.group(1)))
        m = re.search(r"bytes_transferred=([\d.]+\s*[KMGT]?B)\b", line)
        if m:
            exchange += sum(_sizes(m.group(1)))
        m = re.search(r"Stage (\d+) ── tasks=(\d+)", line)
        if m:
            stages[m.group(1)] = int(m.group(2))
    return {
        "plan_send_seconds": max(send, default=0.0),
        "plan_bytes": plan_bytes,
        "exchange_bytes": exchange,
        "stages": dict(sorted(stages.items(), key=lambda st: int(st[0]))),
    }


def _session(spec: dict[str, Any]) -> SessionContext:
    if spec["workers"]:
        ctx: SessionContext = DistributedContext(
            spec["workers"],
            token=os.environ.get(TOKEN_ENV),
            bytes_per_task=spec.get("bytes_per_task"),
        )
    else:
        ctx = SessionContext()
    register(ctx, spec["data"])
    return ctx


def _run(ctx: SessionContext, n: int) -> tuple[pa.Table, float]:
    """Query ``n``'s result and its wall time."""
    result = None
    start = time.perf_counter()
    for statement in statements(query_text(n)):
        if _is_ddl(statement):
            ctx.sql(statement).collect()
        else:
            result = ctx.sql(statement).to_arrow_table()
    assert result is not None
    return result, time.perf_counter() - start


def _explain(ctx: SessionContext, n: int) -> dict[str, Any]:
    """:func:`breakdown` of query ``n``'s EXPLAIN ANALYZE, and the time the
    coordinator takes to plan it (to the distributed physical plan, the
    fastest of three)."""
    found: dict[str, Any] = {}
    for statement in statements(query_text(n)):
        if _is_ddl(statement):
            ctx.sql(statement).collect()
            continue
        planning = []
        for _ in range(3):
            start = time.perf_counter()
            ctx.sql(statement).execution_plan()
            planning.append(time.perf_counter() - start)
        table = ctx.sql("EXPLAIN ANALYZE " + statement).to_arrow_table()
        text = "\n".join(str(v) for v in table.column(table.num_columns - 1).to_pylist())
        found = {**breakdown(text), "planning_seconds": min(planning)}
    return found


def _reference(spec: dict[str, Any], n: int) -> Path:
    return Path(spec["reference"]) / f"q{n:02d}.arrow"


def run(spec: dict[str, Any]) -> dict[str, Any]:
    ctx = _session(spec)
    hub = spec.get("hub")
    out: dict[str, Any] = {
        "label": spec["label"],
        "cpus": sorted(os.sched_getaffinity(0)),
        "queries": {},
        "explain": {},
    }
    for n in spec["queries"]:
        before = hub_bytes(hub) if hub else None
        result, first = _run(ctx, n)
        moved = hub_bytes(hub) - before if hub and before is not None else None
        path = _reference(spec, n)
        if spec.get("write_reference"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with pa.ipc.new_file(path, result.schema) as writer:
                writer.write_table(result)
            problem = None
        else:
            with pa.ipc.open_file(path) as reader:
                want = reader.read_all()
            problem = compare(result, want, ordered=is_ordered(query_text(n)))
        timed = [_run(ctx, n)[1] for _ in range(spec["iterations"])] or [first]
        out["queries"][str(n)] = {
            "seconds": min(timed),
            "first": first,
            "rows": result.num_rows,
            "bytes": moved,
            "problem": problem,
        }
        print(
            f"  {spec['label']}: q{n:02d} {min(timed):8.3f} s"
            + ("" if moved is None else f" {moved / 1e6:9.1f} MB")
            + ("" if problem is None else f"  DIFFERS: {problem}"),
            flush=True,
        )
    for n in spec.get("explain", []):
        out["explain"][str(n)] = _explain(ctx, n)
    return out


def upload(data: str, url: str) -> int:
    """Copies a local dataset to ``s3://bucket/prefix`` with the store the
    ``AWS_*`` variables configure, the marker file last (readers refuse a
    dataset without it); returns the bytes sent."""
    import boto3

    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    client = boto3.client(
        "s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"]
    )
    root = Path(data)
    files = [*sorted(root.rglob("*.parquet")), root / "tpch-dataset.txt"]
    for path in files:
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(root)}")
    return sum(p.stat().st_size for p in files)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--upload"] and len(argv) == 3:
        upload(argv[1], argv[2])
        return 0
    if len(argv) != 2:
        print("usage: python -m dfship_tpch.labrun SPEC.json OUT.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    result = run(spec)
    Path(argv[1]).write_text(json.dumps(result, indent=1) + "\n")
    return 1 if any(q["problem"] for q in result["queries"].values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
