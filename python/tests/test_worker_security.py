"""A worker on a network: TLS and mutual TLS with certificates the tests
make, refusals typed, shuffles over TLS, secrets from files, safe defaults
and a worker that stops answering. Every worker is a real process
(`python -m dfship.worker`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from _certs import Authority, Pair

from dfship import SessionContext, udf
from dfship.distributed import DistributedContext, Tls, WorkerProcess, spawn_worker
from dfship.exceptions import (
    PayloadTooLargeError,
    QueryTimeoutError,
    ResourcesExhaustedError,
    SignatureError,
    WorkerAuthError,
    WorkerBusyError,
    WorkerPolicyError,
    WorkerUnavailableError,
)
from dfship_tpch import register

BYTES_PER_TASK = 64 * 1024
# Shuffles: the second stage reads the first's partitions from other workers.
QUERY = """
SELECT tag(l_returnflag) AS f, count(*) AS n, sum(l_quantity) AS q
FROM lineitem GROUP BY tag(l_returnflag) ORDER BY f
"""


def tag_udf() -> Any:
    """A Python UDF only the coordinator registers: it travels with the query."""

    def tag(values: pa.Array) -> pa.Array:
        return pa.array([f"<{v}>" for v in values.to_pylist()])

    return udf(tag, [pa.string()], pa.string(), "immutable", name="tag")


@dataclass
class Pki:
    ca: Authority
    worker: Pair
    peer: Pair  # what a worker presents when it calls another under mTLS
    client: Pair
    other_ca: Authority
    stranger: Pair  # a client certificate another CA issued
    expired: Pair
    wrong_host: Pair
    untrusted: Pair  # a worker certificate another CA issued
    secrets: list[bytes] = field(default_factory=list)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca, other = Authority(d), Authority(d, "other CA")
    return Pki(
        ca=ca,
        worker=ca.issue("worker"),
        peer=ca.issue("peer", hosts=(), client=True),
        client=ca.issue("client", hosts=(), client=True),
        other_ca=other,
        stranger=other.issue("stranger", hosts=(), client=True),
        expired=ca.issue("expired", expired=True),
        wrong_host=ca.issue("elsewhere", hosts=("elsewhere.example",)),
        untrusted=other.issue("untrusted"),
    )


def worker_tls(pki: Pki, *, mutual: bool = False, serve: Pair | None = None) -> Tls:
    serve = serve or pki.worker
    return Tls(
        cert=serve.cert,
        key=serve.key,
        ca=pki.ca.ca,
        client_ca=pki.ca.ca if mutual else None,
        client_cert=pki.peer.cert if mutual else None,
        client_key=pki.peer.key if mutual else None,
    )


def start(tls: Tls | None = None, **kw: Any) -> WorkerProcess:
    return spawn_worker(threads=2, tls=tls, **kw)


def coordinator(urls: list[str], data: str, **kw: Any) -> DistributedContext:
    ctx = DistributedContext(urls, bytes_per_task=BYTES_PER_TASK, **kw)
    register(ctx, data)
    ctx.register_udf(tag_udf())
    return ctx


def expected(data: str) -> dict[str, list[Any]]:
    ctx = SessionContext()
    register(ctx, data)
    ctx.register_udf(tag_udf())
    return ctx.sql(QUERY).to_pydict()


@pytest.fixture
def stopping() -> Iterator[list[WorkerProcess]]:
    """Workers a test started: stopped (and continued, if stopped by a
    signal) at its end."""
    started: list[WorkerProcess] = []
    yield started
    for w in started:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGCONT)
            w.stop(signal.SIGKILL)


def test_tls_queries_are_correct(pki: Pki, tpch_data: str, stopping: list[WorkerProcess]) -> None:
    stopping += [start(worker_tls(pki)) for _ in range(2)]
    assert all(w.url.startswith("https://127.0.0.1:") for w in stopping)
    assert all(", TLS" in w.banner for w in stopping), [w.banner for w in stopping]
    ctx = coordinator([w.url for w in stopping], tpch_data, tls=Tls(ca=pki.ca.ca))
    assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)


def test_mutual_tls_queries_are_correct_and_need_a_client_certificate(
    pki: Pki, tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping += [start(worker_tls(pki, mutual=True)) for _ in range(2)]
    assert all("mutual TLS" in w.banner for w in stopping)
    urls = [w.url for w in stopping]
    mutual = Tls(ca=pki.ca.ca, cert=pki.client.cert, key=pki.client.key)
    assert coordinator(urls, tpch_data, tls=mutual).sql(QUERY).to_pydict() == expected(tpch_data)
    for refused in (
        Tls(ca=pki.ca.ca),  # no client certificate
        Tls(ca=pki.ca.ca, cert=pki.stranger.cert, key=pki.stranger.key),  # another CA's
    ):
        ctx = coordinator(urls, tpch_data, tls=refused)
        started = time.monotonic()
        with pytest.raises(WorkerAuthError) as caught:
            ctx.sql(QUERY).collect()
        assert time.monotonic() - started < 60
        assert any(u in str(caught.value) for u in urls), caught.value


def test_workers_without_a_client_certificate_cannot_shuffle_under_mutual_tls(
    pki: Pki, tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    # Workers that serve mutual TLS but present nothing when they call each
    # other: the coordinator gets through, the shuffle between them does not.
    half = Tls(cert=pki.worker.cert, key=pki.worker.key, ca=pki.ca.ca, client_ca=pki.ca.ca)
    stopping += [start(half) for _ in range(2)]
    mutual = Tls(ca=pki.ca.ca, cert=pki.client.cert, key=pki.client.key)
    ctx = coordinator([w.url for w in stopping], tpch_data, tls=mutual)
    with pytest.raises(WorkerAuthError, match="requires a client certificate"):
        ctx.sql(QUERY).collect()


@pytest.mark.parametrize(
    ("serve", "trust", "why"),
    [
        ("untrusted", "ca", "UnknownIssuer"),
        ("worker", "other_ca", "UnknownIssuer"),
        ("expired", "ca", "certificate expired"),
        ("wrong_host", "ca", "not valid for name"),
    ],
)
def test_certificates_the_coordinator_must_refuse(
    pki: Pki, tpch_data: str, stopping: list[WorkerProcess], serve: str, trust: str, why: str
) -> None:
    server: Pair = getattr(pki, serve)
    authority: Authority = getattr(pki, trust)
    # Two workers: a query on one alone may be planned to run locally.
    stopping += [start(Tls(cert=server.cert, key=server.key)) for _ in range(2)]
    ctx = coordinator([w.url for w in stopping], tpch_data, tls=Tls(ca=authority.ca))
    with pytest.raises(WorkerAuthError, match=why) as caught:
        ctx.sql(QUERY).collect()
    assert any(w.url in str(caught.value) for w in stopping), caught.value


def test_plaintext_to_a_tls_worker_is_refused_typed(
    pki: Pki, tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping += [start(worker_tls(pki)) for _ in range(2)]
    plaintext = [w.url.replace("https://", "http://") for w in stopping]
    ctx = coordinator(plaintext, tpch_data)
    with pytest.raises(WorkerAuthError, match="https://") as caught:
        ctx.sql(QUERY).collect()
    assert all(u in str(caught.value) for u in plaintext), caught.value


def test_https_needs_tls_settings() -> None:
    with pytest.raises(ValueError, match="TLS settings"):
        DistributedContext(["https://127.0.0.1:1"])
    with pytest.raises(ValueError, match="go together"):
        Tls(cert="c.pem")
    with pytest.raises(ValueError, match="worker settings"):
        DistributedContext(["https://127.0.0.1:1"], tls=Tls(client_ca="ca.pem"))


def test_bad_pem_files_are_refused_naming_nothing_secret(tmp_path: Path, pki: Pki) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="no PEM certificate"):
        DistributedContext(["https://127.0.0.1:1"], tls=Tls(ca=junk))
    with pytest.raises(ValueError, match="no PEM private key") as caught:
        DistributedContext(
            ["https://127.0.0.1:1"],
            tls=Tls(ca=pki.ca.ca, cert=pki.client.cert, key=pki.client.cert),
        )
    assert "BEGIN" not in str(caught.value)
    with pytest.raises(FileNotFoundError):
        DistributedContext(["https://127.0.0.1:1"], tls=Tls(ca=tmp_path / "missing.pem"))


# -- Shuffles between workers go over TLS ------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _owner(peer: tuple[str, int], pids: list[int]) -> int | None:
    """Which of `pids` holds the local end `peer` of a loopback connection."""
    ip, port = peer
    local = f"{socket.inet_aton(ip)[::-1].hex().upper()}:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        if cols[1] == local:
            inode = cols[9]
            return next((pid for pid in pids if inode in _socket_inodes(pid)), None)
    return None


class RecordingProxy:
    """Forwards a port to a worker and records, for every connection, its
    first bytes and which process made it."""

    def __init__(self, target: int, pids: list[int]) -> None:
        self.target, self.pids = target, pids
        self.seen: list[tuple[int | None, bytes]] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.server.accept()
            except OSError:
                return
            owner = _owner(peer, self.pids)
            upstream = socket.create_connection(("127.0.0.1", self.target))
            first: list[bytes] = []
            threading.Thread(
                target=self._pipe, args=(conn, upstream, first, owner), daemon=True
            ).start()
            threading.Thread(
                target=self._pipe, args=(upstream, conn, None, None), daemon=True
            ).start()

    def _pipe(
        self, src: socket.socket, dst: socket.socket, first: list[bytes] | None, owner: int | None
    ) -> None:
        try:
            while data := src.recv(65536):
                if first is not None and not first:
                    first.append(data)
                    self.seen.append((owner, data[:3]))
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.server.close()


def test_worker_to_worker_shuffles_use_tls(
    pki: Pki, tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping += [start(worker_tls(pki, mutual=True)) for _ in range(2)]
    pids = [w.pid for w in stopping]
    proxies = [RecordingProxy(int(w.url.rsplit(":", 1)[1].rstrip("/")), pids) for w in stopping]
    try:
        urls = [f"https://127.0.0.1:{p.port}" for p in proxies]
        mutual = Tls(ca=pki.ca.ca, cert=pki.client.cert, key=pki.client.key)
        assert coordinator(urls, tpch_data, tls=mutual).sql(QUERY).to_pydict() == expected(
            tpch_data
        )
    finally:
        for p in proxies:
            p.close()
    seen = [s for p in proxies for s in p.seen]
    # Every connection, the coordinator's and the workers', opened with a
    # TLS handshake record (content type 22, version 3.x).
    assert seen and all(first[:2] == b"\x16\x03" for _, first in seen), seen
    callers = {owner for owner, _ in seen}
    assert callers & set(pids), f"no worker called another: {seen}"
    assert None in callers, "the coordinator's connections were not seen"


# -- Secrets from files, safe defaults ---------------------------------------


def run_worker(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """`python -m dfship.worker ARGS` expected to exit by itself."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DFSHIP_WORKER_TOKEN")}
    return subprocess.run(
        [sys.executable, "-m", "dfship.worker", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**environment, **(env or {})},
    )


