"""Records the signatures of the `datafusion` package's names that dfship
mirrors, for `python/tests/test_api_parity.py`.

Run with an interpreter that has `datafusion` installed (never a dependency
of dfship), for example the benchmark venv:

    .venv-bench/bin/python tools/datafusion_api.py > python/tests/data/datafusion_api.json
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from typing import Any

# (module, class, methods); the methods the porting promise covers.
NAMES: list[tuple[str, str, list[str]]] = [
    (
        "datafusion",
        "Expr",
        [
            "canonical_name",
            "schema_name",
            "variant_name",
            "rex_type",
            "to_variant",
            "window_frame",
            "over",
            "null_treatment",
            "distinct",
            "filter",
            "order_by",
            "partition_by",
            "__getitem__",
            "python_value",
            "alias",
            "cast",
            "between",
            "is_null",
            "sort",
            "to_bytes",
            "from_bytes",
            # functions of one expression, as methods
            "abs",
            "acos",
            "acosh",
            "array_dims",
            "array_distinct",
            "array_empty",
            "array_length",
            "array_ndims",
            "array_pop_back",
            "array_pop_front",
            "arrow_typeof",
            "ascii",
            "asin",
            "asinh",
            "atan",
            "atanh",
            "bit_length",
            "btrim",
            "cardinality",
            "cbrt",
            "ceil",
            "char_length",
            "character_length",
            "chr",
            "cos",
            "cosh",
            "cot",
            "degrees",
            "empty",
            "exp",
            "factorial",
            "flatten",
            "floor",
            "from_unixtime",
            "initcap",
            "is_nan",
            "isnan",
            "iszero",
            "length",
            "list_dims",
            "list_distinct",
            "list_length",
            "list_ndims",
            "ln",
            "log10",
            "log2",
            "lower",
            "ltrim",
            "md5",
            "octet_length",
            "radians",
            "reverse",
            "rtrim",
            "sha224",
            "sha256",
            "sha384",
            "sha512",
            "signum",
            "sin",
            "sinh",
            "sqrt",
            "tan",
            "tanh",
            "to_hex",
            "trim",
            "upper",
            "fill_null",
            "fill_nan",
        ],
    ),
    (
        "datafusion.expr",
        "ExprFuncBuilder",
        [
            "order_by",
            "filter",
            "distinct",
            "null_treatment",
            "partition_by",
            "window_frame",
            "build",
        ],
    ),
    (
        "datafusion.expr",
        "WindowFrame",
        ["__init__", "get_frame_units", "get_lower_bound", "get_upper_bound"],
    ),
    (
        "datafusion.expr",
        "WindowFrameBound",
        ["get_offset", "is_current_row", "is_following", "is_preceding", "is_unbounded"],
    ),
    (
        "datafusion",
        "DataFrame",
        [
            "write_parquet",
            "write_csv",
            "write_json",
            "union",
            "union_distinct",
            "intersect",
            "except_all",
            "with_columns",
            "with_column_renamed",
            "drop",
            "unnest_columns",
            "describe",
            "cache",
            "repartition",
            "repartition_by_hash",
            "head",
            "tail",
            "fill_null",
            "join_on",
            "execute_stream",
            "execute_stream_partitioned",
            "collect_partitioned",
            "to_polars",
            "to_pandas",
            "to_pydict",
            "to_pylist",
            "to_arrow_table",
            "logical_plan",
            "optimized_logical_plan",
            "execution_plan",
            "into_view",
            "_repr_html_",
            "__arrow_c_stream__",
            "select",
            "filter",
            "with_column",
            "aggregate",
            "sort",
            "limit",
            "join",
            "count",
            "schema",
            "show",
            "collect",
            "distinct",
        ],
    ),
    (
        "datafusion.dataframe",
        "DataFrameWriteOptions",
        ["__init__"],
    ),
    (
        "datafusion",
        "SessionContext",
        [
            "__init__",
            "register_table",
            "register_view",
            "deregister_table",
            "catalog",
            "catalog_names",
            "register_json",
            "register_listing_table",
            "register_parquet",
            "register_csv",
            "register_record_batches",
            "from_polars",
            "from_arrow",
            "from_pydict",
            "from_pylist",
            "from_pandas",
            "empty_table",
            "sql",
            "sql_with_options",
            "table",
            "table_exist",
            "register_udf",
            "register_udaf",
            "register_udwf",
            "with_python_udf_inlining",
            "global_ctx",
        ],
    ),
    (
        "datafusion",
        "SessionConfig",
        [
            "__init__",
            "set",
            "with_batch_size",
            "with_create_default_catalog_and_schema",
            "with_default_catalog_and_schema",
            "with_information_schema",
            "with_parquet_pruning",
            "with_repartition_aggregations",
            "with_repartition_file_min_size",
            "with_repartition_file_scans",
            "with_repartition_joins",
            "with_repartition_sorts",
            "with_repartition_windows",
            "with_target_partitions",
        ],
    ),
    (
        "datafusion",
        "RuntimeEnvBuilder",
        [
            "__init__",
            "with_disk_manager_disabled",
            "with_disk_manager_os",
            "with_disk_manager_specified",
            "with_fair_spill_pool",
            "with_greedy_memory_pool",
            "with_temp_file_path",
            "with_unbounded_memory_pool",
        ],
    ),
    (
        "datafusion",
        "SQLOptions",
        ["__init__", "with_allow_ddl", "with_allow_dml", "with_allow_statements"],
    ),
    (
        "datafusion.record_batch",
        "RecordBatchStream",
        ["next", "__iter__", "__next__", "__aiter__", "__anext__"],
    ),
    ("datafusion.record_batch", "RecordBatch", ["to_pyarrow", "__arrow_c_array__"]),
    ("datafusion.catalog", "Catalog", ["schema_names", "schema", "names"]),
    ("datafusion.catalog", "Schema", ["table_names", "table", "table_exist", "names"]),
    ("datafusion.catalog", "Table", ["schema", "kind"]),
    (
        "datafusion.plan",
        "LogicalPlan",
        ["inputs", "display", "display_indent", "display_indent_schema", "display_graphviz"],
    ),
]


def describe(obj: Any) -> dict[str, Any]:
    if isinstance(obj, property):
        return {"kind": "property"}
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return {"kind": "opaque"}
    params = []
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        default = p.default
        if default is inspect.Parameter.empty:
            shown = None
        elif default is None or isinstance(default, (bool, int, float, str)):
            shown = repr(default)
        else:
            shown = "<other>"
        params.append({"name": p.name, "kind": p.kind.name, "default": shown})
    return {"kind": "callable", "params": params}


def main() -> None:
    out: dict[str, Any] = {}
    for module, cls_name, methods in NAMES:
        cls = getattr(importlib.import_module(module), cls_name)
        for method in methods:
            raw = inspect.getattr_static(cls, method)
            out[f"{cls_name}.{method}"] = describe(
                raw if isinstance(raw, property) else getattr(cls, method)
            )
    version = importlib.import_module("datafusion").__version__
    json.dump({"datafusion": version, "names": out}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
