"""The Python UDFs random queries call, one of each kind the codec treats
differently: self-contained functions (pickled by value), closures over a
small value and over a large lookup table (20,000 entries, so the payload
is large), functions pickled by reference (this module and the property
harness' ``harness_udfs`` must be importable where they run: workers get
both directories on ``PYTHONPATH``), two aggregate accumulators and a
window evaluator (``CountNonNull`` and ``RunningMax`` come from the property
harness).

Every UDF is deterministic and total on its inputs (nulls in, nulls out),
so any disagreement between engines is the engine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from harness_udfs import CountNonNull, RunningMax

import dfship
from dfship import SessionContext

#: Entries in the large closure's table.
LOOKUP_ENTRIES = 20_000


# -- by reference: module-level, pickled as (module, name) --------------------


def triple_plus_one(a: pa.Array) -> pa.Array:
    return pc.add(pc.multiply(a, 3), 1)


def tag_initial(s: pa.Array) -> pa.Array:
    return pc.utf8_slice_codeunits(s, 0, 1)


@dataclass(frozen=True)
class Udf:
    """One UDF as the generator sees it: its SQL name, family (scalar,
    aggregate, window), kind (how it is pickled), argument and result kinds
    (the generator's type names)."""

    name: str
    family: str
    kind: str
    args: tuple[str, ...]
    result: str


def _build() -> list[tuple[Udf, Any]]:
    # -- self-contained: no free variables, pickled by value ----------------
    def add_seven(a: pa.Array) -> pa.Array:
        return pc.add(a, 7)

    def halve(a: pa.Array) -> pa.Array:
        return pc.divide(a, 2.0)

    # -- closures over a small value ----------------------------------------
    offset = 11

    def shifted(a: pa.Array) -> pa.Array:
        return pc.subtract(a, offset)

    suffix = "!"

    def shout(s: pa.Array) -> pa.Array:
        return pc.binary_join_element_wise(pc.utf8_upper(s), suffix, "")

    # -- a closure over a large table ---------------------------------------
    names = {i: f"n{(i * 7919) % 1009}" for i in range(LOOKUP_ENTRIES)}

    def lookup(a: pa.Array) -> pa.Array:
        return pa.array([None if v is None else names.get(v) for v in a.to_pylist()], pa.string())

    # -- aggregates ---------------------------------------------------------
    scale = 2

    class ScaledSum(dfship.Accumulator):
        """Sum of ``scale * x`` (a closure: ``scale`` is free)."""

        def __init__(self) -> None:
            self.total: int | None = None

        def update(self, *values: pa.Array) -> None:
            s = pc.sum(values[0]).as_py()
            if s is not None:
                self.total = (self.total or 0) + scale * s

        def merge(self, states: list[pa.Array]) -> None:
            for v in states[0].to_pylist():
                if v is not None:
                    self.total = (self.total or 0) + v

        def state(self) -> list[pa.Scalar]:
            return [pa.scalar(self.total, pa.int64())]

        def evaluate(self) -> pa.Scalar:
            return pa.scalar(self.total, pa.int64())

    i64, f64, s = pa.int64(), pa.float64(), pa.string()
    return [
        (
            Udf("py_add_seven", "scalar", "self-contained", ("int",), "int"),
            dfship.udf(add_seven, [i64], i64, "immutable", name="py_add_seven"),
        ),
        (
            Udf("py_halve", "scalar", "self-contained", ("float",), "float"),
            dfship.udf(halve, [f64], f64, "immutable", name="py_halve"),
        ),
        (
            Udf("py_shifted", "scalar", "closure", ("int",), "int"),
            dfship.udf(shifted, [i64], i64, "immutable", name="py_shifted"),
        ),
        (
            Udf("py_shout", "scalar", "closure", ("str",), "str"),
            dfship.udf(shout, [s], s, "immutable", name="py_shout"),
        ),
        (
            Udf("py_lookup", "scalar", "large-closure", ("int",), "str"),
            dfship.udf(lookup, [i64], s, "immutable", name="py_lookup"),
        ),
        (
            Udf("py_triple_plus_one", "scalar", "reference", ("int",), "int"),
            dfship.udf(triple_plus_one, [i64], i64, "immutable", name="py_triple_plus_one"),
        ),
        (
            Udf("py_tag_initial", "scalar", "reference", ("str",), "str"),
            dfship.udf(tag_initial, [s], s, "immutable", name="py_tag_initial"),
        ),
        (
            Udf("py_count_nonnull", "aggregate", "reference", ("int",), "int"),
            dfship.udaf(CountNonNull, [i64], i64, [i64], "immutable", name="py_count_nonnull"),
        ),
        (
            Udf("py_scaled_sum", "aggregate", "closure", ("int",), "int"),
            dfship.udaf(ScaledSum, [i64], i64, [i64], "immutable", name="py_scaled_sum"),
        ),
        (
            Udf("py_running_max", "window", "reference", ("int",), "int"),
            dfship.udwf(RunningMax, [i64], i64, "immutable", name="py_running_max"),
        ),
    ]


UDFS = [u for u, _ in _build()]


def register(ctx: SessionContext) -> None:
    """Registers every UDF on ``ctx`` under its SQL name."""
    for u, made in _build():
        if u.family == "scalar":
            ctx.register_udf(made)
        elif u.family == "aggregate":
            ctx.register_udaf(made)
        else:
            ctx.register_udwf(made)
