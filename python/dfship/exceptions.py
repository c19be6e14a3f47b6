"""Errors raised by dfship.

Every error dfship raises derives from :class:`DfshipError`, itself an
ordinary :class:`Exception`, so ``except Exception`` always catches it: a
failure inside dfship never escapes as a ``BaseException``.

Where the ``datafusion`` package raises a built-in type for the same failure,
dfship's error is also an instance of it, so ``except`` clauses written for
that package keep working:

=================================  ====================================
dfship error                       also an instance of
=================================  ====================================
:class:`PlanError` (SQL, planning)  ``ValueError``
:class:`TableNotFoundError`         ``KeyError`` (and ``ValueError``)
:class:`PayloadError` and its       ``RuntimeError`` and ``ValueError``
subclasses (bytes that cannot
become an expression or plan; a
strict receiver's refusal)
:class:`UnknownFunctionError`       ``RuntimeError`` (and ``ValueError``)
:class:`ExpressionTooDeepError`     ``RuntimeError`` and ``ValueError``
:class:`ExecutionError`             ``Exception`` only, as there
:class:`WorkerUnavailableError`     ``ConnectionError`` (dfship only:
                                   query-level distribution)
:class:`WorkerAuthError`            ``PermissionError`` (dfship only)
:class:`ObjectStoreError`           ``OSError``; its subclasses also
                                   ``PermissionError`` (credentials),
                                   ``FileNotFoundError`` (bucket or
                                   object), ``ConnectionError``
                                   (endpoint)
=================================  ====================================

>>> import dfship
>>> try:
...     dfship.SessionContext().sql("SELECT nope FROM nowhere")
... except dfship.exceptions.PlanError as e:
...     print(type(e).__name__, isinstance(e, dfship.exceptions.DfshipError))
PlanError True
>>> try:
...     dfship.Expr.from_bytes(b"not an expression")
... except dfship.exceptions.CorruptPayloadError as e:
...     print(isinstance(e, ValueError), e)
True not a dfship payload: starts with "not ", expected DFSE
"""

from __future__ import annotations

__all__ = [
    "CorruptPayloadError",
    "DfshipError",
    "ExecutionError",
    "ExpressionTooDeepError",
    "InliningDisabledError",
    "InternalError",
    "ObjectStoreAuthError",
    "ObjectStoreError",
    "ObjectStoreNotConfiguredError",
    "ObjectStoreNotFoundError",
    "ObjectStoreUnavailableError",
    "PayloadError",
    "PayloadTooLargeError",
    "PlanError",
    "PythonVersionMismatchError",
    "QueryTimeoutError",
    "ResourcesExhaustedError",
    "SerializationError",
    "SignatureError",
    "TableNotFoundError",
    "UdfError",
    "UnknownFunctionError",
    "UnsupportedFormatError",
    "WorkerAuthError",
    "WorkerBusyError",
    "WorkerPolicyError",
    "WorkerUnavailableError",
]


class DfshipError(Exception):
    """Base class of every error raised by dfship."""


class PlanError(DfshipError, ValueError):
    """A query or expression could not be planned: unknown table or column,
    type mismatch, SQL syntax, unsupported feature."""


class TableNotFoundError(PlanError, KeyError):
    """:meth:`dfship.SessionContext.table` named a table the session does not have."""

    def __str__(self) -> str:
        # KeyError would print the repr of the message.
        return str(self.args[0]) if self.args else ""


class UnknownFunctionError(PlanError, RuntimeError):
    """A decoded expression names a function the decoding session does not
    have. ``name`` and ``family`` say which; register it on the worker's
    session (and install that with :func:`dfship.ipc.set_worker_ctx`)."""


class ExecutionError(DfshipError):
    """A planned query failed while it ran."""


class UdfError(ExecutionError):
    """A Python UDF raised while a query ran.

    The message names the UDF, the exception type and its message; ``udf``
    and ``type_name`` hold the first two, and the original exception is the
    ``__cause__`` (within the process that ran it).
    """

    def __init__(self, message: str, udf: str = "", type_name: str = "") -> None:
        super().__init__(message)
        self.udf = udf
        self.type_name = type_name

    def __reduce__(self) -> tuple[type[UdfError], tuple[str, str, str]]:
        return (type(self), (str(self), self.udf, self.type_name))


class InternalError(DfshipError):
    """A defect inside dfship (a Rust panic), caught before it could reach
    Python as a ``BaseException``. Please report it."""


