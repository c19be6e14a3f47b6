"""User-defined functions written in Python: scalar, aggregate and window.

A scalar UDF receives whole columns as ``pyarrow`` arrays and returns an
array of the same length:

>>> import pyarrow as pa, pyarrow.compute as pc
>>> import dfship
>>> from dfship import col, udf
>>> double = udf(lambda a: pc.multiply(a, 2), [pa.int64()], pa.int64(), "immutable", name="double")
>>> ctx = dfship.SessionContext()
>>> ctx.from_pydict({"a": [1, 2, None]}).select(double(col("a")).alias("d")).to_pydict()
{'d': [2, 4, None]}

All three also work as decorators:

>>> @udf([pa.string()], pa.int64(), "immutable")
... def name_length(names):
...     return pc.utf8_length(names)
>>> name_length.name
'name_length'
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any, TypeAlias, TypeVar, overload

import pyarrow as pa

from dfship import _internal
from dfship.expr import Expr, SortKey, _raw, _sort_list

__all__ = [
    "Accumulator",
    "AggregateUDF",
    "ScalarUDF",
    "Volatility",
    "WindowEvaluator",
    "TableFunction",
    "WindowUDF",
    "udaf",
    "udf",
    "udtf",
    "udwf",
]


class Volatility(Enum):
    """How a function's result depends on its inputs.

    ``Immutable``: same inputs, same output, always (safe to cache and share).
    ``Stable``: same output within one query. ``Volatile``: may differ on
    every call (random, time).
    """

    Immutable = "immutable"
    Stable = "stable"
    Volatile = "volatile"

    def __str__(self) -> str:
        return self.value


def _volatility(value: Volatility | str) -> str:
    if isinstance(value, Volatility):
        return value.value
    if isinstance(value, str) and value.lower() in ("immutable", "stable", "volatile"):
        return value.lower()
    raise ValueError(
        f"volatility must be a Volatility or 'immutable', 'stable', 'volatile'; not {value!r}"
    )


TypeSpec: TypeAlias = pa.DataType | pa.Field


def _type(spec: TypeSpec) -> pa.DataType:
    if isinstance(spec, pa.Field):
        return spec.type
    if isinstance(spec, pa.DataType):
        return spec
    raise TypeError(f"expected a pyarrow.DataType or pyarrow.Field, not {type(spec).__name__}")


def _types(specs: TypeSpec | Sequence[TypeSpec]) -> list[pa.DataType]:
    if isinstance(specs, (pa.DataType, pa.Field)):
        return [_type(specs)]
    return [_type(s) for s in specs]


def _is_capsule(obj: Any) -> bool:
    return type(obj).__name__ == "PyCapsule"


def _exports(obj: Any, method: str) -> bool:
    """Whether ``obj`` is a UDF exported through DataFusion's FFI."""
    return hasattr(obj, method) or _is_capsule(obj)


def _default_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or type(func).__name__
    return str(name).lower()


class Accumulator(ABC):
    """The state of one aggregate group. Subclass it and pass the class (or any
    zero-argument factory) to :func:`udaf`.

    ``update`` receives input columns, ``state`` returns the partial state
    (one value per declared state type), ``merge`` combines the states of
    other partitions (one array per state type), ``evaluate`` returns the result.
    """

    @abstractmethod
    def state(self) -> list[pa.Scalar[Any]]:
        """The partial state: one value per declared state type."""

    @abstractmethod
    def update(self, *values: pa.Array[Any]) -> None:
        """Folds in a batch of input values (one array per argument)."""

    @abstractmethod
    def merge(self, states: list[pa.Array[Any]]) -> None:
        """Folds in partial states from other accumulators (one array per state type)."""

    @abstractmethod
    def evaluate(self) -> pa.Scalar[Any]:
        """The final value."""


