"""Multi-output classification: k label columns, one softmax group each (segmented
softmax in the compiled output kernel), against numpy, finite differences, scikit-learn's
meta-estimators and model files."""
import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cymlp import MLPClassifier, Network, model_io
from cymlp._kernels import output_error_memview
from cymlp._names import LOSS_CODES

from test_grad import assert_gradient_matches


def group_softmax(U, sizes):
    parts = np.split(U, np.cumsum(sizes)[:-1], axis=1)
    out = []
    for part in parts:
        e = np.exp(part - part.max(axis=1, keepdims=True))
        out.append(e / e.sum(axis=1, keepdims=True))
    return np.hstack(out)


def one_hot_groups(rng, n, sizes):
    return np.hstack([np.eye(size)[rng.integers(0, size, n)] for size in sizes])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_segmented_softmax_kernel_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    sizes = [3, 2, 4, 1]
    Z = (5 * rng.normal(size=(30, 10))).astype(dtype)
    b = rng.normal(size=10).astype(dtype)
    Y = one_hot_groups(rng, 30, sizes).astype(dtype)
    D = np.empty_like(Z)
    ends = np.cumsum(sizes).astype(np.intp)
    total = output_error_memview(Z, b, Y, dtype(1.0), D, LOSS_CODES["log_loss"], 0.0, ends)
    P = group_softmax(Z.astype(np.float64) + b, sizes)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(D, P - Y, rtol=tol, atol=tol)
    assert total == pytest.approx(-(Y * np.log(P)).sum(), rel=tol)
    with pytest.raises(ValueError, match="group_ends"):
        output_error_memview(Z, b, Y, dtype(1.0), D, 4, 0.0, np.array([3, 3, 10], np.intp))


@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic"])
def test_segmented_softmax_gradient_matches_finite_differences(activation):
    rng = np.random.default_rng(1)
    sizes = [3, 2, 4]
    net = Network([5, 8, 9], activation=activation, output="softmax",
                  softmax_groups=sizes, random_state=0)
    X = rng.normal(size=(12, 5))
    Y = one_hot_groups(rng, 12, sizes)
    assert_gradient_matches(net, X, Y)
    assert_gradient_matches(net, X, Y, rng.uniform(0.2, 2.0, 12), alpha=0.2)
    # each group of the output is a distribution; the loss is the sum of the groups'
    # cross-entropies
    for part in np.split(net.forward(X), np.cumsum(sizes)[:-1], axis=1):
        np.testing.assert_allclose(part.sum(axis=1), 1, rtol=1e-12)
    assert net.loss(X, Y) == pytest.approx(-(Y * np.log(net.forward(X))).sum() / 12,
                                           rel=1e-12)


def test_network_refuses_targets_that_are_not_a_distribution_per_group():
    net = Network([2, 3, 5], softmax_groups=[3, 2], random_state=0)
    Y = np.array([[1, 0, 0, 0.5, 0.5], [0, 1, 0, 1, 1]], dtype=float)
    with pytest.raises(ValueError, match="row 1 is not a distribution"):
        net.backward(np.ones((2, 2)), Y)
    with pytest.raises(ValueError, match="softmax_groups"):
        Network([2, 3, 5], softmax_groups=[3, 3])
    with pytest.raises(ValueError, match="softmax output"):
        Network([2, 3, 5], output="logistic", softmax_groups=[3, 2])


