"""Writes the benchmark report (Markdown) and its charts (SVG, matplotlib)
from one run's results: criterion's estimates and the sizes file under
``target/criterion``, and the JSON of ``python_path.py``.

    python benches/report.py --criterion target/criterion --python FILE.json \
        --out docs-book/src/performance

``make bench`` runs everything and this last.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt

TARGETS = (
    "pickled size ≤ 0.7× the `datafusion` package's for payloads with a Python UDF, ≤ 1.0× otherwise",
    "`pickle.loads` without a worker slot ≤ 0.2×",
    "`pickle.loads` with a worker slot, decoded-UDF cache missed, ≤ 0.7×",
    "`pickle.dumps` ≤ 0.9×",
    "built-in expressions at most 2× the floor's size (plain datafusion-proto)",
    "every case: `pickle.dumps` and cache-missing `pickle.loads` (worker slot) ≤ 1.0×",
    "balanced trees: `pickle.loads` with a worker slot ≤ 0.8×",
    "Python UDFs: `pickle.dumps` ≤ 0.9×",
    "Rust decode ≤ 1.3× plain datafusion-proto on the TPC-H expressions and the TPC-H plans",
)


# -- reading ------------------------------------------------------------------------


def criterion_results(root: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, function, value) -> {median ns, ci}, from criterion's JSON."""
    out = {}
    for bench in root.rglob("new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        median = estimates["median"]
        key = (meta["group_id"], meta.get("function_id") or "", meta.get("value_str") or "")
        out[key] = {
            "ns": median["point_estimate"],
            "ci": [
                median["confidence_interval"]["lower_bound"],
                median["confidence_interval"]["upper_bound"],
            ],
        }
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}"


def rustc() -> str:
    try:
        return subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "rustc (unknown)"


# -- formatting ---------------------------------------------------------------------


def us(x: float) -> str:
    return f"{x:.1f}" if x < 1000 else f"{x:,.0f}"


def timed(fig: dict[str, Any]) -> str:
    mark = " ~" if fig["noisy"] else ""
    return f"{us(fig['median'])}{mark}"


def ratio(fig: dict[str, Any], limit: float | None = None) -> str:
    lo, hi = fig["ci"]
    text = f"{fig['median']:.2f} [{lo:.2f}–{hi:.2f}]"
    if fig["noisy"]:
        text += " ~"
    if limit is not None:
        text += " ✓" if fig["median"] <= limit else f" ✗ (≤ {limit})"
    return text


def ns(v: dict[str, Any] | None) -> str:
    if v is None:
        return "–"
    x = v["ns"] / 1000
    noisy = (v["ci"][1] - v["ci"][0]) > 0.1 * v["ns"]
    return f"{us(x)}{' ~' if noisy else ''}"


# -- checking the targets ----------------------------------------------------------


