"""Logical expressions: columns, literals, operators, casts, sorting, windows.

An :class:`Expr` is a description of a computation, evaluated when a
:class:`~dfship.DataFrame` runs. Python operators build bigger expressions:

>>> from dfship import col, lit
>>> (col("a") + lit(1)) * col("b")
Expr((a + Int64(1)) * b)
>>> (col("a") > 3) & ~col("flag")
Expr(a > Int64(3) AND NOT flag)

Comparisons return expressions, so ``bool(expr)`` is refused rather than
silently true:

>>> bool(col("a") == 1)
Traceback (most recent call last):
...
TypeError: an Expr has no truth value: combine conditions with &, | and ~
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import pyarrow as pa

from dfship import _internal

if TYPE_CHECKING:
    from dfship.context import SessionContext

__all__ = [
    "EXPR_TYPE_ERROR",
    "Alias",
    "BinaryExpr",
    "CaseBuilder",
    "Column",
    "Expr",
    "ExprFuncBuilder",
    "ExprVariant",
    "GroupingSet",
    "Literal",
    "NullTreatment",
    "RexType",
    "SortExpr",
    "SortKey",
    "Window",
    "WindowFrame",
    "WindowFrameBound",
    "coerce_to_expr",
    "coerce_to_expr_list",
    "coerce_to_expr_or_none",
    "col",
    "column",
    "ensure_expr",
    "ensure_expr_list",
    "lit",
    "lit_with_metadata",
    "literal",
    "literal_with_metadata",
]

_PYTHON_TYPES: dict[type, pa.DataType] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    bytes: pa.binary(),
}


def _data_type(to: pa.DataType | type) -> pa.DataType:
    if isinstance(to, pa.DataType):
        return to
    if isinstance(to, type) and to in _PYTHON_TYPES:
        return _PYTHON_TYPES[to]
    raise TypeError(
        f"cannot cast to {to!r}: pass a pyarrow.DataType or one of bool, int, float, str, bytes"
    )


def _call(name: str, *args: Any) -> Expr:
    """Calls the built-in scalar function `name` on `args` (expressions, or
    values taken as literals): what `dfship.functions` is built on."""
    return Expr(_internal.scalar_function(name, [_raw(a) for a in args]))


class _Function:
    """A method that calls a built-in function on the expression:
    ``col("s").upper()`` is ``functions.upper(col("s"))``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Callable[[Expr], Expr]: ...

    @overload
    def __get__(self, obj: Expr, owner: type | None = None) -> Callable[[], Expr]: ...

    def __get__(
        self, obj: Expr | None, owner: type | None = None
    ) -> Callable[[Expr], Expr] | Callable[[], Expr]:
        name = self.name

        def method(self: Expr) -> Expr:
            return Expr(_internal.scalar_function(name, [self._raw]))

        method.__name__ = method.__qualname__ = name
        method.__doc__ = f"DataFusion's ``{name}`` of this expression."
        if obj is None:
            return method
        return lambda: method(obj)


