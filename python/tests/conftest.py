from __future__ import annotations

import pyarrow as pa
import pytest

import dfship


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
