#!/usr/bin/env python3
"""The defaults panel: wildsgd's default logistic-regression settings judged on a panel of
datasets of different shapes (issue 17). Driven by `benches/defaults/run`, which makes the
virtual environment and builds the binary; by hand: `python panel.py prepare --help`,
`python panel.py bench --help`.

For each set (80/20 train/test split, fixed seed, LIBSVM files with labels ±1 and 1-based
feature indices, values rounded to float32 so wildsgd and the float64 reference see the
same numbers):

* wildsgd trains with its defaults at 2 threads for seeds 1..5 with `--loss-rows 0`, so each
  epoch's `train_loss` in the JSON report is the exact objective over all training rows,
  f(w, b) = mean_i log(1 + exp(-y_i (w·x_i + b))) + λ/2 ‖w‖² (bias not penalised), λ being
  the report's `l2`;
* the exact optimum of that objective, in float64: scikit-learn's LogisticRegression with
  C = 1/(nλ) (lbfgs, tol 1e-12), then scipy's L-BFGS-B on our own objective and gradient
  from that point; the lower value is kept, with its gradient's max-norm;
* the gap (f_wildsgd - f*)/f* per seed and epoch, the spread of the 5 seeds' final
  objectives, and the zero model's objective (w = 0, b = 0: ln 2);
* test log loss and accuracy of wildsgd (seed 1, `wildsgd predict`), scikit-learn's
  `SGDClassifier(loss='log_loss', random_state=0)` and `LogisticRegression()` (defaults;
  max_iter raised only if it does not converge, and then said so).
"""

import argparse
import gzip
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
EPS = 1e-15  # probability clip for log loss (as benches/peers)
SEEDS = [1, 2, 3, 4, 5]
THREADS = 2
SPLIT_SEED = 1
SK_MAX_ITER = 300  # scikit-learn's part of the reference is a start; scipy finishes it


# --------------------------------------------------------------------------- writing sets


def write_libsvm(path, X, y):
    """X: scipy CSR (float32 values), y: ±1. 1-based indices, zeros omitted."""
    X = sp.csr_matrix(X, dtype=np.float32)
    X.eliminate_zeros()
    X.sort_indices()
    with open(path, "w") as f:
        for i in range(X.shape[0]):
            a, b = X.indptr[i], X.indptr[i + 1]
            idx = X.indices[a:b] + 1
            # repr of a float32 (via np.float32 -> str) round-trips exactly.
            vals = X.data[a:b]
            toks = " ".join(f"{j}:{np.format_float_positional(v, unique=True, trim='-')}"
                            if abs(v) >= 1e-4 and abs(v) < 1e7 else f"{j}:{np.format_float_scientific(v, unique=True, trim='-')}"
                            for j, v in zip(idx, vals))
            f.write(("+1" if y[i] > 0 else "-1") + (" " + toks if toks else "") + "\n")


def split_write(dirpath, X, y, meta):
    rng = np.random.default_rng(SPLIT_SEED)
    n = X.shape[0]
    order = rng.permutation(n)
    n_test = int(round(0.2 * n))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    X = sp.csr_matrix(X, dtype=np.float32)
    y = np.where(np.asarray(y) > 0, 1, -1)
    dirpath.mkdir(parents=True, exist_ok=True)
    write_libsvm(dirpath / "train.svm.tmp", X[train], y[train])
    write_libsvm(dirpath / "test.svm.tmp", X[test], y[test])
    meta = dict(meta, rows=int(n), train_rows=int(len(train)), test_rows=int(len(test)), features=int(X.shape[1]),
                nnz_per_row=float(X.nnz / max(n, 1)), positive_fraction=float(np.mean(y > 0)))
    (dirpath / "meta.json").write_text(json.dumps(meta, indent=1))
    os.replace(dirpath / "train.svm.tmp", dirpath / "train.svm")
    os.replace(dirpath / "test.svm.tmp", dirpath / "test.svm")


def planted_labels(rng, Z, scale=1.0, flip=0.0, bias=0.0):
    """Labels from a planted linear model through a logistic link: P(y=1) = σ(scale·z·w + bias),
    z standardised per column so that the margin's spread is `scale`."""
    d = Z.shape[1]
    w = rng.standard_normal(d)
    m = Z @ w if not sp.issparse(Z) else np.asarray(Z @ w).ravel()
    m = (m - m.mean()) / (m.std() + 1e-12)
    p = 1.0 / (1.0 + np.exp(-(scale * m + bias)))
    y = np.where(rng.random(len(p)) < p, 1, -1)
    if flip > 0:
        f = rng.random(len(y)) < flip
        y[f] = -y[f]
    return y


def zipf_rows(rng, n, d, nnz_mean, a=1.1, fixed=False):
    """Row i gets ~nnz_mean distinct features drawn by Zipf popularity over d features."""
    ranks = np.arange(1, d + 1, dtype=np.float64)
    p = ranks ** -a
    p /= p.sum()
    perm = rng.permutation(d)  # popularity not tied to the index
    counts = np.full(n, nnz_mean) if fixed else np.maximum(1, rng.poisson(nnz_mean, n))
    indptr = np.concatenate([[0], np.cumsum(counts)])
    cols = perm[rng.choice(d, size=int(indptr[-1]), p=p)]
    data = np.ones(len(cols))
    X = sp.csr_matrix((data, cols, indptr), shape=(n, d))
    X.sum_duplicates()  # repeated draws: counts (term frequency)
    return X