class Expr:
    """A logical expression."""

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.RawExpr) -> None:
        self._raw = raw

    @property
    def raw(self) -> _internal.RawExpr:
        """The underlying ``dfship._internal.RawExpr``."""
        return self._raw

    @property
    def expr(self) -> _internal.RawExpr:
        """The underlying ``dfship._internal.RawExpr`` (the name the
        ``datafusion`` package uses)."""
        return self._raw

    @staticmethod
    def column(name: str) -> Expr:
        """A reference to column ``name`` (``"t.a"`` is column ``a`` of table ``t``)."""
        if "." in name:
            return Expr(_internal.RawExpr.qualified_column(name))
        return Expr(_internal.RawExpr.column(name))

    @staticmethod
    def literal(value: Any) -> Expr:
        """A constant. ``None``, ``bool``, ``int``, ``float``, ``str`` and
        ``bytes`` map to null, boolean, int64, float64, utf8view and binary;
        anything ``pyarrow.scalar`` accepts (dates, decimals, lists, a
        ``pyarrow.Scalar``) works too."""
        if isinstance(value, Expr):
            return value
        return Expr(_internal.RawExpr.literal(value))

    @staticmethod
    def string_literal(value: str) -> Expr:
        """A ``Utf8`` string constant, for the function arguments that take
        ``Utf8`` rather than ``Utf8View`` (a type name, a field name)."""
        return Expr(_internal.RawExpr.literal(value, False))

    @staticmethod
    def literal_with_metadata(value: Any, metadata: dict[str, str]) -> Expr:
        """A constant whose field carries ``metadata``."""
        return Expr(_internal.RawExpr.literal(value, True, dict(metadata)))

    # -- operators ---------------------------------------------------------
    def _op(self, op: str, other: Any) -> Expr:
        return Expr(self._raw.binary(op, _raw(other)))

    def _rop(self, op: str, other: Any) -> Expr:
        return Expr(_raw(other).binary(op, self._raw))

    def __add__(self, other: Any) -> Expr:
        return self._op("+", other)

    def __radd__(self, other: Any) -> Expr:
        return self._rop("+", other)

    def __sub__(self, other: Any) -> Expr:
        return self._op("-", other)

    def __rsub__(self, other: Any) -> Expr:
        return self._rop("-", other)

    def __mul__(self, other: Any) -> Expr:
        return self._op("*", other)

    def __rmul__(self, other: Any) -> Expr:
        return self._rop("*", other)

    def __truediv__(self, other: Any) -> Expr:
        return self._op("/", other)

    def __rtruediv__(self, other: Any) -> Expr:
        return self._rop("/", other)

    def __mod__(self, other: Any) -> Expr:
        return self._op("%", other)

    def __rmod__(self, other: Any) -> Expr:
        return self._rop("%", other)

    def __eq__(self, other: Any) -> Expr:  # type: ignore[override]
        """``self = other``; ``expr == None`` is ``expr IS NULL``."""
        if other is None:
            return self.is_null()
        return self._op("==", other)

    def __ne__(self, other: Any) -> Expr:  # type: ignore[override]
        """``self <> other``; ``expr != None`` is ``expr IS NOT NULL``."""
        if other is None:
            return self.is_not_null()
        return self._op("!=", other)

    def __lt__(self, other: Any) -> Expr:
        return self._op("<", other)

    def __le__(self, other: Any) -> Expr:
        return self._op("<=", other)

    def __gt__(self, other: Any) -> Expr:
        return self._op(">", other)

    def __ge__(self, other: Any) -> Expr:
        return self._op(">=", other)

    def __and__(self, other: Any) -> Expr:
        return self._op("and", other)

    def __rand__(self, other: Any) -> Expr:
        return self._rop("and", other)

    def __or__(self, other: Any) -> Expr:
        return self._op("or", other)

    def __ror__(self, other: Any) -> Expr:
        return self._rop("or", other)

    def __invert__(self) -> Expr:
        return Expr(self._raw.not_())

    def __neg__(self) -> Expr:
        return Expr(self._raw.negate())

    def __bool__(self) -> bool:
        raise TypeError("an Expr has no truth value: combine conditions with &, | and ~")

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Expr({self._raw!r})"

    def __str__(self) -> str:
        return repr(self)

    def equals(self, other: Expr) -> bool:
        """Structural equality (``==`` builds a comparison instead)."""
        return bool(self._raw == other._raw)

    # -- shipping ----------------------------------------------------------
    def to_bytes(self, ctx: SessionContext | None = None) -> bytes:
        """Serializes the expression, Python UDFs included, into a checked
        frame. Settings (inlining, limits) come from ``ctx``, else from this
        thread's sender slot (:func:`dfship.ipc.set_sender_ctx`), else the
        defaults.

        >>> blob = (col("a") + 1).to_bytes()
        >>> blob[:4]
        b'DFSE'
        >>> Expr.from_bytes(blob)
        Expr(a + Int64(1))
        """
        blob: bytes = self._raw.to_bytes(None if ctx is None else ctx.raw)
        return blob

    @classmethod
    def from_bytes(
        cls, buf: bytes | bytearray | memoryview, ctx: SessionContext | None = None
    ) -> Expr:
        """Rebuilds an expression from :meth:`to_bytes` output. Functions it
        names resolve in ``ctx``, else in this thread's worker slot
        (:func:`dfship.ipc.set_worker_ctx`), else in the global session, whose
        settings also decide what is accepted. Damaged or foreign bytes raise
        :class:`~dfship.exceptions.PayloadError` before anything is decoded.

        Loading an expression with inline Python UDFs runs their pickled code:
        only accept bytes from trusted senders, or disable inlining on ``ctx``.
        """
        if not isinstance(buf, bytes):
            if not isinstance(buf, (bytearray, memoryview)):
                raise TypeError(
                    f"expected bytes, bytearray or memoryview, not {type(buf).__name__}"
                )
            buf = bytes(buf)
        expr = cls.__new__(cls)
        expr._raw = _internal.RawExpr.from_bytes(buf, None if ctx is None else ctx.raw)
        return expr

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        # A module-level loader pickles as one short global reference (a
        # classmethod would pickle as getattr(Expr, "from_bytes")).
        return (_load, (self._raw.to_bytes(None),))

    def depth(self) -> int:
        """How deeply the expression tree nests (a column is 1)."""
        return int(self._raw.depth())

    # -- transformations ---------------------------------------------------
    def alias(self, name: str, metadata: dict[str, str] | None = None) -> Expr:
        """The same expression, output under ``name``; ``metadata`` is put on
        the output field.

        >>> col("a").alias("b")
        Expr(a AS b)
        """
        return Expr(self._raw.alias(name, None if metadata is None else dict(metadata)))

    def cast(self, to: pa.DataType | type) -> Expr:
        """Converts to another type; fails at run time on values that do not fit.

        >>> col("a").cast(pa.float32())
        Expr(CAST(a AS Float32))
        """
        return Expr(self._raw.cast(_data_type(to)))

    def try_cast(self, to: pa.DataType | type) -> Expr:
        """Like :meth:`cast`, but values that do not fit become null."""
        return Expr(self._raw.try_cast(_data_type(to)))

    def is_null(self) -> Expr:
        """True where the value is null."""
        return Expr(self._raw.is_null())

    def is_not_null(self) -> Expr:
        """True where the value is not null."""
        return Expr(self._raw.is_not_null())

    def between(self, low: Any, high: Any, negated: bool = False) -> Expr:
        """``low <= self <= high`` (``NOT BETWEEN`` when ``negated``).

        >>> col("a").between(1, 5)
        Expr(a BETWEEN Int64(1) AND Int64(5))
        """
        return Expr(self._raw.between(_raw(low), _raw(high), negated))

    def like(
        self,
        pattern: Any,
        negated: bool = False,
        case_insensitive: bool = False,
        escape_char: str | None = None,
    ) -> Expr:
        """SQL ``LIKE``: ``%`` matches any run of characters, ``_`` one.

        >>> col("name").like("a%")
        Expr(name LIKE Utf8View("a%"))
        """
        return Expr(self._raw.like(_raw(pattern), negated, case_insensitive, escape_char))

    def ilike(self, pattern: Any, negated: bool = False) -> Expr:
        """Case-insensitive :meth:`like`."""
        return self.like(pattern, negated=negated, case_insensitive=True)

    def in_list(self, values: Iterable[Any], negated: bool = False) -> Expr:
        """True where the value is one of ``values``."""
        return Expr(self._raw.in_list([_raw(v) for v in values], negated))

    def sort(self, ascending: bool = True, nulls_first: bool = False) -> SortExpr:
        """A sort key on this expression."""
        return SortExpr(self._raw.sort(ascending, nulls_first))

    def asc(self, nulls_first: bool = False) -> SortExpr:
        return self.sort(True, nulls_first)

    def desc(self, nulls_first: bool = True) -> SortExpr:
        return self.sort(False, nulls_first)

    def over(self, window: Window) -> Expr:
        """Evaluates an aggregate or window function over a window.

        >>> from dfship import functions as f
        >>> f.sum(col("v")).over(Window(partition_by=[col("k")], order_by=[col("t")]))
        ... # doctest: +ELLIPSIS
        Expr(sum(v) PARTITION BY [k] ORDER BY [t ASC NULLS LAST] RANGE BETWEEN UNBOUNDED ...)
        """
        return window._apply(self)

    # -- options of aggregate and window calls ------------------------------
    def order_by(self, *exprs: SortKey) -> ExprFuncBuilder:
        """Orders the rows an aggregate (or window function) sees; finish with
        :meth:`ExprFuncBuilder.build`.

        >>> from dfship import functions as f
        >>> f.array_agg(col("v")).order_by(col("t").desc()).build()
        Expr(array_agg(v) ORDER BY [t DESC NULLS FIRST])
        """
        return ExprFuncBuilder(self).order_by(*exprs)

    def filter(self, filter: Expr) -> ExprFuncBuilder:
        """Feeds an aggregate only the rows where ``filter`` holds.

        >>> from dfship import functions as f
        >>> f.sum(col("v")).filter(col("v") > 0).build()
        Expr(sum(v) FILTER (WHERE v > Int64(0)))
        """
        return ExprFuncBuilder(self).filter(filter)

    def distinct(self) -> ExprFuncBuilder:
        """Feeds an aggregate each distinct value once.

        >>> from dfship import functions as f
        >>> f.count(col("v")).distinct().build()
        Expr(count(DISTINCT v))
        """
        return ExprFuncBuilder(self).distinct()

    def null_treatment(self, null_treatment: NullTreatment) -> ExprFuncBuilder:
        """Whether an aggregate or window function skips nulls."""
        return ExprFuncBuilder(self).null_treatment(null_treatment)

    def partition_by(self, *partition_by: Expr | str) -> ExprFuncBuilder:
        """Partitions a window function's rows (see also :meth:`over`)."""
        return ExprFuncBuilder(self).partition_by(*partition_by)

    def window_frame(self, window_frame: WindowFrame) -> ExprFuncBuilder:
        """Sets a window function's frame (see also :meth:`over`)."""
        return ExprFuncBuilder(self).window_frame(window_frame)

    # -- struct fields and list elements -----------------------------------
    def __getitem__(self, key: str | int | slice) -> Expr:
        """A struct field (``key`` a string), a list element (an int, counted
        from 0 as in Python, negative from the end) or a list slice.

        >>> col("s")["x"], col("l")[0]
        (Expr(get_field(s, Utf8("x"))), Expr(array_element(l, Int64(1))))
        >>> col("l")[1:3]
        Expr(array_slice(l, Int64(2), Int64(3)))
        """
        if isinstance(key, str):
            return _call("get_field", self, Expr.string_literal(key))
        if isinstance(key, bool) or not isinstance(key, (int, slice)):
            raise TypeError(
                f"an Expr is indexed by a str, an int or a slice, not {type(key).__name__}"
            )
        if isinstance(key, int):
            return _call("array_element", self, key + 1 if key >= 0 else key)
        parts = (key.start, key.stop, key.step)
        if any(isinstance(p, Expr) for p in parts):
            # Expression bounds count as Python's do (from 0, stop excluded)
            # and are taken as non-negative.
            for part in parts:
                if part is not None and not isinstance(part, (Expr, int)):
                    raise TypeError("a list slice takes int or Expr bounds and step")
            first = lit(1) if key.start is None else key.start + 1
            last = lit(-1) if key.stop is None else key.stop
            extra = [] if key.step is None else [key.step]
            return _call("array_slice", self, first, last, *extra)
        for part in parts:
            if part is not None and (isinstance(part, bool) or not isinstance(part, int)):
                raise TypeError("a list slice takes int or Expr bounds and step")
        start = 1 if key.start is None else key.start + 1 if key.start >= 0 else key.start
        stop = -1 if key.stop is None else key.stop if key.stop >= 0 else key.stop - 1
        if key.step is None:
            return _call("array_slice", self, start, stop)
        return _call("array_slice", self, start, stop, key.step)

    # -- introspection -----------------------------------------------------
    def schema_name(self) -> str:
        """The name of the output column this expression produces."""
        return str(self._raw.schema_name())

    def canonical_name(self) -> str:
        """The expression as DataFusion prints it.

        >>> (col("a") + lit(1)).canonical_name()
        'a + Int64(1)'
        """
        return str(self._raw.canonical_name())

    def variant_name(self) -> str:
        """The kind of expression (``Column``, ``BinaryExpr``, ...)."""
        return str(self._raw.variant_name())

    def rex_type(self) -> RexType:
        """The broad kind of expression, as relational algebra names it.

        >>> col("a").rex_type(), (col("a") + 1).rex_type()
        (<RexType.Reference: 'Reference'>, <RexType.Call: 'Call'>)
        """
        return _REX_TYPES.get(self.variant_name(), RexType.Call)

    def python_value(self) -> pa.Scalar:
        """The value of a literal, as a ``pyarrow.Scalar`` of its type
        (``.as_py()`` gives the Python value).

        >>> lit(3).python_value()
        <pyarrow.Int64Scalar: 3>
        >>> lit("x").python_value().as_py(), lit(None).python_value().as_py()
        ('x', None)
        """
        return self._raw.python_value()

    def to_variant(self) -> Any:
        """The expression as an object of its kind: :class:`Column`,
        :class:`Literal`, :class:`Alias`, :class:`BinaryExpr`, or for other
        kinds an :class:`ExprVariant` with the kind's name and operands.

        >>> (col("a") + 1).to_variant().op()
        '+'
        """
        variant = self.variant_name()
        cls = _VARIANTS.get(variant)
        if cls is None:
            return ExprVariant(self)
        return cls(self)

    def operands(self) -> list[Expr]:
        """The direct sub-expressions, in order.

        >>> (col("a") + 1).operands()
        [Expr(a), Expr(Int64(1))]
        """
        return [Expr(raw) for raw in self._raw.operands()]

    # -- functions of one expression, as methods --------------------------
    # `expr.upper()` is `functions.upper(expr)`, as in the datafusion package.
    abs = _Function("abs")
    acos = _Function("acos")
    acosh = _Function("acosh")
    array_dims = _Function("array_dims")
    array_distinct = _Function("array_distinct")
    array_empty = _Function("array_empty")
    array_length = _Function("array_length")
    array_ndims = _Function("array_ndims")
    array_pop_back = _Function("array_pop_back")
    array_pop_front = _Function("array_pop_front")
    arrow_typeof = _Function("arrow_typeof")
    ascii = _Function("ascii")
    asin = _Function("asin")
    asinh = _Function("asinh")
    atan = _Function("atan")
    atanh = _Function("atanh")
    bit_length = _Function("bit_length")
    btrim = _Function("btrim")
    cardinality = _Function("cardinality")
    cbrt = _Function("cbrt")
    ceil = _Function("ceil")
    char_length = _Function("char_length")
    character_length = _Function("character_length")
    chr = _Function("chr")
    cos = _Function("cos")
    cosh = _Function("cosh")
    cot = _Function("cot")
    degrees = _Function("degrees")
    empty = _Function("empty")
    exp = _Function("exp")
    factorial = _Function("factorial")
    flatten = _Function("flatten")
    floor = _Function("floor")
    from_unixtime = _Function("from_unixtime")
    initcap = _Function("initcap")
    is_nan = _Function("isnan")
    isnan = _Function("isnan")
    iszero = _Function("iszero")
    length = _Function("length")
    list_dims = _Function("list_dims")
    list_distinct = _Function("list_distinct")
    list_length = _Function("list_length")
    list_ndims = _Function("list_ndims")
    ln = _Function("ln")
    log10 = _Function("log10")
    log2 = _Function("log2")
    lower = _Function("lower")
    ltrim = _Function("ltrim")
    md5 = _Function("md5")
    octet_length = _Function("octet_length")
    radians = _Function("radians")
    reverse = _Function("reverse")
    rtrim = _Function("rtrim")
    sha224 = _Function("sha224")
    sha256 = _Function("sha256")
    sha384 = _Function("sha384")
    sha512 = _Function("sha512")
    signum = _Function("signum")
    sin = _Function("sin")
    sinh = _Function("sinh")
    sqrt = _Function("sqrt")
    tan = _Function("tan")
    tanh = _Function("tanh")
    to_hex = _Function("to_hex")
    trim = _Function("trim")
    upper = _Function("upper")

    def fill_null(self, value: Any = None) -> Expr:
        """This expression, with nulls replaced by ``value`` (``nvl``).

        >>> col("a").fill_null(0)
        Expr(nvl(a, Int64(0)))
        """
        return _call("nvl", self, value)

    def fill_nan(self, value: Any = None) -> Expr:
        """This expression, with NaN replaced by ``value`` (``nanvl``)."""
        return _call("nanvl", self, value)


