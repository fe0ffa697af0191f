#!/usr/bin/env bash
# The adaptive update's cost on the per-sample path (issue 17): the plain
# sequential loop (and racy at 2 threads) with `--update sgd` and
# `--update adaptive`, same data, alternated in 3 rounds so drifts of the
# machine hit both alike. Writes one scaling.json per round and update.
#   cargo build --release --example scaling && benches/results/2core-epyc/adaptive/run.sh OUT
set -euo pipefail
out=${1:-benches/results/2core-epyc/adaptive}
bin=${CARGO_TARGET_DIR:-target}/release/examples/scaling
for round in 1 2 3; do
  for u in sgd adaptive; do
    "$bin" --problem zipf --samples 200000 --threads 1,2 --policies plain,racy --reps 1 --epochs 3 \
      --update "$u" --out "$out/round$round-$u" >/dev/null
  done
done
python3 - "$out" <<'PY' | tee "$out/tables.md"
import json, sys, statistics, pathlib
out = pathlib.Path(sys.argv[1])
rows = {}
for f in sorted(out.glob("round*-*/scaling.json")):
    u = f.parent.name.split("-", 1)[1]
    doc = json.loads(f.read_text())
    for r in doc["rows"] if isinstance(doc, dict) and "rows" in doc else doc:
        rows.setdefault((r["policy"], r["threads"], u), []).append(r["samples_per_sec"])
print("| policy | threads | sgd samples/s (median of 3) | adaptive | adaptive / sgd |")
print("|---|---:|---:|---:|---:|")
for (p, t) in sorted({(p, t) for (p, t, _) in rows}):
    s, a = statistics.median(rows[(p, t, "sgd")]), statistics.median(rows[(p, t, "adaptive")])
    print(f"| {p} | {t} | {s:,.0f} | {a:,.0f} | {a / s:.2f} |")
PY