class WindowEvaluator:
    """The evaluation of a window function over one partition. Subclass it and
    pass the class (or any zero-argument factory) to :func:`udwf`.

    Which method is called depends on the flags: with
    :meth:`uses_window_frame`, :meth:`evaluate` once per row with the row's
    frame; with :meth:`include_rank`, :meth:`evaluate_all_with_rank`;
    otherwise :meth:`evaluate_all` once for the whole partition.
    """

    def memoize(self) -> None:
        """Called after each batch in bounded execution, to drop unneeded state."""

    def get_range(self, idx: int, num_rows: int) -> tuple[int, int]:
        """The rows needed to compute row ``idx`` (bounded execution)."""
        return (idx, idx + 1)

    def is_causal(self) -> bool:
        """Whether row ``i`` depends only on rows ``<= i``."""
        return False

    def evaluate_all(self, values: list[pa.Array[Any]], num_rows: int) -> pa.Array[Any]:
        """All results of the partition at once (one input array per argument)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement evaluate_all")

    def evaluate(self, values: list[pa.Array[Any]], eval_range: tuple[int, int]) -> pa.Scalar[Any]:
        """The result for one row, given the rows of its frame."""
        raise NotImplementedError(f"{type(self).__name__} does not implement evaluate")

    def evaluate_all_with_rank(
        self, num_rows: int, ranks_in_partition: list[tuple[int, int]]
    ) -> pa.Array[Any]:
        """All results, given the row ranges of equal ``ORDER BY`` values."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement evaluate_all_with_rank"
        )

    def supports_bounded_execution(self) -> bool:
        return False

    def uses_window_frame(self) -> bool:
        return False

    def include_rank(self) -> bool:
        return False


_F = TypeVar("_F", bound=Callable[..., Any])


_UDF = TypeVar("_UDF", "ScalarUDF", "AggregateUDF", "WindowUDF", "TableFunction")


def _named_after(udf: _UDF, func: Callable[..., Any]) -> _UDF:
    """A UDF made by a decorator takes the decorated definition's name,
    qualified name, module and docstring, and keeps it as ``__wrapped__``,
    as ``functools.wraps`` does for a function."""
    functools.update_wrapper(udf, func, updated=())
    return udf


class ScalarUDF:
    """A scalar function written in Python, called once per batch with
    ``pyarrow`` arrays (one per argument), returning an array."""

    __slots__ = ("__dict__", "_raw")

    def __init__(
        self,
        name: str,
        func: Callable[..., Any],
        input_types: TypeSpec | Sequence[TypeSpec],
        return_type: TypeSpec,
        volatility: Volatility | str,
    ) -> None:
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        self._raw = _internal.ScalarUDF(
            name, func, _types(input_types), _type(return_type), _volatility(volatility)
        )

    @classmethod
    def from_ffi(cls, exported: Any) -> ScalarUDF:
        """A scalar UDF implemented in another library and exported through
        DataFusion's FFI (an object with ``__datafusion_scalar_udf__``, or its
        capsule). It always travels by name: register it on the receiving
        session too."""
        udf = cls.__new__(cls)
        udf._raw = _internal.ScalarUDF.from_ffi(exported)
        return udf

    @property
    def name(self) -> str:
        return str(self._raw.name)

    def __call__(self, *args: Any) -> Expr:
        return Expr(self._raw(*[_raw(a) for a in args]))

    def __repr__(self) -> str:
        return f"ScalarUDF({self.name!r})"

    @overload
    @staticmethod
    def udf(
        input_types: TypeSpec | Sequence[TypeSpec],
        return_type: TypeSpec,
        volatility: Volatility | str,
        name: str | None = None,
    ) -> Callable[[Callable[..., Any]], ScalarUDF]: ...

    @overload
    @staticmethod
    def udf(
        func: Callable[..., Any],
        input_types: TypeSpec | Sequence[TypeSpec],
        return_type: TypeSpec,
        volatility: Volatility | str,
        name: str | None = None,
    ) -> ScalarUDF: ...

    @staticmethod
    def udf(*args: Any, **kwargs: Any) -> Any:
        """Makes a :class:`ScalarUDF`: ``udf(func, input_types, return_type,
        volatility, name=None)``, as a decorator without ``func``, or
        ``udf(exported)`` for a UDF exported through DataFusion's FFI."""
        if len(args) == 1 and not kwargs and _exports(args[0], "__datafusion_scalar_udf__"):
            return ScalarUDF.from_ffi(args[0])
        if args and callable(args[0]):
            return _make_scalar(*args, **kwargs)
        if "func" in kwargs:
            return _make_scalar(**kwargs)

        def decorator(func: Callable[..., Any]) -> ScalarUDF:
            return _named_after(_make_scalar(func, *args, **kwargs), func)

        return decorator


