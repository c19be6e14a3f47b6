"""Physical plans: what a DataFrame runs, shippable to another process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dfship import _internal

if TYPE_CHECKING:
    from dfship.context import SessionContext
    from dfship.record_batch import RecordBatchStream

__all__ = ["ExecutionPlan", "LogicalPlan"]


class ExecutionPlan:
    """A physical plan (see :meth:`dfship.DataFrame.execution_plan`).

    It travels like an expression: :meth:`to_bytes` writes a checked frame
    (magic ``DFSP``) with Python UDFs inline, under the session's wire limits
    and inlining setting, and :meth:`from_bytes` rebuilds it, on this or any
    other process that imports dfship. It also pickles.

    >>> import dfship
    >>> ctx = dfship.SessionContext()
    >>> df = ctx.from_pydict({"a": [1, 2, 3]}).filter(dfship.col("a") > 1)
    >>> plan = dfship.ExecutionPlan.from_bytes(df.execution_plan().to_bytes())
    >>> sum(batch.num_rows for batch in plan.collect())
    2
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.RawExecutionPlan) -> None:
        self._raw = raw

    @property
    def raw(self) -> _internal.RawExecutionPlan:
        """The underlying ``dfship._internal.RawExecutionPlan``."""
        return self._raw

    def to_bytes(self, ctx: SessionContext | None = None) -> bytes:
        """Serializes the plan with the settings of ``ctx``, else of this
        thread's sender session (:func:`dfship.ipc.set_sender_ctx`), else the
        defaults."""
        blob: bytes = self._raw.to_bytes(None if ctx is None else ctx.raw)
        return blob

    @staticmethod
    def from_bytes(
        buf: bytes | bytearray | memoryview, ctx: SessionContext | None = None
    ) -> ExecutionPlan:
        """Rebuilds a plan from :meth:`to_bytes` output, with the functions
        and settings of ``ctx``, else this thread's worker session
        (:func:`dfship.ipc.set_worker_ctx`), else the global session."""
        raw = _internal.RawExecutionPlan.from_bytes(bytes(buf), None if ctx is None else ctx.raw)
        return ExecutionPlan(raw)

    def collect(self, ctx: SessionContext | None = None) -> list[pa.RecordBatch]:
        """Runs every partition on ``ctx`` (else the worker or the global
        session) and returns the batches."""
        return list(self._raw.collect(None if ctx is None else ctx.raw))

    def execute_partition(
        self, partition: int, ctx: SessionContext | None = None
    ) -> RecordBatchStream:
        """Starts one output partition on ``ctx`` (else the worker or the
        global session): its batches, pulled as the plan runs."""
        from dfship.record_batch import RecordBatchStream

        return RecordBatchStream(
            self._raw.execute_partition(partition, None if ctx is None else ctx.raw)
        )

    def children(self) -> list[ExecutionPlan]:
        """The plan's inputs."""
        return [ExecutionPlan(c) for c in self._raw.children()]

    @property
    def partition_count(self) -> int:
        """How many partitions the plan's output has."""
        return int(self._raw.partition_count)

    def display(self) -> str:
        """The top node on one line."""
        return str(self._raw.display())

    def display_indent(self) -> str:
        """The whole plan, one node per line."""
        return str(self._raw.display_indent())

    def __repr__(self) -> str:
        return self.display_indent()

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        return (ExecutionPlan.from_bytes, (self.to_bytes(),))


class LogicalPlan:
    """A logical plan (see :meth:`dfship.DataFrame.logical_plan` and
    :meth:`~dfship.DataFrame.optimized_logical_plan`), for inspection. To run
    work elsewhere, ship an :class:`ExecutionPlan` or expressions.

    >>> import dfship
    >>> df = dfship.SessionContext().from_pydict({"a": [1, 2]}).filter(dfship.col("a") > 1)
    >>> plan = df.logical_plan()
    >>> plan.variant_name(), [p.variant_name() for p in plan.inputs()]
    ('Filter', ['Projection'])
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.LogicalPlan) -> None:
        self._raw = raw

    def inputs(self) -> list[LogicalPlan]:
        """The plans this node reads from."""
        return [LogicalPlan(p) for p in self._raw.inputs()]

    def variant_name(self) -> str:
        """The kind of the top node (``Projection``, ``Filter``, ...)."""
        return str(self._raw.variant_name())

    def to_variant(self) -> Any:
        """The top node as an object of its kind, from :mod:`dfship.expr`
        (``Projection``, ``Filter``, ``Aggregate``, ``TableScan``, ...), with
        the accessors of that kind.

        >>> import dfship
        >>> df = dfship.SessionContext().from_pydict({"a": [1, 2]}).filter(dfship.col("a") > 1)
        >>> df.logical_plan().to_variant().predicate()
        Expr(a > Int64(1))
        """
        from dfship.expr import _plan_node

        return _plan_node(self)

    def display(self) -> str:
        """The top node on one line."""
        return str(self._raw.display())

    def display_indent(self) -> str:
        """The whole plan, one node per line."""
        return str(self._raw.display_indent())

    def display_indent_schema(self) -> str:
        """The whole plan with each node's output schema."""
        return str(self._raw.display_indent_schema())

    def display_graphviz(self) -> str:
        """The plan in Graphviz ``dot`` syntax."""
        return str(self._raw.display_graphviz())

    def __repr__(self) -> str:
        return self.display_indent()
