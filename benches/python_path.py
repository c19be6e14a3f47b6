"""The Python path, side by side: dfship against the `datafusion` package
55.0.0 and Polars, in one process, interleaved round by round so machine
noise hits every library alike.

Measured: pickled size, `pickle.dumps`, and `pickle.loads` without a worker
slot, with one, and with one after the decoded-UDF cache is cleared (a miss:
the UDF is really unpickled again); for the five reference expressions, for
balanced expressions of 10 to 10,000 nodes, and for a UDF whose closure
captures 1 KB to 10 MB. Polars pickles its expressions and serializes them
with `Expr.meta.serialize`; its UDFs are `map_batches` closures.

Statistics, in criterion's manner: each round times a batch of calls and
gives one sample per library; a figure is the median of its samples with a
95% bootstrap confidence interval, and a ratio is the median of the
per-round ratios (paired: both libraries timed in the same round), also with
its interval. A figure whose interval is wider than 10% of it is marked
noisy.

Run by `make bench` (in the bench virtualenv, which holds all three
libraries): `python benches/python_path.py --out FILE.json`.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import pickle
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import cloudpickle
import datafusion
import datafusion.ipc
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

import dfship
import dfship.ipc

# -- the corpus, built the same way in either package ----------------------------

# The Python body of each UDF as last built, per package: the report gives
# cloudpickle's own time on it, the floor both packages stand on.
BODIES: dict[tuple[str, str], Any] = {}


def simple(lib: ModuleType) -> Any:
    return lib.col("a") + lib.lit(1)


def builtin27(lib: ModuleType) -> Any:
    """~27 nodes: case, upper, abs, between, in-list."""
    f, col, lit = lib.functions, lib.col, lib.lit
    return (
        f.when(col("a").between(lit(1), lit(10)), f.upper(col("s")))
        .when(f.in_list(f.abs(col("a") - lit(100)), [lit(1), lit(2), lit(3)]), lit("near"))
        .when(f.abs(col("a")) > lit(150), f.upper(f.concat(col("s"), lit("!"))))
        .otherwise(f.concat(col("s"), lit("?")))
    )


def scalar_udf(lib: ModuleType) -> Any:
    factor, offsets = 3, {"bias": 7}

    def scale(a: pa.Array) -> pa.Array:
        return pc.add(pc.multiply(a, factor), offsets["bias"])

    BODIES[lib.__name__, "scale"] = scale
    return lib.udf(scale, [pa.int64()], pa.int64(), "immutable", name="scale")(lib.col("a"))


def aggregate_udf(lib: ModuleType) -> Any:
    class Summer(lib.Accumulator):  # type: ignore[name-defined,misc]
        def __init__(self) -> None:
            self.total = 0

        def update(self, values: pa.Array) -> None:
            self.total += pc.sum(values).as_py() or 0

        def merge(self, states: list[pa.Array]) -> None:
            self.total += pc.sum(states[0]).as_py() or 0

        def state(self) -> list[pa.Scalar]:
            return [pa.scalar(self.total)]

        def evaluate(self) -> pa.Scalar:
            return pa.scalar(self.total)

    BODIES[lib.__name__, "summer"] = Summer
    return lib.udaf(Summer, pa.int64(), pa.int64(), [pa.int64()], "immutable", name="summer")(
        lib.col("a")
    )


def window_udf(lib: ModuleType) -> Any:
    class Running(lib.user_defined.WindowEvaluator):  # type: ignore[name-defined,misc]
        def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
            return pc.cumulative_sum(values[0])

    BODIES[lib.__name__, "running"] = Running
    return lib.udwf(Running, [pa.int64()], pa.int64(), "immutable", name="running")(lib.col("a"))


def balanced(lib: Any, nodes: int) -> Any:
    """About `nodes` nodes: a balanced tree of additions over a and literals."""
    col, lit = lib.col, lib.lit
    leaves = [col("a") if i % 2 == 0 else lit(i) for i in range(max(1, (nodes + 1) // 2))]
    while len(leaves) > 1:
        leaves = [
            leaves[i] + leaves[i + 1] if i + 1 < len(leaves) else leaves[i]
            for i in range(0, len(leaves), 2)
        ]
    return leaves[0]


def closure_udf(lib: Any, size: int) -> Any:
    """A scalar UDF whose closure captures `size` bytes."""
    blob = random.Random(size).randbytes(size)

    def checksum(a: pa.Array) -> pa.Array:
        return pc.add(a, len(blob))

    BODIES[lib.__name__, "checksum"] = checksum
    return lib.udf(checksum, [pa.int64()], pa.int64(), "immutable", name="checksum")(lib.col("a"))


def polars_udf(size: int = 0) -> Any:
    blob = random.Random(size).randbytes(size)

    def checksum(s: pl.Series) -> pl.Series:
        return s + len(blob)

    return pl.col("a").map_batches(checksum, return_dtype=pl.Int64)


REFERENCE: list[tuple[str, Callable[[Any], Any], bool, Callable[[], Any] | None]] = [
    ("col(a) + lit(1)", simple, False, lambda: pl.col("a") + 1),
    (
        "27-node built-in",
        builtin27,
        False,
        lambda: (
            pl.when(pl.col("a").is_between(1, 10))
            .then(pl.col("s").str.to_uppercase())
            .when((pl.col("a") - 100).abs().is_in([1, 2, 3]))
            .then(pl.lit("near"))
            .when(pl.col("a").abs() > 150)
            .then((pl.col("s") + "!").str.to_uppercase())
            .otherwise(pl.col("s") + "?")
        ),
    ),
    ("scalar UDF, closure", scalar_udf, True, polars_udf),
    ("aggregate UDF", aggregate_udf, True, None),
    ("window UDF", window_udf, True, None),
]
TREE_SIZES = (10, 100, 1_000, 10_000)
CLOSURE_SIZES = (1_000, 10_000, 100_000, 1_000_000, 10_000_000)


# -- timing and statistics ---------------------------------------------------------


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls * 1e6
    finally:
        gc.enable()


def interleaved(
    candidates: dict[str, Callable[[], object]], rounds: int, calls: int
) -> dict[str, list[float]]:
    """Per-round samples of each candidate, alternating their order."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for name in names:  # warm up
        per_call_us(candidates[name], max(1, calls // 10))
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(per_call_us(candidates[name], calls))
    return samples


def bootstrap(values: list[float], resamples: int = 2000) -> tuple[float, float, float]:
    """Median and its 95% bootstrap confidence interval."""
    rng = random.Random(0)
    medians = sorted(
        statistics.median(rng.choices(values, k=len(values))) for _ in range(resamples)
    )
    return (
        statistics.median(values),
        medians[int(0.025 * resamples)],
        medians[int(0.975 * resamples)],
    )


def figure(values: list[float]) -> dict[str, Any]:
    median, lo, hi = bootstrap(values)
    return {"median": median, "ci": [lo, hi], "noisy": (hi - lo) > 0.1 * median}


def compared(ours: list[float], ref: list[float]) -> dict[str, Any]:
    out = {"ours": figure(ours), "ref": figure(ref)}
    out["ratio"] = figure([o / r for o, r in zip(ours, ref, strict=True)])
    return out


def calls_for(sample_us: float, budget_us: float = 20_000) -> int:
    """Calls per round so that a round takes about 20 ms."""
    return max(1, min(2000, int(budget_us / max(sample_us, 0.1))))


def one_call_us(fn: Callable[[], object]) -> float:
    fn()
    return per_call_us(fn, 3)


# -- measurements ------------------------------------------------------------------


def clear_slots() -> None:
    dfship.ipc.clear_worker_ctx()
    datafusion.ipc.clear_worker_ctx()


def set_slots() -> None:
    dfship.ipc.set_worker_ctx(dfship.SessionContext())
    datafusion.ipc.set_worker_ctx(datafusion.SessionContext())


def cloudpickle_floor(body: Any, rounds: int) -> dict[str, Any]:
    """cloudpickle alone on a UDF's body: what any package pays to ship it."""
    blob = cloudpickle.dumps(body)
    calls = calls_for(one_call_us(lambda: cloudpickle.dumps(body)))
    s = interleaved(
        {"d": lambda: cloudpickle.dumps(body), "l": lambda: cloudpickle.loads(blob)}, rounds, calls
    )
    return {"size": len(blob), "dumps": figure(s["d"]), "loads": figure(s["l"])}


def pair(ours: Any, ref: Any, rounds: int, with_udf: bool) -> dict[str, Any]:
    """Size, dumps and loads (no slot, slot; with a UDF also a cache miss)."""
    ours_blob, ref_blob = pickle.dumps(ours), pickle.dumps(ref)
    row: dict[str, Any] = {"size": {"ours": len(ours_blob), "ref": len(ref_blob)}}
    row["size"]["ratio"] = len(ours_blob) / len(ref_blob)
    calls = calls_for(one_call_us(lambda: pickle.dumps(ref)))
    s = interleaved(
        {"o": lambda: pickle.dumps(ours), "r": lambda: pickle.dumps(ref)}, rounds, calls
    )
    row["dumps"] = compared(s["o"], s["r"])
    clear_slots()
    calls = calls_for(one_call_us(lambda: pickle.loads(ref_blob)))
    s = interleaved(
        {"o": lambda: pickle.loads(ours_blob), "r": lambda: pickle.loads(ref_blob)}, rounds, calls
    )
    row["loads_no_slot"] = compared(s["o"], s["r"])
    set_slots()
    s = interleaved(
        {"o": lambda: pickle.loads(ours_blob), "r": lambda: pickle.loads(ref_blob)}, rounds, calls
    )
    row["loads_slot"] = compared(s["o"], s["r"])
    if with_udf:

        def miss() -> object:
            dfship.ipc.clear_decoded_udf_cache()
            return pickle.loads(ours_blob)

        s = interleaved({"o": miss, "r": lambda: pickle.loads(ref_blob)}, rounds, calls)
        row["loads_slot_miss"] = compared(s["o"], s["r"])
    clear_slots()
    return row


def polars_row(expr: Any, rounds: int) -> dict[str, Any]:
    blob = pickle.dumps(expr)
    row: dict[str, Any] = {"size": len(blob)}
    calls = calls_for(one_call_us(lambda: pickle.dumps(expr)))
    s = interleaved(
        {"d": lambda: pickle.dumps(expr), "l": lambda: pickle.loads(blob)}, rounds, calls
    )
    row["dumps"], row["loads"] = figure(s["d"]), figure(s["l"])
    try:
        serialized = expr.meta.serialize()
    except Exception as e:  # Polars refuses to serialize Python UDFs this way
        row["serialize"] = f"refused: {type(e).__name__}"
    else:
        row["serialize_size"] = len(serialized)
        s = interleaved(
            {
                "s": lambda: expr.meta.serialize(),
                "d": lambda: pl.Expr.deserialize(io.BytesIO(serialized)),
            },
            rounds,
            calls,
        )
        row["serialize"], row["deserialize"] = figure(s["s"]), figure(s["d"])
    return row


def measure(rounds: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "versions": {
            "dfship": dfship.__version__,
            "datafusion": datafusion.__version__,
            "polars": pl.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "rounds": rounds,
        "reference": [],
        "trees": [],
        "closures": [],
    }
    for label, build, has_udf, polars_build in REFERENCE:
        print(f"  {label}", file=sys.stderr, flush=True)
        row = {
            "expr": label,
            "udf": has_udf,
            **pair(build(dfship), build(datafusion), rounds, has_udf),
        }
        if has_udf:
            body = next(b for (lib, _), b in reversed(BODIES.items()) if lib == "datafusion")
            row["cloudpickle"] = cloudpickle_floor(body, rounds)
        if polars_build is not None:
            row["polars"] = polars_row(polars_build(), rounds)
        out["reference"].append(row)
    for n in TREE_SIZES:
        print(f"  balanced tree of {n} nodes", file=sys.stderr, flush=True)
        row = {"nodes": n, **pair(balanced(dfship, n), balanced(datafusion, n), rounds, False)}
        row["polars"] = polars_row(balanced(pl, n), rounds)
        out["trees"].append(row)
    for size in CLOSURE_SIZES:
        print(f"  closure of {size} bytes", file=sys.stderr, flush=True)
        few = max(5, rounds // 3) if size >= 1_000_000 else rounds
        row = {
            "bytes": size,
            **pair(closure_udf(dfship, size), closure_udf(datafusion, size), few, True),
        }
        row["polars"] = polars_row(polars_udf(size), few)
        out["closures"].append(row)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--out", required=True, help="where to write the JSON results")
    args = parser.parse_args()
    results = measure(args.rounds)
    with open(args.out, "w") as fh:
        json.dump(results, fh, indent=1)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
