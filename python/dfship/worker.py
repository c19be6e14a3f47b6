"""``python -m dfship.worker``: run one dfship worker in the foreground.

It prints the URL it listens on and serves until SIGTERM or SIGINT
(Ctrl-C). Then it drains: new tasks are refused (coordinators run their
queries again on their other workers), running tasks get up to
``--grace-period`` seconds (30) to finish, and the process exits with
status 0.

Secrets never need the command line, where the process list shows them: the
token comes from ``--token-file`` (or ``DFSHIP_WORKER_TOKEN_FILE``), else
``--token``, else ``DFSHIP_WORKER_TOKEN``; the payload key from
``--payload-key-file`` (or ``DFSHIP_PAYLOAD_KEY_FILE``), else
``DFSHIP_PAYLOAD_KEY``. A secret file readable by its group or others draws
a warning.

Bound to an address other than loopback, the worker requires a token
unless ``--insecure`` is given: whoever holds the token can run code on it.
``--tls-cert``/``--tls-key`` serve TLS (``--tls-client-ca`` adds mutual
TLS); ``--tls-ca`` and ``--tls-client-cert``/``--tls-client-key`` are for
the calls it makes to other TLS workers.

Object stores are the worker's own: ``--object-store URL`` (repeatable; the
URL's query string holds options, never credentials) and the standard
``AWS_*``, ``GOOGLE_*`` and ``AZURE_*`` variables of its environment.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from types import FrameType

from dfship.distributed import (
    PAYLOAD_KEY_FILE_ENV,
    TOKEN_ENV,
    TOKEN_FILE_ENV,
    Tls,
    Worker,
    _token_from_env,
    read_secret_file,
)

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dfship.worker",
        description="Serve datafusion-distributed tasks (SQL stages, Python UDFs included).",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--token-file",
        default=None,
        metavar="FILE",
        help=f"require the token in FILE of every request (or set {TOKEN_FILE_ENV})",
    )
    parser.add_argument(
        "--token",
        default=None,
        help=f"require this token (the process list shows it: prefer --token-file or {TOKEN_ENV})",
    )
    parser.add_argument(
        "--payload-key-file",
        default=None,
        metavar="FILE",
        help=f"accept only plans and UDFs signed with the key in FILE (or {PAYLOAD_KEY_FILE_ENV})",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback address without a token (anyone reaching it can run code)",
    )
    parser.add_argument(
        "--no-inlining",
        action="store_true",
        help="refuse queries that bring Python UDFs; run only functions known by name",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="runtime threads (default: cores)"
    )
    parser.add_argument(
        "--object-store",
        action="append",
        default=[],
        metavar="URL",
        help=(
            "read URLs under this one with a store built from the environment and the URL's "
            "options, e.g. s3://bucket?endpoint=http://host:9000&allow_http=true (repeatable)"
        ),
    )
    limits = parser.add_argument_group("limits and least privilege")
    limits.add_argument(
        "--memory-limit",
        type=_size,
        metavar="BYTES",
        help="memory pool all queries share, e.g. 4G or 512M (default: unbounded)",
    )
    limits.add_argument(
        "--query-timeout",
        type=float,
        metavar="SECONDS",
        help="cancel a task's stream that runs longer (default: none)",
    )
    limits.add_argument(
        "--max-concurrent-tasks",
        type=int,
        metavar="N",
        help="refuse tasks beyond N at once (default: unbounded)",
    )
    limits.add_argument(
        "--data-root",
        action="append",
        default=[],
        metavar="PREFIX",
        help="a path or store URL every scan must fall under (repeatable; default: anywhere)",
    )
    limits.add_argument(
        "--grace-period",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM or Ctrl-C, how long running tasks may take to finish (default: 30)",
    )
    limits.add_argument(
        "--allow-writes",
        action="store_true",
        help="run plans that write files (COPY TO, INSERT INTO); refused by default",
    )
    tls = parser.add_argument_group("TLS (PEM files)")
    tls.add_argument("--tls-cert", metavar="FILE", help="serve TLS with this certificate chain")
    tls.add_argument("--tls-key", metavar="FILE", help="the private key of --tls-cert")
    tls.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        help="mutual TLS: require of every caller a certificate this CA issued",
    )
    tls.add_argument(
        "--tls-ca",
        metavar="FILE",
        help="verify the TLS workers this one calls with this CA (default: system roots)",
    )
    tls.add_argument(
        "--tls-client-cert",
        metavar="FILE",
        help="the certificate this worker presents to workers that require one",
    )
    tls.add_argument(
        "--tls-client-key", metavar="FILE", help="the private key of --tls-client-cert"
    )
    return parser


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _size(text: str) -> int:
    """``4096``, ``512M``, ``4G`` (binary units; an optional ``B``/``iB``)."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = value[-1:] if value[-1:] in _UNITS else ""
    number = value[: len(value) - len(unit)]
    try:
        n = int(float(number) * _UNITS[unit])
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4G, 512M, 1048576)") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"a size must be positive: {text!r}")
    return n


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"seconds must be finite and not negative: {text!r}")
    return value


