"""Fails when the Makefile means something else to a caller who exports nothing.

`.ci/run` exports cache locations (CARGO_TARGET_DIR, PIP_CACHE_DIR, TOOLS_DIR)
that a newcomer typing `make test` does not have. A Makefile variable that
expands another before it is defined (`CARGO_FUZZ := $(TOOLS_DIR)/bin/...`
above `TOOLS_DIR ?= ...`) is then right in CI and wrong for everyone else.
This check evaluates the Makefile the way a newcomer runs it, in an emptied
environment (only PATH and HOME kept), and fails on:

- any reference to an undefined variable, anywhere make expands one while
  planning every documented target (`make -n --warn-undefined-variables`);
- any absolute path in the value of a Makefile variable that lies outside
  the clone and does not exist (`/bin/cargo-fuzz` is what an empty prefix
  leaves behind).

Usage: python tools/check_make_env.py [--makefile FILE]   (from the clone's root)
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Variables of make's own, or set on the command line of sub-makes.
IGNORED = {"MAKEFILE_LIST", "CURDIR", "SHELL", ".SHELLFLAGS", "MAKEFLAGS", "MFLAGS"}
UNDEFINED = re.compile(r"warning: undefined variable [`'](?P<name>[^'`]+)'")
ABSOLUTE = re.compile(r"(?<![\w$./-])(/[\w.+-]+(?:/[\w.+-]+)*)")

PRINT_VARS = """
.PHONY: dfship-print-vars
dfship-print-vars:
\t@:$(foreach v,$(sort $(.VARIABLES)),$(if $(filter file override,$(origin $(v))),\
$(info dfship-var $(v)=$($(v)))))
"""


def clean_env() -> dict[str, str]:
    """The environment of a newcomer's shell: PATH and HOME, nothing exported."""
    # Drop the virtualenv a calling make put in front of PATH: the Makefile adds it again.
    venv = os.environ.get("VIRTUAL_ENV")
    path = [
        p
        for p in os.environ.get("PATH", "").split(os.pathsep)
        if not venv or not p.startswith(venv)
    ]
    return {"PATH": os.pathsep.join(path), "HOME": os.environ.get("HOME", "/root")}


def make(makefile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "-f", str(makefile), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
    )


def documented_targets(makefile: Path) -> list[str]:
    text = makefile.read_text()
    return re.findall(r"^([a-zA-Z_-]+):.*?## ", text, flags=re.MULTILINE)


def undefined_references(makefile: Path) -> dict[str, set[str]]:
    """variable -> targets whose planning referenced it while undefined."""
    found: dict[str, set[str]] = {}
    for target in documented_targets(makefile):
        # `test` runs every stage through tools/stages.sh; each stage is planned on its own.
        if target == "test":
            continue
        done = make(makefile, "-n", "--warn-undefined-variables", target)
        for m in UNDEFINED.finditer(done.stderr):
            found.setdefault(m["name"], set()).add(target)
    return found


def stray_paths(makefile: Path) -> list[str]:
    """`NAME: /path` for every absolute path outside the clone that does not exist."""
    with tempfile.NamedTemporaryFile("w", suffix=".mk", delete=False) as extra:
        extra.write(PRINT_VARS)
    try:
        done = make(makefile, "-f", extra.name, "dfship-print-vars")
    finally:
        os.unlink(extra.name)
    if done.returncode != 0:
        sys.exit(f"make could not evaluate {makefile}:\n{done.stderr}")
    stray = []
    for line in done.stdout.splitlines():
        if not line.startswith("dfship-var "):
            continue
        name, _, value = line.removeprefix("dfship-var ").partition("=")
        if name in IGNORED:
            continue
        for path in ABSOLUTE.findall(value):
            inside = Path(path) == ROOT or ROOT in Path(path).parents
            if not inside and not Path(path).exists():
                stray.append(f"{name}: {path}")
    return stray


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--makefile", type=Path, default=ROOT / "Makefile")
    makefile = parser.parse_args().makefile.resolve()

    problems = [
        f"{name} is expanded while undefined (planning {', '.join(sorted(targets))})"
        for name, targets in sorted(undefined_references(makefile).items())
    ]
    problems += [
        f"{entry} lies outside the clone and does not exist" for entry in stray_paths(makefile)
    ]
    if problems:
        print(f"{makefile.name}: a plain `make` (nothing exported) differs from the caller's:")
        for problem in problems:
            print(f"  {problem}")
        print("Define a variable before any `:=` that expands it, or give it a `?=` default.")
        return 1
    print(f"{makefile.name}: every documented target plans the same with nothing exported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
