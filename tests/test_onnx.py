"""ONNX export (the ``onnx`` extra): ONNX Runtime's outputs against cymlp's own
``predict``/``predict_proba``/``forward``, for every output, every hidden activation,
float32 and float64, pipelines, shared layers and real data."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cymlp
from cymlp._names import ACTIVATION_CODES

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")
import cymlp.onnx  # noqa: E402  (needs skl2onnx)

# ONNX Runtime and cymlp sum the products in different orders
TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]


def _run(onx, X):
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def _data(dtype, n=120, n_features=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)).astype(dtype)
    return X, rng


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # ConvergenceWarning: few epochs on purpose
        return model.fit(X, y)


def _assert_labels_equal(onnx_labels, expected, proba, dtype):
    """Labels must match, except where the two largest probabilities tie to rounding."""
    onnx_labels, expected = np.asarray(onnx_labels), np.asarray(expected)
    differ = onnx_labels != expected
    if differ.any():
        top2 = np.sort(proba[differ], axis=1)[:, -2:]
        assert np.all(top2[:, 1] - top2[:, 0] <= TOLERANCE[dtype]), "labels differ"


def _check_classifier(model, X, dtype, tolerance=None):
    label, proba = _run(cymlp.onnx.to_onnx(model, X, options={"zipmap": False}), X)
    expected = model.predict_proba(X)
    assert proba.dtype == dtype and proba.shape == expected.shape
    np.testing.assert_allclose(proba, expected, rtol=0, atol=tolerance or TOLERANCE[dtype])
    _assert_labels_equal(label, model.predict(X), expected, dtype)
    return label, proba


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", sorted(ACTIVATION_CODES))
def test_multiclass_every_hidden_activation(dtype, activation):
    X, rng = _data(dtype)
    y = rng.integers(0, 4, len(X)) * 3 - 2          # classes -2, 1, 4, 7
    model = _fit(cymlp.MLPClassifier((7, 6), activation=activation, max_iter=30,
                                     random_state=0), X, y)
    # ONNX Runtime has no float64 Erf: a float64 gelu graph computes erf in float32
    tolerance = 1e-6 if (activation, dtype) == ("gelu", np.float64) else None
    label, _ = _check_classifier(model, X, dtype, tolerance)
    assert label.dtype == np.int64


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_string_labels(dtype):
    X, _ = _data(dtype)
    y = np.where(X[:, 0] + X[:, 1] > 0, "spam", "ham")
    model = _fit(cymlp.MLPClassifier((6,), max_iter=40, learning_rate_init=0.02,
                                     random_state=0), X, y)
    assert model.n_outputs_ == 1
    label, proba = _check_classifier(model, X, dtype)
    assert set(label) == {"spam", "ham"} and proba.shape == (len(X), 2)


@pytest.mark.parametrize("y_kind", ["bool", "whole floats"])
def test_boolean_and_float_classes_become_int64(y_kind):
    X, _ = _data(np.float32)
    y = X[:, 0] > 0
    if y_kind == "whole floats":
        y = y * 2.0 + 1.0      # classes 1.0 and 3.0
    model = _fit(cymlp.MLPClassifier((6,), max_iter=40, random_state=0), X, y)
    label, _ = _check_classifier(model, X, np.float32)
    np.testing.assert_array_equal(label, model.predict(X).astype(np.int64))


@pytest.mark.parametrize("dtype", DTYPES)
def test_multilabel(dtype):
    X, _ = _data(dtype)
    Y = np.c_[X[:, 0] > 0, X[:, 1] > 0.5, X[:, 0] + X[:, 2] > 0].astype(int)
    model = _fit(cymlp.MLPClassifier((8,), max_iter=60, random_state=0), X, Y)
    label, proba = _run(cymlp.onnx.to_onnx(model, X, options={"zipmap": False}), X)
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=TOLERANCE[dtype], rtol=0)
    near_half = np.abs(proba - 0.5) <= TOLERANCE[dtype]
    assert label.dtype == np.int64 and label.shape == Y.shape
    assert np.all((label == model.predict(X)) | near_half)


def test_one_class_predicts_that_class():
    X, _ = _data(np.float32)
    model = _fit(cymlp.MLPClassifier((4,), max_iter=5, random_state=0), X,
                 np.full(len(X), 7))
    label, _ = _check_classifier(model, X, np.float32)
    assert set(label) == {7}


def test_zipmap_gives_one_map_per_row():
    X, rng = _data(np.float32)
    y = rng.choice(["a", "b", "c"], len(X))
    model = _fit(cymlp.MLPClassifier((6,), max_iter=30, random_state=0), X, y)
    label, maps = _run(cymlp.onnx.to_onnx(model, X), X)
    expected = model.predict_proba(X)
    assert len(maps) == len(X)
    got = np.array([[row[c] for c in model.classes_] for row in maps])
    np.testing.assert_allclose(got, expected, atol=TOLERANCE[np.float32], rtol=0)


def test_float64_zipmap_is_refused_with_the_way_out():
    X, rng = _data(np.float64)
    model = _fit(cymlp.MLPClassifier((4,), max_iter=5, random_state=0), X,
                 rng.integers(0, 3, len(X)))
    with pytest.raises(ValueError, match="zipmap"):
        cymlp.onnx.to_onnx(model, X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("n_outputs", [1, 3])
def test_regressor(dtype, loss, n_outputs):
    X, rng = _data(dtype)
    y = np.abs(X[:, :n_outputs] * 2 + rng.normal(size=(len(X), n_outputs)) * 0.1)
    model = _fit(cymlp.MLPRegressor(hidden_layer_sizes=(9,), activation="tanh", loss=loss,
                                    max_iter=40, random_state=0), X,
                 y.ravel() if n_outputs == 1 else y)
    (output,) = _run(cymlp.onnx.to_onnx(model, X), X)
    assert output.dtype == dtype and output.shape == (len(X), n_outputs)
    expected = model.predict(X).reshape(len(X), n_outputs)
    np.testing.assert_allclose(output, expected, rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output", ["softmax", "logistic", "identity", "exp"])
def test_network_with_a_shared_layer(dtype, output):
    shared = cymlp.Dense(6, 6)
    net = cymlp.Network([cymlp.Dense(5, 6), shared, shared, cymlp.Dense(6, 3)],
                        activation=["relu", "tanh", "logistic"], output=output, dtype=dtype,
                        random_state=0)
    X, _ = _data(dtype)
    onx = cymlp.onnx.to_onnx(net, X)
    # the shared layer is stored once: three coefficient matrices, not four
    assert sum(init.name.startswith("coefficient") for init in onx.graph.initializer) == 3
    (got,) = _run(onx, X)
    np.testing.assert_allclose(got, net.forward(X), rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_pipeline_through_skl2onnx(dtype):
    X, rng = _data(dtype)
    X = X * 10 + 3
    y = rng.integers(0, 3, len(X))
    pipe = _fit(make_pipeline(StandardScaler(),
                              cymlp.MLPClassifier((8,), max_iter=40, random_state=0)), X, y)
    cymlp.onnx.register_converters()
    onx = skl2onnx.to_onnx(pipe, X[:1], options={cymlp.MLPClassifier: {"zipmap": False}})
    label, proba = _run(onx, X)
    expected = pipe.predict_proba(X)
    np.testing.assert_allclose(proba, expected, atol=10 * TOLERANCE[dtype], rtol=0)
    _assert_labels_equal(label, pipe.predict(X), expected, dtype)


def test_assigned_coefficients_are_exported():
    X, rng = _data(np.float64)
    model = _fit(cymlp.MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0), X,
                 rng.normal(size=len(X)))
    model.coefs_ = [c * 2 for c in model.coefs_]
    (output,) = _run(cymlp.onnx.to_onnx(model, X), X)
    np.testing.assert_allclose(output.ravel(), model.predict(X), atol=1e-12, rtol=0)


def test_refusals():
    X, rng = _data(np.float32)
    with pytest.raises(NotFittedError):
        cymlp.onnx.to_onnx(cymlp.MLPClassifier(), X)
    model = _fit(cymlp.MLPClassifier((4,), max_iter=5, random_state=0), X,
                 rng.integers(0, 2, len(X)))
    for bad in (X[0], X.astype(np.int64), X.astype(object)):
        with pytest.raises(ValueError, match="X_sample"):
            cymlp.onnx.to_onnx(model, bad)
    # a sample of another width made a graph ONNX Runtime could not load
    network = cymlp.Network([5, 3, 2], random_state=0)
    for fitted in (model, network, make_pipeline(StandardScaler(), model).fit(X, X[:, 0] > 0)):
        with pytest.raises(ValueError, match="X_sample has 4 features, but the model "
                                             "takes 5"):
            cymlp.onnx.to_onnx(fitted, X[:, :4])
    with pytest.raises(ValueError, match="target_opset must be at least 9"):
        cymlp.onnx.to_onnx(model, X, target_opset=8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", sorted(ACTIVATION_CODES))
def test_the_oldest_opset_supported_runs_every_activation(dtype, activation):
    X, rng = _data(dtype)
    y = rng.integers(0, 3, len(X))
    classifier = _fit(cymlp.MLPClassifier((6,), activation=activation, max_iter=10,
                                          random_state=0), X, y)
    regressor = _fit(cymlp.MLPRegressor(hidden_layer_sizes=(6,), activation=activation,
                                        max_iter=10, random_state=0), X, X[:, 0])
    tolerance = 1e-6 if (activation, dtype) == ("gelu", np.float64) else TOLERANCE[dtype]
    onx = cymlp.onnx.to_onnx(classifier, X, options={"zipmap": False},
                             target_opset=cymlp.onnx.MIN_OPSET)
    assert {o.version for o in onx.opset_import if o.domain in ("", "ai.onnx")} == {9}
    label, proba = _run(onx, X)
    np.testing.assert_allclose(proba, classifier.predict_proba(X), rtol=0, atol=tolerance)
    _assert_labels_equal(label, classifier.predict(X), proba, dtype)
    (output,) = _run(cymlp.onnx.to_onnx(regressor, X, target_opset=cymlp.onnx.MIN_OPSET), X)
    np.testing.assert_allclose(output.ravel(), regressor.predict(X), rtol=0, atol=tolerance)


def test_fashion_mnist_test_images(fashion_mnist):
    data = fashion_mnist
    model = _fit(cymlp.MLPClassifier((64,), max_iter=3, batch_size=128, random_state=0),
                 data.X_train[:6000], data.y_train[:6000])
    X = data.X_test
    label, proba = _check_classifier(model, X, np.float32)
    assert (label == data.y_test).mean() > 0.7


def test_every_activation_has_an_onnx_form():
    assert set(ACTIVATION_CODES) | {"exp"} <= set(cymlp.onnx._ACTIVATIONS)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["absolute_error", "huber", "quantile", "gamma"])
def test_regressor_with_every_loss(loss, dtype):
    """The losses beyond scikit-learn's predict through the identity or exp output the
    graph already has; the loss is a training matter."""
    X, rng = _data(dtype)
    y = np.exp(X[:, 0] / 3) + 0.1 * rng.random(len(X))
    reg = _fit(cymlp.MLPRegressor(loss=loss, quantile=0.8, hidden_layer_sizes=(7,),
                                  max_iter=20, random_state=0), X, y)
    (got,) = _run(cymlp.onnx.to_onnx(reg, X[:1]), X)
    np.testing.assert_allclose(got.ravel(), reg.predict(X), rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype])
