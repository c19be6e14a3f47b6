# Licensed under the Apache License, Version 2.0.
"""Spark-compatible functions, from DataFusion's ``datafusion-spark`` library.

Reached as ``dfship.functions.spark`` (``from dfship.functions import spark``).
Each function builds an expression calling the Spark implementation, whose
semantics follow Apache Spark where they differ from DataFusion's built-in
of the same name: ``concat`` is NULL when any input is, ``round`` rounds half
up, ``like`` takes Spark's pattern rules.

Arguments follow pyspark's conventions. Where pyspark takes a column or a
column name, a plain ``str`` names a column (``like(col("s"), "pat")``
matches against the column ``pat``); wrap it in :func:`dfship.lit` for a
literal. Where it takes a value (a format, a unit, a count), a plain Python
value becomes a literal, converted to the 32-bit integer Spark expects where
it needs one.

Expressions built here pickle and travel to workers like any other: the codec
tags Spark functions on the wire, so a receiver rebuilds Spark's
implementation and never DataFusion's built-in of the same name.
:meth:`dfship.SessionContext.enable_spark_functions` makes the same functions
the ones SQL calls.

>>> from dfship import SessionContext, lit
>>> from dfship.functions import spark
>>> df = SessionContext().from_pydict({"x": [1]})
>>> df.select(spark.concat(lit("a"), lit(None), lit("b")).alias("v")).to_pydict()
{'v': [None]}
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from dfship import _internal
from dfship.expr import (
    CaseBuilder,
    Expr,
    NullTreatment,
    SortKey,
    _ignore_nulls,
    _sort_list,
    col,
    lit,
)

__all__ = [
    "abs",
    "add_months",
    "array",
    "array_contains",
    "array_repeat",
    "ascii",
    "avg",
    "base64",
    "bin",
    "bit_count",
    "bit_get",
    "bitmap_bit_position",
    "bitmap_bucket_number",
    "bitmap_count",
    "bitwise_not",
    "ceil",
    "char",
    "collect_list",
    "collect_set",
    "concat",
    "crc32",
    "csc",
    "date_add",
    "date_diff",
    "date_part",
    "date_sub",
    "date_trunc",
    "elt",
    "expm1",
    "factorial",
    "floor",
    "format_string",
    "from_utc_timestamp",
    "hex",
    "hour",
    "if_",
    "ilike",
    "is_valid_utf8",
    "json_tuple",
    "last_day",
    "length",
    "like",
    "luhn_check",
    "make_dt_interval",
    "make_interval",
    "make_valid_utf8",
    "map_from_arrays",
    "map_from_entries",
    "minute",
    "modulus",
    "negative",
    "next_day",
    "parse_url",
    "pmod",
    "rint",
    "round",
    "sec",
    "second",
    "sha1",
    "sha2",
    "shiftleft",
    "shiftright",
    "shiftrightunsigned",
    "shuffle",
    "size",
    "slice",
    "soundex",
    "space",
    "spark_cast",
    "str_to_map",
    "substring",
    "time_trunc",
    "to_utc_timestamp",
    "trunc",
    "try_parse_url",
    "try_sum",
    "try_url_decode",
    "unbase64",
    "unhex",
    "unix_date",
    "unix_micros",
    "unix_millis",
    "unix_seconds",
    "url_decode",
    "url_encode",
    "width_bucket",
    "xxhash64",
]

ColumnOrName = Expr | str


def _column(value: Any) -> Expr:
    """A column-or-name argument: an expression as is, a ``str`` as a column."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, str):
        return col(value)
    return lit(value)


def _value(value: Any) -> Expr:
    """A value argument: an expression as is, anything else as a literal."""
    return value if isinstance(value, Expr) else lit(value)


