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
import re
import urllib.parse
import uuid
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from dfship import _internal
from dfship.catalog import Catalog, Table
from dfship.dataframe import DataFrame
from dfship.exceptions import PlanError, TableNotFoundError
from dfship.expr import Expr, SortKey, _raw, _sort_list
from dfship.options import CsvReadOptions
from dfship.plan import LogicalPlan
from dfship.record_batch import RecordBatchStream
from dfship.user_defined import AggregateUDF, ScalarUDF, TableFunction, WindowUDF

__all__ = ["RuntimeEnvBuilder", "SQLOptions", "SessionConfig", "SessionContext"]

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

    def _flag(self, key: str, enabled: bool) -> SessionConfig:
        return self.set(key, "true" if enabled else "false")

    def with_create_default_catalog_and_schema(self, enabled: bool = True) -> SessionConfig:
        """Whether the session starts with its default catalog and schema."""
        return self._flag("datafusion.catalog.create_default_catalog_and_schema", enabled)

    def with_default_catalog_and_schema(self, catalog: str, schema: str) -> SessionConfig:
        """The catalog and schema that unqualified table names refer to.

        >>> ctx = SessionContext(SessionConfig().with_default_catalog_and_schema("shop", "sales"))
        >>> ctx.catalog_names() >= {"shop"}, ctx.catalog("shop").schema_names()
        (True, {'sales'})
        """
        return self.set("datafusion.catalog.default_catalog", catalog).set(
            "datafusion.catalog.default_schema", schema
        )

    def with_repartition_aggregations(self, enabled: bool = True) -> SessionConfig:
        """Whether aggregations are spread over ``target_partitions``."""
        return self._flag("datafusion.optimizer.repartition_aggregations", enabled)

    def with_repartition_joins(self, enabled: bool = True) -> SessionConfig:
        """Whether joins are spread over ``target_partitions``."""
        return self._flag("datafusion.optimizer.repartition_joins", enabled)

    def with_repartition_windows(self, enabled: bool = True) -> SessionConfig:
        """Whether window functions are spread over ``target_partitions``."""
        return self._flag("datafusion.optimizer.repartition_windows", enabled)

    def with_repartition_sorts(self, enabled: bool = True) -> SessionConfig:
        """Whether sorts run per partition before a final merge."""
        return self._flag("datafusion.optimizer.repartition_sorts", enabled)

    def with_repartition_file_scans(self, enabled: bool = True) -> SessionConfig:
        """Whether file scans are split across partitions."""
        return self._flag("datafusion.optimizer.repartition_file_scans", enabled)

    def with_repartition_file_min_size(self, size: int) -> SessionConfig:
        """The smallest total file size (bytes) worth splitting a scan for."""
        return self.set("datafusion.optimizer.repartition_file_min_size", str(int(size)))

    def with_parquet_pruning(self, enabled: bool = True) -> SessionConfig:
        """Whether Parquet scans skip row groups by their statistics."""
        return self._flag("datafusion.execution.parquet.pruning", enabled)

    @property
    def target_partitions(self) -> int:
        return int(self._raw.target_partitions)

    @property
    def batch_size(self) -> int:
        return int(self._raw.batch_size)

    def options(self) -> dict[str, str]:
        """Every option that has a value."""
        return dict(self._raw.options())


