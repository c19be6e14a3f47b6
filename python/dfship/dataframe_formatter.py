"""How a :class:`~dfship.DataFrame` shows itself in a notebook.

``DataFrame._repr_html_`` runs the query until it has enough rows to show
(between ``min_rows`` and ``max_rows``, fewer bytes than
``max_memory_bytes``) and renders them with the process-wide
:class:`DataFrameHtmlFormatter`, which :func:`configure_formatter` changes
and :func:`reset_formatter` restores:

>>> from dfship.dataframe_formatter import configure_formatter, get_formatter, reset_formatter
>>> configure_formatter(min_rows=2, max_rows=5, max_cell_length=40)
>>> (get_formatter().max_rows, get_formatter().max_cell_length)
(5, 40)
>>> reset_formatter()
>>> get_formatter().max_rows
10
"""

from __future__ import annotations

import html
import itertools
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pyarrow as pa

__all__ = [
    "CellFormatter",
    "DataFrameHtmlFormatter",
    "DefaultStyleProvider",
    "StyleProvider",
    "configure_formatter",
    "get_formatter",
    "reset_formatter",
    "set_formatter",
]

_table_ids = itertools.count(1)


class CellFormatter(Protocol):
    """Renders one cell value of a registered Python type as HTML."""

    def __call__(self, value: Any) -> str: ...


class StyleProvider(Protocol):
    """Inline CSS for header and body cells."""

    def get_cell_style(self) -> str: ...

    def get_header_style(self) -> str: ...


class DefaultStyleProvider:
    """Plain borders and padding, a shaded header."""

    def get_cell_style(self) -> str:
        return "border: 1px solid black; padding: 8px; text-align: left; white-space: nowrap;"

    def get_header_style(self) -> str:
        return (
            "border: 1px solid black; padding: 8px; text-align: left; "
            "background-color: #f2f2f2; white-space: nowrap; min-width: fit-content;"
        )


def _positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


