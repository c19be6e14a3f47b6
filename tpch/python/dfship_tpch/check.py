"""The 22 queries through dfship and through DuckDB, on the same files.

DuckDB is an independent engine (its own parser, planner and decimal
arithmetic), so agreement is evidence about dfship's answers rather than
about DataFusion agreeing with itself. It is imported only when a check runs:
``pip install duckdb``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from dfship_tpch import (
    TABLES,
    DatasetError,
    compare,
    context,
    dataset,
    is_ordered,
    is_url,
    query_text,
    run_query,
    run_statements,
)


@dataclass(frozen=True)
class Checked:
    query: int
    rows: int
    dfship_seconds: float
    duckdb_seconds: float
    difference: str | None


def duckdb_connection(data: str | os.PathLike[str]) -> Any:
    """An in-memory DuckDB with a view per table over the same parquet files."""
    try:
        import duckdb
    except ImportError:
        raise ImportError("the TPC-H check compares with DuckDB: pip install duckdb") from None
    con = duckdb.connect()
    for table in TABLES:
        pattern = str(Path(data) / table / "*.parquet").replace("'", "''")
        con.execute(f"create view {table} as select * from read_parquet('{pattern}')")
    return con


def duckdb_query(con: Any, n: int) -> pa.Table:
    def fetch(statement: str) -> pa.Table:
        relation = con.sql(statement)
        arrow = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
        return arrow()

    return run_statements(n, con.execute, fetch)


def check(
    data: str | os.PathLike[str],
    queries: Iterable[int] = range(1, 23),
    report: Callable[[Checked], None] | None = None,
) -> list[Checked]:
    """Runs each query in both engines and compares the results."""
    if is_url(data):
        raise DatasetError(
            f"{data}: check compares with DuckDB, which reads local files here; copy the dataset "
            "locally, or run `pool` or `distributed`, which compare with dfship on one node"
        )
    dataset(data)
    ctx = context(data)
    con = duckdb_connection(data)
    out = []
    for n in queries:
        start = time.perf_counter()
        ours = run_query(ctx, n)
        middle = time.perf_counter()
        theirs = duckdb_query(con, n)
        end = time.perf_counter()
        done = Checked(
            n,
            ours.num_rows,
            middle - start,
            end - middle,
            compare(ours, theirs, ordered=is_ordered(query_text(n))),
        )
        if report is not None:
            report(done)
        out.append(done)
    return out
