#!/usr/bin/env python3
"""Side-by-side comparison of wildsgd with the trainers users would otherwise pick.

Driven by `benches/peers/run` (which makes the virtual environment and builds wildsgd); run
it by hand as `python peers.py bench --help`. Every tool trains in its own process on the
same LIBSVM training file and predicts P(y = +1) for every row of the same test file into a
text file (one probability per line); `score` turns those into log loss and accuracy in one
place, so the numbers are computed the same way for every tool. The training process's wall
time (interpreter start, load and train: what a user waits for) and peak RSS come from
`os.wait4`; the training throughput is the tool's own training time where it reports one
(wildsgd's `update_seconds`), otherwise the time around the fit call measured inside the
process, and is always `epochs * n_train / seconds`.

Subcommands used as child processes: train-sklearn, train-liblinear, train-vw, train-fasttext
and the matching predict-*; helpers: split (seeded train/test split of a LIBSVM file), to-vw,
to-fasttext, score; and `bench`, the driver.
"""

import argparse
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EPS = 1e-15  # probability clip for log loss, the same for every tool (scikit-learn's old default)


# --------------------------------------------------------------------------- data helpers


def libsvm_rows(path):
    """Yields (label, [(index, value), ...]) per data line; `#` comments and blank lines skipped."""
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            toks = line.split()
            feats = []
            for t in toks[1:]:
                if t.startswith("qid:"):
                    continue
                j, v = t.split(":", 1)
                feats.append((j, v))
            yield float(toks[0]), feats


def read_labels(path):
    return [lab for lab, _ in libsvm_rows(path)]


def positive_label(labels):
    """The larger of the two classes is the positive one (wildsgd's rule)."""
    classes = sorted(set(labels))
    if len(classes) != 2:
        raise SystemExit(f"expected two classes, got {classes[:5]}")
    return classes[1]


