"""The differential run: replay the saved regressions, then generate
queries until the case count or the time budget runs out; the first
disagreement is shrunk by Hypothesis and saved as a regression."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

import dfship
from sqlgen import data
from sqlgen.compare import disagreement
from sqlgen.engines import Engine, Failed, Lab
from sqlgen.generate import CONSTRUCTS, Query, queries

REGRESSIONS = Path(__file__).resolve().parent.parent / "query-regressions"


@dataclass
class Problem:
    """Two engines disagreeing on a query."""

    query: Query
    keyed: bool
    engine: str
    reference: str
    detail: str

    def summary(self) -> str:
        return f"{self.engine} vs {self.reference}: {self.detail}"


@dataclass
class Stats:
    cases: int = 0
    with_udfs: int = 0
    executed_distributed: int = 0
    executed_duckdb: int = 0
    failed_everywhere: Counter[str] = field(default_factory=Counter)
    known_bugs: Counter[str] = field(default_factory=Counter)
    duckdb_refused: Counter[str] = field(default_factory=Counter)
    datafusion_refused: Counter[str] = field(default_factory=Counter)
    constructs: Counter[str] = field(default_factory=Counter)
    rows: int = 0
    #: distributed plans (3 workers) by their number of stages (4: 4 or more)
    stages: Counter[int] = field(default_factory=Counter)
    #: one query per counted message
    examples: dict[str, str] = field(default_factory=dict)

    def note(self, counter: Counter[str], message: str, sql: str) -> None:
        key = message[:120]
        counter[key] += 1
        self.examples.setdefault(key, sql)


def check(
    lab: Lab,
    query: Query,
    keyed: bool,
    stats: Stats | None,
    reference: Engine | None = None,
) -> Problem | None:
    """Runs ``query`` on every engine that can run it; the first
    disagreement, or None. ``reference`` stands in for single-node."""
    ref = reference or lab.single
    single = ref.outcome(query.sql)
    problem = disagreement(single, single, query)  # the order of its own rows
    if problem is not None:
        return Problem(query, keyed, ref.name, ref.name, problem)
    others: list[Engine] = [lab.distributed[(n, keyed)] for n in (2, 3)]
    for engine in others:
        problem = disagreement(engine.outcome(query.sql), single, query)
        if problem is not None:
            return Problem(query, keyed, engine.name, ref.name, problem)
    duck = None if query.udfs else lab.duckdb.outcome(query.sql)
    if stats is not None:
        stats.executed_distributed += len(others)
        if not isinstance(single, Failed):
            try:
                stages = others[-1].plan(query.sql).count("[Stage ")
            except Exception:  # the plan of a query that runs always builds; be safe
                stages = -1
            stats.stages[min(stages, 4)] += 1
        if not isinstance(single, Failed):
            stats.rows += single.num_rows
        if isinstance(single, Failed) and not isinstance(duck, pa.Table):
            stats.note(stats.failed_everywhere, single.error, query.sql)
        elif isinstance(single, Failed):
            stats.note(stats.datafusion_refused, single.error, query.sql)
        elif isinstance(duck, Failed):
            stats.note(stats.duckdb_refused, duck.error, query.sql)
        elif duck is not None:
            stats.executed_duckdb += 1
    if isinstance(duck, pa.Table) and not isinstance(single, Failed):
        problem = disagreement(single, duck, query)
        if problem is not None:
            return Problem(query, keyed, ref.name, lab.duckdb.name, problem)
    return None


@dataclass(frozen=True)
class KnownBug:
    """An upstream bug the run recognises, so that it counts the bug and goes
    on instead of stopping at it. Recognised by one of: single-node with one
    of the bug's workarounds (engines of :class:`Lab`) gives what the other side
    of the disagreement gave, on a query with ``construct_needed``; the
    failure carries one of the bug's ``messages``; the query has
    ``construct`` and DataFusion and DuckDB disagree on it."""

    name: str
    workarounds: tuple[str, ...] = ()
    construct_needed: str = ""
    messages: tuple[str, ...] = ()
    #: distributed vs single-node is still compared on such queries
    construct: str | None = None
    #: or: the query has all these constructs and single-node itself gives
    #: differing results when run again (up to 200 times)
    unstable_with: tuple[str, ...] = ()

    def explains(self, lab: Lab, problem: Problem) -> bool:
        if self.unstable_with:
            if not set(self.unstable_with) <= problem.query.constructs:
                return False
            first = lab.single.outcome(problem.query.sql)
            return any(
                disagreement(lab.single.outcome(problem.query.sql), first, problem.query)
                for _ in range(200)
            )
        if self.construct is not None:
            return self.construct in problem.query.constructs and problem.reference == "duckdb"
        if self.messages:
            return any(m in problem.detail for m in self.messages)
        if not self.workarounds or self.construct_needed not in problem.query.constructs:
            return False
        names = {problem.engine, problem.reference}
        if lab.single.name not in names:
            return False
        if check(lab, problem.query, problem.keyed, None) is None:
            return False  # it did not happen again: flaky, never explained away
        other = (names - {lab.single.name}).pop()
        sql = problem.query.sql
        right = _engine(lab, other).outcome(sql)
        for workaround in self.workarounds:
            fixed = getattr(lab, workaround).outcome(sql)
            if disagreement(fixed, right, problem.query) is None:
                return True
        return False


KNOWN_BUGS = (
    KnownBug(
        "DataFusion 55: a filter is pushed below a global aggregate"
        " (harness/FINDINGS.md, finding 1)",
        workarounds=("single_unoptimized", "single_joined"),
        construct_needed="aggregate:global",
    ),
    KnownBug(
        "datafusion-distributed 4.0.0: network boundaries lose equivalence properties when"
        " decoded, windows partitioned by a constant fail (datafusion-distributed#679;"
        " harness/FINDINGS.md, finding 2)",
        messages=(
            "All partition by columns should have an ordering",
            "Expects PARTITION BY expression to be ordered",
        ),
    ),
    KnownBug(
        "DataFusion 55: NOT IN (subquery) under OR is not null-aware (apache/datafusion#8241;"
        " harness/FINDINGS.md, finding 3)",
        construct="anti:not-in",
    ),
    KnownBug(
        "DataFusion 55: ORDER BY ... LIMIT over a UNION of branches with different constants"
        " gives varying rows (harness/FINDINGS.md, finding 4)",
        unstable_with=("limit",),
    ),
)


def known_bug(lab: Lab, problem: Problem) -> str | None:
    """The known upstream bug that explains ``problem``, if any."""
    for bug in KNOWN_BUGS:
        if bug.explains(lab, problem):
            return bug.name
    return None


# -- regressions --------------------------------------------------------------


def _engine(lab: Lab, name: str) -> Engine:
    """The engine of ``lab`` called ``name``."""
    engines = [lab.duckdb, lab.single, *lab.distributed.values()]
    for engine in engines:
        if engine.name == name:
            return engine
    raise KeyError(f"no engine {name!r} in this run")


def _plan(engine: Engine, sql: str) -> str:
    try:
        return engine.plan(sql)
    except Exception as e:  # a plan that fails to build is part of the report
        return f"(no plan: {type(e).__name__}: {e})"


def locked_versions() -> str:
    """The DataFusion crates dfship is built on, from Cargo.lock."""
    lock = (REGRESSIONS.parent.parent / "Cargo.lock").read_text()
    found = []
    for name in ("datafusion", "datafusion-distributed"):
        marker = f'name = "{name}"\nversion = "'
        at = lock.find(marker)
        if at >= 0:
            found.append(f"{name} {lock[at + len(marker) :].split(chr(34), 1)[0]}")
    return ", ".join(found)


def save(lab: Lab, problem: Problem, directory: Path) -> Path:
    """Writes the shrunk case (JSON, replayed by every run) and a readable
    snapshot: the query, both engines' plans and results, the versions."""
    directory.mkdir(parents=True, exist_ok=True)
    q = problem.query
    digest = hashlib.sha256(f"{q.sql}|{problem.keyed}".encode()).hexdigest()[:12]
    record = {
        "sql": q.sql,
        "keyed": problem.keyed,
        "order": [list(o) for o in q.order],
        "totally_ordered": q.totally_ordered,
        "udfs": sorted(q.udfs),
        "constructs": sorted(q.constructs),
        "data_version": data.DATA_VERSION,
        "engines": [problem.engine, problem.reference],
        "found": problem.detail,
        "expected_failure": None,
    }
    path = directory / f"{digest}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    engine = _engine(lab, problem.engine)
    reference = _engine(lab, problem.reference)
    results = []
    for e in (engine, reference):
        out = e.outcome(q.sql)
        shown = str(out) if isinstance(out, Failed) else out.slice(0, 20).to_pandas().to_string()
        results.append(f"### {e.name}: result (first 20 rows)\n\n```text\n{shown}\n```\n")
    versions = (
        f"dfship {dfship.__version__}, {locked_versions()}, duckdb {duckdb.__version__}, "
        f"Python {sys.version.split()[0]}, data version {data.DATA_VERSION}"
    )
    snapshot = [
        f"# Regression {digest}\n",
        f"{problem.summary()}\n",
        f"Versions: {versions}. Payload key: {'yes' if problem.keyed else 'no'}.\n",
        f"```sql\n{q.sql}\n```\n",
        *results,
        f"### {engine.name}: plan\n\n```text\n{_plan(engine, q.sql)}\n```\n",
        f"### {reference.name}: plan\n\n```text\n{_plan(reference, q.sql)}\n```\n",
    ]
    path.with_suffix(".md").write_text("\n".join(snapshot))
    return path


