"""dfship: ship Apache DataFusion work to other processes and machines.

The query surface mirrors the ``datafusion`` Python package, so code written
for it ports by changing the import:

>>> import dfship
>>> from dfship import col, lit
>>> ctx = dfship.SessionContext()
>>> df = ctx.from_pydict({"a": [1, 2, 3]})
>>> df.with_column("b", col("a") * lit(10)).filter(col("a") > 1).to_pydict()
{'a': [2, 3], 'b': [20, 30]}
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from dfship import _internal, exceptions, functions, ipc, object_store, user_defined
from dfship._internal import __version__
from dfship.catalog import Catalog, Table
from dfship.context import RuntimeEnvBuilder, SessionConfig, SessionContext, SQLOptions
from dfship.dataframe import (
    DataFrame,
    DataFrameWriteOptions,
    ExplainFormat,
    InsertOp,
    ParquetColumnOptions,
    ParquetWriterOptions,
)
from dfship.expr import (
    CaseBuilder,
    Expr,
    NullTreatment,
    SortExpr,
    Window,
    WindowFrame,
    col,
    column,
    lit,
    lit_with_metadata,
    literal,
    literal_with_metadata,
)
from dfship.options import CsvReadOptions
from dfship.plan import ExecutionPlan, LogicalPlan, Metric, MetricsSet
from dfship.record_batch import RecordBatch, RecordBatchStream
from dfship.user_defined import (
    Accumulator,
    AggregateUDF,
    ScalarUDF,
    TableFunction,
    Volatility,
    WindowEvaluator,
    WindowUDF,
    udaf,
    udf,
    udtf,
    udwf,
)

__all__ = [
    "Accumulator",
    "AggregateUDF",
    "CaseBuilder",
    "CsvReadOptions",
    "Catalog",
    "DEFAULT_MAX_EXPRESSION_DEPTH",
    "DataFrame",
    "DataFrameWriteOptions",
    "ExecutionPlan",
    "Metric",
    "MetricsSet",
    "ExplainFormat",
    "Expr",
    "InsertOp",
    "LogicalPlan",
    "NullTreatment",
    "ParquetColumnOptions",
    "ParquetWriterOptions",
    "RecordBatch",
    "RecordBatchStream",
    "RuntimeEnvBuilder",
    "SQLOptions",
    "ScalarUDF",
    "SessionConfig",
    "SessionContext",
    "Table",
    "SortExpr",
    "Volatility",
    "Window",
    "WindowEvaluator",
    "WindowFrame",
    "WindowUDF",
    "TableFunction",
    "udtf",
    "__version__",
    "col",
    "column",
    "exceptions",
    "functions",
    "ipc",
    "object_store",
    "lit",
    "lit_with_metadata",
    "literal",
    "literal_with_metadata",
    "max_expression_depth",
    "read_csv",
    "read_json",
    "read_parquet",
    "set_max_expression_depth",
    "udaf",
    "udf",
    "udwf",
    "user_defined",
]

_Path = str | os.PathLike[str]

#: The default of :func:`max_expression_depth`.
DEFAULT_MAX_EXPRESSION_DEPTH: int = _internal.DEFAULT_MAX_EXPRESSION_DEPTH

#: Whether the extension was built optimised (figures measured with a debug
#: build say so: the cluster lab's report, for one).
RELEASE_BUILD: bool = _internal.RELEASE_BUILD


def max_expression_depth() -> int:
    """The deepest expression dfship builds or decodes in this process
    (default 2,000 levels, the same as the default wire limit).

    Building an expression deeper than this (``e + lit(1)`` on an ``e`` at
    the limit, a function call around it, decoding one) raises
    :class:`~dfship.exceptions.ExpressionTooDeepError`. Below it, every
    operation works at any depth: copying, printing, comparing, hashing,
    serializing (within the session's wire limits), evaluating and freeing;
    dfship gives each a stack sized for the expression's depth. Expressions
    a few thousand levels deep plan slowly: DataFusion's planner does more
    than linear work in nesting depth.
    """
    return int(_internal.max_expression_depth())


def set_max_expression_depth(depth: int) -> None:
    """Sets the process-wide limit returned by :func:`max_expression_depth`.

    Existing expressions are not affected; the wire has its own per-session
    limit (``SessionContext.with_wire_limits(max_depth=...)``, default
    2,000), which the sender and the receiver both apply.
    """
    _internal.set_max_expression_depth(depth)


def read_parquet(path: _Path | Sequence[_Path], **options: object) -> DataFrame:
    """Reads Parquet on the global session (see :meth:`SessionContext.read_parquet`)."""
    return SessionContext.global_ctx().read_parquet(path, **options)  # type: ignore[arg-type]


def read_csv(path: _Path | Sequence[_Path], **options: object) -> DataFrame:
    """Reads CSV on the global session (see :meth:`SessionContext.read_csv`)."""
    return SessionContext.global_ctx().read_csv(path, **options)  # type: ignore[arg-type]


def read_json(path: _Path | Sequence[_Path], **options: object) -> DataFrame:
    """Reads newline-delimited JSON on the global session (see :meth:`SessionContext.read_json`)."""
    return SessionContext.global_ctx().read_json(path, **options)  # type: ignore[arg-type]
