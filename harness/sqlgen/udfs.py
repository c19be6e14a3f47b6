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
from sqlgen.data import ARROW_TYPES

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

    table: list[tuple[str, str, str, Any, str, str]] = [
        # name, family, kind, body, argument kind, result kind
        ("py_add_seven", "scalar", "self-contained", add_seven, "int", "int"),
        ("py_halve", "scalar", "self-contained", halve, "float", "float"),
        ("py_shifted", "scalar", "closure", shifted, "int", "int"),
        ("py_shout", "scalar", "closure", shout, "str", "str"),
        ("py_lookup", "scalar", "large-closure", lookup, "int", "str"),
        ("py_triple_plus_one", "scalar", "reference", triple_plus_one, "int", "int"),
        ("py_tag_initial", "scalar", "reference", tag_initial, "str", "str"),
        ("py_count_nonnull", "aggregate", "reference", CountNonNull, "int", "int"),
        ("py_scaled_sum", "aggregate", "closure", ScaledSum, "int", "int"),
        ("py_running_max", "window", "reference", RunningMax, "int", "int"),
    ]
    built: list[tuple[Udf, Any]] = []
    for name, family, kind, body, arg, result in table:
        made: Any
        a, r = ARROW_TYPES[arg], ARROW_TYPES[result]
        if family == "scalar":
            made = dfship.udf(body, [a], r, "immutable", name=name)
        elif family == "aggregate":
            # the state is one value of the result's type
            made = dfship.udaf(body, [a], r, [r], "immutable", name=name)
        else:
            made = dfship.udwf(body, [a], r, "immutable", name=name)
        built.append((Udf(name, family, kind, (arg,), result), made))
    return built


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
