"""Worker processes for the distributed tests: `python -m dfship.worker`
started for real, on loopback."""

from __future__ import annotations

import socket

from dfship.distributed import WorkerProcess, spawn_worker

__all__ = ["WorkerProcess", "free_port", "start_worker"]


def free_port() -> int:
    """A loopback port nothing listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_worker(*args: str, env: dict[str, str] | None = None) -> WorkerProcess:
    """A worker process with two runtime threads; `--no-inlining` and
    `--token T` as on the command line."""
    token = args[args.index("--token") + 1] if "--token" in args else None
    env = dict(env or {})
    return spawn_worker(
        threads=2,
        python_udf_inlining="--no-inlining" not in args,
        token=token or env.pop("DFSHIP_WORKER_TOKEN", None),
        env=env,
    )
