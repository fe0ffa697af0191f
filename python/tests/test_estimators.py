"""Behaviour the sklearn checks do not pin down: quality next to
scikit-learn, softmax, partial_fit, threads, pickling, zero-copy input."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

import wildsgd
from wildsgd import MatrixFactorization, SGDClassifier, SGDRegressor
from wildsgd._base import rows_for_core


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(4000, 50, n_informative=20, random_state=1)
    return train_test_split(X, y, test_size=0.25, random_state=1)


def test_binary_log_loss_close_to_the_exact_optimum(binary):
    # LogisticRegression() solves the objective wildsgd's defaults pose
    # (mean log loss + 1/(2n) |w|^2) exactly.
    Xtr, Xte, ytr, yte = binary
    ours = SGDClassifier(random_state=0).fit(Xtr, ytr)
    exact = LogisticRegression().fit(Xtr, ytr)
    a = log_loss(yte, ours.predict_proba(Xte))
    b = log_loss(yte, exact.predict_proba(Xte))
    assert a <= b * 1.02, (a, b)
    assert abs(ours.score(Xte, yte) - exact.score(Xte, yte)) <= 0.02


def test_labels_of_any_type_map_back(binary):
    Xtr, _, ytr, _ = binary
    names = np.array(["spam", "ham"])[ytr]
    clf = SGDClassifier(random_state=0).fit(Xtr, names)
    assert list(clf.classes_) == ["ham", "spam"]
    assert set(clf.predict(Xtr)) <= {"ham", "spam"}
    assert (clf.predict(Xtr) == names).mean() > 0.8


def test_multiclass_is_one_softmax_model():
    X, y = load_iris(return_X_y=True)
    clf = SGDClassifier(random_state=0).fit(X, y + 1)  # labels 1..3
    assert clf.model_.kind_name == "softmax"
    assert clf.coef_.shape == (3, 4) and clf.intercept_.shape == (3,)
    assert list(clf.classes_) == [1, 2, 3]
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert clf.score(X, y + 1) > 0.9
    with pytest.raises(ValueError, match="softmax"):
        SGDClassifier(loss="hinge").fit(X, y)


def test_hinge_has_no_probabilities(binary):
    Xtr, _, ytr, _ = binary
    clf = SGDClassifier(loss="hinge", random_state=0).fit(Xtr, ytr)
    assert not hasattr(clf, "predict_proba")
    assert clf.score(Xtr, ytr) > 0.8


def test_sparse_and_dense_inputs_train_the_same_model(binary):
    Xtr, Xte, ytr, _ = binary
    dense = SGDClassifier(random_state=3).fit(Xtr, ytr)
    # The dense rows include their zeros: make the sparse rows hold them too
    # by using a matrix with no zeros.
    sparse = SGDClassifier(random_state=3).fit(sp.csr_matrix(Xtr), ytr)
    np.testing.assert_allclose(dense.coef_, sparse.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dense.decision_function(Xte), sparse.decision_function(sp.csr_matrix(Xte)), rtol=1e-4, atol=1e-5)


def test_one_thread_is_reproducible_and_two_threads_train(binary):
    Xtr, Xte, ytr, yte = binary
    a = SGDClassifier(random_state=5).fit(Xtr, ytr)
    b = SGDClassifier(random_state=5).fit(Xtr, ytr)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    two = SGDClassifier(n_jobs=2, random_state=5).fit(Xtr, ytr)
    assert two.report_["threads"] == 2
    assert abs(log_loss(yte, two.predict_proba(Xte)) - log_loss(yte, a.predict_proba(Xte))) < 0.02


def test_partial_fit_continues_the_schedule(binary):
    Xtr, Xte, ytr, yte = binary
    clf = SGDClassifier(random_state=0)
    losses = []
    for epoch in range(5):
        clf.partial_fit(Xtr, ytr, classes=[0, 1])
        losses.append(log_loss(yte, clf.predict_proba(Xte)))
        assert clf.n_iter_ == epoch + 1
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="classes"):
        SGDClassifier().partial_fit(Xtr, ytr)


def test_sample_weight_is_refused_not_ignored(binary):
    Xtr, _, ytr, _ = binary
    with pytest.raises(NotImplementedError, match="sample_weight"):
        SGDClassifier().fit(Xtr, ytr, sample_weight=np.ones(len(ytr)))


def test_pickle_round_trip_predicts_the_same(binary):
    Xtr, Xte, ytr, _ = binary
    for est in (SGDClassifier(random_state=0).fit(Xtr, ytr), SGDRegressor(random_state=0).fit(Xtr, ytr * 2.0)):
        again = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(est.predict(Xte), again.predict(Xte))


def test_regressor_recovers_a_linear_target():
    X, y, coef = make_regression(3000, 20, noise=1.0, coef=True, random_state=0)
    reg = SGDRegressor(random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.99
    np.testing.assert_allclose(reg.coef_, coef, rtol=0.05, atol=0.5)


def test_float32_int32_csr_is_read_in_place():
    X = sp.random(100, 40, density=0.2, format="csr", dtype=np.float32, random_state=0)
    X.indices = X.indices.astype(np.int32)
    assert X.has_canonical_format
    _, indices, data = rows_for_core(X)
    assert np.shares_memory(indices, X.indices) and np.shares_memory(data, X.data)
    dense = np.ascontiguousarray(X.toarray())
    assert np.shares_memory(rows_for_core(dense)[2], dense)
    # Other dtypes are converted (documented), never misread.
    _, _, data64 = rows_for_core(X.astype(np.float64))
    assert data64.dtype == np.float32


def test_matrix_factorisation_and_unseen_ids():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 50, 5000), rng.integers(0, 40, 5000)
    u_f, i_f = rng.normal(size=(50, 3)), rng.normal(size=(40, 3))
    y = 3.0 + (u_f[users] * i_f[items]).sum(axis=1)
    X = np.column_stack([users, items])
    mf = MatrixFactorization(rank=8, random_state=0).fit(X, y)
    rmse = np.sqrt(np.mean((mf.predict(X) - y) ** 2))
    assert rmse < 0.6 * y.std(), rmse
    p = mf.predict([[10_000, 10_000], [users[0], 10_000]])
    assert p[0] == pytest.approx(mf.global_mean_, abs=1e-6)
    assert np.isfinite(p[1])
    # String ids work the same way.
    names = np.column_stack([np.char.add("u", users.astype(str)), np.char.add("i", items.astype(str))])
    by_name = MatrixFactorization(rank=8, random_state=0).fit(names, y)
    assert np.sqrt(np.mean((by_name.predict(names) - y) ** 2)) < 0.6 * y.std()


def test_bad_parameters_name_themselves(binary):
    Xtr, _, ytr, _ = binary
    for params, name in (({"alpha": -1.0}, "alpha"), ({"epochs": 0}, "epochs"), ({"eta0": 0.0}, "eta0"),
                         ({"policy": "nonsense"}, "policy"), ({"n_jobs": 0}, "n_jobs"), ({"update": "x"}, "update"),
                         ({"order": "x"}, "order")):
        with pytest.raises(ValueError, match=name):
            SGDClassifier(**params).fit(Xtr, ytr)


def test_version():
    assert wildsgd.__version__