def _tls(args: argparse.Namespace) -> Tls | None:
    given = {
        "cert": args.tls_cert,
        "key": args.tls_key,
        "client_ca": args.tls_client_ca,
        "ca": args.tls_ca,
        "client_cert": args.tls_client_cert,
        "client_key": args.tls_client_key,
    }
    if all(v is None for v in given.values()):
        return None
    return Tls(**given)


def _describe(worker: Worker, args: argparse.Namespace, token: str | None, tls: Tls | None) -> str:
    inlining = "off" if args.no_inlining else "on"
    auth = "required" if token else "none"
    if tls is None or tls.cert is None:
        transport = "plaintext"
    else:
        transport = "mutual TLS" if tls.client_ca is not None else "TLS"
    stores = (
        f", object stores {' '.join(_store_names(args.object_store))}" if args.object_store else ""
    )
    line = (
        f"dfship worker listening on {worker.url} "
        f"(Python UDF inlining {inlining}, token {auth}, {transport}{stores})"
    )
    bounds = [
        f"memory {args.memory_limit} bytes" if args.memory_limit else "",
        f"timeout {args.query_timeout:g} s" if args.query_timeout else "",
        f"at most {args.max_concurrent_tasks} tasks" if args.max_concurrent_tasks else "",
        f"data roots {' '.join(args.data_root)}" if args.data_root else "",
        "writes allowed" if args.allow_writes else "",
    ]
    if any(bounds):
        line += "\n  limits: " + ", ".join(b for b in bounds if b)
    if worker.url != worker.bound:
        line += f"\n  bound to {worker.bound}: all of this host's addresses serve it"
    if token is None and args.insecure:
        line += "\n  warning: --insecure: anyone who reaches this port can run code on this worker"
    return line


def main(argv: list[str] | None = None) -> int:
    """Runs a worker until SIGTERM or SIGINT; the exit status (2 when it
    cannot start)."""
    args = _parser().parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.token_file:
                token: str | None = read_secret_file(args.token_file, "token").decode()
            elif args.token:
                token = args.token
            else:
                token = _token_from_env()
            key_file = args.payload_key_file or os.environ.get(PAYLOAD_KEY_FILE_ENV)
            key = read_secret_file(key_file, "payload key") if key_file else None
        for w in caught:
            print(f"dfship worker: warning: {w.message}", file=sys.stderr, flush=True)
        tls = _tls(args)
        worker = Worker(
            args.port,
            host=args.host,
            token=token,
            python_udf_inlining=not args.no_inlining,
            threads=args.threads,
            object_stores=args.object_store,
            tls=tls,
            payload_key=key,
            insecure=args.insecure,
            memory_limit=args.memory_limit,
            query_timeout=args.query_timeout,
            max_concurrent_tasks=args.max_concurrent_tasks,
            data_roots=args.data_root,
            allow_writes=args.allow_writes,
        )
    except (OSError, ValueError, TypeError) as e:
        print(f"dfship worker: {e}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(_describe(worker, args, token, tls), flush=True)
    while not stop.wait(0.5):
        pass
    running = worker.tasks
    print(
        f"dfship worker draining: {running} tasks running, grace {args.grace_period:g} s",
        flush=True,
    )
    cut = worker.drain(args.grace_period)
    print(
        "dfship worker stopped"
        + (f" ({cut} tasks cut at the end of the grace period)" if cut else ""),
        flush=True,
    )
    return 0


def _store_names(urls: list[str]) -> list[str]:
    """``scheme://host`` of each URL: its options are not printed."""
    from urllib.parse import urlsplit

    return [f"{u.scheme}://{u.netloc}" for u in map(urlsplit, urls)]


def _exit(status: int) -> None:
    """Exits without the interpreter's finalisation: a task that outlived
    the grace period may still hold a runtime thread inside Python code, and
    finalising under it aborts the process. Everything the worker owns is
    stopped by then; the output is flushed here."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    _exit(main())
