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

import os
import select
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from dfship import _internal
from dfship.context import RuntimeEnvBuilder, SessionConfig, SessionContext

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["TOKEN_ENV", "DistributedContext", "Worker", "WorkerProcess", "spawn_worker"]

#: Environment variable ``python -m dfship.worker`` reads its token from
#: when ``--token`` is not given.
TOKEN_ENV = "DFSHIP_WORKER_TOKEN"

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

    >>> with Worker(token="s3cret") as worker:
    ...     worker.url.startswith("http://127.0.0.1:")
    True
    """

    __slots__ = ("_raw",)

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
    ) -> None:
        if isinstance(object_stores, str):
            raise TypeError("object_stores is a sequence of URLs, not one string")
        self._raw = _internal.Worker(
            int(port),
            str(host),
            token,
            bool(python_udf_inlining),
            None if ctx is None else ctx.raw,
            threads,
            [str(u) for u in object_stores],
        )

    @property
    def url(self) -> str:
        """``http://host:port`` the worker listens on."""
        return str(self._raw.url)

    @property
    def running(self) -> bool:
        """Whether the worker still serves."""
        return bool(self._raw.running)

    def stop(self) -> None:
        """Stops serving; running tasks get a few seconds to finish.
        Stopping twice is harmless."""
        self._raw.stop()

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
    one task scans (datafusion-distributed's default is 16 MiB).
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
    ) -> None:
        if isinstance(workers, str):
            raise TypeError("workers is a sequence of URLs, not one string")
        urls = [str(w) for w in workers]
        self._raw = _internal.distributed_session(
            urls,
            token,
            None if config is None else config._raw,
            None if runtime is None else runtime._raw,
            bytes_per_task,
            None if payload_key is None else bytes(payload_key),
            bool(python_udf_inlining),
        )
        _SESSION_WORKERS[self._raw.session_id] = tuple(urls)

    @property
    def workers(self) -> tuple[str, ...]:
        """The URLs of the workers this session's queries run on."""
        return _SESSION_WORKERS.get(self._raw.session_id, ())

    def __repr__(self) -> str:
        return f"DistributedContext(workers={list(self.workers)!r})"


class WorkerProcess(_StopsOnExit):
    """A worker running as its own process (``python -m dfship.worker``),
    started by :func:`spawn_worker`."""

    __slots__ = ("banner", "output", "proc", "url")

    def __init__(self, proc: subprocess.Popen[str], url: str, banner: str) -> None:
        self.proc = proc
        self.url = url
        #: The line the worker printed when it started listening.
        self.banner = banner
        #: What the worker printed after that, read by :meth:`stop`.
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
        if self.proc.stdout is not None:
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
) -> WorkerProcess:
    """Starts ``python -m dfship.worker`` with this interpreter and waits
    (up to ``timeout`` seconds) until it listens. The token reaches it
    through its environment, not its command line; ``env`` adds variables
    (``DFSHIP_PAYLOAD_KEY``, or ``AWS_*`` credentials, for example), and
    ``object_stores`` become ``--object-store`` options.

    >>> with spawn_worker() as worker:
    ...     worker.banner.startswith("dfship worker listening on http://127.0.0.1:")
    True
    """
    command = [sys.executable, "-m", "dfship.worker", "--port", str(port), "--host", host]
    if not python_udf_inlining:
        command.append("--no-inlining")
    if threads is not None:
        command += ["--threads", str(threads)]
    if isinstance(object_stores, str):
        raise TypeError("object_stores is a sequence of URLs, not one string")
    for url in object_stores:
        command += ["--object-store", str(url)]
    environment = {**os.environ, **(env or {})}
    environment.pop(TOKEN_ENV, None)
    if token is not None:
        environment[TOKEN_ENV] = token
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if "listening on " not in line:
        proc.kill()
        rest = proc.stdout.read()
        proc.stdout.close()
        raise RuntimeError(f"the worker did not start: {(line + rest).strip()}")
    return WorkerProcess(proc, line.split("listening on ", 1)[1].split()[0], line.strip())


def _token_from_env() -> str | None:
    return os.environ.get(TOKEN_ENV) or None