def _make_scalar(
    func: Callable[..., Any],
    input_types: TypeSpec | Sequence[TypeSpec],
    return_type: TypeSpec,
    volatility: Volatility | str,
    name: str | None = None,
) -> ScalarUDF:
    return ScalarUDF(name or _default_name(func), func, input_types, return_type, volatility)


class AggregateUDF:
    """An aggregate function written in Python as an :class:`Accumulator`."""

    __slots__ = ("__dict__", "_raw")

    def __init__(
        self,
        name: str,
        accumulator: Callable[[], Accumulator],
        input_types: TypeSpec | Sequence[TypeSpec],
        return_type: TypeSpec,
        state_type: TypeSpec | Sequence[TypeSpec],
        volatility: Volatility | str,
    ) -> None:
        if not callable(accumulator):
            raise TypeError(f"accumulator must be callable, not {type(accumulator).__name__}")
        self._raw = _internal.AggregateUDF(
            name,
            accumulator,
            _types(input_types),
            _type(return_type),
            _types(state_type),
            _volatility(volatility),
        )

    @classmethod
    def from_ffi(cls, exported: Any) -> AggregateUDF:
        """An aggregate UDF exported through DataFusion's FFI (an object with
        ``__datafusion_aggregate_udf__``, or its capsule); it travels by name."""
        udaf = cls.__new__(cls)
        udaf._raw = _internal.AggregateUDF.from_ffi(exported)
        return udaf

    @property
    def name(self) -> str:
        return str(self._raw.name)

    def __call__(
        self,
        *args: Any,
        distinct: bool = False,
        filter: Expr | None = None,
        order_by: SortKey | Sequence[SortKey] | None = None,
    ) -> Expr:
        return Expr(
            self._raw.call(
                [_raw(a) for a in args],
                distinct,
                None if filter is None else filter.raw,
                _sort_list(order_by),
            )
        )

    def __repr__(self) -> str:
        return f"AggregateUDF({self.name!r})"

    @overload
    @staticmethod
    def udaf(
        input_types: TypeSpec | Sequence[TypeSpec],
        return_type: TypeSpec,
        state_type: TypeSpec | Sequence[TypeSpec],
        volatility: Volatility | str,
        name: str | None = None,
    ) -> Callable[[Callable[[], Accumulator]], AggregateUDF]: ...

    @overload
    @staticmethod
    def udaf(
        accum: Callable[[], Accumulator],
        input_types: TypeSpec | Sequence[TypeSpec],
        return_type: TypeSpec,
        state_type: TypeSpec | Sequence[TypeSpec],
        volatility: Volatility | str,
        name: str | None = None,
    ) -> AggregateUDF: ...

    @staticmethod
    def udaf(*args: Any, **kwargs: Any) -> Any:
        """Makes an :class:`AggregateUDF`: ``udaf(accum, input_types,
        return_type, state_type, volatility, name=None)``, or as a decorator
        (on the accumulator class) without ``accum``, or ``udaf(exported)``
        for a UDF exported through DataFusion's FFI."""
        if len(args) == 1 and not kwargs and _exports(args[0], "__datafusion_aggregate_udf__"):
            return AggregateUDF.from_ffi(args[0])
        if args and callable(args[0]):
            return _make_aggregate(*args, **kwargs)
        if "accum" in kwargs:
            return _make_aggregate(**kwargs)

        def decorator(accum: Callable[[], Accumulator]) -> AggregateUDF:
            return _named_after(_make_aggregate(accum, *args, **kwargs), accum)

        return decorator


