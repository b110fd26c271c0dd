"""One epoch of the seed network 784-200-100-10 on real Fashion-MNIST."""
import numpy as np

import cymlp


def test_one_epoch_lowers_training_loss_and_beats_chance(fashion_mnist):
    data = fashion_mnist
    assert data.X_train.shape == (60000, 784) and data.X_test.shape == (10000, 784)
    Y = np.eye(10, dtype=np.float32)[data.y_train]
    net = cymlp.Network([784, 200, 100, 10], activation="logistic", output="softmax",
                        dtype=np.float32, random_state=0)
    X, Y, _ = net.check_xy(data.X_train, Y)
    before = net.loss(X, Y)
    order = np.random.RandomState(0).permutation(60000)
    result = net.train_epoch(X, Y, cymlp.Adam(0.001), batch_size=128, order=order, checked=True)
    after = net.loss(X, Y)
    assert result.n_batches == 469
    assert after < before * 0.6, (before, after)
    accuracy = (net.forward(data.X_test).argmax(axis=1) == data.y_test).mean()
    assert accuracy > 0.75, accuracy  # chance is 0.10


def test_estimator_accuracy_within_one_point_of_sklearn(fashion_mnist):
    """Same hyperparameters and epochs as scikit-learn's MLPClassifier (a 12,000-image
    subset, 3 epochs, to stay quick; benchmarks/accuracy_vs_sklearn.py runs all 60,000)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SklearnMLP

    data = fashion_mnist
    params = dict(hidden_layer_sizes=(200, 100), activation="logistic", batch_size=128,
                  max_iter=3, random_state=0)
    X, y = data.X_train[:12000], data.y_train[:12000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = cymlp.MLPClassifier(**params).fit(X, y).score(data.X_test, data.y_test)
        theirs = SklearnMLP(**params).fit(X, y).score(data.X_test, data.y_test)
    assert abs(ours - theirs) <= 0.01, (ours, theirs)
    assert ours > 0.75
