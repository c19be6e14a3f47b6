"""Every Python requirement the project declares is pinned in constraints.txt,
and the virtualenv holds exactly the pinned versions.

pyproject.toml states what dfship needs (ranges, for users); constraints.txt
states what the project builds and tests with (exact versions, for
reproducible lints and test results). This check keeps the two in step.

Usage: python tools/check_pins.py   (from the workspace root, in the venv)
"""

from __future__ import annotations

import importlib.metadata
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    """Names in build-system.requires, project.dependencies and every extra."""
    text = (ROOT / "pyproject.toml").read_text()
    names: set[str] = set()
    # Arrays of requirement strings under the keys that hold requirements.
    for key in ("requires", "dependencies", "test"):
        for block in re.findall(rf"^{key}\s*=\s*\[(.*?)\]", text, flags=re.M | re.S):
            for requirement in re.findall(r'"([^"]+)"', block):
                names.add(canonical(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]))
    return names


def pinned() -> dict[str, str]:
    """name -> version, for the pins whose environment marker holds here."""
    from packaging.markers import Marker

    pins: dict[str, str] = {}
    for raw in (ROOT / "constraints.txt").read_text().splitlines():
        line, _, marker = raw.split("#", 1)[0].partition(";")
        line = line.strip()
        if not line or (marker.strip() and not Marker(marker.strip()).evaluate()):
            continue
        if "==" not in line:
            sys.exit(f"constraints.txt: '{line}' is not an exact pin (name==version)")
        name, version = line.split("==", 1)
        pins[canonical(name)] = version.strip()
    return pins


def main() -> int:
    pins = pinned()
    problems = [
        f"{n} is required in pyproject.toml but not pinned in constraints.txt"
        for n in sorted(declared() - pins.keys())
    ]
    for name, version in sorted(pins.items()):
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # pinned for another venv (the bench one) or another platform
        if installed != version:
            problems.append(f"{name} {installed} is installed, constraints.txt pins {version}")
    for problem in problems:
        print(f"pins: {problem}", file=sys.stderr)
    if problems:
        print("pins: run `make venv` again after editing constraints.txt", file=sys.stderr)
        return 1
    print(f"pins: {len(pins)} packages pinned, {len(declared())} declared requirements covered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
