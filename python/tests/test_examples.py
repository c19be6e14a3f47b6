"""Every runnable example runs and succeeds."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_udf_families_run_and_agree_across_start_methods() -> None:
    env = {**os.environ, "DFSHIP_DEMO_ROWS": "20000"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "udf_families.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "geo_mean_amount" in done.stdout and "north" in done.stdout and "smoothed" in done.stdout
    for method in ("fork", "spawn", "forkserver"):
        assert f"{method} worker, expressions shipped by pickle: same result" in done.stdout
    assert "Shipped expressions (scalar, aggregate, window UDF), pickled:" in done.stdout


def _run(name: str, *args: str, timeout: int = 300) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{name} {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_quickstart() -> None:
    assert "same as local" in _run("quickstart.py")


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_pickle_expr(method: str) -> None:
    out = _run("multiprocessing_pickle_expr.py", method)
    assert f"{method}: 3 tasks" in out and "all match" in out
    assert "offset=32.0 scale=1.8 -> [70.7, 66.2, 73.85, 86.0, 65.3]" in out


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_concurrent_futures_expr(method: str) -> None:
    out = _run("concurrent_futures_expr.py", method)
    assert "{'oslo': 1195.0, 'rome': 1140.0, 'lima': 775.0}" in out
    assert f"{method}: same as one local run" in out


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the pinned Ray (2.60) has no wheel for Python 3.10"
)
def test_ray_pickle_expr_on_a_local_ray() -> None:
    """Starts a real local Ray instance (installed by the project's pins)."""
    out = _run("ray_pickle_expr.py", timeout=600)
    assert "ray: 2 actors, gross = [3.75, 8.75, 12.5, 15.0, 17.5]" in out
    assert "every actor's result matches the local one" in out


def test_strict_ffi() -> None:
    out = _run("strict_ffi.py")
    assert "count_even = [2]" in out
    assert "refused (aggregate UDF 'count_odd'); classes unpickled: []" in out


def test_distributed_query() -> None:
    """Starts two real worker processes on loopback."""
    out = _run("distributed_query.py")
    assert "distributed over 2 workers" in out and "[Stage" in out
    assert "32 groups, 120000 sales" in out
    assert "same as single-node" in out


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="the pinned Ray (2.60) has no wheel for Python 3.10"
)
def test_distributed_query_on_ray_actors() -> None:
    """Starts a real local Ray instance whose actors host the workers."""
    out = _run("distributed_query.py", "--ray", timeout=600)
    assert "32 groups, 120000 sales" in out and "same as single-node" in out


def test_kubernetes_coordinator_finds_workers_by_name(tmp_path: pathlib.Path) -> None:
    """examples/deploy/k8s/coordinator.py resolves a name to worker URLs and
    runs a query on them with the token from the file a Secret would mount;
    here the name is a literal address and the worker a real process."""
    from dfship.distributed import spawn_worker

    token = tmp_path / "token"
    token.write_text("k8s-example-token\n")
    token.chmod(0o600)
    with spawn_worker(token="k8s-example-token") as worker:
        port = worker.url.rsplit(":", 1)[1]
        env = {**os.environ, "DFSHIP_WORKER_TOKEN_FILE": str(token)}
        done = subprocess.run(
            [
                sys.executable,
                str(EXAMPLES / "deploy" / "k8s" / "coordinator.py"),
                "127.0.0.1",
                port,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert f"workers: http://127.0.0.1:{port}" in done.stdout and "[2]" in done.stdout
    sys.path.insert(0, str(EXAMPLES / "deploy" / "k8s"))
    try:
        from coordinator import worker_urls  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    assert worker_urls("::1", 50051) == ["http://[::1]:50051"]
    # a URL nothing listens on is reported before any session is made
    nobody = f"http://127.0.0.1:{port}"
    from coordinator import stale_workers

    assert stale_workers([nobody]) == [nobody]


def test_every_example_is_run_and_indexed() -> None:
    tested = pathlib.Path(__file__).read_text()
    index = (EXAMPLES / "README.md").read_text()
    for example in sorted(EXAMPLES.glob("*.py")):
        assert f'"{example.name}"' in tested, f"{example.name} is not run by the tests"
        assert f"`{example.name}`" in index, f"{example.name} is not in examples/README.md"
