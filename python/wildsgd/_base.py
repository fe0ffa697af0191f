"""What every wildsgd estimator shares: threads, seeds, input conversion,
training through the Rust core, and checkpoint files."""

import os

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from . import _core

DEFAULTS = _core.defaults()


def resolve_threads(n_jobs):
    """Threads for ``n_jobs``, as scikit-learn reads it: ``None`` is 1, -1
    every core, -2 all but one, and so on."""
    cores = os.cpu_count() or 1
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, (int, np.integer)):
        raise ValueError(f"n_jobs must be an int or None, got {n_jobs!r}")
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive count or -1")
    return int(n_jobs) if n_jobs > 0 else max(1, cores + 1 + int(n_jobs))


def resolve_seed(random_state):
    """A 63-bit seed for the Rust trainer from a scikit-learn ``random_state``."""
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def rows_for_core(X):
    """``(indptr, indices, data)`` of ``X`` as the core reads it.

    A CSR matrix with ``float32`` data and ``int32`` indices in canonical
    form (sorted, no duplicates) is passed as it is: the core reads its
    ``indices`` and ``data`` in place. Otherwise scipy makes the converted
    copy: ``float64`` data is cast to ``float32``, ``int64`` indices to
    ``int32``, and unsorted or duplicate indices are summed and sorted.
    ``indptr`` is always widened to ``int64`` (8 bytes per row). A dense
    C-contiguous ``float32`` array is read in place too (``indptr`` and
    ``indices`` are then ``None``); another dense array is converted to one.
    """
    if sp.issparse(X):
        X = X.tocsr() if X.format != "csr" else X
        if X.dtype != np.float32:
            X = X.astype(np.float32)
        if X.indices.dtype != np.int32:
            if X.shape[1] > np.iinfo(np.int32).max:
                raise ValueError(f"{X.shape[1]} columns; at most {np.iinfo(np.int32).max}")
            X = sp.csr_matrix((X.data, X.indices.astype(np.int32), X.indptr), shape=X.shape)
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        indptr = np.ascontiguousarray(X.indptr, dtype=np.int64)
        return indptr, np.ascontiguousarray(X.indices), np.ascontiguousarray(X.data)
    X = np.ascontiguousarray(X, dtype=np.float32)
    return None, None, X.reshape(-1)


def settings(est, kind, epochs=None, start_epoch=0):
    """The trainer's settings for ``est`` (a ``kind`` of ``"linear"`` or
    ``"mf"`` for its defaults): ``epochs`` more epochs from ``start_epoch``,
    or the estimator's own count."""
    rate, decay = DEFAULTS[f"{kind}_schedule"]
    return _core.Settings(
        threads=resolve_threads(est.n_jobs),
        policy=est.policy,
        order=est.order,
        epochs=int(epochs if epochs is not None else (est.epochs or DEFAULTS[f"{kind}_epochs"])),
        start_epoch=int(start_epoch),
        eta0=float(est.eta0 if est.eta0 is not None else rate),
        decay=float(est.decay if est.decay is not None else decay),
        seed=resolve_seed(est.random_state),
    )


def fit_linear(est, task, X, labels, n_classes, start=None, epochs=None, start_epoch=0):
    """Trains a linear or softmax model on ``X`` through the core; returns
    ``(model, report, interrupted)``."""
    indptr, indices, data = rows_for_core(X)
    alpha = est.alpha if est.alpha is not None else 1.0 / X.shape[0]
    return _core.fit_linear(
        task,
        indptr,
        indices,
        data,
        np.ascontiguousarray(labels, dtype=np.float32),
        X.shape[1],
        n_classes,
        float(alpha),
        est.update,
        bool(est.fit_intercept),
        settings(est, "linear", epochs, start_epoch),
        start,
    )


def raise_if_interrupted(interrupted):
    """After the fitted attributes are set: Ctrl-C stopped training, and the
    estimator holds the weights the workers had when they stopped (every
    sample taken was applied whole)."""
    if interrupted:
        raise KeyboardInterrupt("wildsgd: training interrupted; the estimator holds the weights reached")


def check_params(est):
    """The checks every estimator's ``fit`` makes of its own parameters."""
    if est.alpha is not None and not (np.isfinite(est.alpha) and est.alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0 or None, got {est.alpha!r}")
    if est.epochs is not None and (not isinstance(est.epochs, (int, np.integer)) or est.epochs < 1):
        raise ValueError(f"epochs must be a whole number >= 1 or None, got {est.epochs!r}")
    for name in ("eta0", "decay"):
        v = getattr(est, name)
        if v is not None and not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be a finite number > 0 or None, got {v!r}")


def no_sample_weight(sample_weight):
    if sample_weight is not None:
        raise NotImplementedError(
            "wildsgd does not support sample_weight: its per-sample step has no weight, and "
            "repeating rows would only be honest for whole-number weights"
        )


class CheckpointMixin:
    """``save``/``load`` in the format of ``wildsgd train --out``, and
    pickling through the same bytes."""

    def save(self, path):
        """Writes the fitted model to ``path`` atomically (a crash leaves the
        old file or the new one), in the checkpoint format ``wildsgd
        predict --model`` and ``wildsgd eval --model`` read."""
        self._check_fitted()
        self._model_with_tables().save(os.fspath(path))
        return self

    @classmethod
    def load(cls, path):
        """An estimator fitted from a checkpoint file that ``save`` or
        ``wildsgd train --out`` wrote."""
        est = cls()
        est._set_model(_core.Model.load(os.fspath(path)))
        return est

    def _check_fitted(self):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
