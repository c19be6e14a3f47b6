"""Reading options passed as one object.

>>> from dfship.options import CsvReadOptions
>>> opts = CsvReadOptions(delimiter=";").with_has_header(False).with_comment("#")
>>> (opts.delimiter, opts.has_header, opts.comment)
(';', False, '#')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from dfship.expr import SortExpr

__all__ = ["DEFAULT_MAX_INFER_SCHEMA", "CsvReadOptions"]

#: Rows read to infer a schema when none is given.
DEFAULT_MAX_INFER_SCHEMA = 1000


def _one_char(name: str, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or len(value) != 1):
        raise ValueError(f"{name} must be a single character, not {value!r}")


class CsvReadOptions:
    """How CSV files are read, for :meth:`SessionContext.read_csv` and
    :meth:`SessionContext.register_csv` (``options=``). Each ``with_*``
    method sets one option and returns the same object, so calls chain."""

    def __init__(
        self,
        *,
        has_header: bool = True,
        delimiter: str = ",",
        quote: str = '"',
        terminator: str | None = None,
        escape: str | None = None,
        comment: str | None = None,
        newlines_in_values: bool = False,
        schema: pa.Schema | None = None,
        schema_infer_max_records: int = DEFAULT_MAX_INFER_SCHEMA,
        file_extension: str = ".csv",
        table_partition_cols: list[tuple[str, pa.DataType]] | None = None,
        file_compression_type: str = "",
        file_sort_order: list[list[SortExpr]] | None = None,
        null_regex: str | None = None,
        truncated_rows: bool = False,
    ) -> None:
        for name, value in (
            ("delimiter", delimiter),
            ("quote", quote),
            ("terminator", terminator),
            ("escape", escape),
            ("comment", comment),
        ):
            _one_char(name, value)
        self.has_header = has_header
        self.delimiter = delimiter
        self.quote = quote
        self.terminator = terminator
        self.escape = escape
        self.comment = comment
        self.newlines_in_values = newlines_in_values
        self.schema = schema
        self.schema_infer_max_records = schema_infer_max_records
        self.file_extension = file_extension
        self.table_partition_cols = table_partition_cols or []
        self.file_compression_type = file_compression_type
        self.file_sort_order = file_sort_order or []
        self.null_regex = null_regex
        self.truncated_rows = truncated_rows

    def _set(self, name: str, value: Any) -> CsvReadOptions:
        if name in ("delimiter", "quote", "terminator", "escape", "comment"):
            _one_char(name, value)
        setattr(self, name, value)
        return self

    def with_has_header(self, has_header: bool) -> CsvReadOptions:
        return self._set("has_header", has_header)

    def with_delimiter(self, delimiter: str) -> CsvReadOptions:
        return self._set("delimiter", delimiter)

    def with_quote(self, quote: str) -> CsvReadOptions:
        return self._set("quote", quote)

    def with_terminator(self, terminator: str | None) -> CsvReadOptions:
        return self._set("terminator", terminator)

    def with_escape(self, escape: str | None) -> CsvReadOptions:
        return self._set("escape", escape)

    def with_comment(self, comment: str | None) -> CsvReadOptions:
        return self._set("comment", comment)

    def with_newlines_in_values(self, newlines_in_values: bool) -> CsvReadOptions:
        return self._set("newlines_in_values", newlines_in_values)

    def with_schema(self, schema: pa.Schema | None) -> CsvReadOptions:
        return self._set("schema", schema)

    def with_schema_infer_max_records(self, schema_infer_max_records: int) -> CsvReadOptions:
        return self._set("schema_infer_max_records", schema_infer_max_records)

    def with_file_extension(self, file_extension: str) -> CsvReadOptions:
        return self._set("file_extension", file_extension)

    def with_table_partition_cols(
        self, table_partition_cols: list[tuple[str, pa.DataType]]
    ) -> CsvReadOptions:
        return self._set("table_partition_cols", list(table_partition_cols))

    def with_file_compression_type(self, file_compression_type: str) -> CsvReadOptions:
        return self._set("file_compression_type", file_compression_type)

    def with_file_sort_order(self, file_sort_order: list[list[SortExpr]]) -> CsvReadOptions:
        return self._set("file_sort_order", list(file_sort_order))

    def with_null_regex(self, null_regex: str | None) -> CsvReadOptions:
        return self._set("null_regex", null_regex)

    def with_truncated_rows(self, truncated_rows: bool) -> CsvReadOptions:
        return self._set("truncated_rows", truncated_rows)

    def _dialect(self) -> list[tuple[str, str]]:
        """The options the reader takes by name (see ``_internal.read_csv``)."""
        pairs = [
            ("quote", self.quote),
            ("newlines_in_values", str(self.newlines_in_values).lower()),
            ("truncated_rows", str(self.truncated_rows).lower()),
        ]
        for name in ("terminator", "escape", "comment", "null_regex"):
            value = getattr(self, name)
            if value is not None:
                pairs.append((name, value))
        return pairs

    def __repr__(self) -> str:
        return f"CsvReadOptions(delimiter={self.delimiter!r}, has_header={self.has_header})"