def tfidf_unit(X):
    X = sp.csr_matrix(X, dtype=np.float64)
    df = np.bincount(X.indices, minlength=X.shape[1])
    idf = 1.0 + np.log(X.shape[0] / np.maximum(df, 1))
    X.data = (1.0 + np.log(X.data)) * idf[X.indices]
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X
    return sp.csr_matrix(X)


def gen_sets(out, only=None):
    """The generated sets: name -> (builder, description)."""
    def scaled(rng):
        n, d = 10000, 40
        Z = rng.standard_normal((n, d))
        y = planted_labels(rng, Z, scale=3.0)
        s = 10.0 ** np.linspace(-3, 3, d)
        rng.shuffle(s)
        return Z * s, y, "dense N(0,1) columns times factors 1e-3..1e3 (log-spaced, shuffled)"

    def outliers(rng):
        n, d = 10000, 57
        Z = rng.standard_t(1.5, size=(n, d))
        Z = np.clip(Z, -50, 50)
        Z = (Z - Z.mean(0)) / Z.std(0)
        # the labels see a bounded version of the features (the outliers are noise)
        y = planted_labels(rng, np.tanh(Z), scale=3.0)
        return Z, y, "57 standardised heavy-tailed columns (Student t, df 1.5, |z| clipped at 50 before standardising)"

    def binary(rng):
        n, d = 10000, 200
        p = rng.uniform(0.02, 0.5, d)
        Z = (rng.random((n, d)) < p).astype(np.float64)
        y = planted_labels(rng, Z - p, scale=3.0)
        return sp.csr_matrix(Z), y, "200 binary indicator features, P(1) 0.02..0.5"

    def counts(rng):
        n, d = 10000, 500
        X = zipf_rows(rng, n, d, 150, a=1.0)  # word counts, ~150 tokens per row, unnormalised
        y = planted_labels(rng, tfidf_unit(X), scale=3.0)
        return X, y, "raw word counts (500-word Zipf vocabulary, ~150 tokens/row), unnormalised"

    def sparse_wide(rng):
        n, d = 20000, 100000
        X = zipf_rows(rng, n, d, 10, a=1.05)
        X.data[:] = 1.0
        y = planted_labels(rng, X, scale=3.0)
        return X, y, "100k features, ~10 nnz/row (Zipf popularity), values 1"

    def tfidf_short(rng):
        n, d = 20000, 20000
        X = tfidf_unit(zipf_rows(rng, n, d, 17, a=1.0))
        y = planted_labels(rng, X, scale=3.0)
        return X, y, "short text-like rows, ~17 nnz, tf-idf, unit norm, 20k-word Zipf vocabulary (many rare words)"

    def rcv1(rng):
        n, d = 20000, 47236
        X = tfidf_unit(zipf_rows(rng, n, d, 61, a=1.0))
        y = planted_labels(rng, X, scale=3.0)
        return X, y, "RCV1-shaped: 47,236 features, ~61 nnz/row, tf-idf, unit norm"

    def separable(rng):
        n, d = 10000, 50
        Z = rng.standard_normal((n, d))
        y = planted_labels(rng, Z, scale=30.0)
        return Z, y, "dense 50 N(0,1) columns, logistic link with margin spread 30 (nearly separable)"

    def noisy(rng):
        n, d = 10000, 50
        Z = rng.standard_normal((n, d))
        y = planted_labels(rng, Z, scale=2.0, flip=0.2)
        return Z, y, "dense 50 N(0,1) columns, logistic link (spread 2), then 20% of labels flipped"

    sets = dict(scaled=scaled, outliers=outliers, binary=binary, counts=counts, sparse_wide=sparse_wide,
                tfidf_short=tfidf_short, rcv1_shaped=rcv1, separable=separable, noisy=noisy)
    for k, (name, f) in enumerate(sets.items()):
        if only and name not in only:
            continue
        d = out / name
        if (d / "test.svm").exists():
            continue
        rng = np.random.default_rng(1000 + k)
        X, y, desc = f(rng)
        split_write(d, X, y, dict(name=name, kind="generated", description=desc))
        print(f"panel: wrote {name}", file=sys.stderr)


