#!/usr/bin/env python3
"""The Python package against scikit-learn's SGDClassifier and against the wildsgd CLI.

Driven by `benches/python/run` (which builds the inputs and picks the virtual environment);
by hand: `python benches/python/bench.py --help`. Everything below happens in ONE Python
process per dataset (the two datasets one after the other), except the peak-memory children
and the CLI runs:

* inputs: the RCV1-shaped synthetic set of `benches/peers/run` (`examples/write_synthetic`,
  200k train / 50k test rows, seed 1: a seeded 80/20 split) and SpamAssassin
  (`data/spamassassin.svm.gz`, split 80/20 by the seeded line shuffle of `peers.py split`,
  seed 1, so the very rows the peers benchmark uses); both read with
  `sklearn.datasets.load_svmlight_files` into float32 CSR with int32 indices and indptr,
  labels mapped to 0/1;
* fit wall time of `wildsgd.SGDClassifier(n_jobs=1)`, `wildsgd.SGDClassifier(n_jobs=2)` and
  `sklearn.linear_model.SGDClassifier(loss="log_loss")` (defaults otherwise), each fit from
  scratch with `random_state=r` in round r, over R interleaved rounds with the order of the
  three rotated each round; medians of the fit times and of the per-round ratios;
* test log loss (`sklearn.metrics.log_loss` on `predict_proba`) and accuracy of every fit;
* peak memory: each tool fits once in a fresh child (`bench.py --child TOOL DATASET`) that
  reads the training split from an .npz (so loading leaves no parser peak behind) and reads
  `ru_maxrss` before and after `fit`;
* conversion: `wildsgd._base.rows_for_core` on the float32/int32 CSR (read in place) and on
  converted inputs, as a share of the median n_jobs=1 fit;
* Python call vs CLI: `wildsgd train` on the training split's LIBSVM file, 1 thread, the same
  seed the Python fit hands the core, interleaved with a Python fit at n_jobs=1.

Writes OUT/raw.jsonl (every measurement, unrounded) and OUT/results.md, and prints the tables.
Rounding in the tables never favours wildsgd: a figure where more is worse for wildsgd (its
times, losses, memory, overheads) is rounded up, one where more is better for it (its
accuracy, scikit-learn's times over its own) down, and scikit-learn's figures the other way.
"""

import argparse
import datetime
import gc
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MIB = 2.0**20
TOOLS = ["wildsgd-1", "wildsgd-2", "sklearn"]
LABEL = {
    "wildsgd-1": "wildsgd.SGDClassifier(n_jobs=1)",
    "wildsgd-2": "wildsgd.SGDClassifier(n_jobs=2)",
    "sklearn": 'sklearn SGDClassifier(loss="log_loss")',
}


# --------------------------------------------------------------------------- inputs


