"""The harness's long-lived Python driver.

``cargo test`` starts it once (``python driver.py``) and talks to it in JSON
lines on stdin/stdout. For each case it builds the UDFs and the expression,
evaluates it locally (the oracle's reference), encodes it through every slot
with sender inlining on and off, and hands the payloads to worker pools of
every start method (fork, spawn, forkserver), one pool per receiver
registration, which decode and evaluate them under every receiver setting. It
reports raw outcomes; the Rust side decides what each should have been.

An embedded interpreter cannot fork or spawn safely, hence a real process.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness_worker as hw
import pyarrow as pa

import dfship

START_METHODS = ("fork", "spawn", "forkserver")
SLOTS = ("explicit", "pickle", "global")
TASK_TIMEOUT_S = float(os.environ.get("HARNESS_TASK_TIMEOUT", "300"))


class Pools:
    """One single-process pool per (start method, receiver registration)."""

    def __init__(self) -> None:
        self.pools: dict[tuple[str, bool], ProcessPoolExecutor] = {}
        for method in START_METHODS:
            for registered in (False, True):
                self.pools[(method, registered)] = self._make(method, registered)

    @staticmethod
    def _make(method: str, registered: bool) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context(method),
            initializer=hw.init_pool,
            initargs=(registered,),
        )

    def run(
        self, case: dict[str, Any], payloads: dict[str, bytes], combos: list[dict[str, Any]]
    ) -> dict[tuple[str, bool], list[hw.Outcome]]:
        futures: dict[tuple[str, bool], Future[list[hw.Outcome]]] = {
            key: pool.submit(hw.run_combos, case, payloads, combos)
            for key, pool in self.pools.items()
        }
        out: dict[tuple[str, bool], list[hw.Outcome]] = {}
        # One deadline for all pools (they run at once), so a case waits at
        # most TASK_TIMEOUT_S in all, however many workers hang.
        deadline = time.monotonic() + TASK_TIMEOUT_S
        for key, fut in futures.items():
            try:
                out[key] = fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except BrokenProcessPool as e:
                # A crashed worker is an outcome too (and never a pass).
                out[key] = [{"err": "WorkerCrashed", "msg": str(e)}] * len(combos)
                self.pools[key] = self._make(*key)
            except TimeoutError:
                out[key] = [
                    {"err": "WorkerTimeout", "msg": f"no answer in {TASK_TIMEOUT_S}s"}
                ] * len(combos)
                self._kill(self.pools[key])
                self.pools[key] = self._make(*key)
        return out

    @staticmethod
    def _kill(pool: ProcessPoolExecutor) -> None:
        """Ends a pool whose worker may be hung: shutdown alone would wait for it."""
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        # Every task was awaited (a hung pool was killed and replaced then),
        # so the pools left are idle and shut down cleanly.
        for pool in self.pools.values():
            pool.shutdown(wait=True, cancel_futures=True)


def namespace(udfs: dict[str, Any]) -> dict[str, Any]:
    from dfship import Window, WindowFrame, col, functions, lit

    return {
        "col": col,
        "lit": lit,
        "F": functions,
        "Window": Window,
        "WindowFrame": WindowFrame,
        "pa": pa,
        "dfship": dfship,
        **udfs,
    }


def run_case(pools: Pools, request: dict[str, Any]) -> dict[str, Any]:
    batch = base64.b64decode(request["batch"])
    udf_specs = request["udfs"]
    context = request["context"]
    udfs = hw.build_udfs(udf_specs)
    expr = eval(request["expr"], namespace(udfs))  # the harness's own generated source
    table = pa.ipc.open_stream(batch).read_next_batch()
    local = hw.evaluate(expr, table, context)

    payloads: dict[str, bytes] = {}
    encode_errors: dict[str, hw.Outcome] = {}
    for slot in ("explicit", "pickle"):
        for sender in (True, False):
            key = f"{slot}/{sender}"
            try:
                payloads[key] = hw.encode(expr, slot, sender)
            except Exception as e:
                encode_errors[key] = hw.error_outcome(e)
                payloads[key] = b""
    # The global fallback differs from pickle on the receiving side only.
    for sender in (True, False):
        payloads[f"global/{sender}"] = payloads[f"pickle/{sender}"]
        if f"pickle/{sender}" in encode_errors:
            encode_errors[f"global/{sender}"] = encode_errors[f"pickle/{sender}"]
    combos = [
        {"slot": slot, "sender": sender, "receiver": receiver}
        for slot in SLOTS
        for sender in (True, False)
        for receiver in (True, False)
    ]
    case = {"udfs": udf_specs, "batch": batch, "context": context}
    results = pools.run(case, payloads, combos)
    rows = []
    for (method, registered), outcomes in results.items():
        for combo, outcome in zip(combos, outcomes, strict=True):
            key = f"{combo['slot']}/{combo['sender']}"
            rows.append(
                {
                    **combo,
                    "start": method,
                    "registered": registered,
                    "outcome": encode_errors.get(key, outcome),
                }
            )
    return {"id": request.get("id"), "local": local, "combos": rows}


def main() -> None:
    pools = Pools()
    out = sys.stdout
    # Anything else printing to stdout would corrupt the protocol.
    sys.stdout = sys.stderr
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            request = json.loads(line)
            op = request.get("op")
            try:
                if op == "hello":
                    reply: dict[str, Any] = {
                        "python": list(sys.version_info[:3]),
                        "dfship": dfship.__version__,
                        "start_methods": list(START_METHODS),
                    }
                elif op == "case":
                    reply = run_case(pools, request)
                elif op == "shutdown":
                    out.write(json.dumps({"bye": True}) + "\n")
                    out.flush()
                    break
                else:
                    reply = {"error": f"unknown op {op!r}"}
            except Exception:
                reply = {"error": traceback.format_exc()}
            out.write(json.dumps(reply) + "\n")
            out.flush()
    finally:
        pools.close()


if __name__ == "__main__":
    main()
