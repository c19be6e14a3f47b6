"""Expressions shipped to worker processes, for every start method."""

from __future__ import annotations

import functools
import multiprocessing as mp
import pickle
from collections.abc import Iterator

import _workers
import pyarrow as pa
import pytest

import dfship
from dfship import SessionContext, col, ipc

START_METHODS = ["fork", "spawn", "forkserver"]
TIMEOUT = 120


@pytest.fixture(autouse=True)
def _parent_queried_and_slots_empty() -> Iterator[None]:
    SessionContext().sql("SELECT 1").collect()
    _workers.four_partition_aggregate()
    ipc.clear_worker_ctx()
    ipc.clear_sender_ctx()
    yield
    ipc.clear_worker_ctx()
    ipc.clear_sender_ctx()


@pytest.mark.parametrize("method", START_METHODS)
def test_user_guide_pool_example(method: str) -> None:
    double = dfship.udf(
        lambda arr: pa.array([(v.as_py() or 0) * 2 for v in arr]),
        [pa.int64()],
        pa.int64(),
        volatility="immutable",
        name="double",
    )
    expr = double(col("a"))
    with mp.get_context(method).Pool(processes=2) as pool:
        results = pool.starmap_async(
            _workers.evaluate, [(expr, [1, 2, 3]), (expr, [10, 20, 30])]
        ).get(TIMEOUT)
    assert results == [[2, 4, 6], [20, 40, 60]]


@pytest.mark.parametrize("method", START_METHODS)
def test_closures_and_all_families_in_a_pool(method: str) -> None:
    scale = _workers.make_closure_udf(3, {"bias": 5})
    values = list(range(12))
    jobs = [
        (_workers.evaluate, (scale(col("a")), [1, None, 2])),
        (_workers.aggregate_with, (_workers.make_udaf()(col("a")), values)),
        (_workers.window_with, (_workers.make_udwf()(col("a")), [1, 2, 3])),
    ]
    expected = [
        [8, None, 11],
        _workers.aggregate_with(_workers.make_udaf()(col("a")), values),
        [1, 3, 6],
    ]
    with mp.get_context(method).Pool(processes=2) as pool:
        results = [pool.apply_async(fn, args) for fn, args in jobs]
        assert [r.get(TIMEOUT) for r in results] == expected


@pytest.mark.parametrize("method", START_METHODS)
@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("register", [False, True])
def test_worker_slots_installed_by_the_initializer(
    method: str, strict: bool, register: bool
) -> None:
    inline = pickle.dumps(_workers.make_closure_udf(2, {"bias": 1})(col("a")))
    ipc.set_sender_ctx(SessionContext().with_python_udf_inlining(enabled=False))
    by_name = pickle.dumps(_workers.make_closure_udf(2, {"bias": 1})(col("a")))
    ipc.clear_sender_ctx()
    with mp.get_context(method).Pool(
        1, initializer=_workers.install_worker_slot, initargs=(strict, register)
    ) as pool:
        inline_result = pool.apply_async(
            _workers.load_error if strict else _workers.load_and_eval,
            (inline,) if strict else (inline, [1, 2]),
        ).get(TIMEOUT)
        by_name_result = pool.apply_async(
            _workers.load_and_eval if register else _workers.load_error,
            (by_name, [1, 2]) if register else (by_name,),
        ).get(TIMEOUT)
    if strict:
        assert inline_result[0] == "InliningDisabledError"
        assert "'scale'" in inline_result[1]
    else:
        assert inline_result == [3, 5]
    if register:
        assert by_name_result == [3, 5]
    else:
        assert by_name_result[0] == "UnknownFunctionError"
        assert "'scale'" in by_name_result[1]


@pytest.mark.parametrize("method", START_METHODS)
def test_fork_children_inherit_slots_and_others_start_empty(method: str) -> None:
    ipc.set_worker_ctx(SessionContext().with_python_udf_inlining(enabled=False))
    ipc.set_sender_ctx(SessionContext())
    with mp.get_context(method).Pool(1) as pool:
        state = pool.apply_async(_workers.slot_state).get(TIMEOUT)
    if method == "fork":
        assert state == (True, True, False)
    else:
        assert state == (False, False, None)


@pytest.mark.parametrize("method", START_METHODS)
def test_global_session_is_inherited_only_by_fork(method: str) -> None:
    name = f"global_fn_{method}"
    SessionContext.global_ctx().register_udf(
        dfship.udf(lambda a: a, [pa.int64()], pa.int64(), "immutable", name=name)
    )
    try:
        with mp.get_context(method).Pool(1) as pool:
            has = pool.apply_async(_workers.global_has_function, (name,)).get(TIMEOUT)
    finally:
        SessionContext.global_ctx().deregister_udf(name)
    assert has == (method == "fork")


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_missing_module_on_the_worker_is_a_serialization_error(
    method: str, tmp_path, monkeypatch
) -> None:
    """UDFs that import a module capture it by name; a worker without it says so."""
    module = tmp_path / "only_on_driver.py"
    module.write_text(
        "def triple(a):\n    import pyarrow.compute as pc\n    return pc.multiply(a, 3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    only_on_driver = importlib.import_module("only_on_driver")
    expr = dfship.udf(only_on_driver.triple, [pa.int64()], pa.int64(), "immutable", name="triple")(
        col("a")
    )
    blob = pickle.dumps(expr)
    monkeypatch.undo()
    with mp.get_context(method).Pool(1) as pool:
        name, message = pool.apply_async(_workers.load_error, (blob,)).get(TIMEOUT)
    assert name == "SerializationError"
    assert "triple" in message and "only_on_driver" in message


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_init_worker_warms_what_the_first_decode_needs(method: str) -> None:
    blob = pickle.dumps(_workers.make_closure_udf(2, {"bias": 1})(col("a")))
    context = mp.get_context(method)
    # Without it, a fresh worker has no slot and has not imported the
    # modules named (whether cloudpickle is in depends on what the worker
    # imported to run the task function).
    with context.Pool(1) as pool:
        assert pool.apply_async(_workers.warm_state).get(TIMEOUT)[1:] == (False, False, 0)
    warm = functools.partial(ipc.init_worker, imports=["colorsys"])
    with context.Pool(1, initializer=warm) as pool:
        # Warmed, with a slot, and the probe's volatile UDF left nothing cached.
        assert pool.apply_async(_workers.warm_state).get(TIMEOUT) == (True, True, True, 0)
        assert pool.apply_async(_workers.load_and_eval, (blob, [1, 2])).get(TIMEOUT) == [3, 5]
    # A strict session warms too (its probe carries no inline UDF) and still
    # refuses inline UDFs.
    with context.Pool(1, initializer=_workers.init_strict_worker) as pool:
        assert pool.apply_async(_workers.warm_state).get(TIMEOUT)[1:] == (True, True, 0)
        name, _ = pool.apply_async(_workers.load_error, (blob,)).get(TIMEOUT)
    assert name == "InliningDisabledError"


def test_warm_up_names_a_missing_module() -> None:
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        ipc.warm_up(imports=["no_such_module_here"])
