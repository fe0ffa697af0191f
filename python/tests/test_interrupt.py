"""Ctrl-C during fit: KeyboardInterrupt, and the estimator keeps the
consistent weights the workers held when they stopped."""

import os
import signal
import threading

import numpy as np
import pytest
import scipy.sparse as sp

from wildsgd import SGDClassifier, SGDRegressor

pytestmark = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals")

# Far more epochs than could finish before the signal, however fast the machine.
EPOCHS = 100_000


def interrupted_fit(est, X, y):
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        est.fit(X, y)
    timer.join()
    assert est.n_iter_ < EPOCHS
    assert est.report_["interrupted"], est.report_["outcome"]
    assert np.all(np.isfinite(est.coef_))
    return est


def data(seed):
    X = sp.random(20_000, 2_000, density=0.01, format="csr", dtype=np.float32, random_state=seed)
    return X, np.random.default_rng(seed)


def test_ctrl_c_stops_training_and_keeps_the_weights():
    X, rng = data(0)
    clf = interrupted_fit(SGDClassifier(epochs=EPOCHS, n_jobs=2, random_state=0), X, rng.integers(0, 2, X.shape[0]))
    clf.predict(X[:10])  # usable as it is


def test_an_interrupted_regressor_predicts_in_the_targets_units():
    # It trains on a standardised target: the weights it keeps must be scaled back.
    X, rng = data(1)
    y = 1000.0 + 10.0 * rng.normal(size=X.shape[0])
    reg = interrupted_fit(SGDRegressor(epochs=EPOCHS, random_state=0), X, y)
    assert abs(reg.predict(X).mean() - 1000.0) < 50.0
