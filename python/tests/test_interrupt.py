"""Ctrl-C during fit: KeyboardInterrupt, and the estimator keeps the
consistent weights the workers held when they stopped."""

import os
import signal
import threading

import numpy as np
import pytest
import scipy.sparse as sp

from wildsgd import SGDClassifier


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="needs POSIX signals")
def test_ctrl_c_stops_training_and_keeps_the_weights():
    rng = np.random.default_rng(0)
    X = sp.random(20_000, 2_000, density=0.01, format="csr", dtype=np.float32, random_state=0)
    y = rng.integers(0, 2, X.shape[0])
    # Far more epochs than could finish before the signal, however fast the machine.
    clf = SGDClassifier(epochs=100_000, n_jobs=2, random_state=0)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y)
    timer.join()
    assert clf.n_iter_ < 100_000
    assert clf.report_["interrupted"], clf.report_["outcome"]
    assert np.all(np.isfinite(clf.coef_))
    clf.predict(X[:10])  # usable as it is
