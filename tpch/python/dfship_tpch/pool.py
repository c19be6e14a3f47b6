"""Eight TPC-H queries split across a ``multiprocessing`` pool, the
expressions shipped by ``pickle``.

The driver splits lineitem by file. Each task is one pickled :class:`Task`:
the file to read, the small side of every join (computed on the driver and
broadcast as Arrow IPC, keys only), and the :class:`Stage` to run: a filter
before the joins, one after, the grouping columns and the partial
aggregates — all dfship expressions. A worker decodes the task against its
worker slot, evaluates the stage on its file and returns the partial
aggregates; the driver sums them per group and finishes the query: it joins
the attributes the result shows (names, dates, comments: one row per group
instead of one per broadcast key), then averages, ratios, order and limit.
Q12 joins lineitem with all of orders, which is not small: the generator
partitions both by order key, so the task for lineitem part *k* reads orders
part *k* instead of receiving orders over the wire.

Each query also runs in a ``udf`` variant whose arithmetic and predicates are
Python UDFs — scalar and aggregate, built by factories whose closures capture
the query's parameters — so real code travels inline in every task.

The result of every query and variant is checked against the same query run
on a single node (the SQL text of ``tpch/queries``).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import pickle
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from dfship import functions as f
from dfship import ipc
from dfship.context import SessionContext
from dfship.dataframe import DataFrame
from dfship.expr import Expr, col, lit
from dfship.user_defined import Accumulator, AggregateUDF, ScalarUDF, udaf, udf
from dfship_tpch import compare, context, run_query, table_files

__all__ = [
    "QUERIES",
    "VARIANTS",
    "Outcome",
    "Stage",
    "Task",
    "plan",
    "run_pool",
]

QUERIES = (1, 3, 5, 6, 10, 12, 14, 19)
VARIANTS = ("builtin", "udf")

# Money and quantity columns as the generator writes them.
DECIMAL = pa.decimal128(15, 2)


@dataclass(frozen=True)
class Stage:
    """The expressions one task evaluates on its share of lineitem."""

    pre_filter: Expr | None
    post_filter: Expr | None
    group_by: tuple[str, ...]
    # Each aliased: the driver sums partials by name.
    partials: tuple[Expr, ...]


@dataclass(frozen=True)
class Join:
    """A join of lineitem with a side table. ``data`` is the side's Arrow IPC
    stream when it is broadcast; ``files`` its parquet files when the task
    reads its co-partitioned share itself."""

    left_on: tuple[str, ...]
    right_on: tuple[str, ...]
    how: str = "inner"
    data: bytes | None = None
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Task:
    """Everything one worker receives for one lineitem file, pickled whole."""

    lineitem: tuple[str, ...]
    joins: tuple[Join, ...]
    stage: Stage


@dataclass(frozen=True)
class Side:
    """How the driver makes one join's side: a broadcast SQL query, or the
    co-partitioned files of a table."""

    left_on: tuple[str, ...]
    right_on: tuple[str, ...]
    sql: str | None = None
    table: str | None = None
    how: str = "inner"


@dataclass(frozen=True)
class Plan:
    query: int
    variant: str
    stage: Stage
    sides: tuple[Side, ...]
    # Driver: from the summed partials to the query's result.
    finish: Callable[[SessionContext, DataFrame], DataFrame]


@dataclass(frozen=True)
class Outcome:
    query: int
    variant: str
    difference: str | None
    single_seconds: float
    pool_seconds: float
    tasks: int
    expression_bytes: int  # the pickled stage, per task
    task_bytes: int  # the whole pickled task, mean per task (stage + broadcast data)
    encode_seconds: float  # pickling on the driver, all tasks
    decode_seconds: float  # unpickling on the workers, all tasks
    task_seconds: float  # time in the workers, all tasks
    # Unpickling of the tasks that were the first a worker decoded (with
    # this plan's UDFs), and of the others: the decoded seconds and counts.
    first_decodes: tuple[float, ...] = ()
    later_decodes: tuple[float, ...] = ()

    @property
    def shipping_share(self) -> float:
        """Pickling and unpickling the tasks, as a share of the time tasks take."""
        return (self.encode_seconds + self.decode_seconds) / max(self.task_seconds, 1e-9)

    @property
    def first_decode_ms(self) -> float | None:
        """Mean milliseconds a worker took to unpickle its first task of this plan."""
        return 1e3 * statistics.fmean(self.first_decodes) if self.first_decodes else None

    @property
    def later_decode_ms(self) -> float | None:
        """Mean milliseconds a worker took to unpickle each later task of this plan."""
        return 1e3 * statistics.fmean(self.later_decodes) if self.later_decodes else None


def _date(text: str) -> Expr:
    return lit(dt.date.fromisoformat(text))


def _net(price: str = "l_extendedprice", discount: str = "l_discount") -> Expr:
    return col(price) * (lit(1) - col(discount))


# --- the UDF variant's building blocks: factories whose closures capture the
# query's parameters, so each UDF pickles by value with what it captured.


def _floats(values: pa.Array) -> pa.Array:
    return values.cast(pa.float64())


def date_window(name: str, start: str | None, end: str | None) -> ScalarUDF:
    """True where ``start <= day < end`` (either bound optional)."""
    lo = None if start is None else pa.scalar(dt.date.fromisoformat(start), pa.date32())
    hi = None if end is None else pa.scalar(dt.date.fromisoformat(end), pa.date32())

    def inside(days: pa.Array) -> pa.Array:
        mask = pc.is_valid(days)
        if lo is not None:
            mask = pc.and_(mask, pc.greater_equal(days, lo))
        if hi is not None:
            mask = pc.and_(mask, pc.less(days, hi))
        return mask

    return udf(inside, [pa.date32()], pa.bool_(), "immutable", name=name)


def net_price(name: str, tax: bool = False) -> ScalarUDF:
    """``price * (1 - discount)``, times ``1 + tax`` when ``tax``."""

    def compute(price: pa.Array, discount: pa.Array, *rest: pa.Array) -> pa.Array:
        value = pc.multiply(_floats(price), pc.subtract(1.0, _floats(discount)))
        if tax:
            value = pc.multiply(value, pc.add(1.0, _floats(rest[0])))
        return value

    inputs = [DECIMAL, DECIMAL, DECIMAL] if tax else [DECIMAL, DECIMAL]
    return udf(compute, inputs, pa.float64(), "immutable", name=name)


def summed(name: str, term: Callable[..., pa.Array], inputs: Sequence[pa.DataType]) -> AggregateUDF:
    """An aggregate UDF summing ``term(*columns)`` as float64; the
    accumulator class and ``term`` travel with it."""

    class Sum(Accumulator):
        def __init__(self) -> None:
            self.total = 0.0

        def update(self, *values: pa.Array) -> None:
            self.total += pc.sum(term(*values)).as_py() or 0.0

        def merge(self, states: list[pa.Array]) -> None:
            self.total += pc.sum(states[0]).as_py() or 0.0

        def state(self) -> list[pa.Scalar]:
            return [pa.scalar(self.total, pa.float64())]

        def evaluate(self) -> pa.Scalar:
            return pa.scalar(self.total, pa.float64())

    return udaf(Sum, list(inputs), pa.float64(), [pa.float64()], "immutable", name=name)


def revenue(name: str = "revenue_sum") -> AggregateUDF:
    """``sum(price * (1 - discount))`` as an aggregate UDF."""

    def term(price: pa.Array, discount: pa.Array) -> pa.Array:
        return pc.multiply(_floats(price), pc.subtract(1.0, _floats(discount)))

    return summed(name, term, [DECIMAL, DECIMAL])


def one_of(name: str, values: Iterable[str]) -> ScalarUDF:
    """1 where the string is one of ``values``, else 0."""
    chosen = pa.array(sorted(values), pa.string())

    def flag(strings: pa.Array) -> pa.Array:
        return pc.if_else(pc.is_in(strings.cast(pa.string()), chosen), 1, 0).cast(pa.int64())

    return udf(flag, [pa.string()], pa.int64(), "immutable", name=name)


def in_band(name: str, lo: float, hi: float, below: float) -> ScalarUDF:
    """True where ``lo <= discount <= hi`` and ``quantity < below``."""

    def check(discount: pa.Array, quantity: pa.Array) -> pa.Array:
        d, q = _floats(discount), _floats(quantity)
        return pc.and_(pc.and_(pc.greater_equal(d, lo), pc.less_equal(d, hi)), pc.less(q, below))

    return udf(check, [DECIMAL, DECIMAL], pa.bool_(), "immutable", name=name)


def part_branches(
    name: str, branches: Sequence[tuple[str, Sequence[str], int, int, int]]
) -> ScalarUDF:
    """Q19's predicate: any branch (brand, containers, quantity from, quantity
    to, largest size) matches a (brand, container, quantity, size) row."""

    def matches(
        brand: pa.Array, container: pa.Array, quantity: pa.Array, size: pa.Array
    ) -> pa.Array:
        brand, container = brand.cast(pa.string()), container.cast(pa.string())
        q = _floats(quantity)
        mask = pa.array([False] * len(brand))
        for b, containers, q_lo, q_hi, size_hi in branches:
            one = pc.and_(pc.equal(brand, b), pc.is_in(container, pa.array(list(containers))))
            one = pc.and_(one, pc.and_(pc.greater_equal(q, q_lo), pc.less_equal(q, q_hi)))
            one = pc.and_(one, pc.and_(pc.greater_equal(size, 1), pc.less_equal(size, size_hi)))
            mask = pc.or_(mask, pc.fill_null(one, False))
        return mask

    return udf(
        matches, [pa.string(), pa.string(), DECIMAL, pa.int32()], pa.bool_(), "immutable", name=name
    )


# --- the eight queries


def _q1(variant: str) -> Plan:
    flag, status = "l_returnflag", "l_linestatus"
    if variant == "udf":
        shipped = date_window("shipped_by", None, "1998-09-03")(col("l_shipdate"))
        disc_price = revenue("disc_price_sum")(col("l_extendedprice"), col("l_discount"))
        charge = f.sum(
            net_price("charge", tax=True)(col("l_extendedprice"), col("l_discount"), col("l_tax"))
        )
    else:
        shipped = col("l_shipdate") <= _date("1998-09-02")
        disc_price = f.sum(_net())
        charge = f.sum(_net() * (lit(1) + col("l_tax")))
    stage = Stage(
        pre_filter=shipped,
        post_filter=None,
        group_by=(flag, status),
        partials=(
            f.sum(col("l_quantity")).alias("sum_qty"),
            f.sum(col("l_extendedprice")).alias("sum_base_price"),
            disc_price.alias("sum_disc_price"),
            charge.alias("sum_charge"),
            f.sum(col("l_discount")).alias("sum_disc"),
            f.count_star().alias("count_order"),
        ),
    )

    def finish(_: SessionContext, df: DataFrame) -> DataFrame:
        n = col("count_order")
        return df.select(
            col(flag),
            col(status),
            col("sum_qty"),
            col("sum_base_price"),
            col("sum_disc_price"),
            col("sum_charge"),
            (col("sum_qty") / n).alias("avg_qty"),
            (col("sum_base_price") / n).alias("avg_price"),
            (col("sum_disc") / n).alias("avg_disc"),
            n,
        ).sort(col(flag), col(status))

    return Plan(1, variant, stage, (), finish)


def _revenue(variant: str, groups: str = "few") -> Expr:
    """``sum(price * (1 - discount))``: in the UDF variant an aggregate UDF
    where groups are few, a scalar UDF under the built-in sum where they are
    many (a Python accumulator per group would dominate the task)."""
    if variant == "udf" and groups == "few":
        return revenue()(col("l_extendedprice"), col("l_discount")).alias("revenue")
    if variant == "udf":
        return f.sum(net_price("net_price")(col("l_extendedprice"), col("l_discount"))).alias(
            "revenue"
        )
    return f.sum(_net()).alias("revenue")


# Join sides are broadcast as keys only; the attributes a result shows are
# joined on the driver after the merge, where there is one row per group.
Q3_ORDERS = (
    "select o_orderkey, o_orderdate, o_shippriority from customer, orders "
    "where c_mktsegment = 'BUILDING' and c_custkey = o_custkey "
    "and o_orderdate < date '1995-03-15'"
)


def _q3(variant: str) -> Plan:
    if variant == "udf":
        pre = date_window("shipped_after", "1995-03-16", None)(col("l_shipdate"))
    else:
        pre = col("l_shipdate") > _date("1995-03-15")
    side = Side(("l_orderkey",), ("o_orderkey",), sql=f"select o_orderkey from ({Q3_ORDERS})")
    stage = Stage(pre, None, ("l_orderkey",), (_revenue(variant, groups="many"),))

    def finish(ctx: SessionContext, df: DataFrame) -> DataFrame:
        return (
            df.join(ctx.sql(Q3_ORDERS), left_on="l_orderkey", right_on="o_orderkey")
            .select(col("l_orderkey"), col("revenue"), col("o_orderdate"), col("o_shippriority"))
            .sort(col("revenue").sort(ascending=False), col("o_orderdate"))
            .limit(10)
        )

    return Plan(3, variant, stage, (side,), finish)


def _q5(variant: str) -> Plan:
    orders = Side(
        ("l_orderkey",),
        ("o_orderkey",),
        sql="select o_orderkey, c_nationkey from customer, orders, nation, region "
        "where c_custkey = o_custkey and c_nationkey = n_nationkey "
        "and n_regionkey = r_regionkey and r_name = 'ASIA' "
        "and o_orderdate >= date '1994-01-01' and o_orderdate < date '1995-01-01'",
    )
    suppliers = Side(
        ("l_suppkey",), ("s_suppkey",), sql="select s_suppkey, s_nationkey from supplier"
    )
    stage = Stage(
        None, col("c_nationkey") == col("s_nationkey"), ("c_nationkey",), (_revenue(variant),)
    )

    def finish(ctx: SessionContext, df: DataFrame) -> DataFrame:
        return (
            df.join(ctx.table("nation"), left_on="c_nationkey", right_on="n_nationkey")
            .select(col("n_name"), col("revenue"))
            .sort(col("revenue").sort(ascending=False))
        )

    return Plan(5, variant, stage, (orders, suppliers), finish)


def _q6(variant: str) -> Plan:
    if variant == "udf":
        pre = date_window("shipped_1994", "1994-01-01", "1995-01-01")(col("l_shipdate")) & in_band(
            "discount_band", 0.05, 0.07, 24
        )(col("l_discount"), col("l_quantity"))

        def term(price: pa.Array, discount: pa.Array) -> pa.Array:
            return pc.multiply(_floats(price), _floats(discount))

        partial = summed("discount_revenue", term, [DECIMAL, DECIMAL])(
            col("l_extendedprice"), col("l_discount")
        )
    else:
        pre = (
            (col("l_shipdate") >= _date("1994-01-01"))
            & (col("l_shipdate") < _date("1995-01-01"))
            & col("l_discount").between(lit(0.05), lit(0.07))
            & (col("l_quantity") < lit(24))
        )
        partial = f.sum(col("l_extendedprice") * col("l_discount"))
    stage = Stage(pre, None, (), (partial.alias("revenue"),))
    return Plan(6, variant, stage, (), lambda _, df: df.select(col("revenue")))


def _q10(variant: str) -> Plan:
    if variant == "udf":
        pre = one_of("returned", ["R"])(col("l_returnflag")) == lit(1)
    else:
        pre = col("l_returnflag") == lit("R")
    side = Side(
        ("l_orderkey",),
        ("o_orderkey",),
        sql="select o_orderkey, o_custkey from orders "
        "where o_orderdate >= date '1993-10-01' and o_orderdate < date '1994-01-01'",
    )
    stage = Stage(pre, None, ("o_custkey",), (_revenue(variant, groups="many"),))

    def finish(ctx: SessionContext, df: DataFrame) -> DataFrame:
        customers = ctx.sql(
            "select c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment "
            "from customer, nation where c_nationkey = n_nationkey"
        )
        columns = (
            "c_custkey",
            "c_name",
            "revenue",
            "c_acctbal",
            "n_name",
            "c_address",
            "c_phone",
            "c_comment",
        )
        return (
            df.join(customers, left_on="o_custkey", right_on="c_custkey")
            .select(*[col(c) for c in columns])
            .sort(col("revenue").sort(ascending=False))
            .limit(20)
        )

    return Plan(10, variant, stage, (side,), finish)


def _q12(variant: str) -> Plan:
    received = (
        col("l_shipmode").in_list([lit("MAIL"), lit("SHIP")])
        & (col("l_commitdate") < col("l_receiptdate"))
        & (col("l_shipdate") < col("l_commitdate"))
    )
    urgent = ["1-URGENT", "2-HIGH"]
    if variant == "udf":
        pre = received & date_window("received_1994", "1994-01-01", "1995-01-01")(
            col("l_receiptdate")
        )
        high = f.sum(one_of("urgent", urgent)(col("o_orderpriority")))
        low = f.sum(lit(1) - one_of("urgent", urgent)(col("o_orderpriority")))
    else:
        pre = (
            received
            & (col("l_receiptdate") >= _date("1994-01-01"))
            & (col("l_receiptdate") < _date("1995-01-01"))
        )
        is_high = col("o_orderpriority").in_list([lit(p) for p in urgent])
        high = f.sum(f.when(is_high, lit(1)).otherwise(lit(0)))
        low = f.sum(f.when(is_high, lit(0)).otherwise(lit(1)))
    side = Side(("l_orderkey",), ("o_orderkey",), table="orders")
    stage = Stage(
        pre, None, ("l_shipmode",), (high.alias("high_line_count"), low.alias("low_line_count"))
    )

    def finish(_: SessionContext, df: DataFrame) -> DataFrame:
        return df.select(col("l_shipmode"), col("high_line_count"), col("low_line_count")).sort(
            col("l_shipmode")
        )

    return Plan(12, variant, stage, (side,), finish)


def _q14(variant: str) -> Plan:
    side = Side(
        ("l_partkey",),
        ("p_partkey",),
        sql="select p_partkey from part where p_type like 'PROMO%'",
        how="left",
    )
    if variant == "udf":
        pre = date_window("shipped_sep_1995", "1995-09-01", "1995-10-01")(col("l_shipdate"))
        price = net_price("net_price")(col("l_extendedprice"), col("l_discount"))
        promo = f.sum(f.when(col("p_partkey").is_not_null(), price).otherwise(lit(0.0)))
        total = revenue()(col("l_extendedprice"), col("l_discount"))
    else:
        pre = (col("l_shipdate") >= _date("1995-09-01")) & (col("l_shipdate") < _date("1995-10-01"))
        promo = f.sum(f.when(col("p_partkey").is_not_null(), _net()).otherwise(lit(0)))
        total = f.sum(_net())
    stage = Stage(pre, None, (), (promo.alias("promo"), total.alias("total")))

    def finish(_: SessionContext, df: DataFrame) -> DataFrame:
        return df.select((lit(100.00) * col("promo") / col("total")).alias("promo_revenue"))

    return Plan(14, variant, stage, (side,), finish)


Q19_BRANCHES = (
    ("Brand#12", ("SM CASE", "SM BOX", "SM PACK", "SM PKG"), 1, 11, 5),
    ("Brand#23", ("MED BAG", "MED BOX", "MED PKG", "MED PACK"), 10, 20, 10),
    ("Brand#34", ("LG CASE", "LG BOX", "LG PACK", "LG PKG"), 20, 30, 15),
)


def _q19(variant: str) -> Plan:
    pre = (
        col("l_shipmode").in_list([lit("AIR"), lit("AIR REG")])
        & (col("l_shipinstruct") == lit("DELIVER IN PERSON"))
        & col("l_quantity").between(lit(1), lit(30))
    )
    side = Side(
        ("l_partkey",),
        ("p_partkey",),
        sql="select p_partkey, p_brand, p_container, p_size from part where "
        + " or ".join(
            f"(p_brand = '{b}' and p_container in ({', '.join(repr(c) for c in cs)}) "
            f"and p_size between 1 and {s})"
            for b, cs, _, _, s in Q19_BRANCHES
        ),
    )
    if variant == "udf":
        post = part_branches("q19_branches", Q19_BRANCHES)(
            col("p_brand"), col("p_container"), col("l_quantity"), col("p_size")
        )
    else:
        post = None
        for b, cs, q_lo, q_hi, s in Q19_BRANCHES:
            branch = (
                (col("p_brand") == lit(b))
                & col("p_container").in_list([lit(c) for c in cs])
                & col("l_quantity").between(lit(q_lo), lit(q_hi))
                & col("p_size").between(lit(1), lit(s))
            )
            post = branch if post is None else post | branch
    stage = Stage(pre, post, (), (_revenue(variant),))
    return Plan(19, variant, stage, (side,), lambda _, df: df.select(col("revenue")))


_BUILDERS: dict[int, Callable[[str], Plan]] = {
    1: _q1,
    3: _q3,
    5: _q5,
    6: _q6,
    10: _q10,
    12: _q12,
    14: _q14,
    19: _q19,
}


def plan(query: int, variant: str) -> Plan:
    """The pool plan of one query in one variant (``builtin`` or ``udf``)."""
    if query not in _BUILDERS:
        raise ValueError(
            f"pool mode runs TPC-H queries {', '.join(map(str, QUERIES))}, not {query}"
        )
    if variant not in VARIANTS:
        raise ValueError(f"the variants are {', '.join(VARIANTS)}, not {variant!r}")
    return _BUILDERS[query](variant)


# --- the worker side

_WORKER_CTX: SessionContext | None = None


# The plans (numbered by the driver) this worker has decoded a task of: the
# first task of each is timed apart from the others.
_SEEN_PLANS: set[int] = set()


def _init_worker() -> None:
    """Pool initializer: a fresh session, installed as the worker slot so the
    tasks' ``pickle.loads`` decode against it, and warmed so that the first
    task's decode costs what the later ones do."""
    global _WORKER_CTX
    _WORKER_CTX = SessionContext()
    ipc.init_worker(_WORKER_CTX)


