"""``python -m sqlgen``: see ``--help`` and ``harness/README.md``."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from sqlgen.run import REGRESSIONS, Options, coverage, print_counts, run

_STAGES = {-1: "without a plan", 0: "run on the coordinator only", 1: "one stage", 4: "4+ stages"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sqlgen", description=__doc__)
    p.add_argument("--cases", type=int, default=200, help="queries to generate (200)")
    p.add_argument("--seed", type=int, default=0, help="the generator's seed (0)")
    p.add_argument(
        "--budget", type=float, default=600, help="stop generating after this many seconds (600)"
    )
    p.add_argument(
        "--udfs",
        choices=["mixed", "on", "off"],
        default="mixed",
        help="Python UDFs allowed in every query, in none, or drawn per query (mixed)",
    )
    p.add_argument(
        "--plant",
        choices=["drop-batch", "double-count"],
        help="plant a bug in the distributed engines; the run must catch and shrink it",
    )
    p.add_argument(
        "--regressions",
        type=Path,
        default=REGRESSIONS,
        help="where shrunk failures are saved and replayed from",
    )
    p.add_argument(
        "--coverage",
        type=int,
        metavar="N",
        help="only generate N queries (nothing runs) and fail unless every construct appears",
    )
    args = p.parse_args(argv)

    if args.coverage is not None:
        counts = coverage(args.coverage, args.seed)
        total = counts["(queries)"]
        missing = print_counts(
            f"== {total} generated queries ({counts['(with Python UDFs)']} with Python UDFs),"
            " construct coverage ==",
            counts,
            total,
        )
        if missing:
            print(f"never generated: {', '.join(missing)}", file=sys.stderr)
            return 1
        return 0

    udfs = {"mixed": None, "on": True, "off": False}[args.udfs]
    if args.plant and args.regressions == REGRESSIONS:
        # a planted bug's case is not a regression of the project
        args.regressions = Path(tempfile.mkdtemp(prefix="sqlgen-planted-"))
    opts = Options(args.cases, args.seed, args.budget, args.regressions, args.plant, udfs)
    out = run(opts)
    s = out.stats
    print(
        f"== sqlgen: {s.cases} cases in {out.seconds:.0f} s (seed {args.seed}),"
        f" {s.with_udfs} with Python UDFs; {s.executed_distributed} distributed runs,"
        f" {s.executed_duckdb} compared with DuckDB, {s.rows} result rows =="
    )
    shown = ", ".join(f"{n} {_STAGES.get(k, f'{k} stages')}" for k, n in sorted(s.stages.items()))
    print(f"distributed plans on 3 workers by stages: {shown}")
    print_counts("constructs:", s.constructs, s.cases)
    for title, counter in (
        ("disagreements explained by known upstream bugs", s.known_bugs),
        ("failed on every engine (the generator's invalid queries)", s.failed_everywhere),
        ("refused by DuckDB only", s.duckdb_refused),
        ("refused by DataFusion only (DuckDB answered)", s.datafusion_refused),
    ):
        if counter:
            print(f"{title}: {sum(counter.values())}")
            for message, n in counter.most_common(5):
                print(f"  {n:>4} x {message}")
                print(f"         e.g. {s.examples[message][:300]}")
    for failure in out.replay_failures:
        print(f"REGRESSION: {failure}", file=sys.stderr)
    if args.plant:
        if out.shrunk is None or out.first is None:
            print(f"the planted bug ({args.plant}) was NOT caught", file=sys.stderr)
            return 1
        print(f"planted bug ({args.plant}) caught: {out.first.summary()}")
        print(f"  first failing query ({len(out.first.query.sql)} chars): {out.first.query.sql}")
        print(f"  shrunk to ({len(out.shrunk.query.sql)} chars): {out.shrunk.query.sql}")
        if len(out.shrunk.query.sql) >= len(out.first.query.sql):
            print("the failing query did not shrink", file=sys.stderr)
            return 1
        return 0
    if out.shrunk is not None:
        print(f"DISAGREEMENT: {out.shrunk.summary()}", file=sys.stderr)
        print(f"  first found: {out.first.query.sql if out.first else ''}", file=sys.stderr)
        print(f"  shrunk to:   {out.shrunk.query.sql}", file=sys.stderr)
        return 1
    return 1 if out.replay_failures else 0


if __name__ == "__main__":
    sys.exit(main())
