"""Expressions with Python UDFs of every family (a closure
capturing a rate table, an Accumulator, a WindowEvaluator) are built once on
the driver, run locally on a multi-partition session, then shipped by pickle
to worker processes of every start method — nothing registered there — which
compute the same report on their own copy of the data.

Run it with `python examples/udf_families.py`.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import time

import pyarrow as pa
import pyarrow.compute as pc

import dfship
from dfship import (
    Accumulator,
    SessionConfig,
    SessionContext,
    Window,
    WindowEvaluator,
    col,
    lit,
    udaf,
    udf,
    udwf,
)
from dfship import functions as f

ROWS = int(os.environ.get("DFSHIP_DEMO_ROWS", "200000"))


def make_orders(ctx: SessionContext) -> dfship.DataFrame:
    """Synthetic orders in 4 partitions: region, customer, amount, quantity."""
    partitions = []
    for p in range(4):
        ids = pa.array(range(p, ROWS, 4), pa.int64())
        partitions.append(
            [
                pa.record_batch(
                    {
                        "order_id": ids,
                        "region": pc.choose(
                            pc.cast(pc.bit_wise_and(ids, 3), pa.int8()),
                            "north",
                            "south",
                            "east",
                            "west",
                        ),
                        "customer": pc.bit_wise_and(pc.multiply(ids, 7919), 1023),
                        "amount": pc.divide(
                            pc.cast(pc.bit_wise_and(pc.multiply(ids, 104729), 65535), pa.float64()),
                            100.0,
                        ),
                        "quantity": pc.add(pc.bit_wise_and(ids, 7), 1),
                    }
                )
            ]
        )
    return ctx.create_dataframe(partitions, name="orders")


def build_udfs(
    vat_rates: dict[str, float],
) -> tuple[dfship.ScalarUDF, dfship.AggregateUDF, dfship.WindowUDF]:
    # A scalar UDF whose closure captures a rate table.
    def with_vat(region: pa.Array, amount: pa.Array) -> pa.Array:
        rates = pa.array([vat_rates.get(r, 0.0) for r in region.to_pylist()], pa.float64())
        return pc.multiply(amount, pc.add(rates, 1.0))

    gross = udf(with_vat, [pa.string(), pa.float64()], pa.float64(), "immutable", name="with_vat")

    # An aggregate UDF: the geometric mean, with (log-sum, count) as state.
    class GeoMean(Accumulator):
        def __init__(self) -> None:
            self.log_sum, self.n = 0.0, 0

        def update(self, values: pa.Array) -> None:  # type: ignore[override]
            positive = pc.filter(values, pc.greater(values, 0))
            self.log_sum += pc.sum(pc.ln(positive)).as_py() or 0.0
            self.n += len(positive)

        def merge(self, states: list[pa.Array]) -> None:
            self.log_sum += pc.sum(states[0]).as_py() or 0.0
            self.n += pc.sum(states[1]).as_py() or 0

        def state(self) -> list[pa.Scalar]:
            return [pa.scalar(self.log_sum), pa.scalar(self.n, pa.int64())]

        def evaluate(self) -> pa.Scalar:
            import math

            return pa.scalar(math.exp(self.log_sum / self.n) if self.n else None, pa.float64())

    geomean = udaf(
        GeoMean, pa.float64(), pa.float64(), [pa.float64(), pa.int64()], "immutable", name="geomean"
    )

    # A window UDF: an exponentially smoothed running value per partition.
    class Smooth(WindowEvaluator):
        def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
            out, level = [], None
            for v in values[0].to_pylist():
                level = v if level is None else 0.8 * level + 0.2 * v
                out.append(level)
            return pa.array(out, pa.float64())

    smooth = udwf(Smooth, [pa.float64()], pa.float64(), "immutable", name="smooth")
    return gross, geomean, smooth


def build_expressions() -> tuple[dfship.Expr, dfship.Expr, dfship.Expr]:
    """The three expressions the report needs, each holding one Python UDF."""
    gross, geomean, smooth = build_udfs({"north": 0.2, "south": 0.1, "east": 0.25, "west": 0.0})
    return (
        gross(col("region"), col("amount")),
        geomean(col("amount")),
        smooth(col("gross")).over(Window(partition_by=[col("region")], order_by=[col("order_id")])),
    )


def report(
    ctx: SessionContext,
    exprs: tuple[dfship.Expr, dfship.Expr, dfship.Expr],
    show_trend: bool = True,
) -> dfship.DataFrame:
    gross_expr, geomean_expr, smooth_expr = exprs
    orders = make_orders(ctx).with_column("gross", gross_expr)
    per_region = orders.aggregate(
        [col("region")],
        [
            f.count().alias("orders"),
            f.round(f.sum(col("gross")), 2).alias("gross_total"),
            f.round(geomean_expr, 4).alias("geo_mean_amount"),
        ],
    )
    trend = (
        orders.filter(col("customer") == lit(42))
        .select(
            "order_id",
            "region",
            f.round(smooth_expr, 2).alias("smoothed"),
        )
        .sort("region", "order_id")
    )
    if show_trend:
        print("Customer 42, smoothed gross per region (first rows):")
        trend.show(6)
    return per_region.sort("region")


def worker_report(exprs: tuple[dfship.Expr, dfship.Expr, dfship.Expr]) -> dict[str, list[object]]:
    """The same report inside a worker process, with the shipped expressions."""
    ctx = SessionContext(SessionConfig().with_target_partitions(4))
    return report(ctx, exprs, show_trend=False).to_pydict()


def main() -> None:
    print(f"dfship {dfship.__version__}\n")
    ctx = SessionContext(SessionConfig().with_target_partitions(4))
    exprs = build_expressions()
    sizes = ", ".join(f"{len(pickle.dumps(e))} B" for e in exprs)
    print(f"Shipped expressions (scalar, aggregate, window UDF), pickled: {sizes}\n")
    start = time.perf_counter()
    local = report(ctx, exprs)
    print(f"Per region ({ROWS:,} orders, 4 partitions):")
    local.show()
    expected = local.to_pydict()
    print(f"local run: {time.perf_counter() - start:.2f} s\n")

    for method in ("fork", "spawn", "forkserver"):
        start = time.perf_counter()
        with mp.get_context(method).Pool(processes=2) as pool:
            result = pool.apply_async(worker_report, (exprs,)).get(timeout=300)
        same = "same result" if result == expected else "DIFFERENT RESULT"
        elapsed = time.perf_counter() - start
        print(f"{method:>10} worker, expressions shipped by pickle: {same} in {elapsed:.2f} s")
        if result != expected:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
