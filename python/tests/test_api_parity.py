"""Every name dfship mirrors from the `datafusion` package exists with the
same parameters: same names, in the same order, of the same kind, with the
same simple defaults. The reference signatures were recorded from
datafusion 55.0.0 by `tools/datafusion_api.py` (datafusion is never a
dependency of dfship)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import pathlib
from typing import Any

import pytest

import dfship
from dfship import catalog, dataframe, expr, plan, record_batch

REFERENCE = json.loads((pathlib.Path(__file__).parent / "data" / "datafusion_api.json").read_text())

CLASSES: dict[str, type] = {
    "Expr": dfship.Expr,
    "ExprFuncBuilder": expr.ExprFuncBuilder,
    "WindowFrame": expr.WindowFrame,
    "WindowFrameBound": expr.WindowFrameBound,
    "DataFrame": dfship.DataFrame,
    "DataFrameWriteOptions": dataframe.DataFrameWriteOptions,
    "SessionContext": dfship.SessionContext,
    "SessionConfig": dfship.SessionConfig,
    "RuntimeEnvBuilder": dfship.RuntimeEnvBuilder,
    "SQLOptions": dfship.SQLOptions,
    "RecordBatchStream": record_batch.RecordBatchStream,
    "RecordBatch": record_batch.RecordBatch,
    "Catalog": catalog.Catalog,
    "Schema": catalog.Schema,
    "Table": catalog.Table,
    "LogicalPlan": plan.LogicalPlan,
}


def _load_recorder() -> Any:
    """The script that recorded the reference: its `describe` reads dfship's
    signatures the same way."""
    path = pathlib.Path(__file__).parents[2] / "tools" / "datafusion_api.py"
    spec = importlib.util.spec_from_file_location("datafusion_api", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


describe = _load_recorder().describe


def test_the_reference_is_datafusion_55() -> None:
    assert REFERENCE["datafusion"].startswith("55.")
    assert len(REFERENCE["names"]) > 150


@pytest.mark.parametrize("qualified", sorted(REFERENCE["names"]))
def test_same_signature(qualified: str) -> None:
    cls_name, method = qualified.split(".", 1)
    want = REFERENCE["names"][qualified]
    cls = CLASSES[cls_name]
    assert hasattr(cls, method), f"dfship has no {qualified}"
    raw = inspect.getattr_static(cls, method)
    if want["kind"] == "property":
        assert isinstance(raw, property), f"{qualified} should be a property"
        return
    got = describe(getattr(cls, method))["params"]
    assert [p["name"] for p in got] == [p["name"] for p in want["params"]], qualified
    assert [p["kind"] for p in got] == [p["kind"] for p in want["params"]], qualified
    for g, w in zip(got, want["params"], strict=True):
        if w["default"] not in (None, "<other>"):
            assert g["default"] == w["default"], f"{qualified}({g['name']}=...)"