class RuntimeEnvBuilder:
    """Where a session may spill to disk and how much memory its queries may
    hold. Each ``with_*`` returns a new builder; pass it to
    :class:`SessionContext`.

    >>> runtime = RuntimeEnvBuilder().with_fair_spill_pool(64 << 20).with_temp_file_path("/tmp")
    >>> SessionContext(runtime=runtime).sql("SELECT 1 AS x").to_pydict()
    {'x': [1]}
    """

    __slots__ = ("_raw",)

    def __init__(self) -> None:
        self._raw = _internal.RuntimeEnvBuilder()

    def _then(self, raw: _internal.RuntimeEnvBuilder) -> RuntimeEnvBuilder:
        new = RuntimeEnvBuilder.__new__(RuntimeEnvBuilder)
        new._raw = raw
        return new

    def with_disk_manager_disabled(self) -> RuntimeEnvBuilder:
        """No spilling: a query that needs to spill fails instead."""
        return self._then(self._raw.with_disk_manager_disabled())

    def with_disk_manager_os(self) -> RuntimeEnvBuilder:
        """Spill files go to the operating system's temporary directory (the default)."""
        return self._then(self._raw.with_disk_manager_os())

    def with_disk_manager_specified(self, *paths: str | os.PathLike[str]) -> RuntimeEnvBuilder:
        """Spill files go to these directories."""
        return self._then(self._raw.with_disk_manager_specified([os.fspath(p) for p in paths]))

    def with_temp_file_path(self, path: str | os.PathLike[str]) -> RuntimeEnvBuilder:
        """Spill files go to ``path``."""
        return self._then(self._raw.with_temp_file_path(os.fspath(path)))

    def with_unbounded_memory_pool(self) -> RuntimeEnvBuilder:
        """No memory limit (the default)."""
        return self._then(self._raw.with_unbounded_memory_pool())

    def with_fair_spill_pool(self, size: int) -> RuntimeEnvBuilder:
        """At most ``size`` bytes, shared fairly among the operators that can
        spill; they spill when over their share."""
        return self._then(self._raw.with_fair_spill_pool(size))

    def with_greedy_memory_pool(self, size: int) -> RuntimeEnvBuilder:
        """At most ``size`` bytes, first come first served."""
        return self._then(self._raw.with_greedy_memory_pool(size))

    def __repr__(self) -> str:
        return repr(self._raw)


class SQLOptions:
    """What :meth:`SessionContext.sql_with_options` lets a statement do; all
    allowed by default.

    >>> ctx = SessionContext()
    >>> ctx.sql_with_options("CREATE VIEW v AS SELECT 1", SQLOptions().with_allow_ddl(False))
    ... # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    dfship.exceptions.PlanError: DDL not supported: CreateView
    """

    __slots__ = ("allow_ddl", "allow_dml", "allow_statements")

    def __init__(self) -> None:
        self.allow_ddl = True
        self.allow_dml = True
        self.allow_statements = True

    def _with(self, field: str, allow: bool) -> SQLOptions:
        new = SQLOptions()
        new.allow_ddl, new.allow_dml, new.allow_statements = (
            self.allow_ddl,
            self.allow_dml,
            self.allow_statements,
        )
        setattr(new, field, bool(allow))
        return new

    def with_allow_ddl(self, allow: bool = True) -> SQLOptions:
        """``CREATE``/``DROP`` of tables, views, schemas and catalogs."""
        return self._with("allow_ddl", allow)

    def with_allow_dml(self, allow: bool = True) -> SQLOptions:
        """``INSERT``, ``UPDATE``, ``DELETE``, ``COPY``."""
        return self._with("allow_dml", allow)

    def with_allow_statements(self, allow: bool = True) -> SQLOptions:
        """``SET``, ``BEGIN``, prepared statements and other statements."""
        return self._with("allow_statements", allow)

    def _flags(self) -> tuple[bool, bool, bool]:
        return (self.allow_ddl, self.allow_dml, self.allow_statements)

    def __repr__(self) -> str:
        return (
            f"SQLOptions(allow_ddl={self.allow_ddl}, allow_dml={self.allow_dml}, "
            f"allow_statements={self.allow_statements})"
        )


def _store_url(path: PathLike) -> tuple[str, str | None]:
    """The scheme and host an ``object_store`` argument is registered under
    for ``path``: ``s3://bucket/key`` gives ``("s3://", "bucket")``."""
    text = os.fspath(path)
    parsed = urllib.parse.urlparse(text)
    if not parsed.scheme or ("://" not in text and len(parsed.scheme) > 1):
        raise ValueError(
            f"Cannot determine object store URL for {text!r}: an object_store is given, "
            "so write the path as scheme://host/path (s3://bucket/key, file:///data/x.parquet)"
        )
    if parsed.scheme != "file" and not parsed.netloc:
        raise ValueError(
            f"{text!r} must include a host or bucket after {parsed.scheme}:// "
            "to register an object_store for it"
        )
    return f"{parsed.scheme}://", parsed.netloc or None


_PARTITION_TYPE_ALIASES = {"string": pa.string(), "int": pa.int32()}


