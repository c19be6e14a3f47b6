"""The build's own checks catch what they exist for."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "check_make_env.py"
TOOLS_LINE = "TOOLS_DIR ?= $(CURDIR)/.tools\n"


def run_check(makefile: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECK), "--makefile", str(makefile)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_makefile_plans_the_same_with_nothing_exported() -> None:
    done = run_check(ROOT / "Makefile")
    assert done.returncode == 0, done.stdout + done.stderr


def test_tools_dir_defined_below_its_first_use_is_caught(tmp_path: pathlib.Path) -> None:
    # The bug a fresh clone once hit: TOOLS_DIR defined after `CARGO_FUZZ := $(TOOLS_DIR)/...`,
    # so a plain `make fuzz` ran /bin/cargo-fuzz while CI, exporting TOOLS_DIR, passed.
    text = (ROOT / "Makefile").read_text()
    assert text.count(TOOLS_LINE) == 1
    moved = text.replace(TOOLS_LINE, "", 1).replace(
        "MDBOOK := $(TOOLS_DIR)", TOOLS_LINE + "MDBOOK := $(TOOLS_DIR)", 1
    )
    assert moved.index(TOOLS_LINE) > moved.index("CARGO_FUZZ := $(TOOLS_DIR)")
    (tmp_path / "Makefile").write_text(moved)
    done = run_check(tmp_path / "Makefile")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "TOOLS_DIR is expanded while undefined" in done.stdout
    assert "CARGO_FUZZ: /bin/cargo-fuzz lies outside the clone" in done.stdout


def test_shell_default_in_a_variable_is_caught(tmp_path: pathlib.Path) -> None:
    # A cache location read from the caller's environment only: empty for a newcomer.
    text = (ROOT / "Makefile").read_text()
    broken = text.replace(
        "FUZZ_TARGET_DIR ?= $(TARGET_DIR)/fuzz", "FUZZ_TARGET_DIR ?= $(CACHE_ROOT)/fuzz", 1
    )
    assert broken != text
    (tmp_path / "Makefile").write_text(broken)
    done = run_check(tmp_path / "Makefile")
    assert done.returncode == 1
    assert "CACHE_ROOT is expanded while undefined" in done.stdout
