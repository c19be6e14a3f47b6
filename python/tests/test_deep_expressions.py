"""Expressions of any depth never crash a process: up to the process limit
(``dfship.max_expression_depth()``) every operation works, past it building
raises ExpressionTooDeepError. Each scenario runs in a child interpreter, so a
stack overflow shows as a dead child instead of a dead test run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import dfship
from dfship.exceptions import ExpressionTooDeepError

PRELUDE = """
import copy, gc, json, pickle, sys, threading
import dfship
from dfship import SessionContext, col, lit
from dfship import functions as f
from dfship.exceptions import ExpressionTooDeepError

STEPS = {
    "left": lambda e: e + lit(1),
    "right": lambda e: lit(1) + e,
    "calls": lambda e: f.abs(e),
}

def build(shape, levels):
    '''Grows an expression one level at a time, up to `levels` levels or
    until dfship refuses; returns it and how deep it got.'''
    step, e = STEPS[shape], col("a")
    for _ in range(levels - 1):
        try:
            e = step(e)
        except ExpressionTooDeepError as err:
            return e, err
    return e, None

def evaluate(e):
    df = SessionContext().from_pydict({"a": [-1, 2]})
    (values,) = df.select(e).to_pydict().values()
    return values
"""


def run_child(body: str, timeout: int = 600) -> dict:  # type: ignore[type-arg]
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"the child died ({done.returncode}):\n{done.stderr[-3000:]}"
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[type-arg]
    return result


@pytest.mark.parametrize("shape", ["left", "right", "calls"])
def test_a_million_levels_stop_at_the_limit_and_everything_works_there(shape: str) -> None:
    out = run_child(
        f"""
        shape = {shape!r}
        limit = dfship.max_expression_depth()
        e, err = build(shape, 1_000_000)
        out = {{"limit": limit, "depth": e.depth(), "error": str(err), "err_depth": err.depth}}
        # Every operation on the deepest expression allowed.
        out["str"] = len(str(e))
        out["repr"] = repr(e).startswith("Expr(")
        out["eq"] = e.equals(copy.deepcopy(e)) and e.equals(copy.copy(e))
        out["hash"] = hash(e.raw) == hash(copy.deepcopy(e).raw)
        back = pickle.loads(pickle.dumps(e))
        out["round_trip"] = back.equals(e) and back.depth() == e.depth()
        out["from_bytes"] = dfship.Expr.from_bytes(e.to_bytes()).depth()
        out["sort"] = len(repr(e.sort()))
        # One level more by any route is refused too.
        for name, grow in [("alias", lambda: e.alias("x").alias("y")), ("not", lambda: ~e)]:
            try:
                grow()
                out[name] = "built"
            except ExpressionTooDeepError:
                out[name] = "refused"
        if shape == "calls":
            # DataFusion plans nested calls in more than quadratic time:
            # evaluate a shallower one here, the deep ones in other shapes.
            e = build(shape, 200)[0]
        out["value"] = evaluate(e)
        del e, back
        gc.collect()
        print(json.dumps(out))
        """
    )
    limit = out["limit"]
    assert limit == dfship._internal.DEFAULT_MAX_EXPRESSION_DEPTH == 2000
    assert out["depth"] == limit and out["err_depth"] == limit + 1
    assert f"{limit + 1} levels deep, over the limit of {limit}" in out["error"]
    assert out["str"] > limit
    assert out["repr"] and out["eq"] and out["hash"] and out["round_trip"]
    assert out["from_bytes"] == limit
    assert out["sort"] > limit
    assert out["not"] == "refused"
    assert out["alias"] == "refused"
    expected = {"left": [limit - 2, limit + 1], "right": [limit - 2, limit + 1], "calls": [1, 2]}
    assert out["value"] == expected[shape]


def test_the_limit_is_configurable_and_deeper_expressions_work_below_it() -> None:
    """With the limit raised, deeper chains build, print, compare, serialize
    under a permissive wire limit and are freed. (Building is quadratic in
    depth, as every step copies the expression it extends, so the test stays
    at a few thousand levels.)"""
    out = run_child(
        """
        dfship.set_max_expression_depth(5_001)
        e, err = build("left", 5_000)
        out = {"depth": e.depth(), "error": err is not None}
        out["str"] = len(str(e))
        out["eq"] = e.equals(e) and not e.equals(col("a"))
        permissive = SessionContext().with_wire_limits(max_depth=5_002)
        try:
            e.to_bytes()
        except ExpressionTooDeepError as refused:
            out["wire_default"] = str(refused)
        blob = e.to_bytes(permissive)
        out["decoded"] = dfship.Expr.from_bytes(blob, ctx=permissive).depth()
        # Lowering the limit does not touch existing expressions, but
        # refuses building or decoding anything deeper.
        dfship.set_max_expression_depth(100)
        out["still"] = e.depth()
        try:
            dfship.Expr.from_bytes(blob, ctx=permissive)
        except ExpressionTooDeepError as refused:
            out["decode_refused"] = refused.limit
        del e
        gc.collect()
        print(json.dumps(out))
        """,
        timeout=900,
    )
    assert out["depth"] == 5_000 and not out["error"]
    assert out["str"] > 5_000 and out["eq"]
    assert "over the limit of 2000 at encode" in out["wire_default"]
    assert out["decoded"] == 5_000
    assert out["still"] == 5_000
    assert out["decode_refused"] == 100


def test_deep_queries_run_on_a_thread_with_a_small_stack() -> None:
    """Planning and evaluation get stacks sized for the expression, whatever
    the calling thread has: a 2,000-deep query from a 256 KiB thread."""
    out = run_child(
        """
        result = {}
        def work():
            try:
                e, _ = build("right", 2_000)
                result["value"] = evaluate(e)
                result["str"] = len(str(e))
                del e
            except BaseException as err:
                result["error"] = repr(err)
        threading.stack_size(256 * 1024)
        t = threading.Thread(target=work)
        t.start()
        t.join()
        print(json.dumps(result))
        """
    )
    assert out == {"value": [1998, 2001], "str": out["str"]} and out["str"] > 2000


def test_the_limit_is_validated() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        dfship.set_max_expression_depth(0)
    assert dfship.max_expression_depth() == 2000
    assert issubclass(ExpressionTooDeepError, dfship.exceptions.PayloadError) or issubclass(
        ExpressionTooDeepError, dfship.exceptions.DfshipError
    )
