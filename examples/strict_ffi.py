"""Strict mode end to end: a receiver with Python UDF inlining disabled
accepts expressions whose UDFs are compiled code exported through
DataFusion's FFI (examples/ffi-udf, registered on the receiver by name),
and refuses an inline Python UDF without unpickling it.

    python examples/strict_ffi.py
(needs examples/ffi-udf built: `make ffi-example`)
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import sys

import dfship_ffi_example as native
import pyarrow as pa

import dfship
from dfship import col, exceptions, ipc


# ANCHOR: receiver
def init_strict_receiver() -> None:
    """The receiver: inlining off, the FFI UDFs registered by name."""
    ctx = dfship.SessionContext().with_python_udf_inlining(enabled=False)
    ctx.register_udf(dfship.udf(native.IsEven()))
    ctx.register_udaf(dfship.udaf(native.CountEven()))
    ipc.set_worker_ctx(ctx)


def receive(blob: bytes) -> object:
    unpickled: list[str] = []

    # An audit hook sees every global the unpickler looks up. Apart from
    # dfship's own loader (the outer pickle), strict mode must refuse inline
    # Python code before any of it is looked up.
    def audit(event: str, args: tuple[object, ...]) -> None:
        name = f"{args[0]}.{args[1]}" if event == "pickle.find_class" else ""
        if name and name != "dfship.expr._load":
            unpickled.append(name)

    sys.addaudithook(audit)
    try:
        expr = pickle.loads(blob)
    except exceptions.InliningDisabledError as refused:
        return f"refused ({refused.family} UDF {refused.udf!r}); classes unpickled: {unpickled}"
    df = dfship.SessionContext().from_pydict({"a": [1, 2, 3, 4]})
    return df.aggregate([], [expr.alias("r")]).to_pydict()["r"]


# ANCHOR_END: receiver


def main() -> None:
    # ANCHOR: senders
    compiled = dfship.udaf(native.CountEven())(col("a"))  # travels by name
    python_code = dfship.udaf(
        lambda: CountOdd(), pa.int64(), pa.int64(), [pa.int64()], "immutable", name="count_odd"
    )(col("a"))  # travels inline: its code is in the payload
    # ANCHOR_END: senders
    with mp.get_context("spawn").Pool(1, initializer=init_strict_receiver) as pool:
        accepted = pool.apply(receive, (pickle.dumps(compiled),))
        refused = pool.apply(receive, (pickle.dumps(python_code),))
    assert accepted == [2], accepted
    assert isinstance(refused, str) and refused.startswith("refused (aggregate UDF 'count_odd')")
    assert refused.endswith("classes unpickled: []"), refused
    print(f"strict receiver, FFI aggregate by name: count_even = {accepted}")
    print(f"strict receiver, inline Python aggregate: {refused}")


class CountOdd(dfship.Accumulator):
    def __init__(self) -> None:
        self.n = 0

    def update(self, values: pa.Array) -> None:
        self.n += sum(1 for v in values.to_pylist() if v is not None and v % 2)

    def merge(self, states: list[pa.Array]) -> None:
        self.n += sum(states[0].to_pylist())

    def state(self) -> list[pa.Scalar]:
        return [pa.scalar(self.n)]

    def evaluate(self) -> pa.Scalar:
        return pa.scalar(self.n)


if __name__ == "__main__":
    main()