def _make_aggregate(
    accum: Callable[[], Accumulator],
    input_types: TypeSpec | Sequence[TypeSpec],
    return_type: TypeSpec,
    state_type: TypeSpec | Sequence[TypeSpec],
    volatility: Volatility | str,
    name: str | None = None,
) -> AggregateUDF:
    _check_class(accum, Accumulator, "accum")
    return AggregateUDF(
        name or _default_name(accum), accum, input_types, return_type, state_type, volatility
    )


def _check_class(factory: Any, base: type, argument: str) -> None:
    """A class given as the factory must be a complete ``base``: refused
    here, not when the first batch reaches it on some worker."""
    if not isinstance(factory, type):
        return
    if not issubclass(factory, base):
        raise TypeError(
            f"`{argument}` must implement the abstract base class {base.__name__}, "
            f"and {factory.__name__} does not derive from it"
        )
    missing = sorted(getattr(factory, "__abstractmethods__", ()))
    if missing:
        raise TypeError(
            f"Can't instantiate abstract class {factory.__name__} "
            f"with abstract methods {', '.join(missing)}"
        )


class WindowUDF:
    """A window function written in Python as a :class:`WindowEvaluator`.
    Call it, then give it a window with :meth:`Expr.over`."""

    __slots__ = ("__dict__", "_raw")

    def __init__(
        self,
        name: str,
        func: Callable[[], WindowEvaluator],
        input_types: TypeSpec | Sequence[TypeSpec],
        return_type: TypeSpec,
        volatility: Volatility | str,
    ) -> None:
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        self._raw = _internal.WindowUDF(
            name, func, _types(input_types), _type(return_type), _volatility(volatility)
        )

    @classmethod
    def from_ffi(cls, exported: Any) -> WindowUDF:
        """A window UDF exported through DataFusion's FFI (an object with
        ``__datafusion_window_udf__``, or its capsule); it travels by name."""
        udwf = cls.__new__(cls)
        udwf._raw = _internal.WindowUDF.from_ffi(exported)
        return udwf

    @property
    def name(self) -> str:
        return str(self._raw.name)

    def __call__(self, *args: Any) -> Expr:
        return Expr(self._raw(*[_raw(a) for a in args]))

    def __repr__(self) -> str:
        return f"WindowUDF({self.name!r})"

    @overload
    @staticmethod
    def udwf(
        input_types: TypeSpec | Sequence[TypeSpec],
        return_type: TypeSpec,
        volatility: Volatility | str,
        name: str | None = None,
    ) -> Callable[[Callable[[], WindowEvaluator]], WindowUDF]: ...

    @overload
    @staticmethod
    def udwf(
        func: Callable[[], WindowEvaluator],
        input_types: TypeSpec | Sequence[TypeSpec],
        return_type: TypeSpec,
        volatility: Volatility | str,
        name: str | None = None,
    ) -> WindowUDF: ...

    @staticmethod
    def udwf(*args: Any, **kwargs: Any) -> Any:
        """Makes a :class:`WindowUDF`: ``udwf(func, input_types, return_type,
        volatility, name=None)``, as a decorator (on the evaluator class)
        without ``func``, or ``udwf(exported)`` for a UDF exported through
        DataFusion's FFI."""
        if len(args) == 1 and not kwargs and _exports(args[0], "__datafusion_window_udf__"):
            return WindowUDF.from_ffi(args[0])
        if args and callable(args[0]):
            return _make_window(*args, **kwargs)
        if "func" in kwargs:
            return _make_window(**kwargs)

        def decorator(func: Callable[[], WindowEvaluator]) -> WindowUDF:
            return _named_after(_make_window(func, *args, **kwargs), func)

        return decorator