def real_sets(out, root, only=None):
    """heart_scale, SpamAssassin, Fashion-MNIST 0 vs 6; a missing source is recorded as skipped."""
    from sklearn.datasets import load_svmlight_file

    skipped = {}

    def want(name):
        return (not only or name in only) and not (out / name / "test.svm").exists()

    def libsvm_set(name, p, description, missing):
        if not want(name):
            return
        if p.exists():
            X, y = load_svmlight_file(str(p))
            split_write(out / name, X, y, dict(name=name, kind="real", description=description))
        else:
            skipped[name] = missing

    libsvm_set("heart_scale", root / "data-cache" / "heart_scale",
               "LIBSVM heart_scale (Statlog heart, features scaled to [-1,1])",
               f"{root / 'data-cache' / 'heart_scale'} missing (bash scripts/fetch-data heart-scale could not fetch it)")
    libsvm_set("spam", root / "data" / "spamassassin.svm.gz",
               "SpamAssassin tf-idf, unit-norm rows (data/spamassassin.svm.gz)",
               f"{root / 'data' / 'spamassassin.svm.gz'} missing")
    if want("fashion_0v6"):
        p = root / "data-cache" / "fashion-mnist" / "train.svm.gz"
        if p.exists():
            X, y = load_svmlight_file(str(p), n_features=784)
            keep = (y == 0) | (y == 6)
            X = X[keep]
            # back to the raw pixel values 0..255 (the cache stores v/255 to 4 digits)
            X.data = np.round(X.data * 255.0)
            y = np.where(y[keep] == 0, 1, -1)  # T-shirt/top (+1) vs shirt (-1)
            split_write(out / "fashion_0v6", X, y, dict(name="fashion_0v6", kind="real",
                        description="Fashion-MNIST train, T-shirt/top vs shirt, raw pixels 0..255 (12k rows)"))
        else:
            skipped["fashion_0v6"] = f"{p} missing (bash scripts/fetch-data fashion-mnist could not fetch it)"
    for name, why in skipped.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        (out / name / "skipped.txt").write_text(why)


ORDER = ["heart_scale", "spam", "fashion_0v6", "scaled", "outliers", "binary", "counts", "sparse_wide",
         "tfidf_short", "rcv1_shaped", "separable", "noisy"]


def cmd_prepare(a):
    out = Path(a.data)
    out.mkdir(parents=True, exist_ok=True)
    only = set(a.only.split(",")) if a.only else None
    real_sets(out, Path(a.root), only)
    gen_sets(out, only)


# --------------------------------------------------------------------------- the reference


def load(path, n_features=None):
    from sklearn.datasets import load_svmlight_file

    X, y = load_svmlight_file(str(path), n_features=n_features, dtype=np.float64)
    X = sp.csr_matrix(X)
    X.indices, X.indptr = X.indices.astype(np.int32), X.indptr.astype(np.int32)
    return X, np.where(y > 0, 1.0, -1.0)


def objective(X, y, lam):
    n, d = X.shape
    Xt = X.T.tocsr()

    def f(theta):
        w, b = theta[:d], theta[d]
        m = y * (X @ w + b)
        loss = np.logaddexp(0.0, -m).mean() + 0.5 * lam * (w @ w)
        s = -y * np.exp(-np.logaddexp(0.0, m))  # d/dmargin of log(1+e^{-y m}) = -y σ(-y m)
        g = np.empty(d + 1)
        g[:d] = Xt @ s / n + lam * w
        g[d] = s.mean()
        return loss, g

    return f


class _OutOfTime(Exception):
    pass


def exact_optimum(X, y, lam, budget=None, warm=None):
    """Minimum of mean logistic loss + λ/2‖w‖² (bias free), float64.

    1. scikit-learn LogisticRegression(C=1/(nλ), lbfgs, tol 1e-12), max_iter capped (a start);
    2. from there, scipy's Newton-CG (exact Hessian-vector products) and then L-BFGS-B
       (gtol 1e-12, ftol 1e-15), both on our own objective, in coordinates where every column
       has unit RMS (w = v / rms: the same objective and optimum, only better conditioned),
       within a wall-time budget; the lowest objective seen is kept, with its gradient's
       max-norm in the original coordinates (the check that it is the optimum)."""
    from scipy.optimize import minimize
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    budget = float(os.environ.get("PANEL_REF_SECONDS", 40)) if budget is None else budget
    n, d = X.shape
    f = objective(X, y, lam)
    res = {"lambda": lam}
    t0 = time.perf_counter()
    best = [math.inf, np.zeros(d + 1)]
    v0, _ = f(best[1])
    best[0] = v0
    if lam > 0 and warm is None:
        with warnings.catch_warnings(record=True) as wlist:
            warnings.simplefilter("always")
            clf = LogisticRegression(C=1.0 / (n * lam), solver="lbfgs", tol=1e-12, max_iter=SK_MAX_ITER)
            clf.fit(X, y)
        pos = list(clf.classes_).index(1.0)
        sign = 1.0 if pos == 1 else -1.0
        th = np.concatenate([sign * clf.coef_.ravel(), [sign * clf.intercept_[0]]])
        v, g = f(th)
        res["sklearn"] = dict(objective=float(v), grad_inf=float(np.abs(g).max()), n_iter=int(np.max(clf.n_iter_)),
                              max_iter=SK_MAX_ITER,
                              converged=not any(issubclass(w.category, ConvergenceWarning) for w in wlist),
                              seconds=time.perf_counter() - t0)
        if v < best[0]:
            best[:] = [v, th]
    # Column scaling: w_j = v_j / r_j.
    sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    r = np.where(sq > 0, np.sqrt(sq), 1.0)
    inv = np.concatenate([1.0 / r, [1.0]])
    Xs = sp.csr_matrix(X @ sp.diags(1.0 / r))
    Xst = Xs.T.tocsr()
    if warm is not None and len(warm) == d + 1:
        v, _ = f(warm)
        res["warm_start"] = dict(objective=float(v), source="cached optimum of an earlier run (same data, same λ)")
        if v < best[0]:
            best[:] = [v, np.asarray(warm, dtype=np.float64)]
    deadline = time.perf_counter() + budget  # the budget is for the scipy stages

    def fs(u):
        th = u * inv
        val, g = f(th)
        if val < best[0]:
            best[0], best[1] = val, th.copy()
        if time.perf_counter() > deadline:
            raise _OutOfTime
        return val, g * inv  # chain rule: d/du = d/dθ · inv

    def hessp(u, p):
        th = u * inv
        m = X @ th[:d] + th[d]
        s = 1.0 / (1.0 + np.exp(-m))
        h = s * (1.0 - s)
        pw, pb = p[:d], p[d]
        q = h * (Xs @ pw + pb)
        out = np.empty(d + 1)
        out[:d] = Xst @ q / n + lam * pw * inv[:d] ** 2
        out[d] = q.mean()
        return out

    for method, opts in (("Newton-CG", {"xtol": 1e-14, "maxiter": 10000}),
                         ("L-BFGS-B", {"gtol": 1e-12, "ftol": 1e-15, "maxiter": 100000, "maxcor": 30})):
        t1 = time.perf_counter()
        u0 = best[1] / inv
        info = dict(seconds=None)
        try:
            kw = dict(hessp=hessp) if method == "Newton-CG" else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rr = minimize(lambda u: fs(u), u0, jac=True, method=method, options=opts, **kw)
            info.update(n_iter=int(rr.nit), message=str(rr.message))
        except _OutOfTime:
            info.update(message=f"stopped: wall-time budget of {budget:.0f} s (PANEL_REF_SECONDS) spent")
        v, g = f(best[1])
        info.update(objective=float(v), grad_inf=float(np.abs(g).max()), seconds=time.perf_counter() - t1)
        res[method] = info
        if time.perf_counter() > deadline:
            break
    th = best[1]
    v, g = f(th)
    res.update(optimum=float(v), grad_inf=float(np.abs(g).max()), w_norm=float(np.linalg.norm(th[:d])),
               bias=float(th[d]), seconds=time.perf_counter() - t0, budget_seconds=budget)
    res["train_accuracy_at_optimum"] = float(np.mean(np.sign(X @ th[:d] + th[d]) == y))
    res["_theta"] = th
    return res