def _partition_cols(
    cols: Sequence[tuple[str, str | pa.DataType]] | None,
) -> list[tuple[str, pa.DataType]]:
    out = []
    for name, typ in cols or []:
        if isinstance(typ, str):
            warnings.warn(
                f"partition column {name!r}: a type named by a string ({typ!r}) is "
                "deprecated; pass a pyarrow.DataType",
                DeprecationWarning,
                stacklevel=3,
            )
            typ = _PARTITION_TYPE_ALIASES.get(typ) or pa.type_for_alias(typ)
        out.append((name, typ))
    return out


def _csv_args(
    options: CsvReadOptions | None,
    schema: pa.Schema | None,
    has_header: bool,
    delimiter: str,
    schema_infer_max_records: int,
    file_extension: str,
    table_partition_cols: Sequence[tuple[str, str | pa.DataType]] | None,
    file_compression_type: str | None,
) -> tuple[Any, ...]:
    """The CSV reader's arguments, from ``options`` when given."""
    if options is None:
        return (
            schema,
            has_header,
            delimiter,
            schema_infer_max_records,
            file_extension,
            file_compression_type,
            [],
            _partition_cols(table_partition_cols),
            [],
        )
    if not isinstance(options, CsvReadOptions):
        raise TypeError(f"options must be a CsvReadOptions, not {type(options).__name__}")
    return (
        options.schema,
        options.has_header,
        options.delimiter,
        options.schema_infer_max_records,
        options.file_extension,
        options.file_compression_type or None,
        options._dialect(),
        _partition_cols(options.table_partition_cols),
        [_sort_list(list(keys)) for keys in options.file_sort_order],
    )


@runtime_checkable
class TableProviderExportable(Protocol):
    """What a table function may return besides a :class:`~dfship.Table`:
    an object exporting a table provider through DataFusion's FFI
    (``__datafusion_table_provider__``). dfship reads Arrow data, data
    frames and pyarrow datasets; FFI-exported providers are not loaded."""

    def __datafusion_table_provider__(self, session: Any) -> object: ...