def _int32(value: Any) -> Expr:
    """A value argument Spark wants as a 32-bit integer."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an Expr or an int, not {type(value).__name__}")
    return lit(pa.scalar(value, type=pa.int32()))


def _call(name: str, *args: Expr) -> Expr:
    return Expr(_internal.scalar_function(name, [a._raw for a in args], "spark"))


def _aggregate(
    name: str,
    column: ColumnOrName,
    distinct: bool | None,
    filter: Expr | None,
    order_by: SortKey | Sequence[SortKey] | None,
    null_treatment: NullTreatment | None,
) -> Expr:
    return Expr(
        _internal.aggregate_function(
            name,
            [_column(column)._raw],
            bool(distinct),
            None if filter is None else filter._raw,
            _sort_list(order_by),
            _ignore_nulls(null_treatment),
            "spark",
        )
    )


def _unsupported(function: str, parameter: str) -> NotImplementedError:
    return NotImplementedError(
        f"{function}({parameter}=...) is not supported by datafusion-spark's {function}"
    )


# -- aggregate ---------------------------------------------------------------


def avg(
    col: ColumnOrName,
    distinct: bool | None = None,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
    null_treatment: NullTreatment | None = None,
) -> Expr:
    """Spark ``avg``: the mean, with Spark's result types."""
    if filter is not None:
        # datafusion-spark 55's grouped avg ignores FILTER; the mean skips
        # NULLs, so averaging only the rows the filter keeps is the same.
        kept = CaseBuilder(None).when(filter, _column(col)).end()
        return _aggregate("avg", kept, distinct, None, order_by, null_treatment)
    return _aggregate("avg", col, distinct, filter, order_by, null_treatment)


def try_sum(
    col: ColumnOrName,
    distinct: bool | None = None,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
    null_treatment: NullTreatment | None = None,
) -> Expr:
    """Spark ``try_sum``: the sum, NULL instead of an error on overflow."""
    return _aggregate("try_sum", col, distinct, filter, order_by, null_treatment)


def collect_list(
    col: ColumnOrName,
    distinct: bool | None = None,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
    null_treatment: NullTreatment | None = None,
) -> Expr:
    """Spark ``collect_list``: the non-null values of a group as an array."""
    return _aggregate("collect_list", col, distinct, filter, order_by, null_treatment)


def collect_set(
    col: ColumnOrName,
    distinct: bool | None = None,
    filter: Expr | None = None,
    order_by: SortKey | Sequence[SortKey] | None = None,
    null_treatment: NullTreatment | None = None,
) -> Expr:
    """Spark ``collect_set``: the distinct non-null values of a group as an array."""
    return _aggregate("collect_set", col, distinct, filter, order_by, null_treatment)


# -- arrays and collections --------------------------------------------------


def array(*cols: ColumnOrName) -> Expr:
    """Spark ``array``: an array of the arguments."""
    return _call("array", *map(_column, cols))


def array_contains(col: ColumnOrName, value: Any) -> Expr:
    """Spark ``array_contains``: true when the array holds ``value``."""
    return _call("array_contains", _column(col), _value(value))


def shuffle(col: ColumnOrName, seed: int | None = None) -> Expr:
    """Spark ``shuffle``: the array in a random order. ``seed`` is not supported."""
    if seed is not None:
        raise _unsupported("shuffle", "seed")
    return _call("shuffle", _column(col))


def array_repeat(col: ColumnOrName, count: Expr | int) -> Expr:
    """Spark ``array_repeat``: an array of ``count`` copies of the value."""
    return _call("array_repeat", _column(col), _value(count))


def slice(x: ColumnOrName, start: Expr | int, length: Expr | int) -> Expr:
    """Spark ``slice``: ``length`` elements from the 1-based ``start``."""
    return _call("slice", _column(x), _value(start), _value(length))


def size(col: ColumnOrName) -> Expr:
    """Spark ``size``: the length of an array or map."""
    return _call("size", _column(col))


def map_from_arrays(col1: ColumnOrName, col2: ColumnOrName) -> Expr:
    """Spark ``map_from_arrays``: a map from an array of keys and one of values."""
    return _call("map_from_arrays", _column(col1), _column(col2))


