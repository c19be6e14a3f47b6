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
from collections.abc import Callable, Sequence
from typing import Any

from dfship import _internal
from dfship.expr import (
    CaseBuilder,
    Expr,
    NullTreatment,
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
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
    "array_agg",
    "array_append",
    "array_concat",
    "array_dims",
    "array_distinct",
    "array_element",
    "array_has",
    "array_length",
    "array_ndims",
    "array_position",
    "array_prepend",
    "array_remove",
    "array_replace",
    "array_reverse",
    "array_slice",
    "array_sort",
    "arrow_cast",
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
    "degrees",
    "dense_rank",
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
    "get_field",
    "greatest",
    "ifnull",
    "in_list",
    "initcap",
    "instr",
    "isnan",
    "iszero",
    "lag",
    "last_value",
    "lcm",
    "lead",
    "least",
    "left",
    "length",
    "levenshtein",
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
    "percent_rank",
    "pi",
    "pow",
    "power",
    "radians",
    "random",
    "rank",
    "regexp_count",
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
    "upper",
    "uuid",
    "var",
    "var_pop",
    "var_samp",
    "var_sample",
    "when",
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


def alias(expr: Expr, name: str) -> Expr:
    return expr.alias(name)


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


def trunc(value: Any, precision: Any = None) -> Expr:
    """Truncates toward zero, to ``precision`` decimal places (default 0)."""
    return call("trunc", value) if precision is None else call("trunc", value, precision)


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


def extract(part: Any, date: Any) -> Expr:
    """A field (``"year"``, ``"month"``, ...) of a date or timestamp."""
    return call("date_part", part, date)


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


def named_struct(*pairs: tuple[str, Any]) -> Expr:
    """A struct from ``(name, value)`` pairs."""
    args: list[Any] = []
    for name, value in pairs:
        args.extend((lit(name), value))
    return call("named_struct", *args)


def get_field(expr: Any, name: Any) -> Expr:
    """A field of a struct (or a map value)."""
    return call("get_field", expr, name)


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


def cardinality(arg: Any) -> Expr:
    return call("cardinality", arg)


def cbrt(arg: Any) -> Expr:
    return call("cbrt", arg)


def ceil(arg: Any) -> Expr:
    return call("ceil", arg)


def char_length(arg: Any) -> Expr:
    return call("char_length", arg)


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


def initcap(arg: Any) -> Expr:
    return call("initcap", arg)


def isnan(arg: Any) -> Expr:
    return call("isnan", arg)


def iszero(arg: Any) -> Expr:
    return call("iszero", arg)


def length(arg: Any) -> Expr:
    return call("length", arg)


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


def flatten(arg: Any) -> Expr:
    return call("flatten", arg)


def array_length(arg: Any) -> Expr:
    return call("array_length", arg)


def array_dims(arg: Any) -> Expr:
    return call("array_dims", arg)


def array_ndims(arg: Any) -> Expr:
    return call("array_ndims", arg)


def array_distinct(arg: Any) -> Expr:
    return call("array_distinct", arg)


def array_sort(arg: Any) -> Expr:
    return call("array_sort", arg)


def array_reverse(arg: Any) -> Expr:
    return call("array_reverse", arg)


def to_unixtime(arg: Any) -> Expr:
    return call("to_unixtime", arg)


def from_unixtime(arg: Any) -> Expr:
    return call("from_unixtime", arg)


def to_date(arg: Any) -> Expr:
    return call("to_date", arg)


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


def ends_with(string: Any, suffix: Any) -> Expr:
    return call("ends_with", string, suffix)


def strpos(string: Any, substring: Any) -> Expr:
    return call("strpos", string, substring)


def instr(string: Any, substring: Any) -> Expr:
    return call("instr", string, substring)


def contains(string: Any, search: Any) -> Expr:
    return call("contains", string, search)


def levenshtein(string1: Any, string2: Any) -> Expr:
    return call("levenshtein", string1, string2)


def nullif(expr1: Any, expr2: Any) -> Expr:
    return call("nullif", expr1, expr2)


def ifnull(x: Any, y: Any) -> Expr:
    return call("ifnull", x, y)


def nvl(x: Any, y: Any) -> Expr:
    return call("nvl", x, y)


def date_trunc(part: Any, date: Any) -> Expr:
    return call("date_trunc", part, date)


def datetrunc(part: Any, date: Any) -> Expr:
    return call("datetrunc", part, date)


def date_part(part: Any, date: Any) -> Expr:
    return call("date_part", part, date)


def datepart(part: Any, date: Any) -> Expr:
    return call("datepart", part, date)


def array_element(array: Any, n: Any) -> Expr:
    return call("array_element", array, n)


def array_has(array: Any, element: Any) -> Expr:
    return call("array_has", array, element)


def array_append(array: Any, element: Any) -> Expr:
    return call("array_append", array, element)


def array_prepend(element: Any, array: Any) -> Expr:
    return call("array_prepend", element, array)


def array_position(array: Any, element: Any) -> Expr:
    return call("array_position", array, element)


def array_remove(array: Any, element: Any) -> Expr:
    return call("array_remove", array, element)


def arrow_cast(expr: Any, data_type: Any) -> Expr:
    return call("arrow_cast", expr, data_type)


def regexp_like(string: Any, pattern: Any) -> Expr:
    return call("regexp_like", string, pattern)


def regexp_match(string: Any, pattern: Any) -> Expr:
    return call("regexp_match", string, pattern)


def regexp_count(string: Any, pattern: Any) -> Expr:
    return call("regexp_count", string, pattern)


def find_in_set(string: Any, string_list: Any) -> Expr:
    return call("find_in_set", string, string_list)


def replace(string: Any, from_: Any, to: Any) -> Expr:
    return call("replace", string, from_, to)


def translate(string: Any, from_: Any, to: Any) -> Expr:
    return call("translate", string, from_, to)


def split_part(string: Any, delimiter: Any, index: Any) -> Expr:
    return call("split_part", string, delimiter, index)


def nvl2(x: Any, y: Any, z: Any) -> Expr:
    return call("nvl2", x, y, z)


def make_date(year: Any, month: Any, day: Any) -> Expr:
    return call("make_date", year, month, day)


def date_bin(stride: Any, source: Any, origin: Any) -> Expr:
    return call("date_bin", stride, source, origin)


def array_slice(array: Any, begin: Any, end: Any) -> Expr:
    return call("array_slice", array, begin, end)


def array_replace(array: Any, from_: Any, to: Any) -> Expr:
    return call("array_replace", array, from_, to)


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


def nth_value(
    expression: Expr,
    n: int,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
) -> Expr:
    """The ``n``-th value (1-based) in ``order_by`` order."""
    return _agg("nth_value", [expression, lit(n)], False, filter, order_by)


def approx_percentile_cont(expression: Expr, percentile: float, filter: Expr | None = None) -> Expr:
    """An approximate percentile (0 to 1) of a numeric column."""
    return _agg("approx_percentile_cont", [expression, lit(percentile)], False, filter)


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


def mean(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("avg", [expression], distinct, filter)


def min(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("min", [expression], distinct, filter)


def max(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("max", [expression], distinct, filter)


def median(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("median", [expression], distinct, filter)


def approx_distinct(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("approx_distinct", [expression], distinct, filter)


def bit_and(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("bit_and", [expression], distinct, filter)


def bit_or(expression: Expr, distinct: bool = False, filter: Expr | None = None) -> Expr:
    return _agg("bit_or", [expression], distinct, filter)


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
