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

from dfship import exceptions, functions, ipc, user_defined
from dfship._internal import __version__
from dfship.context import SessionConfig, SessionContext
from dfship.dataframe import DataFrame
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
    literal,
)
from dfship.user_defined import (
    Accumulator,
    AggregateUDF,
    ScalarUDF,
    Volatility,
    WindowEvaluator,
    WindowUDF,
    udaf,
    udf,
    udwf,
)

__all__ = [
    "Accumulator",
    "AggregateUDF",
    "CaseBuilder",
    "DataFrame",
    "Expr",
    "NullTreatment",
    "ScalarUDF",
    "SessionConfig",
    "SessionContext",
    "SortExpr",
    "Volatility",
    "Window",
    "WindowEvaluator",
    "WindowFrame",
    "WindowUDF",
    "__version__",
    "col",
    "column",
    "exceptions",
    "functions",
    "ipc",
    "lit",
    "literal",
    "read_csv",
    "read_json",
    "read_parquet",
    "udaf",
    "udf",
    "udwf",
    "user_defined",
]

_Path = str | os.PathLike[str]


def read_parquet(path: _Path | Sequence[_Path], **options: object) -> DataFrame:
    """Reads Parquet on the global session (see :meth:`SessionContext.read_parquet`)."""
    return SessionContext.global_ctx().read_parquet(path, **options)  # type: ignore[arg-type]


def read_csv(path: _Path | Sequence[_Path], **options: object) -> DataFrame:
    """Reads CSV on the global session (see :meth:`SessionContext.read_csv`)."""
    return SessionContext.global_ctx().read_csv(path, **options)  # type: ignore[arg-type]


def read_json(path: _Path | Sequence[_Path], **options: object) -> DataFrame:
    """Reads newline-delimited JSON on the global session (see :meth:`SessionContext.read_json`)."""
    return SessionContext.global_ctx().read_json(path, **options)  # type: ignore[arg-type]
