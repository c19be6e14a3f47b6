"""Catalogs, schemas and tables of a session.

>>> import dfship
>>> ctx = dfship.SessionContext()
>>> ctx.register_view("v", ctx.from_pydict({"a": [1]}))
>>> sorted(ctx.catalog().schema().table_names())
['v']
>>> ctx.catalog().schema().table("v")
Table(kind=view)
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from dfship import _internal

__all__ = ["Catalog", "Schema", "Table"]


class Table:
    """Something a session can scan: a view (:meth:`dfship.DataFrame.into_view`),
    an in-memory table or files. Register it with
    :meth:`dfship.SessionContext.register_table`."""

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.Table | Any) -> None:
        """Wraps a table. A DataFrame (or its ``df``) becomes a view of it;
        Arrow data (a ``pyarrow.Table``, a ``RecordBatch``, anything with
        ``__arrow_c_stream__``) and a ``pyarrow.dataset.Dataset`` are read
        into an in-memory table.

        >>> import pyarrow as pa
        >>> Table(pa.table({"a": [1, 2]})).schema
        a: int64
        """
        inner = getattr(raw, "raw", raw)
        if isinstance(inner, _internal.DataFrame):
            raw = inner.into_view(False)
        elif isinstance(raw, _internal.Table):
            pass
        elif isinstance(raw, pa.RecordBatch) or hasattr(raw, "__arrow_c_stream__"):
            table = pa.table(raw)
            raw = _internal.Table.in_memory(table.schema, [table.to_batches()])
        elif hasattr(raw, "to_batches") and isinstance(getattr(raw, "schema", None), pa.Schema):
            # A pyarrow dataset: dfship does not scan one lazily.
            raw = _internal.Table.in_memory(raw.schema, [list(raw.to_batches())])
        else:
            raise TypeError(
                "a Table wraps a DataFrame, Arrow data or a pyarrow dataset, "
                f"not {type(raw).__name__}"
            )
        self._raw = raw

    @property
    def schema(self) -> pa.Schema:
        schema: pa.Schema = self._raw.schema
        return schema

    @property
    def kind(self) -> str:
        """``base``, ``view`` or ``temporary``."""
        return str(self._raw.kind)

    def __repr__(self) -> str:
        return f"Table(kind={self.kind})"


class Schema:
    """A named set of tables within a catalog."""

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.Schema) -> None:
        self._raw = raw

    def table_names(self) -> set[str]:
        return set(self._raw.table_names())

    def names(self) -> set[str]:
        """The same as :meth:`table_names`."""
        return self.table_names()

    def table(self, name: str) -> Table:
        """The table called ``name``; ``KeyError`` if there is none."""
        return Table(self._raw.table(name))

    def table_exist(self, name: str) -> bool:
        return bool(self._raw.table_exist(name))

    def register_table(self, name: str, table: Table) -> None:
        self._raw.register_table(name, table._raw)

    def deregister_table(self, name: str) -> None:
        self._raw.deregister_table(name)

    def __repr__(self) -> str:
        return repr(self._raw)


class Catalog:
    """A named set of schemas (DataFusion's default catalog is ``datafusion``,
    its default schema ``public``)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.Catalog) -> None:
        self._raw = raw

    def schema_names(self) -> set[str]:
        return set(self._raw.schema_names())

    def names(self) -> set[str]:
        """The same as :meth:`schema_names`."""
        return self.schema_names()

    def schema(self, name: str = "public") -> Schema:
        """The schema called ``name``; ``KeyError`` if there is none."""
        return Schema(self._raw.schema(name))

    def __repr__(self) -> str:
        return repr(self._raw)
