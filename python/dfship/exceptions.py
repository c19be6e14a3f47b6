"""Errors raised by dfship.

Every error dfship raises derives from :class:`DfshipError`, itself an
ordinary :class:`Exception`, so ``except Exception`` always catches it: a
failure inside dfship never escapes as a ``BaseException``.

>>> import dfship
>>> try:
...     dfship.SessionContext().sql("SELECT nope FROM nowhere")
... except dfship.exceptions.PlanError as e:
...     print(type(e).__name__, isinstance(e, dfship.exceptions.DfshipError))
PlanError True
"""

from __future__ import annotations

__all__ = [
    "DfshipError",
    "ExecutionError",
    "InternalError",
    "PlanError",
    "UdfError",
]


class DfshipError(Exception):
    """Base class of every error raised by dfship."""


class PlanError(DfshipError):
    """A query or expression could not be planned: unknown table or column,
    type mismatch, SQL syntax, unsupported feature."""


class ExecutionError(DfshipError):
    """A planned query failed while it ran."""


class UdfError(ExecutionError):
    """A Python UDF raised while a query ran.

    The message names the UDF, the exception type and its message; the
    original exception is the ``__cause__`` (within the process that ran it).
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