def _ready(_: int) -> int:
    return os.getpid()


def _run_numbered(job: tuple[bytes, int]) -> tuple[bytes, float, float, bool]:
    return run_task(*job)


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _from_ipc(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(data).read_all()


def run_task(payload: bytes, plan_number: int = 0) -> tuple[bytes, float, float, bool]:
    """Runs one pickled :class:`Task` of the plan numbered ``plan_number``; returns
    the partial aggregates as Arrow IPC, the seconds spent unpickling, the
    seconds in all, and whether it was this worker's first task of the plan."""
    start = time.perf_counter()
    task: Task = pickle.loads(payload)
    decoded = time.perf_counter()
    first = plan_number not in _SEEN_PLANS
    _SEEN_PLANS.add(plan_number)
    ctx = _WORKER_CTX if _WORKER_CTX is not None else SessionContext()
    stage = task.stage
    df = ctx.read_parquet(list(task.lineitem))
    if stage.pre_filter is not None:
        df = df.filter(stage.pre_filter)
    for join in task.joins:
        side = (
            ctx.from_arrow(_from_ipc(join.data))
            if join.data is not None
            else ctx.read_parquet(list(join.files))
        )
        df = df.join(side, how=join.how, left_on=list(join.left_on), right_on=list(join.right_on))  # type: ignore[arg-type]
    if stage.post_filter is not None:
        df = df.filter(stage.post_filter)
    partial = df.aggregate([col(g) for g in stage.group_by], list(stage.partials)).to_arrow_table()
    out = _ipc(partial)
    return out, decoded - start, time.perf_counter() - start, first


# --- the driver side


def _merge(ctx: SessionContext, plan_: Plan, partials: list[pa.Table]) -> pa.Table:
    table = pa.concat_tables(partials)
    names = [n for n in table.column_names if n not in plan_.stage.group_by]
    summed_ = ctx.from_arrow(table).aggregate(
        [col(g) for g in plan_.stage.group_by], [f.sum(col(n)).alias(n) for n in names]
    )
    return plan_.finish(ctx, summed_).to_arrow_table()


def _tasks(ctx: SessionContext, data: str, plan_: Plan) -> list[Task]:
    lineitem = table_files(data, "lineitem")
    # Per side, the join of each lineitem part: one broadcast shared by all,
    # or the co-partitioned file of the same part.
    joins_per_side: list[list[Join]] = []
    for side in plan_.sides:
        if side.sql is not None:
            shared = Join(
                side.left_on, side.right_on, side.how, data=_ipc(ctx.sql(side.sql).to_arrow_table())
            )
            joins_per_side.append([shared] * len(lineitem))
            continue
        assert side.table is not None
        companion = table_files(data, side.table)
        if len(companion) != len(lineitem):
            raise ValueError(
                f"{side.table} has {len(companion)} files and lineitem {len(lineitem)}: "
                "generate both with the same --parts"
            )
        joins_per_side.append(
            [Join(side.left_on, side.right_on, side.how, files=(f,)) for f in companion]
        )
    return [
        Task((file,), tuple(joins[k] for joins in joins_per_side), plan_.stage)
        for k, file in enumerate(lineitem)
    ]


def run_pool(
    data: str,
    workers: int,
    start_method: str,
    queries: Iterable[int] = QUERIES,
    variants: Iterable[str] = VARIANTS,
    report: Callable[[Outcome], None] | None = None,
    progress: Callable[[int, str, int, int], None] | None = None,
) -> list[Outcome]:
    """Runs each query and variant on a pool of ``workers`` processes started
    with ``start_method`` and checks each against a single-node run."""
    ctx = context(data)
    queries, variants = list(queries), list(variants)
    plans = [plan(q, v) for q in queries for v in variants]
    outcomes: list[Outcome] = []
    with mp.get_context(start_method).Pool(workers, initializer=_init_worker) as pool:
        # Start every worker (imports included) before anything is timed.
        pool.map(_ready, range(workers * 4))
        singles: dict[int, tuple[pa.Table, float]] = {}
        for p in plans:
            if p.query not in singles:
                begin = time.perf_counter()
                want = run_query(ctx, p.query)
                singles[p.query] = (want, time.perf_counter() - begin)
            want, single_seconds = singles[p.query]
            begin = time.perf_counter()
            tasks = _tasks(ctx, data, p)
            encode_start = time.perf_counter()
            payloads = [pickle.dumps(t) for t in tasks]
            encode_seconds = time.perf_counter() - encode_start
            results = []
            numbered = [(payload, len(outcomes)) for payload in payloads]
            for done, result in enumerate(pool.imap_unordered(_run_numbered, numbered), 1):
                results.append(result)
                if progress is not None:
                    progress(p.query, p.variant, done, len(payloads))
            got = _merge(ctx, p, [_from_ipc(r[0]) for r in results])
            pool_seconds = time.perf_counter() - begin
            outcome = Outcome(
                query=p.query,
                variant=p.variant,
                difference=compare(got, want, ordered=True),
                single_seconds=single_seconds,
                pool_seconds=pool_seconds,
                tasks=len(payloads),
                expression_bytes=len(pickle.dumps(p.stage)),
                task_bytes=sum(map(len, payloads)) // max(len(payloads), 1),
                encode_seconds=encode_seconds,
                decode_seconds=sum(r[1] for r in results),
                task_seconds=sum(r[2] for r in results),
                first_decodes=tuple(r[1] for r in results if r[3]),
                later_decodes=tuple(r[1] for r in results if not r[3]),
            )
            if report is not None:
                report(outcome)
            outcomes.append(outcome)
    return outcomes