class RexType(Enum):
    """Broad kinds of expression (see :meth:`Expr.rex_type`)."""

    Alias = "Alias"
    Literal = "Literal"
    Call = "Call"
    Reference = "Reference"
    ScalarSubquery = "ScalarSubquery"
    Other = "Other"


_REX_TYPES: dict[str, RexType] = {
    "Alias": RexType.Alias,
    "Column": RexType.Reference,
    "Literal": RexType.Literal,
    "ScalarVariable": RexType.Literal,
    "ScalarSubquery": RexType.ScalarSubquery,
    **dict.fromkeys(
        (
            "Exists",
            "InSubquery",
            "OuterReferenceColumn",
            "Placeholder",
            "Wildcard",
            "GroupingSet",
            "Unnest",
            "SetComparison",
            "Lambda",
            "LambdaVariable",
        ),
        RexType.Other,
    ),
}


class ExprVariant:
    """An expression seen as its kind (see :meth:`Expr.to_variant`)."""

    __slots__ = ("_expr",)

    def __init__(self, expr: Expr) -> None:
        self._expr = expr

    def variant_name(self) -> str:
        return self._expr.variant_name()

    def operands(self) -> list[Expr]:
        return self._expr.operands()

    def expr(self) -> Expr:
        """The expression itself."""
        return self._expr

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._expr.canonical_name()})"


