"""Models move between Python and `wildsgd train --out` both ways: one
trained by the command line predicts here, one trained here predicts with
`wildsgd predict`, and the predictions agree."""

import subprocess

import numpy as np
import pytest
from sklearn.datasets import make_classification, make_regression

from wildsgd import MatrixFactorization, SGDClassifier, SGDRegressor


def write_libsvm(path, X, y):
    with open(path, "w") as f:
        for row, label in zip(X, y):
            cols = " ".join(f"{j + 1}:{v:.6g}" for j, v in enumerate(row) if v != 0)
            f.write(f"{label:g} {cols}\n")


def read_back(X):
    """``X`` as the LIBSVM file holds it (6 significant digits)."""
    return np.array([[float(f"{v:.6g}") for v in row] for row in X])


def run(cli, *args):
    out = subprocess.run([cli, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def predictions(cli, model, data):
    return np.array([float(v) for v in run(cli, "predict", "--model", model, "--data", data).split()])


@pytest.mark.parametrize("model", ["logistic", "softmax", "squared"])
def test_cli_model_predicts_here_and_python_model_predicts_there(cli, tmp_path, model):
    if model == "squared":
        X, y = make_regression(600, 8, noise=0.5, random_state=0)
    else:
        X, y = make_classification(600, 8, n_informative=5, n_classes=3 if model == "softmax" else 2, random_state=0)
    data = tmp_path / "data.svm"
    write_libsvm(data, X, y)
    X = read_back(X)
    ckpt = tmp_path / "cli.wsgd"
    run(cli, "train", "--model", model, "--data", data, "--out", ckpt, "--epochs", 3, "--threads", 1, "--seed", 1)
    cls = SGDRegressor if model == "squared" else SGDClassifier
    loaded = cls.load(ckpt)
    theirs = predictions(cli, ckpt, data)
    if model == "logistic":
        np.testing.assert_allclose(loaded.predict_proba(X)[:, 1], theirs, rtol=1e-4, atol=1e-6)
        assert list(loaded.classes_) == [-1, 1]  # the command line's binary labels
    elif model == "softmax":
        np.testing.assert_array_equal(loaded.predict(X), theirs)
    else:
        np.testing.assert_allclose(loaded.predict(X), theirs, rtol=1e-4, atol=1e-4)

    # And back: trained here, saved, predicted by the command line.
    ours = cls(epochs=3, random_state=0).fit(X, y)
    saved = tmp_path / "py.wsgd"
    ours.save(saved)
    theirs = predictions(cli, saved, data)
    if model == "logistic":
        np.testing.assert_allclose(ours.predict_proba(X)[:, 1], theirs, rtol=1e-4, atol=1e-6)
    elif model == "softmax":
        np.testing.assert_array_equal(ours.predict(X), theirs)
    else:
        np.testing.assert_allclose(ours.predict(X), theirs, rtol=1e-4, atol=1e-3)
    again = cls.load(saved)
    np.testing.assert_array_equal(again.predict(X), ours.predict(X))


def test_matrix_factorisation_both_ways(cli, tmp_path):
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 2000), rng.integers(0, 20, 2000)
    y = rng.integers(1, 6, 2000).astype(float)
    ratings = tmp_path / "ratings.tsv"
    with open(ratings, "w") as f:
        for u, i, r in zip(users, items, y):
            f.write(f"u{u}\ti{i}\t{r:g}\n")
    X = np.column_stack([np.char.add("u", users.astype(str)), np.char.add("i", items.astype(str))])
    ckpt = tmp_path / "cli.wsgd"
    run(cli, "train", "--model", "mf", "--data", ratings, "--out", ckpt, "--epochs", 3, "--threads", 1, "--rank", 4)
    loaded = MatrixFactorization.load(ckpt)
    np.testing.assert_allclose(loaded.predict(X), predictions(cli, ckpt, ratings), rtol=1e-4, atol=1e-4)
    ours = MatrixFactorization(rank=4, epochs=3, random_state=0).fit(X, y)
    saved = tmp_path / "py.wsgd"
    ours.save(saved)
    np.testing.assert_allclose(ours.predict(X), predictions(cli, saved, ratings), rtol=1e-4, atol=1e-4)


def test_save_does_not_leave_a_partial_file(tmp_path):
    X, y = make_classification(200, 5, random_state=0)
    clf = SGDClassifier(epochs=1, random_state=0).fit(X, y)
    with pytest.raises(OSError):
        clf.save(tmp_path / "missing-dir" / "m.wsgd")
    assert not (tmp_path / "missing-dir").exists()