def replay(lab: Lab, directory: Path) -> list[str]:
    """Runs every saved regression; returns what went wrong (a regression
    that disagrees again, or an expected failure that no longer does)."""
    failures = []
    for path in sorted(directory.glob("*.json")):
        record = json.loads(path.read_text())
        query = Query(
            record["sql"],
            frozenset(record["constructs"]),
            tuple((int(p), bool(d), bool(f)) for p, d, f in record["order"]),
            record["totally_ordered"],
            frozenset(record["udfs"]),
        )
        problem = check(lab, query, record["keyed"], None)
        expected = record.get("expected_failure")
        name = path.stem
        if record["data_version"] != data.DATA_VERSION:
            print(f"  note: {name} was found on data version {record['data_version']}")
        if expected and problem is None:
            failures.append(f"{name}: expected to fail ({expected}) but the engines agree now")
        elif not expected and problem is not None:
            failures.append(f"{name}: {problem.summary()}")
        else:
            print(f"  {name}: {'expected failure, ' + expected if expected else 'agrees'}")
    return failures


# -- the run ------------------------------------------------------------------


@dataclass
class Options:
    cases: int
    seed: int
    budget: float
    regressions: Path
    plant: str | None
    udfs: bool | None
    save: bool = True


@dataclass
class Outcome:
    stats: Stats
    #: the first disagreement found, and the same shrunk
    first: Problem | None
    shrunk: Problem | None
    #: saved regressions that failed their replay
    replay_failures: list[str]
    seconds: float


