"""Linear estimators: ``SGDClassifier`` (logistic or hinge; softmax for
more than two classes) and ``SGDRegressor`` (squared loss)."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _base
from ._base import DEFAULTS, CheckpointMixin, _core

_CLASSES = DEFAULTS["classes_table"]
# The regressor's target standardisation (shift, scale), kept with the
# model so partial_fit after load continues in the same units.
_TARGET = "target scale"


class _Linear(CheckpointMixin, BaseEstimator):
    def _validate(self, X, y="no_validation", reset=True):
        kw = dict(accept_sparse="csr", dtype=[np.float32, np.float64], reset=reset)
        if isinstance(y, str) and y == "no_validation":
            return validate_data(self, X, **kw)
        return validate_data(self, X, y, y_numeric=not self._classifies, **kw)

    def _scores(self, X):
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        indptr, indices, data = _base.rows_for_core(X)
        z = self.model_.decision(indptr, indices, data, X.shape[1])
        k = self.model_.n_classes
        return z.reshape(X.shape[0], k) if self.model_.kind_name == "softmax" else z

    def _set_model(self, model):
        """The fitted attributes of ``model`` (after fit or load)."""
        kind, loss = model.kind_name, model.loss
        if kind == "mf" or (loss == "squared") == self._classifies:
            what = "a matrix factorisation" if kind == "mf" else f"a {loss or kind} model"
            raise ValueError(f"{type(self).__name__} cannot use {what}")
        if self._classifies:
            self.loss = "hinge" if loss == "hinge" else "log_loss"
        self.model_ = model
        coef, intercept = model.coefficients()
        rows = intercept.shape[0]
        self.coef_ = coef.reshape(rows, -1).astype(np.float64)
        self.intercept_ = intercept.astype(np.float64)
        self.n_features_in_ = model.n_features
        self.n_iter_ = model.epochs_done
        if self._classifies:
            saved = model.strings(_CLASSES)
            if saved is not None:
                self.classes_ = np.array(saved[:-1]).astype(saved[-1])
            elif model.kind_name == "softmax":
                self.classes_ = np.arange(model.n_classes)
            else:
                self.classes_ = np.array([-1, 1])
        if not self._classifies or self.classes_.shape[0] == 2:
            self.coef_ = self.coef_.reshape(1, -1)

    def _model_with_tables(self):
        return self.model_

    def _train(self, X, labels, n_classes, task, start=None, epochs=None, start_epoch=0, finish=None):
        """Trains, sets the fitted attributes (from ``finish(model)`` when
        given: the regressor's scaling back), then raises ``KeyboardInterrupt``
        if Ctrl-C stopped it, so an interrupted model is finished too."""
        model, report, interrupted = _base.fit_linear(
            self, task, X, labels, n_classes, start=start, epochs=epochs, start_epoch=start_epoch
        )
        if finish is not None:
            model = finish(model)
        if self._classifies:
            # The labels travel with the checkpoint (the CLI ignores them).
            c = self.classes_
            model = model.with_strings(_CLASSES, [str(v) for v in c] + [c.dtype.str])
        self._set_model(model)
        self.report_ = report
        _base.raise_if_interrupted(interrupted)
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class SGDClassifier(ClassifierMixin, _Linear):
    """A linear classifier trained by lock-free parallel SGD (Hogwild!).

    Binary problems train a logistic (``loss="log_loss"``) or hinge model;
    more than two classes train one softmax model (multinomial logistic
    regression, not one-vs-rest). Every worker thread updates the shared
    weights after each sample, without locks.

    Parameters
    ----------
    loss : {"log_loss", "hinge"}, default="log_loss"
    alpha : float or None, default=None
        L2 strength of the objective ``mean loss + alpha/2 |w|^2``; None is
        ``1 / n_samples`` (the objective of scikit-learn's
        ``LogisticRegression()``).
    epochs : int or None, default=None
        Passes over the data; None is wildsgd's default (10).
    eta0, decay : float or None
        The learning rate of epoch ``t`` is ``eta0 * decay**t``; None is
        wildsgd's default (8 and 0.8 with the adaptive update).
    update : {"adaptive", "sgd"}, default="adaptive"
        Per-coordinate adaptive steps on feature-normalised units (robust to
        feature scaling), or plain SGD.
    n_jobs : int or None, default=None
        Worker threads: None is 1 (reproducible), -1 every core.
    policy : str, default="auto"
        How an update lands on the shared weights: ``auto``, ``racy``,
        ``atomic``, ``sequential``, ``batched:N``, ``hotcold:K:M``, ... (see
        ``wildsgd train --help``).
    order : str, default="blocks"
        The order rows are visited in each epoch (``blocks``, ``full``).
    fit_intercept : bool, default=True
    random_state : int, RandomState or None, default=None

    Attributes
    ----------
    classes_, coef_, intercept_, n_features_in_, n_iter_, report_, model_

    Examples
    --------
    >>> import numpy as np
    >>> from wildsgd import SGDClassifier
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
    >>> clf = SGDClassifier(random_state=0).fit(X, ["b", "a", "b", "a"])
    >>> clf.predict([[0.0, 1.0]]).tolist()
    ['b']
    """

    _classifies = True

    def __init__(
        self,
        loss="log_loss",
        *,
        alpha=None,
        epochs=None,
        eta0=None,
        decay=None,
        update="adaptive",
        n_jobs=None,
        policy="auto",
        order="blocks",
        fit_intercept=True,
        random_state=None,
    ):
        self.loss = loss
        self.alpha = alpha
        self.epochs = epochs
        self.eta0 = eta0
        self.decay = decay
        self.update = update
        self.n_jobs = n_jobs
        self.policy = policy
        self.order = order
        self.fit_intercept = fit_intercept
        self.random_state = random_state

    def _task(self, n_classes):
        if self.loss not in ("log_loss", "hinge"):
            raise ValueError(f"loss must be 'log_loss' or 'hinge', got {self.loss!r}")
        if n_classes > 2:
            if self.loss != "log_loss":
                raise ValueError(
                    "more than two classes train one softmax model, which needs loss='log_loss' "
                    f"(got {self.loss!r}); wildsgd has no one-vs-rest hinge"
                )
            return "softmax"
        return "logistic" if self.loss == "log_loss" else "hinge"

    def _labels(self, y, n_classes):
        index = np.searchsorted(self.classes_, y)
        if n_classes == 2:
            return np.where(index == 1, 1.0, -1.0)
        return index

    def fit(self, X, y, sample_weight=None):
        """Trains from scratch on ``X`` (dense or sparse) and labels ``y``."""
        _base.no_sample_weight(sample_weight)
        _base.check_params(self)
        X, y = self._validate(X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        k = self.classes_.shape[0]
        if k < 2:
            raise ValueError(f"the data hold only one class ({self.classes_[0]!r}); a classifier needs two or more")
        return self._train(X, self._labels(y, k), k if k > 2 else 0, self._task(k))

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on ``X``, ``y`` from the current weights (the first call
        needs ``classes``, every label there will ever be)."""
        _base.no_sample_weight(sample_weight)
        _base.check_params(self)
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("the first call to partial_fit needs classes (every label there will be)")
            self.classes_ = np.unique(classes)
            if self.classes_.shape[0] < 2:
                raise ValueError("classes must hold two or more labels")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes {classes!r} differ from the first call's {self.classes_!r}")
        unknown = np.setdiff1d(y, self.classes_)
        if unknown.size:
            raise ValueError(f"labels {unknown!r} are not in classes {self.classes_!r}")
        k = self.classes_.shape[0]
        start = None if first else self.model_
        done = 0 if first else self.model_.epochs_done
        return self._train(X, self._labels(y, k), k if k > 2 else 0, self._task(k), start, 1, done)

    def decision_function(self, X):
        """Scores ``w·x + b``: one per row for two classes (positive means
        ``classes_[1]``), one per class otherwise."""
        return self._scores(X).astype(np.float64)

    def predict(self, X):
        z = self._scores(X)
        if z.ndim == 1:
            return self.classes_[(z > 0).astype(int)]
        return self.classes_[np.argmax(z, axis=1)]

    def _has_proba(self):
        return self.loss == "log_loss"

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities (columns in the order of ``classes_``)."""
        z = self._scores(X).astype(np.float64)
        if z.ndim == 1:
            p = 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow
            return np.column_stack([1.0 - p, p])
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class SGDRegressor(RegressorMixin, _Linear):
    """A linear least-squares regressor trained by lock-free parallel SGD.

    Parameters are those of :class:`SGDClassifier` but ``loss`` (always
    squared). Attributes: ``coef_`` (1-D), ``intercept_`` (1-D, one entry),
    ``n_features_in_``, ``n_iter_``, ``report_``, ``model_``.

    Examples
    --------
    >>> import numpy as np
    >>> from wildsgd import SGDRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> reg = SGDRegressor(random_state=0).fit(X, X @ [1.0, -2.0, 0.5] + 3.0)
    >>> bool(abs(reg.intercept_[0] - 3.0) < 0.2)
    True
    """

    _classifies = False

    def __init__(
        self,
        *,
        alpha=None,
        epochs=None,
        eta0=None,
        decay=None,
        update="adaptive",
        n_jobs=None,
        policy="auto",
        order="blocks",
        fit_intercept=True,
        random_state=None,
    ):
        self.alpha = alpha
        self.epochs = epochs
        self.eta0 = eta0
        self.decay = decay
        self.update = update
        self.n_jobs = n_jobs
        self.policy = policy
        self.order = order
        self.fit_intercept = fit_intercept
        self.random_state = random_state

    def _set_model(self, model):
        super()._set_model(model)
        self.coef_ = self.coef_.reshape(-1)

    def _target_scale(self, y):
        """``(shift, scale)`` that standardise ``y``: the adaptive update is
        invariant to how features are scaled but not to the target's scale
        (a target in the hundreds needs weights the defaults' steps take
        many epochs to reach). Squared loss and an L2 penalty scale alike,
        so training on ``(y - shift) / scale`` and scaling the weights back
        solves the same objective."""
        shift = float(np.mean(y)) if self.fit_intercept else 0.0
        spread = float(np.sqrt(np.mean((y - shift) ** 2)))
        scale = spread if np.isfinite(spread) and spread > 0 else 1.0
        return shift, scale

    def _train_scaled(self, X, y, shift, scale, start=None, epochs=None, start_epoch=0):
        if start is not None:
            start = start.rescaled(1.0 / scale, -shift / scale)
        y = (np.asarray(y, dtype=np.float64) - shift) / scale

        def back_to_target_units(model):
            return model.rescaled(scale, shift).with_strings(_TARGET, [repr(shift), repr(scale)])

        return self._train(X, y, 0, "squared", start, epochs, start_epoch, finish=back_to_target_units)

    def fit(self, X, y, sample_weight=None):
        _base.no_sample_weight(sample_weight)
        _base.check_params(self)
        X, y = self._validate(X, y)
        return self._train_scaled(X, y, *self._target_scale(y))

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on ``X``, ``y`` from the current weights (the target's
        standardisation is the first call's)."""
        _base.no_sample_weight(sample_weight)
        _base.check_params(self)
        first = not hasattr(self, "model_")
        X, y = self._validate(X, y, reset=first)
        if first:
            return self._train_scaled(X, y, *self._target_scale(y), epochs=1)
        saved = self.model_.strings(_TARGET)
        shift, scale = (float(saved[0]), float(saved[1])) if saved else (0.0, 1.0)
        return self._train_scaled(X, y, shift, scale, self.model_, 1, self.model_.epochs_done)

    def predict(self, X):
        return self._scores(X).astype(np.float64)