def _make_window(
    func: Callable[[], WindowEvaluator],
    input_types: TypeSpec | Sequence[TypeSpec],
    return_type: TypeSpec,
    volatility: Volatility | str,
    name: str | None = None,
) -> WindowUDF:
    _check_class(func, WindowEvaluator, "func")
    return WindowUDF(name or _default_name(func), func, input_types, return_type, volatility)


udf = ScalarUDF.udf
udaf = AggregateUDF.udaf
udwf = WindowUDF.udwf


class TableFunction:
    """A table function written in Python: SQL calls it in ``FROM``
    (``SELECT * FROM name(1, 'x')``) while the query is planned, with each
    argument as an :class:`~dfship.Expr` (a literal's value is
    ``arg.to_variant().value()``), and scans the table it returns: a
    :class:`~dfship.Table`, a DataFrame, Arrow data or a pyarrow dataset.
    With ``with_session=True`` it also gets the calling session as the
    keyword argument ``session``. Register it with
    :meth:`dfship.SessionContext.register_udtf`.

    It runs in the process that plans the query, once per call in the SQL.
    """

    __slots__ = ("__dict__", "func", "name", "with_session")

    def __init__(self, name: str, func: Callable[..., Any], with_session: bool = False) -> None:
        if hasattr(func, "__datafusion_table_function__"):
            if with_session:
                raise TypeError(
                    "with_session=True is not supported for FFI-exported table functions: "
                    "they run outside Python and cannot take a session"
                )
            raise NotImplementedError(
                "dfship does not load FFI-exported table functions; wrap the table "
                "it returns in a Python function instead"
            )
        if not callable(func):
            raise TypeError(f"func must be callable, not {type(func).__name__}")
        self.name = name
        self.func = func
        self.with_session = with_session

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return f"TableFunction({self.name!r})"

    @overload
    @staticmethod
    def udtf(
        name: str, *, with_session: bool = False
    ) -> Callable[[Callable[..., Any]], TableFunction]: ...

    @overload
    @staticmethod
    def udtf(
        func: Callable[..., Any], name: str, *, with_session: bool = False
    ) -> TableFunction: ...

    @staticmethod
    def udtf(*args: Any, with_session: bool = False, **kwargs: Any) -> Any:
        """Makes a :class:`TableFunction`: ``udtf(func, name)``, or
        ``@udtf(name)`` as a decorator.

        >>> import pyarrow as pa, dfship
        >>> @udtf("numbers")
        ... def numbers(n):
        ...     return pa.table({"i": list(range(n.to_variant().value()))})
        >>> ctx = dfship.SessionContext()
        >>> ctx.register_udtf(numbers)
        >>> ctx.sql("SELECT sum(i) AS s FROM numbers(4)").to_pydict()
        {'s': [6]}
        """
        if args and not isinstance(args[0], str):
            return TableFunction(_udtf_name(args[1:], kwargs), args[0], with_session)
        if "func" in kwargs:
            func = kwargs.pop("func")
            return TableFunction(_udtf_name(args, kwargs), func, with_session)
        name = _udtf_name(args, kwargs)

        def decorator(func: Callable[..., Any]) -> TableFunction:
            return _named_after(TableFunction(name, func, with_session), func)

        return decorator


def _udtf_name(args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    name = kwargs.pop("name", None) if not args else args[0]
    if kwargs or len(args) > 1:
        raise TypeError("udtf takes a function and a name, or a name as a decorator")
    if not isinstance(name, str):
        raise TypeError(f"a table function's name is a str, not {type(name).__name__}")
    return name


udtf = TableFunction.udtf
