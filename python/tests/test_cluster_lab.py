"""The cluster lab's machinery (tpch/python/dfship_tpch/netlab.py, lab.py):
namespaces, shaped links, pinned processes, and that nothing is left behind
however the lab ends. The one-minute run of the whole lab is `make
cluster-lab-smoke`, a stage of `make test`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import dfship
from dfship.distributed import probe, spawn_worker
from dfship_tpch.lab import link_rate
from dfship_tpch.labreport import bar_chart
from dfship_tpch.netlab import Lab, LabUnavailable, check_platform, leftovers, namespaces

ROOT = Path(__file__).resolve().parents[2]


def _platform_reason() -> str | None:
    try:
        check_platform()
    except LabUnavailable as e:
        return str(e)
    return None


REASON = _platform_reason()
needs_lab = pytest.mark.skipif(
    REASON is not None, reason=f"the cluster lab cannot run here: {REASON}"
)


def test_spawn_worker_runs_under_a_prefix() -> None:
    with spawn_worker(threads=1, prefix=["taskset", "-c", "0"]) as worker:
        status = Path(f"/proc/{worker.pid}/status").read_text()
        allowed = next(line for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
        assert allowed.split()[-1] == "0"
        (state,) = probe([worker.url])
        assert state.reachable
    with pytest.raises(TypeError, match="sequence of arguments"):
        spawn_worker(prefix="taskset -c 0")


def lab_cli(tmp_path: Path, data: str, *extra: str, path: Path) -> subprocess.CompletedProcess[str]:
    """``python -m dfship_tpch lab`` with only ``path`` on PATH."""
    return subprocess.run(
        [sys.executable, "-m", "dfship_tpch", "lab", "--data", data,
         "--report", str(tmp_path / "r.md"), *extra],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(path)},
        timeout=120,
    )  # fmt: skip


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to drop it"
)
def test_lab_refuses_without_root(tmp_path: Path, tpch_data: str) -> None:
    tmp_path.chmod(0o777)
    unprivileged = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    env = {**os.environ, "HOME": str(tmp_path)}
    # The unprivileged user must be able to run this checkout's Python at all
    # (a clone under a private home directory is out of its reach).
    reach = subprocess.run(
        [*unprivileged, sys.executable, "-c", f"import dfship_tpch; open({tpch_data!r} + "
         "'/tpch-dataset.txt').read()"],
        capture_output=True,
        text=True,
        env=env,
    )  # fmt: skip
    if reach.returncode != 0:
        pytest.skip(f"user 65534 cannot read this checkout: {reach.stderr.strip()[-300:]}")
    done = subprocess.run(
        [
            *unprivileged,
            sys.executable,
            "-m",
            "dfship_tpch",
            "lab",
            "--data",
            tpch_data,
            "--report",
            str(tmp_path / "r.md"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "the cluster lab needs root" in done.stderr
    assert not (tmp_path / "r.md").exists()


def test_lab_refuses_without_ip_netns(tmp_path: Path, tpch_data: str) -> None:
    # An `ip` whose netns command is missing, as on a kernel without
    # network namespaces; tc and taskset are the real ones.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ip"
    fake.write_text('#!/bin/sh\necho \'Object "netns" is unknown, try "ip help".\' >&2\nexit 255\n')
    fake.chmod(0o755)
    for tool in ("tc", "taskset"):
        real = shutil.which(tool)
        if real is None:
            pytest.skip(f"{tool} is not installed here")
        (bin_dir / tool).symlink_to(real)
    done = lab_cli(tmp_path, tpch_data, path=bin_dir)
    if os.geteuid() != 0:
        assert done.returncode == 3 and "needs root" in done.stderr
        return
    assert done.returncode == 3, done.stderr
    assert "`ip netns` is unavailable here" in done.stderr
    assert 'Object "netns" is unknown' in done.stderr
    # Without `ip` at all, the message names it.
    fake.unlink()
    done = lab_cli(tmp_path, tpch_data, path=bin_dir)
    assert done.returncode == 3 and "needs `ip` (iproute2)" in done.stderr
    # --skip-unavailable says so and exits 0 (how make test runs the smoke
    # on a machine without namespaces).
    done = lab_cli(tmp_path, tpch_data, "--skip-unavailable", path=bin_dir)
    assert done.returncode == 0 and "cluster lab SKIPPED" in done.stdout


def _links_named(prefix: str) -> list[str]:
    links = json.loads(
        subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True).stdout
    )
    return [link["ifname"] for link in links if link["ifname"].startswith(prefix)]


@needs_lab
def test_lab_builds_isolated_namespaces_and_tears_them_down() -> None:
    links_before = _links_named("")
    with Lab(["coord", "w1", "w2"]) as lab:
        tag = lab.tag
        assert set(Lab.names_for(tag, ["coord", "w1", "w2"])) <= set(namespaces())
        # Nothing of the lab in the machine's own namespace.
        assert _links_named("") == links_before
        worker = spawn_worker(
            7100, host=lab.nodes["w1"].address, token="t", prefix=lab.prefix("w1", "1")
        )
        seen = subprocess.run(
            [
                *lab.prefix("coord"),
                sys.executable,
                "-c",
                f"from dfship.distributed import probe; s, = probe([{worker.url!r}], token='t'); "
                "print(s.version, s.authorized)",
            ],
            capture_output=True,
            text=True,
        )
        assert seen.stdout.split() == [dfship.__version__, "True"], seen.stderr

        def connects(node: str, host: str, port: int) -> bool:
            code = f"import socket; socket.create_connection(({host!r}, {port}), timeout=2)"
            done = subprocess.run(
                [*lab.prefix(node), sys.executable, "-c", code], capture_output=True
            )
            return done.returncode == 0

        # Nodes reach each other through the bridge, by their addresses...
        assert connects("w2", lab.nodes["w1"].address, 7100)
        # ...and not the machine's own addresses.
        with spawn_worker(host="127.0.0.1") as outside:
            port = int(outside.url.rsplit(":", 1)[1])
            assert not connects("w2", "127.0.0.1", port)
        # Nor does the machine's own namespace reach the lab's worker (a
        # sandbox's proxy may accept the TCP connection, but no worker
        # answers there).
        (outside_view,) = probe([worker.url], token="t")
        assert outside_view.version is None and not outside_view.authorized
    assert leftovers(tag) == []
    assert worker.proc.poll() is not None, "the worker in the lab outlived it"
    assert _links_named("") == links_before


@needs_lab
def test_lab_links_are_shaped() -> None:
    with Lab(["a", "b"]) as lab:
        lab.shape("100mbit")
        assert all("rate 100Mbit" in q for q in lab.qdiscs().values())
        shaped = link_rate(lab, "a", "b", 5_000_000)
        assert 50e6 < shaped < 115e6, shaped
        lab.shape(None)
        assert link_rate(lab, "a", "b", 50_000_000) > 300e6


HOLDER = textwrap.dedent(
    """
    import sys, time
    from dfship.distributed import spawn_worker
    from dfship_tpch.netlab import Lab
    lab = Lab(["coord", "w1"])
    with lab:
        node = lab.nodes["w1"]
        w = spawn_worker(7100, host=node.address, token="t", prefix=lab.prefix("w1", "0"))
        print(lab.tag, w.pid, flush=True)
        if sys.argv[1] == "raise":
            raise RuntimeError("failed on purpose")
        time.sleep(600)
    """
)


def _hold(how: str) -> tuple[subprocess.Popen[str], int, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    tag, worker = (int(x) for x in line.split())
    return proc, tag, worker


def _gone(pid: int) -> bool:
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@needs_lab
@pytest.mark.parametrize("how", ["raise", "SIGINT", "SIGTERM"])
def test_lab_teardown_on_failure_and_signals(how: str) -> None:
    proc, tag, worker = _hold(how)
    assert leftovers(tag) != []
    if how != "raise":
        proc.send_signal(getattr(signal, how))
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert leftovers(tag) == [], f"left behind after {how}"
    assert _gone(worker), f"the worker outlived the lab ({how})"


@needs_lab
def test_a_killed_labs_leftovers_are_swept_by_the_next() -> None:
    proc, tag, worker = _hold("sleep")
    proc.kill()  # SIGKILL: no teardown can run
    proc.wait()
    assert leftovers(tag) != []
    with Lab(["x"]):
        assert leftovers(tag) == []
    assert _gone(worker)


def test_bar_chart_is_svg() -> None:
    svg = bar_chart(
        ["q1", "q2"],
        [("a", [1.0, 2.5]), ("b", [0.5, 1.7])],
        title="t <&>",
        y_label="speedup",
        lines=[(1.7, "goal")],
    )
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    bars = [e for e in root.iter() if e.tag.endswith("rect") and e.find("{*}title") is not None]
    assert len(bars) == 4
    heights = [float(b.get("height", "0")) for b in bars]
    # Bars are drawn in proportion to their values (group by group).
    assert heights[1] / heights[0] == pytest.approx(0.5, rel=0.02)
    assert heights[2] / heights[0] == pytest.approx(2.5, rel=0.02)