class PayloadError(DfshipError, ValueError, RuntimeError):
    """Bytes that cannot become an expression."""


class CorruptPayloadError(PayloadError):
    """The bytes are not a dfship payload, or were damaged or truncated: the
    frame's magic, length or check does not hold, or its body is malformed.
    Nothing in them was decoded."""


class UnsupportedFormatError(PayloadError):
    """The payload was written in a format version (or with flags) this build
    does not read, or by another library."""


class SignatureError(PayloadError):
    """A session holding payload keys (``SessionContext.with_payload_key``,
    ``DFSHIP_PAYLOAD_KEY``) refused a payload: it is not signed, it is signed
    with a key the session does not hold, or it was altered after signing.
    Nothing in it was decoded or unpickled. Messages name key ids, never keys."""


class PayloadTooLargeError(PayloadError):
    """The payload is over the session's ``max_payload_bytes``."""


class PythonVersionMismatchError(PayloadError):
    """An inline Python UDF was serialized by another Python minor version.
    ``sender`` and ``receiver`` are ``(major, minor)`` tuples."""


class InliningDisabledError(PayloadError):
    """A session with Python UDF inlining disabled refused an inline Python
    UDF; its pickled code was not loaded. ``udf`` and ``family`` say which."""


class ExpressionTooDeepError(DfshipError, ValueError, RuntimeError):
    """An expression nests deeper than the session's ``max_depth``."""


class SerializationError(DfshipError):
    """A Python UDF's callable could not be pickled (sender) or unpickled
    (receiver, for example a module it imports is missing there). The
    original exception is the ``__cause__``."""


class WorkerUnavailableError(ExecutionError, ConnectionError):
    """A distributed query could not reach a worker, or a worker stopped
    answering while the query ran. The message names the workers' URLs; the
    query was abandoned, never left waiting."""


class WorkerAuthError(ExecutionError, PermissionError):
    """A worker refused a request or a connection: it requires a token and
    the request carried none or another one, or TLS failed (a certificate
    either side does not trust, expired or for another host; no client
    certificate where the worker requires one; plaintext to a worker that
    serves TLS). Nothing ran on that worker."""


class WorkerBusyError(WorkerUnavailableError):
    """A worker refused a task because it already runs as many as it allows
    (``--max-concurrent-tasks``). Nothing of the query ran there; run it
    again later or on more workers."""


class WorkerPolicyError(ExecutionError, PermissionError):
    """A worker refused a plan its settings forbid, before running any of
    it: a scan outside its ``--data-root`` prefixes, or a write without
    ``--allow-writes``. The message names the path and the setting."""


class ResourcesExhaustedError(ExecutionError, MemoryError):
    """A query needed more memory than its memory pool allows (a worker's
    ``--memory-limit``, or ``RuntimeEnvBuilder.with_memory_limit``) and could
    not spill. The process that ran it goes on serving."""


class QueryTimeoutError(ExecutionError, TimeoutError):
    """A task ran longer than the worker allows (``--query-timeout``) and was
    cancelled, failing its query."""


class ObjectStoreError(ExecutionError, OSError):
    """Reading or writing an object store (S3, GCS, Azure, HTTP) failed. The
    message names the URL and never contains a credential the store was
    configured with."""


class ObjectStoreNotConfiguredError(ObjectStoreError):
    """A query names a URL that this process (the driver or a worker) has no
    store for, or a scheme dfship does not know. The message says which
    registration, worker option or environment variable would configure it:
    stores are never sent with a query."""


class ObjectStoreAuthError(ObjectStoreError, PermissionError):
    """The store refused the credentials (wrong key, expired token, no
    permission on the bucket or object)."""


class ObjectStoreNotFoundError(ObjectStoreError, FileNotFoundError):
    """The bucket, container or object does not exist."""


class ObjectStoreUnavailableError(ObjectStoreError, ConnectionError):
    """The store's endpoint could not be reached within the retry bounds
    (``connect_timeout``, ``retry_timeout``, ``max_retries``)."""


def _check_against_the_extension() -> None:
    """The extension raises classes of this module by the names of its own
    table (``dfship_core::exceptions``): a class it names that is missing here
    would only show when that error happens, so a mismatch fails the import."""
    from dfship import _internal

    missing = sorted(set(_internal.EXCEPTION_NAMES) - set(__all__))
    if missing:
        raise ImportError(
            f"dfship.exceptions lacks {', '.join(missing)}, which the compiled extension raises: "
            "the package and its extension module come from different builds"
        )


_check_against_the_extension()
