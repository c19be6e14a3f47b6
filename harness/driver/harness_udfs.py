"""Module-level UDF bodies for the harness: functions that pickle travels by
reference (module and name), so a receiver must be able to import this module.
The driver puts this directory on ``sys.path``; spawn and forkserver children
inherit it."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

import dfship


def add_seven(a: pa.Array) -> pa.Array:
    return pc.add(a, 7)


def half(a: pa.Array) -> pa.Array:
    return pc.divide(a, 2.0)


class CountNonNull(dfship.Accumulator):
    """An accumulator counting non-null inputs (an importable class)."""

    def __init__(self) -> None:
        self.n = 0

    def update(self, *values: pa.Array) -> None:
        self.n += len(values[0]) - values[0].null_count

    def merge(self, states: list[pa.Array]) -> None:
        self.n += pc.sum(states[0]).as_py() or 0

    def state(self) -> list[pa.Scalar]:
        return [pa.scalar(self.n, pa.int64())]

    def evaluate(self) -> pa.Scalar:
        return pa.scalar(self.n, pa.int64())


class RunningMax(dfship.WindowEvaluator):
    """A window evaluator: the running maximum (nulls keep the previous)."""

    def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
        best, out = None, []
        for v in values[0].to_pylist():
            if v is not None and (best is None or v > best):
                best = v
            out.append(best)
        return pa.array(out, pa.int64())
