"""Tables of benches/distributed/run's JSON reports: final training loss
of each rank count against the sequential process (paired by seed), and
the exchanges' traffic and time per epoch."""
import json, pathlib, statistics, sys, collections

runs = pathlib.Path(sys.argv[1])
table = collections.defaultdict(dict)
for p in sorted(runs.glob("*.json")):
    name, side, seed = p.stem.rsplit("-", 2)
    table[(name, side)][int(seed)] = json.loads(p.read_text())

print("Machine: the 2-vCPU AMD EPYC development VM; Open MPI 4.1.4, shared-memory transport;")
print("ranks oversubscribe the 2 cores (1 thread each). Command: `bash benches/distributed/run`.")
print("Loss: the final training objective over all rows (the job's, for MPI runs), mean of seeds 1-5;")
print("gap: mean over seeds of (K ranks - sequential) / sequential, paired by seed.\n")
print("| data | ranks | final loss | sequential | gap | exchanges/epoch | sparse | MB sent/epoch (all ranks) | s exchanging/epoch (slowest rank) | samples/s (all ranks) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name in sorted({n for n, _ in table}):
    seq = table[(name, "seq")]
    for side in ["np2", "np4"]:
        par = table.get((name, side))
        if not par:
            continue
        seeds = sorted(set(seq) & set(par))
        loss = lambda r: r["epochs"][-1]["train_loss"]
        gaps = [(loss(par[s]) - loss(seq[s])) / loss(seq[s]) for s in seeds]
        d = [par[s]["distributed"] for s in seeds]
        epochs = len(par[seeds[0]]["epochs"])
        m = lambda xs: statistics.mean(xs)
        print(f"| {name} | {side[2:]} | {m([loss(par[s]) for s in seeds]):.5f} | {m([loss(seq[s]) for s in seeds]):.5f} "
              f"| {100 * m(gaps):+.2f}% (min {100 * min(gaps):+.2f}%, max {100 * max(gaps):+.2f}%) "
              f"| {m([x['exchanges'] for x in d]) / epochs:.0f} (every {d[0]['exchange_every']}) "
              f"| {m([x['sparse_exchanges'] / max(x['exchanges'], 1) for x in d]) * 100:.0f}% "
              f"| {m([x['bytes_sent_total'] for x in d]) / epochs / 1e6:.2f} "
              f"| {m([x['comm_seconds_max'] for x in d]) / epochs:.4f} "
              f"| {m([x['samples_per_sec_total'] for x in d]):.0f} |")
    sl = [loss(r) for r in seq.values()]
    spread = 100 * (max(sl) - min(sl)) / m(sl)
    print(f"| {name} | 1 (sequential) | | {m(sl):.5f} | seeds differ by {spread:.2f}% (max - min) | | | | | {m([r['samples_per_sec'] for r in seq.values()]):.0f} |")
