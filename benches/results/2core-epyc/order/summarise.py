#!/usr/bin/env python3
"""Tables of order_speed's raw.jsonl: per suite and config, each variant's samples/s (median
and range over rounds), the per-round ratios vs the new build's `full` and vs today's (77523de)
`full` of the same round (medians, with ranges), final training loss and its gap vs `full`.

    summarise.py raw.jsonl > tables.md
"""
import json
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
by = defaultdict(dict)  # (suite, config) -> {(build, variant): {round: row}}
order = []
for r in rows:
    key = (r["suite"], r["config"])
    if key not in by:
        order.append(key)
    by[key].setdefault((r["build"], r["variant"]), {})[r["round"]] = r


def rng(xs, spec):
    xs = sorted(xs)
    med = statistics.median(xs)
    return f"{med:{spec}} [{xs[0]:{spec}}–{xs[-1]:{spec}}]" if len(xs) > 1 else f"{med:{spec}}"


def ratios(a, b):
    return [a[k]["samples_per_sec"] / b[k]["samples_per_sec"] for k in a if k in b]


for suite, config in order:
    d = by[(suite, config)]
    full = d.get(("new", "full"))
    today = d.get(("today", "full"))
    any_row = next(iter(next(iter(d.values())).values()))
    print(f"\n### {suite}, {config} ({any_row['policy']}, {any_row['threads']} thread(s), "
          f"{any_row['samples']:,} samples per fit)\n")
    print("| build | variant | order (report) | samples/s (M) median [range] | × full | × today | "
          "final train loss | gap vs full | fit wall s |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for (build, variant), rs in d.items():
        sps = [r["samples_per_sec"] / 1e6 for r in rs.values()]
        xf = rng(ratios(rs, full), ".2f") if full else "—"
        xt = rng(ratios(rs, today), ".2f") if today else "—"
        losses = [r["final_loss"] for r in rs.values()]
        loss = statistics.median(losses)
        gap = "—"
        if full:
            fl = statistics.median(r["final_loss"] for r in full.values())
            gap = f"{(loss - fl) / fl * 100:+.2f}%"
        wall = statistics.median(r["fit_wall_s"] for r in rs.values())
        name = "today (77523de)" if build == "today" else "new"
        print(f"| {name} | {variant} | {next(iter(rs.values()))['order']} | {rng(sps, '.2f')} | {xf} | {xt} "
              f"| {loss:.5f} | {gap} | {wall:.2f} |")
    print(f"\nrounds: {len(next(iter(d.values())))}")