def map_from_entries(col: ColumnOrName) -> Expr:
    """Spark ``map_from_entries``: a map from an array of key/value structs."""
    return _call("map_from_entries", _column(col))


def str_to_map(
    text: ColumnOrName,
    pairDelim: ColumnOrName | None = None,
    keyValueDelim: ColumnOrName | None = None,
) -> Expr:
    """Spark ``str_to_map``: splits text into a map; delimiters default to
    ``","`` between pairs and ``":"`` within one (as columns or names, like pyspark)."""
    pairs = lit(",") if pairDelim is None else _column(pairDelim)
    within = lit(":") if keyValueDelim is None else _column(keyValueDelim)
    return _call("str_to_map", _column(text), pairs, within)


def json_tuple(col: ColumnOrName, *fields: Expr | str) -> Expr:
    """Spark ``json_tuple``: the named top-level fields of a JSON object, as a struct."""
    return _call("json_tuple", _column(col), *map(_value, fields))


# -- bits and bitmaps --------------------------------------------------------


def bitmap_count(col: ColumnOrName) -> Expr:
    """Spark ``bitmap_count``: the number of set bits in a bitmap."""
    return _call("bitmap_count", _column(col))


def bitmap_bit_position(col: ColumnOrName) -> Expr:
    """Spark ``bitmap_bit_position``: the bit position of a value within its bucket."""
    return _call("bitmap_bit_position", _column(col))


def bitmap_bucket_number(col: ColumnOrName) -> Expr:
    """Spark ``bitmap_bucket_number``: the bucket a value falls in."""
    return _call("bitmap_bucket_number", _column(col))


def bit_get(col: ColumnOrName, pos: Expr | int) -> Expr:
    """Spark ``bit_get``: the bit at ``pos`` (0 is the least significant)."""
    return _call("bit_get", _column(col), _int32(pos))


def bit_count(col: ColumnOrName) -> Expr:
    """Spark ``bit_count``: the number of set bits."""
    return _call("bit_count", _column(col))


def bitwise_not(col: ColumnOrName) -> Expr:
    """Spark ``bitwise_not`` (``~``)."""
    return _call("bitwise_not", _column(col))


def shiftleft(col: ColumnOrName, numBits: Expr | int) -> Expr:
    """Spark ``shiftleft``."""
    return _call("shiftleft", _column(col), _value(numBits))


def shiftright(col: ColumnOrName, numBits: Expr | int) -> Expr:
    """Spark ``shiftright`` (arithmetic)."""
    return _call("shiftright", _column(col), _value(numBits))


def shiftrightunsigned(col: ColumnOrName, numBits: Expr | int) -> Expr:
    """Spark ``shiftrightunsigned`` (logical)."""
    return _call("shiftrightunsigned", _column(col), _value(numBits))


# -- conditional and conversion ----------------------------------------------


def if_(condition: Expr, if_true: Any, if_false: Any) -> Expr:
    """Spark ``if``: ``if_true`` where the condition holds, else ``if_false``."""
    return _call("if", _column(condition), _value(if_true), _value(if_false))


def spark_cast(arg: ColumnOrName, type_str: Expr | str) -> Expr:
    """Spark's ``CAST`` with Spark's conversion rules, to the type named by ``type_str``."""
    return _call("spark_cast", _column(arg), _value(type_str))


# -- date and time -----------------------------------------------------------


def add_months(start: ColumnOrName, months: Expr | int) -> Expr:
    """Spark ``add_months``."""
    return _call("add_months", _column(start), _int32(months))


def date_add(start: ColumnOrName, days: Expr | int) -> Expr:
    """Spark ``date_add``: the date ``days`` later."""
    return _call("date_add", _column(start), _int32(days))


def date_sub(start: ColumnOrName, days: Expr | int) -> Expr:
    """Spark ``date_sub``: the date ``days`` earlier."""
    return _call("date_sub", _column(start), _int32(days))


def hour(col: ColumnOrName) -> Expr:
    """Spark ``hour``."""
    return _call("hour", _column(col))