def labelled(n=600, seed=0):
    """Two label columns from the same features: a colour (text, 3 classes) and a size
    code (numbers, 4 classes)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    colour = np.array(["red", "green", "blue"])[(X[:, 0] > 0).astype(int)
                                                 + (X[:, 1] > 0.5).astype(int)]
    size = np.digitize(X[:, 2] + 0.5 * X[:, 3], [-1, 0, 1]) * 10
    return X, np.column_stack([colour, size.astype(object)])


def fit_quietly(model, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(*args, **kwargs)


def test_fit_predict_and_proba_in_the_original_labels():
    X, Y = labelled()
    clf = fit_quietly(MLPClassifier(hidden_layer_sizes=(32,), max_iter=300,
                                    random_state=0), X, Y)
    assert [list(c) for c in clf.classes_] == [["blue", "green", "red"], [0, 10, 20, 30]]
    predicted = clf.predict(X)
    assert predicted.shape == (600, 2) and predicted.dtype == object
    proba = clf.predict_proba(X)
    assert [p.shape for p in proba] == [(600, 3), (600, 4)]
    for p, classes, column in zip(proba, clf.classes_, predicted.T):
        np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-12)
        np.testing.assert_array_equal(classes[p.argmax(axis=1)], column)
    log_proba = clf.predict_log_proba(X)
    np.testing.assert_allclose(np.exp(log_proba[1]), proba[1], rtol=1e-12)
    assert clf.score(X, Y) == np.mean(np.all(predicted == Y, axis=1))
    assert clf.score(X, Y) > 0.9
    assert clf.out_activation_ == "softmax" and clf.n_outputs_ == 7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_every_solver_and_dtype(solver, dtype):
    X, Y = labelled()
    clf = fit_quietly(MLPClassifier(hidden_layer_sizes=(16,), solver=solver, max_iter=200,
                                    learning_rate_init=0.01, random_state=0),
                      X.astype(dtype), Y, sample_weight=np.linspace(0.5, 2, 600))
    assert clf.coefs_[0].dtype == dtype
    assert clf.score(X.astype(dtype), Y) > 0.8


def test_numeric_label_columns_and_a_column_of_one_class():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    Y = np.column_stack([(X[:, 0] > 0) + 1, np.digitize(X[:, 1], [-0.5, 0.5]),
                         np.full(300, 7)])
    clf = fit_quietly(MLPClassifier(hidden_layer_sizes=(16,), max_iter=300,
                                    random_state=0), X, Y)
    assert clf._network.softmax_groups == [2, 3, 1]
    predicted = clf.predict(X)
    assert predicted.dtype.kind == "i" and (predicted[:, 2] == 7).all()
    assert clf.score(X, Y) > 0.85


def test_multilabel_indicators_keep_todays_behaviour():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    Y = (X[:, :2] > 0).astype(int)
    clf = fit_quietly(MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0),
                      X, Y)
    assert clf.out_activation_ == "logistic"
    assert isinstance(clf.predict_proba(X), np.ndarray)


def test_pipeline_grid_search_and_cross_val_score():
    X, Y = labelled(450)
    # (scikit-learn's cross-validation splitters call type_of_target, which fails on
    # object columns mixing text and numbers: all text here)
    Y = Y.astype(str)
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(hidden_layer_sizes=(16,), max_iter=200,
                                       learning_rate_init=0.01, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(pipe, X, Y, cv=3)
        search = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1]}, cv=3).fit(X, Y)
    assert scores.shape == (3,) and scores.min() > 0.7
    assert search.best_score_ > 0.7
    assert search.predict(X).shape == (450, 2)


def test_early_stopping_scores_the_subset_accuracy():
    X, Y = labelled(800)
    clf = fit_quietly(MLPClassifier(hidden_layer_sizes=(16,), early_stopping=True,
                                    max_iter=100, learning_rate_init=0.01,
                                    random_state=0), X, Y)
    assert 0.7 < clf.best_validation_score_ <= 1


def test_partial_fit_with_classes_per_column():
    X, Y = labelled(600)
    classes = [["red", "green", "blue"], [0, 10, 20, 30]]
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    for epoch in range(40):
        for part in np.array_split(np.arange(600), 3):
            clf.partial_fit(X[part], Y[part], classes=classes if epoch == 0 else None)
    assert clf.score(X, Y) > 0.85
    # a chunk that happens to hold two labels per column is still label columns
    clf.partial_fit(X[:2], np.array([["red", 0], ["blue", 10]], dtype=object))
    with pytest.raises(ValueError, match="not the same as on last call"):
        clf.partial_fit(X, Y, classes=[["red", "blue"], [0, 10, 20, 30]])
    with pytest.raises(ValueError, match="y column 1 has labels not in"):
        clf.partial_fit(X[:1], np.array([["red", 40]], dtype=object))
    with pytest.raises(ValueError, match="shape"):
        clf.partial_fit(X[:1], np.array([["red", 0, 1]], dtype=object))


def test_class_weight_is_refused_for_label_columns():
    X, Y = labelled(100)
    with pytest.raises(ValueError, match="multi-output"):
        MLPClassifier(class_weight="balanced", max_iter=2).fit(X, Y)


def test_model_file_round_trip(tmp_path):
    X, Y = labelled(300)
    clf = fit_quietly(MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0),
                      X, Y)
    path = model_io.save(clf, tmp_path / "multi.npz")
    loaded = model_io.load(path)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))
    for a, b in zip(loaded.predict_proba(X), clf.predict_proba(X)):
        np.testing.assert_array_equal(a, b)
    assert [list(c) for c in loaded.classes_] == [list(c) for c in clf.classes_]
    loaded.partial_fit(X, Y)   # continues with the same groups
    assert loaded._network.softmax_groups == [3, 4]


def test_onnx_export_is_refused_with_a_reason():
    pytest.importorskip("skl2onnx")
    import cymlp.onnx

    X, Y = labelled(100)
    clf = fit_quietly(MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0),
                      X.astype(np.float32), Y)
    with pytest.raises(ValueError, match="column groups"):
        cymlp.onnx.to_onnx(clf, X[:1].astype(np.float32))
    with pytest.raises(ValueError, match="column groups"):
        cymlp.onnx.to_onnx(clf._network, X[:1].astype(np.float32))