def split_spam(src, out_dir, seed=1, test_fraction=0.2):
    """The split of `benches/peers/peers.py split` (same seed: the same rows): comment and blank
    lines dropped, the lines shuffled by `random.Random(seed)`, the first fifth the test set."""
    import gzip

    out_dir = Path(out_dir)
    if (out_dir / "test.svm").exists() and (out_dir / "train.svm").exists():
        return
    opener = gzip.open if open(src, "rb").read(2) == b"\x1f\x8b" else open
    with opener(src, "rt") as f:
        lines = [ln for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    order = list(range(len(lines)))
    random.Random(seed).shuffle(order)
    n_test = int(len(lines) * test_fraction)
    test, train = sorted(order[:n_test]), sorted(order[n_test:])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.svm", train), ("test.svm", test)):
        tmp = out_dir / (name + ".tmp")
        with open(tmp, "w") as f:
            f.writelines(lines[i] for i in rows)
        tmp.replace(out_dir / name)


def as_csr32(X):
    """float32 data, int32 indices and indptr, canonical (sorted, no duplicates)."""
    import scipy.sparse as sp

    X = sp.csr_matrix(X, dtype=np.float32)
    X = sp.csr_matrix((X.data, X.indices.astype(np.int32), X.indptr.astype(np.int32)), shape=X.shape)
    if not X.has_canonical_format:
        X.sum_duplicates()
    return X


def load(train, test):
    from sklearn.datasets import load_svmlight_files

    Xtr, ytr, Xte, yte = load_svmlight_files([str(train), str(test)], dtype=np.float32)
    classes = np.unique(np.concatenate([ytr, yte]))
    if classes.shape[0] != 2:
        raise SystemExit(f"{train}: expected two classes, got {classes[:5]}")
    pos = classes[1]  # the larger label is the positive class (wildsgd's and the peers' rule)
    return as_csr32(Xtr), (ytr == pos).astype(np.int64), as_csr32(Xte), (yte == pos).astype(np.int64)


def csr_mib(X):
    return (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / MIB


def save_npz(path, X, y):
    np.savez(path, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.array(X.shape), y=y)


def load_npz(path):
    import scipy.sparse as sp

    z = np.load(path)
    X = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
    return X, z["y"]


# --------------------------------------------------------------------------- tools


def make(tool, seed):
    if tool.startswith("wildsgd"):
        import wildsgd

        return wildsgd.SGDClassifier(n_jobs=int(tool.split("-")[1]), random_state=seed)
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", random_state=seed)


def fit(est, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gc.collect()
        t0 = time.perf_counter()
        est.fit(X, y)
        return time.perf_counter() - t0


def score(est, X, y):
    from sklearn.metrics import accuracy_score, log_loss

    p = est.predict_proba(X)
    assert list(est.classes_) == [0, 1], est.classes_
    return float(log_loss(y, p, labels=[0, 1])), float(accuracy_score(y, est.predict(X)))


def rss_now_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def maxrss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def vmhwm_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return None


def reset_vmhwm():
    """Linux >= 4.0: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(tool, dataset, work):
    """One fit in this fresh process; prints one JSON line with its memory."""
    import scipy.sparse  # noqa: F401  (every child imports the same modules before the baseline)
    import sklearn.linear_model  # noqa: F401
    import wildsgd  # noqa: F401

    X, y = load_npz(Path(work) / f"{dataset}-train.npz")
    gc.collect()
    before_peak, before_now = maxrss_mib(), rss_now_mib()
    # A second, independent reading: VmHWM reset to the current RSS just before the fit.
    hwm_reset = reset_vmhwm()
    hwm_before = vmhwm_mib()
    t = fit(make(tool, 0), X, y)
    after_peak, after_now, hwm_after = maxrss_mib(), rss_now_mib(), vmhwm_mib()
    print(json.dumps({
        "type": "memory", "dataset": dataset, "tool": tool, "fit_seconds": t,
        "csr_mib": csr_mib(X), "maxrss_before_mib": before_peak, "rss_before_mib": before_now,
        "maxrss_after_mib": after_peak, "rss_after_mib": after_now,
        "growth_mib": after_peak - before_peak,
        "vmhwm_reset": hwm_reset, "vmhwm_before_mib": hwm_before, "vmhwm_after_mib": hwm_after,
        "vmhwm_growth_mib": (hwm_after - hwm_before) if hwm_reset and hwm_before is not None else None,
    }))


# A child forked from this (large) process would start with this process's peak RSS: Linux
# folds the RSS the forked copy held at exec into the new program's ru_maxrss. So every child
# whose memory is measured is started by this small launcher (a fresh interpreter importing
# nothing but os, sys, time and json), which forks and execs it, waits with wait4, and writes
# the child's wall time (fork to exit) and ru_maxrss to the file named by its first argument.
LAUNCHER = r"""
import json, os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"wall_seconds": time.perf_counter() - t0, "maxrss_kib": ru.ru_maxrss,
               "returncode": os.waitstatus_to_exitcode(status)}, f)
"""


def launch(cmd, work, capture=False):
    """Runs `cmd` through LAUNCHER: (its result dict, its stdout if `capture`)."""
    res = Path(work) / "launch.json"
    res.unlink(missing_ok=True)
    p = subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(res), *map(str, cmd)],
                       capture_output=capture, text=True)
    if p.returncode != 0 or not res.exists():
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{p.stderr if capture else ''}")
    r = json.loads(res.read_text())
    if r["returncode"] != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} exited {r['returncode']}:\n{p.stderr if capture else ''}")
    return r, (p.stdout if capture else None)


# --------------------------------------------------------------------------- the driver


def median(xs):
    return statistics.median(xs)


class Log:
    def __init__(self, path):
        self.f = open(path, "w")
        self.records = []

    def __call__(self, **rec):
        self.records.append(rec)
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()
        return rec


def run_cli(binary, train, seed, work):
    """`wildsgd train` in a child: (process wall seconds, ru_maxrss MiB, its JSON report, the command)."""
    rep, model = Path(work) / "cli.report.json", Path(work) / "cli.model"
    for p in (rep, model):
        p.unlink(missing_ok=True)
    cmd = [str(binary), "train", "--model", "logistic", "--data", str(train), "--threads", "1",
           "--seed", str(seed), "--quiet", "--report", str(rep), "--out", str(model)]
    r, _ = launch(cmd, work)
    return r["wall_seconds"], r["maxrss_kib"] / 1024.0, json.loads(rep.read_text()), cmd


def bench_dataset(a, log, name, train, test):
    import wildsgd
    import wildsgd._base as wbase

    print(f"== {name}: loading {train} and {test}", flush=True)
    t0 = time.perf_counter()
    Xtr, ytr, Xte, yte = load(train, test)
    load_s = time.perf_counter() - t0
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    save_npz(work / f"{name}-train.npz", Xtr, ytr)
    ds = log(type="dataset", dataset=name, train_file=str(train), test_file=str(test),
             train_rows=Xtr.shape[0], test_rows=Xte.shape[0], features=Xtr.shape[1],
             train_nnz=int(Xtr.nnz), nnz_per_row=Xtr.nnz / Xtr.shape[0], positive_fraction=float(ytr.mean()),
             csr_mib=csr_mib(Xtr), csr_float64_mib=(Xtr.nnz * 12 + (Xtr.shape[0] + 1) * 4) / MIB,
             load_seconds=load_s, dtype=str(Xtr.dtype), indices_dtype=str(Xtr.indices.dtype),
             indptr_dtype=str(Xtr.indptr.dtype))
    print(f"   {ds['train_rows']} train / {ds['test_rows']} test rows, {ds['features']} features, "
          f"{ds['nnz_per_row']:.1f} nnz/row, train CSR {ds['csr_mib']:.1f} MiB (loaded in {load_s:.1f} s)", flush=True)

    # Warm-up (untimed): each tool once on 2,000 seeded random rows, so no timed fit pays first-call costs.
    small = np.sort(np.random.default_rng(0).permutation(Xtr.shape[0])[:2000])
    for tool in TOOLS:
        fit(make(tool, 0), Xtr[small], ytr[small])

    # Timed, interleaved rounds.
    for r in range(a.rounds):
        order = TOOLS[r % 3:] + TOOLS[:r % 3]
        load_avg = os.getloadavg()[0]
        for pos, tool in enumerate(order):
            est = make(tool, r)
            t = fit(est, Xtr, ytr)
            ll, acc = score(est, Xte, yte)
            rec = log(type="fit", dataset=name, round=r, position=pos, tool=tool, random_state=r,
                      fit_seconds=t, log_loss=ll, accuracy=acc, n_iter=int(est.n_iter_),
                      update_seconds=getattr(est, "report_", {}).get("update_seconds"),
                      policy=getattr(est, "report_", {}).get("policy"), coef_dtype=str(est.coef_.dtype),
                      load_avg_1min=load_avg)
            print(f"   round {r + 1}/{a.rounds} {tool:9s} fit {t:7.3f} s  log loss {ll:.5f}  acc {acc:.4f}  "
                  f"epochs {rec['n_iter']}", flush=True)
            del est

    # Conversion at the boundary, as a share of the median n_jobs=1 fit.
    fits = [x for x in log.records if x["type"] == "fit" and x["dataset"] == name]
    w1 = median([x["fit_seconds"] for x in fits if x["tool"] == "wildsgd-1"])
    import scipy.sparse as sp

    def wide():
        # scipy's constructor would narrow the indices back to int32; set them afterwards, as
        # load_svmlight_file's result has them.
        X = sp.csr_matrix((Xtr.data, Xtr.indices, Xtr.indptr), shape=Xtr.shape)
        X.indices, X.indptr = Xtr.indices.astype(np.int64), Xtr.indptr.astype(np.int64)
        assert X.indices.dtype == np.int64
        return X

    variants = [
        ("float32 data, int32 indices (as loaded)", lambda: Xtr),
        ("float64 data, int32 indices (converted)", lambda: Xtr.astype(np.float64)),
        ("float32 data, int64 indices and indptr (what load_svmlight_file returns here; converted)", wide),
    ]
    for label, build in variants:
        X = build()
        times, in_place = [], None
        for _ in range(5):
            gc.collect()
            t0 = time.perf_counter()
            indptr, indices, data = wbase.rows_for_core(X)
            times.append(time.perf_counter() - t0)
            in_place = bool(np.shares_memory(data, X.data) and np.shares_memory(indices, X.indices))
            del indptr, indices, data
        t = median(times)
        log(type="conversion", dataset=name, input=label, seconds=t, seconds_all=times,
            percent_of_fit=100.0 * t / w1, wildsgd_1_median_fit_seconds=w1, in_place=in_place,
            input_mib=(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / MIB)
        print(f"   rows_for_core {label}: {t * 1e3:.3f} ms = {100 * t / w1:.3f} % of the n_jobs=1 fit "
              f"(in place: {in_place})", flush=True)
        del X

    # Python call vs the CLI, interleaved, the same seed for both (the one the Python fit hands the core).
    cli_train = Path(train)
    real_fit = wildsgd._core.fit_linear
    core = {}

    def timed_fit_linear(*args):
        t0 = time.perf_counter()
        out = real_fit(*args)
        core["seconds"] = time.perf_counter() - t0
        return out

    for r in range(a.cli_rounds):
        seed = wbase.resolve_seed(r)
        row = {}
        for which in (("python", "cli") if r % 2 == 0 else ("cli", "python")):
            if which == "python":
                est = make("wildsgd-1", r)
                wildsgd._core.fit_linear = timed_fit_linear
                try:
                    t = fit(est, Xtr, ytr)
                finally:
                    wildsgd._core.fit_linear = real_fit
                row.update(py_fit_seconds=t, py_core_call_seconds=core["seconds"],
                           py_update_seconds=est.report_["update_seconds"],
                           py_final_train_loss=est.report_["train_loss"][-1])
                py_coef = np.concatenate([est.coef_.ravel(), est.intercept_.ravel()])
                del est
            else:
                gc.collect()
                wall, rss, rep, cmd = run_cli(a.wildsgd, cli_train, seed, work)
                epochs = rep["epochs"]
                row.update(cli_wall_seconds=wall, cli_maxrss_mib=rss, cli_total_seconds=rep["total_seconds"],
                           cli_epoch_seconds=sum(e["seconds"] for e in epochs),
                           cli_eval_seconds=sum(e["eval_seconds"] for e in epochs),
                           cli_update_seconds=rep["update_seconds"],
                           cli_final_train_loss=epochs[-1]["train_loss"], cli_command=" ".join(cmd))
        # The same training? Compare the weights of the CLI's saved model with the Python fit's.
        cli_est = wildsgd.SGDClassifier.load(work / "cli.model")
        cli_coef = np.concatenate([cli_est.coef_.ravel(), cli_est.intercept_.ravel()])
        row["max_abs_weight_difference"] = (float(np.max(np.abs(cli_coef - py_coef)))
                                            if cli_coef.shape == py_coef.shape else None)
        del cli_est, cli_coef, py_coef
        row.update(ratio_py_fit_over_cli_wall=row["py_fit_seconds"] / row["cli_wall_seconds"],
                   ratio_py_fit_over_cli_epochs=row["py_fit_seconds"] / row["cli_epoch_seconds"],
                   ratio_py_fit_over_py_update=row["py_fit_seconds"] / row["py_update_seconds"],
                   ratio_py_update_over_cli_update=row["py_update_seconds"] / row["cli_update_seconds"])
        log(type="cli", dataset=name, round=r, seed=seed, cli_data=str(cli_train), **row)
        print(f"   cli round {r + 1}/{a.cli_rounds}: python fit {row['py_fit_seconds']:.3f} s "
              f"(core call {row['py_core_call_seconds']:.3f}, updates {row['py_update_seconds']:.3f}); "
              f"CLI wall {row['cli_wall_seconds']:.3f} s (epochs {row['cli_epoch_seconds']:.3f}, "
              f"updates {row['cli_update_seconds']:.3f})", flush=True)

    del Xtr, ytr, Xte, yte
    gc.collect()

    # Peak memory, one fresh child per tool.
    for tool in TOOLS:
        r, stdout = launch([sys.executable, __file__, "--child", tool, name, "--work", str(work)], work,
                           capture=True)
        rec = json.loads(stdout.strip().splitlines()[-1])
        rec["process_maxrss_mib"] = r["maxrss_kib"] / 1024.0
        log(**rec)
        print(f"   memory {tool:9s}: peak RSS {rec['maxrss_after_mib']:.1f} MiB, growth during fit "
              f"{rec['growth_mib']:.1f} MiB (RSS before fit {rec['rss_before_mib']:.1f} MiB)", flush=True)
    (work / f"{name}-train.npz").unlink(missing_ok=True)


# --------------------------------------------------------------------------- tables


def rnd(x, nd, up):
    """`x` to `nd` decimals, rounded up (`up`) or down: never in wildsgd's favour."""
    if x is None:
        return "–"
    q = Decimal(1).scaleb(-nd)
    return f"{Decimal(repr(float(x))).quantize(q, rounding=ROUND_CEILING if up else ROUND_FLOOR):,}"


def markdown(records, meta):
    out = []
    w = out.append
    dtypes = sorted({r["coef_dtype"] for r in records if r["type"] == "fit" and r["tool"] == "sklearn"})
    if dtypes == ["float32"]:
        sk_dtype = (f"scikit-learn {meta['sklearn']} trains float32 input in float32, without a float64 copy: "
                    "its `coef_` comes back float32")
    else:
        sk_dtype = (f"scikit-learn's `coef_` came back {', '.join(dtypes)}: it converts the input inside `fit`, "
                    "and its time includes that")
    w("# wildsgd's Python package: fit time, loss and memory against scikit-learn, overheads against the CLI")
    w("")
    w(f"Command: `{meta['command_line']}`  ")
    w(f"Date: {meta['date_utc']} (UTC)  ")
    w(f"Machine: {meta['machine']}  ")
    w(f"Software: Python {meta['python']}, numpy {meta['numpy']}, scipy {meta['scipy']}, scikit-learn "
      f"{meta['sklearn']}, wildsgd (Python) {meta['wildsgd_python']} (`{meta['core_module']}`), CLI "
      f"`{meta['wildsgd_cli']}` (`{meta['cli_binary']}`); git {meta['git']}  ")
    w(f"Rounds: {meta['rounds']} timed rounds per dataset (env BENCH_ROUNDS), {meta['cli_rounds']} CLI rounds; "
      f"load average (1 min) {meta['load_before']:.2f} before, {meta['load_after']:.2f} after; whole run "
      f"{meta['total_seconds']:.0f} s.")
    w("")
    w("How: one Python process per run; per dataset the training split is loaded once with "
      "`sklearn.datasets.load_svmlight_files` (float32 CSR, int32 indices and indptr, labels 0/1). Each round fits "
      "`wildsgd.SGDClassifier(n_jobs=1, random_state=r)`, `wildsgd.SGDClassifier(n_jobs=2, random_state=r)` and "
      "`sklearn.linear_model.SGDClassifier(loss=\"log_loss\", random_state=r)` from scratch (defaults otherwise) in "
      "an order rotated every round, after one untimed warm-up fit of each on 2,000 random rows. Fit time is the wall "
      f"time of `fit` alone (`time.perf_counter`); the input is float32 for every tool ({sk_dtype}). "
      "Log loss (`sklearn.metrics.log_loss` on `predict_proba`) and accuracy are on the test split. "
      "The ratio column is the median over rounds of (scikit-learn's fit time / this tool's fit time) in the "
      "same round: above 1 means faster than scikit-learn. Peak memory: each tool fits once in a fresh "
      "process (`bench.py --child TOOL DATASET`) that reads the training CSR from an .npz; `ru_maxrss` before "
      "and after `fit` gives the peak RSS and its growth during the fit (MiB = 2^20 bytes). The child, and the "
      "CLI, are started through a small launcher process, not forked from the benchmark's large one (Linux "
      "counts the RSS a forked copy held at `exec` in the new program's `ru_maxrss`); as a cross-check the "
      "child also resets its VmHWM to its RSS just before `fit` (`/proc/self/clear_refs`) and reads it after. "
      "Defaults differ: wildsgd runs 10 epochs of its adaptive update with L2 = 1/n_rows; scikit-learn "
      "runs `learning_rate=\"optimal\"`, `alpha=1e-4`, up to 1000 epochs with `tol=1e-3` early stopping (the "
      "epochs column is `n_iter_`). Rounding never favours wildsgd (its times, losses and memory rounded "
      "up, its accuracy and the ratios rounded down, scikit-learn's figures the other way); raw.jsonl holds "
      "every measurement unrounded.")
    w("")
    for note in meta.get("notes", []):
        w(f"Note: {note}")
        w("")
    for ds in [r for r in records if r["type"] == "dataset"]:
        name = ds["dataset"]
        fits = [r for r in records if r["type"] == "fit" and r["dataset"] == name]
        mem = {r["tool"]: r for r in records if r["type"] == "memory" and r["dataset"] == name}
        w(f"## {name}")
        w("")
        w(f"{ds['train_rows']:,} train / {ds['test_rows']:,} test rows, {ds['features']:,} features, "
          f"{ds['nnz_per_row']:.1f} nonzeros per row, {100 * ds['positive_fraction']:.1f} % positive; "
          f"training CSR {rnd(ds['csr_mib'], 1, True)} MiB as float32/int32 "
          f"({rnd(ds['csr_float64_mib'], 1, True)} MiB with float64 data). Files: `{ds['train_file']}`, "
          f"`{ds['test_file']}`.")
        w("")
        w("| tool | fit s (median) | fit s (min–max) | sklearn s / this s (median of per-round ratios) | "
          "test log loss (median) | test accuracy (median) | epochs | peak RSS MiB | RSS growth in fit MiB |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        by_round = {}
        for r in fits:
            by_round.setdefault(r["round"], {})[r["tool"]] = r
        for tool in TOOLS:
            mine = [r for r in fits if r["tool"] == tool]
            wild = tool != "sklearn"
            ts = [r["fit_seconds"] for r in mine]
            if wild:
                ratio = median([by_round[k]["sklearn"]["fit_seconds"] / by_round[k][tool]["fit_seconds"]
                                for k in by_round])
                ratio_s = rnd(ratio, 2, False)
            else:
                ratio_s = "1"
            its = sorted({r["n_iter"] for r in mine})
            m = mem.get(tool, {})
            w(f"| {LABEL[tool]} | {rnd(median(ts), 3, wild)} | {rnd(min(ts), 3, wild)}–{rnd(max(ts), 3, wild)} | "
              f"{ratio_s} | {rnd(median([r['log_loss'] for r in mine]), 4, wild)} | "
              f"{rnd(median([r['accuracy'] for r in mine]), 4, not wild)} | "
              f"{'–'.join(str(i) for i in (its if len(its) == 1 else (its[0], its[-1])))} | "
              f"{rnd(m.get('maxrss_after_mib'), 1, wild)} | {rnd(m.get('growth_mib'), 1, wild)} |")
        w1 = [r["fit_seconds"] for r in fits if r["tool"] == "wildsgd-1"]
        w2 = [r["fit_seconds"] for r in fits if r["tool"] == "wildsgd-2"]
        speed = median([by_round[k]["wildsgd-1"]["fit_seconds"] / by_round[k]["wildsgd-2"]["fit_seconds"]
                        for k in by_round])
        w("")
        w(f"n_jobs=2 over n_jobs=1 (median of per-round n_jobs=1 time / n_jobs=2 time): {rnd(speed, 2, False)}x. "
          f"Per-round fit times (s), wildsgd n_jobs=1: {', '.join(rnd(x, 3, True) for x in w1)}; n_jobs=2: "
          f"{', '.join(rnd(x, 3, True) for x in w2)}; sklearn: "
          f"{', '.join(rnd(r['fit_seconds'], 3, False) for r in fits if r['tool'] == 'sklearn')}. "
          f"Load average (1 min) at the start of the rounds: "
          f"{', '.join(f'{load:.2f}' for _, load in sorted({(r['round'], r['load_avg_1min']) for r in fits}))}. "
          f"Memory children: RSS just before `fit`, ru_maxrss just before `fit`, and the VmHWM-reset growth "
          f"during `fit`: "
          + "; ".join(f"{t} {rnd(mem[t]['rss_before_mib'], 1, t != 'sklearn')}, "
                      f"{rnd(mem[t]['maxrss_before_mib'], 1, t != 'sklearn')}, "
                      f"{rnd(mem[t].get('vmhwm_growth_mib'), 1, t != 'sklearn')} MiB" for t in TOOLS if t in mem)
          + ".")
        w("")
        conv = [r for r in records if r["type"] == "conversion" and r["dataset"] == name]
        if conv:
            w("Conversion at the boundary: `wildsgd._base.rows_for_core(X_train)` (median of 5 calls), as a share "
              "of the median n_jobs=1 fit time "
              f"({conv[0]['wildsgd_1_median_fit_seconds']:.4f} s). `indptr` is always widened to int64, a copy of 8 bytes per row.")
            w("")
            w("| input | seconds | % of the n_jobs=1 fit | data and indices read in place |")
            w("|---|---:|---:|---|")
            for r in conv:
                w(f"| {r['input']} | {rnd(r['seconds'], 6, True)} | {rnd(r['percent_of_fit'], 3, True)} | "
                  f"{'yes' if r['in_place'] else 'no (copied)'} |")
            w("")
        cli = [r for r in records if r["type"] == "cli" and r["dataset"] == name]
        if cli:
            def med(k):
                return median([r[k] for r in cli])

            w(f"Python call vs the CLI ({len(cli)} interleaved pairs, medians): `{cli[0]['cli_command']}` (the seed "
              "is the one the Python fit with the same `random_state` hands the core; it changes per pair) against "
              "`wildsgd.SGDClassifier(n_jobs=1).fit` on the same rows in memory. The CLI's wall time includes "
              "starting the process and parsing the LIBSVM file; its \"epochs\" time is the sum of its per-epoch "
              "times (updates plus the per-epoch training-loss pass on 10,000 rows); \"core call\" is the time "
              "inside `wildsgd._core.fit_linear` (the rest of `fit` is Python).")
            w("")
            w("| measure | seconds (median) |")
            w("|---|---:|")
            w(f"| Python `fit` wall | {rnd(med('py_fit_seconds'), 3, True)} |")
            w(f"| of which inside `_core.fit_linear` | {rnd(med('py_core_call_seconds'), 3, True)} |")
            w(f"| Python `report_[\"update_seconds\"]` | {rnd(med('py_update_seconds'), 3, False)} |")
            w(f"| CLI process wall (start, parse, train, save) | {rnd(med('cli_wall_seconds'), 3, False)} |")
            w(f"| CLI report `total_seconds` | {rnd(med('cli_total_seconds'), 3, False)} |")
            w(f"| CLI sum of per-epoch seconds | {rnd(med('cli_epoch_seconds'), 3, False)} |")
            w(f"| CLI `update_seconds` | {rnd(med('cli_update_seconds'), 3, False)} |")
            w(f"| Python: core call minus update_seconds (in the core, not updating) | "
              f"{rnd(median([r['py_core_call_seconds'] - r['py_update_seconds'] for r in cli]), 3, True)} |")
            w(f"| CLI: total_seconds minus per-epoch seconds (parsing the file, setting up) | "
              f"{rnd(median([r['cli_total_seconds'] - r['cli_epoch_seconds'] for r in cli]), 3, False)} |")
            w("")
            w("| ratio (median of per-pair ratios) | value |")
            w("|---|---:|")
            w(f"| Python fit wall / CLI process wall (the CLI also parses the file) | "
              f"{rnd(med('ratio_py_fit_over_cli_wall'), 2, True)} |")
            w(f"| Python fit wall / CLI per-epoch seconds (training alone) | "
              f"{rnd(med('ratio_py_fit_over_cli_epochs'), 2, True)} |")
            w(f"| Python update_seconds / CLI update_seconds (the same updates, same seed) | "
              f"{rnd(med('ratio_py_update_over_cli_update'), 2, True)} |")
            w(f"| Python fit wall / Python update_seconds (1 - 1/this = the non-update share of the call) | "
              f"{rnd(med('ratio_py_fit_over_py_update'), 2, True)} |")
            w("")
            diffs = [r["max_abs_weight_difference"] for r in cli]
            w("The same training? Largest |difference| between the weights (and bias) of the CLI's saved model "
              "(`SGDClassifier.load`) and the Python fit's, per pair: "
              + ", ".join("shapes differ" if d is None else f"{d:.3g}" for d in diffs)
              + (" (identical weights)." if all(d == 0 for d in diffs) else ".")
              + " (The final training losses the two report are measured on their own 10,000-row subsets, so they "
                "agree only where the data has fewer rows: "
              + "; ".join(f"{r['py_final_train_loss']:.6f} vs {r['cli_final_train_loss']:.6f}" for r in cli)
              + f".) CLI peak RSS (median): {rnd(med('cli_maxrss_mib'), 1, False)} MiB.")
            w("")
    return "\n".join(out) + "\n"


def cpu_model():
    """lscpu's model name, with its vendor and hypervisor where it names them."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return platform.processor() or "unknown"
    f = {k.strip(): v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines())}
    extra = [f"{k} {f[k]}" for k in ("Vendor ID", "Hypervisor vendor") if f.get(k)]
    return f.get("Model name", "unknown") + (f" ({', '.join(extra)})" if extra else "")


def mtime(path):
    t = datetime.datetime.fromtimestamp(os.stat(path).st_mtime, datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", nargs=2, metavar=("TOOL", "DATASET"), help="internal: one fit for peak memory")
    p.add_argument("--out", default=str(ROOT / "benches/results/2core-xeon/python"))
    p.add_argument("--work", default=str(ROOT / "target/python-bench-data/work"))
    p.add_argument("--dataset", action="append", default=[], metavar="NAME,TRAIN,TEST")
    p.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")))
    p.add_argument("--cli-rounds", type=int, default=None, help="default: --rounds")
    p.add_argument("--wildsgd", default=str(ROOT / "target/release/wildsgd"), help="the CLI binary")
    p.add_argument("--command-line", default=" ".join(sys.argv))
    p.add_argument("--note", action="append", default=[])
    p.add_argument("--split-spam", nargs=2, metavar=("SRC", "OUT_DIR"), help="only write the spam split")
    a = p.parse_args()
    if a.child:
        return child(a.child[0], a.child[1], a.work)
    if a.split_spam:
        return split_spam(*a.split_spam)
    if a.rounds < 1:
        raise SystemExit("--rounds must be >= 1")
    a.cli_rounds = a.rounds if a.cli_rounds is None else a.cli_rounds
    import scipy
    import sklearn
    import wildsgd

    start = time.perf_counter()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    git = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"], capture_output=True,
                           text=True).stdout.strip()
    cli_version = subprocess.run([a.wildsgd, "--version"], capture_output=True, text=True).stdout.strip()
    log = Log(out / "raw.jsonl")
    meta = log(type="meta", command_line=a.command_line,
               date_utc=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
               machine=f"{os.cpu_count()} vCPUs (`nproc`: {os.cpu_count()}), lscpu model name "
                       f"\"{cpu_model()}\", {platform.system()} {platform.release()}",
               python=platform.python_version(), numpy=np.__version__, scipy=scipy.__version__,
               sklearn=sklearn.__version__, wildsgd_python=wildsgd.__version__, wildsgd_cli=cli_version,
               cli_binary=f"{a.wildsgd} (modified {mtime(a.wildsgd)})",
               core_module=f"{wildsgd._core.__file__} (modified {mtime(wildsgd._core.__file__)})",
               git=f"{git}{' (working tree with uncommitted changes)' if dirty else ''}",
               rounds=a.rounds, cli_rounds=a.cli_rounds, load_before=os.getloadavg()[0], notes=a.note)
    for spec in a.dataset:
        name, train, test = spec.split(",")
        bench_dataset(a, log, name, train, test)
    for key, path in (("cli_binary", a.wildsgd), ("core_module", wildsgd._core.__file__)):
        if f"(modified {mtime(path)})" not in meta[key]:
            meta["notes"].append(f"{path} was modified during the run (now {mtime(path)}): some measurements may "
                                 "be of another build.")
    meta["load_after"] = os.getloadavg()[0]
    meta["total_seconds"] = time.perf_counter() - start
    log(type="meta_end", load_after=meta["load_after"], total_seconds=meta["total_seconds"], notes=meta["notes"])
    md = markdown(log.records, meta)
    (out / "results.md").write_text(md)
    print()
    print(md)


if __name__ == "__main__":
    sys.exit(main())
