"""Every runnable example runs and succeeds."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def test_udf_families_run_and_agree_across_start_methods() -> None:
    env = {**os.environ, "DFSHIP_DEMO_ROWS": "20000"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "udf_families.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "geo_mean_amount" in done.stdout and "north" in done.stdout and "smoothed" in done.stdout
    for method in ("fork", "spawn", "forkserver"):
        assert f"{method} worker, expressions shipped by pickle: same result" in done.stdout
    assert "Shipped expressions (scalar, aggregate, window UDF), pickled:" in done.stdout
