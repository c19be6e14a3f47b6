"""Shared descriptive types: null treatment, schemas.

>>> from dfship.common import DFSchema, NullTreatment
>>> DFSchema.empty().field_names()
[]
>>> NullTreatment.IGNORE_NULLS.name
'IGNORE_NULLS'
"""

from __future__ import annotations

import threading

import pyarrow as pa

from dfship.expr import NullTreatment, RexType

__all__ = ["DFSchema", "NullTreatment", "RexType", "SqlSchema"]


class DFSchema:
    """A schema that expressions are parsed and typed against
    (:meth:`SessionContext.parse_sql_expr`): Arrow fields, each optionally
    qualified by the table it belongs to."""

    __slots__ = ("_qualifiers", "_schema")

    def __init__(self, schema: pa.Schema | None = None, qualifier: str | None = None) -> None:
        self._schema = pa.schema([]) if schema is None else schema
        self._qualifiers = [qualifier] * len(self._schema)

    @staticmethod
    def empty() -> DFSchema:
        """A schema without fields: for expressions of literals only."""
        return DFSchema()

    @property
    def arrow_schema(self) -> pa.Schema:
        return self._schema

    def field_names(self) -> list[str]:
        return list(self._schema.names)

    def qualifiers(self) -> list[str | None]:
        return list(self._qualifiers)

    def __len__(self) -> int:
        return len(self._schema)

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}: {f.type}" for f in self._schema)
        return f"DFSchema({fields})"


class SqlSchema:
    """A named schema described for SQL tooling: its tables, views and
    functions. Safe to read and rename from several threads."""

    def __init__(self, name: str) -> None:
        self._lock = threading.Lock()
        self._name = name
        self._tables: list[object] = []
        self._views: list[object] = []
        self._functions: list[object] = []

    @property
    def name(self) -> str:
        with self._lock:
            return self._name

    @name.setter
    def name(self, value: str) -> None:
        with self._lock:
            self._name = value

    @property
    def tables(self) -> list[object]:
        with self._lock:
            return list(self._tables)

    @tables.setter
    def tables(self, value: list[object]) -> None:
        with self._lock:
            self._tables = list(value)

    @property
    def views(self) -> list[object]:
        with self._lock:
            return list(self._views)

    @views.setter
    def views(self, value: list[object]) -> None:
        with self._lock:
            self._views = list(value)

    @property
    def functions(self) -> list[object]:
        with self._lock:
            return list(self._functions)

    @functions.setter
    def functions(self, value: list[object]) -> None:
        with self._lock:
            self._functions = list(value)

    def __repr__(self) -> str:
        return f"SqlSchema({self.name!r})"
