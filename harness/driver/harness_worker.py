"""What the harness runs on both sides of a crossing.

The driver (``driver.py``) and its pool workers share this module: building a
case's UDFs from their source, evaluating an expression the same way on each
side, and, in the worker, decoding every payload under every receiver setting
it is asked for. It is importable by name so spawn and forkserver children
can reach it.
"""

from __future__ import annotations

import pickle
import traceback
from typing import Any

import pyarrow as pa

import dfship
from dfship import Expr, SessionConfig, SessionContext, col, ipc

# Receiver registration of this pool, fixed for the worker's life: it decides
# what the *global* session has registered (the global slot cannot forget).
_POOL_REGISTERED = False

Outcome = dict[str, Any]


def init_pool(registered: bool) -> None:
    global _POOL_REGISTERED
    _POOL_REGISTERED = registered
    # A fork child inherits the driver's slots: start every worker clean.
    ipc.clear_worker_ctx()
    ipc.clear_sender_ctx()


def build_udfs(udfs: list[dict[str, str]]) -> dict[str, Any]:
    """Runs each UDF's source in a fresh namespace; returns var -> UDF."""
    out: dict[str, Any] = {}
    for spec in udfs:
        namespace: dict[str, Any] = {"__name__": "harness_case"}
        exec(spec["source"], namespace)  # the harness's own generated source
        out[spec["var"]] = namespace[spec["var"]]
    return out


def register(ctx: SessionContext, udfs: dict[str, Any]) -> SessionContext:
    for u in udfs.values():
        if isinstance(u, dfship.ScalarUDF):
            ctx.register_udf(u)
        elif isinstance(u, dfship.AggregateUDF):
            ctx.register_udaf(u)
        else:
            ctx.register_udwf(u)
    return ctx


def error_outcome(e: BaseException) -> Outcome:
    return {"err": type(e).__name__, "msg": str(e)}


def evaluate(expr: Expr, batch: pa.RecordBatch, context: dict[str, Any]) -> Outcome:
    """The expression's result on the batch, in a one-partition session so
    that float sums add up in the same order on both sides."""
    try:
        ctx = SessionContext(SessionConfig().with_target_partitions(1))
        df = ctx.from_arrow(batch)
        if context["kind"] == "aggregate":
            group = context.get("group_by")
            keys = [col(group)] if group else []
            out = df.aggregate(keys, [expr.alias("out")])
            if group:
                out = out.sort(col(group).sort(ascending=True, nulls_first=True))
            rows = out.to_pylist()
        else:
            out = df.select(col("rid"), expr.alias("out")).sort(col("rid"))
            rows = out.to_pylist()
        return {"ok": repr(rows)}
    except Exception as e:  # every failure is an outcome to compare
        return error_outcome(e)


def encode(expr: Expr, slot: str, sender_inlining: bool) -> bytes:
    """The sender's side of a crossing through ``slot``."""
    sender = SessionContext().with_python_udf_inlining(enabled=sender_inlining)
    if slot == "explicit":
        # The sender slot holds the opposite setting: explicit must win.
        ipc.set_sender_ctx(SessionContext().with_python_udf_inlining(enabled=not sender_inlining))
        try:
            return expr.to_bytes(ctx=sender)
        finally:
            ipc.clear_sender_ctx()
    ipc.set_sender_ctx(sender)
    try:
        return pickle.dumps(expr)
    finally:
        ipc.clear_sender_ctx()


def receiver_ctx(udfs: dict[str, Any], inlining: bool, registered: bool) -> SessionContext:
    ctx = register(SessionContext(), udfs) if registered else SessionContext()
    return ctx.with_python_udf_inlining(enabled=inlining)


Receivers = dict[tuple[bool, bool], SessionContext]


def receivers(udfs: dict[str, Any]) -> Receivers:
    """A receiving context per (inlining, registered), for one case."""
    return {(i, r): receiver_ctx(udfs, i, r) for i in (True, False) for r in (True, False)}


def decode(payload: bytes, slot: str, ctxs: Receivers, inlining: bool, registered: bool) -> Expr:
    """The receiver's side. Other slots hold decoys set the opposite way, so
    resolving in the wrong order changes the outcome."""
    if slot == "explicit":
        ipc.set_worker_ctx(ctxs[(not inlining, not registered)])
        try:
            return Expr.from_bytes(payload, ctx=ctxs[(inlining, registered)])
        finally:
            ipc.clear_worker_ctx()
    if slot == "pickle":
        ipc.set_worker_ctx(ctxs[(inlining, registered)])
        try:
            expr: Expr = pickle.loads(payload)
            return expr
        finally:
            ipc.clear_worker_ctx()
    # The global fallback: no worker slot. Strict contexts with either
    # registration live in the process and must not be consulted.
    fallback: Expr = pickle.loads(payload)
    return fallback


def run_combos(
    case: dict[str, Any], payloads: dict[str, bytes], combos: list[dict[str, Any]]
) -> list[Outcome]:
    """Worker task: every requested (slot, sender, receiver) crossing of one
    case, each decoded and evaluated; returns one outcome per combination."""
    try:
        udfs = build_udfs(case["udfs"])
        if _POOL_REGISTERED:
            register(SessionContext.global_ctx(), udfs)
        batch = pa.ipc.open_stream(case["batch"]).read_next_batch()
        ctxs = receivers(udfs)
    except Exception as e:
        return [{"err": "HarnessSetupError", "msg": traceback.format_exc() + str(e)}] * len(combos)
    results: list[Outcome] = []
    for combo in combos:
        payload = payloads[f"{combo['slot']}/{combo['sender']}"]
        try:
            expr = decode(payload, combo["slot"], ctxs, combo["receiver"], _POOL_REGISTERED)
        except Exception as e:
            results.append(error_outcome(e))
            continue
        results.append(evaluate(expr, batch, case["context"]))
    return results
