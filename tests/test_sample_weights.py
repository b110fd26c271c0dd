"""Sample and class weights: values training cannot use are refused by name, and a batch
whose weights are all zero makes no step (scikit-learn raises ZeroDivisionError there)."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import cymlp
from cymlp import SGD, Adam, Network

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4))
Y_CLASSES = (X[:, 0] > 0).astype(int)
Y_VALUES = X[:, 0] + 0.5 * X[:, 1]


def _estimators(**params):
    return [cymlp.MLPClassifier((5,), max_iter=3, random_state=0, **params),
            cymlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=3, random_state=0,
                               **params)]


def _fit(model, X_fit=X, **fit_params):
    y = Y_CLASSES if isinstance(model, cymlp.MLPClassifier) else Y_VALUES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X_fit, y[:len(X_fit)], **fit_params)


def _filled(value, n=60):
    weights = np.ones(n)
    weights[7] = value
    return weights


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("weights, message", [
    (_filled(-1.0), "sample_weight must be finite and non-negative in float64"),
    (_filled(np.nan), "sample_weight must be finite and non-negative"),
    (_filled(np.inf), "sample_weight must be finite and non-negative"),
    (np.zeros(60), "sample_weight must not be all zero"),
    (np.full(60, 1e308), "sample_weight sums past the largest float64"),
    (_filled(1e-320), "sample_weight has weights between 0 and 2.23e-308"),
    (np.ones(59), r"sample_weight must have shape \(60,\)"),
    (np.ones((60, 1)), r"sample_weight must have shape \(60,\)"),
])
def test_unusable_sample_weights_are_refused_by_name(solver, weights, message):
    for model in _estimators(solver=solver):
        with pytest.raises(ValueError, match=message):
            _fit(model, sample_weight=weights)


def test_sample_weights_are_checked_in_the_network_dtype():
    # 1e39 is finite in float64 and inf in float32; 1e-39 is a float32 subnormal
    for model in _estimators():
        with pytest.raises(ValueError, match="finite and non-negative in float32"):
            _fit(model, X.astype(np.float32), sample_weight=_filled(1e39))
        with pytest.raises(ValueError, match="between 0 and 1.18e-38, the smallest normal "
                                             "float32"):
            _fit(model, X.astype(np.float32), sample_weight=_filled(1e-39))
        _fit(model, X.astype(np.float32), sample_weight=np.full(60, 1e37))
        assert np.isfinite(model.loss_)


def test_float32_weights_may_sum_past_float32():
    # 60 x 1e37 is past float32's range; the sum is taken in float64
    net = Network([4, 5, 1], "tanh", "identity", dtype=np.float32, random_state=0)
    weights = np.full(60, 1e37, dtype=np.float32)
    loss = net.loss(X, Y_VALUES[:, None], sample_weight=weights)
    assert np.isfinite(loss)
    assert loss == pytest.approx(net.loss(X, Y_VALUES[:, None]), rel=1e-5)


def test_non_numeric_sample_weights_are_a_type_error():
    for model in _estimators():
        with pytest.raises(TypeError, match="sample_weight must hold real numbers"):
            _fit(model, sample_weight=np.array(["1"] * 60))


@pytest.mark.parametrize("class_weight, error, message", [
    ({0: -1.0, 1: 1.0}, ValueError, "class_weight must give each class a finite, "
                                    "non-negative weight"),
    ({0: np.nan, 1: 1.0}, ValueError, "finite, non-negative"),
    ({0: np.inf, 1: 1.0}, ValueError, "finite, non-negative"),
    ({0: "2", 1: 1.0}, TypeError, "class_weight's weights must be real numbers"),
    ({0: 0.0, 1: 0.0}, ValueError, r"sample weights \(sample_weight times class_weight\) "
                                   "must not be all zero"),
])
def test_unusable_class_weights_are_refused_by_name(class_weight, error, message):
    with pytest.raises(error, match=message):
        _fit(cymlp.MLPClassifier((5,), max_iter=3, class_weight=class_weight))


def test_class_weight_times_sample_weight_may_not_overflow():
    model = cymlp.MLPClassifier((5,), max_iter=3, class_weight={0: 1e200, 1: 1.0})
    with pytest.raises(ValueError, match=r"sample weights \(sample_weight times "
                                         r"class_weight\) must be finite"):
        _fit(model, sample_weight=np.full(60, 1e200))


def test_a_zero_class_weight_ignores_that_class_and_still_trains():
    model = _fit(cymlp.MLPClassifier((5,), max_iter=3, random_state=0,
                                     class_weight={0: 0.0, 1: 1.0}))
    assert np.isfinite(model.loss_)
    assert list(model.classes_) == [0, 1]


# -- batches whose weights are all zero ---------------------------------------------

@pytest.mark.parametrize("make_model", [
    lambda: cymlp.MLPClassifier((6,), batch_size=5, shuffle=False, max_iter=4,
                                random_state=0),
    lambda: cymlp.MLPRegressor(hidden_layer_sizes=(6,), batch_size=5, shuffle=False,
                               solver="sgd", momentum=0.9, max_iter=4, random_state=0),
])
def test_zero_weight_batches_make_no_step(make_model):
    # rows 5-59 weigh nothing: with batches of 5 in order, 11 of 12 batches weigh zero
    # and the fit is the fit on rows 0-4 alone (Adam's step count included)
    # (scikit-learn 1.9 raises ZeroDivisionError: "Weights sum to zero")
    weights = np.r_[np.ones(5), np.zeros(55)]
    weighted = _fit(make_model(), sample_weight=weights)
    alone = _fit(make_model(), X[:5])
    assert weighted.n_iter_ == alone.n_iter_ == 4
    np.testing.assert_allclose(weighted.loss_curve_, alone.loss_curve_, rtol=1e-14)
    for got, expected in zip(weighted.coefs_ + weighted.intercepts_,
                             alone.coefs_ + alone.intercepts_):
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-15)


def test_zero_weight_batches_with_shuffling_train_finitely():
    weights = np.r_[np.ones(10), np.zeros(50)]
    for model in _estimators(batch_size=5):
        _fit(model, sample_weight=weights)
        assert np.isfinite(model.loss_) and all(np.isfinite(model.loss_curve_))


@pytest.mark.parametrize("n_chunks, by_columns", [(1, False), (2, False), (3, True)])
@pytest.mark.parametrize("make_optimizer", [lambda: Adam(1e-2),
                                            lambda: SGD(0.05, momentum=0.9)])
def test_every_epoch_kind_skips_zero_weight_batches(n_chunks, by_columns, make_optimizer):
    # 320 rows in batches of 64 in order; batches 2 and 4 weigh zero; the epoch must
    # equal the epoch over the other three batches' rows, serial, by rows or by columns
    rng = np.random.default_rng(1)
    X_all = rng.normal(size=(320, 12))
    Y_all = np.eye(4)[rng.integers(0, 4, 320)]
    weights = rng.uniform(0.1, 2.0, 320)
    weights[64:128] = 0
    weights[192:256] = 0
    kept = np.r_[0:64, 128:192, 256:320]

    def train(X_fit, Y_fit, w):
        net = Network([12, 9, 7, 4], "tanh", "softmax", random_state=0)
        X_fit, Y_fit, w = net.check_xy(X_fit, Y_fit, w)
        optimizer = make_optimizer()
        optimizer.ensure_state(net.params.shape[0], net.dtype)
        order = np.arange(len(X_fit), dtype=np.intp)
        losses = []
        with threadpool_limits(1):
            for _ in range(2):
                status = net._engine.train_epoch(X_fit, Y_fit, w, order, 64,
                                                 *optimizer.engine_args(), 1e-3, n_chunks,
                                                 by_columns)
                assert status == 0
                optimizer.t = net._engine.last_t
                losses.append(net._engine.last_loss_sum / net._engine.last_weight_sum)
        return net, losses, optimizer.t

    skipping, skipping_losses, skipping_t = train(X_all, Y_all, weights)
    alone, alone_losses, alone_t = train(X_all[kept], Y_all[kept], weights[kept])
    assert skipping_t == alone_t
    np.testing.assert_allclose(skipping_losses, alone_losses, rtol=1e-13)
    np.testing.assert_allclose(skipping.params, alone.params, rtol=1e-12, atol=1e-14)
