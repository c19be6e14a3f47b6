"""When two engines agree on a query.

Values follow the TPC-H check's rules (``dfship_tpch.compare``): columns by
position, numbers within the tolerance of their types, decimals meeting
floats by value. Rows compare as multisets, except under a ``LIMIT`` (the
generator then orders by every output column, so the rows are fixed up to
identical ones: compared in order). Wherever the query orders, each
engine's result must also be sorted by the ordering keys, direction and
null placement included.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence

import pyarrow as pa

from dfship_tpch import compare as compare_tables
from sqlgen.engines import Failed, Outcome
from sqlgen.generate import Query


def _value(v: object) -> object:
    return float(v) if isinstance(v, decimal.Decimal) else v


def _cmp(a: object, b: object, desc: bool, nulls_first: bool) -> int:
    if a is None or b is None:
        if a is None and b is None:
            return 0
        return (-1 if a is None else 1) * (1 if nulls_first else -1)
    if a == b:
        return 0
    less = a < b  # type: ignore[operator]
    return (-1 if less else 1) * (-1 if desc else 1)


def unsorted(table: pa.Table, order: Sequence[tuple[int, bool, bool]]) -> str | None:
    """Where ``table`` breaks the ordering, or None."""
    if not order:
        return None
    columns = {p: [_value(v) for v in table.column(p).to_pylist()] for p, _, _ in order}
    for r in range(1, table.num_rows):
        for p, desc, first in order:
            c = _cmp(columns[p][r - 1], columns[p][r], desc, first)
            if c < 0:
                break
            if c > 0:
                return f"rows {r - 1} and {r} out of order in column c{p}"
    return None


def disagreement(got: Outcome, want: Outcome, query: Query) -> str | None:
    """What is wrong with ``got`` as a result of ``query`` when ``want`` is
    right; None when they agree. Two errors agree (the query is invalid
    everywhere)."""
    if isinstance(want, Failed) and isinstance(got, Failed):
        return None
    if isinstance(got, Failed):
        return f"failed where the reference answered: {got}"
    if isinstance(want, Failed):
        return f"answered {got.num_rows} rows where the reference failed: {want}"
    problem = unsorted(got, query.order)
    if problem is not None:
        return problem
    return compare_tables(got, want, ordered=query.totally_ordered)
