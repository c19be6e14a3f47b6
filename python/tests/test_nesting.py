"""Crafted deep protobuf inside every place dfship decodes protobuf: each is
refused with a typed error before a recursive decoder sees it. Each input is
built by hand with a valid frame check and decoded in a child interpreter,
so that a stack overflow shows as a dead child rather than a dead test run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import _frames
import pytest
from _frames import nested_messages, varint

from dfship import SessionContext, col


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def nested_groups(levels: int, number: int = 1000) -> bytes:
    """Groups of an unknown field, which a decoder skips by recursion."""
    return varint(number << 3 | 3) * levels + varint(number << 3 | 4) * levels


def scalar_udf_node(name: str, fun_definition: bytes) -> bytes:
    """A LogicalExprNode holding a ScalarUDFExprNode (field 20)."""
    return field(20, field(1, name.encode()) + field(3, fun_definition))


def udf_payload(return_type: bytes) -> bytes:
    """An inline scalar UDF payload with no inputs and the given return type
    bytes; the pickle after it would fail if it were ever loaded."""
    v = sys.version_info
    header = b"DFSs" + bytes([1, v.major, v.minor, 0])
    types = b"\x00" + varint(len(return_type)) + return_type + b"\x00"
    return header + types + b"\x00" + b"not a pickle"


def expr_frame(body: bytes, inline: bool = False) -> bytes:
    return _frames.seal(b"DFSE\x01" + bytes([1 if inline else 0]), body)


def plan_frame(body: bytes) -> bytes:
    return _frames.seal(b"DFSP\x01\x00", body)


def folded(blob: bytes, operands: int) -> bytes:
    """`blob` (a frame whose body holds `a + a + a`, written as one node
    with a flat list of three operands) with the list grown to `operands`."""
    header, body = _frames.split(blob)
    at, one = _frames.repeated_run(body, 3)
    return _frames.seal(header, _frames.splice(body, at, at + 3 * len(one), one * operands))


def chain_beside_a_failing_argument(operands: int) -> bytes:
    """abs(<a + a + ... folded>, nope()): the decoder builds the deep chain,
    then fails on the unknown function and drops the chain."""
    column_a = field(1, field(1, b"a"))
    chain = field(4, field(1, column_a) * operands + field(3, b"Plus"))
    failing = field(20, field(1, b"nope"))
    return expr_frame(field(20, field(1, b"abs") + field(2, chain) + field(2, failing)))


def _three_a(kind: str) -> bytes:
    a = col("a")
    if kind == "expr":
        return (a + a + a).to_bytes()
    return SessionContext().from_pydict({"a": [1]}).select(a + a + a).execution_plan().to_bytes()


CASES = {
    # Shallow messages that fold into deep trees: a flat operand list.
    "body: 300,000 folded operands": folded(_three_a("expr"), 300_000),
    # (Building a projection over a chain takes time quadratic in its length,
    # in DataFusion: 10,000 is enough to overflow an unsized stack.)
    "plan: 10,000 folded operands": folded(_three_a("plan"), 10_000),
    "body: a folded chain beside a failing argument": chain_beside_a_failing_argument(100_000),
    # Longer flat lists than any stack is sized for: refused up front.
    "plan: 300,000 folded operands": folded(_three_a("plan"), 300_000),
    # A physical plan body, and groups inside one of its nodes.
    "plan: 1,000,000 nested messages": plan_frame(nested_messages(1_000_000)),
    "plan: groups inside a node": plan_frame(field(1, nested_groups(200_000))),
    # The frame body itself: messages and groups.
    "body: 1,000,000 nested messages": expr_frame(nested_messages(1_000_000)),
    "body: 200,000 nested groups": expr_frame(nested_groups(200_000)),
    # Groups inside a submessage field: they do not parse as a message, so a
    # schema-less scan could take the field for plain bytes, but the decoder
    # knows it is a message and skips the groups by recursion.
    "body: groups inside a function node": expr_frame(field(20, nested_groups(200_000))),
    # Bytes handed to the codec as a function definition (not inline Python).
    "function node bytes": expr_frame(scalar_udf_node("abs", nested_messages(100_000))),
    # The Arrow type inside an inline Python UDF payload: hidden from the
    # frame-level scan by the payload's own layout.
    "inline UDF type": expr_frame(
        scalar_udf_node("f", udf_payload(nested_messages(5_000))), inline=True
    ),
    "inline UDF type groups": expr_frame(
        scalar_udf_node("f", udf_payload(nested_groups(5_000, number=7))), inline=True
    ),
}


def decode_in_child(cases: dict[str, bytes], strict: bool) -> dict[str, str]:
    code = textwrap.dedent(
        """
        import json, sys
        from dfship import ExecutionPlan, Expr, SessionContext
        from dfship.exceptions import DfshipError
        cases = {k: bytes.fromhex(v) for k, v in json.load(sys.stdin).items()}
        ctx = SessionContext()
        if sys.argv[1] == "strict":
            ctx = ctx.with_python_udf_inlining(enabled=False)
        out = {}
        for name, blob in cases.items():
            try:
                kind = ExecutionPlan if blob[:4] == b"DFSP" else Expr
                kind.from_bytes(blob, ctx=ctx)
                out[name] = "decoded"
            except DfshipError as e:
                out[name] = f"{type(e).__name__}: {e}"
        print(json.dumps(out))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "strict" if strict else "permissive"],
        input=json.dumps({k: v.hex() for k, v in cases.items()}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"the child died ({done.returncode}):\n{done.stderr[-3000:]}"
    return json.loads(done.stdout)


def test_the_same_shapes_shallow_get_past_the_depth_checks() -> None:
    """The cases are refused for their depth, not their layout: the same
    shapes a few levels deep reach the decoders behind the depth checks."""
    shallow = {
        "body: messages": expr_frame(nested_messages(3)),
        "body: groups": expr_frame(nested_groups(3)),
        "inline UDF type": expr_frame(
            scalar_udf_node("f", udf_payload(nested_messages(3))), inline=True
        ),
    }
    out = decode_in_child(shallow, strict=False)
    assert not any(r.startswith("ExpressionTooDeepError") for r in out.values()), out
    # The inline payload got as far as its callable, which is not a pickle.
    assert out["inline UDF type"].startswith("SerializationError: cannot load"), out


@pytest.mark.parametrize("strict", [False, True], ids=["permissive", "strict"])
def test_every_nested_decode_site_refuses_deep_input(strict: bool) -> None:
    out = decode_in_child(CASES, strict)
    for name, result in out.items():
        if name.startswith("body: a folded chain beside"):
            # The chain is built and dropped again inside the decoder.
            assert result.startswith("UnknownFunctionError"), (name, result)
        elif strict and name.startswith("inline UDF"):
            # A strict receiver refuses the inline payload before reading it.
            assert result.startswith("InliningDisabledError"), (name, result)
        else:
            assert result.startswith("ExpressionTooDeepError"), (name, result)
    if not strict:
        assert "the type nests" in out["inline UDF type"], out["inline UDF type"]