def test_non_loopback_without_a_token_is_refused() -> None:
    for host in ("0.0.0.0", "::"):
        done = run_worker("--host", host)
        assert done.returncode == 2, done
        assert "token" in done.stderr and "--insecure" in done.stderr, done.stderr
        assert "listening" not in done.stdout


def test_insecure_starts_with_a_warning_and_prints_a_usable_url(
    tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping.append(start(host="0.0.0.0", args=["--insecure"]))
    w = stopping[0]
    assert w.url.startswith(f"http://{socket.gethostname()}:"), w.banner
    assert "0.0.0.0" not in w.url
    # The note and the warning follow the banner line.
    w.stop()
    assert any("bound to http://0.0.0.0:" in line for line in w.output), w.output
    assert any("--insecure" in line for line in w.output), w.output
    stopping.append(start(host="0.0.0.0", args=["--insecure"]))
    ctx = coordinator([stopping[1].url], tpch_data)
    assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)


def test_a_token_makes_a_public_address_allowed(stopping: list[WorkerProcess]) -> None:
    stopping.append(start(host="0.0.0.0", token="s3cret-token"))
    assert "token required" in stopping[0].banner


def secret_file(path: Path, content: str, mode: int = 0o600) -> Path:
    path.write_text(content + "\n")
    path.chmod(mode)
    return path


