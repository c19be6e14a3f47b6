"""Python UDFs of the three families, evaluated locally."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from _workers import Summer, evaluate, make_double
from conftest import multi_partition_frame

import dfship
from dfship import (
    Accumulator,
    SessionConfig,
    SessionContext,
    Volatility,
    Window,
    WindowEvaluator,
    WindowFrame,
    col,
    udaf,
    udf,
    udwf,
)
from dfship.exceptions import DfshipError, ExecutionError, UdfError

# -- scalar --------------------------------------------------------------------


def test_the_user_guide_worker_function_runs_locally() -> None:
    double = make_double()
    assert evaluate(double(col("a")), [1, 2, 3]) == [2, 4, 6]
    assert evaluate(double(col("a")), [10, None, 30]) == [20, 0, 60]


def test_scalar_udf_call_forms(ctx: SessionContext) -> None:
    plain = udf(lambda a: pc.add(a, 1), [pa.int64()], pa.int64(), "immutable", name="inc")

    @udf([pa.int64()], pa.int64(), Volatility.Immutable)
    def triple(a: pa.Array) -> pa.Array:
        return pc.multiply(a, 3)

    keyword = udf(
        func=lambda a: a, input_types=[pa.int64()], return_type=pa.int64(), volatility="stable"
    )
    assert plain.name == "inc" and triple.name == "triple" and keyword.name == "<lambda>"
    df = ctx.from_pydict({"a": [1, 2]})
    out = df.select(
        plain(col("a")).alias("p"), triple(col("a")).alias("t"), keyword(col("a")).alias("k")
    )
    assert out.to_pydict() == {"p": [2, 3], "t": [3, 6], "k": [1, 2]}
    assert repr(plain) == "ScalarUDF('inc')"


def test_scalar_udf_with_closure_and_several_arguments(ctx: SessionContext) -> None:
    weights = {"x": 2, "y": 3}

    def weighted(a: pa.Array, b: pa.Array) -> pa.Array:
        return pa.array(
            [
                (p or 0) * weights["x"] + (q or 0) * weights["y"]
                for p, q in zip(a.to_pylist(), b.to_pylist(), strict=True)
            ]
        )

    f = udf(weighted, [pa.int64(), pa.int64()], pa.int64(), "immutable")
    out = ctx.from_pydict({"a": [1, 2], "b": [10, None]}).select(f(col("a"), col("b")).alias("w"))
    assert out.to_pydict() == {"w": [32, 4]}


def test_scalar_udf_sees_nulls_and_empty_input(ctx: SessionContext) -> None:
    seen: list[list[Any]] = []

    def record(a: pa.Array) -> pa.Array:
        seen.append(a.to_pylist())
        return pc.is_null(a)

    f = udf(record, [pa.int64()], pa.bool_(), "volatile")
    assert ctx.from_pydict({"a": [1, None]}).select(f(col("a")).alias("n")).to_pydict() == {
        "n": [False, True]
    }
    assert [1, None] in seen
    empty = ctx.from_pydict({"a": pa.array([], pa.int64())})
    assert empty.select(f(col("a")).alias("n")).to_pydict() == {"n": []}


def test_scalar_udf_on_literal_arguments(ctx: SessionContext) -> None:
    f = udf(
        lambda a, b: pc.add(a, b), [pa.int64(), pa.int64()], pa.int64(), "immutable", name="add2"
    )
    assert ctx.from_pydict({"a": [1, 2]}).select(f(col("a"), 100).alias("x")).to_pydict() == {
        "x": [101, 102]
    }


def test_scalar_udf_accepts_fields_and_python_lists(ctx: SessionContext) -> None:
    f = udf(
        lambda a: [v * 2 for v in a.to_pylist()],
        [pa.field("a", pa.int32())],
        pa.field("o", pa.int32()),
        "immutable",
    )
    out = ctx.from_pydict({"a": pa.array([1, 2], pa.int32())}).select(f(col("a")).alias("x"))
    assert out.to_pydict() == {"x": [2, 4]}


def test_scalar_udf_across_partitions(ctx: SessionContext) -> None:
    calls: list[int] = []

    def plus(a: pa.Array) -> pa.Array:
        calls.append(len(a))
        return pc.add(a, 1000)

    f = udf(plus, [pa.int64()], pa.int64(), "immutable")
    df = multi_partition_frame(
        SessionContext(SessionConfig().with_target_partitions(4)), parts=4, rows=40
    )
    out = df.select(f(col("v")).alias("x")).sort("x").to_pydict()["x"]
    assert out == [1000 + i for i in range(40)]
    assert len(calls) >= 4 and sum(calls) == 40


def test_exception_in_scalar_udf_keeps_type_message_and_cause(ctx: SessionContext) -> None:
    def broken(a: pa.Array) -> pa.Array:
        raise KeyError("missing thing")

    f = udf(broken, [pa.int64()], pa.int64(), "immutable", name="broken")
    with pytest.raises(UdfError) as info:
        ctx.from_pydict({"a": [1]}).select(f(col("a"))).collect()
    err = info.value
    assert "broken" in str(err) and "KeyError" in str(err) and "missing thing" in str(err)
    assert err.udf == "broken" and err.type_name == "KeyError"
    assert isinstance(err.__cause__, KeyError)
    assert isinstance(err, ExecutionError) and isinstance(err, Exception)


def test_udf_returning_the_wrong_type_or_length(ctx: SessionContext) -> None:
    wrong_type = udf(
        lambda a: pa.array(["x"] * len(a)), [pa.int64()], pa.int64(), "immutable", name="wt"
    )
    with pytest.raises(ExecutionError, match="returned an array of type Utf8"):
        ctx.from_pydict({"a": [1]}).select(wrong_type(col("a"))).collect()
    wrong_len = udf(lambda a: pa.array([1, 2, 3]), [pa.int64()], pa.int64(), "immutable", name="wl")
    with pytest.raises(ExecutionError, match="returned 3 values for 1 input rows"):
        ctx.from_pydict({"a": [1]}).select(wrong_len(col("a"))).collect()
    not_arrow = udf(lambda a: object(), [pa.int64()], pa.int64(), "immutable", name="na")
    with pytest.raises(UdfError, match="na"):
        ctx.from_pydict({"a": [1]}).select(not_arrow(col("a"))).collect()


def test_bad_udf_definitions_are_refused() -> None:
    with pytest.raises(ValueError, match="volatility"):
        udf(lambda a: a, [pa.int64()], pa.int64(), "sometimes")
    with pytest.raises(TypeError, match="pyarrow"):
        udf(lambda a: a, [int], pa.int64(), "immutable")  # type: ignore[list-item]
    with pytest.raises(TypeError, match="callable"):
        dfship.ScalarUDF("x", 3, [pa.int64()], pa.int64(), "immutable")  # type: ignore[arg-type]


def test_registered_udfs_are_callable_from_sql(ctx: SessionContext) -> None:
    f = udf(lambda a: pc.multiply(a, 10), [pa.int64()], pa.int64(), "immutable", name="times_ten")
    ctx.register_udf(f)
    ctx.from_pydict({"a": [1, 2]}, name="t")
    assert ctx.sql("SELECT times_ten(a) AS x FROM t").to_pydict() == {"x": [10, 20]}


# -- aggregate -------------------------------------------------------------------


class WeightedMean(Accumulator):
    """Two inputs, two state values, plain Python values returned."""

    def __init__(self) -> None:
        self.num = 0.0
        self.den = 0.0

    def update(self, values: pa.Array, weights: pa.Array) -> None:  # type: ignore[override]
        for v, w in zip(values.to_pylist(), weights.to_pylist(), strict=True):
            if v is not None and w is not None:
                self.num += v * w
                self.den += w

    def merge(self, states: list[pa.Array]) -> None:
        self.num += sum(states[0].to_pylist())
        self.den += sum(states[1].to_pylist())

    def state(self) -> list[Any]:
        return [self.num, self.den]

    def evaluate(self) -> Any:
        return None if self.den == 0 else self.num / self.den


def test_udaf_groups_and_partitions() -> None:
    ctx = SessionContext(SessionConfig().with_target_partitions(4))
    summer = udaf(Summer, pa.int64(), pa.int64(), [pa.int64()], "immutable", name="summer")
    df = multi_partition_frame(ctx, parts=4, rows=100)
    out = df.aggregate([col("k")], [summer(col("v")).alias("s")]).sort("k").to_pydict()
    assert out["s"] == [sum(i for i in range(100) if i % 5 == k) for k in range(5)]
    whole = df.aggregate([], [summer(col("v")).alias("s")]).to_pydict()
    assert whole == {"s": [sum(range(100))]}


def test_udaf_with_two_inputs_and_two_states(ctx: SessionContext) -> None:
    wmean = udaf(
        WeightedMean,
        [pa.float64(), pa.float64()],
        pa.float64(),
        [pa.float64(), pa.float64()],
        "immutable",
    )
    assert wmean.name == "weightedmean"
    df = ctx.from_pydict({"g": [1, 1, 2, 2], "v": [1.0, 3.0, 5.0, None], "w": [1.0, 3.0, 2.0, 1.0]})
    out = df.aggregate([col("g")], [wmean(col("v"), col("w")).alias("m")]).sort("g").to_pydict()
    assert out == {"g": [1, 2], "m": [2.5, 5.0]}


def test_udaf_decorator_and_nulls_and_empty(ctx: SessionContext) -> None:
    @udaf(pa.int64(), pa.int64(), [pa.int64()], "immutable", name="dsum")
    class DecoratedSum(Summer):
        pass

    df = ctx.from_pydict({"a": [None, None, 4]})
    assert df.aggregate([], [DecoratedSum(col("a")).alias("s")]).to_pydict() == {"s": [4]}
    empty = ctx.from_pydict({"a": pa.array([], pa.int64())})
    assert empty.aggregate([], [DecoratedSum(col("a")).alias("s")]).to_pydict() == {"s": [0]}


def test_udaf_registered_for_sql(ctx: SessionContext) -> None:
    ctx.register_udaf(
        udaf(Summer, pa.int64(), pa.int64(), [pa.int64()], "immutable", name="my_sum")
    )
    ctx.from_pydict({"a": [1, 2, 3]}, name="t")
    assert ctx.sql("SELECT my_sum(a) AS s FROM t").to_pydict() == {"s": [6]}


def test_exception_in_accumulator_is_a_udf_error(ctx: SessionContext) -> None:
    class Fails(Summer):
        def update(self, *values: pa.Array) -> None:
            raise ZeroDivisionError("nope")

    bad = udaf(Fails, pa.int64(), pa.int64(), [pa.int64()], "immutable", name="fails")
    with pytest.raises(UdfError, match="ZeroDivisionError: nope") as info:
        ctx.from_pydict({"a": [1]}).aggregate([], [bad(col("a"))]).collect()
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_accumulator_state_of_the_wrong_size(ctx: SessionContext) -> None:
    class TooMuchState(Summer):
        def state(self) -> list[pa.Scalar]:
            return [pa.scalar(1), pa.scalar(2)]

    bad = udaf(TooMuchState, pa.int64(), pa.int64(), [pa.int64()], "immutable", name="tms")
    df = multi_partition_frame(
        SessionContext(SessionConfig().with_target_partitions(2)), parts=2, rows=10
    )
    with pytest.raises(DfshipError, match="state"):
        df.aggregate([col("k")], [bad(col("v"))]).collect()


# -- window ----------------------------------------------------------------------


class RunningCount(WindowEvaluator):
    """1, 2, 3, ... over the whole partition at once."""

    def evaluate_all(self, values: list[pa.Array], num_rows: int) -> pa.Array:
        return pa.array(list(range(1, num_rows + 1)), pa.int64())


class FrameSum(WindowEvaluator):
    """Sum over the row's window frame."""

    def uses_window_frame(self) -> bool:
        return True

    def evaluate(self, values: list[pa.Array], eval_range: tuple[int, int]) -> pa.Scalar:
        start, end = eval_range
        return pa.scalar(pc.sum(values[0].slice(start, end - start)).as_py() or 0, pa.int64())


