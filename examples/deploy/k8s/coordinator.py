"""A coordinator that finds its workers through a headless Service: the
Service's DNS name resolves to the address of every ready worker pod.

    python coordinator.py dfship-workers.default.svc.cluster.local 50051

The token is read from ``DFSHIP_WORKER_TOKEN_FILE`` (the same Secret the
workers mount). Resolve again before each session: pods come and go, and a
session keeps the worker list it was made with (it drops workers that stop
answering, but never learns of new ones).
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import dfship
from dfship.distributed import DistributedContext, probe


def worker_urls(service: str, port: int, scheme: str = "http") -> list[str]:
    """Every address ``service`` resolves to, as worker URLs, sorted."""
    infos = socket.getaddrinfo(service, port, type=socket.SOCK_STREAM)
    hosts = sorted({info[4][0] for info in infos})
    return [f"{scheme}://[{h}]:{port}" if ":" in h else f"{scheme}://{h}:{port}" for h in hosts]


# ANCHOR: versions
def stale_workers(urls: list[str]) -> list[str]:
    """The workers that do not answer or run another dfship version than
    this coordinator (the status request needs no token)."""
    return [s.url for s in probe(urls) if not s.reachable or s.version != dfship.__version__]


# ANCHOR_END: versions


def session(service: str, port: int) -> DistributedContext:
    token_file = os.environ.get("DFSHIP_WORKER_TOKEN_FILE")
    token = Path(token_file).read_text().strip() if token_file else None
    urls = worker_urls(service, port)
    stale = stale_workers(urls)
    if stale:
        raise RuntimeError(f"workers unreachable or on another dfship version: {stale}")
    return DistributedContext(urls, token=token)


if __name__ == "__main__":
    ctx = session(sys.argv[1], int(sys.argv[2]))
    print(f"workers: {', '.join(ctx.workers)}")
    print(ctx.sql("SELECT 1 + 1 AS two").to_pydict())
