"""TPC-H on dfship: the 22 queries, checked against DuckDB, and eight of them
shipped as expressions to a ``multiprocessing`` pool.

The data comes from the ``dfship-tpch`` binary of the repository's ``tpch/``
crate (``dfship-tpch gen --sf 0.1 --out DIR --parts 8``): one folder of
parquet files per table. The query texts are the repository's
``tpch/queries/qNN.sql``, shared with that binary; set ``DFSHIP_TPCH_QUERIES``
to read them from elsewhere.

``python -m dfship_tpch check --data DIR`` compares every query with DuckDB;
``python -m dfship_tpch pool --data DIR --workers N --start spawn`` runs the
pool mode (see :mod:`dfship_tpch.pool`).
"""

from __future__ import annotations

import decimal
import os
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from dfship.context import SessionContext

__all__ = [
    "TABLES",
    "DatasetError",
    "compare",
    "context",
    "dataset",
    "is_url",
    "is_ordered",
    "query_text",
    "queries_dir",
    "register",
    "run_query",
    "run_statements",
    "statements",
]

TABLES = ("nation", "region", "part", "supplier", "partsupp", "customer", "orders", "lineitem")
MARKER = "tpch-dataset.txt"
# Tables the generator writes as one file whatever the part count.
SINGLE_PART_TABLES = ("nation", "region")


class DatasetError(ValueError):
    """A data directory or query file is missing or not what was expected."""


def queries_dir() -> Path:
    """Where the query texts are: ``$DFSHIP_TPCH_QUERIES``, else the
    repository's ``tpch/queries``, beside this package."""
    configured = os.environ.get("DFSHIP_TPCH_QUERIES")
    here = Path(configured) if configured else Path(__file__).resolve().parents[2] / "queries"
    if not (here / "q01.sql").is_file():
        raise DatasetError(
            f"no TPC-H query texts in {here}: run from a dfship checkout, or set "
            "DFSHIP_TPCH_QUERIES to the folder holding q01.sql … q22.sql"
        )
    return here


def query_text(n: int) -> str:
    """The text of TPC-H query ``n`` (1 to 22)."""
    if not 1 <= n <= 22:
        raise DatasetError(f"there is no TPC-H query {n}: they are numbered 1 to 22")
    return (queries_dir() / f"q{n:02d}.sql").read_text()


def statements(text: str) -> list[str]:
    """The statements of a query text; only Q15 has several (a view, the
    query, the view dropped)."""
    out = []
    for part in text.split(";"):
        code = [
            line for line in part.splitlines() if line.strip() and not line.strip().startswith("--")
        ]
        if code:
            out.append(part.strip())
    return out


def _is_ddl(statement: str) -> bool:
    code = "\n".join(line for line in statement.splitlines() if not line.strip().startswith("--"))
    return code.split(None, 1)[0].lower() in ("create", "drop")


def is_ordered(text: str) -> bool:
    """Whether the query's result order is specified (TPC-H puts ORDER BY
    only on the outermost select)."""
    return re.search(r"\border\s+by\b", text, re.IGNORECASE) is not None


def is_url(data: str | os.PathLike[str]) -> bool:
    """Whether ``data`` is an object store URL (``s3://bucket/prefix``)."""
    return "://" in os.fspath(data)


def _join(data: str | os.PathLike[str], *parts: str) -> str:
    if is_url(data):
        return "/".join([os.fspath(data).rstrip("/"), *parts])
    return str(Path(data).joinpath(*parts))


def _marker_text(data: str | os.PathLike[str]) -> str:
    if not is_url(data):
        return (Path(data) / MARKER).read_text()
    # Read through dfship, so the store is the one queries use (the
    # process's own configuration): one line per `key=value`.
    from dfship.exceptions import ObjectStoreNotFoundError

    try:
        table = (
            SessionContext()
            .read_csv(
                _join(data, MARKER),
                schema=pa.schema([("key", pa.string()), ("value", pa.string())]),
                has_header=False,
                delimiter="=",
                file_extension=".txt",
            )
            .to_arrow_table()
        )
    except ObjectStoreNotFoundError:
        raise FileNotFoundError(_join(data, MARKER)) from None
    if table.num_rows == 0:  # a URL that names nothing lists as empty
        raise FileNotFoundError(_join(data, MARKER))
    keys, values = table.column(0).to_pylist(), table.column(1).to_pylist()
    return "\n".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))


def dataset(data: str | os.PathLike[str]) -> tuple[float, int]:
    """The scale factor and parts per table recorded in a data directory or
    under an object store URL. The marker is written last, so a dataset
    whose writing was interrupted has none and is refused here."""
    try:
        text = _marker_text(data)
    except FileNotFoundError:
        raise DatasetError(
            f"{data} holds no TPC-H data ({MARKER} is missing): "
            "generate it with `dfship-tpch gen --sf SF --out DIR`"
        ) from None
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return float(fields["scale_factor"]), int(fields["parts"])


