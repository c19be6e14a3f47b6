"""``python -m dfship.worker``: run one dfship worker in the foreground.

It prints the URL it listens on, serves until SIGTERM or SIGINT (Ctrl-C),
then stops cleanly. The token comes from ``--token`` or, so that it does not
show in the process list, from the ``DFSHIP_WORKER_TOKEN`` environment
variable. The payload key, if any, comes from ``DFSHIP_PAYLOAD_KEY``.

Object stores are the worker's own: ``--object-store URL`` (repeatable; the
URL's query string holds options, never credentials) and the standard
``AWS_*``, ``GOOGLE_*`` and ``AZURE_*`` variables of its environment.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from dfship.distributed import TOKEN_ENV, Worker, _token_from_env

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Runs a worker until SIGTERM or SIGINT; the exit status (2 when it
    cannot start)."""
    parser = argparse.ArgumentParser(
        prog="python -m dfship.worker",
        description="Serve datafusion-distributed tasks (SQL stages, Python UDFs included).",
    )
    parser.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--token", default=None, help=f"require this token of every request (or set {TOKEN_ENV})"
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
    args = parser.parse_args(argv)

    token = args.token or _token_from_env()
    try:
        worker = Worker(
            args.port,
            host=args.host,
            token=token,
            python_udf_inlining=not args.no_inlining,
            threads=args.threads,
            object_stores=args.object_store,
        )
    except (OSError, ValueError, TypeError) as e:
        print(f"dfship worker: {e}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    inlining = "off" if args.no_inlining else "on"
    auth = "required" if token else "none"
    stores = (
        f", object stores {' '.join(_store_names(args.object_store))}" if args.object_store else ""
    )
    print(
        f"dfship worker listening on {worker.url} "
        f"(Python UDF inlining {inlining}, token {auth}{stores})",
        flush=True,
    )
    while not stop.wait(0.5):
        pass
    worker.stop()
    print("dfship worker stopped", flush=True)
    return 0


def _store_names(urls: list[str]) -> list[str]:
    """``scheme://host`` of each URL: its options are not printed."""
    from urllib.parse import urlsplit

    return [f"{u.scheme}://{u.netloc}" for u in map(urlsplit, urls)]


if __name__ == "__main__":
    sys.exit(main())