def check_targets(
    py: dict[str, Any],
    sizes: dict[str, Any],
    crit: dict[tuple[str, str, str], dict[str, Any]] | None = None,
) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for each target."""
    rows: list[dict[str, Any]] = py["reference"] + py["trees"] + py["closures"]

    def label(row: dict[str, Any]) -> str:
        if "expr" in row:
            return str(row["expr"])
        if "nodes" in row:
            return f"tree of {row['nodes']} nodes"
        return f"closure of {row['bytes']:,} B"

    def worst(
        key: str, pick: Any, limit: Any, among: list[dict[str, Any]] | None = None
    ) -> tuple[str, bool]:
        chosen = rows if among is None else among
        misses = [
            f"{label(r)} {pick(r):.2f}"
            for r in chosen
            if pick(r) is not None and pick(r) > limit(r)
        ]
        values = [pick(r) for r in chosen if pick(r) is not None]
        span = f"{min(values):.2f}–{max(values):.2f}×"
        return (span if not misses else f"{span}; over: " + ", ".join(misses)), not misses

    out = []
    size_udf = worst(
        "size",
        lambda r: r["size"]["ratio"],
        lambda r: 0.7 if r.get("udf") or "bytes" in r else 1.0,
    )
    out.append((TARGETS[0], *size_udf))
    out.append(
        (TARGETS[1], *worst("l", lambda r: r["loads_no_slot"]["ratio"]["median"], lambda r: 0.2))
    )
    out.append(
        (
            TARGETS[2],
            *worst(
                "m",
                lambda r: (r.get("loads_slot_miss") or r["loads_slot"])["ratio"]["median"],
                lambda r: 0.7,
            ),
        )
    )
    out.append((TARGETS[3], *worst("d", lambda r: r["dumps"]["ratio"]["median"], lambda r: 0.9)))
    floor_ratios = [
        (i["name"], i["dfship"] / i["floor"]) for i in sizes["reference"] if i["floor"] is not None
    ]
    floor_ratios += [
        (f"TPC-H q{q['query']:02d}", q["dfship"] / q["floor"])
        for q in sizes["tpch_expressions"]
        if q["floor"]
    ]
    floor_ratios += [
        (f"tree {t['target_nodes']}", t["dfship"] / t["floor"]) for t in sizes["trees"]
    ]
    floor_ratios += [
        ("generated", g["dfship"] / g["floor"])
        for g in sizes["generated"]
        if g["floor"] is not None
    ]
    over = [f"{n} {r:.2f}" for n, r in floor_ratios if r > 2.0]
    values = [r for _, r in floor_ratios]
    text = f"{min(values):.2f}–{max(values):.2f}×" + (f"; over: {', '.join(over)}" if over else "")
    out.append((TARGETS[4], text, not over))

    def both(r: dict[str, Any]) -> float:
        miss = (r.get("loads_slot_miss") or r["loads_slot"])["ratio"]["median"]
        return float(max(r["dumps"]["ratio"]["median"], miss))

    out.append((TARGETS[5], *worst("b", both, lambda r: 1.0)))
    out.append(
        (
            TARGETS[6],
            *worst("t", lambda r: r["loads_slot"]["ratio"]["median"], lambda r: 0.8, py["trees"]),
        )
    )
    udfs = [r for r in py["reference"] if r.get("udf")]
    out.append(
        (TARGETS[7], *worst("u", lambda r: r["dumps"]["ratio"]["median"], lambda r: 0.9, udfs))
    )
    crit = crit or {}
    decode = []
    for group, name in (("tpch-expressions", "TPC-H expressions"), ("tpch-plans", "TPC-H plans")):
        ours, floor = crit.get((group, "decode/dfship", "")), crit.get((group, "decode/floor", ""))
        if ours and floor:
            decode.append((name, ours["ns"] / floor["ns"]))
    text = "; ".join(f"{n} {r:.2f}×" for n, r in decode) or "not measured"
    out.append((TARGETS[8], text, bool(decode) and all(r <= 1.3 for _, r in decode)))
    return out


# -- charts -------------------------------------------------------------------------


def chart_reference(py: dict[str, Any], out: Path) -> None:
    rows = py["reference"]
    names = [r["expr"] for r in rows]
    keys = [
        ("size", "size"),
        ("dumps", "dumps"),
        ("loads_no_slot", "loads, no slot"),
        ("loads_slot", "loads, worker slot"),
        ("loads_slot_miss", "loads, slot, cache miss"),
    ]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    width = 0.16
    for k, (key, title) in enumerate(keys):
        values = []
        for r in rows:
            if key == "size":
                values.append(r["size"]["ratio"])
            elif key in r:
                values.append(r[key]["ratio"]["median"])
            else:
                values.append(float("nan"))
        ax.bar([i + (k - 2) * width for i in range(len(rows))], values, width, label=title)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)), names, fontsize=8)
    ax.set_ylabel("dfship ÷ datafusion 55.0.0 (lower is better)")
    ax.set_yscale("log")
    ax.set_ylim(top=2.0)
    # Below the axes: above them it would hide the tallest bars.
    ax.legend(fontsize=7, ncols=5, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    ax.set_title("The five reference expressions: ratios over the datafusion package")
    fig.tight_layout()
    fig.savefig(out / "reference-ratios.svg")
    plt.close(fig)


Series = list[tuple[str, list[float], str]]  # (label, y values, line style)


def loglog_panels(
    path: Path, size: tuple[float, float], panels: list[tuple[list[float], Series, str, str, str]]
) -> None:
    """One figure of log-log panels, each (x values, series, x label, y label, title)."""
    fig, axes = plt.subplots(1, len(panels), figsize=size)
    for ax, (xs, series, xlabel, ylabel, title) in zip(axes, panels, strict=True):
        for label, ys, style in series:
            ax.plot(xs, ys, style, label=label)
        ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
        ax.legend(fontsize=7)
        ax.grid(True, which="major", linewidth=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def chart_scaling(py: dict[str, Any], out: Path) -> None:
    trees, closures = py["trees"], py["closures"]

    def med(rows: list[dict[str, Any]], *keys: str) -> list[float]:
        values = []
        for row in rows:
            for key in keys:
                row = row[key]
            values.append(row["median"])
        return values

    n = [t["nodes"] for t in trees]
    b = [c["bytes"] for c in closures]
    sizes: Series = [
        ("dfship", [t["size"]["ours"] for t in trees], "o-"),
        ("datafusion", [t["size"]["ref"] for t in trees], "s--"),
        ("polars", [t["polars"]["size"] for t in trees], "^:"),
    ]
    loads: Series = [
        ("dfship", med(trees, "loads_slot", "ours"), "o-"),
        ("datafusion", med(trees, "loads_slot", "ref"), "s--"),
        ("polars", med(trees, "polars", "loads"), "^:"),
    ]
    closure: Series = [
        ("dfship dumps", med(closures, "dumps", "ours"), "o-"),
        ("datafusion dumps", med(closures, "dumps", "ref"), "s--"),
        ("dfship loads (miss)", med(closures, "loads_slot_miss", "ours"), "o-"),
        ("datafusion loads", med(closures, "loads_slot_miss", "ref"), "s--"),
    ]
    loglog_panels(
        out / "scaling.svg",
        (11, 3.6),
        [
            (n, sizes, "nodes", "pickled bytes", "Size"),
            (n, loads, "nodes", "µs", "loads (worker slot)"),
            (b, closure, "captured bytes", "µs", "Closure size"),
        ],
    )


def chart_floor(
    crit: dict[tuple[str, str, str], dict[str, Any]], sizes: dict[str, Any], out: Path
) -> None:
    trees = sizes["trees"]
    n = [t["nodes"] for t in trees]
    size: Series = [
        ("dfship (framed)", [t["dfship"] for t in trees], "o-"),
        ("floor (datafusion-proto)", [t["floor"] for t in trees], "s--"),
    ]
    timing: Series = []
    values = [str(t["target_nodes"]) for t in trees]
    for fn, style in (
        ("encode/dfship", "o-"),
        ("encode/floor", "s--"),
        ("decode/dfship", "o-"),
        ("decode/floor", "s--"),
    ):
        found = [crit.get(("trees", fn, v)) for v in values]
        if all(f is not None for f in found):
            timing.append((fn, [f["ns"] / 1000 for f in found if f is not None], style))
    loglog_panels(
        out / "floor.svg",
        (9, 3.6),
        [
            (n, size, "nodes", "bytes", "Size"),
            (n, timing, "nodes", "µs", "Rust encode and decode"),
        ],
    )


# -- the report ---------------------------------------------------------------------


def render(
    py: dict[str, Any], crit: dict[tuple[str, str, str], dict[str, Any]], sizes: dict[str, Any]
) -> str:
    v = py["versions"]
    lines = [
        "<!-- Generated by `make bench` (benches/report.py): do not edit by hand. -->",
        "",
        "# Benchmark report",
        "",
        f"Run on {dt.date.today().isoformat()}: {machine()}; Python {v['python']}, {rustc()}.",
        f"dfship {v['dfship']} (wheel profile: fat LTO, one codegen unit) against the `datafusion` package {v['datafusion']} "
        f"and Polars {v['polars']}, installed side by side in the bench virtualenv.",
        "",
        "How to read it:",
        "",
        "- **Python figures** come from `benches/python_path.py`. It interleaves the libraries "
        f"round by round ({py['rounds']} rounds; fewer for closures of 1 MB and more). Each figure "
        "is a median in µs per call, and each ratio is the median of the per-round ratios, with its "
        "95% bootstrap interval in brackets.",
        "- **Rust figures** come from criterion (`cargo bench -p dfship-benches`): medians in µs.",
        "- **`~`** marks a noisy figure, one whose interval is wider than 10% of it.",
        "- **A ratio** is dfship ÷ the other library, so lower is better.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for target, measured, met in check_targets(py, sizes, crit):
        lines.append(f"| {target} | {measured} | {'yes' if met else '**no**'} |")
    lines += [
        "",
        "![ratios over the datafusion package](reference-ratios.svg)",
        "",
        "## The Python path: the five reference expressions",
        "",
        "| expression | bytes (ratio) | dumps µs | loads µs, no slot | loads µs, worker slot | loads µs, slot, cache miss |",
        "|---|---|---|---|---|---|",
    ]
    for r in py["reference"]:
        miss = r.get("loads_slot_miss")
        lines.append(
            f"| {r['expr']} | {r['size']['ours']} vs {r['size']['ref']} ({r['size']['ratio']:.2f}) "
            f"| {timed(r['dumps']['ours'])} vs {timed(r['dumps']['ref'])}: {ratio(r['dumps']['ratio'], 0.9)} "
            f"| {timed(r['loads_no_slot']['ours'])} vs {timed(r['loads_no_slot']['ref'])}: "
            f"{ratio(r['loads_no_slot']['ratio'], 0.2)} "
            f"| {timed(r['loads_slot']['ours'])} vs {timed(r['loads_slot']['ref'])}: {ratio(r['loads_slot']['ratio'])} "
            + (
                f"| {timed(miss['ours'])} vs {timed(miss['ref'])}: {ratio(miss['ratio'], 0.7)} |"
                if miss
                else "| (no UDF) |"
            )
        )
    lines += [
        "",
        "Each cell reads dfship vs `datafusion`, then the ratio. A worker slot lets both packages "
        "decode against a prepared session. A cache hit reuses a UDF that dfship has already "
        "unpickled for identical bytes, while a miss unpickles it again. The `datafusion` package "
        "has no such cache, so every one of its loads is a miss.",
        "",
        "Where the time of a UDF payload goes: cloudpickle alone on the UDF's Python body (the "
        "function, or the Accumulator or WindowEvaluator class), the floor both packages stand on, "
        "beside each package's whole `dumps` and cache-missing `loads`:",
        "",
        "| UDF | cloudpickle bytes | cloudpickle dumps µs | dumps µs: dfship / datafusion "
        "| cloudpickle loads µs | loads µs, miss: dfship / datafusion |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['expr']} | {r['cloudpickle']['size']} | {timed(r['cloudpickle']['dumps'])} "
            f"| {timed(r['dumps']['ours'])} / {timed(r['dumps']['ref'])} "
            f"| {timed(r['cloudpickle']['loads'])} "
            f"| {timed(r['loads_slot_miss']['ours'])} / {timed(r['loads_slot_miss']['ref'])} |"
            for r in py["reference"]
            if "cloudpickle" in r
        ],
        "",
        "Polars, the same expressions (its UDF is a `map_batches` closure):",
        "",
        "| expression | pickle bytes | dumps µs | loads µs | `meta.serialize` bytes | serialize µs | deserialize µs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in py["reference"]:
        p = r.get("polars")
        if not p:
            continue
        if isinstance(p.get("serialize"), str):
            tail = f"{p['serialize']} | – | – |"
        else:
            tail = f"{p['serialize_size']} | {timed(p['serialize'])} | {timed(p['deserialize'])} |"
        lines.append(
            f"| {r['expr']} | {p['size']} | {timed(p['dumps'])} | {timed(p['loads'])} | {tail}"
        )
    lines += [
        "",
        "## Scaling",
        "",
        "![size and time against expression size and closure size](scaling.svg)",
        "",
        "Balanced trees of additions:",
        "",
        "| nodes | bytes: dfship / datafusion / polars | dumps µs (ratio) | loads µs, worker slot (ratio) |",
        "|---|---|---|---|",
    ]
    for t in py["trees"]:
        lines.append(
            f"| {t['nodes']:,} | {t['size']['ours']:,} / {t['size']['ref']:,} / {t['polars']['size']:,} "
            f"| {timed(t['dumps']['ours'])} vs {timed(t['dumps']['ref'])} ({ratio(t['dumps']['ratio'])}) "
            f"| {timed(t['loads_slot']['ours'])} vs {timed(t['loads_slot']['ref'])} ({ratio(t['loads_slot']['ratio'])}) |"
        )
    lines += [
        "",
        "A scalar UDF whose closure captures a byte string:",
        "",
        "| captured | bytes: dfship / datafusion | dumps µs (ratio) | loads µs, cache miss (ratio) | loads µs, cache hit |",
        "|---|---|---|---|---|",
    ]
    for c in py["closures"]:
        lines.append(
            f"| {c['bytes']:,} B | {c['size']['ours']:,} / {c['size']['ref']:,} "
            f"| {timed(c['dumps']['ours'])} vs {timed(c['dumps']['ref'])} ({ratio(c['dumps']['ratio'])}) "
            f"| {timed(c['loads_slot_miss']['ours'])} vs {timed(c['loads_slot_miss']['ref'])} "
            f"({ratio(c['loads_slot_miss']['ratio'])}) | {timed(c['loads_slot']['ours'])} |"
        )
    lines += [
        "",
        "## The Rust codecs against the floor",
        "",
        "The floor is plain datafusion-proto: no frame, no checksum, no Python, built-in functions "
        "only. dfship's path adds the frame (magic, version, flags, lengths, CRC-32) and the "
        "bounded decode.",
        "",
        "![the Rust codec against plain datafusion-proto](floor.svg)",
        "",
        "| corpus | bytes: dfship / floor | encode µs: dfship / floor | decode µs: dfship / floor |",
        "|---|---|---|---|",
    ]
    for item in sizes["reference"]:
        name = item["name"]
        floor_bytes = "–" if item["floor"] is None else f"{item['floor']:,}"
        decode_miss = crit.get(("reference", "decode-miss/dfship", name))
        lines.append(
            f"| {name} | {item['dfship']:,} / {floor_bytes} "
            f"| {ns(crit.get(('reference', 'encode/dfship', name)))} / {ns(crit.get(('reference', 'encode/floor', name)))} "
            f"| {ns(crit.get(('reference', 'decode/dfship', name)))}"
            + (f" (miss: {ns(decode_miss)})" if decode_miss else "")
            + f" / {ns(crit.get(('reference', 'decode/floor', name)))} |"
        )
    tpch = sizes["tpch_expressions"]
    count = sum(q["count"] for q in tpch)
    lines.append(
        f"| every expression of the 22 TPC-H plans ({count}) | {sum(q['dfship'] for q in tpch):,} / "
        f"{sum(q['floor'] for q in tpch):,} "
        f"| {ns(crit.get(('tpch-expressions', 'encode/dfship', '')))} / {ns(crit.get(('tpch-expressions', 'encode/floor', '')))} "
        f"| {ns(crit.get(('tpch-expressions', 'decode/dfship', '')))} / {ns(crit.get(('tpch-expressions', 'decode/floor', '')))} |"
    )
    plans = sizes["tpch_plans"]
    lines.append(
        f"| the 22 TPC-H physical plans | {sum(p['dfship'] for p in plans):,} / {sum(p['floor'] for p in plans):,} "
        f"| {ns(crit.get(('tpch-plans', 'encode/dfship', '')))} / {ns(crit.get(('tpch-plans', 'encode/floor', '')))} "
        f"| {ns(crit.get(('tpch-plans', 'decode/dfship', '')))} / {ns(crit.get(('tpch-plans', 'decode/floor', '')))} |"
    )
    generated = sizes["generated"]
    with_udf = sum(g["floor"] is None for g in generated)
    builtin_gen = [g for g in generated if g["floor"] is not None]
    lines.append(
        f"| {len(generated)} generated by the property harness ({with_udf} with Python UDFs) "
        f"| {sum(g['dfship'] for g in generated):,} (built-in only: {sum(g['dfship'] for g in builtin_gen):,} / "
        f"{sum(g['floor'] for g in builtin_gen):,}) "
        f"| {ns(crit.get(('generated', 'encode/dfship', '')))} / – "
        f"| {ns(crit.get(('generated', 'decode/dfship', '')))} / – |"
    )
    for t in sizes["trees"]:
        v_ = str(t["target_nodes"])
        lines.append(
            f"| balanced tree, {t['target_nodes']:,} nodes | {t['dfship']:,} / {t['floor']:,} "
            f"| {ns(crit.get(('trees', 'encode/dfship', v_)))} / {ns(crit.get(('trees', 'encode/floor', v_)))} "
            f"| {ns(crit.get(('trees', 'decode/dfship', v_)))} / {ns(crit.get(('trees', 'decode/floor', v_)))} |"
        )
    lines += [
        "",
        "Per TPC-H query, the bytes of all its plan's expressions and of its physical plan:",
        "",
        "| query | expressions | bytes: dfship / floor | plan bytes: dfship / floor |",
        "|---|---|---|---|",
    ]
    for q, p in zip(tpch, plans, strict=True):
        lines.append(
            f"| q{q['query']:02d} | {q['count']} | {q['dfship']:,} / {q['floor']:,} | {p['dfship']:,} / {p['floor']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion", required=True, type=Path)
    parser.add_argument("--python", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--notes", type=Path, help="Markdown appended to the report")
    args = parser.parse_args()
    py = json.loads(args.python.read_text())
    sizes = json.loads((args.criterion / "dfship-sizes.json").read_text())
    crit = criterion_results(args.criterion)
    args.out.mkdir(parents=True, exist_ok=True)
    text = render(py, crit, sizes)
    if args.notes is not None:
        text += "\n" + args.notes.read_text()
    (args.out / "report.md").write_text(text)
    chart_reference(py, args.out)
    chart_scaling(py, args.out)
    chart_floor(crit, sizes, args.out)
    missed = [t for t, _, met in check_targets(py, sizes, crit) if not met]
    print(f"wrote {args.out / 'report.md'} and 3 charts; targets missed: {len(missed)}")
    for t in missed:
        print(f"  missed: {t}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
