"""The engines a random query runs on: dfship single-node, dfship
distributed over real worker processes, and DuckDB.

Worker processes are started once per run (two pools of three: one without
a payload key, one whose workers hold one) and every case reuses them; the
distributed sessions use the first two or all three workers of a pool, with
a small ``bytes_per_task`` so that even these small tables split into
several tasks and the plans really form stages.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import pyarrow as pa

from dfship import SessionConfig, SessionContext
from dfship.distributed import DistributedContext, WorkerProcess, spawn_worker
from sqlgen import data, udfs

HARNESS_DIR = Path(__file__).resolve().parent.parent
PAYLOAD_KEY = b"sqlgen-payload-key"

#: Bytes of input files per task: the tables are a few KiB per file, so
#: each scan splits into several tasks.
BYTES_PER_TASK = 2048


@dataclass
class Failed:
    """An engine's error, kept as its type and first line."""

    error: str

    def __str__(self) -> str:
        return self.error


Outcome: TypeAlias = "pa.Table | Failed"


def describe(e: BaseException) -> str:
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {first}"[:400]


@dataclass
class Engine:
    name: str
    run: Callable[[str], pa.Table]
    plan: Callable[[str], str]

    def outcome(self, sql: str) -> Outcome:
        try:
            table: pa.Table = self.run(sql)
            return table
        except Exception as e:  # every engine error is an outcome to compare
            return Failed(describe(e))


def _table(batches: list[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    # the batches' own schema: nullability may differ from the plan's
    return pa.Table.from_batches(batches) if batches else schema.empty_table()


def _collect(ctx: SessionContext, sql: str) -> pa.Table:
    df = ctx.sql(sql)
    return _table(df.collect(), df.schema())


def _plans(ctx: SessionContext, sql: str) -> str:
    df = ctx.sql(sql)
    return (
        "logical (optimised):\n"
        + df.optimized_logical_plan().display_indent()
        + "\nphysical:\n"
        + df.execution_plan().display_indent()
    )


def dfship_engine(name: str, ctx: SessionContext, tables: dict[str, Path]) -> Engine:
    for table, path in tables.items():
        ctx.register_parquet(table, str(path) + "/")
    udfs.register(ctx)
    return Engine(name, lambda sql: _collect(ctx, sql), lambda sql: _plans(ctx, sql))


def duckdb_engine(tables: dict[str, Path]) -> Engine:
    import duckdb

    con = duckdb.connect()
    for table, path in tables.items():
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}/*.parquet')")

    def run(sql: str) -> pa.Table:
        return con.sql(sql).to_arrow_table()

    def plan(sql: str) -> str:
        return "\n".join(str(r[1]) for r in con.execute("EXPLAIN " + sql).fetchall())

    return Engine("duckdb", run, plan)


def planted(engine: Engine, bug: str, ctx: SessionContext) -> Engine:
    """``engine`` with a deliberate bug where the workers' partitions reach
    the coordinator, in queries whose distributed plan has the stage
    boundary the bug belongs to: ``drop-batch`` (plans with a shuffle) loses
    the last non-empty batch of a result that arrives in two batches or
    more, as a worker dropping one would; ``double-count`` (plans that merge
    several tasks) delivers the first of two or more batches twice, as a
    merge counting one input twice would."""
    boundary = {"drop-batch": "NetworkShuffleExec", "double-count": "NetworkCoalesceExec"}[bug]

    def run(sql: str) -> pa.Table:
        df = ctx.sql(sql)
        batches = [b for p in df.collect_partitioned() for b in p if b.num_rows]
        if boundary in df.execution_plan().display_indent() and len(batches) >= 2:
            batches = batches[:-1] if bug == "drop-batch" else [*batches, batches[0]]
        return _table(batches, df.schema())

    return Engine(engine.name + f"+{bug}", run, engine.plan)


class Lab:
    """The engines of a run: built once, reused by every case."""

    def __init__(self, root: Path, plant: str | None = None) -> None:
        self._stack = ExitStack()
        self.tables = data.write(root)
        path = [str(HARNESS_DIR), str(HARNESS_DIR / "driver"), os.environ.get("PYTHONPATH", "")]
        env = {"PYTHONPATH": os.pathsep.join(path)}
        keyed_env = {**env, "DFSHIP_PAYLOAD_KEY": PAYLOAD_KEY.decode()}
        self.workers: list[WorkerProcess] = []
        pools: dict[bool, list[str]] = {}
        for keyed in (False, True):
            pool = []
            for _ in range(3):
                w = self._stack.enter_context(spawn_worker(env=keyed_env if keyed else env))
                self.workers.append(w)
                pool.append(w.url)
            pools[keyed] = pool
        self.single = dfship_engine("single-node", SessionContext(), self.tables)
        # single-node without the logical optimizer, and with uncorrelated
        # scalar subqueries planned as joins (as distributed sessions do):
        # they tell a known DataFusion optimizer bug apart (FINDINGS.md)
        unoptimized = SessionConfig().set("datafusion.optimizer.max_passes", "0")
        self.single_unoptimized = dfship_engine(
            "single-node-unoptimized", SessionContext(unoptimized), self.tables
        )
        joined = SessionConfig().set(
            "datafusion.optimizer.enable_physical_uncorrelated_scalar_subquery", "false"
        )
        self.single_joined = dfship_engine(
            "single-node-subquery-join", SessionContext(joined), self.tables
        )
        self.distributed: dict[tuple[int, bool], Engine] = {}
        for keyed, urls in pools.items():
            for n in (2, 3):
                ctx = DistributedContext(
                    urls[:n],
                    bytes_per_task=BYTES_PER_TASK,
                    payload_key=PAYLOAD_KEY if keyed else None,
                    max_attempts=1,
                )
                name = f"distributed-{n}{'-keyed' if keyed else ''}"
                engine = dfship_engine(name, ctx, self.tables)
                if plant is not None:
                    engine = planted(engine, plant, ctx)
                self.distributed[(n, keyed)] = engine
        self.duckdb = duckdb_engine(self.tables)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
