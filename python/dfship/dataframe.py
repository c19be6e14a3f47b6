"""Data frames: lazy query plans, run when their results are asked for.

>>> import dfship
>>> from dfship import col, functions as f
>>> ctx = dfship.SessionContext()
>>> df = ctx.from_pydict({"k": ["a", "b", "a"], "v": [1, 2, 3]})
>>> df.aggregate([col("k")], [f.sum(col("v")).alias("total")]).sort("k").to_pydict()
{'k': ['a', 'b'], 'total': [4, 2]}
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from enum import Enum
from functools import reduce
from typing import Any, Literal

import pyarrow as pa

from dfship import _internal
from dfship.catalog import Table
from dfship.expr import (
    EXPR_TYPE_ERROR,
    Expr,
    SortExpr,
    SortKey,
    _raw,
    _sort_list,
    col,
    ensure_expr_list,
)
from dfship.plan import ExecutionPlan, LogicalPlan
from dfship.record_batch import RecordBatchStream

__all__ = [
    "Compression",
    "DataFrame",
    "DataFrameWriteOptions",
    "ExplainFormat",
    "InsertOp",
    "ParquetColumnOptions",
    "ParquetWriterOptions",
]

JoinHow = Literal["inner", "left", "right", "full", "semi", "anti"]


class Compression(Enum):
    """Parquet compression codecs (see :meth:`DataFrame.write_parquet`)."""

    UNCOMPRESSED = "uncompressed"
    SNAPPY = "snappy"
    GZIP = "gzip"
    BROTLI = "brotli"
    LZ4 = "lz4"
    ZSTD = "zstd"
    LZ4_RAW = "lz4_raw"

    @classmethod
    def from_str(cls, value: str) -> Compression:
        return cls(value.lower())

    def takes_level(self) -> bool:
        return self in (Compression.GZIP, Compression.BROTLI, Compression.ZSTD)

    def get_default_level(self) -> int | None:
        """The level used when none is given (``None`` for codecs without levels)."""
        return {Compression.GZIP: 6, Compression.BROTLI: 1, Compression.ZSTD: 4}.get(self)


#: The levels each codec accepts (those of the Parquet writer).
_LEVELS = {Compression.GZIP: (0, 9), Compression.BROTLI: (0, 11), Compression.ZSTD: (1, 22)}


class ExplainFormat(Enum):
    """How :meth:`DataFrame.explain` prints plans."""

    INDENT = "indent"
    TREE = "tree"
    PGJSON = "pgjson"
    GRAPHVIZ = "graphviz"


class ParquetColumnOptions:
    """Parquet writer settings for one column (see
    :class:`ParquetWriterOptions`); ``None`` keeps the file-wide setting."""

    _FIELDS = (
        "encoding",
        "dictionary_enabled",
        "compression",
        "statistics_enabled",
        "bloom_filter_enabled",
        "bloom_filter_fpp",
        "bloom_filter_ndv",
    )

    def __init__(
        self,
        encoding: str | None = None,
        dictionary_enabled: bool | None = None,
        compression: str | None = None,
        statistics_enabled: str | None = None,
        bloom_filter_enabled: bool | None = None,
        bloom_filter_fpp: float | None = None,
        bloom_filter_ndv: int | None = None,
    ) -> None:
        self.encoding = encoding
        self.dictionary_enabled = dictionary_enabled
        self.compression = compression
        self.statistics_enabled = statistics_enabled
        self.bloom_filter_enabled = bloom_filter_enabled
        self.bloom_filter_fpp = bloom_filter_fpp
        self.bloom_filter_ndv = bloom_filter_ndv


def _setting(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class ParquetWriterOptions:
    """Every Parquet writer setting DataFusion has, for
    :meth:`DataFrame.write_parquet_with_options`, with
    ``column_specific_options`` overriding some per column. ``None`` leaves
    a setting at DataFusion's default."""

    _FIELDS = (
        "data_pagesize_limit",
        "write_batch_size",
        "writer_version",
        "skip_arrow_metadata",
        "compression",
        "dictionary_enabled",
        "dictionary_page_size_limit",
        "statistics_enabled",
        "max_row_group_size",
        "created_by",
        "column_index_truncate_length",
        "statistics_truncate_length",
        "data_page_row_count_limit",
        "encoding",
        "bloom_filter_on_write",
        "bloom_filter_fpp",
        "bloom_filter_ndv",
        "allow_single_file_parallelism",
        "maximum_parallel_row_group_writers",
        "maximum_buffered_record_batches_per_stream",
    )

    def __init__(
        self,
        data_pagesize_limit: int = 1024 * 1024,
        write_batch_size: int = 1024,
        writer_version: str = "1.0",
        skip_arrow_metadata: bool = False,
        compression: str | None = "zstd(3)",
        compression_level: int | None = None,
        dictionary_enabled: bool | None = True,
        dictionary_page_size_limit: int = 1024 * 1024,
        statistics_enabled: str | None = "page",
        max_row_group_size: int = 1024 * 1024,
        created_by: str = "dfship",
        column_index_truncate_length: int | None = 64,
        statistics_truncate_length: int | None = None,
        data_page_row_count_limit: int = 20_000,
        encoding: str | None = None,
        bloom_filter_on_write: bool = False,
        bloom_filter_fpp: float | None = None,
        bloom_filter_ndv: int | None = None,
        allow_single_file_parallelism: bool = True,
        maximum_parallel_row_group_writers: int = 1,
        maximum_buffered_record_batches_per_stream: int = 2,
        column_specific_options: dict[str, ParquetColumnOptions] | None = None,
    ) -> None:
        if compression is not None and compression_level is not None and "(" not in compression:
            compression = f"{compression}({compression_level})"
        self.data_pagesize_limit = data_pagesize_limit
        self.write_batch_size = write_batch_size
        self.writer_version = writer_version
        self.skip_arrow_metadata = skip_arrow_metadata
        self.compression = compression
        self.dictionary_enabled = dictionary_enabled
        self.dictionary_page_size_limit = dictionary_page_size_limit
        self.statistics_enabled = statistics_enabled
        self.max_row_group_size = max_row_group_size
        self.created_by = created_by
        self.column_index_truncate_length = column_index_truncate_length
        self.statistics_truncate_length = statistics_truncate_length
        self.data_page_row_count_limit = data_page_row_count_limit
        self.encoding = encoding
        self.bloom_filter_on_write = bloom_filter_on_write
        self.bloom_filter_fpp = bloom_filter_fpp
        self.bloom_filter_ndv = bloom_filter_ndv
        self.allow_single_file_parallelism = allow_single_file_parallelism
        self.maximum_parallel_row_group_writers = maximum_parallel_row_group_writers
        self.maximum_buffered_record_batches_per_stream = maximum_buffered_record_batches_per_stream
        self.column_specific_options = column_specific_options

    def _settings(self) -> list[tuple[str, str]]:
        """DataFusion's Parquet options as ``(key, value)`` pairs, per-column
        ones keyed ``option::column``."""
        pairs = [
            (name, _setting(value))
            for name in self._FIELDS
            if (value := getattr(self, name)) is not None
        ]
        for column, options in (self.column_specific_options or {}).items():
            pairs.extend(
                (f"{name}::{column}", _setting(value))
                for name in ParquetColumnOptions._FIELDS
                if (value := getattr(options, name)) is not None
            )
        return pairs