class Column(ExprVariant):
    """A column reference."""

    def name(self) -> str:
        return str(self._expr._raw.column_name())

    def relation(self) -> str | None:
        """The table qualifier, if the reference has one."""
        relation: str | None = self._expr._raw.column_relation()
        return relation

    def qualified_name(self) -> str:
        relation = self.relation()
        return self.name() if relation is None else f"{relation}.{self.name()}"


class Literal(ExprVariant):
    """A constant."""

    def value(self) -> Any:
        """The constant as a Python value."""
        return self._expr.python_value().as_py()

    def data_type(self) -> str:
        return str(self._expr._raw.literal_type())

    def value_i64(self) -> int | None:
        return None if (v := self.value()) is None else int(v)

    def value_f64(self) -> float | None:
        return None if (v := self.value()) is None else float(v)

    def value_string(self) -> str | None:
        return None if (v := self.value()) is None else str(v)

    def value_bool(self) -> bool | None:
        return None if (v := self.value()) is None else bool(v)


class Alias(ExprVariant):
    """An expression under another name."""

    def alias(self) -> str:
        return str(self._expr._raw.alias_name())

    def expr(self) -> Expr:
        """The expression being named."""
        return self.operands()[0]


class BinaryExpr(ExprVariant):
    """Two operands and an operator."""

    def left(self) -> Expr:
        return self.operands()[0]

    def right(self) -> Expr:
        return self.operands()[1]

    def op(self) -> str:
        return str(self._expr._raw.binary_op())


