"""Table functions written in Python (dfship.udtf): arguments, the calling
session, what they may return, and the errors around them."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import dfship
from dfship import Expr, SessionContext, Table, TableFunction, udtf
from dfship.exceptions import PlanError, UdfError


def test_arguments_arrive_as_expressions() -> None:
    seen: list[list[object]] = []

    @udtf("grid")
    def grid(rows: Expr, label: Expr) -> Table:
        seen.append([rows.to_variant().value_i64(), label.to_variant().value_string()])
        n = rows.to_variant().value_i64()
        return Table(pa.table({"i": list(range(n)), "label": [label.to_variant().value()] * n}))

    ctx = SessionContext()
    ctx.register_udtf(grid)
    out = ctx.sql("SELECT label, sum(i) AS s FROM grid(4, 'x') GROUP BY label").to_pydict()
    assert out == {"label": ["x"], "s": [6]}
    assert seen == [[4, "x"]]
    assert grid.__name__ == "grid" and grid.name == "grid"


@pytest.mark.parametrize(
    "make",
    [
        lambda: pa.table({"a": [1, 2]}),
        lambda: pa.record_batch({"a": [1, 2]}),
        lambda: ds.dataset([pa.record_batch({"a": [1]}), pa.record_batch({"a": [2]})]),
        lambda: SessionContext().from_pydict({"a": [1, 2]}),
        lambda: Table(pa.table({"a": [1, 2]})),
    ],
    ids=["arrow-table", "batch", "dataset", "dataframe", "table"],
)
def test_what_a_function_may_return(make: object) -> None:
    ctx = SessionContext()
    ctx.register_udtf(udtf(lambda: make(), "made"))  # type: ignore[operator]
    assert ctx.sql("SELECT sum(a) AS s FROM made()").to_pydict() == {"s": [3]}


def test_the_calling_session_is_passed_on_request() -> None:
    ctx = SessionContext()
    ctx.register_table("base", pa.table({"x": [1]}))
    seen: list[set[str]] = []

    class Inventory:
        def __call__(self, *, session: SessionContext) -> pa.Table:
            seen.append(session.catalog().schema().names())
            return pa.table({"n": [len(session.catalog().schema().names())]})

    ctx.register_udtf(udtf(Inventory(), "inventory", with_session=True))
    assert ctx.sql("SELECT n FROM inventory()").to_pydict() == {"n": [1]}
    assert seen == [{"base"}]

    # Planning is under way: a query of its own is refused, with the reason.
    def nested(*, session: SessionContext) -> object:
        return session.sql("SELECT 1 AS one").collect()

    ctx.register_udtf(udtf(nested, "nested", with_session=True))
    with pytest.raises(UdfError, match="cannot run a query from inside a running query"):
        ctx.sql("SELECT * FROM nested()").collect()
    # Without the flag, no keyword is passed.
    ctx.register_udtf(TableFunction("plain", lambda *a: pa.table({"k": [len(a)]})))
    assert ctx.sql("SELECT k FROM plain(1, 2)").to_pydict() == {"k": [2]}


def test_errors_are_typed_and_keep_the_cause() -> None:
    ctx = SessionContext()

    @udtf("fails")
    def fails() -> Table:
        raise ValueError("no rows today")

    ctx.register_udtf(fails)
    with pytest.raises(UdfError, match=r"fails.*ValueError: no rows today"):
        ctx.sql("SELECT * FROM fails()").collect()

    ctx.register_udtf(udtf(lambda: 42, "wrong"))
    with pytest.raises(UdfError, match=r"TypeError: a Table wraps .* not int"):
        ctx.sql("SELECT * FROM wrong()").collect()

    ctx.deregister_udtf("fails")
    with pytest.raises(PlanError, match="fails"):
        ctx.sql("SELECT * FROM fails()").collect()


def test_bad_definitions_are_refused() -> None:
    class Exported:
        __datafusion_table_function__ = object()

    with pytest.raises(TypeError, match="FFI-exported table functions"):
        udtf(Exported(), "x", with_session=True)
    with pytest.raises(NotImplementedError, match="FFI-exported"):
        udtf(Exported(), "x")
    with pytest.raises(TypeError, match="callable"):
        TableFunction("x", 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name is a str"):
        udtf(lambda: None, 3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="register_udtf takes a TableFunction"):
        SessionContext().register_udtf(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not dict"):
        Table({"a": [1]})


def test_context_exports_the_provider_protocol() -> None:
    class Exporter:
        def __datafusion_table_provider__(self, session: object) -> object:
            return object()

    assert isinstance(Exporter(), dfship.context.TableProviderExportable)
