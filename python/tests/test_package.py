"""The package surface: names mirrored from `datafusion`, stubs, typing."""

from __future__ import annotations

import pathlib

import dfship
from dfship import _internal


def test_public_names() -> None:
    for name in [
        "SessionContext",
        "DataFrame",
        "Expr",
        "col",
        "column",
        "lit",
        "literal",
        "udf",
        "udaf",
        "udwf",
        "Accumulator",
        "functions",
        "user_defined",
        "exceptions",
    ]:
        assert hasattr(dfship, name), name
    for name in [
        "Accumulator",
        "WindowEvaluator",
        "ScalarUDF",
        "AggregateUDF",
        "WindowUDF",
        "Volatility",
    ]:
        assert hasattr(dfship.user_defined, name), name
    assert set(dfship.__all__) <= set(dir(dfship))


def test_every_internal_export_is_wrapped() -> None:
    """Each name the extension module exports is used by the Python package."""
    package = pathlib.Path(dfship.__file__).parent
    sources = "\n".join(p.read_text() for p in package.glob("**/*.py"))
    exported = [n for n in dir(_internal) if not n.startswith("_")]
    assert exported
    for name in exported:
        assert f"_internal.{name}" in sources, f"_internal.{name} has no Python wrapper"


def test_typing_markers_ship() -> None:
    package = pathlib.Path(dfship.__file__).parent
    assert (package / "py.typed").exists()
    stub = (package / "_internal.pyi").read_text()
    for name in [n for n in dir(_internal) if not n.startswith("_")]:
        assert name in stub, f"{name} is missing from _internal.pyi"
