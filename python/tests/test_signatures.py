"""Each Python-facing signature is written in three places: the Rust method
(`#[pyo3(signature = ...)]`, seen as `__text_signature__`), its stub in
`_internal.pyi`, and the public wrapper (`context.py`, `dataframe.py`, ...).
This test compares all three for every method the wrapper and the extension
share, and fails on any parameter one of them drops, adds or renames, unless
the difference is listed below with the reason for it.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
from collections.abc import Callable
from typing import Any

import pytest

import dfship
from dfship import _internal
from dfship.catalog import Catalog, Schema, Table
from dfship.context import RuntimeEnvBuilder, SessionConfig
from dfship.plan import ExecutionPlan, LogicalPlan
from dfship.record_batch import RecordBatchStream

STUB = pathlib.Path(_internal.__file__).with_name("_internal.pyi")
if not STUB.exists():  # an editable install keeps the stub beside the sources
    STUB = pathlib.Path(dfship.__file__).with_name("_internal.pyi")

# wrapper class -> the extension class it holds as `_raw`.
PAIRS: list[tuple[type, type]] = [
    (dfship.SessionContext, _internal.SessionContext),
    (SessionConfig, _internal.SessionConfig),
    (RuntimeEnvBuilder, _internal.RuntimeEnvBuilder),
    (dfship.DataFrame, _internal.DataFrame),
    (ExecutionPlan, _internal.RawExecutionPlan),
    (LogicalPlan, _internal.LogicalPlan),
    (Catalog, _internal.Catalog),
    (Schema, _internal.Schema),
    (Table, _internal.Table),
    (RecordBatchStream, _internal.RecordBatchStream),
]

# (wrapper class, method) -> the parameters only the wrapper has, only the
# extension has, and why. Everything not listed must match by name.
NO_STORES = (
    "object_store (as in the datafusion package) is registered in Python, with "
    "register_object_store, for the path's scheme and host before the extension reads it"
)
WRITE_OPTIONS = (
    "write_options (a DataFrameWriteOptions) is unpacked in Python into the partitioning, "
    "single-file and sort arguments the extension takes"
)
DIFFERENCES: dict[tuple[str, str], tuple[set[str], set[str], str]] = {
    ("SessionContext", "register_parquet"): ({"object_store"}, set(), NO_STORES),
    ("SessionContext", "register_json"): ({"object_store"}, set(), NO_STORES),
    ("SessionContext", "read_parquet"): ({"object_store"}, set(), NO_STORES),
    ("SessionContext", "read_json"): ({"object_store"}, set(), NO_STORES),
    ("SessionContext", "register_csv"): (
        {"object_store", "options"},
        {"dialect", "file_sort_order", "table_partition_cols"},
        NO_STORES + "; a CsvReadOptions becomes the keyword arguments, its other "
        "options the dialect pairs, partition columns and sort order",
    ),
    ("SessionContext", "read_csv"): (
        {"object_store", "options"},
        {"dialect", "file_sort_order"},
        NO_STORES + "; a CsvReadOptions becomes the arguments (see register_csv)",
    ),
    ("SessionContext", "read_arrow"): (
        {"object_store", "file_partition_cols"},
        {"table_partition_cols"},
        NO_STORES + "; the package's file_partition_cols are the table's partition columns",
    ),
    ("SessionContext", "register_arrow"): ({"object_store"}, set(), NO_STORES),
    ("SessionContext", "parse_sql_expr"): (
        set(),
        {"qualifier"},
        "the wrapper takes a DFSchema and passes its Arrow schema and table qualifier",
    ),
    ("DataFrame", "parse_sql_expr"): ({"expr"}, {"sql"}, "the package's parameter name"),
    ("DataFrame", "write_table"): (
        {"write_options"},
        {"insert_op", "partition_by", "single_file_output", "sort_by"},
        "write_options becomes the insert operation and the write settings",
    ),
    ("SessionContext", "sql"): (
        {"options", "named_params"},
        {"allow"},
        "options (an SQLOptions) becomes the three allow flags; named_params are "
        "substituted into the query text in Python",
    ),
    ("DataFrame", "filter"): (
        {"predicates"},
        {"predicate"},
        "the wrapper takes several predicates and passes their conjunction",
    ),
    ("DataFrame", "join"): (
        {"on", "join_keys"},
        set(),
        "on names keys present on both sides, join_keys is the datafusion package's "
        "(left, right) pair form: both become left_on and right_on in Python",
    ),
    ("DataFrame", "write_parquet"): (
        {"write_options", "compression_level"},
        {"partition_by", "settings", "single_file_output", "sort_by"},
        WRITE_OPTIONS + "; compression_level is folded into compression as 'codec(level)'; "
        "settings carry write_parquet_with_options' ParquetWriterOptions",
    ),
    ("DataFrame", "write_csv"): (
        {"write_options"},
        {"partition_by", "single_file_output", "sort_by"},
        WRITE_OPTIONS,
    ),
    ("DataFrame", "write_json"): (
        {"write_options"},
        {"partition_by", "single_file_output", "sort_by"},
        WRITE_OPTIONS,
    ),
}


def stub_signatures() -> dict[str, dict[str, list[str]]]:
    """class (or "" for the module) -> method -> parameter names, from the stub."""
    tree = ast.parse(STUB.read_text())
    found: dict[str, dict[str, list[str]]] = {"": {}}

    def params(fn: ast.FunctionDef) -> list[str]:
        a = fn.args
        names = [p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs]]
        if a.vararg:
            names.append("*" + a.vararg.arg)
        if a.kwarg:
            names.append("**" + a.kwarg.arg)
        return [n for n in names if n not in ("self", "cls")]

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[""][node.name] = params(node)
        elif isinstance(node, ast.ClassDef):
            methods = found.setdefault(node.name, {})
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    decorators = {
                        getattr(d, "id", getattr(d, "attr", "")) for d in item.decorator_list
                    }
                    if "property" in decorators or any(
                        getattr(d, "attr", "") == "setter" for d in item.decorator_list
                    ):
                        continue
                    methods[item.name] = params(item)
    return found


def names_of(fn: Callable[..., Any]) -> list[str] | None:
    """Parameter names of a callable (None when it has no signature)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    out = []
    for p in sig.parameters.values():
        if p.name in ("self", "cls", "$self", "$cls"):
            continue
        prefix = {
            inspect.Parameter.VAR_POSITIONAL: "*",
            inspect.Parameter.VAR_KEYWORD: "**",
        }.get(p.kind, "")
        out.append(prefix + p.name)
    return out


