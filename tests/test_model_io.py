"""Model files: round trips without pickle, and every kind of damage refused clearly."""
import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning

import cymlp
from cymlp import model_io

X, y = load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {
            "classifier": cymlp.MLPClassifier((6,), max_iter=30, random_state=0).fit(
                X, np.array(["setosa", "versicolor", "virginica"])[y]),
            "regressor": cymlp.MLPRegressor(hidden_layer_sizes=(5, 4), max_iter=20,
                                            random_state=0).fit(X[:, :3], X[:, 3]),
            "multilabel": cymlp.MLPClassifier((5,), max_iter=10, random_state=0).fit(
                *make_multilabel_classification(40, 4, n_classes=3, random_state=0)),
            "float32": cymlp.MLPClassifier((5,), max_iter=10, random_state=0).fit(
                X.astype(np.float32), y),
        }


@pytest.mark.parametrize("name", ["classifier", "regressor", "multilabel", "float32"])
def test_estimator_round_trip(fitted, name, tmp_path):
    model = fitted[name]
    path = model_io.save(model, tmp_path / "model.npz")
    loaded = model_io.load(path)
    assert type(loaded) is type(model)
    inputs = X[:, :3] if name == "regressor" else X[:40, :4] if name == "multilabel" else X
    inputs = inputs.astype(np.float32) if name == "float32" else inputs
    np.testing.assert_array_equal(loaded.predict(inputs), model.predict(inputs))
    assert loaded.get_params() == model.get_params()
    for attr in ("n_iter_", "loss_", "loss_curve_", "n_layers_", "out_activation_", "t_"):
        assert getattr(loaded, attr) == getattr(model, attr)
    if hasattr(model, "classes_"):
        np.testing.assert_array_equal(loaded.classes_, model.classes_)
    loaded.partial_fit(inputs, model.predict(inputs))  # still trainable


def test_network_round_trip_with_shared_layer(tmp_path):
    shared = cymlp.Dense(4, 4)
    net = cymlp.Network([cymlp.Dense(3, 4), shared, shared, cymlp.Dense(4, 2)],
                        ["tanh", "relu", "logistic"], "identity", random_state=0)
    loaded = model_io.load(model_io.save(net, tmp_path / "net.npz"))
    assert loaded.step_layers == [0, 1, 1, 2]
    np.testing.assert_array_equal(loaded.forward(X[:5, :3]), net.forward(X[:5, :3]))


def test_feature_names_are_kept(tmp_path):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = cymlp.MLPClassifier((3,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(frame, y)
    loaded = model_io.load(model_io.save(clf, tmp_path / "m.npz"))
    assert list(loaded.feature_names_in_) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(loaded.predict(frame), clf.predict(frame))


def test_every_truncation_and_random_byte_flips_are_refused(fitted, tmp_path):
    path = model_io.save(fitted["classifier"], tmp_path / "model.npz")
    raw = path.read_bytes()
    damaged = tmp_path / "damaged.npz"
    for cut in range(0, len(raw), max(1, len(raw) // 200)):
        damaged.write_bytes(raw[:cut])
        with pytest.raises(model_io.ModelFileError):
            model_io.load(damaged)
    rng = np.random.default_rng(0)
    for _ in range(300):
        flipped = bytearray(raw)
        position = rng.integers(len(raw))
        flipped[position] ^= 1 << rng.integers(8)
        damaged.write_bytes(bytes(flipped))
        try:
            loaded = model_io.load(damaged)
        except model_io.ModelFileError:
            continue
        # a flip in bytes the zip reader ignores (e.g. timestamps) may load: then the
        # model must be exactly the saved one
        np.testing.assert_array_equal(loaded.predict_proba(X), fitted["classifier"].predict_proba(X))


@pytest.mark.parametrize("field_offset, value, what", [
    (8, 99, "unknown compression method"),
    (6, 1, "encryption flag"),
])
def test_damaged_zip_fields_are_refused(fitted, tmp_path, field_offset, value, what):
    raw = bytearray(model_io.save(fitted["classifier"], tmp_path / "model.npz").read_bytes())
    # every local and central file header gets the damaged field
    for signature, offset in ((b"PK\x03\x04", field_offset), (b"PK\x01\x02", field_offset + 2)):
        start = raw.find(signature)
        while start != -1:
            raw[start + offset] = value
            start = raw.find(signature, start + 4)
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(bytes(raw))
    with pytest.raises(model_io.ModelFileError, match="not a readable cymlp model"):
        model_io.load(damaged)


def _rewrite_header(path, change):
    with np.load(path) as archive:
        entries = {name: archive[name] for name in archive.files}
    header = json.loads(entries["header"].tobytes())
    change(header)
    entries["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    entries.pop("checksum")
    entries["checksum"] = model_io._checksum(entries)
    np.savez(path, **entries)


def test_newer_format_version_is_refused(fitted, tmp_path):
    path = model_io.save(fitted["regressor"], tmp_path / "model.npz")
    _rewrite_header(path, lambda h: h.update(version=model_io.FORMAT_VERSION + 1))
    with pytest.raises(model_io.ModelFileError, match="newer than this cymlp reads"):
        model_io.load(path)


def test_foreign_files_are_refused(tmp_path):
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(model_io.ModelFileError, match="not a cymlp model"):
        model_io.load(tmp_path / "other.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(model_io.ModelFileError):
        model_io.load(tmp_path / "text.npz")
    with pytest.raises(FileNotFoundError):
        model_io.load(tmp_path / "missing.npz")


def test_unfitted_estimator_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not fitted"):
        model_io.save(cymlp.MLPClassifier(), tmp_path / "m.npz")
    with pytest.raises(TypeError, match="can only save"):
        model_io.save(object(), tmp_path / "m.npz")