class InsertOp(Enum):
    """How a write treats existing data; only ``APPEND`` applies to files."""

    APPEND = "append"
    OVERWRITE = "overwrite"
    REPLACE = "replace"


class DataFrameWriteOptions:
    """Options of :meth:`DataFrame.write_parquet`, ``write_csv`` and
    ``write_json``: one output file or a directory, hive-style partition
    columns, and an ordering of the rows written."""

    __slots__ = ("insert_operation", "partition_by", "single_file_output", "sort_by")

    def __init__(
        self,
        insert_operation: InsertOp | None = None,
        single_file_output: bool = False,
        partition_by: str | Sequence[str] | None = None,
        sort_by: SortKey | Sequence[SortKey] | None = None,
    ) -> None:
        self.insert_operation = insert_operation
        self.single_file_output = single_file_output
        self.partition_by = partition_by
        self.sort_by = sort_by

    @staticmethod
    def _args(
        options: DataFrameWriteOptions | None,
    ) -> tuple[bool | None, list[str], list[_internal.RawSortExpr]]:
        # Without options, a path ending in the format's extension is one
        # file and any other path a directory; with them, single_file_output
        # decides.
        if options is None:
            return (None, [], [])
        if options.insert_operation not in (None, InsertOp.APPEND):
            raise ValueError("writing files supports only InsertOp.APPEND")
        partition_by = [] if options.partition_by is None else _keys(options.partition_by)
        return (options.single_file_output, partition_by, _sort_list(options.sort_by))