def rust_methods(cls: type) -> dict[str, list[str]]:
    found = {}
    for name, member in vars(cls).items():
        if name.startswith("_") and name != "__new__":
            continue
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if not callable(member) or isinstance(member, property):
            continue
        params = names_of(cls if name == "__new__" else getattr(cls, name))
        if params is not None:
            found[name] = params
    return found


STUBS = stub_signatures()


@pytest.mark.parametrize("raw", sorted({r for _, r in PAIRS} | {_internal.RawExpr}, key=str))
def test_every_rust_method_matches_its_stub(raw: type) -> None:
    stub = STUBS[raw.__name__]
    problems = []
    for name, params in rust_methods(raw).items():
        stub_name = "__new__" if name == "__new__" else name
        if stub_name not in stub:
            problems.append(f"{name}: not in the stub")
        elif stub[stub_name] != params:
            problems.append(f"{name}: Rust {params} but the stub {stub[stub_name]}")
    assert not problems, f"{raw.__name__}: " + "; ".join(problems)


def test_every_module_function_matches_its_stub() -> None:
    problems = []
    for name, params in STUBS[""].items():
        fn = getattr(_internal, name)
        rust = names_of(fn)
        if rust is not None and rust != params:
            problems.append(f"{name}: Rust {rust} but the stub {params}")
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize(("wrapper", "raw"), PAIRS, ids=[w.__name__ for w, _ in PAIRS])
def test_every_wrapper_passes_what_the_rust_method_takes(wrapper: type, raw: type) -> None:
    problems = []
    rust = rust_methods(raw)
    for name, rust_params in rust.items():
        method = "__init__" if name == "__new__" else name
        if method not in vars(wrapper) or isinstance(vars(wrapper)[method], property):
            continue  # not wrapped, or wrapped as an attribute on purpose
        wrapper_params = names_of(getattr(wrapper, method))
        assert wrapper_params is not None, f"{wrapper.__name__}.{method}"
        only_wrapper = {p.lstrip("*") for p in wrapper_params} - {
            p.lstrip("*") for p in rust_params
        }
        only_rust = {p.lstrip("*") for p in rust_params} - {p.lstrip("*") for p in wrapper_params}
        allowed_wrapper, allowed_rust, _why = DIFFERENCES.get(
            (wrapper.__name__, method), (set(), set(), "")
        )
        if only_wrapper != allowed_wrapper or only_rust != allowed_rust:
            problems.append(
                f"{method}: only the wrapper has {sorted(only_wrapper)}, only Rust has "
                f"{sorted(only_rust)} (listed: {sorted(allowed_wrapper)}, {sorted(allowed_rust)})"
            )
    assert not problems, f"{wrapper.__name__}: " + "; ".join(problems)


def test_every_listed_difference_is_still_there() -> None:
    """A difference that went away must leave the list, so the list stays true."""
    wrappers = {w.__name__: (w, r) for w, r in PAIRS}
    for (cls, method), (only_wrapper, only_rust, why) in DIFFERENCES.items():
        assert why, f"{cls}.{method}: say why the signatures differ"
        wrapper, raw = wrappers[cls]
        rust_name = "__new__" if method == "__init__" else method
        rust = set(p.lstrip("*") for p in rust_methods(raw)[rust_name])
        mine = set(p.lstrip("*") for p in names_of(getattr(wrapper, method)) or [])
        assert only_wrapper <= mine - rust and only_rust <= rust - mine, f"{cls}.{method}"
