"""Data frames: lazy query plans, run when their results are asked for.

>>> import dfship
>>> from dfship import col, functions as f
>>> ctx = dfship.SessionContext()
>>> df = ctx.from_pydict({"k": ["a", "b", "a"], "v": [1, 2, 3]})
>>> df.aggregate([col("k")], [f.sum(col("v")).alias("total")]).sort("k").to_pydict()
{'k': ['a', 'b'], 'total': [4, 2]}
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any, Literal

import pyarrow as pa

from dfship import _internal
from dfship.expr import Expr, SortKey, _expr_list, _raw, _sort_list
from dfship.plan import ExecutionPlan

__all__ = ["DataFrame"]

JoinHow = Literal["inner", "left", "right", "full", "semi", "anti"]


def _keys(keys: str | Sequence[str]) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


class DataFrame:
    """A lazy query. Transformations return new data frames; ``collect``,
    ``to_pydict`` and friends run it."""

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.DataFrame) -> None:
        self._raw = raw

    @property
    def raw(self) -> _internal.DataFrame:
        return self._raw

    # -- transformations ---------------------------------------------------
    def select(self, *exprs: Expr | str) -> DataFrame:
        """Keeps or computes columns; strings name columns."""
        return DataFrame(self._raw.select(_expr_list(list(exprs))))

    def with_column(self, name: str, expr: Expr | Any) -> DataFrame:
        """Adds (or replaces) column ``name``."""
        return DataFrame(self._raw.with_column(name, _raw(expr)))

    def filter(self, *predicates: Expr) -> DataFrame:
        """Keeps the rows where every predicate is true."""
        if not predicates:
            raise TypeError("filter() needs at least one predicate")
        combined = reduce(lambda a, b: a & b, predicates)
        return DataFrame(self._raw.filter(_raw(combined)))

    def aggregate(
        self,
        group_by: Expr | str | Sequence[Expr | str] | None,
        aggs: Expr | Sequence[Expr],
    ) -> DataFrame:
        """Groups by ``group_by`` (nothing: one group) and computes ``aggs``."""
        return DataFrame(self._raw.aggregate(_expr_list(group_by), _expr_list(aggs)))

    def sort(self, *keys: SortKey) -> DataFrame:
        """Orders rows; plain expressions and names sort ascending, nulls last."""
        return DataFrame(self._raw.sort(_sort_list(list(keys))))

    def limit(self, count: int, offset: int = 0) -> DataFrame:
        """At most ``count`` rows, after skipping ``offset``."""
        if count < 0 or offset < 0:
            raise ValueError("count and offset must not be negative")
        return DataFrame(self._raw.limit(count, offset))

    def distinct(self) -> DataFrame:
        """Removes duplicate rows."""
        return DataFrame(self._raw.distinct())

    def head(self, n: int = 5) -> DataFrame:
        """The first ``n`` rows."""
        return self.limit(n)

    def tail(self, n: int = 5) -> DataFrame:
        """The last ``n`` rows (counts the rows first).

        >>> import dfship
        >>> df = dfship.SessionContext().from_pydict({"a": [1, 2, 3, 4]})
        >>> df.head(2).to_pydict(), df.tail(2).to_pydict(), df.tail(9).count()
        ({'a': [1, 2]}, {'a': [3, 4]}, 4)
        """
        if n < 0:
            raise ValueError("n must not be negative")
        return self.limit(n, max(self.count() - n, 0))

    def with_columns(self, *exprs: Expr | Sequence[Expr], **named_exprs: Expr) -> DataFrame:
        """Adds or replaces several columns: positional expressions under
        their own names (alias them), keyword ones under the keyword.

        >>> import dfship
        >>> from dfship import col
        >>> df = dfship.SessionContext().from_pydict({"a": [1, 2]})
        >>> df.with_columns((col("a") * 10).alias("b"), c=col("a") + 1).to_pydict()
        {'a': [1, 2], 'b': [10, 20], 'c': [2, 3]}
        """
        flat: list[Expr] = []
        for e in exprs:
            flat.extend([e] if isinstance(e, Expr) else e)
        out = self
        for e in flat:
            out = out.with_column(e.schema_name(), e)
        for name, e in named_exprs.items():
            out = out.with_column(name, e)
        return out

    def fill_null(self, value: Any, subset: Sequence[str] | None = None) -> DataFrame:
        """Replaces nulls with ``value`` in the columns of ``subset`` (all by
        default), cast to each column's type; a column whose type ``value``
        cannot be cast to is left as it is. A number casts to text, so it
        fills string columns too; text that is not a number fills only text.

        >>> import dfship
        >>> df = dfship.SessionContext().from_pydict({"a": [1, None], "s": ["x", None]})
        >>> df.fill_null(0).to_pydict()
        {'a': [1, 0], 's': ['x', '0']}
        >>> df.fill_null("?").to_pydict()
        {'a': [1, None], 's': ['x', '?']}
        >>> df.fill_null(7, subset=["a"]).to_pydict()
        {'a': [1, 7], 's': ['x', None]}
        """
        from dfship.expr import col, lit
        from dfship.functions import coalesce

        schema = self.schema()
        chosen = list(schema.names) if subset is None else list(subset)
        missing = [n for n in chosen if n not in schema.names]
        if missing:
            raise ValueError(f"fill_null: no column named {', '.join(map(repr, missing))}")

        def castable(t: pa.DataType) -> bool:
            try:
                pa.scalar(value).cast(t)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
                return False
            return True

        columns = [
            coalesce(col(f.name), lit(value).cast(f.type)).alias(f.name)
            if f.name in chosen and castable(f.type)
            else col(f.name)
            for f in schema
        ]
        return self.select(*columns)

    def union(self, other: DataFrame, distinct: bool = False) -> DataFrame:
        """The rows of both frames, which must have the same columns
        (``UNION ALL``; ``UNION`` when ``distinct``).

        >>> import dfship
        >>> ctx = dfship.SessionContext()
        >>> a = ctx.from_pydict({"x": [1, 2]})
        >>> sorted(a.union(a).to_pydict()["x"]), a.union(a, distinct=True).count()
        ([1, 1, 2, 2], 2)
        """
        return DataFrame(self._raw.union(other._raw, distinct))

    def union_distinct(self, other: DataFrame) -> DataFrame:
        """The distinct rows of both frames (``UNION``)."""
        return self.union(other, distinct=True)

    def intersect(self, other: DataFrame) -> DataFrame:
        """Rows present in both frames (``INTERSECT ALL``).

        >>> import dfship
        >>> ctx = dfship.SessionContext()
        >>> a, b = ctx.from_pydict({"x": [1, 2, 2, 3]}), ctx.from_pydict({"x": [2, 2, 3, 4]})
        >>> sorted(a.intersect(b).to_pydict()["x"]), sorted(a.except_all(b).to_pydict()["x"])
        ([2, 2, 3], [1])
        """
        return DataFrame(self._raw.intersect(other._raw))

    def except_all(self, other: DataFrame) -> DataFrame:
        """Rows of this frame not in ``other`` (``EXCEPT ALL``)."""
        return DataFrame(self._raw.except_all(other._raw))

    def with_column_renamed(self, old_name: str, new_name: str) -> DataFrame:
        """Renames one column; a name that is not a column is left alone.

        >>> import dfship
        >>> df = dfship.SessionContext().from_pydict({"a": [1], "b": [2]})
        >>> df.with_column_renamed("a", "c").drop("b").to_pydict()
        {'c': [1]}
        """
        return DataFrame(self._raw.with_column_renamed(old_name, new_name))

    def drop(self, *columns: str) -> DataFrame:
        """Removes the named columns."""
        return DataFrame(self._raw.drop(list(columns)))

    def join(
        self,
        right: DataFrame,
        on: str | Sequence[str] | None = None,
        how: JoinHow = "inner",
        *,
        left_on: str | Sequence[str] | None = None,
        right_on: str | Sequence[str] | None = None,
        coalesce_duplicate_keys: bool = True,
    ) -> DataFrame:
        """Joins on equal keys: ``on`` names columns present on both sides,
        or ``left_on``/``right_on`` name them per side. A key with the same
        name on both sides appears once unless ``coalesce_duplicate_keys`` is false.

        >>> import dfship
        >>> ctx = dfship.SessionContext()
        >>> left = ctx.from_pydict({"id": [1, 2], "x": ["a", "b"]})
        >>> right = ctx.from_pydict({"id": [2, 3], "y": ["B", "C"]})
        >>> left.join(right, on="id").to_pydict()
        {'id': [2], 'x': ['b'], 'y': ['B']}
        """
        if on is not None:
            if left_on is not None or right_on is not None:
                raise ValueError("pass either on= or left_on=/right_on=, not both")
            lk = rk = _keys(on)
        elif left_on is not None and right_on is not None:
            lk, rk = _keys(left_on), _keys(right_on)
        else:
            raise ValueError("join needs on= or both left_on= and right_on=")
        return DataFrame(self._raw.join(right._raw, how, lk, rk, coalesce_duplicate_keys))

    # -- results -----------------------------------------------------------
    def collect(self) -> list[pa.RecordBatch]:
        """Runs the query; the result as record batches."""
        return list(self._raw.collect())

    def to_arrow_table(self) -> pa.Table:
        """Runs the query; the result as a ``pyarrow.Table``."""
        batches = self.collect()
        if not batches:
            return self.schema().empty_table()
        # The batches carry the physical schema, whose nullability can be
        # tighter than the logical one that schema() reports.
        return pa.Table.from_batches(batches)

    def to_pydict(self) -> dict[str, list[Any]]:
        """Runs the query; the result as a dict of columns."""
        return dict(self.to_arrow_table().to_pydict())

    def to_pylist(self) -> list[dict[str, Any]]:
        """Runs the query; the result as a list of rows."""
        return list(self.to_arrow_table().to_pylist())

    def to_pandas(self) -> Any:
        """Runs the query; the result as a pandas data frame (needs pandas)."""
        return self.to_arrow_table().to_pandas()

    def to_polars(self) -> Any:
        """Runs the query; the result as a Polars data frame (needs polars).

        >>> import dfship
        >>> dfship.SessionContext().from_pydict({"a": [1, 2]}).to_polars().shape
        (2, 1)
        """
        import polars as pl

        return pl.from_arrow(self.to_arrow_table())

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """Arrow PyCapsule stream export: lets pyarrow, polars and others read
        the result directly (``pyarrow.table(df)``)."""
        return self.to_arrow_table().__arrow_c_stream__(requested_schema)

    def count(self) -> int:
        """Runs the query; the number of rows."""
        return int(self._raw.count())

    def schema(self) -> pa.Schema:
        """The output schema (without running the query)."""
        schema: pa.Schema = self._raw.schema()
        return schema

    def explain(self, verbose: bool = False, analyze: bool = False) -> None:
        """Prints the logical and physical plans (``analyze`` runs the query and
        adds metrics)."""
        print(self._raw.explain(verbose, analyze))

    def show(self, num: int = 20) -> None:
        """Prints the first ``num`` rows as a table.

        >>> import dfship
        >>> dfship.SessionContext().from_pydict({"a": [1, 2]}).show()
        +---+
        | a |
        +---+
        | 1 |
        | 2 |
        +---+
        """
        print(self._raw.to_string(num))

    def __repr__(self) -> str:
        return str(self._raw.to_string(10))

    def execution_plan(self) -> ExecutionPlan:
        """The physical plan this DataFrame runs; it can be shipped with
        :meth:`ExecutionPlan.to_bytes` and run elsewhere."""
        return ExecutionPlan(self._raw.execution_plan())

    def logical_plan(self) -> str:
        """The logical plan, indented."""
        return str(self._raw.logical_plan())
