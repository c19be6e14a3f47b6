"""The one-minute chaos run (`make chaos` runs it for ten): the 22 TPC-H
queries in a loop on three worker processes while workers are SIGKILLed,
SIGSTOPped and SIGTERMed and restarted. No wrong result, no hang, no
untyped error, no worker exiting other than as told."""

from __future__ import annotations

import os

from dfship_tpch.chaos import render, run_chaos

SECONDS = float(os.environ.get("DFSHIP_CHAOS_SECONDS", "60"))


def test_a_minute_of_chaos(tpch_data: str) -> None:
    report = run_chaos(
        tpch_data, workers=3, seconds=SECONDS, interval=3.0, seed=7, bytes_per_task=64 * 1024
    )
    text = render(report)
    print(text)
    assert report.ok, text
    assert sum(report.actions.values()) >= 5, text
    assert report.completed > 0, text
    # Workers were lost under running queries, and the retries saved them.
    assert any(int(n) > 1 for n in report.attempts), text