class InList(ExprVariant):
    """``expr [NOT] IN (list...)``."""

    def expr(self) -> Expr:
        """The value looked up."""
        return self.operands()[0]

    def list(self) -> list[Expr]:
        """The values it is compared with."""
        return self.operands()[1:]

    def negated(self) -> bool:
        return " NOT IN " in self._expr.canonical_name()


class AggregateFunction(ExprVariant):
    """A call of an aggregate function."""

    def aggregate_type(self) -> str:
        return self._expr.canonical_name().split("(", 1)[0]

    def args(self) -> list[Expr]:
        return self.operands()


_VARIANTS: dict[str, type[ExprVariant]] = {
    "Column": Column,
    "Literal": Literal,
    "Alias": Alias,
    "BinaryExpr": BinaryExpr,
    "InList": InList,
    "AggregateFunction": AggregateFunction,
}
#: The other expression kinds, by DataFusion's name for each.
_EXPR_KINDS = [
    "Between",
    "Case",
    "Cast",
    "Exists",
    "GroupingSetExpr",
    "HigherOrderFunction",
    "ILike",
    "InSubquery",
    "IsFalse",
    "IsNotFalse",
    "IsNotNull",
    "IsNotTrue",
    "IsNotUnknown",
    "IsNull",
    "IsTrue",
    "IsUnknown",
    "Lambda",
    "LambdaVariable",
    "Like",
    "Negative",
    "Not",
    "Placeholder",
    "ScalarFunction",
    "ScalarSubquery",
    "ScalarVariable",
    "SimilarTo",
    "TryCast",
    "UnnestExpr",
    "WindowExpr",
]
for _kind in _EXPR_KINDS:
    _VARIANTS[_kind] = type(_kind, (ExprVariant,), {"__slots__": (), "__module__": __name__})
globals().update({k: v for k, v in _VARIANTS.items() if k not in globals()})


class ExprFuncBuilder:
    """Options of an aggregate or window call, applied by :meth:`build`.
    Each method returns a new builder; as in DataFusion, an option not set
    takes its default when the call is built.

    >>> from dfship import functions as f
    >>> f.sum(col("v")).distinct().filter(col("v") > 1).build()
    Expr(sum(DISTINCT v) FILTER (WHERE v > Int64(1)))
    """

    __slots__ = ("_distinct", "_expr", "_filter", "_frame", "_nulls", "_order_by", "_partition_by")

    def __init__(self, expr: Expr) -> None:
        self._expr = expr
        self._order_by: list[_internal.RawSortExpr] | None = None
        self._filter: Expr | None = None
        self._distinct = False
        self._nulls: NullTreatment | None = None
        self._partition_by: list[_internal.RawExpr] | None = None
        self._frame: WindowFrame | None = None

    def _copy(self) -> ExprFuncBuilder:
        new = ExprFuncBuilder(self._expr)
        for name in self.__slots__:
            setattr(new, name, getattr(self, name))
        return new

    def order_by(self, *exprs: SortKey) -> ExprFuncBuilder:
        new = self._copy()
        new._order_by = _sort_list(list(exprs))
        return new

    def filter(self, filter: Expr) -> ExprFuncBuilder:
        if not isinstance(filter, Expr):
            raise TypeError(f"filter() takes an Expr, not {type(filter).__name__}")
        new = self._copy()
        new._filter = filter
        return new

    def distinct(self) -> ExprFuncBuilder:
        new = self._copy()
        new._distinct = True
        return new

    def null_treatment(self, null_treatment: NullTreatment) -> ExprFuncBuilder:
        if not isinstance(null_treatment, NullTreatment):
            raise TypeError(f"null_treatment() takes a NullTreatment, not {null_treatment!r}")
        new = self._copy()
        new._nulls = null_treatment
        return new

    def partition_by(self, *partition_by: Expr | str) -> ExprFuncBuilder:
        new = self._copy()
        new._partition_by = _expr_list(list(partition_by))
        return new

    def window_frame(self, window_frame: WindowFrame) -> ExprFuncBuilder:
        if not isinstance(window_frame, WindowFrame):
            raise TypeError(
                f"window_frame() takes a WindowFrame, not {type(window_frame).__name__}"
            )
        new = self._copy()
        new._frame = window_frame
        return new

    def build(self) -> Expr:
        """The call with the options applied."""
        frame = self._frame
        return Expr(
            self._expr._raw.build_call(
                self._order_by,
                None if self._filter is None else self._filter._raw,
                self._distinct,
                _ignore_nulls(self._nulls),
                self._partition_by,
                None if frame is None else (frame.units, frame.start_bound, frame.end_bound),
            )
        )

    def __repr__(self) -> str:
        return f"ExprFuncBuilder({self._expr.canonical_name()})"


