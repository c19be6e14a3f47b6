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

from collections.abc import Iterable, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa

from dfship import _internal

if TYPE_CHECKING:
    from dfship.context import SessionContext

__all__ = [
    "CaseBuilder",
    "Expr",
    "NullTreatment",
    "SortExpr",
    "SortKey",
    "Window",
    "WindowFrame",
    "col",
    "column",
    "lit",
    "literal",
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


class Expr:
    """A logical expression."""

    __slots__ = ("_raw",)

    def __init__(self, raw: _internal.RawExpr) -> None:
        self._raw = raw

    @property
    def raw(self) -> _internal.RawExpr:
        """The underlying ``dfship._internal.RawExpr``."""
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
        ``bytes`` map to null, boolean, int64, float64, utf8 and binary;
        anything ``pyarrow.scalar`` accepts (dates, decimals, lists, a
        ``pyarrow.Scalar``) works too."""
        if isinstance(value, Expr):
            return value
        return Expr(_internal.RawExpr.literal(value))

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
        return self._op("==", other)

    def __ne__(self, other: Any) -> Expr:  # type: ignore[override]
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
        return repr(self._raw)

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
    def alias(self, name: str) -> Expr:
        """The same expression, output under ``name``.

        >>> col("a").alias("b")
        Expr(a AS b)
        """
        return Expr(self._raw.alias(name))

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
        Expr(name LIKE Utf8("a%"))
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

    # -- introspection -----------------------------------------------------
    def schema_name(self) -> str:
        """The name of the output column this expression produces."""
        return str(self._raw.schema_name())

    def variant_name(self) -> str:
        """The kind of expression (``Column``, ``BinaryExpr``, ...)."""
        return str(self._raw.variant_name())


def _load(buf: bytes) -> Expr:
    """Unpickles an expression (see :meth:`Expr.__reduce__`): decodes against
    this thread's worker slot, else the global session."""
    expr = Expr.__new__(Expr)
    expr._raw = _internal.RawExpr.from_bytes(buf, None)
    return expr


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


class NullTreatment(Enum):
    """Whether a window or aggregate function skips nulls."""

    RESPECT_NULLS = "respect_nulls"
    IGNORE_NULLS = "ignore_nulls"


def _ignore_nulls(nt: NullTreatment | None) -> bool | None:
    return None if nt is None else nt is NullTreatment.IGNORE_NULLS


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
            raise ValueError(f"units must be 'rows', 'range' or 'groups', not {units!r}")
        for bound in (start_bound, end_bound):
            if bound is not None and (not isinstance(bound, int) or bound < 0):
                raise ValueError(f"a frame bound is None or a non-negative int, not {bound!r}")
        self.units = units.lower()
        self.start_bound = start_bound
        self.end_bound = end_bound

    def __repr__(self) -> str:
        return f"WindowFrame({self.units!r}, {self.start_bound!r}, {self.end_bound!r})"


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
    Expr(CASE WHEN a > Int64(1) THEN Utf8("big") ELSE Utf8("small") END)
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


def col(name: str) -> Expr:
    """A reference to column ``name``.

    >>> col("a")
    Expr(a)
    """
    return Expr.column(name)


def lit(value: Any) -> Expr:
    """A constant expression (see :meth:`Expr.literal`).

    >>> lit(1), lit("x"), lit(None)
    (Expr(Int64(1)), Expr(Utf8("x")), Expr(NULL))
    """
    return Expr.literal(value)


column = col
literal = lit
