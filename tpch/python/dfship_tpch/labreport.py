"""The cluster lab's report: Markdown for the guide and SVG bar charts,
from the figures :func:`dfship_tpch.lab.run_lab` returns."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dfship_tpch.lab import GOAL_SCAN, GOAL_SUITE, SCAN_QUERIES
from dfship_tpch.netlab import bits_per_second

COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1")


def bar_chart(
    groups: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    y_label: str,
    lines: Sequence[tuple[float, str]] = (),
    width: int = 860,
    height: int = 300,
) -> str:
    """A grouped bar chart as SVG: one group per label, one bar per series,
    and horizontal reference ``lines`` (value, label)."""
    left, right, top, bottom = 56, 16, 34, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = max([v for _, vs in series for v in vs] + [v for v, _ in lines] + [1e-9]) * 1.1
    step = _nice_step(top_value)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / top_value

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="13">{html.escape(title)}</text>',
    ]
    tick = 0.0
    while tick <= top_value:
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
        )
        out.append(f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>')
        tick = round(tick + step, 10)
    out.append(
        f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{html.escape(y_label)}</text>"
    )
    slot = plot_w / max(len(groups), 1)
    bar = slot * 0.8 / max(len(series), 1)
    for g, label in enumerate(groups):
        x0 = left + g * slot + slot * 0.1
        for s, (name, values) in enumerate(series):
            v = values[g]
            out.append(
                f'<rect x="{x0 + s * bar:.1f}" y="{y(v):.1f}" width="{bar * 0.92:.1f}" '
                f'height="{top + plot_h - y(v):.1f}" fill="{COLOURS[s % len(COLOURS)]}">'
                f"<title>{html.escape(label)}, {html.escape(name)}: {v:.3g}</title></rect>"
            )
        out.append(
            f'<text x="{x0 + slot * 0.4:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
            f"{html.escape(label)}</text>"
        )
    for value, name in lines:
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#333" stroke-dasharray="5 3"/>'
        )
        out.append(
            f'<text x="{left + plot_w - 2}" y="{y(value) - 3:.1f}" text-anchor="end">'
            f"{html.escape(name)}</text>"
        )
    x = left
    for s, (name, _) in enumerate(series):
        out.append(
            f'<rect x="{x}" y="{height - 18}" width="10" height="10" '
            f'fill="{COLOURS[s % len(COLOURS)]}"/>'
        )
        out.append(f'<text x="{x + 14}" y="{height - 9}">{html.escape(name)}</text>')
        x += 24 + 7 * len(name)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _nice_step(top: float) -> float:
    """A round tick step giving about five ticks up to ``top``."""
    raw = top / 5
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if raw <= m * magnitude)


def _q(result: dict[str, Any], key: str, n: int) -> dict[str, Any]:
    found: dict[str, Any] = result["runs"][key]["queries"][str(n)]
    return found


def _queries(result: dict[str, Any]) -> list[int]:
    return sorted(int(q) for q in result["runs"]["single-2c"]["queries"])


def _total(result: dict[str, Any], key: str) -> float:
    return float(sum(q["seconds"] for q in result["runs"][key]["queries"].values()))


def speedups(result: dict[str, Any], rate: str) -> dict[int, float]:
    return {
        n: _q(result, f"1w-{rate}", n)["seconds"] / _q(result, f"2w-{rate}", n)["seconds"]
        for n in _queries(result)
    }


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:,.1f}"


def _why(result: dict[str, Any], n: int, rate: str, explained: dict[str, Any]) -> str:
    """Reasons a query scales less than linearly, from what was measured."""
    two = _q(result, f"2w-{rate}", n)
    reasons = []
    if not explained.get("stages"):
        reasons.append(
            "not distributed: its inputs are small enough that the planner ran it on the "
            "coordinator alone"
        )
    single_task = sorted(
        (s for s, tasks in explained.get("stages", {}).items() if tasks == 1), key=int
    )
    if single_task:
        reasons.append(
            f"stage{'s' if len(single_task) > 1 else ''} {', '.join(single_task)} "
            "ran as one task (one core idle while it ran)"
        )
    wire = (two["bytes"] or 0) * 8 / bits_per_second(rate)
    if two["bytes"] and wire > 0.05 * two["seconds"]:
        reasons.append(
            f"exchange: {_mb(two['bytes'])} MB crossed the links, up to {wire:.2f} s of wire time"
        )
    planning = explained.get("planning_seconds", 0.0)
    if planning > 0.1 * two["seconds"]:
        reasons.append(f"planning: {planning * 1e3:.0f} ms of {two['seconds'] * 1e3:.0f} ms")
    shipping = explained.get("plan_send_seconds", 0.0)
    if shipping > 0.1 * two["seconds"]:
        reasons.append(f"plan shipping: {shipping * 1e3:.0f} ms before the last task started")
    if two["seconds"] < 0.25:
        reasons.append(f"short: {two['seconds'] * 1e3:.0f} ms in all, so fixed costs weigh")
    return "; ".join(reasons) or "no single cause stands out"


def render(results: dict[str, Any], out_dir: Path, *, stem: str = "cluster-lab") -> str:
    """Writes the SVG charts into ``out_dir`` and returns the Markdown page."""
    m = results["machine"]
    rates: list[str] = results["rates"]
    first = rates[0]
    lines = [
        "<!-- Generated by `make cluster-lab` (tpch/python/dfship_tpch/lab.py): do not edit by hand. -->",
        "",
        "# Scale-out: the cluster lab",
        "",
        f"Run on {m['date']}: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"Python {m['python']}, dfship {m['dfship']} ({m['build']} build).",
        "",
        "On two cores shared by every process, a distributed query can only show its overhead. The lab",
        "takes sharing out: each worker gets a core of its own and a network stack of its own.",
        "",
        "- **Network.** The coordinator, each worker and the S3 server (where one runs) live in",
        "  their own network namespace, each",
        "  with one veth pair to a bridge in a hub namespace. Nothing of the lab touches the",
        "  machine's own namespace. Both ends of every link are shaped with `tc`'s token bucket",
        "  filter (`tbf`) to the rate shown. This kernel has no `netem`, so links add no latency:",
        "  the rates differ in bandwidth only, and a real network's round trips are not in these",
        "  figures.",
        "- **Cores.** `taskset` pins every process. Single-node runs on core 1, or on cores 0 and 1;",
        "  one worker runs on core 1, and two workers on core 1 and core 0, each with one runtime",
        "  thread. The coordinator is on core 0, so with two workers it shares that core with the",
        "  second worker. The two-worker figures are therefore slightly pessimistic.",
        "- **Method.** Every configuration is a new coordinator process. Each query runs once while",
        "  the bytes crossing the links are counted (what the bridge delivered, so a byte counts",
        "  once), and its result is checked against single-node on 2 cores. Then it runs 3 more",
        "  times and the fastest run counts (at SF 1 and below; above, the checked run is the timed",
        "  one). The data is read once beforehand, so the page cache holds it, and the two workers",
        "  run every query once before the first timed worker configuration, so that no",
        "  configuration pays for a fresh process.",
        "- **Speedup** is one worker's time over two workers' time, at the same link rate.",
        "  **Parallel efficiency** is that speedup divided by 2.",
        "",
        "Measured link rates (TCP, one stream, worker to worker):",
        "",
        "| link | measured |",
        "|---|---|",
    ]
    lines += [f"| {r} | {results['link_check'][r] / 1e9:.3f} Gbit/s |" for r in rates]
    lines += ["", "## Goals", ""]
    target = _goal_dataset(results)
    if target is None:
        lines += ["No dataset at SF 10 in this run: the goals are stated for SF 10.", ""]
    else:
        sp = speedups(target, first)
        suite = _total(target, f"1w-{first}") / _total(target, f"2w-{first}")
        lines += [
            f"At SF {target['sf']:g} over {first}, two pinned workers against one:",
            "",
            "| goal | measured | met |",
            "|---|---|---|",
        ]
        explained = target["runs"][f"explain-{first}"]["explain"]
        misses = []
        for n in SCAN_QUERIES:
            if n in sp:
                lines.append(
                    f"| Q{n} at least {GOAL_SCAN}× | {sp[n]:.2f}× | {_yes(sp[n] >= GOAL_SCAN)} |"
                )
                if sp[n] < GOAL_SCAN and str(n) in explained:
                    misses.append(f"- Q{n}: {_why(target, n, first, explained[str(n)])}.")
        lines.append(
            f"| the 22 queries' total at least {GOAL_SUITE}× | {suite:.2f}× | {_yes(suite >= GOAL_SUITE)} |"
        )
        lines.append("")
        if suite < GOAL_SUITE:
            worst = [q for q in explained if int(q) not in SCAN_QUERIES]
            misses.append(
                "- The suite: the queries that scale worst are "
                + ", ".join(f"Q{q} ({sp[int(q)]:.2f}×)" for q in worst)
                + "; where their time goes is in the table at the end of its section."
            )
        if misses:
            lines += ["Where a goal is missed, why (from the measurements below):", "", *misses, ""]
    for result in results["datasets"]:
        lines += _dataset_section(result, rates, out_dir, stem)
    return "\n".join(lines) + "\n"


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


def _goal_dataset(results: dict[str, Any]) -> dict[str, Any] | None:
    at_ten = [d for d in results["datasets"] if d["sf"] >= 10]
    return at_ten[0] if at_ten else None


def _dataset_section(
    result: dict[str, Any], rates: list[str], out_dir: Path, stem: str
) -> list[str]:
    sf = f"{result['sf']:g}"
    first = rates[0]
    keys = ["single-2c", "single-1c", f"1w-{first}", *(f"2w-{r}" for r in rates)]
    keys += [k for k in (f"1w-{first}-s3", f"2w-{first}-s3") if k in result["runs"]]
    labels = {k: result["runs"][k]["config"]["label"] for k in keys}
    one_total = _total(result, f"1w-{first}")
    lines = [
        f"## TPC-H SF {sf}",
        "",
        f"{result['parts']} parquet files per table. Each result matched single-node's.",
        "",
    ]
    if result["sf"] > 1:
        lines += [
            "The query texts carry the specification's validation parameters, which are those of",
            "SF 1. Q11 keeps the groups above 0.0001 of the total, and at SF 10 none is (the",
            "specification scales the fraction to 0.00001 there), so its result is empty.",
            "",
        ]
    if result.get("store"):
        s3_one, s3_two = _total(result, f"1w-{first}-s3"), _total(result, f"2w-{first}-s3")
        lines += [
            "The configurations marked S3 read the same files from the lab's S3 server (moto, a",
            "Python server, in a namespace of its own) instead of the local disk, so the scans cross",
            "the links too. The server is not pinned and shares the two cores with the workers,",
            f"which costs both S3 configurations: two workers over one {s3_one / s3_two:.2f}×.",
            "",
        ]
    lines += [
        "| configuration | 22 queries, s | against 1 worker |",
        "|---|---|---|",
    ]
    for k in keys:
        total = _total(result, k)
        lines.append(f"| {labels[k]} | {total:.2f} | {one_total / total:.2f}× |")
    sp = speedups(result, first)
    suite = one_total / _total(result, f"2w-{first}")
    lines += [
        "",
        f"Two workers over one, at {first}: speedup {suite:.2f}×, parallel efficiency "
        f"{suite / 2:.0%} for the suite; per query from {min(sp.values()):.2f}× to {max(sp.values()):.2f}×.",
        "",
    ]
    name = f"{stem}-sf{sf.replace('.', '_')}"
    (out_dir / f"{name}-suite.svg").write_text(
        bar_chart(
            [labels[k].replace("single-node", "single") for k in keys],
            [("seconds", [_total(result, k) for k in keys])],
            title=f"TPC-H SF {sf}: the 22 queries' total time",
            y_label="seconds",
            height=280,
        )
    )
    queries = _queries(result)
    (out_dir / f"{name}-speedup.svg").write_text(
        bar_chart(
            [f"q{n}" for n in queries],
            [(f"2 workers / 1 worker, {first}", [sp[n] for n in queries])],
            title=f"TPC-H SF {sf}: speedup of two pinned workers over one",
            y_label="speedup",
            lines=[
                (1.0, "1×"),
                (GOAL_SCAN, f"{GOAL_SCAN}× (goal for Q1, Q6)"),
                (2.0, "2× (linear)"),
            ],
        )
    )
    base = {n: _q(result, f"2w-{first}", n)["seconds"] for n in queries}
    (out_dir / f"{name}-links.svg").write_text(
        bar_chart(
            [f"q{n}" for n in queries],
            [(r, [_q(result, f"2w-{r}", n)["seconds"] / base[n] for n in queries]) for r in rates],
            title=f"TPC-H SF {sf}: two workers' time at each link rate, over {first}'s",
            y_label=f"time / time at {first}",
            lines=[(1.0, "")],
        )
    )
    lines += [
        f"![suite totals]({name}-suite.svg)",
        "",
        f"![speedup per query]({name}-speedup.svg)",
        "",
        f"![time at each link rate]({name}-links.svg)",
        "",
        "Seconds per query (the fastest run), megabytes that crossed the links in one run, and",
        "two workers' speedup over one:",
        "",
        "| query | rows | "
        + " | ".join(labels[k] for k in keys)
        + " | MB, 1 worker | MB, 2 workers | speedup | efficiency |",
        "|---" * (len(keys) + 6) + "|",
    ]
    for n in queries:
        row = [f"Q{n}", str(_q(result, "single-2c", n)["rows"])]
        row += [f"{_q(result, k, n)['seconds']:.3f}" for k in keys]
        row += [
            _mb(_q(result, f"1w-{first}", n)["bytes"]),
            _mb(_q(result, f"2w-{first}", n)["bytes"]),
        ]
        row += [f"{sp[n]:.2f}×", f"{sp[n] / 2:.0%}"]
        lines.append("| " + " | ".join(row) + " |")
    explained: dict[str, Any] = result["runs"][f"explain-{first}"]["explain"]
    lines += [
        "",
        f"### Where the time goes (SF {sf}, 2 workers, {first})",
        "",
        "The three queries that scale worst, and Q1 and Q6. The columns come from EXPLAIN ANALYZE",
        "of a separate run, beside the timed run's wall time:",
        "",
        "- **planning**: the coordinator's SQL-to-distributed-plan time.",
        "- **plan shipping**: until the last stage plan reached its worker (`plan_send_latency_max`),",
        "  and the plan bytes sent.",
        "- **exchange**: the bytes the network boundaries moved (`bytes_transferred`), and the wire",
        "  time: the bytes that crossed the links (the bridge's count) over one link's rate. The",
        "  links are full duplex and carry traffic at the same time, so this is an upper bound of",
        "  the time spent on the wire.",
        "- **execution**: the rest of the wall time (wall time less planning, plan shipping and",
        "  wire time). Where the wire time bound is loose, this understates execution.",
        "- **stages**: tasks per stage; a stage of one task leaves one worker idle.",
        "",
        "| query | wall s | planning ms | plan shipping ms (KB) | exchange MB | wire s | execution s | stages (tasks) | why below 2× |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for q, e in explained.items():
        n = int(q)
        two = _q(result, f"2w-{first}", n)
        wire = (two["bytes"] or 0) * 8 / bits_per_second(first)
        rest = two["seconds"] - e["planning_seconds"] - e["plan_send_seconds"] - wire
        ordered = sorted(e["stages"].items(), key=lambda st: int(st[0]))
        stages = ", ".join(f"{s}: {t}" for s, t in ordered)
        lines.append(
            f"| Q{n} | {two['seconds']:.3f} | {e['planning_seconds'] * 1e3:.1f} | "
            f"{e['plan_send_seconds'] * 1e3:.1f} ({e['plan_bytes'] / 1024:.0f}) | "
            f"{e['exchange_bytes'] / 1e6:.1f} | {wire:.3f} | {max(rest, 0.0):.3f} | {stages} | "
            f"{_why(result, n, first, e)} |"
        )
    lines.append("")
    return lines
