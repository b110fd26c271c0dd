"""skops files: cymlp estimators, Networks and pipelines holding them round-trip with
identical predictions; the only types a user must trust are cymlp's own; a tampered
Network state is refused with a ValueError; pickling stores no compiled engine."""
import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cymlp

sio = pytest.importorskip("skops.io")

# what a user of a cymlp skops file is asked to trust: cymlp's own classes, nothing else
CYMLP_TYPES = {"cymlp.estimators.MLPClassifier", "cymlp.estimators.MLPRegressor",
               "cymlp.network.Network", "cymlp.optimizers.Adam", "cymlp.optimizers.AdamW",
               "cymlp.optimizers.SGD", "cymlp.optimizers.CosineSchedule",
               "cymlp.optimizers.StepSchedule"}


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


def _roundtrip(obj):
    data = sio.dumps(obj)
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) <= CYMLP_TYPES, untrusted
    return sio.loads(data, trusted=untrusted), untrusted


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 6)) * 5 + 2
    return X, rng


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_pipeline_roundtrip(data, solver, dtype):
    X, rng = data
    X = X.astype(dtype)
    y = rng.choice(["a", "b", "c"], len(X))
    pipe = _fit(make_pipeline(StandardScaler(), cymlp.MLPClassifier(
        (10, 5), solver=solver, max_iter=30, random_state=0)), X, y)
    loaded, untrusted = _roundtrip(pipe)
    expected = {"lbfgs": set(), "adam": {"cymlp.optimizers.Adam"},
                "sgd": {"cymlp.optimizers.SGD"}}[solver]
    assert set(untrusted) == {"cymlp.estimators.MLPClassifier", "cymlp.network.Network"} | expected
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), pipe.predict(X))
    # the loaded model goes on training exactly as the original does
    if solver != "lbfgs":
        for model in (pipe, loaded):
            model[-1].partial_fit(model[0].transform(X), y)
        np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


@pytest.mark.parametrize("learning_rate, schedule", [("cosine", "CosineSchedule"),
                                                     ("step", "StepSchedule")])
def test_adamw_with_a_schedule_and_dropout_roundtrip(data, learning_rate, schedule):
    X, rng = data
    y = rng.integers(0, 3, len(X))
    model = _fit(cymlp.MLPClassifier((8,), solver="adamw", learning_rate=learning_rate,
                                     dropout=0.2, activation="gelu", max_iter=4,
                                     random_state=0), X, y)
    loaded, untrusted = _roundtrip(model)
    assert set(untrusted) == {"cymlp.estimators.MLPClassifier", "cymlp.network.Network",
                              "cymlp.optimizers.AdamW", "cymlp.optimizers." + schedule}
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    for fitted in (model, loaded):   # both go on with the same optimizer state and clock
        fitted.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regressor_roundtrip(data, loss):
    X, rng = data
    y = np.abs(X[:, :2]) + rng.normal(size=(len(X), 2))
    model = _fit(cymlp.MLPRegressor(hidden_layer_sizes=(7,), loss=loss, max_iter=20,
                                    random_state=0), X, np.abs(y))
    loaded, _ = _roundtrip(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.loss_curve_ == model.loss_curve_ and loaded.n_iter_ == model.n_iter_
    # coefs_ are views of the loaded network's parameters again
    loaded.coefs_[0][0, 0] += 1.0
    assert not np.array_equal(loaded.predict(X), model.predict(X))


def test_network_with_shared_layers_roundtrip(data):
    X, _ = data
    shared = cymlp.Dense(4, 4)
    net = cymlp.Network([cymlp.Dense(6, 4), shared, shared, cymlp.Dense(4, 2)],
                        activation="tanh", output="identity", dtype=np.float32,
                        random_state=1)
    loaded, untrusted = _roundtrip(net)
    assert untrusted == ["cymlp.network.Network"]
    assert loaded.step_layers == net.step_layers and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))


def _tamper(data, change):
    """Rewrite the skops file's schema.json with ``change(schema)`` applied."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(content)
                change(schema)
                content = json.dumps(schema).encode()
            target.writestr(item, content)
    return out.getvalue()


def _set_json(node, value):
    node["content"] = json.dumps(value)


@pytest.mark.parametrize("edit, message", [
    # a first layer of 5 inputs: the parameter array no longer fits the layout
    (lambda st: _set_json(st["layout"]["content"]["layers"]["content"][0]["content"][0], 5),
     "params must be"),
    (lambda st: _set_json(st["layout"]["content"]["output"], "softmaxx"), "output must be"),
    (lambda st: _set_json(st["layout"]["content"]["steps"]["content"][1], 5),
     "step 1 uses layer"),
    (lambda st: _set_json(st["layout"]["content"]["activations"]["content"][0], "os.system"),
     "activations must name"),
    (lambda st: _set_json(st["dtype"], "int64"), "dtype"),
])
def test_tampered_network_state_is_refused(edit, message):
    data = sio.dumps(cymlp.Network([3, 4, 2], random_state=0))
    tampered = _tamper(data, lambda schema: edit(schema["content"]["content"]))
    with pytest.raises(ValueError, match=message):
        sio.loads(tampered, trusted=["cymlp.network.Network"])


def test_estimator_state_with_a_foreign_network_is_refused(data):
    X, rng = data
    model = _fit(cymlp.MLPRegressor(hidden_layer_sizes=(3,), max_iter=3, random_state=0), X,
                 rng.normal(size=len(X)))
    state = model.__getstate__()
    state["_network"] = StandardScaler()
    with pytest.raises(TypeError, match="_network must be a cymlp Network"):
        cymlp.MLPRegressor().__setstate__(state)


def test_pickle_holds_no_engine_and_copies_are_independent(data):
    X, _ = data
    net = cymlp.Network([6, 5, 3], random_state=0)
    state = net.__getstate__()
    assert set(state) == {"layout", "dtype", "params"}
    assert b"_engine" not in pickle.dumps(net)
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.forward(X), net.forward(X))
    clone.params[:] = 0
    assert np.any(net.params != 0)
