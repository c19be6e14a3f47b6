"""Writes the guide's generated pages into DIR (docs-book/src/generated):

- `wire-format.md`, the module documentation of `crates/wire/src/lib.rs` (the
  format's specification), so the book and the code cannot disagree;
- `api.md`, the API reference, from the docstrings of every public name of
  the installed `dfship` package.

Usage: python tools/book_pages.py DIR
"""

from __future__ import annotations

import importlib
import inspect
import pathlib
import re
import sys
from types import ModuleType
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The public modules, in the order the reference lists them.
MODULES = [
    "dfship",
    "dfship.context",
    "dfship.dataframe",
    "dfship.dataframe_formatter",
    "dfship.expr",
    "dfship.functions",
    "dfship.spark_functions",
    "dfship.user_defined",
    "dfship.catalog",
    "dfship.plan",
    "dfship.record_batch",
    "dfship.options",
    "dfship.io",
    "dfship.common",
    "dfship.ipc",
    "dfship.object_store",
    "dfship.exceptions",
    "dfship.distributed",
    "dfship.distributed.ray",
    "dfship.worker",
]


def wire_format() -> str:
    """The `//!` lines of wire.rs as Markdown, rustdoc links made plain code."""
    lines: list[str] = []
    for line in (ROOT / "crates" / "wire" / "src" / "lib.rs").read_text().splitlines():
        if not line.startswith("//!"):
            if lines:
                break
            continue
        lines.append(line[4:] if line.startswith("//! ") else line[3:])
    text = "\n".join(lines).strip() + "\n"
    # The page has its own title; the spec's headings sit one level below it.
    text = re.sub(r"^# .*\n", "", text, count=1)
    text = re.sub(r"\[`([^`\]]+)`\](\([^)]*\))?", r"`\1`", text)
    return text


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def prose(doc: str) -> str:
    """A docstring as Markdown: reST literals and roles become code, doctest
    examples become Python code blocks."""
    out: list[str] = []
    in_example = False
    for raw in inspect.cleandoc(doc).splitlines():
        line = _ROLE.sub(lambda m: f"`{m.group(1).split('.')[-1]}`", raw)
        line = line.replace("``", "`")
        starts_example = line.lstrip().startswith(">>>")
        if starts_example and not in_example:
            out.append("```python")
            in_example = True
        elif in_example and not line.strip():
            out.append("```")
            in_example = False
        out.append(line.strip() if in_example else line)
    if in_example:
        out.append("```")
    return "\n".join(out).replace("{{#", "{{ #")


def signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return sorted(names, key=str.lower)


def home(obj: Any, fallback: str) -> str:
    """The module that documents `obj`: where it is defined, when that is a
    public module."""
    module = getattr(obj, "__module__", None)
    return module if module in MODULES else fallback


def members(cls: type) -> list[tuple[str, Any]]:
    found = []
    for name, raw in vars(cls).items():
        if name.startswith("_") and name not in ("__init__", "__call__", "__getitem__"):
            continue
        if isinstance(raw, (staticmethod, classmethod)):
            raw = raw.__func__
        elif hasattr(type(raw), "__get__") and not callable(raw) and not isinstance(raw, property):
            raw = getattr(cls, name)  # a method made by a descriptor
        if callable(raw) or isinstance(raw, property):
            found.append((name, raw))
    return sorted(found)


def heading_id(text: str) -> str:
    """The id mdbook gives a heading."""
    return re.sub(r"[^a-z0-9_-]", "", text.strip().lower().replace(" ", "-"))


def describe(qualified: str, obj: Any) -> list[str]:
    out = [f"### {qualified}", ""]
    if inspect.isclass(obj):
        bases = [b.__name__ for b in obj.__bases__ if b is not object]
        kind = "exception" if issubclass(obj, BaseException) else "class"
        suffix = f"({', '.join(bases)})" if bases else ""
        out += [f"*{kind}* `{obj.__name__}{suffix}`", ""]
        if obj.__doc__:
            out += [prose(obj.__doc__), ""]
        for name, member in members(obj):
            if isinstance(member, property):
                out.append(f"- **`{name}`** *(property)*")
                doc = member.__doc__
            else:
                out.append(f"- **`{name}{signature(member)}`**")
                doc = member.__doc__
            if doc:
                first = prose(doc).split("\n\n")[0].replace("\n", " ")
                if not first.startswith("```"):
                    out.append(f"  {first}")
        out.append("")
    elif callable(obj):
        out += [f"*function* `{qualified.split('.')[-1]}{signature(obj)}`", ""]
        if obj.__doc__:
            out += [prose(obj.__doc__), ""]
    else:
        out += [f"*value* `{obj!r}`"[:200], ""]
    return out


def api_reference() -> str:
    out = [
        "# API reference",
        "",
        "Generated from the docstrings of the installed `dfship` package: every",
        "public name of every public module. The examples in these docstrings",
        "run as doctests in `make test`.",
        "",
    ]
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        out += [f"## {module_name}", ""]
        if module.__doc__:
            out += [prose(module.__doc__).split("\n\n")[0], ""]
        for name in public_names(module):
            obj = getattr(module, name)
            where = home(obj, module_name)
            if inspect.ismodule(obj):
                out += [f"### {module_name}.{name}", "", f"The module `{obj.__name__}`.", ""]
            elif where != module_name:
                target = f"{where}.{name}"
                out += [
                    f"### {module_name}.{name}",
                    "",
                    f"The same object as [`{target}`](#{heading_id(target)}).",
                    "",
                ]
            else:
                out += describe(f"{module_name}.{name}", obj)
    return "\n".join(out) + "\n"


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "wire-format.md").write_text(wire_format())
    (out / "api.md").write_text(api_reference())
    print(f"book pages: wire-format.md, api.md in {out}")


if __name__ == "__main__":
    main()