class SessionContext:
    """A session: registered tables and functions, configuration, and the
    entry point for SQL and data frames."""

    # __dict__: instance attributes may be patched (unittest.mock) as on the
    # datafusion package's sessions.
    __slots__ = ("__dict__", "__weakref__", "_raw")

    _global: SessionContext | None = None

    def __init__(
        self, config: SessionConfig | None = None, runtime: RuntimeEnvBuilder | None = None
    ) -> None:
        self._raw = _internal.SessionContext(
            None if config is None else config._raw, None if runtime is None else runtime._raw
        )

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

    def with_payload_key(self, key: bytes, *, previous: Sequence[bytes] = ()) -> SessionContext:
        """A new handle on the same session that signs every payload it
        encodes with ``key`` (HMAC-SHA256 over the whole frame, tagged with
        the key's id) and, on decode, accepts only payloads signed with
        ``key`` or one of ``previous`` (keys being rotated out: accepted,
        never used to sign). Anything else, unsigned, signed with another
        key or altered by a single bit, is refused with
        :class:`~dfship.exceptions.SignatureError` before any of it is
        decoded or unpickled.

        Like every setting it follows the slots: a worker slot holding a
        keyed handle makes ``pickle.loads`` in that worker refuse unsigned
        payloads. ``DFSHIP_PAYLOAD_KEY`` gives the global session a key.

        >>> import dfship
        >>> signer = SessionContext().with_payload_key(b"k1")
        >>> receiver = SessionContext().with_payload_key(b"k2", previous=[b"k1"])
        >>> expr = dfship.col("a") + 1
        >>> dfship.Expr.from_bytes(expr.to_bytes(signer), receiver)
        Expr(a + Int64(1))
        >>> dfship.Expr.from_bytes(expr.to_bytes(), receiver)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        dfship.exceptions.SignatureError: payload is not signed: ...
        >>> signer.payload_key_id == receiver.previous_payload_key_ids[0]
        True
        """
        if isinstance(key, str) or any(isinstance(k, str) for k in previous):
            raise TypeError("payload keys are bytes (encode a text key, e.g. key.encode())")
        return self._wrap(self._raw.with_payload_key(bytes(key), [bytes(k) for k in previous]))

    @property
    def payload_key_id(self) -> str | None:
        """The id (hex) of the key this handle signs with, or ``None``; the
        key itself is never shown."""
        key_id: str | None = self._raw.payload_key_id
        return key_id

    @property
    def previous_payload_key_ids(self) -> list[str]:
        """The ids of the previous keys this handle still accepts."""
        return list(self._raw.previous_payload_key_ids)

    @property
    def python_udf_inlining(self) -> bool:
        """Whether this handle writes and accepts inline Python UDFs."""
        return bool(self._raw.python_udf_inlining)

    def with_wire_limits(
        self,
        *,
        max_depth: int | None = None,
        max_payload_bytes: int | None = None,
        max_nodes: int | None = None,
        max_closure_bytes: int | None = None,
    ) -> SessionContext:
        """A new handle on the same session with other limits on what it
        encodes and decodes: the deepest expression nesting (default 2,000),
        the largest payload (256 MiB), the most expression nodes (1,000,000)
        and the largest pickled callable of an inline Python UDF (64 MiB).
        Anything over a limit is refused with a typed error naming it.

        >>> from dfship import col
        >>> small = SessionContext().with_wire_limits(max_nodes=3)
        >>> (col("a") + 1).to_bytes(small)[:4]
        b'DFSE'
        >>> (col("a") + 1 + 2).to_bytes(small)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        dfship.exceptions.PayloadTooLargeError: expression has 5 nodes, over the limit of 3 ...
        """
        return self._wrap(
            self._raw.with_wire_limits(max_depth, max_payload_bytes, max_nodes, max_closure_bytes)
        )

    @property
    def wire_limits(self) -> dict[str, int]:
        """This handle's limits: ``max_depth``, ``max_payload_bytes``,
        ``max_nodes`` and ``max_closure_bytes``."""
        depth, size, nodes, closure = self._raw.wire_limits
        return {
            "max_depth": int(depth),
            "max_payload_bytes": int(size),
            "max_nodes": int(nodes),
            "max_closure_bytes": int(closure),
        }

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
        table_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        parquet_pruning: bool = True,
        file_extension: str = ".parquet",
        skip_metadata: bool = True,
        schema: pa.Schema | None = None,
        file_sort_order: Sequence[Sequence[SortKey]] | None = None,
        object_store: Any | None = None,
    ) -> None:
        """Registers a Parquet file or directory as table ``name``
        (``table_partition_cols`` and ``file_sort_order`` as in
        :meth:`register_listing_table`). ``path`` may be a URL (``s3://...``);
        ``object_store``, if given, is registered for its scheme and host
        first."""
        self._with_store(path, object_store)
        self._raw.register_parquet(
            name,
            os.fspath(path),
            file_extension,
            parquet_pruning,
            skip_metadata,
            schema,
            _partition_cols(table_partition_cols),
            [_sort_list(keys) for keys in file_sort_order or []],
        )

    def read_parquet(
        self,
        path: PathLike | Sequence[PathLike],
        table_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        parquet_pruning: bool = True,
        file_extension: str = ".parquet",
        skip_metadata: bool = True,
        schema: pa.Schema | None = None,
        file_sort_order: Sequence[Sequence[SortKey]] | None = None,
        object_store: Any | None = None,
    ) -> DataFrame:
        """A data frame over Parquet files or directories (paths or URLs;
        ``object_store``, if given, is registered for them first).
        ``file_sort_order`` declares how each file is already sorted, which
        spares the query sorts."""
        self._with_store(path, object_store)
        return DataFrame(
            self._raw.read_parquet(
                _paths(path),
                file_extension,
                parquet_pruning,
                skip_metadata,
                schema,
                _partition_cols(table_partition_cols),
                [_sort_list(list(keys)) for keys in file_sort_order or []],
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
        file_compression_type: str | None = None,
        options: CsvReadOptions | None = None,
        object_store: Any | None = None,
    ) -> None:
        """Registers CSV files as table ``name``. ``file_compression_type`` is
        ``gzip``, ``bz2``, ``xz`` or ``zstd`` for compressed files. Paths may
        be URLs (``object_store``, if given, is registered for them first).
        ``options``, when given, holds every reading option and the keyword
        arguments are not used."""
        self._with_store(path, object_store)
        self._raw.register_csv(
            name,
            _paths(path),
            *_csv_args(
                options,
                schema,
                has_header,
                delimiter,
                schema_infer_max_records,
                file_extension,
                None,
                file_compression_type,
            ),
        )

    def read_csv(
        self,
        path: PathLike | Sequence[PathLike],
        schema: pa.Schema | None = None,
        has_header: bool = True,
        delimiter: str = ",",
        schema_infer_max_records: int = 1000,
        file_extension: str = ".csv",
        table_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        file_compression_type: str | None = None,
        options: CsvReadOptions | None = None,
        object_store: Any | None = None,
    ) -> DataFrame:
        """A data frame over CSV files. ``file_compression_type`` is ``gzip``,
        ``bz2``, ``xz`` or ``zstd`` for compressed files; ``object_store``, if
        given, is registered for the paths' URL first. ``options``, when
        given, holds every reading option and the keyword arguments are not
        used."""
        self._with_store(path, object_store)
        return DataFrame(
            self._raw.read_csv(
                _paths(path),
                *_csv_args(
                    options,
                    schema,
                    has_header,
                    delimiter,
                    schema_infer_max_records,
                    file_extension,
                    table_partition_cols,
                    file_compression_type,
                ),
            )
        )

    def read_json(
        self,
        path: PathLike | Sequence[PathLike],
        schema: pa.Schema | None = None,
        schema_infer_max_records: int = 1000,
        file_extension: str = ".json",
        table_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        file_compression_type: str | None = None,
        object_store: Any | None = None,
    ) -> DataFrame:
        """A data frame over newline-delimited JSON files (``object_store``,
        if given, is registered for the paths' URL first)."""
        self._with_store(path, object_store)
        return DataFrame(
            self._raw.read_json(
                _paths(path),
                schema,
                schema_infer_max_records,
                file_extension,
                _partition_cols(table_partition_cols),
                file_compression_type,
            )
        )

    def register_dataset(self, name: str, dataset: Any) -> None:
        """Registers a ``pyarrow.dataset.Dataset`` as table ``name``. Its
        batches are read into memory when it is registered (dfship does not
        scan a pyarrow dataset lazily)."""
        batches = list(dataset.to_batches())
        if not batches:
            batches = [pa.RecordBatch.from_pylist([], schema=dataset.schema)]
        self.register_record_batches(name, [batches])

    def table_provider(self, name: str) -> Table:
        """The registered table ``name`` (``KeyError`` if there is none)."""
        if not self.table_exist(name):
            raise TableNotFoundError(f"no table named {name!r}")
        return self.catalog().schema().table(name)

    def execute(self, plan: Any, partitions: int) -> RecordBatchStream:
        """Runs partition ``partitions`` of a physical plan: its batches as a stream."""
        stream: RecordBatchStream = plan.execute_partition(partitions, self)
        return stream

    # -- queries -----------------------------------------------------------
    def sql(
        self,
        query: str,
        options: SQLOptions | None = None,
        param_values: dict[str, Any] | None = None,
        **named_params: Any,
    ) -> DataFrame:
        """Plans a SQL statement. DDL (``CREATE TABLE ... AS``, ``CREATE VIEW``)
        runs at once; queries run when the data frame is collected.

        ``param_values`` binds ``$name`` placeholders to values after parsing
        (no quoting issues). ``named_params`` replaces ``$name`` in the text
        before parsing: a :class:`DataFrame` by the name of a temporary view
        of it, anything else by ``str(value)``. ``options`` limits what the
        statement may do (see :class:`SQLOptions`).

        >>> ctx = SessionContext()
        >>> df = ctx.from_pydict({"a": [1, 2, 3]})
        >>> ctx.sql("SELECT a FROM $t WHERE a > $low", param_values={"low": 1}, t=df).to_pydict()
        {'a': [2, 3]}
        """
        for name, value in named_params.items():
            if isinstance(value, DataFrame):
                view = f"view_{uuid.uuid4().hex}"
                self._raw.register_table(view, value._raw.into_view(True))
                text = view
            else:
                text = str(value)
            query = re.sub(rf"\${re.escape(name)}\b", text.replace("\\", "\\\\"), query)
        params = None if param_values is None else dict(param_values)
        return DataFrame(
            self._raw.sql(query, None if options is None else options._flags(), params)
        )

    def sql_with_options(
        self,
        query: str,
        options: SQLOptions,
        param_values: dict[str, Any] | None = None,
        **named_params: Any,
    ) -> DataFrame:
        """:meth:`sql`, refusing what ``options`` does not allow before
        anything runs."""
        return self.sql(query, options, param_values, **named_params)

    def table(self, name: str) -> DataFrame:
        """A data frame over registered table ``name``; a
        :class:`~dfship.exceptions.TableNotFoundError` (also a ``KeyError``)
        if there is none.

        >>> SessionContext().table("missing")
        Traceback (most recent call last):
        ...
        dfship.exceptions.TableNotFoundError: no table named 'missing'
        """
        try:
            return DataFrame(self._raw.table(name))
        except PlanError as e:
            if not self.table_exist(name):
                raise TableNotFoundError(f"no table named {name!r}") from e
            raise

    def table_exist(self, name: str) -> bool:
        return bool(self._raw.table_exist(name))

    def deregister_table(self, name: str) -> None:
        self._raw.deregister_table(name)

    def register_table(self, name: str, table: Table | DataFrame | Any) -> None:
        """Registers ``table`` under ``name``: a :class:`~dfship.catalog.Table`,
        a :class:`DataFrame` (as a view), or any Arrow data (``pyarrow.Table``,
        anything with ``__arrow_c_stream__``), loaded into memory.

        >>> ctx = SessionContext()
        >>> ctx.register_table("t", pa.table({"a": [1, 2]}))
        >>> ctx.sql("SELECT count(*) AS n FROM t").to_pydict()
        {'n': [2]}
        """
        if isinstance(table, Table):
            self._raw.register_table(name, table._raw)
        elif isinstance(table, DataFrame):
            self.register_view(name, table)
        elif hasattr(table, "__arrow_c_stream__") or isinstance(table, pa.RecordBatch):
            self.from_arrow(table, name)
        else:
            raise TypeError(
                "register_table takes a Table, a DataFrame or Arrow data, "
                f"not {type(table).__name__}"
            )

    def register_view(self, name: str, df: DataFrame) -> None:
        """Registers ``df`` as a view: queries on ``name`` run its plan."""
        self._raw.register_view(name, df._raw)

    def tables(self) -> set[str]:
        """Names of the tables in the default catalog and schema."""
        return set(self._raw.tables())

    def catalog_names(self) -> set[str]:
        return set(self._raw.catalog_names())

    def catalog(self, name: str = "datafusion") -> Catalog:
        """The catalog ``name`` (``KeyError`` if there is none)."""
        return Catalog(self._raw.catalog(name))

    def read_empty(self) -> DataFrame:
        """A frame of one row and no columns (what ``SELECT`` without ``FROM`` reads)."""
        return self.empty_table()

    def read_batch(self, batch: pa.RecordBatch) -> DataFrame:
        """A frame over one record batch."""
        return self.create_dataframe([[batch]])

    def read_batches(self, batches: Sequence[pa.RecordBatch]) -> DataFrame:
        """A frame over record batches, one partition."""
        return self.create_dataframe([list(batches)])

    def register_batch(self, name: str, batch: pa.RecordBatch) -> None:
        """Registers one record batch as table ``name``."""
        self.register_record_batches(name, [[batch]])

    def read_table(self, table: Table | DataFrame | Any) -> DataFrame:
        """A frame over a table object: a :class:`Table`, a DataFrame, or
        anything Arrow data (a ``pyarrow.dataset.Dataset``, a table)."""
        if isinstance(table, DataFrame):
            return table
        if isinstance(table, Table):
            # The frame's scan holds the table itself, not its name.
            name = f"__dfship_read_table_{uuid.uuid4().hex}"
            self.register_table(name, table)
            try:
                return self.table(name)
            finally:
                self.deregister_table(name)
        if hasattr(table, "to_table") and not isinstance(table, pa.Table):
            table = table.to_table()
        return self.from_arrow(table)

    def execute_logical_plan(self, plan: LogicalPlan) -> DataFrame:
        """A frame that runs ``plan`` in this session."""
        return DataFrame(self._raw.execute_logical_plan(plan._raw))

    create_dataframe_from_logical_plan = execute_logical_plan

    def parse_sql_expr(self, sql: str, schema: Any) -> Expr:
        """A SQL expression typed against ``schema`` (a
        :class:`~dfship.common.DFSchema` or a ``pyarrow.Schema``)."""
        qualifier = None
        if hasattr(schema, "arrow_schema"):
            qualifiers = {q for q in schema.qualifiers() if q is not None}
            qualifier = qualifiers.pop() if len(qualifiers) == 1 else None
            schema = schema.arrow_schema
        return Expr(self._raw.parse_sql_expr(sql, schema, qualifier))

    def session_start_time(self) -> str:
        """When the session started (RFC 3339)."""
        return str(self._raw.session_start_time())

    def remove_optimizer_rule(self, name: str) -> bool:
        """Removes logical optimizer rule ``name``; whether it was there."""
        return bool(self._raw.remove_optimizer_rule(name))

    def refresh_catalogs(self) -> None:
        """Lets catalogs that list their tables lazily refresh the list."""
        self._raw.refresh_catalogs()

    def enable_ident_normalization(self) -> bool:
        """Whether SQL identifiers are lower-cased unless quoted."""
        value = self._raw.config_value("datafusion.sql_parser.enable_ident_normalization")
        return value != "false"

    def _registered(self, kind: str, name: str, what: str) -> Callable[..., Expr]:
        # Checked now, so an unknown name fails here rather than at the call.
        if (
            name
            not in self._raw.registered_function_names()[
                ("scalar", "aggregate", "window").index(kind)
            ]
        ):
            raise KeyError(f"no {what} named {name!r} in this session")

        def call(*args: Any) -> Expr:
            return Expr(self._raw.call_registered(kind, name, [_raw(a) for a in args]))

        call.__name__ = call.__qualname__ = name
        return call

    def udf(self, name: str) -> Callable[..., Expr]:
        """The scalar function registered as ``name`` (a UDF or a built-in),
        as a callable that builds calls of it (``KeyError`` if none)."""
        return self._registered("scalar", name, "UDF")

    def udaf(self, name: str) -> Callable[..., Expr]:
        """The aggregate function registered as ``name``, as :meth:`udf` gives."""
        return self._registered("aggregate", name, "UDAF")

    def udwf(self, name: str) -> Callable[..., Expr]:
        """The window function registered as ``name``, as :meth:`udf` gives."""
        return self._registered("window", name, "UDWF")

    def udfs(self) -> set[str]:
        """The names of the registered scalar functions (built-ins included)."""
        return set(self._raw.registered_function_names()[0])

    def udafs(self) -> set[str]:
        """The names of the registered aggregate functions."""
        return set(self._raw.registered_function_names()[1])

    def udwfs(self) -> set[str]:
        """The names of the registered window functions."""
        return set(self._raw.registered_function_names()[2])

    def empty_table(self) -> DataFrame:
        """A data frame with one row and no columns (what ``SELECT``
        without ``FROM`` reads).

        >>> from dfship import lit
        >>> SessionContext().empty_table().select(lit(1).alias("one")).to_pydict()
        {'one': [1]}
        """
        return DataFrame(self._raw.empty_table())

    def register_json(
        self,
        name: str,
        path: PathLike,
        schema: pa.Schema | None = None,
        schema_infer_max_records: int = 1000,
        file_extension: str = ".json",
        table_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        file_compression_type: str | None = None,
        object_store: Any | None = None,
    ) -> None:
        """Registers newline-delimited JSON files (a file or a directory) as
        table ``name``. ``file_compression_type`` is ``gzip``, ``bz2``, ``xz``
        or ``zstd`` for compressed files. ``path`` may be a URL; ``object_store``,
        if given, is registered for it first."""
        self._with_store(path, object_store)
        self._raw.register_json(
            name,
            os.fspath(path),
            schema,
            schema_infer_max_records,
            file_extension,
            _partition_cols(table_partition_cols),
            file_compression_type,
        )

    def register_listing_table(
        self,
        name: str,
        path: PathLike,
        table_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        file_extension: str = ".parquet",
        schema: pa.Schema | None = None,
        file_sort_order: Sequence[Sequence[SortKey]] | None = None,
    ) -> None:
        """Registers a directory of Parquet files as table ``name``.
        Hive-style folders (``year=2024/``) become the columns named in
        ``table_partition_cols``; ``file_sort_order`` declares how each file
        is already sorted, so sorts on those keys can be skipped."""
        self._raw.register_listing_table(
            name,
            os.fspath(path),
            _partition_cols(table_partition_cols),
            file_extension,
            schema,
            [_sort_list(keys) for keys in file_sort_order or []],
        )

    # -- object stores -----------------------------------------------------
    def register_object_store(self, schema: str, store: Any, host: str | None = None) -> None:
        """Reads and writes URLs of ``schema`` (``"s3://"``) and ``host``
        (default: the store's bucket, container or server) with ``store``, a
        class of :mod:`dfship.object_store`. Without a registration, a URL
        whose scheme the process's environment configures (``AWS_*``, ...)
        gets a store built from it."""
        self._raw.register_object_store(schema, store, host)

    def deregister_object_store(self, schema: str, host: str | None = None) -> None:
        """Forgets the store registered for ``schema`` and ``host``."""
        self._raw.deregister_object_store(schema, host)

    def _with_store(self, path: PathLike | Sequence[PathLike], store: Any | None) -> None:
        if store is None:
            return
        seen = set()
        for one in _paths(path):
            key = _store_url(one)
            if key not in seen:
                seen.add(key)
                self.register_object_store(key[0], store, host=key[1])

    def _register_object_store_for_path(self, path: PathLike, store: Any) -> None:
        """Registers ``store`` for the scheme and host of URL ``path``."""
        self._with_store(path, store)

    def read_arrow(
        self,
        path: PathLike | Sequence[PathLike],
        schema: pa.Schema | None = None,
        file_extension: str = ".arrow",
        file_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        object_store: Any | None = None,
    ) -> DataFrame:
        """A frame over Arrow IPC files (``object_store``, if given, is
        registered for the paths' URL first)."""
        self._with_store(path, object_store)
        return DataFrame(
            self._raw.read_arrow(
                _paths(path), schema, file_extension, _partition_cols(file_partition_cols)
            )
        )

    def register_arrow(
        self,
        name: str,
        path: PathLike,
        schema: pa.Schema | None = None,
        file_extension: str = ".arrow",
        table_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        object_store: Any | None = None,
    ) -> None:
        """Registers Arrow IPC files as table ``name``."""
        self._with_store(path, object_store)
        self._raw.register_arrow(
            name, _paths(path)[0], schema, file_extension, _partition_cols(table_partition_cols)
        )

    def read_avro(
        self,
        path: PathLike | Sequence[PathLike],
        schema: pa.Schema | None = None,
        file_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        file_extension: str = ".avro",
        object_store: Any | None = None,
    ) -> DataFrame:
        """Avro is not built into dfship: registers ``object_store`` as the
        other readers do, then raises ``NotImplementedError``."""
        self._with_store(path, object_store)
        raise NotImplementedError(
            "dfship is built without DataFusion's Avro reader; convert the files to Parquet"
        )

    def register_avro(
        self,
        name: str,
        path: PathLike,
        schema: pa.Schema | None = None,
        file_extension: str = ".avro",
        table_partition_cols: list[tuple[str, str | pa.DataType]] | None = None,
        object_store: Any | None = None,
    ) -> None:
        """See :meth:`read_avro`: not available."""
        self.read_avro(path, object_store=object_store)

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

    def register_udtf(self, function: TableFunction) -> None:
        """Makes a table function (:func:`dfship.udtf`) callable by name in
        SQL's ``FROM``."""
        if not isinstance(function, TableFunction):
            raise TypeError(f"register_udtf takes a TableFunction, not {type(function).__name__}")
        func, with_session = function.func, function.with_session

        def call(raw_args: list[_internal.RawExpr], raw_session: Any) -> _internal.Table:
            args = [Expr(a) for a in raw_args]
            if with_session:
                made = func(*args, session=SessionContext._wrap(raw_session))
            else:
                made = func(*args)
            return (made if isinstance(made, Table) else Table(made))._raw

        self._raw.register_udtf(_internal.TableFunction(function.name, call, with_session))

    def deregister_udtf(self, name: str) -> None:
        """Forgets the table function ``name`` (no error if it is unknown)."""
        self._raw.deregister_udtf(name)

    def enable_spark_functions(self) -> None:
        """Makes SQL call the Spark-compatible functions of ``datafusion-spark``
        (see :mod:`dfship.functions.spark <dfship.spark_functions>`), in place of
        DataFusion's built-ins of the same names: after it, ``concat`` is NULL
        when an argument is, and Spark-only functions such as ``xxhash64``
        exist. Expressions built with ``functions.spark`` need no such call.

        >>> ctx = SessionContext()
        >>> ctx.sql("SELECT concat('a', NULL) AS c").to_pydict()
        {'c': ['a']}
        >>> ctx.enable_spark_functions()
        >>> ctx.sql("SELECT concat('a', NULL) AS c").to_pydict()
        {'c': [None]}
        """
        self._raw.enable_spark_functions()

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
