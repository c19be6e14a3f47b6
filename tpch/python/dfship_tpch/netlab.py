"""A network of Linux network namespaces on one machine, for the cluster lab.

Every node (the coordinator, each worker, an object store) gets its own
network namespace with one interface, ``eth0``, on a private subnet. The
other end of each node's veth pair sits in a hub namespace, on a bridge:
nothing of the lab is added to the machine's own namespace, so its traffic
never leaves the lab's namespaces. Links can be shaped with ``tc``'s token
bucket filter (``tbf``) on both ends; this kernel has no ``netem``, so a
lab link adds bandwidth limits but no latency.

Processes run in a node's namespace under ``ip netns exec``, pinned to
cores with ``taskset``. :meth:`Lab.close` kills them and deletes the
namespaces (which removes the veth pairs with them); it runs on leaving the
``with`` block, on an exception, on Ctrl-C and on SIGTERM. A lab that was
killed outright (SIGKILL) leaves namespaces named after its process id:
the next lab removes those whose process is gone (:func:`sweep`).

Root and ``ip netns`` are required: :func:`check_platform` says which is
missing, as :class:`LabUnavailable`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType, TracebackType

SUBNET = "10.213.0"
PREFIX = "dfshiplab"
_NAME = re.compile(rf"^{PREFIX}(\d+)-(\S+)$")


class LabUnavailable(RuntimeError):
    """The machine cannot host the lab (not root, no ``ip netns``, no ``tc``,
    no ``taskset``): the message says what is missing."""


class LabError(RuntimeError):
    """A step of building or driving the lab failed: the message names the
    command and what it printed."""


def check_platform() -> None:
    """Raises :class:`LabUnavailable` unless this process can build a lab."""
    if os.geteuid() != 0:
        raise LabUnavailable(
            "the cluster lab needs root (it creates network namespaces, veth pairs and "
            "tc qdiscs): run it as root, e.g. `sudo make cluster-lab`"
        )
    for tool, package in (("ip", "iproute2"), ("tc", "iproute2"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            raise LabUnavailable(f"the cluster lab needs `{tool}` ({package}), not found on PATH")
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if listed.returncode != 0:
        raise LabUnavailable(
            f"`ip netns` is unavailable here ({listed.stderr.strip() or 'exit status '}"
            f"{'' if listed.stderr.strip() else listed.returncode}): the lab needs network "
            "namespaces"
        )


def _run(*argv: str) -> str:
    done = subprocess.run(list(argv), capture_output=True, text=True)
    if done.returncode != 0:
        raise LabError(f"`{' '.join(argv)}` failed: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def namespaces() -> list[str]:
    """Every network namespace's name."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _delete_namespace(name: str) -> None:
    """Kills what runs in namespace ``name``, then deletes it."""
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout
    for pid in (int(p) for p in pids.split()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not subprocess.run(
            ["ip", "netns", "pids", name], capture_output=True, text=True
        ).stdout.split():
            break
        time.sleep(0.05)
    subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def sweep() -> list[str]:
    """Deletes the namespaces of labs whose process is gone; returns them."""
    gone = []
    for name in namespaces():
        m = _NAME.match(name)
        if m and not _alive(int(m.group(1))):
            _delete_namespace(name)
            gone.append(name)
    return gone


def bits_per_second(rate: str) -> int:
    """``10gbit``, ``1gbit``, ``100mbit`` (tc's spelling) in bits per second."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)bit", rate.strip().lower())
    if not m:
        raise ValueError(f"not a rate: {rate!r} (e.g. 10gbit, 1gbit, 100mbit)")
    return int(float(m.group(1)) * {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[m.group(2)])


def burst_bytes(rate: str) -> int:
    """The token bucket :meth:`Lab.shape` gives a link at ``rate``: 5 ms of
    traffic, at least 256 KiB (a segmentation-offloaded 64 KiB packet must
    fit)."""
    return max(bits_per_second(rate) // 8 // 200, 256 * 1024)


@dataclass
class Node:
    """One namespace of the lab and its address on the lab's subnet."""

    name: str
    namespace: str
    address: str
    #: The hub-side end of its veth pair (in the hub namespace).
    port: str


@dataclass
class Lab:
    """Namespaces joined by veth pairs to a bridge; see the module's text.

    >>> Lab.names_for(1234, ["coord", "w1"])
    ['dfshiplab1234-hub', 'dfshiplab1234-coord', 'dfshiplab1234-w1']
    """

    node_names: Sequence[str]
    tag: int = field(default_factory=os.getpid)
    nodes: dict[str, Node] = field(default_factory=dict, init=False)
    hub: str = field(default="", init=False)
    rate: str | None = field(default=None, init=False)
    _procs: list[subprocess.Popen[str]] = field(default_factory=list, init=False)
    _old_handlers: dict[int, object] = field(default_factory=dict, init=False)
    _closed: bool = field(default=False, init=False)

    @staticmethod
    def names_for(tag: int, node_names: Sequence[str]) -> list[str]:
        return [f"{PREFIX}{tag}-hub", *(f"{PREFIX}{tag}-{n}" for n in node_names)]

    def __enter__(self) -> Lab:
        check_platform()
        sweep()
        self._trap_signals()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _trap_signals(self) -> None:
        # SIGTERM (and SIGHUP) unwind like Ctrl-C does, so `finally` and
        # `__exit__` tear the lab down.
        def unwind(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, unwind)

    def _build(self) -> None:
        names = self.names_for(self.tag, self.node_names)
        if len(set(self.node_names)) != len(self.node_names):
            raise ValueError(f"node names repeat: {list(self.node_names)}")
        existing = set(namespaces())
        clash = [n for n in names if n in existing]
        if clash:
            raise LabError(f"namespaces already exist: {clash}")
        self.hub = names[0]
        _run("ip", "netns", "add", self.hub)
        _run("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", self.hub, "link", "set", "br0", "up")
        for i, (name, ns) in enumerate(zip(self.node_names, names[1:], strict=True), start=10):
            _run("ip", "netns", "add", ns)
            _run("ip", "-n", ns, "link", "set", "lo", "up")
            port = f"p-{name}"[:15]
            _run(
                "ip",
                "-n",
                self.hub,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            _run("ip", "-n", self.hub, "link", "set", port, "master", "br0")
            _run("ip", "-n", self.hub, "link", "set", port, "up")
            address = f"{SUBNET}.{i}"
            _run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
            _run("ip", "-n", ns, "link", "set", "eth0", "up")
            self.nodes[name] = Node(name, ns, address, port)

    def shape(self, rate: str | None) -> None:
        """Limits every link to ``rate`` (``10gbit``, ``1gbit``, ``100mbit``)
        in both directions with a token bucket filter; ``None`` removes the
        limit. The bucket holds 5 ms of traffic (at least 256 KiB, so a
        segmentation-offloaded 64 KiB packet always fits)."""
        for node in self.nodes.values():
            for ns, dev in ((node.namespace, "eth0"), (self.hub, node.port)):
                if rate is None:
                    subprocess.run(
                        ["tc", "-n", ns, "qdisc", "del", "dev", dev, "root"], capture_output=True
                    )
                    continue
                burst = burst_bytes(rate)
                _run(
                    "tc",
                    "-n",
                    ns,
                    "qdisc",
                    "replace",
                    "dev",
                    dev,
                    "root",
                    "tbf",
                    "rate",
                    rate,
                    "burst",
                    str(burst),
                    "latency",
                    "100ms",
                )
        self.rate = rate

    def qdiscs(self) -> dict[str, str]:
        """Each node's link's root qdisc as ``tc`` shows it (node side)."""
        return {
            name: _run("tc", "-n", node.namespace, "qdisc", "show", "dev", "eth0", "root").strip()
            for name, node in self.nodes.items()
        }

    def link_bytes(self) -> int:
        """Bytes delivered over the lab's links so far: what the hub sent
        to the nodes. A byte from one node to another counts once."""
        return hub_bytes(self.hub)

    def popen(
        self,
        node: str,
        argv: Sequence[str],
        *,
        cpus: str | None = None,
        env: Mapping[str, str] | None = None,
        **kwargs: object,
    ) -> subprocess.Popen[str]:
        """Starts ``argv`` in ``node``'s namespace, pinned to ``cpus``
        (``taskset``'s list, e.g. ``"0"`` or ``"0,1"``); :meth:`close`
        kills it if it still runs."""
        proc: subprocess.Popen[str] = subprocess.Popen(  # type: ignore[call-overload]
            self.prefix(node, cpus) + list(argv),
            env=None if env is None else dict(env),
            text=True,
            **kwargs,
        )
        self._procs.append(proc)
        return proc

    def prefix(self, node: str, cpus: str | None = None) -> list[str]:
        """The command prefix that runs a program in ``node``'s namespace
        on ``cpus``."""
        command = ["ip", "netns", "exec", self.nodes[node].namespace]
        if cpus is not None:
            command += ["taskset", "-c", cpus]
        return command

    def close(self) -> None:
        """Kills the lab's processes and deletes its namespaces (their veth
        pairs go with them). Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        present = set(namespaces())
        for name in self.names_for(self.tag, self.node_names):
            if name in present:
                _delete_namespace(name)
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def hub_bytes(hub: str) -> int:
    """The bytes a hub namespace's bridge ports have sent (to their nodes)."""
    links = json.loads(_run("ip", "-n", hub, "-s", "-j", "link", "show", "master", "br0"))
    return sum(int(link["stats64"]["tx"]["bytes"]) for link in links)


def leftovers(tag: int) -> list[str]:
    """What a lab with this tag left behind: its namespaces, and any veth in
    the machine's own namespace named after it (there should be none)."""
    found = [n for n in namespaces() if n.startswith(f"{PREFIX}{tag}-")]
    links = json.loads(_run("ip", "-j", "link", "show"))
    found += [link["ifname"] for link in links if link["ifname"].startswith("p-")]
    return found
