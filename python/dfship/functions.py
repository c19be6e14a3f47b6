"""DataFusion's built-in functions under their DataFusion names.

Arguments that are not expressions become literals:

>>> from dfship import col, functions as f
>>> f.upper(col("name"))
Expr(upper(name))
>>> f.round(col("x"), 2)
Expr(round(x, Int64(2)))
>>> f.count(col("a"), distinct=True)
Expr(count(DISTINCT a))

Window functions take their window inline or through :meth:`Expr.over`:

>>> f.row_number(partition_by=[col("k")], order_by=[col("t")])  # doctest: +ELLIPSIS
Expr(row_number() PARTITION BY [k] ORDER BY [t ASC NULLS LAST] RANGE BETWEEN UNBOUNDED ...)
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from dfship import _internal
from dfship.expr import (
    CaseBuilder,
    Expr,
    NullTreatment,
    SortExpr,
    SortKey,
    Window,
    _call,
    _ignore_nulls,
    _raw,
    _sort_list,
    col,
    lit,
)

__all__ = [
    "abs",
    "acos",
    "acosh",
    "alias",
    "any_match",
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
    "approx_percentile_cont_with_weight",
    "array",
    "array_agg",
    "array_any_match",
    "array_append",
    "array_concat",
    "array_dims",
    "array_distinct",
    "array_element",
    "array_filter",
    "array_has",
    "array_indexof",
    "array_length",
    "array_ndims",
    "array_position",
    "array_prepend",
    "array_remove",
    "array_replace",
    "array_reverse",
    "array_slice",
    "array_sort",
    "array_transform",
    "arrow_cast",
    "arrow_metadata",
    "arrow_try_cast",
    "arrow_typeof",
    "ascii",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "avg",
    "bit_and",
    "bit_length",
    "bit_or",
    "bit_xor",
    "bool_and",
    "bool_or",
    "btrim",
    "builtin_names",
    "call",
    "cardinality",
    "case",
    "cbrt",
    "ceil",
    "char_length",
    "character_length",
    "chr",
    "coalesce",
    "column",
    "concat",
    "concat_ws",
    "contains",
    "corr",
    "cos",
    "cosh",
    "cot",
    "count",
    "count_star",
    "covar",
    "covar_pop",
    "covar_samp",
    "cume_dist",
    "current_date",
    "current_time",
    "date_bin",
    "date_part",
    "date_trunc",
    "datepart",
    "datetrunc",
    "decode",
    "degrees",
    "dense_rank",
    "digest",
    "encode",
    "ends_with",
    "exp",
    "extract",
    "factorial",
    "find_in_set",
    "first_value",
    "flatten",
    "floor",
    "from_unixtime",
    "gcd",
    "gen_series",
    "generate_series",
    "get_field",
    "greatest",
    "ifnull",
    "in_list",
    "initcap",
    "instr",
    "is_nan",
    "isnan",
    "iszero",
    "lag",
    "lambda_",
    "lambda_var",
    "last_value",
    "lcm",
    "lead",
    "least",
    "left",
    "length",
    "levenshtein",
    "list_any_match",
    "list_filter",
    "list_indexof",
    "list_min",
    "list_overlap",
    "list_position",
    "list_slice",
    "list_sort",
    "list_transform",
    "literal",
    "ln",
    "log",
    "log10",
    "log2",
    "lower",
    "lpad",
    "ltrim",
    "make_array",
    "make_date",
    "make_map",
    "max",
    "md5",
    "mean",
    "median",
    "min",
    "named_struct",
    "nanvl",
    "now",
    "nth_value",
    "ntile",
    "nullif",
    "nvl",
    "nvl2",
    "octet_length",
    "order_by",
    "overlay",
    "percent_rank",
    "percentile_cont",
    "pi",
    "pow",
    "power",
    "quantile_cont",
    "radians",
    "random",
    "rank",
    "regexp_count",
    "regexp_instr",
    "regexp_like",
    "regexp_match",
    "regexp_replace",
    "repeat",
    "replace",
    "reverse",
    "right",
    "round",
    "row_number",
    "rpad",
    "rtrim",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "signum",
    "sin",
    "sinh",
    "split_part",
    "sqrt",
    "starts_with",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "string_agg",
    "string_to_array",
    "string_to_list",
    "strpos",
    "substr",
    "substring",
    "sum",
    "tan",
    "tanh",
    "to_char",
    "to_date",
    "to_hex",
    "to_timestamp",
    "to_timestamp_micros",
    "to_timestamp_millis",
    "to_timestamp_seconds",
    "to_unixtime",
    "today",
    "translate",
    "trim",
    "trunc",
    "union_extract",
    "upper",
    "uuid",
    "var",
    "var_pop",
    "var_samp",
    "var_sample",
    "when",
    "with_metadata",
]


def builtin_names() -> dict[str, list[str]]:
    """Every built-in function name (aliases included), by kind.

    >>> "upper" in builtin_names()["scalar"]
    True
    """
    scalar, aggregate, window = _internal.builtin_function_names()
    return {"scalar": list(scalar), "aggregate": list(aggregate), "window": list(window)}


@functools.cache
def _builtin_sets() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    scalar, aggregate, window = _internal.builtin_function_names()
    return frozenset(scalar), frozenset(aggregate), frozenset(window)


def __getattr__(name: str) -> Callable[..., Expr]:
    """Every other DataFusion built-in function, by its own name (aliases
    included): ``functions.list_append(...)``, ``functions.regr_slope(...)``.
    Aggregates take ``distinct``, ``filter``, ``order_by`` and
    ``null_treatment``; window functions ``partition_by`` and ``order_by``.

    >>> from dfship import functions as f
    >>> f.list_append(col("l"), 3)
    Expr(array_append(l, Int64(3)))
    >>> f.regr_slope(col("y"), col("x"), filter=col("x") > 0)
    Expr(regr_slope(y, x) FILTER (WHERE x > Int64(0)))
    """
    if name.startswith("_"):
        raise AttributeError(name)
    scalar_names, aggregate_names, window_names = _builtin_sets()
    if name in scalar_names:

        def scalar(*args: Any) -> Expr:
            return call(name, *args)

        return _named(scalar, name, "scalar")
    if name in aggregate_names:

        def aggregate(
            *args: Any,
            distinct: bool = False,
            filter: Expr | None = None,
            order_by: SortKey | Sequence[SortKey] | None = None,
            null_treatment: NullTreatment | None = None,
        ) -> Expr:
            return _agg(name, args, distinct, filter, order_by, null_treatment)

        return _named(aggregate, name, "aggregate")
    if name in window_names:

        def window(
            *args: Any,
            partition_by: Expr | str | Sequence[Expr | str] | None = None,
            order_by: SortKey | Sequence[SortKey] | None = None,
        ) -> Expr:
            return _window(name, args, partition_by, order_by)

        return _named(window, name, "window")
    raise AttributeError(f"module 'dfship.functions' has no attribute {name!r}")


def _named(fn: Callable[..., Expr], name: str, kind: str) -> Callable[..., Expr]:
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"DataFusion's built-in {kind} function ``{name}``."
    return fn


def call(name: str, *args: Any) -> Expr:
    """Calls any built-in scalar function by name.

    >>> call("abs", col("x"))
    Expr(abs(x))
    """
    return _call(name, *args)


def _agg(
    name: str,
    args: Sequence[Any],
    distinct: bool = False,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
    null_treatment: NullTreatment | None = None,
) -> Expr:
    return Expr(
        _internal.aggregate_function(
            name,
            [_raw(a) for a in args],
            distinct,
            None if filter is None else filter.raw,
            _sort_list(order_by),
            _ignore_nulls(null_treatment),
        )
    )


def _window(
    name: str,
    args: Sequence[Any],
    partition_by: Expr | str | Sequence[Expr | str] | None,
    order_by: SortKey | Sequence[SortKey] | None,
) -> Expr:
    expr = Expr(_internal.window_function(name, [_raw(a) for a in args]))
    if partition_by is None and order_by is None:
        return expr
    return expr.over(Window(partition_by=partition_by, order_by=order_by))


# -- conditional -------------------------------------------------------------


def case(expr: Expr) -> CaseBuilder:
    """``CASE expr WHEN value THEN result ... END``: compares ``expr`` with each value."""
    return CaseBuilder(expr)


def when(when: Any, then: Any) -> CaseBuilder:
    """``CASE WHEN condition THEN result ... END``: the first true condition wins."""
    return CaseBuilder(None).when(when, then)


def in_list(arg: Expr, values: Sequence[Any], negated: bool = False) -> Expr:
    """True where ``arg`` is one of ``values``.

    >>> in_list(col("a"), [1, 2])
    Expr(a IN ([Int64(1), Int64(2)]))
    """
    return arg.in_list(values, negated)


def column(name: str) -> Expr:
    return col(name)


def literal(value: Any) -> Expr:
    return lit(value)


# -- math, strings, dates, arrays ---------------------------------------------


def log(base: Any, num: Any) -> Expr:
    """Logarithm of ``num`` to ``base``."""
    return call("log", base, num)


def round(value: Any, decimal_places: Any = None) -> Expr:
    """Rounds to ``decimal_places`` (default 0)."""
    return call("round", value) if decimal_places is None else call("round", value, decimal_places)


def substr(string: Any, position: Any, length: Any = None) -> Expr:
    """The substring from 1-based ``position``, of ``length`` characters (default: to the end)."""
    if length is None:
        return call("substr", string, position)
    return call("substr", string, position, length)


substring = substr


def lpad(string: Any, count: Any, characters: Any = None) -> Expr:
    """Left-pads to ``count`` characters (with spaces by default)."""
    return (
        call("lpad", string, count)
        if characters is None
        else call("lpad", string, count, characters)
    )


def rpad(string: Any, count: Any, characters: Any = None) -> Expr:
    """Right-pads to ``count`` characters (with spaces by default)."""
    return (
        call("rpad", string, count)
        if characters is None
        else call("rpad", string, count, characters)
    )


def concat_ws(separator: Any, *args: Any) -> Expr:
    """Concatenates ``args`` with ``separator`` between them, skipping nulls."""
    return call("concat_ws", separator, *args)


def regexp_replace(string: Any, pattern: Any, replacement: Any, flags: Any = None) -> Expr:
    """Replaces matches of ``pattern`` (``flags="g"`` for all matches)."""
    if flags is None:
        return call("regexp_replace", string, pattern, replacement)
    return call("regexp_replace", string, pattern, replacement, flags)


def to_timestamp(arg: Any, *formatters: Any) -> Expr:
    """Parses or converts to a nanosecond timestamp (chrono ``formatters`` optional)."""
    return call("to_timestamp", arg, *formatters)


def to_timestamp_seconds(arg: Any, *formatters: Any) -> Expr:
    return call("to_timestamp_seconds", arg, *formatters)


def to_timestamp_millis(arg: Any, *formatters: Any) -> Expr:
    return call("to_timestamp_millis", arg, *formatters)


def to_timestamp_micros(arg: Any, *formatters: Any) -> Expr:
    return call("to_timestamp_micros", arg, *formatters)


def to_char(arg: Any, formatter: Any) -> Expr:
    """Formats a date or timestamp with a chrono format string."""
    return call("to_char", arg, formatter)


def abs(arg: Any) -> Expr:
    return call("abs", arg)


def acos(arg: Any) -> Expr:
    return call("acos", arg)


def acosh(arg: Any) -> Expr:
    return call("acosh", arg)


def ascii(arg: Any) -> Expr:
    return call("ascii", arg)


def asin(arg: Any) -> Expr:
    return call("asin", arg)


def asinh(arg: Any) -> Expr:
    return call("asinh", arg)


def atan(arg: Any) -> Expr:
    return call("atan", arg)


def atanh(arg: Any) -> Expr:
    return call("atanh", arg)


def bit_length(arg: Any) -> Expr:
    return call("bit_length", arg)


def btrim(arg: Any) -> Expr:
    return call("btrim", arg)


def cbrt(arg: Any) -> Expr:
    return call("cbrt", arg)


def ceil(arg: Any) -> Expr:
    return call("ceil", arg)


def character_length(arg: Any) -> Expr:
    return call("character_length", arg)


def chr(arg: Any) -> Expr:
    return call("chr", arg)


def cos(arg: Any) -> Expr:
    return call("cos", arg)


def cosh(arg: Any) -> Expr:
    return call("cosh", arg)


def cot(arg: Any) -> Expr:
    return call("cot", arg)


def degrees(arg: Any) -> Expr:
    return call("degrees", arg)


def exp(arg: Any) -> Expr:
    return call("exp", arg)


def factorial(arg: Any) -> Expr:
    return call("factorial", arg)


def floor(arg: Any) -> Expr:
    return call("floor", arg)


def iszero(arg: Any) -> Expr:
    return call("iszero", arg)


def ln(arg: Any) -> Expr:
    return call("ln", arg)


def log10(arg: Any) -> Expr:
    return call("log10", arg)


def log2(arg: Any) -> Expr:
    return call("log2", arg)


def lower(arg: Any) -> Expr:
    return call("lower", arg)


def ltrim(arg: Any) -> Expr:
    return call("ltrim", arg)


def md5(arg: Any) -> Expr:
    return call("md5", arg)


def octet_length(arg: Any) -> Expr:
    return call("octet_length", arg)


def radians(arg: Any) -> Expr:
    return call("radians", arg)


def reverse(arg: Any) -> Expr:
    return call("reverse", arg)


def rtrim(arg: Any) -> Expr:
    return call("rtrim", arg)


def sha224(arg: Any) -> Expr:
    return call("sha224", arg)


def sha256(arg: Any) -> Expr:
    return call("sha256", arg)


def sha384(arg: Any) -> Expr:
    return call("sha384", arg)


def sha512(arg: Any) -> Expr:
    return call("sha512", arg)


def signum(arg: Any) -> Expr:
    return call("signum", arg)


def sin(arg: Any) -> Expr:
    return call("sin", arg)


def sinh(arg: Any) -> Expr:
    return call("sinh", arg)


def sqrt(arg: Any) -> Expr:
    return call("sqrt", arg)


def tan(arg: Any) -> Expr:
    return call("tan", arg)


def tanh(arg: Any) -> Expr:
    return call("tanh", arg)


def to_hex(arg: Any) -> Expr:
    return call("to_hex", arg)


def upper(arg: Any) -> Expr:
    return call("upper", arg)


def arrow_typeof(arg: Any) -> Expr:
    return call("arrow_typeof", arg)


def from_unixtime(arg: Any) -> Expr:
    return call("from_unixtime", arg)


def trim(arg: Any) -> Expr:
    return call("trim", arg)


def atan2(y: Any, x: Any) -> Expr:
    return call("atan2", y, x)


def power(base: Any, exponent: Any) -> Expr:
    return call("power", base, exponent)


def pow(base: Any, exponent: Any) -> Expr:
    return call("pow", base, exponent)


def gcd(x: Any, y: Any) -> Expr:
    return call("gcd", x, y)


def lcm(x: Any, y: Any) -> Expr:
    return call("lcm", x, y)


def nanvl(x: Any, y: Any) -> Expr:
    return call("nanvl", x, y)


def left(string: Any, n: Any) -> Expr:
    return call("left", string, n)


def right(string: Any, n: Any) -> Expr:
    return call("right", string, n)


def repeat(string: Any, n: Any) -> Expr:
    return call("repeat", string, n)


def starts_with(string: Any, prefix: Any) -> Expr:
    return call("starts_with", string, prefix)


def strpos(string: Any, substring: Any) -> Expr:
    return call("strpos", string, substring)


def instr(string: Any, substring: Any) -> Expr:
    return call("instr", string, substring)


def levenshtein(string1: Any, string2: Any) -> Expr:
    return call("levenshtein", string1, string2)


def nullif(expr1: Any, expr2: Any) -> Expr:
    return call("nullif", expr1, expr2)


def ifnull(x: Any, y: Any) -> Expr:
    return call("ifnull", x, y)


def nvl(x: Any, y: Any) -> Expr:
    return call("nvl", x, y)


def array_element(array: Any, n: Any) -> Expr:
    return call("array_element", array, n)


def array_append(array: Any, element: Any) -> Expr:
    return call("array_append", array, element)


def array_prepend(element: Any, array: Any) -> Expr:
    return call("array_prepend", element, array)


def array_remove(array: Any, element: Any) -> Expr:
    return call("array_remove", array, element)


def find_in_set(string: Any, string_list: Any) -> Expr:
    return call("find_in_set", string, string_list)


def split_part(string: Any, delimiter: Any, index: Any) -> Expr:
    return call("split_part", string, delimiter, index)


def nvl2(x: Any, y: Any, z: Any) -> Expr:
    return call("nvl2", x, y, z)


def make_date(year: Any, month: Any, day: Any) -> Expr:
    return call("make_date", year, month, day)


def concat(*args: Any) -> Expr:
    return call("concat", *args)


def coalesce(*args: Any) -> Expr:
    return call("coalesce", *args)


def greatest(*args: Any) -> Expr:
    return call("greatest", *args)


def least(*args: Any) -> Expr:
    return call("least", *args)


def make_array(*args: Any) -> Expr:
    return call("make_array", *args)


def array_concat(*args: Any) -> Expr:
    return call("array_concat", *args)


def now() -> Expr:
    return call("now")


def current_date() -> Expr:
    return call("current_date")


def current_time() -> Expr:
    return call("current_time")


def pi() -> Expr:
    return call("pi")


def random() -> Expr:
    return call("random")


def uuid() -> Expr:
    return call("uuid")


def today() -> Expr:
    return call("today")


# -- aggregates ---------------------------------------------------------------


def count(
    expressions: Expr | Sequence[Expr] | None = None,
    distinct: bool = False,
    filter: Expr | None = None,
) -> Expr:
    """Counts non-null values; with no argument, counts rows.

    >>> count()
    Expr(count(Int64(1)))
    """
    if expressions is None:
        args: list[Any] = [lit(1)]
    elif isinstance(expressions, Expr):
        args = [expressions]
    else:
        args = list(expressions)
    return _agg("count", args, distinct, filter)


def count_star(filter: Expr | None = None) -> Expr:
    """Counts rows."""
    return _agg("count", [lit(1)], False, filter)


def array_agg(
    expression: Expr,
    distinct: bool = False,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
) -> Expr:
    """Collects the values into a list."""
    return _agg("array_agg", [expression], distinct, filter, order_by)


def string_agg(
    expression: Expr,
    delimiter: str,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
) -> Expr:
    """Concatenates the strings with ``delimiter``."""
    return _agg("string_agg", [expression, lit(delimiter)], False, filter, order_by)


def first_value(
    expression: Expr,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
    null_treatment: NullTreatment | None = None,
) -> Expr:
    """The first value in ``order_by`` order."""
    return _agg("first_value", [expression], False, filter, order_by, null_treatment)


def last_value(
    expression: Expr,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
    null_treatment: NullTreatment | None = None,
) -> Expr:
    """The last value in ``order_by`` order."""
    return _agg("last_value", [expression], False, filter, order_by, null_treatment)


def corr(value_y: Expr, value_x: Expr, filter: Expr | None = None) -> Expr:
    """Pearson correlation coefficient."""
    return _agg("corr", [value_y, value_x], False, filter)


def covar_samp(value_y: Expr, value_x: Expr, filter: Expr | None = None) -> Expr:
    return _agg("covar_samp", [value_y, value_x], False, filter)


def covar_pop(value_y: Expr, value_x: Expr, filter: Expr | None = None) -> Expr:
    return _agg("covar_pop", [value_y, value_x], False, filter)


covar = covar_samp


def sum(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("sum", [expression], distinct, filter)


def avg(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("avg", [expression], distinct, filter)


def median(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("median", [expression], distinct, filter)


def bit_xor(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("bit_xor", [expression], distinct, filter)


def stddev(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("stddev", [expression], False, filter)


def stddev_pop(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("stddev_pop", [expression], False, filter)


def var(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("var", [expression], False, filter)


def var_pop(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("var_pop", [expression], False, filter)


def var_samp(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("var_samp", [expression], False, filter)


def bool_and(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("bool_and", [expression], False, filter)


def bool_or(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("bool_or", [expression], False, filter)


def approx_median(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("approx_median", [expression], False, filter)


stddev_samp = stddev
var_sample = var_samp


# -- window functions ---------------------------------------------------------

PartitionBy = Expr | str | Sequence[Expr | str] | None
OrderBy = SortKey | Sequence[SortKey] | None


def row_number(partition_by: PartitionBy = None, order_by: OrderBy = None) -> Expr:
    """1, 2, 3, ... within each partition."""
    return _window("row_number", [], partition_by, order_by)


def rank(partition_by: PartitionBy = None, order_by: OrderBy = None) -> Expr:
    """Rank with gaps after ties."""
    return _window("rank", [], partition_by, order_by)


def dense_rank(partition_by: PartitionBy = None, order_by: OrderBy = None) -> Expr:
    """Rank without gaps after ties."""
    return _window("dense_rank", [], partition_by, order_by)


def percent_rank(partition_by: PartitionBy = None, order_by: OrderBy = None) -> Expr:
    """Relative rank, from 0 to 1."""
    return _window("percent_rank", [], partition_by, order_by)


def cume_dist(partition_by: PartitionBy = None, order_by: OrderBy = None) -> Expr:
    """Cumulative distribution: share of rows at or before this one."""
    return _window("cume_dist", [], partition_by, order_by)


def ntile(groups: int, partition_by: PartitionBy = None, order_by: OrderBy = None) -> Expr:
    """Splits the partition into ``groups`` buckets, numbered from 1."""
    return _window("ntile", [lit(groups)], partition_by, order_by)


def lag(
    arg: Expr,
    shift_offset: int = 1,
    default_value: Any = None,
    partition_by: PartitionBy = None,
    order_by: OrderBy = None,
) -> Expr:
    """The value ``shift_offset`` rows before, or ``default_value``."""
    return _window("lag", [arg, lit(shift_offset), lit(default_value)], partition_by, order_by)


def lead(
    arg: Expr,
    shift_offset: int = 1,
    default_value: Any = None,
    partition_by: PartitionBy = None,
    order_by: OrderBy = None,
) -> Expr:
    """The value ``shift_offset`` rows after, or ``default_value``."""
    return _window("lead", [arg, lit(shift_offset), lit(default_value)], partition_by, order_by)


# -- signatures shared with the `datafusion` package ----------------------------


def _alias(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn`` under another name (its own ``__name__``, as a function of
    that name would have)."""

    @functools.wraps(fn)
    def alias(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = name
    return alias


def _opt(*args: Any) -> list[Any]:
    """``args`` up to the first ``None``: the trailing optional arguments
    of a call that were given."""
    given: list[Any] = []
    for a in args:
        if a is None:
            break
        given.append(a)
    return given


def alias(expr: Expr, name: str, metadata: dict[str, str] | None = None) -> Expr:
    """``expr AS name``, with field ``metadata`` when given."""
    return expr.alias(name, metadata=metadata)


def approx_distinct(expression: Expr, filter: Expr | None = None) -> Expr:
    """Approximate count of distinct values (HyperLogLog)."""
    return _agg("approx_distinct", [expression], False, filter)


def _sorted_by(key: SortKey) -> tuple[Expr, SortKey]:
    """The value an ordered-set aggregate reads, and the ordering it reads it in."""
    if isinstance(key, SortExpr):
        return key.expr(), key
    value = col(key) if isinstance(key, str) else key
    return value, value


def approx_percentile_cont(
    sort_expression: Expr | SortExpr,
    percentile: float,
    num_centroids: int | None = None,
    filter: Expr | None = None,
) -> Expr:
    """Approximate ``percentile`` (0 to 1) of the values, read in the order of
    ``sort_expression`` (t-digest with ``num_centroids`` centroids)."""
    value, order = _sorted_by(sort_expression)
    args = [value, lit(percentile), *_opt(num_centroids)]
    return _agg("approx_percentile_cont", args, False, filter, order)


def approx_percentile_cont_with_weight(
    sort_expression: Expr | SortExpr,
    weight: Expr,
    percentile: float,
    num_centroids: int | None = None,
    filter: Expr | None = None,
) -> Expr:
    """:func:`approx_percentile_cont` with each value counted ``weight`` times."""
    value, order = _sorted_by(sort_expression)
    args = [value, weight, lit(percentile), *_opt(num_centroids)]
    return _agg("approx_percentile_cont_with_weight", args, False, filter, order)


def percentile_cont(
    sort_expression: Expr | SortExpr, percentile: float, filter: Expr | None = None
) -> Expr:
    """Exact ``percentile`` (0 to 1) of the values, interpolated between neighbours."""
    value, order = _sorted_by(sort_expression)
    return _agg("percentile_cont", [value, lit(percentile)], False, filter, order)


quantile_cont = _alias(percentile_cont, "quantile_cont")


def array_dims(array: Any) -> Expr:
    return call("array_dims", array)


def array_distinct(array: Any) -> Expr:
    return call("array_distinct", array)


def array_has(first_array: Any, second_array: Any) -> Expr:
    """True where ``first_array`` holds ``second_array`` (an element)."""
    return call("array_has", first_array, second_array)


def array_length(array: Any) -> Expr:
    return call("array_length", array)


def array_ndims(array: Any) -> Expr:
    return call("array_ndims", array)


def array_position(array: Any, element: Any, index: int | None = 1) -> Expr:
    """1-based position of ``element`` in ``array``, searching from ``index``."""
    return call("array_position", array, element, *_opt(index))


array_indexof = _alias(array_position, "array_indexof")
list_position = _alias(array_position, "list_position")
list_indexof = _alias(array_position, "list_indexof")


def array_replace(array: Any, from_val: Any, to_val: Any) -> Expr:
    """``array`` with the first ``from_val`` replaced by ``to_val``."""
    return call("array_replace", array, from_val, to_val)


def array_reverse(array: Any) -> Expr:
    return call("array_reverse", array)


def array_slice(array: Any, begin: Any, end: Any, stride: Any = None) -> Expr:
    """Elements ``begin`` to ``end`` (1-based, inclusive), every ``stride``-th."""
    return call("array_slice", array, begin, end, *_opt(stride))


list_slice = _alias(array_slice, "list_slice")


def array_sort(array: Any, descending: bool = False, null_first: bool = False) -> Expr:
    """``array`` sorted, ascending by default, nulls last by default."""
    return call(
        "array_sort",
        array,
        "DESC" if descending else "ASC",
        "NULLS FIRST" if null_first else "NULLS LAST",
    )


list_sort = _alias(array_sort, "list_sort")


def array(*args: Any) -> Expr:
    """An array of the arguments (``make_array``)."""
    return call("make_array", *args)


def bit_and(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("bit_and", [expression], False, filter)


def bit_or(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("bit_or", [expression], False, filter)


def cardinality(array: Any) -> Expr:
    return call("cardinality", array)


def char_length(string: Any) -> Expr:
    return call("char_length", string)


def contains(string: Any, search_str: Any) -> Expr:
    return call("contains", string, search_str)


def ends_with(arg: Any, suffix: Any) -> Expr:
    return call("ends_with", arg, suffix)


def flatten(array: Any) -> Expr:
    return call("flatten", array)


def initcap(string: Any) -> Expr:
    return call("initcap", string)


def isnan(expr: Any) -> Expr:
    return call("isnan", expr)


is_nan = _alias(isnan, "is_nan")


def length(string: Any) -> Expr:
    return call("length", string)


def max(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("max", [expression], False, filter)


def min(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("min", [expression], False, filter)


def mean(expression: Expr, filter: Expr | None = None) -> Expr:
    return _agg("avg", [expression], False, filter)


def nth_value(
    expression: Expr,
    n: int,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
    null_treatment: NullTreatment = NullTreatment.RESPECT_NULLS,
) -> Expr:
    """The ``n``-th value (1-based) in ``order_by`` order."""
    return _agg("nth_value", [expression, lit(n)], False, filter, order_by, null_treatment)


def overlay(string: Any, substring: Any, start: Any, length: Any = None) -> Expr:
    """``string`` with ``length`` characters from ``start`` replaced by ``substring``."""
    return call("overlay", string, substring, start, *_opt(length))


def regexp_count(string: Any, pattern: Any, start: Any = None, flags: Any = None) -> Expr:
    """How often ``pattern`` matches, from character ``start`` (1-based)."""
    if start is None and flags is not None:
        start = 1
    return call("regexp_count", string, pattern, *_opt(start, flags))


def regexp_instr(
    values: Any,
    regex: Any,
    start: Any = None,
    n: Any = None,
    flags: Any = None,
    sub_expr: Any = None,
) -> Expr:
    """1-based position of the ``n``-th match of ``regex`` (or of capture group ``sub_expr``)."""
    given = [start, n, flags, sub_expr]
    last = next((i for i in range(3, -1, -1) if given[i] is not None), -1)
    defaults = [1, 1, "", 0]
    rest = [defaults[i] if given[i] is None else given[i] for i in range(last + 1)]
    return call("regexp_instr", values, regex, *rest)


def regexp_like(string: Any, regex: Any, flags: Any = None) -> Expr:
    """True where ``regex`` matches."""
    return call("regexp_like", string, regex, *_opt(flags))


def regexp_match(string: Any, regex: Any, flags: Any = None) -> Expr:
    """The first match of ``regex``: a list of its capture groups."""
    return call("regexp_match", string, regex, *_opt(flags))


def replace(string: Any, from_val: Any, to_val: Any) -> Expr:
    return call("replace", string, from_val, to_val)


def string_to_array(string: Any, delimiter: Any, null_string: Any = None) -> Expr:
    """``string`` split at ``delimiter``; parts equal to ``null_string`` become null."""
    return call("string_to_array", string, delimiter, *_opt(null_string))


string_to_list = _alias(string_to_array, "string_to_list")


def to_date(arg: Any, *formatters: Any) -> Expr:
    """Parses or converts to a date (chrono ``formatters`` optional)."""
    return call("to_date", arg, *formatters)


def to_unixtime(string: Any, *format_arguments: Any) -> Expr:
    """Seconds since the epoch (chrono ``format_arguments`` for strings)."""
    return call("to_unixtime", string, *format_arguments)


def translate(string: Any, from_val: Any, to_val: Any) -> Expr:
    return call("translate", string, from_val, to_val)


def trunc(num: Any, precision: Any = None) -> Expr:
    """Truncates toward zero, to ``precision`` decimal places (default 0)."""
    return call("trunc", num, *_opt(precision))


def generate_series(start: Any, stop: Any, step: Any = None) -> Expr:
    """The list ``start``, ``start + step``, ... up to ``stop`` inclusive."""
    return call("generate_series", start, stop, *_opt(step))


gen_series = _alias(generate_series, "gen_series")


def list_min(array: Any) -> Expr:
    return call("array_min", array)


def list_overlap(first_array: Any, second_array: Any) -> Expr:
    return call("array_has_any", first_array, second_array)


def union_extract(union_expr: Any, field_name: Any) -> Expr:
    """The value of union member ``field_name`` where it is the active one, else null."""
    return call("union_extract", union_expr, _utf8(field_name))


def make_map(*args: Any) -> Expr:
    """A map from a dict, from a list of keys and a list of values, or from
    alternating keys and values."""
    if len(args) == 1 and isinstance(args[0], dict):
        keys, values = list(args[0]), list(args[0].values())
    elif len(args) == 2 and isinstance(args[0], list) and isinstance(args[1], list):
        keys, values = args
        if len(keys) != len(values):
            raise ValueError("make_map expects key and value lists of the same length")
    elif args and len(args) % 2 == 0:
        keys, values = list(args[0::2]), list(args[1::2])
    else:
        raise ValueError(
            "make_map expects a dict, two lists, or an even number of alternating keys and values"
        )
    return call("map", call("make_array", *keys), call("make_array", *values))


def order_by(expr: Expr, ascending: bool = True, nulls_first: bool = True) -> SortExpr:
    """``expr`` as a sort key."""
    return expr.sort(ascending=ascending, nulls_first=nulls_first)


def _literal_arg(value: Any, function: str, arg: str) -> Any:
    """An argument that names a constant (an encoding, a type, a date part):
    given as an expression it still works, with a DeprecationWarning, as in
    the ``datafusion`` package."""
    if isinstance(value, Expr):
        warnings.warn(
            f"Passing Expr for {function}() argument {arg!r} is deprecated; "
            "pass a Python value instead.",
            DeprecationWarning,
            stacklevel=3,
        )
    return value


def _utf8(value: Any) -> Any:
    return Expr.string_literal(value) if isinstance(value, str) else value


def encode(expr: Any, encoding: Any) -> Expr:
    """``expr`` (binary or string) encoded as ``"base64"`` or ``"hex"`` text."""
    return call("encode", expr, _literal_arg(encoding, "encode", "encoding"))


def decode(expr: Any, encoding: Any) -> Expr:
    """``"base64"`` or ``"hex"`` text decoded to binary."""
    return call("decode", expr, _literal_arg(encoding, "decode", "encoding"))


def digest(value: Any, method: Any) -> Expr:
    """A hash of ``value`` by ``method`` (``"md5"``, ``"sha256"``, ``"blake3"``, ...)."""
    return call("digest", value, _literal_arg(method, "digest", "method"))


def arrow_cast(expr: Expr, data_type: Any) -> Expr:
    """``expr`` cast to ``data_type``: a ``pyarrow.DataType`` or DataFusion's
    name of one (``"Float64"``, ``"Timestamp(ns)"``)."""
    data_type = _literal_arg(data_type, "arrow_cast", "data_type")
    if isinstance(data_type, pa.DataType):
        return expr.cast(data_type)
    return call("arrow_cast", expr, _utf8(data_type))


def arrow_try_cast(expr: Expr, data_type: Any) -> Expr:
    """:func:`arrow_cast` giving null where a value does not convert."""
    data_type = _literal_arg(data_type, "arrow_try_cast", "data_type")
    if isinstance(data_type, pa.DataType):
        return expr.try_cast(data_type)
    return call("arrow_try_cast", expr, _utf8(data_type))


def arrow_metadata(expr: Any, key: Any = None) -> Expr:
    """The field metadata of ``expr``: all of it as a map, or the value of ``key``."""
    if key is None:
        return call("arrow_metadata", expr)
    return call("arrow_metadata", expr, _utf8(_literal_arg(key, "arrow_metadata", "key")))


def with_metadata(expr: Expr, metadata: dict[str, str]) -> Expr:
    """``expr`` with ``metadata`` added to its field."""
    if not metadata:
        return expr
    args: list[Any] = [expr]
    for key, value in metadata.items():
        if not key:
            raise ValueError("with_metadata takes non-empty keys")
        args.extend((Expr.string_literal(key), Expr.string_literal(value)))
    return call("with_metadata", *args)


def named_struct(*pairs: Any) -> Expr:
    """A struct from ``(name, value)`` pairs, given as one list or one by one."""
    if len(pairs) == 1 and isinstance(pairs[0], list):
        pairs = tuple(pairs[0])
    args: list[Any] = []
    for name, value in pairs:
        args.extend((Expr.string_literal(name), value))
    return call("named_struct", *args)


def get_field(expr: Any, *names: Any) -> Expr:
    """A field of a struct or a map's value, or a nested one given a path of names."""
    if not names:
        raise ValueError("get_field takes at least one field name")
    return call("get_field", expr, *(_utf8(n) for n in names))


def _date_part(part: Any, date: Any, function: str) -> Expr:
    return call("date_part", _literal_arg(part, function, "part"), date)


def date_part(part: Any, date: Any) -> Expr:
    """A field (``"year"``, ``"month"``, ...) of a date or timestamp."""
    return _date_part(part, date, "date_part")


def datepart(part: Any, date: Any) -> Expr:
    return _date_part(part, date, "datepart")


def extract(part: Any, date: Any) -> Expr:
    return _date_part(part, date, "extract")


def _date_trunc(part: Any, date: Any, function: str) -> Expr:
    return call("date_trunc", _literal_arg(part, function, "part"), date)


def date_trunc(part: Any, date: Any) -> Expr:
    """``date`` truncated to ``part`` (``"day"``, ``"month"``, ...)."""
    return _date_trunc(part, date, "date_trunc")


def datetrunc(part: Any, date: Any) -> Expr:
    return _date_trunc(part, date, "datetrunc")


def date_bin(stride: Any, source: Any, origin: Any) -> Expr:
    """``source`` binned into intervals of ``stride`` counted from ``origin``."""
    return call("date_bin", _utf8(stride), _utf8(source), _utf8(origin))


# -- lambdas and higher-order functions ---------------------------------------


def lambda_var(name: str) -> Expr:
    """Variable ``name`` of a lambda (see :func:`lambda_`)."""
    return Expr(_internal.lambda_variable(name))


def lambda_(params: list[str], body: Expr) -> Expr:
    """``(params) -> body``: a lambda for a higher-order function, its body
    written with :func:`lambda_var`.

    >>> array_transform(col("a"), lambda_(["v"], lambda_var("v") + 1))
    Expr(array_transform(a, (v) -> v + Int64(1)))
    """
    return Expr(_internal.lambda_function(list(params), _raw(body)))


def _to_lambda(fn: Expr | Callable[..., Any]) -> Expr:
    """A lambda expression as given, or made from a Python function: each of
    its parameters becomes a lambda variable of the same name."""
    if isinstance(fn, Expr):
        return fn
    if not callable(fn):
        raise TypeError(f"expected an Expr or callable for a lambda, not {type(fn).__name__}")
    params = [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not params:
        raise ValueError("a lambda takes at least one parameter")
    body = fn(*(lambda_var(p) for p in params))
    return lambda_(params, body if isinstance(body, Expr) else lit(body))


def _higher_order(name: str, array: Any, fn: Expr | Callable[..., Any]) -> Expr:
    return Expr(_internal.higher_order_function(name, [_raw(array), _raw(_to_lambda(fn))]))


def array_transform(array: Any, transform: Expr | Callable[..., Any]) -> Expr:
    """``transform`` applied to every element: ``array_transform(col("a"), lambda v: v * 2)``."""
    return _higher_order("array_transform", array, transform)


def array_filter(array: Any, predicate: Expr | Callable[..., Any]) -> Expr:
    """The elements for which ``predicate`` is true."""
    return _higher_order("array_filter", array, predicate)


def array_any_match(array: Any, predicate: Expr | Callable[..., Any]) -> Expr:
    """True where ``predicate`` holds for at least one element."""
    return _higher_order("array_any_match", array, predicate)


list_transform = _alias(array_transform, "list_transform")
list_filter = _alias(array_filter, "list_filter")
any_match = _alias(array_any_match, "any_match")
list_any_match = _alias(array_any_match, "list_any_match")

# Spark-compatible functions, as ``functions.spark`` (``from dfship.functions import spark``).
from dfship import spark_functions as spark  # noqa: E402, F401
