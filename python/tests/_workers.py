"""Functions run inside worker processes by the multiprocessing tests.

They live in a module of their own (not in a test file) so that spawn and
forkserver children can import them by name.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import dfship
from dfship import col
from dfship import functions as f


def four_partition_aggregate() -> dict[str, list[Any]]:
    """A grouped aggregate over 4 partitions with 4 target partitions: it runs
    on the async runtime's worker threads, which is what hangs after a fork in
    a runtime that is not fork-aware."""
    config = dfship.SessionConfig().with_target_partitions(4)
    ctx = dfship.SessionContext(config)
    partitions = [
        [
            pa.record_batch(
                {
                    "k": pa.array([i % 3 for i in range(p, 400, 4)]),
                    "v": pa.array(list(range(p, 400, 4))),
                }
            )
        ]
        for p in range(4)
    ]
    df = ctx.create_dataframe(partitions)
    out = df.aggregate([col("k")], [f.sum(col("v")).alias("s"), f.count().alias("n")]).sort("k")
    return out.to_pydict()


def sql_on_global_session() -> list[Any]:
    return dfship.SessionContext.global_ctx().sql("SELECT 40 + 2 AS x").to_pydict()["x"]


def evaluate(expr: dfship.Expr, batch: list[Any]) -> list[Any]:
    """The user guide's worker function."""
    ctx = dfship.SessionContext()
    df = ctx.from_pydict({"a": batch})
    return df.with_column("result", expr).select("result").to_pydict()["result"]


def make_double() -> dfship.ScalarUDF:
    return dfship.udf(
        lambda arr: pa.array([(v.as_py() or 0) * 2 for v in arr]),
        [pa.int64()],
        pa.int64(),
        volatility="immutable",
        name="double",
    )


def add_udf_and_query() -> list[Any]:
    """A UDF made and run entirely inside the worker."""
    plus_one = dfship.udf(
        lambda a: pc.add(a, 1), [pa.int64()], pa.int64(), "immutable", name="plus_one"
    )
    ctx = dfship.SessionContext(dfship.SessionConfig().with_target_partitions(4))
    partitions = [
        [pa.record_batch({"a": pa.array([p * 10 + i for i in range(3)])})] for p in range(4)
    ]
    df = ctx.create_dataframe(partitions).select(plus_one(col("a")).alias("b")).sort("b")
    return df.to_pydict()["b"]


# -- shipping -------------------------------------------------------------------


def make_closure_udf(factor: int, offsets: dict[str, int]) -> dfship.ScalarUDF:
    """A UDF whose closure captures an int and a dict."""

    def scale(a: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else v * factor + offsets["bias"] for v in a.to_pylist()], pa.int64()
        )

    return dfship.udf(scale, [pa.int64()], pa.int64(), "immutable", name="scale")


class Summer(dfship.Accumulator):
    def __init__(self) -> None:
        self.total = 0

    def update(self, *values: pa.Array) -> None:
        self.total += pc.sum(values[0]).as_py() or 0

    def merge(self, states: list[pa.Array]) -> None:
        self.total += pc.sum(states[0]).as_py() or 0

    def state(self) -> list[pa.Scalar]:
        return [pa.scalar(self.total, pa.int64())]

    def evaluate(self) -> pa.Scalar:
        return pa.scalar(self.total, pa.int64())


class Running(dfship.WindowEvaluator):
    def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
        total, out = 0, []
        for v in values[0].to_pylist():
            total += v or 0
            out.append(total)
        return pa.array(out, pa.int64())


def make_udaf() -> dfship.AggregateUDF:
    return dfship.udaf(Summer, pa.int64(), pa.int64(), [pa.int64()], "immutable", name="summer")


def make_udwf() -> dfship.WindowUDF:
    return dfship.udwf(Running, [pa.int64()], pa.int64(), "immutable", name="running")


def aggregate_with(expr: dfship.Expr, values: list[int]) -> list[Any]:
    ctx = dfship.SessionContext(dfship.SessionConfig().with_target_partitions(4))
    parts = [
        [
            pa.record_batch(
                {
                    "g": pa.array([i % 2 for i in values[p::4]], pa.int64()),
                    "a": pa.array(values[p::4], pa.int64()),
                }
            )
        ]
        for p in range(4)
    ]
    df = ctx.create_dataframe(parts).aggregate([col("g")], [expr.alias("r")]).sort("g")
    return df.to_pydict()["r"]


def window_with(expr: dfship.Expr, values: list[int]) -> list[Any]:
    ctx = dfship.SessionContext()
    df = ctx.from_pydict({"i": list(range(len(values))), "a": values})
    out = df.select("i", expr.over(dfship.Window(order_by=[col("i")])).alias("r")).sort("i")
    return out.to_pydict()["r"]


def install_worker_slot(strict: bool, register: bool) -> None:
    """Pool initializer: a worker session, optionally strict, optionally with
    the test UDFs registered by name."""
    ctx = dfship.SessionContext()
    if register:
        ctx.register_udf(make_closure_udf(2, {"bias": 1}))
        ctx.register_udaf(make_udaf())
        ctx.register_udwf(make_udwf())
    if strict:
        ctx = ctx.with_python_udf_inlining(enabled=False)
    dfship.ipc.set_worker_ctx(ctx)


