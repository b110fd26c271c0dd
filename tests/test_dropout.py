"""Inverted dropout: the counter-based mask (rate, scale, the same bits for any row or
column chunk), gradients against finite differences with a fixed mask, split and
thread-count invariance, and the estimators' ``dropout``."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

import cymlp
from cymlp._kernels import dropout_memview
from cymlp._names import ACTIVATION_CODES
from cymlp.network import Dense, Network
from cymlp.optimizers import Adam
from test_grad import numeric_gradient

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS = X_DIGITS / 16.0


# -- the mask ------------------------------------------------------------------------

@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mask_keeps_one_minus_rate_and_scales_the_kept(rate, dtype):
    src = np.ones((500, 400), dtype=dtype)
    dst = np.empty_like(src)
    dropout_memview(src, dst, 12345, 0, 0, 400, rate)
    kept = dst != 0
    assert abs(kept.mean() - (1 - rate)) < 0.005
    np.testing.assert_allclose(dst[kept], 1 / (1 - rate), rtol=1e-6)
    # no structure along rows or units: each row's and each unit's rate is close to it
    assert np.abs(kept.mean(axis=1) - (1 - rate)).max() < 0.12
    assert np.abs(kept.mean(axis=0) - (1 - rate)).max() < 0.12
    # another key, another mask
    other = np.empty_like(src)
    dropout_memview(src, other, 12346, 0, 0, 400, rate)
    assert 0.3 < np.mean(kept == (other != 0)) < 0.99


def test_a_chunk_of_rows_or_units_gets_the_bits_of_the_whole():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(64, 30))
    whole = np.empty_like(src)
    dropout_memview(src, whole, 99, 0, 0, 30, 0.4)
    rows = np.empty((24, 30))
    dropout_memview(np.ascontiguousarray(src[40:]), rows, 99, 40, 0, 30, 0.4)
    np.testing.assert_array_equal(rows, whole[40:])
    cols = np.empty((64, 11))
    dropout_memview(np.ascontiguousarray(src[:, 19:]), cols, 99, 0, 19, 30, 0.4)
    np.testing.assert_array_equal(cols, whole[:, 19:])
    in_place = src.copy()
    dropout_memview(in_place, in_place, 99, 0, 0, 30, 0.4)
    np.testing.assert_array_equal(in_place, whole)


# -- gradients ------------------------------------------------------------------------

@pytest.mark.parametrize("activation", sorted(ACTIVATION_CODES))
def test_gradient_with_a_fixed_mask(activation):
    rng = np.random.default_rng(0)
    shared = Dense(6, 6)
    net = Network([Dense(5, 6), shared, shared, Dense(6, 3)], activation=activation,
                  random_state=1)
    X = rng.normal(size=(13, 5))
    Y = np.eye(3)[rng.integers(0, 3, 13)]
    weights = rng.uniform(0.5, 2.0, 13)
    mask = dict(dropout=[0.3, 0.5, 0.2], dropout_seed=11)
    loss, gw, gb = net.backward(X, Y, weights, 0.1, **mask)
    got = np.concatenate([g.ravel() for g in gw + gb])
    np.testing.assert_allclose(got, numeric_gradient(net, X, Y, weights, 0.1, **mask),
                               rtol=1e-6, atol=1e-8)
    assert loss != net.loss(X, Y, sample_weight=weights, alpha=0.1)   # masks do act


def test_training_descends_the_gradient_of_the_fixed_mask_function():
    # the first batch of a training call is masked as the fixed-mask loss is: one SGD
    # step on the whole data is params - lr * backward(..., dropout, seed)
    rng = np.random.default_rng(1)
    net = Network([4, 8, 8, 2], activation="relu", output="identity", random_state=0)
    X, Y = rng.normal(size=(10, 4)), rng.normal(size=(10, 2))
    start = net.params.copy()
    _, gw, gb = net.backward(X, Y, dropout=[0.5, 0.25], dropout_seed=3)
    expected = start - 0.1 * np.concatenate([g.ravel() for g in gw + gb])
    net.train_epoch(X, Y, cymlp.SGD(0.1, momentum=0.0), batch_size=10, order=np.arange(10),
                    dropout=[0.5, 0.25], dropout_seed=3)
    np.testing.assert_allclose(net.params, expected, rtol=1e-12, atol=1e-15)


# -- splits and threads ---------------------------------------------------------------

def _engine_train(n_chunks, by_columns, dtype=np.float64):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 12)).astype(dtype)
    Y = np.eye(4, dtype=dtype)[rng.integers(0, 4, 120)]
    hidden = Dense(9, 9)
    net = Network([Dense(12, 9), hidden, hidden, Dense(9, 4)], "gelu", dtype=dtype,
                  random_state=0)
    optimizer = Adam(1e-2)
    optimizer.ensure_state(net.params.shape[0], net.dtype)
    X, Y, _ = net.check_xy(X, Y)
    rates = net.dropout_rates([0.2, 0.5, 0.3])
    with threadpool_limits(1):
        for _ in range(3):
            net._engine.train_epoch(X, Y, None, np.arange(120, dtype=np.intp), 16,
                                    *optimizer.engine_args(), 0.01, n_chunks, by_columns,
                                    **optimizer.engine_kwargs(), dropout=rates,
                                    dropout_seed=5)
            optimizer.t, optimizer.steps = net._engine.last_t, net._engine.last_batch
    return net.params


@pytest.mark.parametrize("n_chunks, by_columns", [(2, False), (3, False), (2, True),
                                                  (5, True)])
def test_split_batches_draw_the_same_masks(n_chunks, by_columns):
    np.testing.assert_allclose(_engine_train(n_chunks, by_columns), _engine_train(1, False),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("batch_size", [128, 16])   # row split, column split
def test_estimator_fit_is_the_same_on_one_and_two_threads(batch_size):
    fits = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            fits.append(cymlp.MLPClassifier((64, 32), dropout=[0.2, 0.4],
                                            batch_size=batch_size, max_iter=2,
                                            random_state=0).fit(X_DIGITS, Y_DIGITS))
    for a, b in zip(fits[0].coefs_, fits[1].coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


# -- the estimators ------------------------------------------------------------------

def test_no_dropout_is_bit_identical_to_none():
    plain = cymlp.MLPClassifier((32,), max_iter=5, random_state=0).fit(X_DIGITS, Y_DIGITS)
    zero = cymlp.MLPClassifier((32,), max_iter=5, dropout=0.0, random_state=0)
    zero.fit(X_DIGITS, Y_DIGITS)
    for a, b in zip(plain.coefs_ + plain.intercepts_, zero.coefs_ + zero.intercepts_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_dropout_trains_and_predict_uses_every_unit(estimator):
    if estimator == "classifier":
        model = cymlp.MLPClassifier((64,), dropout=0.3, max_iter=30, random_state=0)
        target = Y_DIGITS
    else:
        model = cymlp.MLPRegressor(hidden_layer_sizes=(64,), dropout=0.3, max_iter=30,
                                   random_state=0)
        target = X_DIGITS[:, 20] + X_DIGITS[:, 40]
    model.fit(X_DIGITS, target)
    assert model.score(X_DIGITS, target) > 0.8
    # prediction is deterministic: the full network, no mask
    output = model._network.forward(X_DIGITS)
    again = model._network.forward(X_DIGITS)
    np.testing.assert_array_equal(output, again)
    plain = type(model)(**{**model.get_params(), "dropout": None}).fit(X_DIGITS, target)
    assert model.loss_ > plain.loss_   # the training loss is measured under dropout


def test_dropout_masks_follow_random_state():
    a = cymlp.MLPClassifier((16,), dropout=0.5, max_iter=2, random_state=0)
    b = cymlp.MLPClassifier((16,), dropout=0.5, max_iter=2, random_state=0)
    c = cymlp.MLPClassifier((16,), dropout=0.5, max_iter=2, random_state=1)
    for model in (a, b, c):
        model.fit(X_DIGITS, Y_DIGITS)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


@pytest.mark.parametrize("params, error, message", [
    (dict(dropout=1.0), ValueError, "dropout"),
    (dict(dropout=-0.1), ValueError, "dropout"),
    (dict(dropout=[0.1, 0.2]), ValueError, "2 rates for 1 hidden"),
    (dict(dropout=["a"]), TypeError, "numbers"),
    (dict(dropout=np.array([[0.1, 0.2]])), TypeError, "1-D sequence of rates, got 2 dim"),
    (dict(dropout=0.2, solver="lbfgs"), ValueError, "stochastic solvers"),
])
def test_bad_dropout_is_refused(params, error, message):
    with pytest.raises(error, match=message):
        cymlp.MLPClassifier((8,), max_iter=2, **params).fit(X_DIGITS, Y_DIGITS)


def test_network_refuses_bad_rates_and_seeds():
    net = Network([3, 4, 2], random_state=0)
    X, Y = np.zeros((2, 3)), np.eye(2)
    with pytest.raises(ValueError, match="1 hidden"):
        net.loss(X, Y, dropout=[0.1, 0.1])
    with pytest.raises(TypeError, match="dropout_seed"):
        net.loss(X, Y, dropout=0.1, dropout_seed=1.5)
    with pytest.raises(ValueError, match="output step"):
        net._engine.loss_gradient(X, Y, None, 2.0, 0.0, False, np.array([0.0, 0.5]))


def test_every_bit_of_a_64_bit_seed_matters():
    # the masks are keyed by 32 bits: the high half of the seed is folded in, so seeds
    # apart by 2^32 (e.g. base * 2**32 + run) draw other masks; only the low 64 bits count
    net = Network([6, 40, 3], random_state=0)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(50, 6)), np.eye(3)[rng.integers(0, 3, 50)]

    def loss(seed):
        return net.loss(X, Y, dropout=0.5, dropout_seed=seed)

    base = {loss(seed) for seed in (0, 1, 2 ** 32, 2 ** 33, 2 ** 63, 2 ** 32 + 1)}
    assert len(base) == 6
    assert loss(-1) == loss(2 ** 64 - 1)
    assert loss(7 + 2 ** 64) == loss(7)


def test_new_parameters_survive_a_model_file(tmp_path):
    from cymlp import model_io
    model = cymlp.MLPClassifier((16, 8), activation="silu", dropout=[0.1, 0.3],
                                solver="adamw", weight_decay=0.05, learning_rate="cosine",
                                warmup_epochs=1, max_iter=3, random_state=0)
    model.fit(X_DIGITS, Y_DIGITS)
    loaded = model_io.load(model_io.save(model, tmp_path / "m.npz"))
    for name in ("activation", "dropout", "solver", "weight_decay", "learning_rate",
                 "warmup_epochs"):
        assert getattr(loaded, name) == getattr(model, name)
    np.testing.assert_array_equal(loaded.predict_proba(X_DIGITS), model.predict_proba(X_DIGITS))
