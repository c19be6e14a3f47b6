"""Fails when a layer reaches above itself.

dfship's Rust code is a stack of crates, each allowed to depend only on the
ones below it:

    dfship-wire  <  dfship-core  <  dfship-distributed  <  dfship-python

Cargo refuses a dependency cycle between crates, but not a crate that starts
to depend on one above it (the lower crate then moves up). This check reads
`cargo metadata` and fails when:

- a layer crate's manifest names a layer crate at or above its own level;
- dfship-wire depends directly on DataFusion (it must stay free of its types);
- any other workspace member (benches, harness, tpch, examples) depends on
  dfship-python, which is only the extension module.

Inside each crate, and inside the Python package `python/dfship`, it builds
the graph of module imports and fails on any import cycle:

- Rust: an edge from module A to module B whenever A names B through
  `crate::...`, `super::...` or a child module's path (`use child::Item`,
  `pub use child::Item`); a parent that re-exports its children and a child
  that takes an item from its parent form a cycle;
- Python: every import that can run, including those inside functions (a
  lazy import hides a cycle from the interpreter, not from the design), but
  not those under `if TYPE_CHECKING:`, which only annotations see.

Usage: python tools/check_layers.py [--graph]   (from the workspace root)
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["dfship-wire", "dfship-core", "dfship-distributed", "dfship-python"]
NO_DATAFUSION = {"dfship-wire"}
BINDINGS = "dfship-python"
PY_PACKAGE = ROOT / "python" / "dfship"


# ---- crates ------------------------------------------------------------------


def workspace() -> list[dict[str, Any]]:
    done = subprocess.run(
        ["cargo", "metadata", "--locked", "--no-deps", "--format-version", "1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        sys.exit(f"cargo metadata failed:\n{done.stderr}")
    packages: list[dict[str, Any]] = json.loads(done.stdout)["packages"]
    return packages


def manifest_problems(packages: list[dict[str, Any]]) -> list[str]:
    problems = []
    names = {str(p["name"]) for p in packages}
    missing = [layer for layer in LAYERS if layer not in names]
    if missing:
        problems.append(f"layer crates missing from the workspace: {', '.join(missing)}")
    for package in packages:
        name = str(package["name"])
        deps = [str(d["name"]) for d in package["dependencies"] if d.get("kind") != "dev"]
        dev_deps = [str(d["name"]) for d in package["dependencies"] if d.get("kind") == "dev"]
        if name in LAYERS:
            level = LAYERS.index(name)
            for dep in deps + dev_deps:
                if dep in LAYERS and LAYERS.index(dep) >= level:
                    problems.append(
                        f"{name} depends on {dep}: a layer may use only the layers below it "
                        f"({', '.join(LAYERS[:level]) or 'none'})"
                    )
            if name in NO_DATAFUSION:
                for dep in deps:
                    if dep.startswith("datafusion"):
                        problems.append(f"{name} depends on {dep}: it must stay free of DataFusion")
        elif BINDINGS in deps + dev_deps:
            problems.append(
                f"{name} depends on {BINDINGS}, the extension module: use the crates below it"
            )
    return problems


# ---- Rust modules ------------------------------------------------------------

PATH_AFTER = re.compile(r"\b(crate|super|self)::")
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.MULTILINE)
CFG_TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{", re.MULTILINE)


def strip_comments_and_strings(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def without_test_modules(text: str) -> str:
    """Drop `#[cfg(test)] mod x { ... }` blocks: tests may use anything of their crate."""
    while m := CFG_TEST_MOD.search(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        text = text[: m.start()] + text[i:]
    return text


def rust_modules(src: Path) -> dict[tuple[str, ...], Path]:
    """module path (() for the crate root) -> file."""
    modules: dict[tuple[str, ...], Path] = {}
    for path in src.rglob("*.rs"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts in (["lib"], ["main"]):
            parts = []
        elif parts[-1] == "mod":
            parts = parts[:-1]
        modules[tuple(parts)] = path
    return modules


def expand_use_tree(text: str, start: int) -> list[list[str]]:
    """The paths named from `start` (just after `crate::`/`super::`): `a::b`, `{a, b::c}`."""

    def parse(i: int) -> tuple[list[list[str]], int]:
        paths: list[list[str]] = []
        prefix: list[str] = []
        while i < len(text):
            m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(::)?", text[i:])
            if m:
                prefix.append(m[1])
                i += m.end()
                if not m[2]:
                    paths.append(prefix)
                    return paths, i
                continue
            m = re.match(r"\s*\{", text[i:])
            if m:
                i += m.end()
                while True:
                    inner, i = parse(i)
                    paths += [prefix + p for p in inner]
                    m2 = re.match(r"\s*(,)?\s*(\})?", text[i:])
                    i += m2.end() if m2 else 0
                    if m2 and m2[2]:
                        return paths, i
                    if not (m2 and m2[1]):
                        return paths, i
            if prefix:
                paths.append(prefix)
            return paths, i
        return paths, i

    return parse(start)[0]


def resolve(
    modules: dict[tuple[str, ...], Path], base: tuple[str, ...], path: list[str]
) -> tuple[str, ...] | None:
    """The longest module named by `base` + `path` (None when it names none)."""
    best: tuple[str, ...] | None = None
    for n in range(len(path) + 1):
        candidate = base + tuple(path[:n])
        if candidate in modules:
            best = candidate
    return best


def rust_edges(src: Path) -> dict[tuple[str, ...], set[tuple[str, ...]]]:
    modules = rust_modules(src)
    edges: dict[tuple[str, ...], set[tuple[str, ...]]] = {m: set() for m in modules}
    for module, path in modules.items():
        text = without_test_modules(strip_comments_and_strings(path.read_text()))
        children = set(MOD_DECL.findall(text))
        for m in PATH_AFTER.finditer(text):
            kind = m[1]
            base: tuple[str, ...]
            if kind == "crate":
                base = ()
            elif kind == "super":
                base = module[:-1]
                # `super::super::x`
                rest = m.end()
                while text.startswith("super::", rest):
                    base = base[:-1]
                    rest += len("super::")
            else:
                base = module
            for named in expand_use_tree(text, m.end()):
                named = [p for p in named if p != "super"]
                target = resolve(modules, base, named)
                if target is not None and target != module:
                    edges[module].add(target)
        # Paths that start at a child module: `use child::Item`, `child::f()`.
        for child in children:
            if (*module, child) in modules and re.search(
                rf"(?<![\w:]){child}::", text.replace(f"mod {child}", "")
            ):
                edges[module].add((*module, child))
    return edges


# ---- Python modules ----------------------------------------------------------


def type_checking_block(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`): imports for annotations only."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import that can run, at any depth (inside functions too), but not
    those under `if TYPE_CHECKING:`, which never run."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if type_checking_block(node):
            assert isinstance(node, ast.If)
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def python_edges(package: Path) -> dict[str, set[str]]:
    names = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    edges: dict[str, set[str]] = {n: set() for n in names}
    for name, path in names.items():
        is_package = path.name == "__init__.py"
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in runtime_imports(ast.parse(path.read_text())):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:
                    base = here[: len(here) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                # `from pkg import mod` names the module; `from pkg import name`
                # names pkg itself (its __init__ must run first).
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    if sub in names:
                        targets.append(sub)
                    elif (package.parent / Path(*sub.split("."))).with_suffix(".pyi").exists():
                        continue  # the compiled extension: nothing of the package's runs
                    else:
                        targets.append(module)
            for target in targets:
                # The longest package module the import names.
                while target and target not in names:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


# ---- cycles --------------------------------------------------------------------


def cycles(edges: dict[T, set[T]]) -> list[list[T]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[T, int] = {}
    low: dict[T, int] = {}
    on_stack: set[T] = set()
    stack: list[T] = []
    found: list[list[T]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work: list[tuple[T, Iterable[T]]] = [(root, iter(sorted(edges[root], key=str)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ()), key=str))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component, key=str))
    return found


def rust_name(crate: str, module: tuple[str, ...]) -> str:
    return "::".join([crate.replace("-", "_"), *module])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", action="store_true", help="print every module's imports")
    args = parser.parse_args()

    packages = workspace()
    problems = manifest_problems(packages)
    checked = 0
    for package in packages:
        name = str(package["name"])
        if name not in LAYERS:
            continue
        src = Path(str(package["manifest_path"])).parent / "src"
        edges = rust_edges(src)
        checked += len(edges)
        if args.graph:
            for module, targets in sorted(edges.items()):
                shown = ", ".join(rust_name(name, t) for t in sorted(targets))
                print(f"{rust_name(name, module)} -> {shown}")
        for component in cycles(edges):
            shown = ", ".join(rust_name(name, m) for m in component)
            problems.append(f"import cycle in {name}: {shown}")
    py = python_edges(PY_PACKAGE)
    if args.graph:
        for py_module, py_targets in sorted(py.items()):
            print(f"{py_module} -> {', '.join(sorted(py_targets))}")
    for py_cycle in cycles(py):
        problems.append(f"import cycle in python/dfship: {', '.join(py_cycle)}")

    if problems:
        print("layers:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    print(
        f"layers: {' < '.join(LAYERS)} one-way; no import cycle in {checked} Rust modules "
        f"or {len(py)} Python modules"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
