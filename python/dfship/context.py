"""Sessions: where tables and functions are registered and queries are planned.

>>> import dfship
>>> ctx = dfship.SessionContext()
>>> ctx.from_pydict({"a": [1, 2, 3]}, name="t").count()
3
>>> ctx.sql("SELECT sum(a) AS s FROM t").to_pydict()
{'s': [6]}
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from dfship import _internal
from dfship.dataframe import DataFrame
from dfship.user_defined import AggregateUDF, ScalarUDF, WindowUDF

__all__ = ["SessionConfig", "SessionContext"]

PathLike = str | os.PathLike[str]


def _paths(path: PathLike | Sequence[PathLike]) -> list[str]:
    if isinstance(path, (str, os.PathLike)):
        return [os.fspath(path)]
    return [os.fspath(p) for p in path]


class SessionConfig:
    """Session settings. Each ``with_*`` returns a new config.

    >>> SessionConfig().with_target_partitions(4).target_partitions
    4
    """

    __slots__ = ("_raw",)

    def __init__(self, config_options: dict[str, str] | None = None) -> None:
        self._raw = _internal.SessionConfig(config_options)

    @classmethod
    def _wrap(cls, raw: _internal.SessionConfig) -> SessionConfig:
        config = cls.__new__(cls)
        config._raw = raw
        return config

    def with_target_partitions(self, target_partitions: int) -> SessionConfig:
        """How many partitions queries are split into."""
        return self._wrap(self._raw.with_target_partitions(target_partitions))

    def with_batch_size(self, batch_size: int) -> SessionConfig:
        """Rows per record batch during execution."""
        return self._wrap(self._raw.with_batch_size(batch_size))

    def with_information_schema(self, enabled: bool = True) -> SessionConfig:
        """Whether ``information_schema`` tables are available to SQL."""
        return self._wrap(self._raw.with_information_schema(enabled))

    def set(self, key: str, value: str) -> SessionConfig:
        """Sets any DataFusion option, such as ``datafusion.execution.batch_size``."""
        return self._wrap(self._raw.set(key, str(value)))

    @property
    def target_partitions(self) -> int:
        return int(self._raw.target_partitions)

    @property
    def batch_size(self) -> int:
        return int(self._raw.batch_size)

    def options(self) -> dict[str, str]:
        """Every option that has a value."""
        return dict(self._raw.options())


class SessionContext:
    """A session: registered tables and functions, configuration, and the
    entry point for SQL and data frames."""

    __slots__ = ("__weakref__", "_raw")

    _global: SessionContext | None = None

    def __init__(self, config: SessionConfig | None = None) -> None:
        self._raw = _internal.SessionContext(None if config is None else config._raw)

    @classmethod
    def _wrap(cls, raw: _internal.SessionContext) -> SessionContext:
        ctx = cls.__new__(cls)
        ctx._raw = raw
        return ctx

    @property
    def raw(self) -> _internal.SessionContext:
        """The underlying ``dfship._internal.SessionContext``."""
        return self._raw

    @classmethod
    def global_ctx(cls) -> SessionContext:
        """The process-wide session, created on first use. It backs the
        module-level :func:`dfship.read_parquet`, :func:`dfship.read_csv`
        and :func:`dfship.read_json`.

        >>> SessionContext.global_ctx() is SessionContext.global_ctx()
        True
        """
        if SessionContext._global is None:
            SessionContext._global = cls._wrap(_internal.SessionContext.global_ctx())
        return SessionContext._global

    # -- shipping settings -------------------------------------------------
    def with_python_udf_inlining(self, *, enabled: bool) -> SessionContext:
        """A new handle on the same session (same tables, functions and
        configuration) with inline Python UDFs on or off.

        Off, Python UDFs are encoded by name, and decoding refuses any inline
        Python UDF payload with :class:`~dfship.exceptions.InliningDisabledError`
        before its pickled code is looked at. This narrows what
        :meth:`Expr.from_bytes` accepts; ``pickle.loads`` of untrusted bytes
        stays unsafe whatever the setting (see the guide's security chapter).

        >>> ctx = SessionContext()
        >>> strict = ctx.with_python_udf_inlining(enabled=False)
        >>> ctx.python_udf_inlining, strict.python_udf_inlining
        (True, False)
        >>> strict.session_id == ctx.session_id
        True
        """
        return self._wrap(self._raw.with_python_udf_inlining(bool(enabled)))

    @property
    def python_udf_inlining(self) -> bool:
        """Whether this handle writes and accepts inline Python UDFs."""
        return bool(self._raw.python_udf_inlining)

    def with_wire_limits(
        self, *, max_depth: int | None = None, max_payload_bytes: int | None = None
    ) -> SessionContext:
        """A new handle on the same session with other limits on what it
        encodes and decodes: the deepest expression nesting and the largest
        payload. Anything over a limit is refused with a typed error."""
        return self._wrap(self._raw.with_wire_limits(max_depth, max_payload_bytes))

    @property
    def wire_limits(self) -> dict[str, int]:
        """``{"max_depth": ..., "max_payload_bytes": ...}`` of this handle."""
        depth, size = self._raw.wire_limits
        return {"max_depth": int(depth), "max_payload_bytes": int(size)}

    @property
    def session_id(self) -> str:
        return str(self._raw.session_id)

    def __repr__(self) -> str:
        return f"SessionContext(session_id={self.session_id!r})"

    # -- data in -----------------------------------------------------------
    def from_pydict(self, data: dict[str, list[Any]], name: str | None = None) -> DataFrame:
        """A data frame from a dict of columns.

        >>> SessionContext().from_pydict({"a": [1, None], "b": ["x", "y"]}).to_pylist()
        [{'a': 1, 'b': 'x'}, {'a': None, 'b': 'y'}]
        """
        return self.from_arrow(pa.Table.from_pydict(data), name)

    def from_pylist(self, data: list[dict[str, Any]], name: str | None = None) -> DataFrame:
        """A data frame from a list of rows (dicts)."""
        return self.from_arrow(pa.Table.from_pylist(data), name)

    def from_arrow(self, data: Any, name: str | None = None) -> DataFrame:
        """A data frame from anything exporting the Arrow PyCapsule interface
        (``__arrow_c_stream__`` or ``__arrow_c_array__``): pyarrow tables,
        record batches and readers, polars data frames, and more."""
        if hasattr(data, "__arrow_c_stream__"):
            return DataFrame(self._raw.read_arrow_stream(data, name))
        if hasattr(data, "__arrow_c_array__"):
            batch = pa.record_batch(data)
            return self.create_dataframe([[batch]], name=name, schema=batch.schema)
        raise TypeError(
            f"{type(data).__name__} does not export Arrow data "
            "(it has neither __arrow_c_stream__ nor __arrow_c_array__)"
        )

    def from_arrow_table(self, data: pa.Table, name: str | None = None) -> DataFrame:
        """A data frame from a pyarrow table (the older name of :meth:`from_arrow`)."""
        return self.from_arrow(data, name)

    def from_polars(self, data: Any, name: str | None = None) -> DataFrame:
        """A data frame from a Polars data frame.

        >>> import dfship, polars as pl
        >>> ctx = dfship.SessionContext()
        >>> ctx.from_polars(pl.DataFrame({"a": [1, 2]}), name="t").to_pydict()
        {'a': [1, 2]}
        >>> ctx.table("t").count()
        2
        """
        return self.from_arrow(data.to_arrow(), name)

    def from_pandas(self, data: Any, name: str | None = None) -> DataFrame:
        """A data frame from a pandas data frame (needs pandas)."""
        return self.from_arrow(pa.Table.from_pandas(data), name)

    def create_dataframe(
        self,
        partitions: list[list[pa.RecordBatch]],
        name: str | None = None,
        schema: pa.Schema | None = None,
    ) -> DataFrame:
        """A data frame over record batches, one inner list per partition.
        ``schema`` is needed only when there are no batches."""
        return DataFrame(self._raw.create_dataframe(partitions, name, schema))

    def register_record_batches(self, name: str, partitions: list[list[pa.RecordBatch]]) -> None:
        """Registers record batches (one inner list per partition) as table ``name``."""
        self._raw.register_record_batches(name, partitions)

    def register_parquet(
        self,
        name: str,
        path: PathLike,
        file_extension: str = ".parquet",
        parquet_pruning: bool = True,
        skip_metadata: bool = True,
        schema: pa.Schema | None = None,
    ) -> None:
        """Registers a Parquet file or directory as table ``name``."""
        self._raw.register_parquet(
            name, os.fspath(path), file_extension, parquet_pruning, skip_metadata, schema
        )

    def read_parquet(
        self,
        path: PathLike | Sequence[PathLike],
        file_extension: str = ".parquet",
        parquet_pruning: bool = True,
        skip_metadata: bool = True,
        schema: pa.Schema | None = None,
    ) -> DataFrame:
        """A data frame over Parquet files or directories."""
        return DataFrame(
            self._raw.read_parquet(
                _paths(path), file_extension, parquet_pruning, skip_metadata, schema
            )
        )

    def register_csv(
        self,
        name: str,
        path: PathLike | Sequence[PathLike],
        schema: pa.Schema | None = None,
        has_header: bool = True,
        delimiter: str = ",",
        schema_infer_max_records: int = 1000,
        file_extension: str = ".csv",
    ) -> None:
        """Registers CSV files as table ``name``."""
        self._raw.register_csv(
            name,
            _paths(path),
            schema,
            has_header,
            delimiter,
            schema_infer_max_records,
            file_extension,
        )

    def read_csv(
        self,
        path: PathLike | Sequence[PathLike],
        schema: pa.Schema | None = None,
        has_header: bool = True,
        delimiter: str = ",",
        schema_infer_max_records: int = 1000,
        file_extension: str = ".csv",
    ) -> DataFrame:
        """A data frame over CSV files."""
        return DataFrame(
            self._raw.read_csv(
                _paths(path),
                schema,
                has_header,
                delimiter,
                schema_infer_max_records,
                file_extension,
            )
        )

    def read_json(
        self,
        path: PathLike | Sequence[PathLike],
        schema: pa.Schema | None = None,
        schema_infer_max_records: int = 1000,
        file_extension: str = ".json",
    ) -> DataFrame:
        """A data frame over newline-delimited JSON files."""
        return DataFrame(
            self._raw.read_json(_paths(path), schema, schema_infer_max_records, file_extension)
        )

    # -- queries -----------------------------------------------------------
    def sql(self, query: str) -> DataFrame:
        """Plans a SQL statement. DDL (``CREATE TABLE ... AS``, ``CREATE VIEW``)
        runs at once; queries run when the data frame is collected."""
        return DataFrame(self._raw.sql(query))

    def table(self, name: str) -> DataFrame:
        """A data frame over registered table ``name``."""
        return DataFrame(self._raw.table(name))

    def table_exist(self, name: str) -> bool:
        return bool(self._raw.table_exist(name))

    def deregister_table(self, name: str) -> None:
        self._raw.deregister_table(name)

    # -- functions ---------------------------------------------------------
    def register_udf(self, udf: ScalarUDF) -> None:
        """Makes a scalar UDF callable by name from SQL (and resolvable by name
        when expressions arrive from elsewhere)."""
        self._raw.register_udf(udf._raw)

    def register_udaf(self, udaf: AggregateUDF) -> None:
        """Makes an aggregate UDF callable by name."""
        self._raw.register_udaf(udaf._raw)

    def register_udwf(self, udwf: WindowUDF) -> None:
        """Makes a window UDF callable by name."""
        self._raw.register_udwf(udwf._raw)

    def deregister_udf(self, name: str) -> None:
        """Forgets the scalar function ``name`` (no error if it is unknown).

        >>> import dfship
        >>> ctx = SessionContext()
        >>> same = dfship.udf(lambda a: a, [pa.int64()], pa.int64(), "immutable", name="same")
        >>> ctx.register_udf(same)
        >>> ctx.sql("SELECT same(1) AS x").to_pydict()
        {'x': [1]}
        >>> ctx.deregister_udf("same")
        >>> ctx.sql("SELECT same(1) AS x")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        dfship.exceptions.PlanError: Invalid function 'same'
        """
        self._raw.deregister_udf(name)

    def deregister_udaf(self, name: str) -> None:
        """Forgets the aggregate function ``name`` (no error if it is unknown)."""
        self._raw.deregister_udaf(name)

    def deregister_udwf(self, name: str) -> None:
        """Forgets the window function ``name`` (no error if it is unknown)."""
        self._raw.deregister_udwf(name)