class RankLike(WindowEvaluator):
    """The rank, from the peer ranges DataFusion hands over."""

    def include_rank(self) -> bool:
        return True

    def evaluate_all_with_rank(
        self, num_rows: int, ranks_in_partition: list[tuple[int, int]]
    ) -> pa.Array:
        out: list[int] = []
        for start, end in ranks_in_partition:
            out.extend([start + 1] * (end - start))
        return pa.array(out, pa.int64())


def test_udwf_three_evaluation_modes(ctx: SessionContext) -> None:
    running = udwf(RunningCount, [pa.int64()], pa.int64(), "immutable", name="running")
    frame_sum = udwf(FrameSum, [pa.int64()], pa.int64(), "immutable", name="frame_sum")
    rank_like = udwf(RankLike, [pa.int64()], pa.int64(), "immutable", name="rank_like")
    df = ctx.from_pydict({"k": ["a", "a", "a", "b"], "t": [1, 2, 2, 1], "v": [1, 2, 3, 4]})
    part = Window(partition_by=[col("k")], order_by=[col("t"), col("v")])
    out = (
        df.select(
            "k",
            "v",
            running(col("v")).over(part).alias("n"),
            frame_sum(col("v"))
            .over(
                Window(
                    partition_by=[col("k")],
                    order_by=[col("v")],
                    window_frame=WindowFrame("rows", 1, 0),
                )
            )
            .alias("s"),
            rank_like(col("v"))
            .over(Window(partition_by=[col("k")], order_by=[col("t")]))
            .alias("r"),
        )
        .sort("k", "v")
        .to_pydict()
    )
    assert out["n"] == [1, 2, 3, 1]
    assert out["s"] == [1, 3, 5, 4]
    assert out["r"] == [1, 2, 2, 1]


def test_udwf_decorator_registration_and_errors(ctx: SessionContext) -> None:
    @udwf([pa.int64()], pa.int64(), "immutable", name="count_up")
    class CountUp(RunningCount):
        pass

    ctx.register_udwf(CountUp)
    ctx.from_pydict({"a": [5, 6]}, name="w")
    assert ctx.sql("SELECT count_up(a) OVER (ORDER BY a) AS c FROM w").to_pydict() == {"c": [1, 2]}

    class Incomplete(WindowEvaluator):
        pass

    bad = udwf(Incomplete, [pa.int64()], pa.int64(), "immutable", name="incomplete")
    with pytest.raises(UdfError, match="NotImplementedError"):
        ctx.table("w").select(bad(col("a")).over(Window())).collect()
