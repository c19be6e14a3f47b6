"""TPC-H at SF 0.01: the 22 queries against DuckDB, and the pool mode against
single-node under every start method."""

from __future__ import annotations

import dataclasses
import decimal
import pickle
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

import dfship
from dfship import exceptions, ipc
from dfship_tpch import DatasetError, compare, context, run_query, statements
from dfship_tpch import pool as tpch_pool
from dfship_tpch.check import check

ROOT = Path(__file__).resolve().parents[2]


def test_the_22_queries_match_duckdb(tpch_data: str) -> None:
    results = check(tpch_data)
    assert [c.query for c in results] == list(range(1, 23))
    assert {c.query: c.difference for c in results if c.difference} == {}
    # Every query returns rows at this scale, so "matches" is never "both empty".
    assert all(c.rows > 0 for c in results)


def test_queries_are_shared_with_the_rust_crate() -> None:
    files = sorted((ROOT / "tpch" / "queries").glob("q*.sql"))
    assert [f.name for f in files] == [f"q{n:02d}.sql" for n in range(1, 23)]
    assert [len(statements(f.read_text())) for f in files] == [
        3 if n == 15 else 1 for n in range(1, 23)
    ]


def _table(values: list[object], type_: pa.DataType, key: list[int] | None = None) -> pa.Table:
    columns = {
        "k": pa.array(key or list(range(len(values))), pa.int64()),
        "v": pa.array(values, type_),
    }
    return pa.table(columns)


def test_compare_tells_what_differs() -> None:
    dec = pa.decimal128(19, 6)
    base = _table([decimal.Decimal("0.050144"), decimal.Decimal("2.5")], dec)
    # One unit in the last place of the coarser decimal is the same answer.
    assert compare(_table([0.0501445970, 2.5], pa.float64()), base, ordered=True) is None
    assert compare(_table([0.050146, 2.5], pa.float64()), base, ordered=True) == (
        "row 0, column 1 (v): 0.050146, expected 0.050144"
    )
    floats = _table([1e6, 3.0], pa.float64())
    assert compare(_table([1e6 * (1 + 1e-12), 3.0], pa.float64()), floats, ordered=True) is None
    assert compare(_table([1e6 * (1 + 1e-8), 3.0], pa.float64()), floats, ordered=True) is not None
    swapped = _table([3.0, 1e6], pa.float64(), key=[1, 0])
    assert compare(swapped, floats, ordered=False) is None
    assert compare(swapped, floats, ordered=True) == "row 0, column 0 (k): 1, expected 0"
    assert compare(floats.slice(0, 1), floats, ordered=False) == "1 rows, expected 2"
    assert compare(floats.select(["v"]), floats, ordered=False) == "1 columns, expected 2"
    strings = _table(["a", None], pa.string())
    assert compare(_table(["a", "b"], pa.string()), strings, ordered=False) is not None


@pytest.mark.slow
@pytest.mark.parametrize("start", ["fork", "spawn", "forkserver"])
def test_pool_mode_matches_single_node(tpch_data: str, start: str) -> None:
    outcomes = tpch_pool.run_pool(tpch_data, 2, start)
    assert [(o.query, o.variant) for o in outcomes] == [
        (q, v) for q in tpch_pool.QUERIES for v in tpch_pool.VARIANTS
    ]
    assert {(o.query, o.variant): o.difference for o in outcomes if o.difference} == {}
    for o in outcomes:
        assert o.tasks == 4  # one per lineitem file
        assert o.decode_seconds > 0 and o.task_seconds > o.decode_seconds
    by_key = {(o.query, o.variant): o for o in outcomes}
    for q in tpch_pool.QUERIES:
        # The UDF variant carries its Python code inline.
        assert by_key[q, "udf"].expression_bytes > by_key[q, "builtin"].expression_bytes + 1000


def _run_in_process(data: str, plan: tpch_pool.Plan) -> pa.Table:
    ctx = context(data)
    tasks = tpch_pool._tasks(ctx, data, plan)
    partials = [tpch_pool._from_ipc(tpch_pool.run_task(pickle.dumps(t))[0]) for t in tasks]
    return tpch_pool._merge(ctx, plan, partials)


@pytest.mark.parametrize("variant", tpch_pool.VARIANTS)
def test_a_wrong_plan_is_caught(tpch_data: str, variant: str) -> None:
    """The check is not vacuous: Q5 without its post-join filter (customer
    and supplier of the same nation) gives other revenues, and Q19 without
    its part predicate other sums."""
    for query in (5, 19):
        plan = tpch_pool.plan(query, variant)
        want = run_query(context(tpch_data), query)
        assert compare(_run_in_process(tpch_data, plan), want, ordered=True) is None
        broken = dataclasses.replace(plan, stage=dataclasses.replace(plan.stage, post_filter=None))
        assert compare(_run_in_process(tpch_data, broken), want, ordered=True) is not None


def test_udf_tasks_carry_code_a_strict_worker_refuses(tpch_data: str) -> None:
    ctx = context(tpch_data)
    udf_task, builtin_task = (
        pickle.dumps(tpch_pool._tasks(ctx, tpch_data, tpch_pool.plan(6, v))[0])
        for v in ("udf", "builtin")
    )
    ipc.set_worker_ctx(dfship.SessionContext().with_python_udf_inlining(enabled=False))
    try:
        with pytest.raises(exceptions.InliningDisabledError):
            pickle.loads(udf_task)
        assert isinstance(pickle.loads(builtin_task), tpch_pool.Task)
    finally:
        ipc.clear_worker_ctx()


def test_pool_refuses_unknown_queries_and_variants() -> None:
    with pytest.raises(
        ValueError, match="pool mode runs TPC-H queries 1, 3, 5, 6, 10, 12, 14, 19, not 2"
    ):
        tpch_pool.plan(2, "builtin")
    with pytest.raises(ValueError, match="the variants are builtin, udf, not 'numpy'"):
        tpch_pool.plan(1, "numpy")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dfship_tpch", *args], capture_output=True, text=True, timeout=600
    )


def test_the_command_line(tpch_data: str, tmp_path: Path) -> None:
    checked = _cli("check", "--data", tpch_data, "--query", "1", "--query", "15")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.splitlines()[-1] == "2 of 2 match DuckDB"
    pooled = _cli(
        "pool", "--data", tpch_data, "--workers", "2", "--start", "spawn", "--query", "14"
    )
    assert pooled.returncode == 0, pooled.stderr
    assert pooled.stdout.splitlines()[-1] == "2 of 2 match single-node"
    assert [line.split()[:3] for line in pooled.stdout.splitlines() if line.startswith("q14")] == [
        ["q14", "builtin", "match"],
        ["q14", "udf", "match"],
    ]
    missing = _cli("check", "--data", str(tmp_path))
    assert missing.returncode == 2
    assert "holds no TPC-H data (tpch-dataset.txt is missing)" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_missing_query_texts_are_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DFSHIP_TPCH_QUERIES", str(tmp_path))
    with pytest.raises(DatasetError, match="no TPC-H query texts in"):
        run_query(dfship.SessionContext(), 1)
