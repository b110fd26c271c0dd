"""A model-file fuzzer: every damaged or forged file ends as a ``ModelFileError`` found
by a check (never another exception, never the load's safety net), or as a model that
predicts finite values of the right shape.

Four kinds of damage, each on the files of eight fitted models (classifier, binary
classifier with feature names, multi-output regressor, quantile regressor, classifier
of three label columns (text and numbers), Network with a shared layer, and two
tables' pipelines: a classifier and a regressor with a standardized target):
byte flips, truncation, header mutations with the checksum recomputed (a forger's
file), and member-size lies (a ``.npy`` header declaring another shape, checksum
recomputed).  ``CYMLP_FUZZ_EXAMPLES`` sets the examples per kind (default 60; CI runs
thousands and reports the count).
"""
import collections
import io
import json
import os
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

import cymlp
from cymlp import model_io
from cymlp.tables import categorical_columns

EXAMPLES = int(os.environ.get("CYMLP_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=list(HealthCheck))
RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 5))


def _models():
    y3 = np.array(["ant", "bee", "cat"])[RNG.integers(0, 3, 40)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = cymlp.MLPClassifier((6,), max_iter=5, random_state=0).fit(X, y3)
        pandas = pytest.importorskip("pandas")
        frame = pandas.DataFrame(X, columns=list("abcde"))
        binary = cymlp.MLPClassifier((4, 3), max_iter=5, random_state=0).fit(
            frame, X[:, 0] > 0)
        regressor = cymlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, X[:, :2])
        quantile = cymlp.MLPRegressor(loss="quantile", quantile=0.8, hidden_layer_sizes=(4,),
                                      max_iter=5, random_state=0).fit(X, X[:, 0])
        labels = np.column_stack([y3, RNG.choice(["x", "y"], 40), RNG.integers(0, 4, 40)])
        label_columns = cymlp.MLPClassifier((5,), max_iter=5, random_state=0).fit(X, labels)
    shared = cymlp.Dense(4, 4)
    network = cymlp.Network([cymlp.Dense(5, 4), shared, shared, cymlp.Dense(4, 2)],
                            ["tanh", "relu", "logistic"], "softmax", dtype=np.float32,
                            random_state=0)
    from cymlp.tables import make_table_pipeline
    table = pandas.DataFrame({"colour": RNG.choice(["red", "blue", None], 40),
                              "size": np.where(RNG.random(40) < 0.1, np.nan, X[:, 0]),
                              "code": ["c%d" % (k % 7) for k in range(40)],
                              "weight": X[:, 1]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table_classifier = make_table_pipeline(
            cymlp.MLPClassifier((4,), max_iter=5, random_state=0), table,
            min_frequency=6).fit(table, y3)
        table_regressor = make_table_pipeline(
            cymlp.MLPRegressor(hidden_layer_sizes=(3,), max_iter=5, random_state=0),
            table).fit(table, 100 + 10 * X[:, 2])
    return {"classifier": classifier, "binary": binary, "regressor": regressor,
            "quantile": quantile, "label_columns": label_columns,
            "network": network, "table_classifier": table_classifier,
            "table_regressor": table_regressor}


MODELS = _models()
FILES = {}
for _name, _model in MODELS.items():
    _path = model_io.save(_model, "/tmp/cymlp-fuzz-%d-%s.npz" % (os.getpid(), _name))
    FILES[_name] = _path.read_bytes()
    _path.unlink()
NAMES = sorted(FILES)


OUTCOMES = collections.Counter()


@pytest.fixture(scope="module", autouse=True)
def report_outcomes():
    """With ``CYMLP_FUZZ_REPORT`` set, write the fuzz cases' outcomes there as JSON."""
    yield
    if os.environ.get("CYMLP_FUZZ_REPORT"):
        with open(os.environ["CYMLP_FUZZ_REPORT"], "w") as out:
            json.dump({"examples_per_kind": EXAMPLES, **OUTCOMES}, out, sort_keys=True)


def record(outcome):
    """Count a fuzz case's outcome (also in hypothesis's statistics); return it."""
    if currently_in_test_context():
        event(outcome)
        OUTCOMES[outcome] += 1
    return outcome


def check_outcome(raw, tmp_path):
    """Load ``raw``: a ModelFileError from a check, or a model that predicts finite
    values of the right shape."""
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(raw)
    try:
        model = model_io.load(path)
    except model_io.ModelFileError as exc:
        assert not getattr(exc, "unexpected", False), "safety net caught: %s" % exc
        return record("refused")
    if isinstance(model, cymlp.Network):
        inputs = np.zeros((3, model.n_inputs), dtype=model.dtype)
        output = model.forward(inputs)
        assert output.shape == (3, model.n_outputs)
        assert np.isfinite(output).all()
        return record("loaded")
    if type(model).__name__ == "Pipeline":
        # a table's rows with every cell empty: medians, the empty-cell categories
        import pandas
        inputs = pandas.DataFrame({c: [np.nan] * 3 for c in model.feature_names_in_})
        for column in categorical_columns(model):
            inputs[column] = pandas.Series([None] * 3, dtype=object)
        output = model.predict(inputs)
        assert len(output) == 3
        if hasattr(model, "predict_proba"):
            assert np.isfinite(model.predict_proba(inputs)).all()
        else:
            assert np.isfinite(output).all()
        return record("loaded")
    n_features = model.n_features_in_
    inputs = np.zeros((3, n_features))
    if hasattr(model, "feature_names_in_"):
        import pandas
        inputs = pandas.DataFrame(inputs, columns=list(model.feature_names_in_))
    output = model.predict(inputs)
    assert len(output) == 3
    if isinstance(model, cymlp.MLPClassifier) and isinstance(model.classes_, list):
        # label columns: each column's labels among its classes, a distribution each
        assert output.shape == (3, len(model.classes_))
        for column, classes, proba in zip(output.T, model.classes_,
                                          model.predict_proba(inputs)):
            assert set(column) <= set(classes)
            assert proba.shape == (3, len(classes)) and np.isfinite(proba).all()
    elif isinstance(model, cymlp.MLPClassifier):
        assert set(np.asarray(output).ravel()) <= set(model.classes_.ravel())
        proba = model.predict_proba(inputs)
        assert np.isfinite(proba).all()
    else:
        assert np.isfinite(output).all()
    return record("loaded")


def _entries(raw):
    with np.load(io.BytesIO(raw)) as archive:
        return {name: archive[name] for name in archive.files}


def _pack(entries):
    entries = dict(entries)
    entries.pop("checksum", None)
    entries["checksum"] = model_io._checksum(entries)
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    return buffer.getvalue()


@FUZZ
@given(name=st.sampled_from(NAMES), flips=st.lists(
    st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=8))
def test_byte_flips(tmp_path_factory, name, flips):
    raw = bytearray(FILES[name])
    for where, bit in flips:
        raw[int(where * len(raw))] ^= 1 << bit
    check_outcome(bytes(raw), tmp_path_factory.mktemp("flip"))


@FUZZ
@given(name=st.sampled_from(NAMES), keep=st.floats(0, 1, exclude_max=True))
def test_truncation(tmp_path_factory, name, keep):
    raw = FILES[name]
    assert check_outcome(raw[:int(keep * len(raw))], tmp_path_factory.mktemp("cut")) == "refused"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
    | st.sampled_from(["relu", "softmax", "logistic", "identity", "exp", "adam", "binary",
                       "multiclass", "MLPClassifier", "Network", "float32", "float64",
                       "quantile", "huber", "gamma", "multiclass-multioutput",
                       "softmax_groups", "loss_param"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


def _paths(value, prefix=()):
    """Every path to a node of a JSON tree."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, prefix + (index,))


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data())
def test_header_mutations_with_recomputed_checksum(tmp_path_factory, name, data):
    entries = _entries(FILES[name])
    header = json.loads(entries["header"].tobytes())
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(header) if p]
        path = data.draw(st.sampled_from(paths))
        parent = header
        for key in path[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "add", "nudge"]))
        if action == "replace":
            parent[path[-1]] = data.draw(JSON_VALUES)
        elif action == "nudge" and isinstance(parent[path[-1]], int):
            parent[path[-1]] += data.draw(st.sampled_from([-1, 1, 2 ** 31, -2 ** 31]))
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(st.text(max_size=10))] = data.draw(JSON_VALUES)
        else:
            parent.append(data.draw(JSON_VALUES))
    text = json.dumps(header).encode()
    entries["header"] = np.frombuffer(text, dtype=np.uint8)
    check_outcome(_pack(entries), tmp_path_factory.mktemp("header"))


@FUZZ
@given(name=st.sampled_from(NAMES), data=st.data())
def test_member_size_lies(tmp_path_factory, name, data):
    entries = _entries(FILES[name])
    member = data.draw(st.sampled_from(sorted(set(entries) - {"checksum"})))
    array = entries[member]
    new_shape = data.draw(st.sampled_from([
        (array.size + 1,), (max(array.size - 1, 0),), (array.size * 1000,), (2 ** 33,),
        (array.size, 1), (1, array.size), (), (2 ** 62, 2 ** 62)]))
    # keep the data, lie in the .npy header (and, half the time, in the zip sizes too)
    entries.pop("checksum")
    checksum = model_io._checksum(dict(entries, **{member: np.zeros(0, array.dtype)}))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for key, value in dict(entries, checksum=checksum).items():
            body = io.BytesIO()
            np.lib.format.write_array(body, value, allow_pickle=False)
            raw = body.getvalue()
            if key == member:
                header = np.lib.format.header_data_from_array_1_0(value)
                header["shape"] = new_shape
                head = io.BytesIO()
                np.lib.format.write_array_header_1_0(head, header)
                raw = head.getvalue() + raw[len(raw) - value.nbytes:]
            archive.writestr(key + ".npy", raw)
    check_outcome(buffer.getvalue(), tmp_path_factory.mktemp("size"))


@pytest.mark.parametrize("name", NAMES)
def test_unchanged_files_load(tmp_path, name):
    assert check_outcome(FILES[name], tmp_path) == "loaded"
