"""Session slots for shipping expressions between processes.

``pickle.dumps(expr)`` and ``Expr.to_bytes()`` without ``ctx=`` encode with
the **sender** slot's settings; ``pickle.loads`` and ``Expr.from_bytes()``
without ``ctx=`` decode against the **worker** slot's session, falling back to
the **global** session. Both slots belong to the current thread. A forked
child starts with the forking thread's slots; spawn and forkserver children
start empty. Install slots in a pool's initializer rather than relying on what
a child may have inherited.

>>> import pickle, dfship
>>> from dfship import col, ipc
>>> strict = dfship.SessionContext().with_python_udf_inlining(enabled=False)
>>> ipc.set_worker_ctx(strict)
>>> ipc.get_worker_ctx() is strict
True
>>> pickle.loads(pickle.dumps(col("a") + 1))
Expr(a + Int64(1))
>>> ipc.clear_worker_ctx()
>>> ipc.get_worker_ctx() is None
True

See the guide's chapter on distributing work, and its security chapter for
what the inlining toggle does and does not protect against.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from dfship import _internal
from dfship.context import SessionContext

__all__ = [
    "DEFAULT_MAX_CLOSURE_BYTES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_NODES",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "WIRE_FORMAT_VERSION",
    "clear_decoded_udf_cache",
    "clear_sender_ctx",
    "clear_worker_ctx",
    "get_sender_ctx",
    "get_worker_ctx",
    "import_for_decoding",
    "init_worker",
    "set_sender_ctx",
    "decoded_udf_cache_size",
    "set_worker_ctx",
    "warm_up",
]

#: The wire format version this build writes (see the guide's wire format page).
WIRE_FORMAT_VERSION: int = _internal.WIRE_FORMAT_VERSION
#: Deepest expression nesting a session accepts unless told otherwise.
DEFAULT_MAX_DEPTH: int = _internal.DEFAULT_MAX_DEPTH
#: Largest payload, in bytes, a session accepts unless told otherwise.
DEFAULT_MAX_PAYLOAD_BYTES: int = _internal.DEFAULT_MAX_PAYLOAD_BYTES
#: Most expression nodes a session accepts unless told otherwise.
DEFAULT_MAX_NODES: int = _internal.DEFAULT_MAX_NODES
#: Largest pickled callable of an inline Python UDF a session accepts unless told otherwise.
DEFAULT_MAX_CLOSURE_BYTES: int = _internal.DEFAULT_MAX_CLOSURE_BYTES


def _check(ctx: SessionContext) -> SessionContext:
    if not isinstance(ctx, SessionContext):
        raise TypeError(f"expected a dfship.SessionContext, not {type(ctx).__name__}")
    return ctx


def set_worker_ctx(ctx: SessionContext) -> None:
    """Decode expressions arriving on this thread against ``ctx``: its
    registered functions resolve by-name references, its settings decide what
    is accepted. Installing is by reference, not a copy."""
    _internal.set_worker_ctx(_check(ctx), ctx.raw)


def get_worker_ctx() -> SessionContext | None:
    """The session in this thread's worker slot, if any."""
    ctx: SessionContext | None = _internal.get_worker_ctx()
    return ctx


def clear_worker_ctx() -> None:
    """Empties this thread's worker slot (decoding falls back to the global session)."""
    _internal.clear_worker_ctx()


def set_sender_ctx(ctx: SessionContext) -> None:
    """Encode expressions pickled on this thread with ``ctx``'s settings (for
    example inlining disabled). Installing is by reference, not a copy."""
    _internal.set_sender_ctx(_check(ctx), ctx.raw)


def get_sender_ctx() -> SessionContext | None:
    """The session in this thread's sender slot, if any."""
    ctx: SessionContext | None = _internal.get_sender_ctx()
    return ctx


def clear_sender_ctx() -> None:
    """Empties this thread's sender slot (encoding uses the defaults)."""
    _internal.clear_sender_ctx()


def decoded_udf_cache_size() -> int:
    """How many decoded ``immutable`` Python UDFs this process keeps so that
    the same payload arriving again is not unpickled again."""
    return int(_internal.decoded_udf_cache_len())


def clear_decoded_udf_cache() -> None:
    """Forgets the decoded Python UDFs kept for reuse."""
    _internal.clear_decoded_udf_cache()


#: What decoding an inline Python UDF imports on its first use.
_DECODE_IMPORTS = ("cloudpickle", "pyarrow", "pyarrow.compute")


def import_for_decoding(imports: Iterable[str] = ()) -> None:
    """Imports what unpickling a Python UDF needs, and ``imports``."""
    for name in (*_DECODE_IMPORTS, *imports):
        importlib.import_module(name)


def warm_up(ctx: SessionContext | None = None, *, imports: Iterable[str] = ()) -> None:
    """Pays now what the first decode in this process would otherwise pay:
    imports the modules that unpickling a Python UDF needs (and ``imports``,
    the modules your UDFs use), loads pyarrow's conversion of Python values
    (which the pyarrow values a closure captures go through, and which
    imports pandas when it is installed), and decodes a probe expression against
    ``ctx`` (else this thread's worker slot, else the global session), which
    builds that session's function registry. The first task a fresh worker
    decodes then costs what later ones do.

    The probe holds a ``volatile`` inline UDF, so it leaves nothing in the
    decoded-UDF cache; a session that refuses inline UDFs decodes a probe
    without one. Call it in a pool's initializer (see :func:`init_worker`).
    """
    import_for_decoding(imports)
    import datetime

    import pyarrow as pa

    # Unpickling the pyarrow values a closure captures converts Python
    # objects, and pyarrow's first conversion loads its pandas support (when
    # pandas is installed): a fifth of a second in a fresh process.
    pa.scalar(datetime.date(1970, 1, 1), pa.date32())

    from dfship.expr import Expr, col
    from dfship.user_defined import udf

    target = ctx if ctx is not None else get_worker_ctx()
    probe = col("dfship_warm_up") + 1
    if target is None or target.python_udf_inlining:
        # A lambda, so that cloudpickle ships it by value as a user's closure.
        identity = udf(lambda a: a, [pa.int64()], pa.int64(), "volatile", "dfship_warm_up")
        probe = identity(probe)
    Expr.from_bytes(probe.to_bytes(target), target)


def init_worker(ctx: SessionContext | None = None, *, imports: Iterable[str] = ()) -> None:
    """A worker process's initializer: installs ``ctx`` (a new
    :class:`SessionContext` when not given) as this thread's worker slot and
    warms it with :func:`warm_up`, so that ``pickle.loads`` of the first task
    costs what later ones do.

    >>> from multiprocessing import get_context
    >>> pool = get_context("spawn").Pool(2, initializer=init_worker)  # doctest: +SKIP
    """
    ctx = ctx if ctx is not None else SessionContext()
    set_worker_ctx(ctx)
    warm_up(ctx, imports=imports)