def _load(buf: bytes) -> Expr:
    """Unpickles an expression (see :meth:`Expr.__reduce__`): decodes against
    this thread's worker slot, else the global session."""
    expr = Expr.__new__(Expr)
    expr._raw = _internal.RawExpr.from_bytes(buf, None)
    return expr


#: The message of the ``TypeError`` raised where an expression is required
#: and another value was given.
EXPR_TYPE_ERROR = "Use col()/column() or lit()/literal() to construct expressions"


def ensure_expr(value: Any) -> _internal.RawExpr:
    """The raw expression of ``value``, which must be an :class:`Expr`
    (strings and other values are refused, not taken as literals)."""
    if not isinstance(value, Expr):
        raise TypeError(EXPR_TYPE_ERROR)
    return value._raw


def ensure_expr_list(exprs: Iterable[Any]) -> list[_internal.RawExpr]:
    """The raw expressions of ``exprs``, nested iterables flattened; every
    item must be an :class:`Expr`."""
    if isinstance(exprs, (str, bytes, bytearray)):
        raise TypeError(EXPR_TYPE_ERROR)
    out: list[_internal.RawExpr] = []
    for item in exprs:
        if isinstance(item, Iterable) and not isinstance(item, (Expr, str, bytes, bytearray)):
            out.extend(ensure_expr_list(item))
        else:
            out.append(ensure_expr(item))
    return out


def coerce_to_expr(value: Any) -> Expr:
    """``value`` if it is an :class:`Expr`, else a literal of it."""
    return value if isinstance(value, Expr) else Expr.literal(value)


def coerce_to_expr_or_none(value: Any) -> Expr | None:
    """:func:`coerce_to_expr`, with ``None`` passed through."""
    return None if value is None else coerce_to_expr(value)


def coerce_to_expr_list(values: Iterable[Any]) -> list[Expr]:
    """:func:`coerce_to_expr` of each value."""
    return [coerce_to_expr(v) for v in values]


def lit_with_metadata(value: Any, metadata: dict[str, str]) -> Expr:
    """A constant whose field carries ``metadata``."""
    return Expr.literal_with_metadata(value, metadata)


literal_with_metadata = lit_with_metadata


def _raw(value: Any) -> _internal.RawExpr:
    """Any value as a raw expression: an :class:`Expr` as is, anything else as a literal."""
    if isinstance(value, Expr):
        return value._raw
    return _internal.RawExpr.literal(value)


class SortExpr:
    """A sort key: an expression, a direction and where nulls go."""

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.RawSortExpr) -> None:
        self._raw = raw

    @property
    def raw(self) -> _internal.RawSortExpr:
        return self._raw

    def expr(self) -> Expr:
        return Expr(self._raw.expr())

    def ascending(self) -> bool:
        return bool(self._raw.ascending())

    def nulls_first(self) -> bool:
        return bool(self._raw.nulls_first())

    def __repr__(self) -> str:
        return f"SortExpr({self._raw!r})"


SortKey: TypeAlias = Expr | SortExpr | str


def _sort_raw(key: SortKey) -> _internal.RawSortExpr:
    if isinstance(key, SortExpr):
        return key._raw
    if isinstance(key, str):
        key = col(key)
    if isinstance(key, Expr):
        return key._raw.sort(True, False)
    raise TypeError(f"a sort key is an Expr, a SortExpr or a column name, not {type(key).__name__}")


def _sort_list(keys: SortKey | Sequence[SortKey] | None) -> list[_internal.RawSortExpr]:
    if keys is None:
        return []
    if isinstance(keys, (Expr, SortExpr, str)):
        return [_sort_raw(keys)]
    return [_sort_raw(k) for k in keys]


def _expr_list(items: Expr | str | Sequence[Expr | str] | None) -> list[_internal.RawExpr]:
    if items is None:
        return []
    if isinstance(items, (Expr, str)):
        items = [items]
    return [col(i)._raw if isinstance(i, str) else _raw(i) for i in items]


class GroupingSet:
    """Grouping keys that aggregate at several levels in one pass, passed to
    :meth:`DataFrame.aggregate` in place of plain keys. Keys are expressions
    or column names.

    >>> GroupingSet.rollup("a", "b")
    Expr(ROLLUP (a, b))
    >>> GroupingSet.grouping_sets(["a"], ["a", "b"])
    Expr(GROUPING SETS ((a), (a, b)))
    """

    @staticmethod
    def rollup(*exprs: Expr | str) -> Expr:
        """``ROLLUP (e1, e2, ...)``: groups by every prefix of the keys,
        down to the grand total."""
        return Expr(_internal.grouping_set("rollup", [_expr_list(list(exprs))]))

    @staticmethod
    def cube(*exprs: Expr | str) -> Expr:
        """``CUBE (e1, e2, ...)``: groups by every subset of the keys."""
        return Expr(_internal.grouping_set("cube", [_expr_list(list(exprs))]))

    @staticmethod
    def grouping_sets(*sets: Sequence[Expr | str]) -> Expr:
        """``GROUPING SETS ((...), (...))``: groups by each list of keys given."""
        return Expr(_internal.grouping_set("sets", [_expr_list(list(s)) for s in sets]))


