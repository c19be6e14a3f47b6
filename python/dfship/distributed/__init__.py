"""Query-level distribution: whole SQL and DataFrame queries planned into
stages and run across dfship workers, on datafusion-distributed.

A :class:`Worker` serves tasks from the process that creates it (or run one
with ``python -m dfship.worker``); a :class:`DistributedContext` is a
:class:`~dfship.SessionContext` whose queries run on a list of workers.
Python UDFs registered only on the coordinating process travel with each
query and run on the workers.

>>> from dfship.distributed import DistributedContext, Worker
>>> with Worker() as a, Worker() as b:
...     ctx = DistributedContext([a.url, b.url])
...     ctx.sql("SELECT 1 + 1 AS two").to_pydict()
{'two': [2]}

See the guide's "Query-level distribution" chapter for set-up across
machines, tokens and signed payloads.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Union
from urllib.parse import urlsplit, urlunsplit

from dfship import _internal, ipc
from dfship.context import RuntimeEnvBuilder, SessionConfig, SessionContext

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "PAYLOAD_KEY_FILE_ENV",
    "TOKEN_ENV",
    "TOKEN_FILE_ENV",
    "DistributedContext",
    "QueryAttempt",
    "Tls",
    "Worker",
    "WorkerProcess",
    "WorkerState",
    "probe",
    "read_secret_file",
    "spawn_worker",
]

#: Environment variable ``python -m dfship.worker`` reads its token from
#: when neither ``--token-file`` nor ``--token`` is given.
TOKEN_ENV = "DFSHIP_WORKER_TOKEN"
#: Environment variable naming a file that holds the worker token.
TOKEN_FILE_ENV = "DFSHIP_WORKER_TOKEN_FILE"
#: Environment variable naming a file that holds the payload key.
PAYLOAD_KEY_FILE_ENV = "DFSHIP_PAYLOAD_KEY_FILE"

StrPath = Union[str, "os.PathLike[str]"]


def read_secret_file(path: StrPath, what: str = "secret") -> bytes:
    """The bytes of a file holding a token or key, one trailing newline
    dropped (so that ``echo secret > file`` works). Warns
    (:class:`UserWarning`) when the file is readable by its group or by
    others: a secret file should be ``chmod 600``. The contents never appear
    in a message."""
    file = Path(path)
    mode = file.stat().st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.warn(
            f"the {what} file {file} is readable by its group or others "
            f"(mode {stat.S_IMODE(mode):o}); chmod 600 it",
            UserWarning,
            stacklevel=2,
        )
    data = file.read_bytes()
    for ending in (b"\r\n", b"\n"):
        if data.endswith(ending):
            data = data[: -len(ending)]
            break
    if not data:
        raise ValueError(f"the {what} file {file} is empty")
    return data


def _read(path: StrPath | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()


@dataclass(frozen=True)
class Tls:
    """TLS settings (PEM files) for worker connections: rustls, TLS 1.2 and
    1.3.

    On a :class:`DistributedContext`, ``ca`` verifies the workers' certificates
    (the system's roots when ``None``) and ``cert``/``key`` are the
    certificate presented to workers that require one (mutual TLS).

    On a :class:`Worker`, ``cert``/``key`` are what it serves with (its URL
    becomes ``https://``); ``client_ca`` makes it require of every caller a
    certificate that CA issued (mutual TLS); ``ca`` verifies the workers it
    calls itself during shuffles, and ``client_cert``/``client_key`` are the
    certificate it presents to them under mutual TLS.
    """

    ca: StrPath | None = None
    cert: StrPath | None = None
    key: StrPath | None = None
    client_ca: StrPath | None = None
    client_cert: StrPath | None = None
    client_key: StrPath | None = None

    def __post_init__(self) -> None:
        for a, b in (("cert", "key"), ("client_cert", "client_key")):
            if (getattr(self, a) is None) != (getattr(self, b) is None):
                raise ValueError(f"Tls: {a} and {b} go together; give both or neither")

    def _client(self) -> tuple[bytes | None, bytes | None, bytes | None]:
        """What a coordinator verifies and presents."""
        if self.client_ca is not None or self.client_cert is not None:
            raise ValueError(
                "Tls: client_ca, client_cert and client_key are worker settings; a "
                "DistributedContext presents cert and key"
            )
        return _read(self.ca), _read(self.cert), _read(self.key)

    def _worker(
        self,
    ) -> tuple[
        tuple[bytes, bytes, bytes | None] | None,
        tuple[bytes | None, bytes | None, bytes | None],
    ]:
        """What a worker serves with, and what it verifies and presents when
        it calls other workers."""
        serve = None
        if self.cert is not None and self.key is not None:
            serve = (
                Path(self.cert).read_bytes(),
                Path(self.key).read_bytes(),
                _read(self.client_ca),
            )
        elif self.client_ca is not None:
            raise ValueError("Tls: client_ca needs the worker's own cert and key")
        return serve, (_read(self.ca), _read(self.client_cert), _read(self.client_key))

    def _options(self) -> list[str]:
        """``python -m dfship.worker`` options for these settings."""
        names = {
            "cert": "--tls-cert",
            "key": "--tls-key",
            "client_ca": "--tls-client-ca",
            "ca": "--tls-ca",
            "client_cert": "--tls-client-cert",
            "client_key": "--tls-client-key",
        }
        options: list[str] = []
        for field, option in names.items():
            value = getattr(self, field)
            if value is not None:
                options += [option, os.fspath(value)]
        return options


def _root(root: str) -> str:
    """A data root as the worker compares it: local paths made absolute."""
    text = os.fspath(root)
    if "://" in text:
        return text
    return os.path.abspath(text)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a worker reachable from this machine
    only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _usable_url(url: str) -> str:
    """``url`` with an unspecified address (``0.0.0.0``, ``[::]``) replaced
    by this host's name, which other machines can connect to."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        unspecified = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        unspecified = False
    if not unspecified:
        return url
    return urlunsplit(parts._replace(netloc=f"{socket.gethostname()}:{parts.port}"))


# Workers of each coordinating session, by session id: every handle on the
# session (see SessionContext.with_python_udf_inlining) reports them.
_SESSION_WORKERS: dict[str, tuple[str, ...]] = {}


class _StopsOnExit:
    """``with`` support for what has a ``stop()``."""

    __slots__ = ()

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Worker(_StopsOnExit):
    """A worker that runs distributed query tasks, served from this process
    on a runtime of its own (background threads) until :meth:`stop`.

    ``port`` 0 picks a free port; :attr:`url` is what coordinators connect
    to. With ``token``, every request must carry it. With
    ``python_udf_inlining=False`` the worker refuses queries that bring
    Python UDFs (:class:`~dfship.exceptions.InliningDisabledError`) and runs
    only functions it knows by name: those registered on ``ctx``, such as
    FFI UDFs. The worker checks what it receives with ``ctx``'s wire limits
    and payload keys (the global session's when no ``ctx`` is given, which
    ``DFSHIP_PAYLOAD_KEY`` keys): with keys, it takes only plans and UDFs
    signed with one of them; a plan over ``max_payload_bytes``, or nested
    deeper than ``max_depth`` allows, is refused before it is decoded.

    The URLs a plan scans (``s3://bucket/...``) are read with the worker's
    own stores, never with anything the query brings: first
    ``object_stores`` (URLs whose query string holds options, such as
    ``"s3://bucket?endpoint=http://10.0.0.5:9000&allow_http=true"``;
    credentials are refused there), then the stores registered on ``ctx``,
    then stores built from the process's ``AWS_*``, ``GOOGLE_*`` or
    ``AZURE_*`` environment variables (see :mod:`dfship.object_store`).

    Limits: ``memory_limit`` (bytes) is the memory pool every query's
    operators share (over it, a query that cannot spill fails with
    :class:`~dfship.exceptions.ResourcesExhaustedError` and the worker goes
    on); ``query_timeout`` (seconds) cancels a task's stream that runs
    longer (:class:`~dfship.exceptions.QueryTimeoutError`);
    ``max_concurrent_tasks`` refuses tasks beyond that many at once
    (:class:`~dfship.exceptions.WorkerBusyError`). ``data_roots`` (absolute
    paths or store URLs) restricts every scan of a plan to those prefixes,
    and a plan that writes is refused unless ``allow_writes``
    (:class:`~dfship.exceptions.WorkerPolicyError`, before any of it runs).

    With ``tls`` (:class:`Tls`), the worker serves TLS and its URL is
    ``https://``. A worker bound to an address other than loopback requires
    a ``token`` (a token holder can run code on it, see the guide's
    security chapter) unless ``insecure=True``. ``payload_key`` keys the
    worker like ``DFSHIP_PAYLOAD_KEY`` does.

    >>> with Worker(token="s3cret") as worker:
    ...     worker.url.startswith("http://127.0.0.1:")
    True
    """

    __slots__ = ("_raw", "bound")

    def __init__(
        self,
        port: int = 0,
        *,
        host: str = "127.0.0.1",
        token: str | None = None,
        python_udf_inlining: bool = True,
        ctx: SessionContext | None = None,
        threads: int | None = None,
        object_stores: Sequence[str] = (),
        tls: Tls | None = None,
        payload_key: bytes | None = None,
        insecure: bool = False,
        memory_limit: int | None = None,
        query_timeout: float | None = None,
        max_concurrent_tasks: int | None = None,
        data_roots: Sequence[str] = (),
        allow_writes: bool = False,
    ) -> None:
        if isinstance(object_stores, str):
            raise TypeError("object_stores is a sequence of URLs, not one string")
        if isinstance(data_roots, str):
            raise TypeError("data_roots is a sequence of paths or URLs, not one string")
        if token is None and not insecure and not is_loopback(str(host)):
            raise ValueError(
                f"a worker bound to {host} is reachable from other machines, and anyone who "
                "reaches it can run code on it (Python UDFs travel inline): give it a token, "
                "or pass insecure=True (--insecure) on a network you trust"
            )
        if python_udf_inlining:
            # The first task with a Python UDF would otherwise import these.
            ipc.import_for_decoding()
        serve, client = (None, None) if tls is None else tls._worker()
        self._raw = _internal.Worker(
            int(port),
            str(host),
            token,
            bool(python_udf_inlining),
            None if ctx is None else ctx.raw,
            threads,
            [str(u) for u in object_stores],
            serve,
            client,
            None if payload_key is None else bytes(payload_key),
            memory_limit,
            None if query_timeout is None else float(query_timeout),
            max_concurrent_tasks,
            [_root(r) for r in data_roots],
            bool(allow_writes),
        )
        #: ``scheme://address:port`` the worker is bound to.
        self.bound = str(self._raw.url)

    @property
    def url(self) -> str:
        """The URL coordinators connect to: ``http://host:port``, or
        ``https://`` with TLS. Bound to all addresses (``0.0.0.0``), the
        host is this machine's name."""
        return _usable_url(self.bound)

    @property
    def running(self) -> bool:
        """Whether the worker still serves."""
        return bool(self._raw.running)

    @property
    def tasks(self) -> int:
        """How many tasks the worker runs now."""
        return int(self._raw.tasks)

    def stop(self) -> None:
        """Stops serving; running tasks get a few seconds to finish.
        Stopping twice is harmless."""
        self._raw.stop()

    def drain(self, grace: float = 30.0) -> int:
        """Shuts down gracefully: new tasks are refused at once (a
        coordinator takes that as the worker being unavailable, and runs the
        query again on its other workers), running tasks get up to ``grace``
        seconds to finish, then the worker stops. Returns how many tasks
        were still running when it stopped (0 when all finished)."""
        return int(self._raw.drain(float(grace)))

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Worker({self.url}, {state})"


class DistributedContext(SessionContext):
    """A session whose queries run across ``workers`` (their URLs): SQL and
    DataFrame queries are planned into stages and tasks by
    datafusion-distributed, and :meth:`DataFrame.explain` shows them.

    ``token`` goes with every request (workers started with one refuse
    requests without it). With ``payload_key`` (else ``DFSHIP_PAYLOAD_KEY``
    if set), every request carrying a plan is signed, for workers holding
    the same key. Python UDFs the query calls are sent along in dfship
    frames, signed the same way, so workers need not register them; with
    ``python_udf_inlining=False`` none are sent and workers must know every
    function by name. ``bytes_per_task`` sets how many bytes of input files
    one task scans (datafusion-distributed's default is 16 MiB). Queries
    are planned with at least two target partitions, whatever ``config``
    says: at one, datafusion-distributed 4.0.0 may split a stage that needs
    all its input into tasks and answer wrongly.

    ``https://`` workers need ``tls`` (:class:`Tls`): its ``ca`` verifies
    them, and its ``cert`` and ``key`` are presented to workers that
    require a client certificate. A certificate refused by either side
    raises :class:`~dfship.exceptions.WorkerAuthError`.

    ``max_response_bytes`` bounds each message a worker sends back (256 MiB
    by default), checked from its declared length before it is buffered: a
    faulty or hostile worker cannot make the coordinator allocate more
    (:class:`~dfship.exceptions.PayloadTooLargeError`).

    Lost workers: when a query fails because a worker is unavailable (it
    stopped answering, its connection broke, it is shutting down or busy),
    the workers that no longer answer are dropped and the whole query runs
    again, planned over the others, up to ``max_attempts`` times in all
    (3 by default; 1 turns retries off). A result always comes from one
    complete attempt. Other errors (a UDF raising, a type error, a refused
    token or policy) are never retried, and neither are queries that write
    (``write_*``, ``INSERT``, ``COPY``) unless ``retry_writes=True``.
    Dropped workers are probed in the background and used again once they
    answer. :meth:`last_query_attempts` tells what happened; collecting
    methods are retried, a result stream (``execute_stream``) is not.
    """

    __slots__ = ()

    def __init__(
        self,
        workers: Sequence[str],
        *,
        token: str | None = None,
        config: SessionConfig | None = None,
        runtime: RuntimeEnvBuilder | None = None,
        payload_key: bytes | None = None,
        python_udf_inlining: bool = True,
        bytes_per_task: int | None = None,
        tls: Tls | None = None,
        max_response_bytes: int = 256 * 1024 * 1024,
        max_attempts: int = 3,
        retry_writes: bool = False,
    ) -> None:
        if isinstance(workers, str):
            raise TypeError("workers is a sequence of URLs, not one string")
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int of at least 1, not {max_attempts!r}")
        urls = [str(w) for w in workers]
        self._raw = _internal.distributed_session(
            urls,
            token,
            None if config is None else config._raw,
            None if runtime is None else runtime._raw,
            bytes_per_task,
            None if payload_key is None else bytes(payload_key),
            bool(python_udf_inlining),
            None if tls is None else tls._client(),
            int(max_response_bytes),
            max_attempts,
            bool(retry_writes),
        )
        _SESSION_WORKERS[self._raw.session_id] = tuple(urls)

    @property
    def workers(self) -> tuple[str, ...]:
        """The URLs of the workers this session's queries run on."""
        return _SESSION_WORKERS.get(self._raw.session_id, ())

    def last_query_attempts(self) -> list[QueryAttempt]:
        """The attempts of this session's most recent query to finish, in
        order: one when it ran through, more when workers were lost; the
        last one's ``error`` is ``None`` when the query succeeded."""
        return [
            QueryAttempt(list(w), e, list(lost), s)
            for w, e, lost, s in _internal.distributed_attempts(self._raw)
        ]

    def worker_states(self) -> dict[str, str | None]:
        """Each worker's URL, and why it is dropped (``None`` for one in
        use): dropped workers come back when a background probe finds them
        answering."""
        return dict(_internal.distributed_members(self._raw))

    def __repr__(self) -> str:
        return f"DistributedContext(workers={list(self.workers)!r})"


@dataclass(frozen=True)
class QueryAttempt:
    """One attempt at a query (see :meth:`DistributedContext.last_query_attempts`)."""

    #: The workers it was planned over.
    workers: list[str]
    #: Why it failed; ``None`` for the attempt that gave the result.
    error: str | None
    #: The workers it found gone (dropped because of it).
    lost: list[str]
    #: How long it took.
    seconds: float


@dataclass(frozen=True)
class WorkerState:
    """What :func:`probe` found of one worker."""

    url: str
    #: Whether it answered within 2 seconds.
    reachable: bool
    #: Why not, when it did not.
    error: str | None
    #: dfship's version on it (``None`` for a server that is no dfship worker).
    version: str | None
    #: Whether it requires a token.
    token_required: bool
    #: Whether the probe's token was accepted (or none is required): the
    #: two fields below are told only then.
    authorized: bool
    #: Whether it accepts inline Python UDFs.
    inlining: bool | None
    #: How many tasks it runs now.
    tasks_running: int | None
    #: It is shutting down (finishing its tasks, taking no new ones).
    draining: bool


def probe(
    urls: Sequence[str], *, token: str | None = None, tls: Tls | None = None
) -> list[WorkerState]:
    """Asks each worker (concurrently, each within 2 seconds) for its state.
    Without the worker's ``token``, only reachability, version, whether a
    token is required and whether it is draining are told.

    >>> with Worker(token="s3cret") as w:
    ...     (state,) = probe([w.url], token="s3cret")
    ...     state.reachable, state.token_required, state.inlining, state.tasks_running
    (True, True, True, 0)
    """
    if isinstance(urls, str):
        raise TypeError("urls is a sequence of URLs, not one string")
    found = _internal.probe_workers(
        [str(u) for u in urls], token, None if tls is None else tls._client()
    )
    return [WorkerState(*row) for row in found]


class WorkerProcess(_StopsOnExit):
    """A worker running as its own process (``python -m dfship.worker``),
    started by :func:`spawn_worker`."""

    __slots__ = ("banner", "output", "proc", "url")

    def __init__(self, proc: subprocess.Popen[str], url: str, banner: str) -> None:
        self.proc = proc
        self.url = url
        #: The line the worker printed when it started listening.
        self.banner = banner
        #: What else the worker printed: warnings before the banner, and
        #: what came after it, read by :meth:`stop`.
        self.output: list[str] = []

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:  # type: ignore[override]
        """Signals the worker (SIGTERM stops it cleanly), waits for it and
        returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.output.extend(self.proc.stdout.read().splitlines())
            self.proc.stdout.close()
        return code

    def __repr__(self) -> str:
        return f"WorkerProcess({self.url}, pid={self.pid})"


def spawn_worker(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    python_udf_inlining: bool = True,
    threads: int | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    object_stores: Sequence[str] = (),
    tls: Tls | None = None,
    args: Sequence[str] = (),
    prefix: Sequence[str] = (),
) -> WorkerProcess:
    """Starts ``python -m dfship.worker`` with this interpreter and waits
    (up to ``timeout`` seconds) until it listens. The token reaches it
    through its environment, not its command line; ``env`` adds variables
    (``DFSHIP_PAYLOAD_KEY``, or ``AWS_*`` credentials, for example),
    ``object_stores`` become ``--object-store`` options, ``tls`` the
    ``--tls-*`` options, and ``args`` are further options. ``prefix`` is a
    command the worker runs under, one that ends by executing the rest of
    its command line: ``["taskset", "-c", "1"]`` pins it to core 1,
    ``["ip", "netns", "exec", "ns1"]`` puts it in a network namespace.

    >>> with spawn_worker() as worker:
    ...     worker.banner.startswith("dfship worker listening on http://127.0.0.1:")
    True
    """
    if isinstance(prefix, str):
        raise TypeError("prefix is a sequence of arguments, not one string")
    command = [str(a) for a in prefix]
    command += [sys.executable, "-m", "dfship.worker", "--port", str(port), "--host", host]
    if not python_udf_inlining:
        command.append("--no-inlining")
    if threads is not None:
        command += ["--threads", str(threads)]
    if isinstance(object_stores, str):
        raise TypeError("object_stores is a sequence of URLs, not one string")
    for url in object_stores:
        command += ["--object-store", str(url)]
    if tls is not None:
        command += tls._options()
    command += [str(a) for a in args]
    # The token is the one given here or in `env`, never this process's.
    inherited = {k: v for k, v in os.environ.items() if k not in (TOKEN_ENV, TOKEN_FILE_ENV)}
    environment = {**inherited, **(env or {})}
    if token is not None:
        environment[TOKEN_ENV] = token
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    stdout = proc.stdout
    assert stdout is not None
    # Warnings (a secret file others can read) may come before the banner.
    before: list[str] = []

    def read_until_banner() -> None:
        for line in stdout:
            before.append(line)
            if "listening on " in line:
                return

    reader = threading.Thread(target=read_until_banner, daemon=True)
    reader.start()
    reader.join(timeout)
    line = before[-1] if before else ""
    if reader.is_alive() or "listening on " not in line:
        proc.kill()
        reader.join()
        rest = stdout.read()
        stdout.close()
        raise RuntimeError(f"the worker did not start: {(''.join(before) + rest).strip()}")
    worker = WorkerProcess(proc, line.split("listening on ", 1)[1].split()[0], line.strip())
    worker.output.extend(x.rstrip("\n") for x in before[:-1])
    return worker


def _token_from_env() -> str | None:
    """The worker token from ``DFSHIP_WORKER_TOKEN_FILE`` (a file) or else
    ``DFSHIP_WORKER_TOKEN``."""
    path = os.environ.get(TOKEN_FILE_ENV)
    if path:
        return read_secret_file(path, "token").decode()
    return os.environ.get(TOKEN_ENV) or None
