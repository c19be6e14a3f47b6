"""Random SQL queries over the schema family of :mod:`sqlgen.data`, as a
Hypothesis strategy (so that a failing query shrinks).

Queries are built bottom-up from typed expressions: every expression has
one of the kinds ``int``, ``float``, ``dec``, ``str``, ``date`` or
``bool``, and an operator only ever receives the kinds it accepts, so almost
every query plans. In every choice the simpler options come first, which is
where Hypothesis shrinks towards: columns and literals before operators, one
table before joins, no clause before a clause.

Results must be comparable across engines, so the generator avoids what
SQL leaves undefined or what engines legitimately do differently: integer
division and division by zero, ``LIMIT`` without an ``ORDER BY`` over
every output column, window functions ordered by less than a total order
(``row_number``, ``lag``, the UDF window), float values that are not exact
in binary, and default null ordering (every ``ORDER BY`` says ``NULLS
FIRST`` or ``NULLS LAST``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import strategies as st

from sqlgen import data
from sqlgen.udfs import UDFS

T = TypeVar("T")
Draw = Callable[..., Any]

KINDS = ("int", "float", "dec", "str", "date")
ORDERABLE = KINDS

#: Every construct the generator can emit; the run prints how often each
#: appeared, and the coverage check insists each appears at least once.
CONSTRUCTS = (
    "projection",
    "filter",
    "join:inner",
    "join:left",
    "join:right",
    "join:full",
    "join:three-way",
    "semi:exists",
    "semi:in",
    "anti:not-exists",
    "anti:not-in",
    "subquery:scalar",
    "subquery:correlated-scalar",
    "subquery:from",
    "group-by",
    "aggregate:global",
    "aggregate:count-distinct",
    "having",
    "window:ranking",
    "window:aggregate",
    "window:lag",
    "union",
    "union-all",
    "distinct",
    "order-by",
    "limit",
    "case",
    "like",
    "in-list",
    "between",
    "is-null",
    "kind:dec",
    "kind:date",
    "kind:str",
    "kind:float",
    "udf:scalar:self-contained",
    "udf:scalar:closure",
    "udf:scalar:large-closure",
    "udf:scalar:reference",
    "udf:aggregate:reference",
    "udf:aggregate:closure",
    "udf:window:reference",
)


@dataclass(frozen=True)
class Col:
    """A column in scope: its SQL text and kind."""

    sql: str
    kind: str


@dataclass
class Scope:
    columns: list[Col]
    #: SQL of columns whose combination orders the rows totally (up to
    #: identical rows)
    total_order: list[str]
    #: key columns, preferred for joins, groups and partitions
    keys: list[Col]

    def of(self, kind: str) -> list[Col]:
        return [c for c in self.columns if c.kind == kind]


@dataclass
class Query:
    """A generated query: the SQL, what it contains, how its output is
    ordered (output positions, descending?, nulls first?) and whether it
    calls Python UDFs (then DuckDB cannot run it)."""

    sql: str
    constructs: frozenset[str]
    order: tuple[tuple[int, bool, bool], ...]
    #: the order covers every output column (ties are identical rows)
    totally_ordered: bool
    udfs: frozenset[str]

    def __str__(self) -> str:
        return self.sql


@dataclass
class _Gen:
    draw: Draw
    allow_udfs: bool
    used: set[str] = field(default_factory=set)
    udfs: set[str] = field(default_factory=set)
    aliases: int = 0

    # -- helpers -----------------------------------------------------------

    def pick(self, options: Sequence[T]) -> T:
        chosen: T = self.draw(st.sampled_from(options))
        return chosen

    def flag(self) -> bool:
        return bool(self.draw(st.booleans()))

    def number(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, hi)))

    def alias(self) -> str:
        self.aliases += 1
        return f"r{self.aliases}"

    def note(self, construct: str) -> None:
        self.used.add(construct)

    # -- literals ----------------------------------------------------------

    def literal(self, kind: str) -> str:
        if kind == "int":
            v = self.number(-3, 20)
            return str(v) if v >= 0 else f"({v})"
        if kind == "float":
            return f"CAST({self.number(-80, 80) / 4} AS DOUBLE)"
        if kind == "dec":
            cents = self.number(-50000, 50000)
            sign = "-" if cents < 0 else ""
            return f"CAST({sign}{abs(cents) // 100}.{abs(cents) % 100:02d} AS DECIMAL(10,2))"
        if kind == "str":
            text = self.pick([*data.TAGS, "n5", "zzz"])
            return "'" + text.replace("'", "''") + "'"
        if kind == "date":
            d = datetime.date(2020, 1, 1) + datetime.timedelta(self.number(0, 1000))
            return f"DATE '{d.isoformat()}'"
        assert kind == "bool"
        return self.pick(["TRUE", "FALSE"])

    # -- expressions -------------------------------------------------------

    def udf_call(self, kind: str, scope: Scope, depth: int) -> str | None:
        candidates = [
            u for u in UDFS if u.family == "scalar" and u.result == kind and self.allow_udfs
        ]
        if not candidates:
            return None
        u = self.pick(candidates)
        self.note(f"udf:scalar:{u.kind}")
        self.udfs.add(u.name)
        return f"{u.name}({self.expr(u.args[0], scope, depth - 1)})"

    def expr(self, kind: str, scope: Scope, depth: int) -> str:
        """An expression of ``kind`` over ``scope``."""
        if kind == "bool":
            return self.predicate(scope, depth)
        if kind != "int":
            self.note(f"kind:{kind}")
        columns = scope.of(kind)
        options = (["column"] if columns else []) + ["literal"]
        if depth > 0:
            options += ["coalesce", "case"]
            options += [] if kind == "date" else ["function", "udf"]
            options += ["arith"] if kind in ("int", "float", "dec") else []
        choice = self.pick(options)
        if choice == "column":
            return self.pick(columns).sql
        if choice == "literal":
            return self.literal(kind)
        sub = depth - 1
        if choice == "coalesce":
            return f"coalesce({self.expr(kind, scope, sub)}, {self.literal(kind)})"
        if choice == "case":
            self.note("case")
            cond = self.predicate(scope, sub)
            a, b = self.expr(kind, scope, sub), self.expr(kind, scope, sub)
            return f"CASE WHEN {cond} THEN {a} ELSE {b} END"
        if choice == "udf":
            call = self.udf_call(kind, scope, depth)
            return call if call is not None else self.expr(kind, scope, sub)
        if choice == "arith":
            a = self.expr(kind, scope, sub)
            if kind == "int":
                op = self.pick(["+", "-", "*", "%"])
                if op in ("*", "%"):
                    return f"({a} {op} {self.number(2, 7)})"
                return f"({a} {op} {self.expr(kind, scope, sub)})"
            if kind == "float":
                op = self.pick(["+", "-", "* CAST(0.5 AS DOUBLE)"])
                if op.startswith("*"):
                    return f"({a} {op})"
                return f"({a} {op} {self.expr(kind, scope, sub)})"
            # decimals: + and - keep the scale the engines agree on
            return f"({a} {self.pick(['+', '-'])} {self.expr(kind, scope, sub)})"
        # function
        if kind == "int":
            f = self.pick(["abs", "length", "month"])
            if f == "abs":
                return f"abs({self.expr('int', scope, sub)})"
            if f == "length":
                return f"length({self.expr('str', scope, sub)})"
            return f"EXTRACT(MONTH FROM {self.expr('date', scope, sub)})"
        if kind == "float":
            f = self.pick(["abs", "cast"])
            if f == "abs":
                return f"abs({self.expr('float', scope, sub)})"
            return f"CAST({self.expr('int', scope, sub)} AS DOUBLE)"
        if kind == "dec":
            return f"abs({self.expr('dec', scope, sub)})"
        if kind == "str":
            f = self.pick(["upper", "lower", "concat", "substr"])
            a = self.expr("str", scope, sub)
            if f == "concat":
                return f"({a} || {self.expr('str', scope, sub)})"
            if f == "substr":
                start, length = self.number(1, 3), self.number(1, 4)
                return f"substr({a}, {start}, {length})"
            return f"{f}({a})"
        raise AssertionError(f"no function returns {kind}")

    def predicate(self, scope: Scope, depth: int, subqueries: bool = False) -> str:
        """A boolean expression; ``subqueries`` allows EXISTS, IN and scalar
        subqueries against the other tables."""
        options = ["compare", "is-null"]
        if depth > 0:
            options += ["and", "or", "not", "between", "in-list", "like"]
        if subqueries:
            options += ["exists", "in-subquery", "scalar-subquery"]
        choice = self.pick(options)
        sub = depth - 1
        if choice == "compare":
            kind = self.pick(list(KINDS))
            a = self.expr(kind, scope, max(sub, 0))
            b = self.expr(kind, scope, max(sub, 0))
            return f"{a} {self.pick(['=', '<', '>=', '<>'])} {b}"
        if choice == "is-null":
            self.note("is-null")
            kind = self.pick(list(KINDS))
            return f"{self.expr(kind, scope, max(sub, 0))} IS {self.pick(['', 'NOT '])}NULL"
        if choice in ("and", "or"):
            a, b = self.predicate(scope, sub, subqueries), self.predicate(scope, sub)
            return f"({a} {choice.upper()} {b})"
        if choice == "not":
            return f"NOT ({self.predicate(scope, sub)})"
        if choice == "between":
            self.note("between")
            kind = self.pick(["int", "float", "dec", "date"])
            a, lo, hi = (self.expr(kind, scope, sub) for _ in range(3))
            return f"{a} BETWEEN {lo} AND {hi}"
        if choice == "in-list":
            self.note("in-list")
            kind = self.pick(["int", "str"])
            items = ", ".join(self.literal(kind) for _ in range(self.number(1, 4)))
            neg = self.pick(["", "NOT "])
            return f"{self.expr(kind, scope, sub)} {neg}IN ({items})"
        if choice == "like":
            self.note("like")
            pattern = self.pick(["r%", "%e%", "_ue", "%", "g%%", "Ü%"])
            return f"{self.expr('str', scope, sub)} LIKE '{pattern}'"
        return self.subquery_predicate(choice, scope, max(sub, 0))

    def int_key(self, scope: Scope) -> str:
        """An integer key of ``scope`` to correlate on (any integer
        expression when it has none)."""
        ints = [k for k in scope.keys if k.kind == "int"]
        return self.pick(ints).sql if ints else self.expr("int", scope, 0)

    def subquery_predicate(self, choice: str, scope: Scope, depth: int) -> str:
        inner_table = self.pick(list(data.TABLES))
        alias = self.alias()
        inner = _table_scope(inner_table, alias)
        if choice == "exists":
            negated = self.flag()
            self.note("anti:not-exists" if negated else "semi:exists")
            outer_key, inner_key = self.int_key(scope), self.pick(inner.keys)
            where = f"{inner_key.sql} = {outer_key}"
            if self.flag():
                where += f" AND {self.predicate(inner, depth)}"
            return (
                f"{'NOT ' if negated else ''}EXISTS (SELECT 1 FROM {inner_table.name} AS {alias}"
                f" WHERE {where})"
            )
        if choice == "in-subquery":
            negated = self.flag()
            self.note("anti:not-in" if negated else "semi:in")
            outer_key, inner_key = self.int_key(scope), self.pick(inner.keys)
            where = f" WHERE {self.predicate(inner, depth)}" if self.flag() else ""
            return (
                f"{outer_key} {'NOT ' if negated else ''}IN (SELECT {inner_key.sql} FROM"
                f" {inner_table.name} AS {alias}{where})"
            )
        # a scalar subquery: an aggregate of the inner table, correlated or not
        kind = self.pick(["int", "float", "dec"])
        inner_cols = inner.of(kind)
        if not inner_cols:
            kind, inner_cols = "int", inner.of("int")
        outer = self.expr(kind, scope, depth)
        fn = self.pick(["max", "min", "sum"])
        correlated = self.flag()
        where = ""
        if correlated:
            self.note("subquery:correlated-scalar")
            where = f" WHERE {self.pick(inner.keys).sql} = {self.int_key(scope)}"
        else:
            self.note("subquery:scalar")
        return (
            f"{outer} {self.pick(['<', '>=', '='])} (SELECT {fn}({self.pick(inner_cols).sql})"
            f" FROM {inner_table.name} AS {alias}{where})"
        )

    # -- FROM --------------------------------------------------------------

    def from_clause(self, depth: int) -> tuple[str, Scope]:
        choice = self.pick(["table", "join", "derived"] if depth > 0 else ["table"])
        if choice == "table":
            table = self.pick(list(data.TABLES))
            alias = self.alias()
            return f"{table.name} AS {alias}", _table_scope(table, alias)
        if choice == "derived":
            self.note("subquery:from")
            inner, kinds = self.core(depth - 1, allow_windows=False)
            alias = self.alias()
            cols = [Col(f"{alias}.c{i}", k) for i, k in enumerate(kinds)]
            return f"({inner}) AS {alias}", Scope(cols, [c.sql for c in cols], cols)
        left_t, right_t = self.pick(list(data.TABLES)), self.pick(list(data.TABLES))
        la, ra = self.alias(), self.alias()
        left, right = _table_scope(left_t, la), _table_scope(right_t, ra)
        how = self.pick(["INNER", "LEFT", "RIGHT", "FULL"])
        self.note(f"join:{how.lower()}")
        on = f"{self.pick(left.keys).sql} = {self.pick(right.keys).sql}"
        if self.flag():
            both = _merge(left, right)
            on += f" AND {self.predicate(both, 0)}"
        sql = f"{left_t.name} AS {la} {how} JOIN {right_t.name} AS {ra} ON {on}"
        scope = _merge(left, right)
        if self.flag():
            # a third table, the dimension, on its unique key
            self.note("join:three-way")
            ca = self.alias()
            dim = _table_scope(data.BY_NAME["tc"], ca)
            how3 = self.pick(["INNER", "LEFT"])
            sql += f" {how3} JOIN tc AS {ca} ON {ca}.k = {self.pick(scope.keys).sql}"
            scope = _merge(scope, dim)
        return sql, scope

    # -- SELECT ------------------------------------------------------------

    def aggregate(self, scope: Scope, depth: int) -> tuple[str, str]:
        """An aggregate call and its result kind."""
        options = ["count-star", "count", "sum", "min-max", "avg", "count-distinct"]
        if self.allow_udfs:
            options.append("udaf")
        choice = self.pick(options)
        if choice == "count-star":
            return "count(*)", "int"
        if choice == "count":
            return f"count({self.expr(self.pick(list(KINDS)), scope, depth)})", "int"
        if choice == "count-distinct":
            self.note("aggregate:count-distinct")
            return f"count(DISTINCT {self.expr(self.pick(list(KINDS)), scope, depth)})", "int"
        if choice == "sum":
            kind = self.pick(["int", "float", "dec"])
            return f"sum({self.expr(kind, scope, depth)})", kind
        if choice == "avg":
            kind = self.pick(["int", "float"])
            return f"avg({self.expr(kind, scope, depth)})", "float"
        if choice == "min-max":
            kind = self.pick(list(KINDS))
            return f"{self.pick(['min', 'max'])}({self.expr(kind, scope, depth)})", kind
        u = self.pick([u for u in UDFS if u.family == "aggregate"])
        self.note(f"udf:aggregate:{u.kind}")
        self.udfs.add(u.name)
        return f"{u.name}({self.expr('int', scope, depth)})", u.result

    def window(self, scope: Scope, depth: int) -> tuple[str, str]:
        """A window function call and its result kind."""
        partition = ""
        if self.flag():
            partition = f"PARTITION BY {self.pick(scope.keys).sql} "
        total = ", ".join(f"{c} ASC NULLS LAST" for c in scope.total_order)
        options = ["aggregate", "ranking", "lag"]
        if self.allow_udfs:
            options.append("udwf")
        choice = self.pick(options)
        if choice == "ranking":
            self.note("window:ranking")
            fn = self.pick(["rank", "dense_rank", "row_number"])
            if fn == "row_number":
                order = total
            else:
                kind = self.pick(list(KINDS))
                direction = self.pick(["ASC NULLS FIRST", "DESC NULLS LAST"])
                order = f"{self.expr(kind, scope, depth)} {direction}"
            return f"{fn}() OVER ({partition}ORDER BY {order})", "int"
        if choice == "lag":
            self.note("window:lag")
            kind = self.pick(list(KINDS))
            call = f"lag({self.expr(kind, scope, depth)}, {self.number(1, 3)})"
            return f"{call} OVER ({partition}ORDER BY {total})", kind
        if choice == "udwf":
            u = self.pick([u for u in UDFS if u.family == "window"])
            self.note(f"udf:window:{u.kind}")
            self.udfs.add(u.name)
            call = f"{u.name}({self.expr('int', scope, depth)})"
            return f"{call} OVER ({partition}ORDER BY {total})", u.result
        self.note("window:aggregate")
        fn = self.pick(["sum", "count", "min", "max"])
        kind = self.pick(["int", "dec"] if fn == "sum" else list(KINDS))
        call = f"{fn}({self.expr(kind, scope, depth)})"
        ordered = f"ORDER BY {total}" if self.flag() else ""
        result = "int" if fn == "count" else kind
        return f"{call} OVER ({partition}{ordered})".replace(" )", ")"), result

    def core(
        self, depth: int, *, allow_windows: bool = True, kinds: list[str] | None = None
    ) -> tuple[str, list[str]]:
        """One SELECT: its SQL and its output kinds. With ``kinds``, a plain
        projection producing exactly those (for the sides of a union)."""
        from_sql, scope = self.from_clause(depth if kinds is None else 0)
        where = ""
        if self.flag():
            self.note("filter")
            where = f" WHERE {self.predicate(scope, 1, subqueries=depth > 0)}"
        if kinds is not None:
            items = [self.expr(k, scope, 1) for k in kinds]
            return _select(items, from_sql, where), kinds
        if self.flag():
            return self.grouped(from_sql, where, scope, depth)
        self.note("projection")
        items, out = [], []
        for _ in range(self.number(1, 4)):
            shape = self.number(0, 3)
            if allow_windows and shape == 1:
                call, kind = self.window(scope, 1)
            elif self.allow_udfs and shape == 2:
                # a UDF call at the top of an item, so that queries allowed
                # UDFs mostly have one
                kind = self.pick(["int", "str", "float"])
                call = self.udf_call(kind, scope, 2) or self.expr(kind, scope, 2)
            else:
                kind = self.pick(list(KINDS))
                call = self.expr(kind, scope, 2)
            items.append(call)
            out.append(kind)
        distinct = self.flag() and self.flag()
        if distinct:
            self.note("distinct")
        return _select(items, from_sql, where, distinct=distinct), out

    def grouped(self, from_sql: str, where: str, scope: Scope, depth: int) -> tuple[str, list[str]]:
        keys: list[tuple[str, str]] = []
        for _ in range(self.number(0, 2)):
            kind = self.pick(list(KINDS))
            key = self.expr(kind, scope, 1) if self.flag() else ""
            if key and not key.lstrip("(-").rstrip(")").isdigit():
                # a bare integer in GROUP BY is a position, not a value
                keys.append((key, kind))
            else:
                k = self.pick(scope.keys)
                keys.append((k.sql, k.kind))
        self.note("group-by" if keys else "aggregate:global")
        aggs = [self.aggregate(scope, 1) for _ in range(self.number(1, 3))]
        items = [k for k, _ in keys] + [a for a, _ in aggs]
        out = [kind for _, kind in keys] + [kind for _, kind in aggs]
        sql = _select(items, from_sql, where)
        if keys:
            sql += " GROUP BY " + ", ".join(k for k, _ in keys)
            if self.flag():
                self.note("having")
                agg, kind = self.aggregate(scope, 0)
                sql += f" HAVING {agg} {self.pick(['>', '<=', '<>'])} {self.literal(kind)}"
        return sql, out

    def query(self) -> tuple[str, list[str]]:
        depth = self.number(0, 2)
        if self.number(0, 5) == 0:
            kinds = [self.pick(list(KINDS)) for _ in range(self.number(1, 3))]
            left, _ = self.core(0, kinds=kinds)
            right, _ = self.core(0, kinds=kinds)
            op = self.pick(["UNION ALL", "UNION"])
            self.note("union-all" if op == "UNION ALL" else "union")
            return f"{left} {op} {right}", kinds
        return self.core(depth)


def _table_scope(table: data.Table, alias: str) -> Scope:
    cols = [Col(f"{alias}.{c.name}", c.kind) for c in table.columns]
    keys = [Col(f"{alias}.{c.name}", c.kind) for c in table.columns if c.key]
    return Scope(cols, [f"{alias}.id"], keys)


def _merge(a: Scope, b: Scope) -> Scope:
    return Scope(a.columns + b.columns, a.total_order + b.total_order, a.keys + b.keys)


def _select(items: list[str], from_sql: str, where: str, *, distinct: bool = False) -> str:
    listed = ", ".join(f"{item} AS c{i}" for i, item in enumerate(items))
    return f"SELECT {'DISTINCT ' if distinct else ''}{listed} FROM {from_sql}{where}"


@st.composite
def queries(draw: Draw, udfs: bool | None = None) -> Query:
    """A random query; ``udfs`` forces Python UDFs on or off (drawn when
    None)."""
    # two in three queries may call Python UDFs (shrinking goes to none)
    allow = draw(st.integers(0, 2)) > 0 if udfs is None else udfs
    g = _Gen(draw, allow)
    sql, kinds = g.query()
    order: tuple[tuple[int, bool, bool], ...] = ()
    total = False
    if draw(st.booleans()):
        g.note("order-by")
        positions = list(range(len(kinds)))
        chosen = draw(st.lists(st.sampled_from(positions), min_size=1, unique=True))
        limit = draw(st.booleans())
        if limit:
            # LIMIT is deterministic only when the order is total
            chosen += [p for p in positions if p not in chosen]
            total = True
        order = tuple((p, draw(st.booleans()), draw(st.booleans())) for p in chosen)
        keys = ", ".join(
            f"c{p} {'DESC' if desc else 'ASC'} NULLS {'FIRST' if first else 'LAST'}"
            for p, desc, first in order
        )
        sql = f"SELECT * FROM ({sql}) AS q ORDER BY {keys}"
        if limit:
            g.note("limit")
            sql += f" LIMIT {draw(st.integers(0, 30))}"
    return Query(sql, frozenset(g.used), order, total, frozenset(g.udfs))
