"""scikit-learn's own estimator checks over both estimators."""
from sklearn.utils.estimator_checks import parametrize_with_checks

from cymlp import MLPClassifier, MLPRegressor

# Small max_iter as scikit-learn's own suite uses for its MLPs (instance_generator).
ESTIMATORS = [MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)]
EXPECTED_FAILURES = {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILURES.get(
    type(est).__name__, {}))
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