def _columns(items: Expr | str | Sequence[Expr | str] | None) -> list[_internal.RawExpr]:
    """Expressions and column names as raw expressions; anything else is a
    TypeError."""
    if items is None:
        return []
    if isinstance(items, (Expr, str)):
        items = [items]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(col(item)._raw)
        elif isinstance(item, Expr):
            out.append(item._raw)
        else:
            raise TypeError(
                f"Expected Expr or column name, got {type(item).__name__}: {EXPR_TYPE_ERROR}"
            )
    return out


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

    @property
    def df(self) -> _internal.DataFrame:
        """The underlying frame (the name the ``datafusion`` package uses)."""
        return self._raw

    def __iter__(self) -> Any:
        """The query's batches, pulled one at a time as the query runs."""
        return iter(self.execute_stream())

    def __aiter__(self) -> Any:
        """The query's batches, for ``async for``."""
        return self.execute_stream().__aiter__()

    # -- transformations ---------------------------------------------------
    def __getitem__(self, key: str | Sequence[str]) -> DataFrame:
        """The frame with only column ``key`` (or the columns named)."""
        if isinstance(key, str):
            return self.select(key)
        if isinstance(key, (list, tuple)) and all(isinstance(k, str) for k in key):
            return self.select(*key)
        raise TypeError(
            f"DataFrame can only be indexed by string index or indices, not {type(key).__name__}"
        )

    def find_qualified_columns(self, *names: str) -> list[Expr]:
        """Each name as a column of this frame, qualified by its table."""
        return [Expr(raw) for raw in self._raw.find_qualified_columns(list(names))]

    def column(self, name: str) -> Expr:
        """Column ``name`` of this frame, qualified by its table."""
        return self.find_qualified_columns(name)[0]

    col = column

    def alias(self, alias: str) -> DataFrame:
        """The frame as a table named ``alias``: its columns become ``alias.x``."""
        return DataFrame(self._raw.alias(alias))

    def parse_sql_expr(self, expr: str) -> Expr:
        """A SQL expression, typed against this frame's columns."""
        return Expr(self._raw.parse_sql_expr(expr))

    def select_exprs(self, *args: str) -> DataFrame:
        """Selects SQL expressions (``"a + 1 AS b"``)."""
        return DataFrame(self._raw.select([self._raw.parse_sql_expr(a) for a in args]))

    def window(self, *exprs: Expr) -> DataFrame:
        """The frame with window function columns added."""
        return DataFrame(self._raw.window([_raw(e) for e in exprs]))

    def cast(self, mapping: dict[str, pa.DataType]) -> DataFrame:
        """Columns cast to the types given by name."""
        return self.with_columns(*(Expr.column(c).cast(t).alias(c) for c, t in mapping.items()))

    def sort_by(self, *exprs: Expr | str) -> DataFrame:
        """Sorts ascending, nulls last, by each expression (or column name)."""
        return self.sort(*exprs)

    def transform(self, func: Any, *args: Any) -> DataFrame:
        """``func(self, *args)``: chains a function of frames into a method chain."""
        result: DataFrame = func(self, *args)
        return result

    def union_by_name(self, other: DataFrame, distinct: bool = False) -> DataFrame:
        """The rows of both frames, columns matched by name; a column only
        one side has is null on the other."""
        return DataFrame(self._raw.union_by_name(other._raw, distinct))

    def distinct_on(
        self,
        on_expr: list[Expr],
        select_expr: list[Expr],
        sort_expr: list[SortKey] | None = None,
    ) -> DataFrame:
        """``SELECT DISTINCT ON (on_expr) select_expr ... ORDER BY sort_expr``:
        per group of equal ``on_expr``, the first row in ``sort_expr`` order."""
        return DataFrame(
            self._raw.distinct_on(
                [_raw(e) for e in on_expr],
                [_raw(e) for e in select_expr],
                _sort_list(sort_expr) if sort_expr else None,
            )
        )

    def select(self, *exprs: Expr | str) -> DataFrame:
        """Keeps or computes columns; strings name columns."""
        return DataFrame(self._raw.select(_columns(exprs)))

    def with_column(self, name: str, expr: Expr | str) -> DataFrame:
        """Adds (or replaces) column ``name``; a string is a SQL expression."""
        return DataFrame(self._raw.with_column(name, self._sql_or_expr(expr)._raw))

    def _sql_or_expr(self, expr: Expr | str) -> Expr:
        """``expr``, or the SQL expression it spells, typed against this frame."""
        if isinstance(expr, str):
            return self.parse_sql_expr(expr)
        if not isinstance(expr, Expr):
            raise TypeError(
                f"Expected Expr or SQL string, got {type(expr).__name__}: {EXPR_TYPE_ERROR}"
            )
        return expr

    def filter(self, *predicates: Expr | str) -> DataFrame:
        """Keeps the rows where every predicate is true; a string is a SQL
        predicate. Without predicates the frame is returned as it is."""
        if not predicates:
            return self
        combined = reduce(lambda a, b: a & b, [self._sql_or_expr(p) for p in predicates])
        return DataFrame(self._raw.filter(combined._raw))

    def aggregate(
        self,
        group_by: Expr | str | Sequence[Expr | str] | None,
        aggs: Expr | Sequence[Expr],
    ) -> DataFrame:
        """Groups by ``group_by`` (nothing: one group) and computes ``aggs``."""
        agg_list = [aggs] if isinstance(aggs, (Expr, str)) else list(aggs)
        return DataFrame(self._raw.aggregate(_columns(group_by), ensure_expr_list(agg_list)))

    def sort(self, *exprs: SortKey) -> DataFrame:
        """Orders rows; plain expressions and names sort ascending, nulls last."""
        for e in exprs:
            if not isinstance(e, (Expr, SortExpr, str)):
                raise TypeError(
                    f"Expected Expr or column name, got {type(e).__name__}: {EXPR_TYPE_ERROR}"
                )
        return DataFrame(self._raw.sort(_sort_list(list(exprs))))

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

    def with_columns(
        self, *exprs: Expr | str | Sequence[Expr | str], **named_exprs: Expr | str
    ) -> DataFrame:
        """Adds or replaces several columns: positional expressions under
        their own names (alias them), keyword ones under the keyword.

        >>> import dfship
        >>> from dfship import col
        >>> df = dfship.SessionContext().from_pydict({"a": [1, 2]})
        >>> df.with_columns((col("a") * 10).alias("b"), c=col("a") + 1).to_pydict()
        {'a': [1, 2], 'b': [10, 20], 'c': [2, 3]}
        """
        flat: list[Expr | str] = []
        for e in exprs:
            flat.extend([e] if isinstance(e, (Expr, str)) else e)
        out = self
        for item in flat:
            e = self._sql_or_expr(item)
            out = out.with_column(e.schema_name(), e)
        for name, item in named_exprs.items():
            out = out.with_column(name, item)
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

    def intersect(self, other: DataFrame, distinct: bool = False) -> DataFrame:
        """Rows present in both frames (``INTERSECT ALL``; ``INTERSECT`` when
        ``distinct``).

        >>> import dfship
        >>> ctx = dfship.SessionContext()
        >>> a, b = ctx.from_pydict({"x": [1, 2, 2, 3]}), ctx.from_pydict({"x": [2, 2, 3, 4]})
        >>> sorted(a.intersect(b).to_pydict()["x"]), sorted(a.except_all(b).to_pydict()["x"])
        ([2, 2, 3], [1])
        """
        return DataFrame(self._raw.intersect(other._raw, distinct))

    def except_all(self, other: DataFrame, distinct: bool = False) -> DataFrame:
        """Rows of this frame not in ``other`` (``EXCEPT ALL``; ``EXCEPT``
        when ``distinct``)."""
        return DataFrame(self._raw.except_all(other._raw, distinct))

    def unnest_columns(
        self,
        *columns: str,
        preserve_nulls: bool = True,
        recursions: list[tuple[str, str, int]] | None = None,
    ) -> DataFrame:
        """One row per element of the named list columns (other columns
        repeat). With ``preserve_nulls`` a null list gives a null row, else
        no row. ``recursions`` lists ``(input, output, depth)`` for columns
        unnested more than one level.

        >>> import dfship
        >>> df = dfship.SessionContext().from_pydict({"k": [1, 2], "l": [[1, 2], None]})
        >>> df.unnest_columns("l").to_pydict()
        {'k': [1, 1, 2], 'l': [1, 2, None]}
        >>> df.unnest_columns("l", preserve_nulls=False).to_pydict()
        {'k': [1, 1], 'l': [1, 2]}
        """
        return DataFrame(self._raw.unnest_columns(list(columns), preserve_nulls, recursions))

    def describe(self) -> DataFrame:
        """Summary statistics of every column: count, null_count, mean, std,
        min, max and median, one row each (runs the query).

        >>> import dfship
        >>> d = dfship.SessionContext().from_pydict({"a": [1, 3]}).describe().to_pydict()
        >>> d["describe"], d["a"][:3]
        (['count', 'null_count', 'mean', 'std', 'min', 'max', 'median'], [2.0, 0.0, 2.0])
        """
        return DataFrame(self._raw.describe())

    def cache(self) -> DataFrame:
        """Runs the query now and keeps the result in memory: later queries
        on the returned frame read it instead of recomputing."""
        return DataFrame(self._raw.cache())

    def repartition(self, num: int) -> DataFrame:
        """Spreads the rows round-robin over ``num`` partitions."""
        return DataFrame(self._raw.repartition(num))

    def repartition_by_hash(self, *exprs: Expr | str, num: int) -> DataFrame:
        """Spreads the rows over ``num`` partitions by a hash of ``exprs``:
        equal keys land in the same partition."""
        return DataFrame(
            self._raw.repartition_by_hash([self._sql_or_expr(e)._raw for e in exprs], num)
        )

    def join_on(self, right: DataFrame, *on_exprs: Expr, how: JoinHow = "inner") -> DataFrame:
        """Joins on predicates (column names must differ between the sides
        or be qualified); equalities become join keys.

        >>> import dfship
        >>> from dfship import col
        >>> ctx = dfship.SessionContext()
        >>> left = ctx.from_pydict({"a": [1, 2, 3]})
        >>> right = ctx.from_pydict({"b": [2, 3, 4]})
        >>> left.join_on(right, col("a") == col("b"), col("b") > 2).to_pydict()
        {'a': [3], 'b': [3]}
        """
        if not on_exprs:
            raise TypeError("join_on() needs at least one predicate")
        return DataFrame(self._raw.join_on(right._raw, ensure_expr_list(on_exprs), how))

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
        on: str | Sequence[str] | tuple[list[str], list[str]] | None = None,
        how: JoinHow = "inner",
        *,
        left_on: str | Sequence[str] | None = None,
        right_on: str | Sequence[str] | None = None,
        join_keys: tuple[list[str], list[str]] | None = None,
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
        if join_keys is not None or (
            isinstance(on, tuple) and len(on) == 2 and all(isinstance(k, list) for k in on)
        ):
            # The older spelling: (left keys, right keys).
            warnings.warn(
                "join_keys is deprecated: use on= or left_on=/right_on=",
                DeprecationWarning,
                stacklevel=2,
            )
            if left_on is not None or right_on is not None:
                raise ValueError(
                    "`left_on` or `right_on` should not provided with `on` or `join_keys`"
                )
            pair = join_keys if join_keys is not None else on
            assert isinstance(pair, tuple)
            lk, rk = list(pair[0]), list(pair[1])
        elif on is not None:
            if left_on is not None or right_on is not None:
                raise ValueError("`left_on` or `right_on` should not provided with `on`")
            lk = rk = _keys(on)  # type: ignore[arg-type]
        elif left_on is not None and right_on is not None:
            lk, rk = _keys(left_on), _keys(right_on)
        else:
            if left_on is not None or right_on is not None:
                raise ValueError("`left_on` and `right_on` should both be provided.")
            raise ValueError("either `on` or `left_on` and `right_on` should be provided.")
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
        the result directly (``pyarrow.table(df)``). The query starts now and
        its batches are computed as the reader pulls them, so a reader that
        goes batch by batch never holds the whole result.

        >>> import dfship, pyarrow as pa
        >>> pa.table(dfship.SessionContext().from_pydict({"a": [1, 2]})).num_rows
        2
        """
        frame = self if requested_schema is None else self._shaped_as(requested_schema)
        return frame._raw.arrow_reader().__arrow_c_stream__(None)

    def _shaped_as(self, requested_schema: object) -> DataFrame:
        """The frame with the columns of ``requested_schema`` (an Arrow
        schema capsule), in its order: a column the frame lacks is all
        null, and one it has must have the requested type."""
        wanted = pa.Schema._import_from_c_capsule(requested_schema)
        have = self.schema()
        columns = []
        for field in wanted:
            if field.name not in have.names:
                columns.append(Expr.literal(None).cast(field.type).alias(field.name))
                continue
            found = have.field(field.name).type
            if found != field.type:
                raise ValueError(
                    f"Fail to merge schema field {field.name!r}: the frame has {found}, "
                    f"the requested schema {field.type}"
                )
            columns.append(col(field.name))
        return self.select(*columns)

    def execute_stream(self) -> RecordBatchStream:
        """Starts the query; its batches, one at a time, as they are computed."""
        return RecordBatchStream(self._raw.execute_stream())

    def execute_stream_partitioned(self) -> list[RecordBatchStream]:
        """Starts the query; one stream per output partition, which can be
        read on separate threads."""
        return [RecordBatchStream(s) for s in self._raw.execute_stream_partitioned()]

    def collect_partitioned(self) -> list[list[pa.RecordBatch]]:
        """Runs the query; the batches of each output partition.

        >>> import dfship, pyarrow as pa
        >>> one, two = pa.record_batch({"a": [1]}), pa.record_batch({"a": [2, 3]})
        >>> df = dfship.SessionContext().create_dataframe([[one], [two]])
        >>> [sum(b.num_rows for b in part) for part in df.collect_partitioned()]
        [1, 2]
        """
        return [list(part) for part in self._raw.collect_partitioned()]

    def collect_column(self, column_name: str) -> pa.Array:
        """Runs the query and returns one column as one array."""
        table = self.select(column_name).to_arrow_table()
        return table.column(0).combine_chunks()

    def count(self) -> int:
        """Runs the query; the number of rows."""
        return int(self._raw.count())

    def schema(self) -> pa.Schema:
        """The output schema (without running the query)."""
        schema: pa.Schema = self._raw.schema()
        return schema

    def explain(
        self, verbose: bool = False, analyze: bool = False, format: ExplainFormat | None = None
    ) -> None:
        """Prints the logical and physical plans (``analyze`` runs the query and
        adds metrics), in ``format`` when given."""
        print(self._raw.explain(verbose, analyze, None if format is None else format.value))

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
        text, batches = self._raw.preview(num)
        print(text if batches else "DataFrame has no rows")

    def __repr__(self) -> str:
        return "DataFrame()\n" + str(self._raw.to_string(10))

    def _repr_html_(self) -> str:
        """An HTML table of the first rows, for notebooks, rendered by the
        formatter of :mod:`dfship.dataframe_formatter`. The query runs only
        until the formatter has its rows: at least ``min_rows``, at most
        ``max_rows``, and no more once ``max_memory_bytes`` is reached."""
        from dfship.dataframe_formatter import get_formatter

        formatter = get_formatter()
        batches, has_more = self._first_rows(
            formatter.min_rows, formatter.max_rows, formatter.max_memory_bytes
        )
        return formatter.format_html(batches, self.schema(), has_more=has_more)

    def _first_rows(
        self, min_rows: int, max_rows: int, max_bytes: int
    ) -> tuple[list[pa.RecordBatch], bool]:
        """The first rows as batches, and whether the query has more."""
        batches: list[pa.RecordBatch] = []
        rows = size = 0
        has_more = False
        stream = self.limit(max_rows + 1).execute_stream()
        for batch in stream:
            record = batch.to_pyarrow()
            if record.num_rows == 0:
                continue
            if rows >= max_rows or (size >= max_bytes and rows >= min_rows):
                has_more = True
                break
            batches.append(record)
            rows += record.num_rows
            size += record.nbytes
        keep = min(rows, max_rows)
        if size > max_bytes and rows > min_rows:
            # Keep the share of rows that fits, but never fewer than min_rows.
            keep = min(keep, max(min_rows, rows * max_bytes // size))
        if keep < rows:
            has_more = True
            batches = pa.Table.from_batches(batches).slice(0, keep).to_batches()
        return batches, has_more

    # -- writing -------------------------------------------------------------
    def write_parquet(
        self,
        path: str | os.PathLike[str],
        compression: str | Compression | ParquetWriterOptions = Compression.ZSTD,
        compression_level: int | None = None,
        write_options: DataFrameWriteOptions | None = None,
    ) -> None:
        """Runs the query and writes the result as Parquet at ``path`` (a file
        if it ends in ``.parquet``, else a directory of files).
        ``compression_level`` applies to gzip, brotli and zstd (defaults 6, 1
        and 4).

        >>> import dfship, tempfile, os
        >>> ctx = dfship.SessionContext()
        >>> out = os.path.join(tempfile.mkdtemp(), "a.parquet")
        >>> ctx.from_pydict({"a": [1, 2]}).write_parquet(out, "zstd", 9)
        >>> ctx.read_parquet(out).to_pydict()
        {'a': [1, 2]}
        """
        if isinstance(compression, ParquetWriterOptions):
            if compression_level is not None:
                raise ValueError("compression_level goes inside ParquetWriterOptions")
            self.write_parquet_with_options(path, compression, write_options)
            return
        codec = Compression(compression.lower() if isinstance(compression, str) else compression)
        level = codec.get_default_level() if compression_level is None else compression_level
        if level is not None and not codec.takes_level():
            raise ValueError(f"{codec.value} compression takes no level")
        if level is not None:
            low, high = _LEVELS[codec]
            if not low <= level <= high:
                raise ValueError(
                    f"{codec.value} compression level must be in {low}..={high}, not {level}"
                )
        spec = codec.value if level is None else f"{codec.value}({level})"
        self._raw.write_parquet(os.fspath(path), spec, *DataFrameWriteOptions._args(write_options))

    def write_parquet_with_options(
        self,
        path: str | os.PathLike[str],
        options: ParquetWriterOptions,
        write_options: DataFrameWriteOptions | None = None,
    ) -> None:
        """Runs the query and writes Parquet with every writer setting of
        ``options``, per-column ones included."""
        single, partition_by, sort_by = DataFrameWriteOptions._args(write_options)
        self._raw.write_parquet(
            os.fspath(path), None, single, partition_by, sort_by, options._settings()
        )

    def write_table(
        self, table_name: str, write_options: DataFrameWriteOptions | None = None
    ) -> None:
        """Runs the query and inserts its rows into the registered table
        ``table_name`` (appending unless ``write_options`` say otherwise)."""
        op = InsertOp.APPEND
        if write_options is not None and write_options.insert_operation is not None:
            op = write_options.insert_operation
        plain = None
        if write_options is not None:
            plain = DataFrameWriteOptions(
                None,
                write_options.single_file_output,
                write_options.partition_by,
                write_options.sort_by,
            )
        self._raw.write_table(table_name, op.value, *DataFrameWriteOptions._args(plain))

    def write_csv(
        self,
        path: str | os.PathLike[str],
        with_header: bool = False,
        write_options: DataFrameWriteOptions | None = None,
    ) -> None:
        """Runs the query and writes the result as CSV at ``path``."""
        self._raw.write_csv(
            os.fspath(path), with_header, *DataFrameWriteOptions._args(write_options)
        )

    def write_json(
        self,
        path: str | os.PathLike[str],
        write_options: DataFrameWriteOptions | None = None,
    ) -> None:
        """Runs the query and writes the result as newline-delimited JSON at
        ``path``."""
        self._raw.write_json(os.fspath(path), *DataFrameWriteOptions._args(write_options))

    def execution_plan(self) -> ExecutionPlan:
        """The physical plan this DataFrame runs; it can be shipped with
        :meth:`ExecutionPlan.to_bytes` and run elsewhere."""
        return ExecutionPlan(self._raw.execution_plan())

    def logical_plan(self) -> LogicalPlan:
        """The logical plan as built, before optimization."""
        return LogicalPlan(self._raw.logical_plan())

    def optimized_logical_plan(self) -> LogicalPlan:
        """The logical plan after DataFusion's optimizer."""
        return LogicalPlan(self._raw.optimized_logical_plan())

    def into_view(self, temporary: bool = False) -> Table:
        """The frame as a table (a view over its plan), for
        :meth:`SessionContext.register_table`; the frame stays usable."""
        return Table(self._raw.into_view(temporary))
