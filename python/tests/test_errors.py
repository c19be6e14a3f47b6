"""The error family: every error is a typed Exception, never a BaseException."""

from __future__ import annotations

import inspect
import pickle

import pyarrow as pa
import pytest

import dfship
from dfship import _internal, col, exceptions, udf


def test_every_exception_derives_from_the_base() -> None:
    classes = [
        c
        for _, c in inspect.getmembers(exceptions, inspect.isclass)
        if c.__module__ == exceptions.__name__
    ]
    assert set(exceptions.__all__) == {c.__name__ for c in classes}
    for cls in classes:
        assert issubclass(cls, exceptions.DfshipError)
        assert issubclass(cls, Exception)


def test_the_rust_table_names_every_class_once() -> None:
    # dfship_core::exceptions is the one table the Rust side raises from and
    # tags worker refusals with; dfship.exceptions defines the classes.
    names = _internal.EXCEPTION_NAMES
    assert len(names) == len(set(names))
    assert set(names) == set(exceptions.__all__)


def test_exceptions_pickle_by_reference() -> None:
    err = exceptions.UdfError("Python UDF 'f' raised ValueError: x", "f", "ValueError")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is exceptions.UdfError
    assert (str(back), back.udf, back.type_name) == (str(err), "f", "ValueError")
    plan = pickle.loads(pickle.dumps(exceptions.PlanError("no table")))
    assert type(plan) is exceptions.PlanError and str(plan) == "no table"


def test_planning_errors_name_the_problem(ctx: dfship.SessionContext) -> None:
    df = ctx.from_pydict({"a": [1]})
    with pytest.raises(exceptions.PlanError, match="nope"):
        df.select(col("nope"))
    with pytest.raises(exceptions.PlanError):
        df.filter(col("a") + "x" > 1).collect()


def test_udf_errors_cross_process_boundaries(ctx: dfship.SessionContext) -> None:
    def bad(a: pa.Array) -> pa.Array:
        raise ValueError("bad input")

    f = udf(bad, [pa.int64()], pa.int64(), "immutable", name="bad")
    with pytest.raises(exceptions.UdfError) as info:
        ctx.from_pydict({"a": [1]}).select(f(col("a"))).collect()
    back = pickle.loads(pickle.dumps(info.value))
    assert "Python UDF 'bad' raised ValueError: bad input" in str(back)


def test_base_exception_from_a_udf_is_contained(ctx: dfship.SessionContext) -> None:
    """Even a UDF raising SystemExit surfaces as a UdfError, not an exit."""

    def exits(a: pa.Array) -> pa.Array:
        raise SystemExit(3)

    f = udf(exits, [pa.int64()], pa.int64(), "immutable", name="exits")
    with pytest.raises(exceptions.UdfError, match="SystemExit"):
        ctx.from_pydict({"a": [1]}).select(f(col("a"))).collect()


def test_query_from_inside_a_udf_is_refused_cleanly(ctx: dfship.SessionContext) -> None:
    inner = dfship.SessionContext()

    def reenter(a: pa.Array) -> pa.Array:
        inner.sql("SELECT 1").collect()
        return a

    f = udf(reenter, [pa.int64()], pa.int64(), "immutable", name="reenter")
    with pytest.raises(exceptions.UdfError, match="inside a running query"):
        ctx.from_pydict({"a": [1]}).select(f(col("a"))).collect()