def table_files(data: str | os.PathLike[str], table: str) -> list[str]:
    """A table's parquet files, in part order. Under a URL they are named
    from the marker's part count, as the generator names them (a store is
    not listed; the tests hold this rule to the generator's output)."""
    if is_url(data):
        _, parts = dataset(data)
        count = 1 if table in SINGLE_PART_TABLES else parts
        return [_join(data, table, f"part-{i}.parquet") for i in range(1, count + 1)]
    folder = Path(data) / table
    files = sorted(folder.glob("part-*.parquet"), key=lambda p: int(p.stem.split("-")[1]))
    if not files:
        raise DatasetError(f"{folder} holds no parquet files")
    return [str(p) for p in files]


def register(ctx: SessionContext, data: str | os.PathLike[str]) -> None:
    """Registers the eight tables of a data directory (or URL) on ``ctx``."""
    dataset(data)
    for table in TABLES:
        ctx.register_parquet(table, _join(data, table) + ("/" if is_url(data) else ""))


def context(data: str | os.PathLike[str]) -> SessionContext:
    """A new session with the tables of ``data`` registered."""
    ctx = SessionContext()
    register(ctx, data)
    return ctx


def run_statements(
    n: int, execute: Callable[[str], None], fetch: Callable[[str], pa.Table]
) -> pa.Table:
    """Runs query ``n`` statement by statement on some engine: ``execute``
    runs a view's DDL, ``fetch`` the one statement that returns rows."""
    result = None
    for statement in statements(query_text(n)):
        if _is_ddl(statement):
            execute(statement)
        else:
            result = fetch(statement)
    assert result is not None, f"q{n:02d} has no row-returning statement"
    return result


def run_query(ctx: SessionContext, n: int) -> pa.Table:
    """Runs query ``n`` through dfship and returns its result."""

    def fetch(statement: str) -> pa.Table:
        return ctx.sql(statement).to_arrow_table()

    return run_statements(n, fetch, fetch)


def _scale(t: pa.DataType) -> int | None:
    return t.scale if pa.types.is_decimal(t) else None


def _tolerance(a: pa.DataType, b: pa.DataType) -> float:
    """How far two numbers of these types may be apart and still agree: one
    unit in the last place of the coarser decimal (engines round decimal
    averages and quotients differently), else a relative 1e-9 (float sums
    in another order)."""
    scales = [s for s in (_scale(a), _scale(b)) if s is not None]
    return 10.0 ** -min(scales) if scales else 0.0


def _normalise(value: object) -> object:
    # Decimals become floats, to meet the other engine's floats; integers
    # stay exact.
    return float(value) if isinstance(value, decimal.Decimal) else value


def _sort_key(row: tuple[object, ...]) -> tuple[tuple[int, object], ...]:
    # Near-equal floats from two engines must sort alike: compare them to
    # six significant digits; None sorts first.
    return tuple(
        (0, "") if v is None else (1, float(f"{v:.6g}")) if isinstance(v, float) else (1, v)
        for v in row
    )


def compare(got: pa.Table, want: pa.Table, *, ordered: bool) -> str | None:
    """``None`` when two results agree, else what differs first.

    Columns are matched by position (engines name unaliased aggregates
    differently); numbers by value within the tolerance of their types; rows
    in order when ``ordered``, as multisets otherwise.
    """
    if got.num_columns != want.num_columns:
        return f"{got.num_columns} columns, expected {want.num_columns}"
    if got.num_rows != want.num_rows:
        return f"{got.num_rows} rows, expected {want.num_rows}"
    tolerance = [_tolerance(g.type, w.type) for g, w in zip(got.schema, want.schema, strict=True)]

    def rows(table: pa.Table) -> list[tuple[object, ...]]:
        columns = [
            [_normalise(v) for v in table.column(i).to_pylist()] for i in range(table.num_columns)
        ]
        return list(zip(*columns, strict=True)) if columns else []

    got_rows, want_rows = rows(got), rows(want)
    if not ordered:
        got_rows.sort(key=_sort_key)
        want_rows.sort(key=_sort_key)
    for r, (g_row, w_row) in enumerate(zip(got_rows, want_rows, strict=True)):
        for i, (g, w) in enumerate(zip(g_row, w_row, strict=True)):
            if g == w:
                continue
            if isinstance(g, (int, float)) and isinstance(w, (int, float)):
                allowed = max(tolerance[i], 1e-9 * max(abs(g), abs(w)))
                if abs(g - w) <= allowed:
                    continue
            name = want.schema.field(i).name
            return f"row {r}, column {i} ({name}): {g!r}, expected {w!r}"
    return None