# --------------------------------------------------------------------------- test metrics


def scores(p, y):
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    yy = (y > 0).astype(np.float64)
    ll = float(-np.mean(yy * np.log(p) + (1 - yy) * np.log(1 - p)))
    acc = float(np.mean((p >= 0.5) == (yy > 0)))
    return dict(log_loss=ll, accuracy=acc)


def sklearn_metrics(Xtr, ytr, Xte, yte):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    out = {}
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as wl:
        warnings.simplefilter("always")
        sgd = SGDClassifier(loss="log_loss", random_state=0).fit(Xtr, ytr)
    out["sgd"] = dict(scores(sgd.predict_proba(Xte)[:, list(sgd.classes_).index(1.0)], yte),
                      seconds=time.perf_counter() - t0, n_iter=int(sgd.n_iter_),
                      converged=not any(issubclass(w.category, ConvergenceWarning) for w in wl))
    t0 = time.perf_counter()
    note = None
    with warnings.catch_warnings(record=True) as wl:
        warnings.simplefilter("always")
        lr = LogisticRegression().fit(Xtr, ytr)
    if any(issubclass(w.category, ConvergenceWarning) for w in wl):
        note = "LogisticRegression() did not converge in 100 iterations; refit with max_iter=1000"
        with warnings.catch_warnings(record=True) as wl:
            warnings.simplefilter("always")
            lr = LogisticRegression(max_iter=1000).fit(Xtr, ytr)
        if any(issubclass(w.category, ConvergenceWarning) for w in wl):
            note += " (still not converged)"
    out["logreg"] = dict(scores(lr.predict_proba(Xte)[:, list(lr.classes_).index(1.0)], yte),
                         seconds=time.perf_counter() - t0, n_iter=int(np.max(lr.n_iter_)), note=note)
    return out


# --------------------------------------------------------------------------- wildsgd