def cmd_split(a):
    """Seeded split of a LIBSVM file (plain or gzip) into train/test, comment lines dropped."""
    import gzip

    opener = gzip.open if open(a.src, "rb").read(2) == b"\x1f\x8b" else open
    with opener(a.src, "rt") as f:
        lines = [ln for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
    order = list(range(len(lines)))
    random.Random(a.seed).shuffle(order)
    n_test = int(len(lines) * a.test_fraction)
    test, train = sorted(order[:n_test]), sorted(order[n_test:])
    Path(a.out_dir).mkdir(parents=True, exist_ok=True)
    for name, rows in (("train.svm", train), ("test.svm", test)):
        with open(Path(a.out_dir) / name, "w") as f:
            f.writelines(lines[i] for i in rows)
    print(f"{a.src}: {len(train)} train rows, {len(test)} test rows (seed {a.seed})")


def cmd_to_vw(a):
    """LIBSVM -> VW text: `±1 |f j:v ...` (the label's larger class is +1)."""
    pos = positive_label(read_labels(a.src))
    with open(a.dst, "w") as out:
        for lab, feats in libsvm_rows(a.src):
            y = "1" if lab == pos else "-1"
            out.write(y + " |f " + " ".join(f"{j}:{v}" for j, v in feats) + "\n")


def cmd_to_fasttext(a):
    """LIBSVM -> fastText: `__label__pos|neg fJ fJ ...` (fastText drops the values)."""
    pos = positive_label(read_labels(a.src))
    with open(a.dst, "w") as out:
        for lab, feats in libsvm_rows(a.src):
            y = "__label__pos" if lab == pos else "__label__neg"
            out.write(y + " " + " ".join(f"f{j}" for j, _ in feats) + "\n")


def write_probs(path, probs):
    with open(path, "w") as f:
        f.writelines(f"{p:.9g}\n" for p in probs)


def emit(path, **fields):
    with open(path, "w") as f:
        json.dump(fields, f)


# --------------------------------------------------------------------------- peers


def load_svmlight(path, n_features=None):
    from sklearn.datasets import load_svmlight_file

    import numpy as np

    X, y = load_svmlight_file(str(path), n_features=n_features, dtype="float64")
    # Some scikit-learn/SciPy pairs hand back int64 indices, which SGDClassifier then refuses.
    X.indices, X.indptr = X.indices.astype(np.int32), X.indptr.astype(np.int32)
    return X, y


def cmd_train_sklearn(a):
    import pickle

    import numpy as np
    from sklearn.linear_model import SGDClassifier

    t0 = time.perf_counter()
    X, y = load_svmlight(a.train)
    t1 = time.perf_counter()
    clf = SGDClassifier(
        loss="log_loss",
        penalty="l2",
        alpha=a.lam,
        learning_rate="optimal",
        max_iter=a.epochs,
        tol=None,
        shuffle=True,
        random_state=a.seed,
    )
    clf.fit(X, np.where(y == positive_label(y.tolist()), 1, -1))
    t2 = time.perf_counter()
    with open(a.model, "wb") as f:
        pickle.dump((clf, X.shape[1]), f)
    emit(a.json, n_train=X.shape[0], epochs=a.epochs, load_seconds=t1 - t0, train_seconds=t2 - t1,
         train_seconds_source="measured around SGDClassifier.fit")


def cmd_predict_sklearn(a):
    import pickle

    with open(a.model, "rb") as f:
        clf, d = pickle.load(f)
    X, _ = load_svmlight(a.test, n_features=d)
    classes = list(clf.classes_)
    write_probs(a.probs, clf.predict_proba(X)[:, classes.index(1)])


def cmd_train_liblinear(a):
    import numpy as np
    from liblinear import liblinearutil as ll

    t0 = time.perf_counter()
    # scikit-learn's loader (C) rather than LIBLINEAR's pure-Python one: the reference's
    # loss is what matters here, not its load time.
    X, y = load_svmlight(a.train)
    y = np.where(y == positive_label(y.tolist()), 1.0, -1.0)
    t1 = time.perf_counter()
    c = 1.0 / (a.lam * X.shape[0])
    prob = ll.problem(y, X.tocsr())
    model = ll.train(prob, ll.parameter(f"-s 0 -B 1 -c {c!r} -e {a.eps} -q"))
    t2 = time.perf_counter()
    ll.save_model(str(a.model), model)
    w = np.array([model.w[i] for i in range(model.nr_feature + 1)])
    obj = None
    if a.objective:
        # The objective wildsgd minimises: mean logistic loss + λ/2 ‖w‖² (LIBLINEAR's -B 1
        # also penalises the bias; the printed objective includes it, as LIBLINEAR does).
        m = X @ w[:-1] + w[-1]
        sign = 1.0 if model.get_labels()[0] == 1 else -1.0
        mean_loss = float(np.mean(np.logaddexp(0.0, -y * m * sign)))
        obj = mean_loss + 0.5 * a.lam * float(w @ w)
    emit(a.json, n_train=X.shape[0], epochs=None, load_seconds=t1 - t0, train_seconds=t2 - t1,
         train_seconds_source="measured around liblinear.train", c=c, objective=obj)


def cmd_predict_liblinear(a):
    from liblinear import liblinearutil as ll

    model = ll.load_model(str(a.model))
    X, y = load_svmlight(a.test, n_features=model.nr_feature)
    _, _, probs = ll.predict([], X.tocsr(), model, "-b 1 -q")
    pos = model.get_labels().index(1)
    write_probs(a.probs, [p[pos] for p in probs])


def cmd_train_vw(a):
    from vowpalwabbit import Workspace

    with open(a.train) as f:
        n = sum(1 for _ in f)
    args = (f"-d {a.train} --cache_file {a.cache} --passes {a.epochs} --holdout_off "
            f"--loss_function logistic -f {a.model} --quiet")
    if a.fresh_cache:
        args += " -k"
    t0 = time.perf_counter()
    vw = Workspace(args)  # runs every pass (the native parser runs when -d/--passes is given)
    vw.finish()
    t1 = time.perf_counter()
    emit(a.json, n_train=n, epochs=a.epochs, load_seconds=None, train_seconds=t1 - t0,
         train_seconds_source="measured around the VW workspace run, passes read from the cache" +
         (" (pass 1 from text, writing the cache)" if a.fresh_cache else ""))


def cmd_predict_vw(a):
    from vowpalwabbit import Workspace

    vw = Workspace(f"-t -i {a.model} -d {a.test} -p {a.probs}.raw --link logistic --quiet")
    vw.finish()
    with open(f"{a.probs}.raw") as f:
        probs = [float(line.split()[0]) for line in f]
    write_probs(a.probs, probs)


def cmd_train_fasttext(a):
    import fasttext

    with open(a.train) as f:
        n = sum(1 for _ in f)
    t0 = time.perf_counter()
    model = fasttext.train_supervised(input=str(a.train), epoch=a.epochs, thread=a.threads, verbose=0, seed=a.seed)
    t1 = time.perf_counter()
    model.save_model(str(a.model))
    emit(a.json, n_train=n, epochs=a.epochs, load_seconds=None, train_seconds=t1 - t0,
         train_seconds_source="measured around fasttext.train_supervised (includes reading the file)")


def cmd_predict_fasttext(a):
    import fasttext

    model = fasttext.load_model(str(a.model))
    probs = []
    with open(a.test) as f:
        for line in f:
            text = line.split(" ", 1)[1].strip() if " " in line else ""
            # model.f.predict, not model.predict: fasttext-wheel 0.9.2's wrapper calls
            # np.array(copy=False), which NumPy 2 rejects.
            d = {label: p for p, label in model.f.predict(text + "\n", 2, 0.0, "strict")}
            probs.append(float(d.get("__label__pos", 1.0 - d.get("__label__neg", 0.5))))
    write_probs(a.probs, probs)


def cmd_score(a):
    print(json.dumps(score(a.test, a.probs)))


def score(test, probs_path):
    labels = read_labels(test)
    pos = positive_label(labels)
    with open(probs_path) as f:
        probs = [float(x) for x in f]
    if len(probs) != len(labels):
        raise ValueError(f"{probs_path}: {len(probs)} probabilities for {len(labels)} test rows")
    loss, correct = 0.0, 0
    for lab, p in zip(labels, probs):
        p = min(max(p, EPS), 1.0 - EPS)
        y = lab == pos
        loss -= math.log(p if y else 1.0 - p)
        correct += (p >= 0.5) == y
    return {"test_log_loss": loss / len(labels), "test_accuracy": correct / len(labels), "test_rows": len(labels)}


# --------------------------------------------------------------------------- driver


def run_child(cmd, log, env=None, timeout=None):
    """Runs cmd; returns (wall seconds, peak RSS MiB, exit status). Output goes to log."""
    with open(log, "w") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except KeyboardInterrupt:
            p.kill()
            raise
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    return wall, ru.ru_maxrss / 1024.0, p.returncode


def tail(path, n=1):
    try:
        return " ".join(open(path, errors="replace").read().split()[-40:]).replace("|", "/")
    except OSError:
        return ""


def cmd_bench(a):
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    me = str(Path(__file__).resolve())
    one_thread = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cores = os.cpu_count() or 1
    skipped = json.loads(Path(a.skipped).read_text()) if a.skipped and Path(a.skipped).exists() else {}
    results = []

    def importable(mod):
        return subprocess.run([py, "-c", f"import {mod}"], capture_output=True, text=True)

    peers = {}
    for tool, mod in (("sklearn", "sklearn"), ("liblinear", "liblinear.liblinearutil"), ("vw", "vowpalwabbit"),
                      ("fasttext", "fasttext")):
        if tool not in a.tools:
            peers[tool] = "not selected (--tools)"
            continue
        if tool in skipped:
            peers[tool] = skipped[tool]
            continue
        r = importable(mod)
        peers[tool] = None if r.returncode == 0 else f"import {mod} failed: {r.stderr.strip().splitlines()[-1:]}"

    for ds in a.datasets:
        name, train, test = ds.split(",")
        train, test = Path(train), Path(test)
        d = work / name
        d.mkdir(exist_ok=True)
        n_train = sum(1 for _ in libsvm_rows(train))
        lam = a.lam

        def record(tool, threads, wall, rss, rc, log, child_json=None, probs=None, extra=None, own=None):
            row = {"dataset": name, "tool": tool, "threads": threads, "n_train": n_train}
            if rc != 0:
                row.update(status="failed", reason=f"exit {rc}: {tail(log)}")
                results.append(row)
                print(f"  {tool}: FAILED ({row['reason']})", flush=True)
                return
            info = json.loads(Path(child_json).read_text()) if child_json else {}
            row.update(status="ok", wall_seconds=wall, peak_rss_mib=rss)
            if own is not None:
                row.update(own)
            else:
                secs = info.get("train_seconds")
                epochs = info.get("epochs")
                row.update(train_seconds=secs, train_seconds_source=info.get("train_seconds_source"),
                           load_seconds=info.get("load_seconds"), epochs=epochs,
                           samples_per_sec=(epochs * n_train / secs) if epochs and secs else None)
            if extra:
                row.update(extra)
            if info.get("objective") is not None:
                row["train_objective"] = info["objective"]
            try:
                row.update(score(test, probs))
            except (OSError, ValueError) as e:
                row.update(status="failed", reason=f"scoring: {e}")
            results.append(row)
            print(f"  {tool} x{threads}: wall {wall:.2f} s, rss {rss:.0f} MiB, "
                  f"{row.get('samples_per_sec') or 0:.0f} samples/s, loss {row.get('test_log_loss', float('nan')):.5f}",
                  flush=True)

        print(f"{name}: {n_train} training rows", flush=True)
        # wildsgd: default settings but the epochs (its default order: blocks), at 1 thread and all
        # cores; then the same with `--order full` (the order before issue 16) as a second row.
        runs = [("wildsgd", "", []), ("wildsgd --order full", "-full", ["--order", "full"])]
        for (tool, suffix, order), threads in ((r, t) for r in runs for t in sorted({1, cores})
                                               if "wildsgd" in a.tools):
            tag = f"wildsgd{suffix}-t{threads}"
            model, rep, probs, log = d / f"{tag}.model", d / f"{tag}.report.json", d / f"{tag}.probs", d / f"{tag}.log"
            cmd = [a.wildsgd, "train", "--data", str(train), "--epochs", str(a.epochs), "--threads", str(threads),
                   "--out", str(model), "--report", str(rep), "--quiet", *order, *a.wildsgd_args]
            wall, rss, rc = run_child(cmd, log)
            if rc == 0:
                prc = run_child([a.wildsgd, "predict", "--model", str(model), "--data", str(test), "--out", str(probs)],
                                d / f"{tag}.predict.log")[2]
                if prc != 0:
                    rc, log = prc, d / f"{tag}.predict.log"
            own = None
            if rc == 0:
                r = json.loads(rep.read_text())
                own = dict(train_seconds=r["update_seconds"], epochs=len(r["epochs"]),
                           samples_per_sec=len(r["epochs"]) * n_train / r["update_seconds"],
                           train_seconds_source="wildsgd report update_seconds (update passes only)",
                           load_seconds=None, total_seconds_reported=r.get("total_seconds"),
                           order=r.get("order"))
            record(tool, threads, wall, rss, rc, log, probs=probs, own=own,
                   extra={"args": " ".join(cmd[1:])})

        # scikit-learn SGDClassifier, one thread.
        if peers["sklearn"]:
            results.append({"dataset": name, "tool": "sklearn", "status": "skipped", "reason": peers["sklearn"]})
        else:
            j, m, p = d / "sklearn.json", d / "sklearn.pkl", d / "sklearn.probs"
            wall, rss, rc = run_child([py, me, "train-sklearn", str(train), str(m), str(j), "--lam", str(lam),
                                       "--epochs", str(a.epochs), "--seed", str(a.seed)], d / "sklearn.log", one_thread)
            log = d / "sklearn.log"
            if rc == 0:
                log = d / "sklearn.predict.log"
                rc = run_child([py, me, "predict-sklearn", str(m), str(test), str(p)], log, one_thread)[2]
            record("sklearn", 1, wall, rss, rc, log, j, p,
                   {"args": f"SGDClassifier(loss='log_loss', alpha={lam}, learning_rate='optimal', "
                            f"max_iter={a.epochs}, tol=None)"})

        # Vowpal Wabbit: one run that builds the cache (load + train wall, as a user runs it), then the
        # same 5 passes all from the cache (its throughput, and the model scored).
        if peers["vw"]:
            results.append({"dataset": name, "tool": "vw", "status": "skipped", "reason": peers["vw"]})
        else:
            vtrain, vtest = d / "train.vw", d / "test.vw"
            if not vtrain.exists() or not vtest.exists():
                subprocess.run([py, me, "to-vw", str(train), str(vtrain)], check=True)
                subprocess.run([py, me, "to-vw", str(test), str(vtest)], check=True)
            cache, m = d / "train.vw.cache", d / "vw.model"
            j1, j2, p = d / "vw-fresh.json", d / "vw.json", d / "vw.probs"
            base = [py, me, "train-vw", str(vtrain), str(cache), str(m), "--epochs", str(a.epochs)]
            wall, rss, rc = run_child(base + [str(j1), "--fresh-cache"], d / "vw-fresh.log")
            wall2 = rss2 = None
            log = d / "vw-fresh.log"
            if rc == 0:
                log = d / "vw.log"
                wall2, rss2, rc = run_child(base + [str(j2)], log)
            if rc == 0:
                log = d / "vw.predict.log"
                rc = run_child([py, me, "predict-vw", str(m), str(vtest), str(p)], log)[2]
            fresh = json.loads(j1.read_text()) if j1.exists() else {}
            record("vw", 1, wall, rss, rc, log, j2, p,
                   {"args": "--loss_function logistic --passes 5 --holdout_off -c (defaults otherwise: no L2, -b 18)",
                    "note": "wall/RSS: the run that parses the text and writes the cache; throughput: a second "
                            "run, all passes from the cache (VW parses in a thread of its own)",
                    "from_cache_wall_seconds": wall2, "fresh_train_seconds": fresh.get("train_seconds")})

        # fastText supervised, all cores (Hogwild! threads); ignores the feature values.
        if peers["fasttext"]:
            results.append({"dataset": name, "tool": "fasttext", "status": "skipped", "reason": peers["fasttext"]})
        else:
            ftrain = d / "train.ft"
            if not ftrain.exists():
                subprocess.run([py, me, "to-fasttext", str(train), str(ftrain)], check=True)
                subprocess.run([py, me, "to-fasttext", str(test), str(d / "test.ft")], check=True)
            j, m, p = d / "fasttext.json", d / "fasttext.bin", d / "fasttext.probs"
            wall, rss, rc = run_child([py, me, "train-fasttext", str(ftrain), str(m), str(j), "--epochs",
                                       str(a.epochs), "--threads", str(cores), "--seed", str(a.seed)],
                                      d / "fasttext.log")
            log = d / "fasttext.log"
            if rc == 0:
                log = d / "fasttext.predict.log"
                rc = run_child([py, me, "predict-fasttext", str(m), str(d / "test.ft"), str(p)], log)[2]
            record("fasttext", cores, wall, rss, rc, log, j, p,
                   {"args": f"train_supervised(epoch={a.epochs}, thread={cores}) defaults otherwise (lr 0.1, dim 100)",
                    "note": "ignores feature values (bag of feature ids)"})

        # LIBLINEAR -s 0: the optimum of the same objective (reference loss).
        if peers["liblinear"]:
            results.append({"dataset": name, "tool": "liblinear", "status": "skipped", "reason": peers["liblinear"]})
        else:
            j, m, p = d / "liblinear.json", d / "liblinear.model", d / "liblinear.probs"
            wall, rss, rc = run_child([py, me, "train-liblinear", str(train), str(m), str(j), "--lam", str(lam),
                                       "--objective"], d / "liblinear.log", one_thread)
            log = d / "liblinear.log"
            if rc == 0:
                log = d / "liblinear.predict.log"
                rc = run_child([py, me, "predict-liblinear", str(m), str(test), str(p)], log, one_thread)[2]
            record("liblinear", 1, wall, rss, rc, log, j, p,
                   {"args": f"-s 0 -B 1 -c 1/(λ·n_train) (λ = {lam}), -e 0.01; train seconds exclude loading",
                    "epochs": None})

    machine = {"platform": platform.platform(), "cpus": cores, "python": platform.python_version(),
               "cpu_model": cpu_model()}
    out = {"machine": machine, "command": a.command_line, "lambda": a.lam, "epochs": a.epochs,
           "results": results, "targets": targets(results), "note": a.note}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    md = markdown(out)
    Path(a.md).write_text(md)
    print()
    print(md)


def cmd_paired(a):
    """Throughput of wildsgd at 1 thread against SGDClassifier, interleaved round by round.

    On a shared, noisy machine two runs minutes apart see different loads; alternating the two
    (scikit-learn's data loaded once, in this process) and taking the median of the per-round
    ratios compares them under the same conditions.
    """
    import statistics

    import numpy as np
    from sklearn.linear_model import SGDClassifier

    X, y = load_svmlight(a.train)
    y = np.where(y == positive_label(y.tolist()), 1, -1)
    n = X.shape[0]
    rounds = []
    rep = Path(a.work) / "paired.report.json"
    Path(a.work).mkdir(parents=True, exist_ok=True)
    for r in range(a.rounds):
        t0 = time.perf_counter()
        SGDClassifier(loss="log_loss", alpha=a.lam, learning_rate="optimal", max_iter=a.epochs, tol=None,
                      random_state=a.seed).fit(X, y)
        sk = a.epochs * n / (time.perf_counter() - t0)
        row = {"sklearn_samples_per_sec": sk}
        # wildsgd as it is (its default order), then with --order full (the order before issue 16).
        for key, order in (("", []), ("order_full_", ["--order", "full"])):
            subprocess.run([a.wildsgd, "train", "--data", str(a.train), "--epochs", str(a.epochs), "--threads",
                            str(a.threads), "--quiet", "--report", str(rep), *order, *a.wildsgd_args], check=True)
            wr = json.loads(rep.read_text())
            ws = wr["samples_per_sec"]
            row.update({f"{key}wildsgd_samples_per_sec": ws, f"{key}ratio": ws / sk,
                        f"{key}wildsgd_total_seconds": wr.get("total_seconds"), f"{key}order": wr.get("order")})
        rounds.append(row)
        print(f"round {r + 1}: sklearn {sk:,.0f}/s, wildsgd x{a.threads} {row['wildsgd_samples_per_sec']:,.0f}/s "
              f"(ratio {row['ratio']:.2f}), --order full {row['order_full_wildsgd_samples_per_sec']:,.0f}/s "
              f"(ratio {row['order_full_ratio']:.2f})", flush=True)
    med = statistics.median(x["ratio"] for x in rounds)
    med_full = statistics.median(x["order_full_ratio"] for x in rounds)
    print(f"median ratio wildsgd/sklearn: {med:.2f} (--order full: {med_full:.2f}) over {a.rounds} rounds")
    if a.json:
        out = json.loads(Path(a.json).read_text()) if Path(a.json).exists() else {}
        out.setdefault("paired_throughput", {})[a.name] = {
            "threads": a.threads, "wildsgd_args": a.wildsgd_args, "rounds": rounds, "median_ratio": med,
            "order_full_median_ratio": med_full,
            "method": "interleaved: SGDClassifier.fit, then `wildsgd train` (default order), then `wildsgd "
                      "train --order full` (report samples_per_sec), per round"}
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")


def cmd_md(a):
    md = markdown(json.loads(Path(a.json).read_text()))
    Path(a.md).write_text(md)
    print(md)


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def find(results, ds, tool, threads=None):
    for r in results:
        if r["dataset"] == ds and r["tool"] == tool and r.get("status") == "ok" and (
                threads is None or r.get("threads") == threads):
            return r
    return None


def targets(results):
    """The issue's targets, checked per dataset (None when a needed run is missing)."""
    out = {}
    for ds in sorted({r["dataset"] for r in results}):
        w1 = find(results, ds, "wildsgd", 1)
        wn = max((r for r in results if r["dataset"] == ds and r["tool"] == "wildsgd" and r.get("status") == "ok"),
                 key=lambda r: r["threads"], default=None)
        sk, ll = find(results, ds, "sklearn"), find(results, ds, "liblinear")
        t = {}
        if w1 and ll:
            t["loss_vs_liblinear"] = w1["test_log_loss"] / ll["test_log_loss"]
            t["a_loss_within_1pct"] = t["loss_vs_liblinear"] <= 1.01
        if w1 and sk:
            t["throughput_vs_sklearn"] = w1["samples_per_sec"] / sk["samples_per_sec"]
            t["a_throughput_ge_1x"] = t["throughput_vs_sklearn"] >= 1.0
            t["wall_vs_sklearn"] = w1["wall_seconds"] / sk["wall_seconds"]
            t["b_wall_le_0.25x"] = t["wall_vs_sklearn"] <= 0.25
            t["issue16_throughput_ge_3x"] = t["throughput_vs_sklearn"] >= 3.0
        compared = [r for r in results if r["dataset"] == ds and r.get("status") == "ok"
                    and not r["tool"].startswith("wildsgd") and r["tool"] != "liblinear"]
        if wn and compared:
            behind = []
            for r in compared:
                if not (wn["samples_per_sec"] > r["samples_per_sec"] and wn["test_log_loss"] <= r["test_log_loss"]):
                    behind.append(r["tool"])
            t["c_all_cores_ahead_of_every_peer"] = not behind
            t["c_not_ahead_of"] = behind
        out[ds] = t
    return out


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def markdown(out):
    m = out["machine"]
    lines = [
        f"Machine: {m['cpu_model']}, {m['cpus']} CPUs ({m['platform']}). Command: `{out['command']}`. "
        f"λ = {out['lambda']}, {out['epochs']} epochs/passes.",
        "",
        "| data | tool | threads | train samples/s | train s | load+train wall s | peak RSS MiB | test log loss "
        "| test acc |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in out["results"]:
        if r.get("status") != "ok":
            lines.append(f"| {r['dataset']} | {r['tool']} | — | {r.get('status')}: {r.get('reason', '')} "
                         "| | | | | |")
            continue
        lines.append(
            f"| {r['dataset']} | {r['tool']} | {r['threads']} | {fmt(r.get('samples_per_sec'), ',.0f')} "
            f"| {fmt(r.get('train_seconds'), '.3f')} | {r['wall_seconds']:.2f} | {r['peak_rss_mib']:.0f} "
            f"| {r['test_log_loss']:.5f} | {r['test_accuracy']:.4f} |")
    lines.append("")
    for ds, t in out["targets"].items():
        parts = []
        if "loss_vs_liblinear" in t:
            parts.append(f"(a) 1-thread loss / LIBLINEAR = {t['loss_vs_liblinear']:.4f} "
                         f"({'met' if t['a_loss_within_1pct'] else 'MISSED'}, target ≤ 1.01)")
        if "throughput_vs_sklearn" in t:
            parts.append(f"(a) throughput / sklearn = {t['throughput_vs_sklearn']:.2f}x "
                         f"({'met' if t['a_throughput_ge_1x'] else 'MISSED'})")
            parts.append(f"issue 16: ≥ 3x sklearn {'met' if t['issue16_throughput_ge_3x'] else 'MISSED'}")
            parts.append(f"(b) wall / sklearn = {t['wall_vs_sklearn']:.3f}x "
                         f"({'met' if t['b_wall_le_0.25x'] else 'MISSED'}, target ≤ 0.25)")
        if "c_all_cores_ahead_of_every_peer" in t:
            parts.append("(c) all cores ahead of every peer: " + (
                "met" if t["c_all_cores_ahead_of_every_peer"] else "MISSED vs " + ", ".join(t["c_not_ahead_of"])))
        lines.append(f"- **{ds}**: " + "; ".join(parts))
    for ds, pt in out.get("paired_throughput", {}).items():
        ratios = ", ".join(f"{r['ratio']:.2f}" for r in pt["rounds"])
        lines.append(f"- **{ds}**, paired throughput (interleaved rounds, wildsgd x{pt['threads']} "
                     f"{' '.join(pt['wildsgd_args'])} vs SGDClassifier): median ratio {pt['median_ratio']:.2f}x "
                     f"(rounds: {ratios})")
        if "order_full_median_ratio" in pt:
            full = ", ".join(f"{r['order_full_ratio']:.2f}" for r in pt["rounds"])
            lines.append(f"- **{ds}**, paired, wildsgd x{pt['threads']} `--order full`: median ratio "
                         f"{pt['order_full_median_ratio']:.2f}x (rounds: {full})")
    if out.get("note"):
        lines += ["", out["note"]]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("split")
    s.add_argument("src")
    s.add_argument("out_dir")
    s.add_argument("--test-fraction", type=float, default=0.2)
    s.add_argument("--seed", type=int, default=1)
    s.set_defaults(f=cmd_split)
    for name, f in (("to-vw", cmd_to_vw), ("to-fasttext", cmd_to_fasttext)):
        s = sub.add_parser(name)
        s.add_argument("src")
        s.add_argument("dst")
        s.set_defaults(f=f)

    for name, f in (("train-sklearn", cmd_train_sklearn), ("train-liblinear", cmd_train_liblinear),
                    ("train-vw", cmd_train_vw), ("train-fasttext", cmd_train_fasttext)):
        s = sub.add_parser(name)
        s.add_argument("train")
        if name == "train-vw":
            s.add_argument("cache")
            s.add_argument("--fresh-cache", action="store_true")
        s.add_argument("model")
        s.add_argument("json")
        s.add_argument("--lam", type=float, default=1e-6)
        s.add_argument("--epochs", type=int, default=5)
        s.add_argument("--seed", type=int, default=1)
        s.add_argument("--threads", type=int, default=1)
        s.add_argument("--eps", type=float, default=0.01)
        s.add_argument("--objective", action="store_true")
        s.set_defaults(f=f)
    for name, f in (("predict-sklearn", cmd_predict_sklearn), ("predict-liblinear", cmd_predict_liblinear),
                    ("predict-vw", cmd_predict_vw), ("predict-fasttext", cmd_predict_fasttext)):
        s = sub.add_parser(name)
        s.add_argument("model")
        s.add_argument("test")
        s.add_argument("probs")
        s.set_defaults(f=f)
    s = sub.add_parser("score")
    s.add_argument("test")
    s.add_argument("probs")
    s.set_defaults(f=cmd_score)

    s = sub.add_parser("bench", help="run every tool on every dataset; print markdown, write JSON")
    s.add_argument("--wildsgd", required=True, help="the release wildsgd binary")
    s.add_argument("--dataset", dest="datasets", action="append", required=True, metavar="NAME,TRAIN,TEST")
    s.add_argument("--work", required=True, help="scratch directory (models, converted files, logs)")
    s.add_argument("--json", required=True)
    s.add_argument("--md", required=True)
    s.add_argument("--lam", type=float, default=1e-6)
    s.add_argument("--epochs", type=int, default=5)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--tools", type=lambda x: x.split(","), default="wildsgd,sklearn,vw,fasttext,liblinear",
                   help="comma-separated subset of wildsgd,sklearn,vw,fasttext,liblinear")
    s.add_argument("--skipped", help="JSON {tool: reason} of peers the installer could not install")
    s.add_argument("--command-line", default="benches/peers/run")
    s.add_argument("--note", default="")
    s.add_argument("--wildsgd-args", nargs=argparse.REMAINDER, default=[],
                   help="extra flags for `wildsgd train` (last; for experiments, not the reported defaults)")
    s.set_defaults(f=cmd_bench)

    s = sub.add_parser("paired", help="interleaved throughput rounds, wildsgd vs SGDClassifier")
    s.add_argument("--wildsgd", required=True)
    s.add_argument("--train", required=True)
    s.add_argument("--name", required=True, help="the dataset's name in the JSON")
    s.add_argument("--work", required=True)
    s.add_argument("--json", help="add the rounds to this results JSON (under paired_throughput)")
    s.add_argument("--rounds", type=int, default=5)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--lam", type=float, default=1e-6)
    s.add_argument("--epochs", type=int, default=5)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--wildsgd-args", nargs=argparse.REMAINDER, default=[])
    s.set_defaults(f=cmd_paired)

    s = sub.add_parser("md", help="render a results JSON as markdown")
    s.add_argument("json")
    s.add_argument("md")
    s.set_defaults(f=cmd_md)

    a = p.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