class NullTreatment(Enum):
    """Whether a window or aggregate function skips nulls."""

    RESPECT_NULLS = "respect_nulls"
    IGNORE_NULLS = "ignore_nulls"


def _ignore_nulls(nt: NullTreatment | None) -> bool | None:
    return None if nt is None else nt is NullTreatment.IGNORE_NULLS


class _UnknownFrameUnits(ValueError, NotImplementedError):
    """Frame units other than rows, range and groups: a ValueError, and the
    NotImplementedError the ``datafusion`` package raises for them."""


class WindowFrame:
    """Which rows around the current one a window function sees.

    ``units`` is ``"rows"``, ``"range"`` or ``"groups"``. ``start_bound``
    counts preceding and ``end_bound`` following; ``None`` is unbounded and
    ``0`` the current row.

    >>> WindowFrame("rows", 2, 0)
    WindowFrame('rows', 2, 0)
    """

    __slots__ = ("end_bound", "start_bound", "units")

    def __init__(self, units: str, start_bound: int | None, end_bound: int | None) -> None:
        if units.lower() not in ("rows", "range", "groups"):
            raise _UnknownFrameUnits(f"units must be 'rows', 'range' or 'groups', not {units!r}")
        for bound in (start_bound, end_bound):
            if bound is not None and (not isinstance(bound, int) or bound < 0):
                raise ValueError(f"a frame bound is None or a non-negative int, not {bound!r}")
        self.units = units.lower()
        self.start_bound = start_bound
        self.end_bound = end_bound

    def __repr__(self) -> str:
        return f"WindowFrame({self.units!r}, {self.start_bound!r}, {self.end_bound!r})"

    def get_frame_units(self) -> str:
        """``rows``, ``range`` or ``groups``."""
        return self.units

    def get_lower_bound(self) -> WindowFrameBound:
        """Where the frame starts.

        >>> WindowFrame("rows", 2, None).get_lower_bound().get_offset()
        2
        """
        return WindowFrameBound(self.start_bound, preceding=True)

    def get_upper_bound(self) -> WindowFrameBound:
        """Where the frame ends.

        >>> WindowFrame("rows", 2, None).get_upper_bound().is_unbounded()
        True
        """
        return WindowFrameBound(self.end_bound, preceding=False)


class WindowFrameBound:
    """One end of a :class:`WindowFrame`: unbounded, the current row, or an
    offset preceding or following it."""

    __slots__ = ("_offset", "_preceding")

    def __init__(self, offset: int | None, *, preceding: bool) -> None:
        self._offset = offset
        self._preceding = preceding

    def is_unbounded(self) -> bool:
        return self._offset is None

    def is_current_row(self) -> bool:
        return self._offset == 0

    def is_preceding(self) -> bool:
        return self._preceding and self._offset != 0

    def is_following(self) -> bool:
        return not self._preceding and self._offset != 0

    def get_offset(self) -> int | None:
        """The number of rows (or range, or groups) from the current row;
        ``None`` when unbounded."""
        return self._offset

    def __repr__(self) -> str:
        if self._offset is None:
            where = "UNBOUNDED " + ("PRECEDING" if self._preceding else "FOLLOWING")
        elif self._offset == 0:
            where = "CURRENT ROW"
        else:
            where = f"{self._offset} " + ("PRECEDING" if self._preceding else "FOLLOWING")
        return f"WindowFrameBound({where})"


class Window:
    """An ``OVER (...)`` clause: partitioning, ordering, frame."""

    __slots__ = ("null_treatment", "order_by", "partition_by", "window_frame")

    def __init__(
        self,
        partition_by: Expr | str | Sequence[Expr | str] | None = None,
        window_frame: WindowFrame | None = None,
        order_by: SortKey | Sequence[SortKey] | None = None,
        null_treatment: NullTreatment | None = None,
    ) -> None:
        self.partition_by = partition_by
        self.window_frame = window_frame
        self.order_by = order_by
        self.null_treatment = null_treatment

    def _apply(self, expr: Expr) -> Expr:
        frame = self.window_frame
        return Expr(
            expr._raw.over(
                _expr_list(self.partition_by),
                _sort_list(self.order_by),
                None if frame is None else (frame.units, frame.start_bound, frame.end_bound),
                _ignore_nulls(self.null_treatment),
            )
        )


class CaseBuilder:
    """Builds ``CASE`` expressions; see :func:`dfship.functions.case` and
    :func:`dfship.functions.when`.

    >>> from dfship import functions as f
    >>> f.when(col("a") > 1, lit("big")).otherwise(lit("small"))
    Expr(CASE WHEN a > Int64(1) THEN Utf8View("big") ELSE Utf8View("small") END)
    """

    __slots__ = ("_base", "_thens", "_whens")

    def __init__(
        self,
        base: Expr | None,
        whens: tuple[Expr, ...] = (),
        thens: tuple[Expr, ...] = (),
    ) -> None:
        self._base = base
        self._whens = whens
        self._thens = thens

    def when(self, when: Any, then: Any) -> CaseBuilder:
        """Adds a branch; returns a new builder."""
        return CaseBuilder(self._base, (*self._whens, lit(when)), (*self._thens, lit(then)))

    def otherwise(self, value: Any) -> Expr:
        """Finishes the expression with a default value."""
        return self._build(lit(value))

    def end(self) -> Expr:
        """Finishes the expression; rows matching no branch are null."""
        return self._build(None)

    def _build(self, otherwise: Expr | None) -> Expr:
        return Expr(
            _internal.RawExpr.case(
                None if self._base is None else self._base._raw,
                [w._raw for w in self._whens],
                [t._raw for t in self._thens],
                None if otherwise is None else otherwise._raw,
            )
        )