def test_token_and_payload_key_from_files(
    tmp_path: Path, tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    token = "token-from-a-file-7f3a"
    key = "payload-key-from-a-file-91c2"
    token_file = secret_file(tmp_path / "token", token)
    key_file = secret_file(tmp_path / "key", key)
    stopping.append(
        start(args=["--token-file", str(token_file), "--payload-key-file", str(key_file)])
    )
    # And the same from the environment.
    env = {"DFSHIP_WORKER_TOKEN_FILE": str(token_file), "DFSHIP_PAYLOAD_KEY_FILE": str(key_file)}
    stopping.append(start(env=env))
    urls = [w.url for w in stopping]
    assert all("token required" in w.banner for w in stopping)
    good = coordinator(urls, tpch_data, token=token, payload_key=key.encode())
    assert good.sql(QUERY).to_pydict() == expected(tpch_data)
    with pytest.raises(WorkerAuthError, match="token"):
        coordinator(urls, tpch_data, payload_key=key.encode()).sql(QUERY).collect()
    with pytest.raises(SignatureError) as unsigned:
        coordinator(urls, tpch_data, token=token, payload_key=b"another key").sql(QUERY).collect()
    for w in stopping:
        w.stop()
        printed = "\n".join([w.banner, *w.output, str(unsigned.value)])
        assert token not in printed and key not in printed, printed


def test_a_secret_file_others_can_read_draws_a_warning(
    tmp_path: Path, stopping: list[WorkerProcess]
) -> None:
    token_file = secret_file(tmp_path / "token", "loose-token", 0o644)
    stopping.append(start(args=["--token-file", str(token_file)]))
    warned = [line for line in stopping[0].output if "readable by its group or others" in line]
    assert warned and "644" in warned[0], stopping[0].output
    assert "loose-token" not in "\n".join(stopping[0].output)
    private = secret_file(tmp_path / "private", "tight-token")
    stopping.append(start(args=["--token-file", str(private)]))
    assert not [line for line in stopping[1].output if "readable" in line]


def test_an_empty_or_missing_secret_file_is_refused(tmp_path: Path) -> None:
    empty = secret_file(tmp_path / "empty", "")
    done = run_worker("--token-file", str(empty))
    assert done.returncode == 2 and "empty" in done.stderr, done
    done = run_worker("--payload-key-file", str(tmp_path / "missing"))
    assert done.returncode == 2 and "missing" in done.stderr, done


# -- A worker that stops answering -------------------------------------------


def test_a_stopped_worker_fails_the_query_typed_and_bounded(
    tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping += [start() for _ in range(2)]
    ctx = coordinator([w.url for w in stopping], tpch_data, max_attempts=1)
    assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)
    stalled = stopping[1]
    stalled.proc.send_signal(signal.SIGSTOP)
    started = time.monotonic()
    with pytest.raises(WorkerUnavailableError) as caught:
        ctx.sql(QUERY).collect()
    took = time.monotonic() - started
    assert stalled.url in str(caught.value) and "no answer" in str(caught.value), caught.value
    assert took < 45, took


# -- Limits ------------------------------------------------------------------

# Needs memory it cannot spill: the build side of a hash join, a top-k.
HUNGRY = "SELECT l_comment FROM lineitem ORDER BY l_comment LIMIT 3"
SMALL = "SELECT sum(l_quantity) AS q FROM lineitem"


def test_a_query_over_the_memory_limit_fails_typed_and_the_worker_goes_on(
    tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping += [start(args=["--memory-limit", "1M"]) for _ in range(2)]
    ctx = coordinator([w.url for w in stopping], tpch_data)
    with pytest.raises(ResourcesExhaustedError, match="Resources exhausted"):
        ctx.sql(HUNGRY).collect()
    local = SessionContext()
    register(local, tpch_data)
    assert ctx.sql(SMALL).to_pydict() == local.sql(SMALL).to_pydict()
    assert all(w.proc.poll() is None for w in stopping)
    # Without the limit, the same query runs.
    roomy = [start(), start()]
    stopping += roomy
    got = coordinator([w.url for w in roomy], tpch_data).sql(HUNGRY).to_pydict()
    assert got == local.sql(HUNGRY).to_pydict()


def slow_udf() -> Any:
    def slow(values: pa.Array) -> pa.Array:
        time.sleep(1.5)
        return values

    return udf(slow, [pa.int64()], pa.int64(), "volatile", name="slow")


def test_a_task_past_the_query_timeout_is_cancelled_typed(
    tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping += [start(args=["--query-timeout", "1"]) for _ in range(2)]
    ctx = coordinator([w.url for w in stopping], tpch_data)
    ctx.register_udf(slow_udf())
    started = time.monotonic()
    with pytest.raises(QueryTimeoutError, match="--query-timeout of 1"):
        ctx.sql("SELECT sum(slow(l_orderkey)) FROM lineitem").collect()
    assert time.monotonic() - started < 30
    # A query within the timeout still runs on the same workers, once the
    # batch the UDF was sleeping on when its task was cancelled is done.
    time.sleep(3)
    local = SessionContext()
    register(local, tpch_data)
    assert ctx.sql(SMALL).to_pydict() == local.sql(SMALL).to_pydict()


def test_tasks_past_the_concurrency_cap_are_refused_typed(
    tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping += [start(args=["--max-concurrent-tasks", "1"]) for _ in range(2)]
    ctx = coordinator([w.url for w in stopping], tpch_data)
    with pytest.raises(WorkerBusyError, match="--max-concurrent-tasks"):
        ctx.sql(QUERY).collect()
    roomy = [start(args=["--max-concurrent-tasks", "64"]) for _ in range(2)]
    stopping += roomy
    # Slots come back when tasks end: the same query, twice.
    ctx = coordinator([w.url for w in roomy], tpch_data)
    for _ in range(2):
        assert ctx.sql(QUERY).to_pydict() == expected(tpch_data)


def test_responses_over_max_response_bytes_are_refused(
    tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping += [start() for _ in range(2)]
    wide = "SELECT l_comment, l_shipinstruct FROM lineitem"
    tight = coordinator([w.url for w in stopping], tpch_data, max_response_bytes=4096)
    with pytest.raises(PayloadTooLargeError, match="max_response_bytes of 4096"):
        tight.sql(wide).collect()
    assert coordinator([w.url for w in stopping], tpch_data).sql(wide).count() == 60175
    with pytest.raises(ValueError, match="max_response_bytes"):
        DistributedContext([stopping[0].url], max_response_bytes=0)


def test_scans_outside_the_data_roots_are_refused(
    tpch_data: str, tmp_path: Path, stopping: list[WorkerProcess]
) -> None:
    stopping += [start(args=["--data-root", tpch_data]) for _ in range(2)]
    assert coordinator([w.url for w in stopping], tpch_data).sql(QUERY).to_pydict() == expected(
        tpch_data
    )
    fenced = [start(args=["--data-root", str(tmp_path)]) for _ in range(2)]
    stopping += fenced
    with pytest.raises(WorkerPolicyError, match="outside its --data-root") as caught:
        coordinator([w.url for w in fenced], tpch_data).sql(QUERY).collect()
    assert "lineitem" in str(caught.value)
    done = run_worker("--data-root", "/")
    assert done.returncode == 2 and "whole file system" in done.stderr, done


def test_udfs_too_large_for_a_request_header_are_refused_on_the_coordinator(
    tpch_data: str, stopping: list[WorkerProcess]
) -> None:
    stopping += [start() for _ in range(2)]
    ballast = os.urandom(13 << 20)

    def heavy(values: pa.Array) -> pa.Array:
        return pa.array([len(ballast)] * len(values), pa.int64())

    ctx = coordinator([w.url for w in stopping], tpch_data)
    ctx.register_udf(udf(heavy, [pa.int64()], pa.int64(), "immutable", name="heavy"))
    with pytest.raises(PayloadTooLargeError):
        ctx.sql("SELECT heavy(l_orderkey) FROM lineitem").collect()