def load_and_eval(blob: bytes, batch: list[Any]) -> list[Any]:
    """Decodes with pickle (worker slot, else global) and evaluates."""
    import pickle

    return evaluate(pickle.loads(blob), batch)


def load_error(blob: bytes) -> tuple[str, str]:
    """Decodes with pickle; the error's type name and message."""
    import pickle

    try:
        pickle.loads(blob)
    except Exception as e:
        return type(e).__name__, str(e)
    return "", ""


def slot_state() -> tuple[bool, bool, bool | None]:
    """(worker slot set, sender slot set, worker slot's inlining)."""
    worker = dfship.ipc.get_worker_ctx()
    sender = dfship.ipc.get_sender_ctx()
    return (
        worker is not None,
        sender is not None,
        None if worker is None else worker.python_udf_inlining,
    )


def global_has_function(name: str) -> bool:
    """Whether the global session of this process has scalar function `name`."""
    scalar, _, _ = dfship.SessionContext.global_ctx().raw.registered_function_names()
    return name in scalar


# -- physical plans ---------------------------------------------------------------


def plan_query(ctx: dfship.SessionContext | None = None) -> dfship.DataFrame:
    """A query over two partitions with a closure UDF, a filter and an
    aggregate UDF: its physical plan has several nodes and Python inside."""
    ctx = ctx or dfship.SessionContext()
    batches = [
        [pa.record_batch({"k": pa.array([1, 2, 1]), "a": pa.array([1, 2, 3])})],
        [pa.record_batch({"k": pa.array([2, 2, 1]), "a": pa.array([4, 5, 6])})],
    ]
    scaled = make_closure_udf(2, {"bias": 1})(col("a")).alias("s")
    df = ctx.create_dataframe(batches).select(col("k"), scaled).filter(col("s") > 3)
    return df.aggregate([col("k")], [make_udaf()(col("s")).alias("total")]).sort(col("k"))


def rows(batches: list[pa.RecordBatch]) -> list[tuple[Any, ...]]:
    """The rows of some batches, sorted."""
    table = pa.Table.from_batches(batches) if batches else pa.table({})
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return sorted(zip(*columns, strict=True))


def run_plan(blob: bytes) -> list[tuple[Any, ...]]:
    """Unpickles a plan (worker slot, else global session) and runs it."""
    import pickle

    return rows(pickle.loads(blob).collect())


def run_plan_frame(blob: bytes) -> list[tuple[Any, ...]]:
    """Decodes plan bytes (worker slot, else global session) and runs them."""
    return rows(dfship.ExecutionPlan.from_bytes(blob).collect())


def install_keyed_worker_slot(key: bytes, previous: tuple[bytes, ...] = ()) -> None:
    """Pool initializer: a worker session that accepts only payloads signed
    with `key` (or `previous`)."""
    ctx = dfship.SessionContext().with_payload_key(key, previous=previous)
    dfship.ipc.set_worker_ctx(ctx)


def counted_load(blob: bytes, batch: list[Any]) -> tuple[str, list[Any], int]:
    """Decodes with pickle and evaluates: (error type or "", result, unpickler
    lookups beyond dfship's own loader)."""
    import pickle

    from _unpickles import Unpickles

    dfship.ipc.clear_decoded_udf_cache()
    error = ""
    with Unpickles() as probe:
        try:
            expr = pickle.loads(blob)
        except Exception as e:
            error = type(e).__name__
    if error:
        return error, [], probe_count(probe)
    return "", evaluate(expr, batch), probe_count(probe)


def probe_count(probe: Any) -> int:
    # The outer pickle's one lookup (dfship.expr._load) always happens.
    return int(getattr(probe, "count", 0)) - 1


def global_key_id() -> str | None:
    return dfship.SessionContext.global_ctx().payload_key_id


def halve_twice(rows: int = 200) -> list[Any]:
    """A Python UDF applied twice over four partitions, sorted: it parks and
    wakes runtime threads many times, which is what a fork-unsafe runtime
    needs to crash a forked child."""
    halve = dfship.udf(lambda a: pc.divide(a, 2.0), [pa.float64()], pa.float64(), "stable")
    ctx = dfship.SessionContext(dfship.SessionConfig().with_target_partitions(4))
    parts = [
        [
            pa.record_batch(
                {
                    "i": pa.array(range(p, rows, 4)),
                    "x": pa.array([float(v) for v in range(p, rows, 4)]),
                }
            )
        ]
        for p in range(4)
    ]
    df = ctx.create_dataframe(parts).select(col("i"), halve(halve(col("x"))).alias("q")).sort("i")
    return df.to_pydict()["q"]


def halve_twice_three_times(_: int) -> bool:
    return all(halve_twice() == [v / 4 for v in range(200)] for _ in range(3))


def warm_state() -> tuple[bool, bool, bool, int]:
    """(cloudpickle imported, colorsys imported, worker slot set, decoded-UDF
    cache size) in this worker."""
    import sys

    return (
        "cloudpickle" in sys.modules,
        "colorsys" in sys.modules,
        dfship.ipc.get_worker_ctx() is not None,
        dfship.ipc.decoded_udf_cache_size(),
    )


def init_strict_worker() -> None:
    """Pool initializer: a strict session (no inline UDFs), warmed."""
    ctx = dfship.SessionContext().with_python_udf_inlining(enabled=False)
    dfship.ipc.init_worker(ctx, imports=["colorsys"])