def last_line(text):
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def run_wildsgd(bin_, train, test, work, seed, extra):
    work.mkdir(parents=True, exist_ok=True)
    rep, model = work / f"seed{seed}.json", work / f"seed{seed}.model"
    for p in (rep, model):
        if p.exists():
            p.unlink()
    cmd = [bin_, "train", "--model", "logistic", "--data", str(train), "--threads", str(THREADS),
           "--seed", str(seed), "--loss-rows", "0", "--report", str(rep), "--out", str(model), "--quiet", *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    out = dict(seed=seed, command=" ".join(cmd), rc=r.returncode, wall_seconds=wall)
    if r.returncode != 0 or not rep.exists():
        out.update(failed=True, error=last_line(r.stderr) or f"exit {r.returncode}, no report")
        return out
    j = json.loads(rep.read_text())
    losses = [e["train_loss"] for e in j["epochs"]]
    out.update(failed=False, l2=j.get("l2"), policy=j.get("policy"), order=j.get("order"),
               samples_per_sec=j.get("samples_per_sec"), losses=losses,
               learning_rates=[e.get("learning_rate") for e in j["epochs"]],
               nonfinite=any(not math.isfinite(v) for v in losses))
    if seed == SEEDS[0]:
        probs = work / "test.probs"
        r = subprocess.run([bin_, "predict", "--model", str(model), "--data", str(test), "--out", str(probs)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            out["predict_error"] = last_line(r.stderr)
        else:
            out["test_probs"] = str(probs)
    return out


def cached_optimum(d, X, y, lam):
    """The optimum depends only on the data and λ: it is kept next to the data
    (optimum-<λ>.json/.npy) and reused when its gradient max-norm is <= 1e-6; otherwise solved again,
    warm-started from the cached point, and the cache kept if the new point is lower."""
    key = f"optimum-{lam!r}"
    jp, npp = d / f"{key}.json", d / f"{key}.npy"
    warm, old = None, None
    if jp.exists() and npp.exists():
        old = json.loads(jp.read_text())
        if old.get("grad_inf", 1) <= 1e-6 and old.get("shape") == list(X.shape):
            return dict(old, cached=True)
        warm = np.load(npp)
    res = exact_optimum(X, y, lam, warm=warm)
    res["shape"] = list(X.shape)
    if old is None or res["optimum"] <= old["optimum"]:
        theta = np.concatenate([res.pop("_theta")]) if "_theta" in res else None
        if theta is not None:
            np.save(npp, theta)
        jp.write_text(json.dumps(res, indent=1, default=float))
    res.pop("_theta", None)
    return dict(res, cached=False)


def probe_l2(bin_, train, work, extra):
    rep = work / "probe.json"
    cmd = [bin_, "train", "--model", "logistic", "--data", str(train), "--threads", "1", "--epochs", "1",
           "--lr", "1e-9", "--loss-rows", "1", "--report", str(rep), "--quiet", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not rep.exists():
        return None
    return json.loads(rep.read_text()).get("l2")


def cmd_bench(a):
    data, out = Path(a.data), Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    machine = dict(nproc=os.cpu_count(), platform=platform.platform(), python=platform.python_version())
    try:
        machine["cpu"] = [ln.split(":", 1)[1].strip() for ln in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if ln.startswith("Model name")][0]
    except Exception:  # noqa: BLE001
        machine["cpu"] = platform.processor()
    try:
        machine["nproc"] = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout)
    except Exception:  # noqa: BLE001
        pass
    import scipy
    import sklearn

    versions = dict(numpy=np.__version__, scipy=scipy.__version__, sklearn=sklearn.__version__)
    try:
        versions["wildsgd"] = subprocess.run([a.wildsgd, "--version"], capture_output=True, text=True).stdout.strip()
    except Exception:  # noqa: BLE001
        pass
    try:  # read-only: which tree the binary was built from
        git = lambda *c: subprocess.run(["git", "-C", str(HERE.parents[1]), *c], capture_output=True,
                                        text=True).stdout.rstrip()
        versions["git_head"] = git("rev-parse", "--short", "HEAD")
        versions["git_dirty"] = [ln[3:] for ln in git("status", "--porcelain", "--", ":/src", ":/Cargo.toml").splitlines()]
    except Exception:  # noqa: BLE001
        pass
    try:
        versions["binary_mtime"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(os.path.getmtime(a.wildsgd)))
    except OSError:
        pass
    results = []
    only = set(a.only.split(",")) if a.only else None
    for name in ORDER:
        if only and name not in only:
            continue
        d = data / name
        if (d / "skipped.txt").exists() or not (d / "test.svm").exists():
            why = (d / "skipped.txt").read_text() if (d / "skipped.txt").exists() else "not prepared"
            results.append(dict(name=name, skipped=why))
            print(f"panel: {name}: skipped ({why})", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        meta = json.loads((d / "meta.json").read_text())
        Xtr, ytr = load(d / "train.svm")
        nf = max(Xtr.shape[1], meta["features"])
        Xtr, ytr = load(d / "train.svm", n_features=nf)
        Xte, yte = load(d / "test.svm", n_features=nf)
        runs = [run_wildsgd(a.wildsgd, d / "train.svm", d / "test.svm", Path(a.work) / name, s, a.wildsgd_args)
                for s in SEEDS]
        ok = [r for r in runs if not r["failed"]]
        lam = next((r["l2"] for r in ok if r.get("l2") is not None), None)
        lam_source = "report"
        if lam is None:
            # Every seed failed: the λ the defaults use comes from a probe run's report (1 epoch,
            # a negligible rate, the same extra flags), so the optimum can still be shown.
            lam, lam_source = probe_l2(a.wildsgd, d / "train.svm", Path(a.work) / name, a.wildsgd_args), "probe"
        if lam is None and a.assume_l2 is not None:
            # Older binaries' reports have no `l2`: the caller says what the defaults use.
            lam, lam_source = a.assume_l2, "--assume-l2"
        res = dict(name=name, meta=meta, train_shape=[int(Xtr.shape[0]), int(Xtr.shape[1])],
                   nnz_per_row=float(Xtr.nnz / Xtr.shape[0]), wildsgd=runs, zero_objective=math.log(2.0),
                   lambda_source=lam_source)
        if lam is None:
            res["optimum"] = None
        else:
            # The width wildsgd trains on is the train file's largest index: features absent from
            # the training rows have weight 0 at the optimum either way.
            res["optimum"] = cached_optimum(d, Xtr, ytr, float(lam))
            fstar = res["optimum"]["optimum"]
            for r in ok:
                r["gap"] = [(v - fstar) / fstar if fstar > 0 else None for v in r["losses"]]
                r["gap_abs"] = [v - fstar for v in r["losses"]]
        sk = sklearn_metrics(Xtr, ytr, Xte, yte)
        res["test"] = dict(sklearn_sgd=sk["sgd"], sklearn_logreg=sk["logreg"])
        r1 = runs[0]
        if not r1["failed"] and "test_probs" in r1:
            p = np.loadtxt(r1.pop("test_probs"), dtype=np.float64, ndmin=1)
            res["test"]["wildsgd"] = scores(p, yte)
            res["test"]["wildsgd"]["nonfinite_probs"] = int(np.sum(~np.isfinite(p)))
        else:
            res["test"]["wildsgd"] = None
        res["seconds"] = time.perf_counter() - t0
        summarise(res)
        results.append(res)
        print(f"panel: {name}: {res['seconds']:.1f} s; " + short(res), file=sys.stderr)
    doc = dict(command_line=a.command_line, tree_note=a.tree_note, machine=machine, versions=versions, seeds=SEEDS, threads=THREADS,
               wildsgd_args=a.wildsgd_args, total_seconds=time.perf_counter() - t_start, sets=results)
    (out / "panel.json").write_text(json.dumps(doc, indent=1, default=float) + "\n")
    write_md(doc, out / "panel.md")
    plot(doc, out / "panel.png")
    print((out / "panel.md").read_text())


def summarise(res):
    ok = [r for r in res["wildsgd"] if not r["failed"]]
    s = dict(seeds_ok=len(ok), seeds_failed=len(res["wildsgd"]) - len(ok),
             failures=sorted({r["error"] for r in res["wildsgd"] if r["failed"]}))
    if ok and res.get("optimum"):
        fin = np.array([r["losses"][-1] for r in ok])
        ep1 = np.array([r["losses"][0] for r in ok])
        fstar = res["optimum"]["optimum"]
        s["epochs"] = len(ok[0]["losses"])
        s["final_objective"] = fin.tolist()
        s["epoch1_objective"] = ep1.tolist()
        if fstar > 0:
            g = (fin - fstar) / fstar
            s["gap_median"], s["gap_max"] = float(np.median(g)), float(np.max(g))
        s["gap_abs_median"], s["gap_abs_max"] = float(np.median(fin - fstar)), float(np.max(fin - fstar))
        s["spread"] = float((fin.max() - fin.min()) / fin.mean()) if len(fin) > 1 else None
        s["epoch1_above_zero_model"] = int(np.sum(ep1 > res["zero_objective"]))
        # Seeds stopped in epoch 1 by wildsgd's divergence check: their epoch-1 objective is in the message.
        import re
        s["epoch1_failed_above_zero_model"] = 0
        for r in res["wildsgd"]:
            m = r["failed"] and re.search(r"diverged in epoch 1: the training objective ([0-9.eE+-]+|inf|NaN)", r["error"])
            if m and not float(m.group(1)) <= res["zero_objective"]:
                s["epoch1_failed_above_zero_model"] += 1
        s["final_above_zero_model"] = int(np.sum(fin > res["zero_objective"]))
        s["samples_per_sec_median"] = float(np.median([r["samples_per_sec"] for r in ok]))
        s["nonfinite_runs"] = int(sum(r["nonfinite"] for r in ok))
    res["summary"] = s


def short(res):
    s = res["summary"]
    if "gap_median" in s:
        return f"gap median {100 * s['gap_median']:.3g}%, max {100 * s['gap_max']:.3g}%, failed {s['seeds_failed']}"
    return f"failed {s['seeds_failed']}: {s['failures']}"


# --------------------------------------------------------------------------- report


def pct(x):
    if x is None or not math.isfinite(x):
        return str(x)
    a = abs(100 * x)
    if a >= 100:
        return f"{100 * x:,.0f}"
    if a >= 1:
        return f"{100 * x:.2f}"
    return f"{100 * x:.2g}"


def write_md(doc, path):
    L = []
    L.append("# wildsgd defaults panel (logistic regression)\n")
    L.append(f"Command: `{doc['command_line']}`  ")
    m = doc["machine"]
    L.append(f"Machine: {m.get('nproc')} CPUs (`nproc`), {m.get('cpu')}; {m.get('platform')}  ")
    v = doc["versions"]
    L.append(f"Versions: {v.get('wildsgd', '?')}, numpy {v['numpy']}, scipy {v['scipy']}, scikit-learn {v['sklearn']}  ")
    if doc.get("tree_note"):
        L.append(f"Tree: {doc['tree_note']}  ")
    elif v.get("git_head"):
        dirty = v.get("git_dirty") or []
        L.append(f"Tree: git {v['git_head']}" + (f" plus uncommitted changes in {len(dirty)} file(s) under src/ "
                 f"({', '.join(dirty)})" if dirty else " (src/ clean)") + f"; binary built {v.get('binary_mtime', '?')}  ")
    extra = " ".join(doc["wildsgd_args"]) or "(none)"
    L.append(f"wildsgd: `train --model logistic --threads {doc['threads']} --seed 1..5 --loss-rows 0`, "
             f"extra flags: {extra}; panel wall time {doc['total_seconds']:.0f} s\n")
    L.append("Gap = (objective after the last epoch − exact optimum) / optimum, over the 5 seeds; "
             "objective = mean logistic loss + λ/2‖w‖² on the training rows (bias not penalised). "
             "Epoch 1 vs zero: how many seeds end epoch 1 above the zero model's ln 2 = 0.693, counting seeds "
             "that wildsgd stopped in epoch 1 as diverged (the median epoch-1 objective is of the completed runs). Spread = (max − min)/mean of the 5 final objectives. "
             "Test columns: wildsgd (seed 1) / SGDClassifier(loss='log_loss', random_state=0) / LogisticRegression(). "
             "samples/s is wildsgd's own training throughput (median of the seeds); on a shared 2-core machine it "
             "varies between runs by 2x or more, so read it as an order of magnitude.\n")
    hdr = ["set", "train shape (rows × feats, nnz/row)", "λ", "optimum f* (‖∇‖∞)", "median gap %", "max gap %",
           "epoch-1 > ln2 (median obj)", "spread %", "test log loss wildsgd / SGDC / LogReg",
           "test acc % wildsgd / SGDC / LogReg", "wildsgd samples/s"]
    L.append("| " + " | ".join(hdr) + " |")
    L.append("|" + "---|" * len(hdr))
    notes = []
    for r in doc["sets"]:
        if "skipped" in r:
            L.append(f"| {r['name']} | skipped: {r['skipped']} |" + " |" * (len(hdr) - 2))
            continue
        s = r["summary"]
        o = r.get("optimum") or {}
        shape = f"{r['train_shape'][0]:,} × {r['train_shape'][1]:,}, {r['nnz_per_row']:.1f}"
        lam = f"{o.get('lambda', float('nan')):.3g}" if o else "-"
        opt = f"{o['optimum']:.6g} ({o['grad_inf']:.1e})" if o else "-"
        t = r["test"]
        def tl(k, f):
            x = t.get(k)
            return "fail" if x is None else f(x)
        ll = " / ".join(tl(k, lambda x: f"{x['log_loss']:.4f}") for k in ("wildsgd", "sklearn_sgd", "sklearn_logreg"))
        acc = " / ".join(tl(k, lambda x: f"{100 * x['accuracy']:.2f}") for k in ("wildsgd", "sklearn_sgd", "sklearn_logreg"))
        if s["seeds_ok"] == 0:
            L.append(f"| {r['name']} | {shape} | {lam} | {opt} | FAILED ({s['seeds_failed']}/5) | | | | {ll} | {acc} | |")
        else:
            fail = f" ({s['seeds_failed']} of 5 failed)" if s["seeds_failed"] else ""
            med = (pct(s["gap_median"]) if "gap_median" in s else
                   f"abs {s['gap_abs_median']:.3g}" if "gap_abs_median" in s else "no λ: no optimum")
            mx = (pct(s["gap_max"]) if "gap_max" in s else
                  f"abs {s['gap_abs_max']:.3g}" if "gap_abs_max" in s else "-")
            nfe = s.get("epoch1_failed_above_zero_model", 0)
            if "epoch1_objective" not in s:
                L.append(f"| {r['name']} | {shape} | {lam} | {opt} | {med}{fail} | {mx} | | | {ll} | {acc} | |")
                continue
            e1 = (f"{s['epoch1_above_zero_model'] + nfe}/{s['seeds_ok'] + nfe} ({np.median(s['epoch1_objective']):.4g})"
                  + (f" incl. {nfe} stopped in epoch 1" if nfe else ""))
            sp_ = pct(s["spread"]) if s.get("spread") is not None else "-"
            L.append(f"| {r['name']} | {shape} | {lam} | {opt} | {med}{fail} | {mx} | {e1} | {sp_} | {ll} | {acc} | "
                     f"{s['samples_per_sec_median']:,.0f} |")
        if r.get("lambda_source") == "--assume-l2":
            notes.append(f"- {r['name']}: the binary's report has no `l2`; λ = {o.get('lambda')} was given with --assume-l2")
        if r.get("lambda_source") == "probe":
            notes.append(f"- {r['name']}: every seed failed, so λ is from a probe run's report "
                         "(1 epoch at --lr 1e-9, same extra flags)")
        if s["seeds_failed"]:
            def brief(e):
                for cut in (" (a finite", "; "):
                    if cut in e:
                        e = e[:e.index(cut)]
                return e[:200]
            notes.append(f"- {r['name']}: {s['seeds_failed']} of 5 seeds failed (exit status non-zero; full stderr line in "
                         "panel.json): " + "; ".join(f"seed {x['seed']}: `{brief(x['error'])}`"
                                                     for x in r["wildsgd"] if x["failed"]))
        if s.get("nonfinite_runs"):
            notes.append(f"- {r['name']}: {s['nonfinite_runs']} run(s) reported a non-finite training objective")
        if s.get("final_above_zero_model"):
            notes.append(f"- {r['name']}: {s['final_above_zero_model']} of {s['seeds_ok']} seeds end above the zero model's "
                         f"objective (ln 2) after the last epoch")
        if o and o.get("grad_inf", 0) > 1e-6:
            notes.append(f"- {r['name']}: the reference's gradient max-norm is {o['grad_inf']:.1e}: the optimum may not be exact")
        if o and o.get("optimum", 1) < 1e-3:
            notes.append(f"- {r['name']}: the optimum is near 0 ({o['optimum']:.3g}): relative gaps are large; absolute gap median "
                         f"{s.get('gap_abs_median', float('nan')):.3g}")
        lg = t.get("sklearn_logreg") or {}
        if lg.get("note"):
            notes.append(f"- {r['name']}: {lg['note']}")
        sg = t.get("sklearn_sgd") or {}
        if sg and not sg.get("converged", True):
            notes.append(f"- {r['name']}: SGDClassifier stopped at max_iter without converging")
        if (t.get("wildsgd") or {}).get("nonfinite_probs"):
            notes.append(f"- {r['name']}: wildsgd predicted {t['wildsgd']['nonfinite_probs']} non-finite probabilities")
    L.append("")
    if notes:
        L.append("Notes:\n")
        L.extend(notes)
        L.append("")
    L.append("Sets:\n")
    for r in doc["sets"]:
        if "meta" in r:
            L.append(f"- {r['name']} ({r['meta']['kind']}): {r['meta']['description']}; "
                     f"{r['meta']['rows']:,} rows split 80/20, {100 * r['meta']['positive_fraction']:.0f}% positive")
    L.append("\nReference optimum (float64): scikit-learn LogisticRegression(C=1/(nλ), lbfgs, tol 1e-12, "
             f"max_iter {SK_MAX_ITER}) as a start, then scipy Newton-CG (exact Hessian-vector products) and L-BFGS-B "
             "(gtol 1e-12, ftol 1e-15) on the same objective in unit-RMS column coordinates, within a wall-time budget "
             "per set (kept next to the data and reused when its gradient max-norm is at most 1e-6, warm-started otherwise); "
             "the lowest objective seen is kept; ‖∇‖∞ is the max-norm of its gradient (original coordinates). "
             "Raw numbers (every seed, every epoch, each solver's stage): panel.json; plot: panel.png.")
    path.write_text("\n".join(L) + "\n")


def plot(doc, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # noqa: BLE001
        print(f"panel: no plot ({e})", file=sys.stderr)
        return
    sets = [r for r in doc["sets"] if "summary" in r]
    ncol = 4
    nrow = max(1, math.ceil(len(sets) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4 * ncol, 3 * nrow), squeeze=False)
    for ax in axes.ravel()[len(sets):]:
        ax.axis("off")
    for ax, r in zip(axes.ravel(), sets):
        ok = [x for x in r["wildsgd"] if not x["failed"] and x.get("gap_abs")]
        nf = len(r["wildsgd"]) - len(ok)
        ax.set_title(r["name"] + (f" ({nf} of {len(r['wildsgd'])} seeds failed)" if nf else ""), fontsize=10)
        if not ok:
            ax.text(0.5, 0.5, "all seeds failed", ha="center", transform=ax.transAxes)
            continue
        rel = r["optimum"]["optimum"] > 0
        key = "gap" if rel else "gap_abs"
        n_ep = min(len(x[key]) for x in ok)
        G = np.array([x[key][:n_ep] for x in ok], dtype=np.float64)
        if rel:
            G = 100 * G
        ep = np.arange(1, n_ep + 1)
        med = np.median(G, axis=0)
        ax.plot(ep, np.maximum(med, 1e-9), "o-", ms=3, label="median")
        ax.fill_between(ep, np.maximum(G.min(0), 1e-9), np.maximum(G.max(0), 1e-9), alpha=0.25, label="min-max")
        zero = r["zero_objective"] - r["optimum"]["optimum"]
        zero = 100 * zero / r["optimum"]["optimum"] if rel else zero
        ax.axhline(zero, color="grey", ls=":", lw=1, label="zero model")
        ax.set_yscale("log")
        ax.set_xlabel("epoch", fontsize=8)
        ax.set_ylabel("gap %" if rel else "gap (abs)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle("wildsgd defaults: training objective gap to the exact optimum, 2 threads, 5 seeds", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="write the panel's train/test files (once)")
    p.add_argument("--data", required=True)
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[2]))
    p.add_argument("--only", default="")
    p.set_defaults(f=cmd_prepare)
    p = sub.add_parser("bench", help="run the panel")
    p.add_argument("--wildsgd", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--only", default="")
    p.add_argument("--command-line", default="")
    p.add_argument("--assume-l2", type=float, default=None,
                   help="λ to use when the binary's report has no `l2` (binaries before the l2 field)")
    p.add_argument("--tree-note", default="", help="what the binary was built from, if not this checkout")
    p.add_argument("--wildsgd-args", nargs=argparse.REMAINDER, default=[])
    p.set_defaults(f=cmd_bench)
    a = ap.parse_args()
    a.f(a)


if __name__ == "__main__":
    main()
