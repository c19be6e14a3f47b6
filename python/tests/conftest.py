from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

import dfship


def _global_functions() -> tuple[list[str], list[str], list[str]]:
    return dfship.SessionContext.global_ctx().raw.registered_function_names()  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _global_session_left_clean() -> Iterator[None]:
    """Fails a test that leaves functions registered on the process's global
    session: later tests (and forked workers) would see them."""
    before = _global_functions()
    yield
    after = _global_functions()
    leaked = [sorted(set(a) - set(b)) for a, b in zip(after, before, strict=True)]
    assert leaked == [[], [], []], f"left registered on the global session: {leaked}"


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tpch_data(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SF 0.01 in four parts: `make pytest` generates it once and passes
    DFSHIP_TPCH_DATA; otherwise it is generated here with the tpch crate."""
    given = os.environ.get("DFSHIP_TPCH_DATA")
    if given:
        return given
    out = tmp_path_factory.mktemp("tpch") / "sf0.01"
    command = ["cargo", "run", "--quiet", "-p", "dfship-tpch", "--"]
    command += ["gen", "--sf", "0.01", "--parts", "4", "--out", str(out)]
    subprocess.run(command, cwd=ROOT, check=True)
    return str(out)


@pytest.fixture
def ctx() -> dfship.SessionContext:
    return dfship.SessionContext()


@pytest.fixture
def people(ctx: dfship.SessionContext) -> dfship.DataFrame:
    return ctx.from_pydict(
        {
            "name": ["ann", "bob", "cid", "dee", None],
            "dept": ["eng", "eng", "ops", "ops", "eng"],
            "age": [31, 45, None, 28, 52],
            "salary": [100.0, 150.0, 80.0, None, 120.0],
        }
    )


def multi_partition_frame(
    ctx: dfship.SessionContext, parts: int = 4, rows: int = 100
) -> dfship.DataFrame:
    """`rows` rows of (k = i % 5, v = i) spread over `parts` partitions."""
    partitions = []
    for p in range(parts):
        ids = list(range(p, rows, parts))
        batch = pa.record_batch(
            {"k": pa.array([i % 5 for i in ids], pa.int64()), "v": pa.array(ids, pa.int64())}
        )
        partitions.append([batch])
    return ctx.create_dataframe(partitions)
