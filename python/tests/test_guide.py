"""The guide's sources: every listing comes from a tested file, every error
type is explained, every public name is in the API reference. (`make
docs-check` builds the book and opens it in Chromium.)"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest

import dfship
from dfship import exceptions

ROOT = pathlib.Path(__file__).resolve().parents[2]
BOOK = ROOT / "docs-book" / "src"
PAGES = sorted(p for p in BOOK.rglob("*.md") if "generated" not in p.parts)
INCLUDE = re.compile(r"\{\{#include ([^}:]+)(?::([A-Za-z0-9_-]+))?\}\}")


def _book_pages() -> Any:
    spec = importlib.util.spec_from_file_location("book_pages", ROOT / "tools" / "book_pages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_page_is_in_the_summary() -> None:
    summary = (BOOK / "SUMMARY.md").read_text()
    linked = set(re.findall(r"\]\(([^)]+\.md)\)", summary))
    for page in PAGES:
        rel = page.relative_to(BOOK).as_posix()
        if rel != "SUMMARY.md":
            assert rel in linked, f"{rel} is not in SUMMARY.md"
    assert "generated/api.md" in linked


def test_listings_come_from_tested_files() -> None:
    """A fenced code block holds nothing but an include of a file that exists,
    at an anchor that exists in it."""
    tested = (ROOT / "python" / "tests" / "test_examples.py").read_text()
    for page in PAGES:
        text = page.read_text()
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
            assert INCLUDE.fullmatch(block.strip()), (
                f"{page.name}: a listing not from a file:\n{block}"
            )
        for target, anchor in INCLUDE.findall(text):
            path = (page.parent / target).resolve()
            if "generated" in path.parts:
                continue
            assert path.exists(), f"{page.name}: {target} does not exist"
            if anchor:
                source = path.read_text()
                assert f"ANCHOR: {anchor}\n" in source and f"ANCHOR_END: {anchor}\n" in source, (
                    f"{page.name}: no anchor {anchor!r} in {target}"
                )
            if path.suffix == ".py" and path.parent.name == "examples":
                assert f'"{path.name}"' in tested, f"{path.name} is not run by the tests"


def test_troubleshooting_explains_every_error() -> None:
    page = (BOOK / "troubleshooting.md").read_text()
    headings = set(re.findall(r"^## (\w+)$", page, flags=re.M))
    assert set(exceptions.__all__) <= headings, set(exceptions.__all__) - headings


def test_the_api_reference_names_every_public_name(tmp_path: pathlib.Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "book_pages.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "api.md" in done.stdout
    api = (tmp_path / "api.md").read_text()
    headings = set(re.findall(r"^### (\S+)$", api, flags=re.M))
    modules = _book_pages().MODULES
    assert "dfship.distributed" in modules
    # TPC-H is the project's benchmark tooling (tpch/python), not the package's API.
    assert not any(m.startswith("dfship_tpch") for m in modules)
    public = {
        name
        for module in modules
        for name in getattr(importlib.import_module(module), "__all__", [])
    }
    assert len(public) > 100
    for module in modules:
        for name in importlib.import_module(module).__all__:
            assert f"{module}.{name}" in headings, f"{module}.{name} is not in the API reference"
    # A class's public methods are listed under it.
    section = api.split("### dfship.dataframe.DataFrame\n", 1)[1].split("\n### ", 1)[0]
    for method in ("execute_stream", "write_parquet", "join_on", "to_polars"):
        assert f"**`{method}(" in section, method


def test_every_public_module_is_listed() -> None:
    package = pathlib.Path(dfship.__file__).parent
    public = {f"dfship.{p.stem}" for p in package.glob("*.py") if not p.stem.startswith("_")}
    public |= {f"dfship.{p.name}" for p in package.iterdir() if (p / "__init__.py").exists()}
    assert public - {"dfship.__init__"} <= set(_book_pages().MODULES) | {"dfship"}


def test_wire_format_page_is_the_spec() -> None:
    text = _book_pages().wire_format()
    spec = (ROOT / "crates" / "wire" / "src" / "lib.rs").read_text()
    assert "## Frame" in text and "| offset | size | field | meaning |" in text
    for magic in ("DFSE", "DFSX", "DFSP", "DFSs", "DFSa", "DFSw"):
        assert f"`{magic}`" in text and magic in spec
    assert "[`" not in text  # rustdoc links rendered as code


@pytest.mark.parametrize("page", ["introduction.md", "distributing.md", "inlining.md"])
def test_pages_about_receiving_link_to_security(page: str) -> None:
    assert "(security.md)" in (BOOK / page).read_text()
    assert "threat model" in (BOOK / "security.md").read_text()
