"""Fails when two builds of the workspace would compile a shared dependency
with different features.

Cargo unifies features per invocation, over the packages it is asked to
build, and a crate compiled with other features gets another metadata hash:
everything above it (DataFusion, for most of the tree) compiles again. The
Makefile builds one package at a time (`maturin develop`, `cargo test -p`)
as well as the whole workspace (`cargo clippy`, `cargo test --workspace`),
so every one of those selections must resolve every crate to the same
features. `workspace-hack/Cargo.toml` holds the union; when this check fails,
add the crate it names there.

Usage: python tools/check_feature_union.py   (from the workspace root)
"""

from __future__ import annotations

import json
import subprocess
import sys


def cargo(*args: str) -> str:
    done = subprocess.run(["cargo", *args], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"cargo {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def cargo_tree(selection: list[str], edges: str) -> dict[str, str]:
    """package id -> comma-separated features, for one build selection."""
    out = cargo("tree", "--locked", "-e", edges, "--prefix", "none", "-f", "{p}|{f}", *selection)
    packages: dict[str, str] = {}
    for line in out.splitlines():
        line = line.removesuffix(" (*)").replace(" (proc-macro)", "")
        if "|" in line:
            package, features = line.split("|", 1)
            packages[package] = features
    return packages


def selections() -> list[tuple[str, list[str], str]]:
    metadata = json.loads(cargo("metadata", "--locked", "--no-deps", "--format-version", "1"))
    # The workspace-hack crate is only ever built as a dependency of the others.
    members = sorted(
        p["name"] for p in metadata["packages"] if p["name"] != "dfship-workspace-hack"
    )
    found: list[tuple[str, list[str], str]] = [
        ("the whole workspace, all targets", ["--workspace"], "normal,build,dev")
    ]
    for name in members:
        # A library built alone (maturin), and the package's tests (cargo test -p).
        found.append((f"{name}, library", ["-p", name], "normal,build"))
        found.append((f"{name}, tests", ["-p", name], "normal,build,dev"))
    return found


def main() -> int:
    resolved = {label: cargo_tree(sel, edges) for label, sel, edges in selections()}
    by_package: dict[str, dict[str, str]] = {}
    for label, packages in resolved.items():
        for package, features in packages.items():
            by_package.setdefault(package, {})[label] = features
    problems = 0
    for package, seen in sorted(by_package.items()):
        if len(set(seen.values())) > 1:
            problems += 1
            print(f"{package} is built with different features:", file=sys.stderr)
            for label, features in seen.items():
                print(f"    {label}: [{features}]", file=sys.stderr)
    if problems:
        print(
            f"{problems} crate(s) would compile more than once per profile: add the union of "
            "their features to workspace-hack/Cargo.toml",
            file=sys.stderr,
        )
        return 1
    print(
        f"feature union: {len(by_package)} crates resolve to one feature set across "
        f"{len(resolved)} build selections"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
