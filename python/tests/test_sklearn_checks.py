"""scikit-learn's own estimator checks, for every wildsgd estimator.

Checks expected to fail are listed with the reason, as scikit-learn intends
(``parametrize_with_checks(..., expected_failed_checks=...)``): pytest shows
them as xfail, never as passed.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from wildsgd import MatrixFactorization, SGDClassifier, SGDRegressor

NO_SAMPLE_WEIGHT = (
    "wildsgd has no per-sample weight: fit raises NotImplementedError for sample_weight "
    "rather than pretend (see SGDClassifier.fit)"
)


SAMPLE_WEIGHT_CHECKS = [
    "check_sample_weights_not_an_array",
    "check_sample_weights_pandas_series",
    "check_sample_weights_list",
    "check_all_zero_sample_weights_error",
    "check_sample_weights_shape",
    "check_sample_weights_not_overwritten",
    "check_sample_weight_equivalence_on_dense_data",
    "check_sample_weight_equivalence_on_sparse_data",
    "check_classifiers_one_label_sample_weights",
]


# Every one of these passes MatrixFactorization an X of other than two
# columns (or one row of one column): a factorisation's X is (user id,
# item id) pairs, so it refuses them with a ValueError saying so. Each was
# read in the failure output; none fails for another reason.
NOT_PAIRS = "MatrixFactorization's X is (user id, item id) pairs; this check passes X of other than 2 columns"
MF_CHECKS = """check_dict_unchanged check_dont_overwrite_parameters check_dtype_object
check_estimators_dtypes check_estimators_nan_inf check_estimators_pickle check_f_contiguous_array_estimator
check_fit2d_1feature check_fit2d_1sample check_fit2d_predict1d check_fit_score_takes_y
check_methods_sample_order_invariance check_methods_subset_invariance check_n_features_in_after_fitting
check_pipeline_consistency check_positive_only_tag_during_fit check_regressor_data_not_an_array
check_regressors_int check_regressors_no_decision_function check_regressors_train check_requires_y_none
check_supervised_y_2d""".split()


def expected_failures(est):
    failures = {name: NO_SAMPLE_WEIGHT for name in SAMPLE_WEIGHT_CHECKS}
    if isinstance(est, MatrixFactorization):
        failures.update({name: NOT_PAIRS for name in MF_CHECKS})
    return failures


@parametrize_with_checks(
    [SGDClassifier(random_state=0), SGDRegressor(random_state=0), MatrixFactorization(random_state=0)],
    expected_failed_checks=expected_failures,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