def run(opts: Options) -> Outcome:
    stats = Stats()
    state: dict[str, object] = {"problem": None, "first": None, "shrinking": False}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sqlgen-") as tmp, Lab(Path(tmp), opts.plant) as lab:
        print(f"workers: {', '.join(w.url for w in lab.workers)}")
        failures = replay(lab, opts.regressions) if opts.plant is None else []

        @settings(
            max_examples=opts.cases,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
            print_blob=False,
        )
        @seed(opts.seed)
        @given(queries(udfs=opts.udfs), st.booleans())
        def case(query: Query, keyed: bool) -> None:
            counting = not state["shrinking"]
            if counting and time.monotonic() - start > opts.budget:
                return
            problem = check(lab, query, keyed, stats if counting else None)
            if problem is not None and opts.plant is None:
                known = known_bug(lab, problem)
                if known is not None:
                    if counting:
                        stats.note(stats.known_bugs, known, query.sql)
                    problem = None
            if counting:
                stats.cases += 1
                stats.with_udfs += bool(query.udfs)
                stats.constructs.update(query.constructs)
            if problem is not None:
                if not state["shrinking"]:
                    state["first"] = problem
                state["shrinking"] = True
                state["problem"] = problem
                raise AssertionError(problem.summary())

        try:
            case()
        except Exception as e:  # the disagreement, or Hypothesis' report that it was flaky
            if state["problem"] is None:
                raise
            if not isinstance(e, AssertionError):
                print(f"note: {type(e).__name__}: the disagreement did not always reproduce")
        problem, first = state["problem"], state["first"]
        assert problem is None or isinstance(problem, Problem)
        assert first is None or isinstance(first, Problem)
        if problem is not None and opts.save:
            path = save(lab, problem, opts.regressions)
            print(f"saved the shrunk case as {path} (and its .md snapshot)")
    return Outcome(stats, first, problem, failures, time.monotonic() - start)


def coverage(n: int, seed_value: int) -> Counter[str]:
    """Generates ``n`` queries without running them and counts the
    constructs (fast: the generator's reach, checked on its own)."""
    counts: Counter[str] = Counter()

    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(seed_value)
    @given(queries())
    def gen(query: Query) -> None:
        counts.update(query.constructs)
        counts["(queries)"] += 1
        counts["(with Python UDFs)"] += bool(query.udfs)

    gen()
    return counts


def print_counts(title: str, counts: Counter[str], total: int) -> list[str]:
    """Prints one line per construct; returns the constructs never seen."""
    print(title)
    missing = []
    for name in CONSTRUCTS:
        n = counts.get(name, 0)
        if n == 0:
            missing.append(name)
        print(f"  {name:<28} {n:>6}  {100 * n / max(total, 1):5.1f}%")
    return missing
