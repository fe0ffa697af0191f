"""``MatrixFactorization``: biased matrix factorisation of (user, item)
ratings, trained by lock-free parallel SGD."""

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, check_array, check_consistent_length

from . import _base
from ._base import DEFAULTS, CheckpointMixin, _core


def _ids(column, name):
    column = np.asarray(column)
    if column.dtype.kind == "f":
        if not np.all(np.isfinite(column)):
            raise ValueError(f"{name} ids must be finite")
    return column


class MatrixFactorization(CheckpointMixin, RegressorMixin, BaseEstimator):
    """Predicts ``mu + b_u + b_i + <p_u, q_i>`` for a (user, item) pair.

    ``X`` is an array of shape ``(n, 2)``: user ids, then item ids (any
    values NumPy can sort: ints, strings); ``y`` the ratings. A pair with an
    id never seen in training falls back to the known side's bias and the
    global mean ``mu``.

    Parameters
    ----------
    rank : int or None, default=None
        Factor length; None is wildsgd's default (100).
    alpha : float or None, default=None
        L2 strength (None: 0.08, scaled per user and item by their counts).
    epochs, eta0, decay, n_jobs, policy, order, random_state
        As for :class:`wildsgd.SGDClassifier` (defaults: 25 epochs, rate
        0.02 then x0.9 per epoch).

    Attributes
    ----------
    users_, items_ : the ids seen in training, in the model's order
    global_mean_, n_features_in_ (2), n_iter_, report_, model_

    Examples
    --------
    >>> import numpy as np
    >>> from wildsgd import MatrixFactorization
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 25)
    >>> mf = MatrixFactorization(rank=4, random_state=0).fit(X, [5.0, 1.0, 1.0, 5.0] * 25)
    >>> mf.predict([[0, 0], [7, 7]]).round(1).tolist()[1]  # an unseen pair: the global mean
    3.0
    """

    def __init__(
        self,
        *,
        rank=None,
        alpha=None,
        epochs=None,
        eta0=None,
        decay=None,
        n_jobs=None,
        policy="auto",
        order="blocks",
        random_state=None,
    ):
        self.rank = rank
        self.alpha = alpha
        self.epochs = epochs
        self.eta0 = eta0
        self.decay = decay
        self.n_jobs = n_jobs
        self.policy = policy
        self.order = order
        self.random_state = random_state

    def _pairs(self, X):
        X = check_array(X, dtype=None, ensure_all_finite=False)
        if X.shape[1] != 2:
            raise ValueError(f"X must have 2 columns (user id, item id), got {X.shape[1]}")
        return _ids(X[:, 0], "user"), _ids(X[:, 1], "item")

    def fit(self, X, y, sample_weight=None):
        """Trains from scratch on pairs ``X`` and ratings ``y``."""
        _base.no_sample_weight(sample_weight)
        _base.check_params(self)
        if self.rank is not None and (not isinstance(self.rank, (int, np.integer)) or self.rank < 1):
            raise ValueError(f"rank must be a whole number >= 1 or None, got {self.rank!r}")
        users, items = self._pairs(X)
        y = check_array(y, ensure_2d=False, dtype=np.float64)
        check_consistent_length(users, y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D ratings, got shape {y.shape}")
        self.users_, u = np.unique(users, return_inverse=True)
        self.items_, i = np.unique(items, return_inverse=True)
        model, report, interrupted = _core.fit_mf(
            u.astype(np.uint32),
            i.astype(np.uint32),
            y.astype(np.float32),
            self.users_.shape[0],
            self.items_.shape[0],
            int(self.rank or DEFAULTS["mf_rank"]),
            float(self.alpha if self.alpha is not None else DEFAULTS["mf_l2"]),
            _base.settings(self, "mf"),
        )
        self._set_model(model, ids_from_model=False)
        self.report_ = report
        _base.raise_if_interrupted(interrupted)
        return self

    def _set_model(self, model, ids_from_model=True):
        if model.kind_name != "mf":
            raise ValueError(f"MatrixFactorization cannot use a {model.kind_name} model")
        self.model_ = model
        self.n_features_in_ = 2
        self.n_iter_ = model.epochs_done
        for attr, table in (("users_", "user_ids_table"), ("items_", "item_ids_table")):
            if ids_from_model:
                saved = model.strings(DEFAULTS[table])
                if saved is None:
                    raise ValueError(f"the model has no {table.split('_')[0]} id table")
                setattr(self, attr, np.array(saved))
        self.global_mean_ = float(self.predict_indices(np.array([-1]), np.array([-1]))[0])

    def predict_indices(self, users, items):
        """Predictions for the model's own row indices (-1: unknown)."""
        return self.model_.predict_pairs(
            np.ascontiguousarray(users, dtype=np.int64), np.ascontiguousarray(items, dtype=np.int64)
        ).astype(np.float64)

    @staticmethod
    def _lookup(known, ids):
        """Each id's row in ``known`` (ids in the model's order, which for a
        command-line model is the order of first appearance), -1 if absent."""
        if known.dtype.kind in "USO" or ids.dtype.kind in "USO":
            known, ids = known.astype(str), ids.astype(str)
        if known.shape[0] == 0:
            return np.full(ids.shape[0], -1)
        order = np.argsort(known, kind="stable")
        pos = np.clip(np.searchsorted(known[order], ids), 0, known.shape[0] - 1)
        return np.where(known[order][pos] == ids, order[pos], -1)

    def predict(self, X):
        """Predicted ratings for the (user, item) pairs ``X``."""
        check_is_fitted(self)
        users, items = self._pairs(X)
        return self.predict_indices(self._lookup(self.users_, users), self._lookup(self.items_, items))

    def _model_with_tables(self):
        m = self.model_.with_strings(DEFAULTS["user_ids_table"], [str(v) for v in self.users_])
        return m.with_strings(DEFAULTS["item_ids_table"], [str(v) for v in self.items_])