def _boolean(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")


_CSS = """
.dfship-table { border-collapse: collapse; }
"""

_EXPANSION_CSS = """
.expandable-container { display: inline-block; max-width: 200px; }
.expandable { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; display: block; }
.full-text { display: none; white-space: normal; }
.expand-btn { cursor: pointer; color: blue; text-decoration: underline; border: none;
  background: none; font-size: inherit; display: block; margin-top: 5px; }
"""

_SCRIPT = """
function dfshipToggle(id) {
  var short = document.getElementById(id + "-short");
  var full = document.getElementById(id + "-full");
  var btn = document.getElementById(id + "-btn");
  var expanded = full.style.display === "inline";
  full.style.display = expanded ? "none" : "inline";
  short.style.display = expanded ? "inline" : "none";
  btn.textContent = expanded ? "...": "(less)";
}
"""


class DataFrameHtmlFormatter:
    """Renders record batches as an HTML table: long cells cut at
    ``max_cell_length`` (expandable with ``enable_cell_expansion``), the
    table scrolling inside ``max_width`` by ``max_height`` pixels, a note
    when rows were left out. Cells of a Python type registered with
    :meth:`register_formatter` render through that formatter; a custom cell
    or header builder replaces the whole ``<td>`` or ``<th>``.

    ``repr_rows`` is the former name of ``max_rows`` and warns.
    """

    def __init__(
        self,
        max_cell_length: int = 25,
        max_width: int = 1000,
        max_height: int = 300,
        max_memory_bytes: int = 2 * 1024 * 1024,
        min_rows: int = 10,
        max_rows: int | None = None,
        repr_rows: int | None = None,
        enable_cell_expansion: bool = True,
        custom_css: str | None = None,
        show_truncation_message: bool = True,
        style_provider: StyleProvider | None = None,
        use_shared_styles: bool = True,
    ) -> None:
        if repr_rows is not None:
            warnings.warn(
                "repr_rows parameter is deprecated: use max_rows",
                DeprecationWarning,
                stacklevel=2,
            )
            if max_rows is not None and max_rows != repr_rows:
                raise ValueError("Cannot specify both repr_rows and max_rows")
            max_rows = repr_rows
        if max_rows is None:
            max_rows = 10
        for name, value in (
            ("max_cell_length", max_cell_length),
            ("max_width", max_width),
            ("max_height", max_height),
            ("max_memory_bytes", max_memory_bytes),
            ("min_rows", min_rows),
            ("max_rows", max_rows),
        ):
            _positive(name, value)
        if min_rows > max_rows:
            raise ValueError("min_rows must be less than or equal to max_rows")
        for name, flag in (
            ("enable_cell_expansion", enable_cell_expansion),
            ("show_truncation_message", show_truncation_message),
            ("use_shared_styles", use_shared_styles),
        ):
            _boolean(name, flag)
        if custom_css is not None and not isinstance(custom_css, str):
            raise TypeError("custom_css must be a str")
        if style_provider is not None and not (
            callable(getattr(style_provider, "get_cell_style", None))
            and callable(getattr(style_provider, "get_header_style", None))
        ):
            raise TypeError("style_provider must have get_cell_style and get_header_style")
        self.max_cell_length = max_cell_length
        self.max_width = max_width
        self.max_height = max_height
        self.max_memory_bytes = max_memory_bytes
        self.min_rows = min_rows
        self._max_rows = max_rows
        self.enable_cell_expansion = enable_cell_expansion
        self.custom_css = custom_css
        self.show_truncation_message = show_truncation_message
        self.style_provider: StyleProvider = style_provider or DefaultStyleProvider()
        self.use_shared_styles = use_shared_styles
        self._type_formatters: dict[type, CellFormatter] = {}
        self._cell_builder: Callable[[Any, int, int, str], str] | None = None
        self._header_builder: Callable[[Any], str] | None = None

    @property
    def max_rows(self) -> int:
        """The most rows shown."""
        return self._max_rows

    @max_rows.setter
    def max_rows(self, value: int) -> None:
        _positive("max_rows", value)
        self._max_rows = value

    @property
    def repr_rows(self) -> int:
        """The former name of :attr:`max_rows`."""
        return self._max_rows

    @repr_rows.setter
    def repr_rows(self, value: int) -> None:
        warnings.warn("repr_rows is deprecated: use max_rows", DeprecationWarning, stacklevel=2)
        self.max_rows = value

    def register_formatter(self, type_class: type, formatter: CellFormatter) -> None:
        """Renders cells whose Python value is a ``type_class`` with ``formatter``."""
        self._type_formatters[type_class] = formatter

    def set_custom_cell_builder(self, builder: Callable[[Any, int, int, str], str]) -> None:
        """``builder(value, row, column, table_id)`` returns each whole ``<td>``."""
        self._cell_builder = builder

    def set_custom_header_builder(self, builder: Callable[[Any], str]) -> None:
        """``builder(field)`` returns each whole ``<th>``."""
        self._header_builder = builder

    # -- rendering -----------------------------------------------------------
    def format_html(
        self,
        batches: Sequence[pa.RecordBatch],
        schema: pa.Schema,
        has_more: bool = False,
        table_uuid: str | None = None,
    ) -> str:
        """The batches as an HTML table, with a note when ``has_more``."""
        table_id = table_uuid or f"dfship-table-{next(_table_ids)}"
        parts = [self._styles(), f'<div style="{self._container_style()}">']
        parts.append(f'<table class="dfship-table" id="{html.escape(table_id)}">')
        parts.append("<thead><tr>")
        parts.extend(self._header(field) for field in schema)
        parts.append("</tr></thead><tbody>")
        row_index = 0
        for batch in batches:
            columns = [batch.column(i) for i in range(batch.num_columns)]
            for r in range(batch.num_rows):
                parts.append("<tr>")
                for c, column in enumerate(columns):
                    parts.append(self._cell(column[r], row_index, c, table_id))
                parts.append("</tr>")
                row_index += 1
        parts.append("</tbody></table></div>")
        if has_more and self.show_truncation_message:
            parts.append("<div>Data truncated due to size.</div>")
        return "".join(parts)

    def format_str(
        self,
        batches: Sequence[pa.RecordBatch],
        schema: pa.Schema,
        has_more: bool = False,
        table_uuid: str | None = None,
    ) -> str:
        """The batches as a plain text table."""
        del table_uuid
        rows = [
            [_text(column[r]) for column in batch.columns]
            for batch in batches
            for r in range(batch.num_rows)
        ]
        names = list(schema.names)
        widths = [max([len(n)] + [len(row[i]) for row in rows]) for i, n in enumerate(names)]
        rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

        def line(cells: Sequence[str]) -> str:
            return "|" + "|".join(f" {v:<{w}} " for v, w in zip(cells, widths, strict=True)) + "|"

        out = [rule, line(names), rule, *(line(r) for r in rows), rule]
        if has_more:
            out.append("Data truncated.")
        return "\n".join(out)

    def _container_style(self) -> str:
        return (
            f"width: 100%; max-width: {self.max_width}px; max-height: {self.max_height}px; "
            "overflow: auto; border: 1px solid #ccc;"
        )

    def _styles(self) -> str:
        """CSS and the expand script, added once to the page's head (the
        ``df-styles`` element) by a script, so notebooks that refuse
        ``<style>`` in output still get them."""
        css = (
            _CSS + (_EXPANSION_CSS if self.enable_cell_expansion else "") + (self.custom_css or "")
        )
        install = (
            "(function(){"
            "var s=document.getElementById('df-styles');"
            "if(!s){s=document.createElement('style');s.id='df-styles';"
            "document.head.appendChild(s);}"
            f"s.textContent={_js_string(css)};"
            "})();"
        )
        if not self.use_shared_styles:
            install = install.replace("if(!s){", "if(true){")
        return f"<script>{install}{_SCRIPT}</script>"

    def _header(self, field: pa.Field) -> str:
        if self._header_builder is not None:
            return self._header_builder(field)
        style = self.style_provider.get_header_style()
        return f'<th style="{html.escape(style)}">{html.escape(field.name)}</th>'

    def _cell(self, scalar: pa.Scalar, row: int, column: int, table_id: str) -> str:
        value = scalar.as_py() if scalar.is_valid else None
        if self._cell_builder is not None:
            return self._cell_builder(value, row, column, table_id)
        style = html.escape(self.style_provider.get_cell_style())
        return f'<td style="{style}">{self._content(value, row, column, table_id)}</td>'

    def _content(self, value: Any, row: int, column: int, table_id: str) -> str:
        for type_class, formatter in self._type_formatters.items():
            if isinstance(value, type_class):
                return formatter(value)
        text = _text_of(value)
        if len(text) <= self.max_cell_length:
            return html.escape(text)
        short = html.escape(text[: self.max_cell_length])
        if not self.enable_cell_expansion:
            return short + "..."
        cell_id = f"{table_id}-{row}-{column}"
        return (
            f'<div class="expandable-container"><span class="expandable" id="{cell_id}-short">'
            f'{short}</span><span class="full-text" id="{cell_id}-full">{html.escape(text)}'
            f'</span><button class="expand-btn" id="{cell_id}-btn" '
            f"onclick=\"dfshipToggle('{cell_id}')\">...</button></div>"
        )


def _js_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("`", "\\`").replace("</", "<\\/")
    return f"`{escaped}`"


def _text_of(value: Any) -> str:
    return "" if value is None else str(value)


def _text(scalar: pa.Scalar) -> str:
    return _text_of(scalar.as_py() if scalar.is_valid else None)


_formatter = DataFrameHtmlFormatter()


def get_formatter() -> DataFrameHtmlFormatter:
    """The formatter every DataFrame renders with."""
    return _formatter


def set_formatter(formatter: DataFrameHtmlFormatter) -> None:
    """Makes ``formatter`` the one every DataFrame renders with."""
    global _formatter
    _formatter = formatter


def configure_formatter(**kwargs: Any) -> None:
    """Replaces the formatter with one made from ``kwargs``, the
    :class:`DataFrameHtmlFormatter` parameters."""
    valid = set(DataFrameHtmlFormatter.__init__.__code__.co_varnames[1:13])
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise ValueError(
            f"Invalid formatter parameters: {', '.join(unknown)}; "
            f"valid ones are {', '.join(sorted(valid))}"
        )
    set_formatter(DataFrameHtmlFormatter(**kwargs))


def reset_formatter() -> None:
    """Restores the default formatter."""
    set_formatter(DataFrameHtmlFormatter())
