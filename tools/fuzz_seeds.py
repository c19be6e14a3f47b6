"""Writes the fuzz targets' seed corpus (fuzz/corpus/<target>/) from real
dfship payloads: expressions with built-in functions, aggregates, windows
and inline Python UDFs, and physical plans over in-memory data.

The decoding targets take one flag byte followed by a frame body (they
frame it themselves, so the fuzzer mutates what the decoder reads rather
than the checksum); the frame target takes whole frames; the signed target
takes both whole signed frames and bodies.

Usage: python tools/fuzz_seeds.py   (from the repository root, with dfship installed)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pyarrow as pa

import dfship
from dfship import Window, col, lit, udf
from dfship import functions as f

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python" / "tests"))
from _frames import split  # noqa: E402 - the tests' frame helpers

CORPUS = ROOT / "fuzz" / "corpus"
KEY = b"dfship fuzzing key"


def expressions() -> list[dfship.Expr]:
    plus = udf(lambda a: a, [pa.int64()], pa.int64(), "immutable", name="ident")
    by_a = Window(partition_by=[col("b")], order_by=[col("a")])
    return [
        col("a") + lit(1) * col("a") - lit(3),
        (col("a") > lit(2)) & col("b").is_null() | ~(col("a") == lit(7)),
        f.when(col("a") < lit(0), lit("neg"))
        .when(col("a") == lit(0), lit("zero"))
        .otherwise(lit("pos")),
        f.concat(col("b"), lit("-"), f.upper(col("b"))).alias("c"),
        f.sum(col("a")).alias("s"),
        f.count(col("a"), distinct=True),
        f.row_number().over(by_a),
        col("a").cast(pa.float64()).between(lit(1.5), lit(9.25)),
        f.in_list(col("b"), [lit("x"), lit("y")]),
        plus(col("a")),
        f.abs(f.abs(f.abs(col("a") - lit(10)))),
    ]


def plans(ctx: dfship.SessionContext) -> list[bytes]:
    ctx.from_pydict({"a": [1, 2, 3, None], "b": ["x", "y", None, "z"]}, name="t")
    queries = [
        "SELECT a + 1 AS x, upper(b) AS y FROM t WHERE a > 1",
        "SELECT b, sum(a) AS s, count(*) AS n FROM t GROUP BY b ORDER BY b",
        "SELECT a, row_number() OVER (ORDER BY a) AS r FROM t",
        "SELECT * FROM t AS l JOIN t AS r ON l.a = r.a LIMIT 2",
    ]
    return [ctx.sql(q).execution_plan().to_bytes(ctx) for q in queries]


def delimited(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field (lengths under 128 bytes)."""
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


def plan_request() -> bytes:
    """The start of a coordinator stream's first message, as a worker's
    request guard reads a task key from it: a `SetPlanRequest` whose
    `TaskKey` holds a query id, stage 3 and task 5."""
    task_key = delimited(1, bytes(range(16))) + bytes([2 << 3, 3, 3 << 3, 5])
    request = delimited(1, task_key) + bytes([2 << 3, 1]) + delimited(5, b"http://127.0.0.1:1")
    return delimited(1, request)


def write(target: str, seeds: list[bytes]) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        (folder / f"seed-{hashlib.sha256(seed).hexdigest()[:16]}").write_bytes(seed)


def main() -> int:
    ctx = dfship.SessionContext()
    signed = ctx.with_payload_key(KEY)
    exprs = [e.to_bytes(ctx) for e in expressions()]
    signed_exprs = [e.to_bytes(signed) for e in expressions()]
    plan_frames = plans(ctx)

    def bodies(frames: list[bytes]) -> list[bytes]:
        return [header[5:6] + body for header, body in map(split, frames)]

    write("frame", exprs + signed_exprs + plan_frames + [plan_request()])
    write("expr_strict", bodies(exprs))
    write("physical_strict", bodies(plan_frames))
    write("signed", signed_exprs + bodies(exprs))
    print(f"seeds written under {CORPUS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