def minute(col: ColumnOrName) -> Expr:
    """Spark ``minute``."""
    return _call("minute", _column(col))


def second(col: ColumnOrName) -> Expr:
    """Spark ``second``."""
    return _call("second", _column(col))


def last_day(col: ColumnOrName) -> Expr:
    """Spark ``last_day``: the last day of the date's month."""
    return _call("last_day", _column(col))


def make_dt_interval(
    days: Expr | int | None = None,
    hours: Expr | int | None = None,
    mins: Expr | int | None = None,
    secs: Expr | float | None = None,
) -> Expr:
    """Spark ``make_dt_interval``: a day-time interval; missing parts are zero."""
    parts = [_int32(0 if p is None else p) for p in (days, hours, mins)]
    return _call("make_dt_interval", *parts, _value(0.0 if secs is None else secs))


def make_interval(
    years: Expr | int | None = None,
    months: Expr | int | None = None,
    weeks: Expr | int | None = None,
    days: Expr | int | None = None,
    hours: Expr | int | None = None,
    mins: Expr | int | None = None,
    secs: Expr | float | None = None,
) -> Expr:
    """Spark ``make_interval``: a month-day-nano interval; missing parts are zero."""
    parts = [_int32(0 if p is None else p) for p in (years, months, weeks, days, hours, mins)]
    return _call("make_interval", *parts, _value(0.0 if secs is None else secs))


def next_day(date: ColumnOrName, dayOfWeek: Expr | str) -> Expr:
    """Spark ``next_day``: the first ``dayOfWeek`` (``"Mon"``, ...) after the date."""
    return _call("next_day", _column(date), _value(dayOfWeek))


def date_diff(end: ColumnOrName, start: ColumnOrName) -> Expr:
    """Spark ``date_diff``: days from ``start`` to ``end``."""
    return _call("date_diff", _column(end), _column(start))


def date_trunc(format: Expr | str, timestamp: ColumnOrName) -> Expr:
    """Spark ``date_trunc``: the timestamp truncated to the unit ``format``."""
    return _call("date_trunc", _value(format), _column(timestamp))


def time_trunc(unit: Expr | str, time: ColumnOrName) -> Expr:
    """Spark ``time_trunc``: a time of day truncated to ``unit``."""
    return _call("time_trunc", _value(unit), _column(time))


def trunc(date: ColumnOrName, format: Expr | str) -> Expr:
    """Spark ``trunc``: the date truncated to ``format`` (``"year"``, ``"month"``, ...)."""
    return _call("trunc", _column(date), _value(format))


def date_part(field: Expr | str, source: ColumnOrName) -> Expr:
    """Spark ``date_part``: one field of a date, timestamp or interval."""
    return _call("date_part", _value(field), _column(source))


def from_utc_timestamp(timestamp: ColumnOrName, tz: Expr | str) -> Expr:
    """Spark ``from_utc_timestamp``: a UTC timestamp shown in the zone ``tz``."""
    return _call("from_utc_timestamp", _column(timestamp), _value(tz))


def to_utc_timestamp(timestamp: ColumnOrName, tz: Expr | str) -> Expr:
    """Spark ``to_utc_timestamp``: a timestamp in the zone ``tz`` converted to UTC."""
    return _call("to_utc_timestamp", _column(timestamp), _value(tz))


def unix_date(col: ColumnOrName) -> Expr:
    """Spark ``unix_date``: days since 1970-01-01."""
    return _call("unix_date", _column(col))


def unix_micros(col: ColumnOrName) -> Expr:
    """Spark ``unix_micros``: microseconds since the epoch."""
    return _call("unix_micros", _column(col))


def unix_millis(col: ColumnOrName) -> Expr:
    """Spark ``unix_millis``: milliseconds since the epoch."""
    return _call("unix_millis", _column(col))


def unix_seconds(col: ColumnOrName) -> Expr:
    """Spark ``unix_seconds``: seconds since the epoch."""
    return _call("unix_seconds", _column(col))


# -- hashing -----------------------------------------------------------------


