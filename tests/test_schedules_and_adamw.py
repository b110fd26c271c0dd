"""AdamW and the learning-rate schedules against a numpy reference of the same rules
(one batch per epoch, so each step is one full-data gradient from ``Network.backward``)."""
import numpy as np
import pytest

import cymlp
from cymlp.optimizers import CosineSchedule, StepSchedule


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 5))
    Y = np.eye(3)[rng.integers(0, 3, 40)]
    return X, Y


def _reference(net, X, Y, kind, schedule, steps, alpha=0.0, weight_decay=0.0, lr=0.05,
               momentum=0.0, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
    """The parameters after ``steps`` full-batch steps, computed in numpy."""
    params = net.params.copy()
    m, v = np.zeros_like(params), np.zeros_like(params)
    velocity = np.zeros_like(params)
    for t in range(steps):
        net.params = params
        _, gw, gb = net.backward(X, Y, alpha=alpha)
        g = np.concatenate([a.ravel() for a in gw + gb])
        rate = lr if schedule is None else schedule.learning_rate(lr, t)
        if kind == "sgd":
            velocity = momentum * velocity - rate * g
            params = params + velocity
            continue
        if kind == "adamw":
            params[:net.n_coef] *= 1 - rate * weight_decay
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        rate_t = rate * np.sqrt(1 - beta_2 ** (t + 1)) / (1 - beta_1 ** (t + 1))
        params = params - rate_t * m / (np.sqrt(v) + epsilon)
    return params


def _train(net, X, Y, optimizer, steps, alpha=0.0):
    for _ in range(steps):
        net.train_epoch(X, Y, optimizer, batch_size=len(X), order=np.arange(len(X)),
                        alpha=alpha)
    return net.params


@pytest.mark.parametrize("schedule", [None, CosineSchedule(12, warmup_steps=3),
                                      CosineSchedule(7), StepSchedule(4, gamma=0.5)])
@pytest.mark.parametrize("kind", ["sgd", "adam", "adamw"])
def test_engine_steps_equal_the_reference(kind, schedule):
    X, Y = _problem()
    make = {"sgd": lambda: cymlp.SGD(0.05, momentum=0.0, schedule=schedule),
            "adam": lambda: cymlp.Adam(0.05, schedule=schedule),
            "adamw": lambda: cymlp.AdamW(0.05, weight_decay=0.1, schedule=schedule)}[kind]
    net = cymlp.Network([5, 6, 3], activation="tanh", random_state=0)
    start = net.params.copy()
    expected = _reference(net, X, Y, kind, schedule, 10, alpha=0.01, weight_decay=0.1)
    net.params = start
    optimizer = make()
    got = _train(net, X, Y, optimizer, 10, alpha=0.01)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert optimizer.steps == 10


def test_adamw_decays_coefficients_not_intercepts():
    X, Y = _problem()
    net = cymlp.Network([5, 6, 3], activation="tanh", random_state=0)
    start = net.params.copy()
    # a learning rate so small that Adam's own step is negligible next to the decay
    optimizer = cymlp.AdamW(1e-3, weight_decay=100.0)
    optimizer.ensure_state(net.params.shape[0], net.dtype)
    net.train_epoch(X, Y, optimizer, batch_size=len(X), order=np.arange(len(X)))
    coef, intercept = slice(0, net.n_coef), slice(net.n_coef, None)
    np.testing.assert_allclose(net.params[coef], start[coef] * 0.9, atol=2e-3)
    assert np.abs(net.params[intercept] - start[intercept]).max() <= 1.1e-3


def test_cosine_schedule_shape():
    schedule = CosineSchedule(10, warmup_steps=2)
    rates = [schedule.learning_rate(1.0, t) for t in range(12)]
    assert rates[:2] == [0.5, 1.0]
    assert rates[2] == 1.0 and rates[10:] == [0.0, 0.0]
    assert all(a > b for a, b in zip(rates[2:10], rates[3:10]))


def test_split_epochs_follow_the_schedule_too():
    # a batch split into row chunks or column chunks takes the same scheduled steps
    from threadpoolctl import threadpool_limits
    rng = np.random.default_rng(1)
    X = rng.normal(size=(512, 20))
    Y = np.eye(4)[rng.integers(0, 4, 512)]
    results = []
    for threads, batch in ((1, 128), (2, 128), (2, 16)):
        net = cymlp.Network([20, 64, 4], activation="gelu", random_state=0)
        optimizer = cymlp.AdamW(1e-2, schedule=CosineSchedule(40, warmup_steps=5))
        with threadpool_limits(threads):
            for _ in range(2):
                net.train_epoch(X, Y, optimizer, batch_size=batch,
                                order=np.arange(len(X)))
        results.append((batch, net.params.copy(), optimizer.steps))
    assert results[0][2] == results[1][2] == 8 and results[2][2] == 64
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make, message", [
    (lambda: CosineSchedule(3, warmup_steps=3), "total_steps"),
    (lambda: CosineSchedule(0), "total_steps"),
    (lambda: StepSchedule(0), "step_size"),
    (lambda: StepSchedule(3, gamma=1.5), "gamma"),
    (lambda: cymlp.AdamW(weight_decay=-1), "weight_decay"),
    (lambda: cymlp.Adam(schedule="cosine"), "schedule"),
])
def test_bad_settings_are_refused(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize("make, message", [
    # numbers as text, and "yes" for a flag, were taken as float("1") and bool("yes")
    (lambda: cymlp.Adam(learning_rate="0.01"), "learning_rate must be a real number"),
    (lambda: cymlp.SGD(momentum=None), "momentum must be a real number"),
    (lambda: cymlp.Adam(beta_1=True), "beta_1 must be a real number"),
    (lambda: cymlp.AdamW(weight_decay="0"), "weight_decay must be a real number"),
    (lambda: StepSchedule(3, gamma="0.5"), "gamma must be a real number"),
    (lambda: cymlp.SGD(nesterov="no"), "nesterov must be True or False"),
])
def test_settings_of_the_wrong_type_are_a_type_error(make, message):
    with pytest.raises(TypeError, match=message):
        make()
    # numpy's numbers and flags are fine
    cymlp.SGD(np.float32(0.1), momentum=np.float64(0.5), nesterov=np.bool_(False))
    cymlp.Adam(learning_rate=1, beta_1=np.float32(0.8))


# -- in the estimators ---------------------------------------------------------------

def _digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def _fit(**params):
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    X, y = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cymlp.MLPClassifier((16,), max_iter=6, random_state=0, **params).fit(X, y)


def test_adamw_without_decay_is_adam_bit_for_bit():
    adam, adamw = _fit(), _fit(solver="adamw", weight_decay=0.0)
    for a, b in zip(adam.coefs_ + adam.intercepts_, adamw.coefs_ + adamw.intercepts_):
        np.testing.assert_array_equal(a, b)
    decayed = _fit(solver="adamw", weight_decay=0.5)
    assert np.abs(decayed.coefs_[0]).sum() < np.abs(adam.coefs_[0]).sum()


@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw"])
def test_estimator_schedules_are_counted_in_epochs(solver):
    # 1797 rows, batch 200: 9 batches an epoch
    cosine = _fit(solver=solver, learning_rate="cosine", warmup_epochs=2)
    assert (cosine._optimizer.schedule.total_steps, cosine._optimizer.schedule.warmup_steps
            ) == (6 * 9, 2 * 9)
    assert cosine._optimizer.steps == 6 * 9
    step = _fit(solver=solver, learning_rate="step", step_epochs=2, step_gamma=0.5)
    assert (step._optimizer.schedule.step_size, step._optimizer.schedule.gamma) == (18, 0.5)
    constant = _fit(solver=solver)
    assert not np.array_equal(cosine.coefs_[0], constant.coefs_[0])
    assert not np.array_equal(step.coefs_[0], constant.coefs_[0])


def test_cosine_estimator_equals_a_network_with_the_same_schedule():
    # no shuffling: the estimator's epochs are Network.train_epoch calls on the rows in order
    X, y = _digits()
    est = _fit(solver="adamw", learning_rate="cosine", warmup_epochs=1, shuffle=False,
               alpha=0.0, learning_rate_init=0.01)
    net = cymlp.Network([64, 16, 10], activation="relu", random_state=0)
    net.params = _initial_params(X, y)
    opt = cymlp.AdamW(0.01, schedule=CosineSchedule(54, warmup_steps=9))
    for _ in range(6):
        net.train_epoch(X, np.eye(10)[y], opt, batch_size=200, order=np.arange(len(X)))
    np.testing.assert_allclose(net.params, est._network.params, rtol=1e-9, atol=1e-12)


def _initial_params(X, y):
    """The estimator's initial weights (scikit-learn's draws for this random_state)."""
    est = cymlp.MLPClassifier((16,), max_iter=1, random_state=0)
    est._validate_params()
    from sklearn.utils import check_random_state
    est._random_state = check_random_state(0)
    est.n_features_in_ = X.shape[1]
    Y = np.eye(10)[y]
    from sklearn.preprocessing import LabelBinarizer
    est._label_binarizer = LabelBinarizer().fit(y)
    est._initialize(Y, [64, 16, 10], np.float64)
    return est._network.params.copy()


def test_warmup_must_end_before_max_iter():
    with pytest.raises(ValueError, match="warmup_epochs"):
        _fit(learning_rate="cosine", warmup_epochs=6)
