"""Physical plans: what a DataFrame runs, shippable to another process."""

from __future__ import annotations

import datetime
import warnings
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dfship import _internal

if TYPE_CHECKING:
    from dfship.context import SessionContext
    from dfship.record_batch import RecordBatchStream

__all__ = ["ExecutionPlan", "LogicalPlan", "Metric", "MetricsSet"]


def _context_first(first: Any, second: Any) -> tuple[Any, SessionContext | None]:
    """``from_bytes(buf, ctx)``, or ``from_bytes(ctx, buf)`` as the
    ``datafusion`` package orders them: the bytes and the context, whichever
    comes first."""
    if isinstance(second, (bytes, bytearray, memoryview)):
        return second, first
    return first, second


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
        buf: bytes | bytearray | memoryview | SessionContext,
        ctx: SessionContext | bytes | bytearray | memoryview | None = None,
    ) -> ExecutionPlan:
        """Rebuilds a plan from :meth:`to_bytes` output, with the functions
        and settings of ``ctx``, else this thread's worker session
        (:func:`dfship.ipc.set_worker_ctx`), else the global session. The
        context may also come first, ``from_bytes(ctx, buf)``, as in the
        ``datafusion`` package."""
        data, session = _context_first(buf, ctx)
        raw = _internal.RawExecutionPlan.from_bytes(
            bytes(data), None if session is None else session.raw
        )
        return ExecutionPlan(raw)

    def to_proto(self) -> bytes:
        """Deprecated name of :meth:`to_bytes`."""
        warnings.warn(
            "ExecutionPlan.to_proto is deprecated; use to_bytes",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.to_bytes()

    @staticmethod
    def from_proto(ctx: SessionContext, data: bytes) -> ExecutionPlan:
        """Deprecated name of :meth:`from_bytes`."""
        warnings.warn(
            "ExecutionPlan.from_proto is deprecated; use from_bytes",
            DeprecationWarning,
            stacklevel=2,
        )
        return ExecutionPlan.from_bytes(data, ctx)

    def metrics(self) -> MetricsSet | None:
        """What this node recorded in the run that produced the plan (see
        :meth:`dfship.DataFrame.execution_plan`), or ``None`` for a node that
        keeps no metrics."""
        rows = self._raw.metrics()
        return None if rows is None else MetricsSet([Metric(*row) for row in rows])

    def collect_metrics(self) -> list[tuple[str, MetricsSet]]:
        """Every node's metrics, top down, as ``(node name, metrics)`` pairs
        (nodes without metrics left out).

        >>> import dfship
        >>> df = dfship.SessionContext().from_pydict({"a": [1, 2, 3]}).filter(dfship.col("a") > 1)
        >>> _ = df.collect()
        >>> 2 in [m.output_rows for _, m in df.execution_plan().collect_metrics()]
        True
        """
        found: list[tuple[str, MetricsSet]] = []
        pending = [self]
        while pending:
            node = pending.pop()
            metrics = node.metrics()
            if metrics is not None:
                found.append((node._raw.name(), metrics))
            pending.extend(reversed(node.children()))
        return found

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
    :meth:`~dfship.DataFrame.optimized_logical_plan`): inspect it, run it
    (:meth:`dfship.SessionContext.execute_logical_plan`), or ship it with
    :meth:`to_bytes` or pickle.

    >>> import dfship
    >>> df = dfship.SessionContext().from_pydict({"a": [1, 2]}).filter(dfship.col("a") > 1)
    >>> plan = df.logical_plan()
    >>> plan.variant_name(), [p.variant_name() for p in plan.inputs()]
    ('Filter', ['Projection'])
    """

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.LogicalPlan) -> None:
        self._raw = raw

    def to_bytes(self, ctx: SessionContext | None = None) -> bytes:
        """Serializes the plan into a checked frame (magic ``DFSL``) with the
        settings of ``ctx``, else of this thread's sender session, else the
        defaults. Tables travel as datafusion-proto describes them (files
        and listing tables by location); in-memory data does not.

        >>> import dfship
        >>> ctx = dfship.SessionContext()
        >>> plan = ctx.sql("SELECT 1 + 1 AS two").logical_plan()
        >>> back = dfship.LogicalPlan.from_bytes(plan.to_bytes(), ctx)
        >>> ctx.create_dataframe_from_logical_plan(back).to_pydict()
        {'two': [2]}
        """
        blob: bytes = self._raw.to_bytes(None if ctx is None else ctx.raw)
        return blob

    @staticmethod
    def from_bytes(
        buf: bytes | bytearray | memoryview | SessionContext,
        ctx: SessionContext | bytes | bytearray | memoryview | None = None,
    ) -> LogicalPlan:
        """Rebuilds a plan from :meth:`to_bytes` output, resolving tables and
        functions through ``ctx``, else this thread's worker session, else
        the global session. The context may also come first."""
        data, session = _context_first(buf, ctx)
        return LogicalPlan(
            _internal.LogicalPlan.from_bytes(bytes(data), None if session is None else session.raw)
        )

    def to_proto(self) -> bytes:
        """Deprecated name of :meth:`to_bytes`."""
        warnings.warn(
            "LogicalPlan.to_proto is deprecated; use to_bytes", DeprecationWarning, stacklevel=2
        )
        return self.to_bytes()

    @staticmethod
    def from_proto(ctx: SessionContext, data: bytes) -> LogicalPlan:
        """Deprecated name of :meth:`from_bytes`."""
        warnings.warn(
            "LogicalPlan.from_proto is deprecated; use from_bytes", DeprecationWarning, stacklevel=2
        )
        return LogicalPlan.from_bytes(data, ctx)

    def __reduce__(self) -> tuple[object, tuple[bytes]]:
        return (LogicalPlan.from_bytes, (self.to_bytes(),))

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


class Metric:
    """One value an operator recorded while it ran: a count, a duration in
    nanoseconds, or a timestamp, for one partition or the whole operator."""

    __slots__ = ("_display", "_labels", "_nanos", "_value", "name", "partition")

    def __init__(
        self,
        name: str,
        value: int | None,
        nanos: int | None,
        partition: int | None,
        labels: list[tuple[str, str]],
        display: str,
    ) -> None:
        self.name = name
        """What is measured: ``output_rows``, ``elapsed_compute``, ..."""
        self.partition = partition
        """The partition it was measured on, ``None`` for the whole operator."""
        self._value = value
        self._nanos = nanos
        self._labels = dict(labels)
        self._display = display

    @property
    def value_as_datetime(self) -> datetime.datetime | None:
        """For ``start_timestamp`` and ``end_timestamp``, once set, the
        moment in UTC; ``None`` for every other metric."""
        if self._nanos is None:
            return None
        seconds, nanos = divmod(self._nanos, 1_000_000_000)
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
        return moment + datetime.timedelta(microseconds=nanos // 1000)

    @property
    def value(self) -> int | datetime.datetime | None:
        """The count (rows, bytes, nanoseconds, ...), or the moment for a
        timestamp (``None`` until it is set)."""
        if self._value is not None:
            return self._value
        return self.value_as_datetime

    def labels(self) -> dict[str, str]:
        """The labels that tell apart metrics of the same name."""
        return dict(self._labels)

    def __repr__(self) -> str:
        return f"Metric({self._display})"


class MetricsSet:
    """The metrics of one plan node (see :meth:`ExecutionPlan.metrics`),
    with sums over partitions for the common ones."""

    __slots__ = ("_metrics",)

    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def metrics(self) -> list[Metric]:
        """Every metric, per partition."""
        return list(self._metrics)

    def sum_by_name(self, name: str) -> int | None:
        """The sum of the counts named ``name`` over every partition, or
        ``None`` when the node has none."""
        values = [m._value for m in self._metrics if m.name == name and m._value is not None]
        return sum(values) if values else None

    @property
    def output_rows(self) -> int | None:
        """Rows the node produced."""
        return self.sum_by_name("output_rows")

    @property
    def elapsed_compute(self) -> int | None:
        """CPU time the node spent, in nanoseconds."""
        return self.sum_by_name("elapsed_compute")

    @property
    def spill_count(self) -> int | None:
        """How many times the node spilled to disk."""
        return self.sum_by_name("spill_count")

    @property
    def spilled_bytes(self) -> int | None:
        """Bytes the node spilled to disk."""
        return self.sum_by_name("spilled_bytes")

    @property
    def spilled_rows(self) -> int | None:
        """Rows the node spilled to disk."""
        return self.sum_by_name("spilled_rows")

    def __repr__(self) -> str:
        return f"MetricsSet([{', '.join(m._display for m in self._metrics)}])"
