#!/usr/bin/env python3
"""Summarise benches/compare.sh results: medians per scenario and server,
ratios of reactord to the others, as a markdown table; optionally an SVG bar
chart of requests/s per scenario per server (no plotting library needed).

    python3 benches/summarize.py target/compare/results.tsv
    python3 benches/summarize.py target/compare/results.tsv --svg docs/benchmarks.svg
"""

import csv
import statistics
import sys
from collections import defaultdict

SCENARIO_NAMES = {
    "ka1": "keep-alive, 1 conn",
    "ka64": "keep-alive, 64 conns",
    "ka1000": "keep-alive, 1000 conns",
    "pipe16": "pipelined x16, 64 conns",
    "close64": "conn per request, 64 conns",
    "close64d": "conn per request, deferred accept",
    "greeting": "greeting, conn per request, 64 conns",
}
COLOURS = {
    "reactord": "#2b6cb0",
    "reactord-base": "#90cdf4",
    "nginx": "#38a169",
    "tokio": "#dd6b20",
    "floor": "#718096",
    "go": "#00add8",
}
# Table and chart order; only the servers present in the results are shown.
SERVER_ORDER = ["reactord", "reactord-base", "nginx", "tokio", "go", "floor"]


def present(rows):
    seen = {server for by_server in rows.values() for server in by_server}
    return [s for s in SERVER_ORDER if s in seen]


def load(path):
    rows = defaultdict(lambda: defaultdict(list))
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            cell = rows[row["scenario"]][row["server"]]
            cell.append(row)
    return rows


def median(cell, field):
    values = [float(r[field]) for r in cell if r[field] not in ("", None)]
    return statistics.median(values) if values else float("nan")


def paired_ratio(by_server, a, b, field):
    """The median over rounds of a's value divided by b's in the same round.

    Runs alternate between servers, so the two runs of one round saw the
    same machine; on a shared machine whose speed drifts from round to
    round, this is steadier than the ratio of the two medians."""
    va = {r["round"]: float(r[field]) for r in by_server.get(a, []) if r[field]}
    vb = {r["round"]: float(r[field]) for r in by_server.get(b, []) if r[field]}
    ratios = [va[k] / vb[k] for k in va if vb.get(k)]
    return f"{statistics.median(ratios):.2f}" if ratios else "-"


def table(rows):
    """Medians per scenario and server, then the ratios of reactord to the
    others (median of per-round ratios, see `paired_ratio`)."""
    servers = present(rows)
    # The default columns, then those for the optional servers
    # (compare.sh's REACTORD_BASE and floor) when the results have them.
    pairs = [
        ("reactord", "nginx", "rps"),
        ("reactord", "tokio", "rps"),
        ("reactord", "nginx", "cpu_us_per_req"),
        ("reactord", "tokio", "cpu_us_per_req"),
        ("reactord", "nginx", "p50_us"),
    ]
    if "tokio" not in servers:
        pairs = [p for p in pairs if p[1] != "tokio"]
    if "reactord-base" in servers:
        pairs += [
            ("reactord", "reactord-base", "rps"),
            ("reactord", "reactord-base", "cpu_us_per_req"),
            ("reactord", "reactord-base", "p50_us"),
            ("reactord-base", "nginx", "rps"),
            ("reactord-base", "nginx", "cpu_us_per_req"),
        ]
    if "go" in servers:
        pairs += [("reactord", "go", "rps"), ("reactord", "go", "cpu_us_per_req")]
    if "floor" in servers:
        pairs += [("reactord", "floor", "rps"), ("reactord", "floor", "cpu_us_per_req")]
    label = {"rps": "req/s", "cpu_us_per_req": "CPU/req", "p50_us": "p50"}
    lines = [
        "| scenario | server | req/s (median) | server CPU µs/req | p50 µs | errors |",
        "|---|---|---:|---:|---:|---:|",
    ]
    ratios = [
        "| scenario | " + " | ".join(f"{label[f]} {a}/{b}" for a, b, f in pairs) + " |",
        "|---|" + "---:|" * len(pairs),
    ]
    for scenario, by_server in rows.items():
        med = {}
        for server in servers:
            cell = by_server.get(server)
            if not cell:
                continue
            med[server] = {f: median(cell, f) for f in ("rps", "cpu_us_per_req", "p50_us")}
            errors = sum(int(float(r["errors"] or 0)) for r in cell)
            lines.append(
                f"| {SCENARIO_NAMES.get(scenario, scenario)} | {server} | {med[server]['rps']:,.0f} "
                f"| {med[server]['cpu_us_per_req']:.2f} | {med[server]['p50_us']:.0f} | {errors} |"
            )
        if "reactord" in med:
            cells = [paired_ratio(by_server, a, b, field) for a, b, field in pairs]
            ratios.append(f"| {SCENARIO_NAMES.get(scenario, scenario)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(ratios)


def svg(rows, path):
    servers = present(rows)
    scenarios = list(rows.keys())
    width, height, left, bottom, top = 900, 420, 80, 80, 40
    plot_w, plot_h = width - left - 20, height - bottom - top
    peak = max(
        (median(c, "rps") for by in rows.values() for c in by.values()), default=1
    ) or 1
    group_w = plot_w / max(len(scenarios), 1)
    bar_w = group_w / (len(servers) + 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">'
        "requests/s per scenario (median), higher is better</text>",
    ]
    for i in range(6):
        value = peak * i / 5
        y = top + plot_h - plot_h * i / 5
        out.append(f'<line x1="{left}" x2="{width - 20}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value / 1000:,.0f}k</text>')
    for gi, scenario in enumerate(scenarios):
        x0 = left + gi * group_w + bar_w / 2
        for si, server in enumerate(servers):
            cell = rows[scenario].get(server)
            if not cell:
                continue
            value = median(cell, "rps")
            h = plot_h * value / peak
            x = x0 + si * bar_w
            out.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[server]}"><title>{server}: {value:,.0f}</title></rect>'
            )
        # Two lines ("keep-alive," / "64 conns") so neighbours don't overlap.
        cx = left + gi * group_w + group_w / 2
        for li, line in enumerate(SCENARIO_NAMES.get(scenario, scenario).split(", ")):
            out.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 18 + 15 * li}" '
                f'text-anchor="middle">{line}</text>'
            )
    for si, server in enumerate(servers):
        x = left + si * 110
        y = height - 22
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLOURS[server]}"/>')
        out.append(f'<text x="{x + 18}" y="{y}">{server}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = load(sys.argv[1])
    print(table(rows))
    if "--svg" in sys.argv:
        svg(rows, sys.argv[sys.argv.index("--svg") + 1])


if __name__ == "__main__":
    main()