class Columns:
    """Makes column references: ``col("a")``, or ``col.a`` for a name that
    is a Python identifier (``col.a["field"]`` reaches into a struct).

    >>> col("a"), col.total
    (Expr(a), Expr(total))
    """

    __slots__ = ()

    def __call__(self, name: str) -> Expr:
        """A reference to column ``name``."""
        return Expr.column(name)

    def __getattr__(self, name: str) -> Expr:
        # Dunder lookups (copy, pickle, inspect) are not column names.
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return Expr.column(name)

    def __repr__(self) -> str:
        return "col"


col = Columns()


def lit(value: Any) -> Expr:
    """A constant expression (see :meth:`Expr.literal`).

    >>> lit(1), lit("x"), lit(None)
    (Expr(Int64(1)), Expr(Utf8View("x")), Expr(NULL))
    """
    return Expr.literal(value)


column = col
literal = lit


# -- logical plan nodes -------------------------------------------------------


class PlanNode:
    """The top node of a :class:`~dfship.LogicalPlan` seen as its kind (see
    :meth:`LogicalPlan.to_variant`): one subclass per kind, named as the
    ``datafusion`` package names them (``Projection``, ``Filter``,
    ``Aggregate``, ``TableScan``, ``CreateIndex``, ...)."""

    __slots__ = ("_plan",)

    def __init__(self, plan: Any) -> None:
        self._plan = plan

    def input(self) -> list[Any]:
        """The plans this node reads from."""
        return list(self._plan.inputs())

    def expressions(self) -> list[Expr]:
        """The node's own expressions, in DataFusion's order."""
        return [Expr(raw) for raw in self._plan._raw.expressions()]

    def plan(self) -> Any:
        """The :class:`~dfship.LogicalPlan` this node tops."""
        return self._plan

    def __str__(self) -> str:
        return str(self._plan.display())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._plan.display()})"


class Projection(PlanNode):
    __slots__ = ()

    def projections(self) -> list[Expr]:
        """The expressions the node outputs."""
        return self.expressions()


class Filter(PlanNode):
    __slots__ = ()

    def predicate(self) -> Expr:
        """The condition rows must meet."""
        return self.expressions()[0]


class Aggregate(PlanNode):
    __slots__ = ()

    def group_by_exprs(self) -> list[Expr]:
        return self.expressions()[: self._plan._raw.group_expr_count()]

    def aggregate_exprs(self) -> list[Expr]:
        return self.expressions()[self._plan._raw.group_expr_count() :]


class Limit(PlanNode):
    __slots__ = ()

    def _parts(self) -> tuple[Expr | None, Expr | None]:
        exprs = self.expressions()
        if len(exprs) == 2:
            return exprs[0], exprs[1]
        if not exprs:
            return None, None
        # One of the two is set: DataFusion shows an unset fetch as None.
        if "fetch=None" in str(self._plan.display()):
            return exprs[0], None
        return None, exprs[0]

    def skip(self) -> Expr | None:
        """The rows skipped, as an expression; ``None`` when none are."""
        return self._parts()[0]

    def fetch(self) -> Expr | None:
        """The most rows returned, as an expression; ``None`` for no limit."""
        return self._parts()[1]

    def __str__(self) -> str:
        skip, fetch = self._parts()

        def show(e: Expr | None) -> str:
            return "None" if e is None else f"Some(Literal({e.canonical_name()}, None))"

        return f"Limit(Skip: {show(skip)}, Fetch: {show(fetch)})"


#: Every plan node kind, as :meth:`LogicalPlan.to_variant` returns it.
_PLAN_NODE_KINDS = [
    "Analyze",
    "CopyTo",
    "CreateCatalog",
    "CreateCatalogSchema",
    "CreateExternalTable",
    "CreateFunction",
    "CreateIndex",
    "CreateMemoryTable",
    "CreateView",
    "Deallocate",
    "DescribeTable",
    "Distinct",
    "DmlStatement",
    "DropCatalogSchema",
    "DropFunction",
    "DropTable",
    "DropView",
    "EmptyRelation",
    "Execute",
    "Explain",
    "Extension",
    "Join",
    "Prepare",
    "RecursiveQuery",
    "Repartition",
    "ResetVariable",
    "SetVariable",
    "Sort",
    "Subquery",
    "SubqueryAlias",
    "TableScan",
    "TransactionEnd",
    "TransactionStart",
    "Union",
    "Unnest",
    "Values",
    "Window",
]

_PLAN_NODES: dict[str, type[PlanNode]] = {
    "Projection": Projection,
    "Filter": Filter,
    "Aggregate": Aggregate,
    "Limit": Limit,
}
for _kind in _PLAN_NODE_KINDS:
    _PLAN_NODES[_kind] = type(_kind, (PlanNode,), {"__slots__": (), "__module__": __name__})
globals().update({k: v for k, v in _PLAN_NODES.items() if k not in globals()})


def _plan_node(plan: Any) -> PlanNode:
    return _PLAN_NODES.get(plan._raw.node_kind(), PlanNode)(plan)