def crc32(col: ColumnOrName) -> Expr:
    """Spark ``crc32``."""
    return _call("crc32", _column(col))


def sha1(col: ColumnOrName) -> Expr:
    """Spark ``sha1``, as lowercase hex."""
    return _call("sha1", _column(col))


def sha2(col: ColumnOrName, numBits: Expr | int) -> Expr:
    """Spark ``sha2`` with ``numBits`` of 224, 256, 384 or 512, as lowercase hex."""
    return _call("sha2", _column(col), _value(numBits))


def xxhash64(*cols: ColumnOrName) -> Expr:
    """Spark ``xxhash64`` of the arguments."""
    return _call("xxhash64", *map(_column, cols))


# -- math --------------------------------------------------------------------


def abs(col: ColumnOrName) -> Expr:
    """Spark ``abs``."""
    return _call("abs", _column(col))


def ceil(col: ColumnOrName) -> Expr:
    """Spark ``ceil``, with Spark's integer result."""
    return _call("ceil", _column(col))


def floor(col: ColumnOrName) -> Expr:
    """Spark ``floor``, with Spark's integer result."""
    return _call("floor", _column(col))


def expm1(col: ColumnOrName) -> Expr:
    """Spark ``expm1``: ``exp(x) - 1``."""
    return _call("expm1", _column(col))


def factorial(col: ColumnOrName) -> Expr:
    """Spark ``factorial`` of a 32-bit integer (NULL outside 0..20)."""
    return _call("factorial", _column(col))


def hex(col: ColumnOrName) -> Expr:
    """Spark ``hex``: uppercase hexadecimal of a number, string or binary."""
    return _call("hex", _column(col))


def unhex(col: ColumnOrName) -> Expr:
    """Spark ``unhex``: the binary a hexadecimal string spells."""
    return _call("unhex", _column(col))


def modulus(dividend: Any, divisor: Any) -> Expr:
    """Spark ``mod`` (``%``)."""
    return _call("mod", _column(dividend), _column(divisor))


def pmod(dividend: Any, divisor: Any) -> Expr:
    """Spark ``pmod``: the non-negative remainder."""
    return _call("pmod", _column(dividend), _column(divisor))


def rint(col: ColumnOrName) -> Expr:
    """Spark ``rint``: the nearest integer value, ties to even."""
    return _call("rint", _column(col))


def round(col: ColumnOrName, scale: Expr | int | None = None) -> Expr:
    """Spark ``round``: half up, to ``scale`` decimal places (0 by default)."""
    return _call("round", _column(col), _int32(0) if scale is None else _value(scale))


def width_bucket(
    v: ColumnOrName, min: ColumnOrName, max: ColumnOrName, numBucket: Expr | int
) -> Expr:
    """Spark ``width_bucket``: which of ``numBucket`` equal buckets over [min, max) holds ``v``."""
    return _call("width_bucket", _column(v), _column(min), _column(max), _value(numBucket))


def csc(col: ColumnOrName) -> Expr:
    """Spark ``csc``: the cosecant."""
    return _call("csc", _column(col))


def sec(col: ColumnOrName) -> Expr:
    """Spark ``sec``: the secant."""
    return _call("sec", _column(col))


def negative(col: ColumnOrName) -> Expr:
    """Spark ``negative``: ``-x``."""
    return _call("negative", _column(col))


def bin(col: ColumnOrName) -> Expr:
    """Spark ``bin``: the binary digits of an integer, as a string."""
    return _call("bin", _column(col))


# -- strings -----------------------------------------------------------------


def ascii(col: ColumnOrName) -> Expr:
    """Spark ``ascii``: the code point of the first character."""
    return _call("ascii", _column(col))


def base64(col: ColumnOrName) -> Expr:
    """Spark ``base64``."""
    return _call("base64", _column(col))


def unbase64(col: ColumnOrName) -> Expr:
    """Spark ``unbase64``."""
    return _call("unbase64", _column(col))


