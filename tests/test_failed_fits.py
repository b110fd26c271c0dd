"""A failed fit, partial_fit or warm fit leaves every attribute as it was, compared by
value (issue 14, finding 8: a diverging warm SGD fit raised "keeps its state" yet
``loss_curve_`` grew from 5 to 6 entries); warm starts continue the fitted network or
refuse (finding 9)."""
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.exceptions import ConvergenceWarning

import cymlp
from cymlp import MLPClassifier, MLPRegressor

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4))
Y_REG = X @ RNG.normal(size=4)
Y_CLS = (X[:, 0] + X[:, 1] > 0).astype(int)


def state(value):
    """A comparable picture of a value: arrays by dtype, shape and bytes, containers by
    content, cymlp's network and optimizer by their numbers, other objects by __dict__."""
    if isinstance(value, np.ndarray):
        return ("array", str(value.dtype), value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(state(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, state(v)) for k, v in value.items())))
    if isinstance(value, np.random.RandomState):
        return ("rng", state(list(value.get_state())))
    if isinstance(value, cymlp.Network):
        return ("network", repr(value), state(value.params))
    if isinstance(value, cymlp.optimizers._Optimizer):
        return ("optimizer", value.t, value.learning_rate, state(value.states))
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return (type(value).__name__, state(vars(value)))
    if isinstance(value, float) and np.isnan(value):
        return ("nan",)
    return value


def whole_state(estimator):
    return state(dict(vars(estimator)))


def diverge(estimator, fit, match="keeps the state"):
    before = whole_state(estimator)
    with pytest.raises(ValueError, match=match):
        if isinstance(estimator, MLPRegressor):
            fit(X * 1e18, Y_REG * 1e150)
        else:
            fit(X * 1e150, Y_CLS)
    assert whole_state(estimator) == before


def test_diverging_warm_fit_changes_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(solver="sgd", warm_start=True, max_iter=5, random_state=0).fit(X, Y_REG)
    assert len(reg.loss_curve_) == 5
    reg.set_params(learning_rate_init=1e30)
    diverge(reg, reg.fit)
    assert len(reg.loss_curve_) == 5


def test_warm_fit_failing_mid_training_changes_nothing(monkeypatch):
    # with early stopping a diverged epoch ends the fit as scikit-learn's does (no error);
    # any other failure mid-training (here in the third validation) restores everything
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(solver="sgd", warm_start=True, max_iter=5, random_state=0,
                           early_stopping=True).fit(X, Y_REG)
    before = whole_state(reg)
    calls = []
    score = MLPRegressor._score_validation

    def fail_third(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("injected")
        return score(self, *args)

    monkeypatch.setattr(MLPRegressor, "_score_validation", fail_third)
    with pytest.raises(MemoryError, match="injected"):
        reg.fit(X, Y_REG)
    assert whole_state(reg) == before


def test_diverging_partial_fit_and_cold_refit_change_nothing():
    reg = MLPRegressor(solver="sgd", batch_size=10, random_state=0)
    for _ in range(3):
        reg.partial_fit(X, Y_REG)
    reg.set_params(learning_rate_init=1e30)
    diverge(reg, reg.partial_fit)
    diverge(reg, reg.fit)   # warm_start=False: a new network, then the failure
    clf = MLPClassifier((5,), solver="sgd", batch_size=10, random_state=0)
    clf.partial_fit(X, Y_CLS, classes=[0, 1])
    clf.set_params(learning_rate_init=1e30)
    diverge(clf, clf.partial_fit)


def test_failed_validation_after_changes_restores_everything():
    clf = MLPClassifier((5,), solver="sgd", random_state=0)
    before = whole_state(clf)
    with pytest.raises(ValueError):
        clf.partial_fit(X, Y_CLS, classes=[0, 1], sample_weight=np.ones(3))
    assert whole_state(clf) == before


def test_warm_start_with_other_layer_sizes_raises():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((3,), warm_start=True, max_iter=3, random_state=0).fit(X, Y_CLS)
        for sizes in [(5,), (3, 3)]:
            clf.set_params(hidden_layer_sizes=sizes)
            before = whole_state(clf)
            with pytest.raises(ValueError, match="hidden_layer_sizes"):
                clf.fit(X, Y_CLS)
            assert whole_state(clf) == before
        clf.set_params(hidden_layer_sizes=(3,))
        clf.partial_fit(X, Y_CLS)
        clf.set_params(hidden_layer_sizes=(4,))
        with pytest.raises(ValueError, match="hidden_layer_sizes"):
            clf.partial_fit(X, Y_CLS)
        # without warm_start a new architecture is simply fitted
        clf.set_params(warm_start=False).fit(X, Y_CLS)
        assert [c.shape for c in clf.coefs_] == [(4, 4), (4, 1)]


def test_warm_start_with_other_loss_raises():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(warm_start=True, max_iter=3, random_state=0).fit(X, np.abs(Y_REG))
        reg.set_params(loss="poisson")
        with pytest.raises(ValueError, match="output layer"):
            reg.fit(X, np.abs(Y_REG))


def test_warm_start_with_other_activation_continues_like_scikit_learn():
    # scikit-learn reads `activation` at every pass: the fitted weights go on under the
    # new activation
    kwargs = dict(hidden_layer_sizes=(6,), warm_start=True, max_iter=3, random_state=0,
                  solver="sgd", shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(**kwargs).fit(X, Y_REG)
        theirs = sk.MLPRegressor(**kwargs).fit(X, Y_REG)
        ours.set_params(activation="tanh").fit(X, Y_REG)
        theirs.set_params(activation="tanh").fit(X, Y_REG)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)


@pytest.mark.parametrize("sizes", [(2.5,), (2.0,), (True,), ("3",), (3, 1.5)])
def test_non_integer_layer_sizes_are_rejected(sizes):
    with pytest.raises((TypeError, ValueError)):
        MLPClassifier(hidden_layer_sizes=sizes, max_iter=1).fit(X, Y_CLS)
