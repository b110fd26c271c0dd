"""The activations beyond scikit-learn's four (leaky_relu, elu, gelu, silu, softplus)
train in both estimators and in ``Network``, survive a model file, and give predictions
that do not depend on the thread count.  Their kernels and gradients are checked in
test_kernels.py and test_grad.py, their split epochs in test_parallel.py."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

import cymlp
from cymlp import model_io

NEW = ["leaky_relu", "elu", "gelu", "silu", "softplus"]
X, Y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)


@pytest.mark.parametrize("activation", NEW)
def test_classifier_learns_and_round_trips(activation, tmp_path):
    clf = cymlp.MLPClassifier((32,), activation=activation, max_iter=40,
                              learning_rate_init=0.01, random_state=0)
    clf.fit(X[:1400], Y[:1400])
    assert clf.score(X[1400:], Y[1400:]) > 0.9
    loaded = model_io.load(model_io.save(clf, tmp_path / "m.npz"))
    assert loaded.activation == activation
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("activation", NEW)
def test_regressor_learns(activation):
    target = np.sin(3 * X[:, 20]) + X[:, 30]
    reg = cymlp.MLPRegressor(hidden_layer_sizes=(32,), activation=activation,
                             learning_rate_init=0.01, max_iter=60,
                             random_state=0).fit(X, target)
    assert reg.score(X, target) > 0.8


@pytest.mark.parametrize("activation", NEW)
def test_fit_is_the_same_on_one_and_two_threads(activation):
    # batch 256 splits into 2 row chunks on 2 threads: equal to rounding
    fits = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            fits.append(cymlp.MLPClassifier((24,), activation=activation, batch_size=256,
                                            max_iter=3, random_state=0).fit(X, Y))
    np.testing.assert_allclose(fits[0].coefs_[0], fits[1].coefs_[0], rtol=1e-4, atol=1e-6)


def test_network_takes_one_activation_per_hidden_layer():
    net = cymlp.Network([64, 16, 16, 16, 10], activation=["gelu", "silu", "elu"],
                        dtype=np.float32, random_state=0)
    assert net.hidden_activations == ["gelu", "silu", "elu"]
    Yhot = np.eye(10, dtype=np.float32)[Y]
    before = net.loss(X, Yhot)
    opt = cymlp.Adam(1e-2)
    for _ in range(5):
        net.train_epoch(X, Yhot, opt, batch_size=64, order=np.arange(len(X)))
    assert net.loss(X, Yhot) < 0.5 * before


def test_unknown_activation_is_refused():
    with pytest.raises(ValueError, match="activation"):
        cymlp.MLPClassifier(activation="swish").fit(X[:20], Y[:20])
    with pytest.raises(ValueError, match="unknown activation"):
        cymlp.Network([3, 2, 2], activation="mish")