def char(col: ColumnOrName) -> Expr:
    """Spark ``char``: the character of a code point (modulo 256)."""
    return _call("char", _column(col))


def concat(*cols: ColumnOrName) -> Expr:
    """Spark ``concat``: NULL when any argument is NULL."""
    return _call("concat", *map(_column, cols))


def elt(*inputs: Any) -> Expr:
    """Spark ``elt``: the n-th of the remaining arguments (1-based)."""
    return _call("elt", *map(_column, inputs))


def like(str: ColumnOrName, pattern: ColumnOrName, escapeChar: builtins.str | None = None) -> Expr:
    """Spark ``like`` (case-sensitive). ``escapeChar`` is not supported."""
    if escapeChar is not None:
        raise _unsupported("like", "escapeChar")
    return _call("like", _column(str), _column(pattern))


def ilike(str: ColumnOrName, pattern: ColumnOrName, escapeChar: builtins.str | None = None) -> Expr:
    """Spark ``ilike`` (case-insensitive). ``escapeChar`` is not supported."""
    if escapeChar is not None:
        raise _unsupported("ilike", "escapeChar")
    return _call("ilike", _column(str), _column(pattern))


def length(col: ColumnOrName) -> Expr:
    """Spark ``length``: characters of a string, bytes of a binary."""
    return _call("length", _column(col))


def luhn_check(col: ColumnOrName) -> Expr:
    """Spark ``luhn_check``: true when a digit string passes the Luhn checksum."""
    return _call("luhn_check", _column(col))


def format_string(format: Expr | builtins.str, *cols: ColumnOrName) -> Expr:
    """Spark ``format_string``: printf-style formatting."""
    return _call("format_string", _value(format), *map(_column, cols))


def space(col: Expr | int) -> Expr:
    """Spark ``space``: a string of ``n`` spaces."""
    return _call("space", _int32(col))


def substring(str: ColumnOrName, pos: Expr | int, len: Expr | int) -> Expr:
    """Spark ``substring``: ``len`` characters from the 1-based ``pos``."""
    return _call("substring", _column(str), _value(pos), _value(len))


def soundex(col: ColumnOrName) -> Expr:
    """Spark ``soundex``."""
    return _call("soundex", _column(col))


def is_valid_utf8(str: ColumnOrName) -> Expr:
    """Spark ``is_valid_utf8``."""
    return _call("is_valid_utf8", _column(str))


def make_valid_utf8(str: ColumnOrName) -> Expr:
    """Spark ``make_valid_utf8``: invalid sequences replaced by U+FFFD."""
    return _call("make_valid_utf8", _column(str))


# -- URLs --------------------------------------------------------------------


def _url(
    name: builtins.str, url: ColumnOrName, part: ColumnOrName, key: ColumnOrName | None
) -> Expr:
    args = [_column(url), _column(part)]
    if key is not None:
        args.append(_column(key))
    return _call(name, *args)


def parse_url(
    url: ColumnOrName, partToExtract: ColumnOrName, key: ColumnOrName | None = None
) -> Expr:
    """Spark ``parse_url``: one part of a URL (``"HOST"``, ``"PATH"``, ``"QUERY"``,
    ...), or one query parameter with ``key``; an error on an invalid URL."""
    return _url("parse_url", url, partToExtract, key)


def try_parse_url(
    url: ColumnOrName, partToExtract: ColumnOrName, key: ColumnOrName | None = None
) -> Expr:
    """As :func:`parse_url`, NULL instead of an error on an invalid URL."""
    return _url("try_parse_url", url, partToExtract, key)


def url_decode(str: ColumnOrName) -> Expr:
    """Spark ``url_decode``."""
    return _call("url_decode", _column(str))


def try_url_decode(str: ColumnOrName) -> Expr:
    """Spark ``try_url_decode``: NULL instead of an error on bad input."""
    return _call("try_url_decode", _column(str))


def url_encode(str: ColumnOrName) -> Expr:
    """Spark ``url_encode``."""
    return _call("url_encode", _column(str))
