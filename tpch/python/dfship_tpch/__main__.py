"""``python -m dfship_tpch``: the DuckDB check, the pool mode and the
distributed mode.

    python -m dfship_tpch check --data DIR [--query N ...]
    python -m dfship_tpch pool --data DIR --workers N --start spawn [--query N ...] [--variant udf]
    python -m dfship_tpch distributed --data DIR --workers 2,3 [--query N ...] [--iterations K]
    python -m dfship_tpch chaos --data DIR [--workers 3] [--seconds 600] [--json FILE]

Each exits with status 1 when any result differs.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys

from dfship_tpch import DatasetError, dataset


def _check(args: argparse.Namespace) -> int:
    from dfship_tpch.check import Checked, check

    sf, parts = dataset(args.data)
    print(f"TPC-H SF {sf:g} ({parts} part(s) per table) from {args.data}: dfship against DuckDB")
    print(f"{'query':<6}{'rows':>7}{'dfship s':>10}{'duckdb s':>10}  result")

    def line(c: Checked) -> None:
        verdict = "match" if c.difference is None else f"DIFFERS: {c.difference}"
        print(
            f"q{c.query:02d}   {c.rows:>7}{c.dfship_seconds:>10.3f}"
            f"{c.duckdb_seconds:>10.3f}  {verdict}",
            flush=True,
        )

    results = check(args.data, args.query or range(1, 23), line)
    matched = sum(c.difference is None for c in results)
    print(f"{matched} of {len(results)} match DuckDB")
    return 0 if matched == len(results) else 1


def _distributed(args: argparse.Namespace) -> int:
    from dfship_tpch.distributed import Timed, run_distributed

    sf, parts = dataset(args.data)
    sizes = sorted({int(n) for n in args.workers.split(",")})
    print(
        f"TPC-H SF {sf:g} ({parts} part(s) per table) from {args.data}: single-node against "
        f"{' and '.join(map(str, sizes))} local worker processes (fastest of {args.iterations})"
    )
    header = f"{'query':<6}{'single s':>9}"
    for n in sizes:
        header += f"{f'{n}w s':>9}{f'{n}w MB':>9}"
    print(header + "  result")
    totals = {0: 0.0, **{n: 0.0 for n in sizes}}

    def line(t: Timed) -> None:
        text = f"q{t.query:02d}   {t.single_seconds:>9.3f}"
        totals[0] += t.single_seconds
        problems = []
        for n in sizes:
            seconds, moved, problem = t.distributed[n]
            totals[n] += seconds
            mb = "n/a" if moved is None else f"{moved / 1e6:.1f}"
            text += f"{seconds:>9.3f}{mb:>9}"
            if problem:
                problems.append(f"{n} workers: {problem}")
        verdict = "  DIFFERS: " + "; ".join(problems) if problems else "  match"
        print(text + verdict, flush=True)

    results = run_distributed(
        args.data, sizes, args.query or range(1, 23), args.iterations, line, args.bytes_per_task
    )
    total = f"{'total':<6}{totals[0]:>9.3f}"
    for n in sizes:
        total += f"{totals[n]:>9.3f}{'':>9}"
    print(total)
    matched = sum(all(d[2] is None for d in t.distributed.values()) for t in results)
    print(f"{matched} of {len(results)} match single-node")
    return 0 if matched == len(results) else 1


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pool(args: argparse.Namespace) -> int:
    from dfship_tpch.pool import QUERIES, VARIANTS, Outcome, run_pool

    sf, parts = dataset(args.data)
    print(
        f"TPC-H SF {sf:g} from {args.data}: lineitem's {parts} file(s) across "
        f"{args.workers} {args.start} worker(s), expressions shipped by pickle"
    )
    header = (
        f"{'query':<6}{'variant':<9}{'result':<9}{'single s':>9}{'pool s':>8}{'tasks':>6}"
        f"{'expr B':>8}{'task B':>10}{'first ms':>9}{'later ms':>9}{'ship %':>8}"
    )
    print(header)
    live = sys.stderr.isatty()

    def progress(query: int, variant: str, done: int, total: int) -> None:
        if live:
            print(
                f"\rq{query:02d} {variant}: {done}/{total} tasks",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def line(o: Outcome) -> None:
        if live:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
        verdict = "match" if o.difference is None else "DIFFERS"
        print(
            f"q{o.query:02d}   {o.variant:<9}{verdict:<9}"
            f"{o.single_seconds:>9.3f}{o.pool_seconds:>8.3f}"
            f"{o.tasks:>6}{o.expression_bytes:>8}{o.task_bytes:>10}"
            f"{_ms(o.first_decode_ms):>9}{_ms(o.later_decode_ms):>9}"
            f"{100 * o.shipping_share:>8.2f}",
            flush=True,
        )
        if o.difference is not None:
            print(f"      {o.difference}", flush=True)

    outcomes = run_pool(
        args.data,
        args.workers,
        args.start,
        args.query or QUERIES,
        args.variant or VARIANTS,
        line,
        progress,
    )
    matched = sum(o.difference is None for o in outcomes)
    print(
        "expr B: the pickled expressions of a task; task B: the whole task, broadcast join sides "
        "included; first ms / later ms: unpickling a worker's first task of the query, and "
        "each later one; ship %: pickling and unpickling as a share of the tasks' time"
    )
    print(f"{matched} of {len(outcomes)} match single-node")
    return 0 if matched == len(outcomes) else 1


def _chaos(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dfship_tpch.chaos import render, run_chaos, to_json

    sf, parts = dataset(args.data)
    print(
        f"TPC-H SF {sf:g} ({parts} part(s) per table) from {args.data}: the 22 queries in a loop "
        f"on {args.workers} workers for {args.seconds:g} s, one hit every ~{args.interval:g} s",
        flush=True,
    )
    report = run_chaos(
        args.data,
        workers=args.workers,
        seconds=args.seconds,
        interval=args.interval,
        max_attempts=args.max_attempts,
        seed=args.seed,
        log=lambda line: print(line, flush=True),
    )
    print(render(report))
    if args.json:
        Path(args.json).write_text(to_json(report) + "\n")
    return 0 if report.ok else 1


def _lab(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from dfship_tpch.lab import RATES, run_lab
    from dfship_tpch.labreport import render
    from dfship_tpch.netlab import LabError, LabUnavailable

    if args.render:
        results = json.loads(Path(args.render).read_text())
    else:
        for data in args.data:
            dataset(data)
        rates = args.rates.split(",") if args.rates else list(RATES)
        try:
            results = run_lab(
                args.data,
                rates=rates,
                iterations=(lambda sf: args.iterations)
                if args.iterations is not None
                else (lambda sf: 3 if sf <= 1 else 0),
                queries=args.query or range(1, 23),
                link_check_bytes=int(args.link_check_mb * 1e6),
                bytes_per_task=args.bytes_per_task,
                s3=args.s3,
                log=lambda line: print(line, flush=True),
            )
        except LabUnavailable as e:
            if args.skip_unavailable:
                print(f"cluster lab SKIPPED, this machine cannot host it: {e}")
                return 0
            print(f"{PROG}: {e}", file=sys.stderr)
            return 3
        except LabError as e:
            print(f"{PROG}: the lab failed: {e}", file=sys.stderr)
            return 1
    report = Path(args.report)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    wrong = [
        f"SF {d['sf']:g} {run['label']}: q{int(q):02d}: {fig['problem']}"
        for d in results["datasets"]
        for run in d["runs"].values()
        for q, fig in run["queries"].items()
        if fig["problem"]
    ]
    if wrong:
        print("results differ from single-node's:\n  " + "\n  ".join(wrong), file=sys.stderr)
        print(
            f"the figures are in {report.with_suffix('.json')}; no report written", file=sys.stderr
        )
        return 1
    report.write_text(render(results, report.parent, stem=report.stem))
    print(f"report: {report} (charts and figures beside it)")
    return 0


PROG = "python -m dfship_tpch"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dfship_tpch", description=__doc__.splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="the 22 queries in dfship and DuckDB, compared")
    check.add_argument("--data", required=True, help="a local directory made by `dfship-tpch gen`")
    check.add_argument("--query", type=int, action="append", help="only this query (repeatable)")
    check.set_defaults(run=_check)
    pool = commands.add_parser("pool", help="eight queries shipped to a multiprocessing pool")
    pool.add_argument(
        "--data",
        required=True,
        help="a directory made by `dfship-tpch gen`, or an s3:// (gs://, az://) URL holding one, "
        "read with the store the AWS_* (GOOGLE_*, AZURE_*) variables configure",
    )
    pool.add_argument("--workers", type=int, default=2)
    pool.add_argument("--start", choices=mp.get_all_start_methods(), default="spawn")
    pool.add_argument("--query", type=int, action="append", help="only this query (repeatable)")
    pool.add_argument("--variant", choices=["builtin", "udf"], action="append")
    pool.set_defaults(run=_pool)
    dist = commands.add_parser(
        "distributed", help="the 22 queries on local dfship worker processes vs single-node"
    )
    dist.add_argument(
        "--data",
        required=True,
        help="a directory made by `dfship-tpch gen`, or an s3:// (gs://, az://) URL holding one, "
        "read with the store the AWS_* (GOOGLE_*, AZURE_*) variables configure",
    )
    dist.add_argument("--workers", default="2,3", help="worker counts, comma-separated")
    dist.add_argument("--query", type=int, action="append", help="only this query (repeatable)")
    dist.add_argument(
        "--iterations", type=int, default=3, help="runs per query; the fastest counts"
    )
    dist.add_argument("--bytes-per-task", type=int, default=None, help="input bytes per scan task")
    dist.set_defaults(run=_distributed)
    chaos = commands.add_parser(
        "chaos", help="the 22 queries in a loop while workers are killed, frozen and restarted"
    )
    chaos.add_argument("--data", required=True, help="a directory made by `dfship-tpch gen`")
    chaos.add_argument("--workers", type=int, default=3)
    chaos.add_argument("--seconds", type=float, default=600.0, help="how long the loop runs")
    chaos.add_argument("--interval", type=float, default=4.0, help="mean seconds between actions")
    chaos.add_argument("--max-attempts", type=int, default=5)
    chaos.add_argument("--seed", type=int, default=0)
    chaos.add_argument("--json", help="also write the report here")
    chaos.set_defaults(run=_chaos)
    lab = commands.add_parser(
        "lab",
        help="the cluster lab (root): workers in network namespaces on pinned cores, shaped links",
    )
    lab.add_argument(
        "--data",
        action="append",
        default=[],
        help="a directory made by `dfship-tpch gen` (repeatable)",
    )
    lab.add_argument("--rates", help="link rates, comma-separated (default 10gbit,1gbit,100mbit)")
    lab.add_argument("--query", type=int, action="append", help="only this query (repeatable)")
    lab.add_argument(
        "--iterations",
        type=int,
        help="timed runs after the checked one (default: 3 at SF <= 1, else 0, the checked run)",
    )
    lab.add_argument(
        "--link-check-mb",
        type=float,
        default=200.0,
        help="megabytes sent to measure each link rate (at most 2 s of traffic)",
    )
    lab.add_argument(
        "--bytes-per-task",
        type=int,
        help="input bytes per scan task (default: datafusion-distributed's 16 MiB)",
    )
    lab.add_argument(
        "--report",
        required=True,
        help="the Markdown report to write; its charts and figures (.json) go beside it",
    )
    lab.add_argument(
        "--s3",
        action="store_true",
        help="also read the first dataset from an S3 server in a namespace of its own",
    )
    lab.add_argument("--render", metavar="JSON", help="only render the report of saved figures")
    lab.add_argument(
        "--skip-unavailable",
        action="store_true",
        help="when the machine cannot host the lab, say so and exit 0",
    )
    lab.set_defaults(run=_lab)
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except DatasetError as e:
        print(f"{parser.prog}: {e}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
