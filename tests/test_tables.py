"""Tables as users have them (issue 25): text, boolean and numeric columns, empty cells,
id columns, integer targets; from the CSV through ``cymlp train`` into a model file that
carries its preprocessing, and back out through ``predict``, ``evaluate`` and ONNX.

The tables are generated with the shapes real ones have (penguin-like measurements with
missing cells, a diamond-like price table with an integer price, a 32-row table whose
first column is the row's name) and each command runs in a subprocess.
"""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from cymlp import MLPClassifier, MLPRegressor, model_io  # noqa: E402
from cymlp.tables import (ID_MIN_ROWS, MAX_CATEGORIES, column_roles, infer_task,  # noqa: E402
                          make_table_pipeline)


def run(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "cymlp", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def penguins(n=344, seed=0):
    """Species from bill and flipper sizes (mm), mass (g), island and sex as text, with
    empty cells in every column but the species, and a year column."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], n, p=[0.44, 0.2, 0.36])
    centre = {"Adelie": (38.8, 18.3, 190, 3700), "Chinstrap": (48.8, 18.4, 196, 3730),
              "Gentoo": (47.5, 15.0, 217, 5076)}
    sizes = np.array([centre[s] for s in species]) + rng.normal(
        size=(n, 4)) * [2.5, 0.9, 6, 400]
    island = np.where(species == "Gentoo", "Biscoe", np.where(
        species == "Chinstrap", "Dream", rng.choice(["Biscoe", "Dream", "Torgersen"], n)))
    frame = pd.DataFrame({"species": species, "island": island,
                          "bill_length_mm": sizes[:, 0].round(1),
                          "bill_depth_mm": sizes[:, 1].round(1),
                          "flipper_length_mm": sizes[:, 2].round(0),
                          "body_mass_g": sizes[:, 3].round(-1),
                          "sex": rng.choice(["male", "female"], n),
                          "year": rng.choice([2007, 2008, 2009], n)})
    frame = frame.astype({"sex": object, "island": object})
    for column, rows in (("bill_length_mm", [3, 271]), ("sex", [3, 8, 9, 10, 11, 47]),
                         ("body_mass_g", [3, 271]), ("island", [100])):
        frame.loc[rows, column] = None if frame[column].dtype == object else np.nan
    return frame


def diamonds(n=4000, seed=1):
    """An integer price from carat, cut, colour, clarity and sizes (3 text columns)."""
    rng = np.random.default_rng(seed)
    carat = rng.gamma(2.0, 0.4, n).round(2) + 0.2
    cut = rng.choice(["Fair", "Good", "Very Good", "Premium", "Ideal"], n)
    color = rng.choice(list("DEFGHIJ"), n)
    clarity = rng.choice(["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"], n)
    quality = (pd.Series(cut).map({"Fair": 0.8, "Good": 0.9, "Very Good": 1.0,
                                   "Premium": 1.05, "Ideal": 1.1}).to_numpy()
               * (1.2 - 0.05 * pd.Series(color).map(dict(zip("DEFGHIJ", range(7)))).to_numpy()))
    price = np.round(3900 * carat ** 1.7 * quality * rng.lognormal(0, 0.08, n)).astype(int)
    return pd.DataFrame({"carat": carat, "cut": cut, "color": color, "clarity": clarity,
                         "depth": rng.normal(61.7, 1.4, n).round(1),
                         "table": rng.normal(57.4, 2.2, n).round(0),
                         "x": (carat ** (1 / 3) * 6.5).round(2), "price": price})


def write(frame, path, **kwargs):
    frame.to_csv(path, index=False, **kwargs)
    return str(path)


def train(tmp_path, *args, name="run"):
    out = tmp_path / name
    result = run("train", "--no-progress", "--output-dir", str(out), "--layers", "32",
                 *args)
    assert result.returncode == 0, result.stderr
    return out, result.stdout, json.loads((out / "metrics.json").read_text())


# -- the roles and the task rule ---------------------------------------------------------

def test_column_roles_follow_the_stated_rules():
    frame = penguins().drop(columns=["species"])
    frame["name"] = ["bird %d" % i for i in range(len(frame))]
    frame["flag"] = frame["year"] > 2008
    frame["Unnamed: 0"] = np.arange(len(frame))
    roles = column_roles(frame, drop="year")
    assert roles.numeric == ["bill_length_mm", "bill_depth_mm", "flipper_length_mm",
                             "body_mass_g"]
    assert roles.missing == ["bill_length_mm", "body_mass_g"]
    assert set(roles.categorical) == {"island", "sex", "flag"}
    assert roles.ids == ["name", "Unnamed: 0"] and roles.dropped == ["year"]
    roles = column_roles(frame, categorical=["year"])
    assert "year" in roles.categorical
    # a unique text column is an id only from ID_MIN_ROWS rows
    few = pd.DataFrame({"colour": ["red", "green", "blue"], "size": [1.0, 2.0, 3.0]})
    assert column_roles(few).categorical == ["colour"] and ID_MIN_ROWS > 3
    with pytest.raises(ValueError, match="does not have: 'nope'"):
        column_roles(frame, drop=["nope"])
    with pytest.raises(ValueError, match="no feature columns left"):
        column_roles(frame[["name"]])
    with pytest.raises(TypeError, match="DataFrame"):
        column_roles(frame.to_numpy())


@pytest.mark.parametrize("values, task", [
    (np.array(["a", "b"]), "classify"), (np.array([1.5, 2.0]), "regress"),
    (np.arange(30) % 30, "classify"), (np.arange(31), "regress"),
    (np.array([True, False]), "classify")])
def test_task_rule(values, task):
    assert infer_task(values)[0] == task


# -- the Python road -----------------------------------------------------------------------

def test_make_table_pipeline_trains_on_the_table_as_it_is(tmp_path):
    frame = penguins()
    X, y = frame.drop(columns=["species"]), frame["species"]
    pipe = make_table_pipeline(MLPClassifier(max_iter=300, random_state=0), X.iloc[:250])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X.iloc[:250], y.iloc[:250])
    assert pipe.score(X.iloc[250:], y.iloc[250:]) > 0.9
    # unseen categories and empty cells at predict time: all-zero one-hot, never an error
    new = X.iloc[250:260].copy()
    new.loc[new.index[0], "island"] = "Atlantis"
    new.loc[new.index[1], "sex"] = None
    assert pipe.predict(new).shape == (10,)
    path = model_io.save(pipe, tmp_path / "model.npz")
    back = model_io.load(path)
    np.testing.assert_array_equal(back.predict_proba(new), pipe.predict_proba(new))
    assert type(back[-1]) is MLPClassifier


def test_regression_target_is_standardized_and_predictions_in_its_units(tmp_path):
    frame = diamonds()
    X, y = frame.drop(columns=["price"]), frame["price"]
    pipe = make_table_pipeline(MLPRegressor(max_iter=200, random_state=0), X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X.iloc[:3000], y.iloc[:3000])
    assert pipe.score(X.iloc[3000:], y.iloc[3000:]) > 0.9
    assert abs(np.median(pipe.predict(X.iloc[3000:])) / np.median(y.iloc[3000:]) - 1) < 0.2
    back = model_io.load(model_io.save(pipe, tmp_path / "price.npz"))
    np.testing.assert_array_equal(back.predict(X.iloc[:50]), pipe.predict(X.iloc[:50]))


def test_a_column_of_a_hundred_thousand_categories_costs_at_most_the_cap(tmp_path):
    n = 100_000
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"code": ["c%06d" % i for i in rng.permutation(n)],
                      "shop": rng.choice(["a", "b"], n),
                      "value": rng.normal(size=n)})
    X.loc[::7, "code"] = "common"     # one frequent category among 10**5 rare ones
    X.loc[::11, "code"] = None        # and empty cells
    y = (X["value"] > 0).to_numpy()
    pipe = make_table_pipeline(MLPClassifier(hidden_layer_sizes=(8,), max_iter=2,
                                             random_state=0), X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    width = pipe[-1].n_features_in_
    assert width <= 1 + 1 + MAX_CATEGORIES + 2   # value, code (capped), shop
    path = model_io.save(pipe, tmp_path / "wide.npz")
    back = model_io.load(path)
    np.testing.assert_array_equal(back.predict(X.iloc[:100]), pipe.predict(X.iloc[:100]))


# -- forged model files with preprocessing members ------------------------------------------

@pytest.fixture(scope="module")
def table_model(tmp_path_factory):
    frame = penguins()
    X, y = frame.drop(columns=["species"]), frame["species"]
    pipe = make_table_pipeline(MLPClassifier((8,), max_iter=20, random_state=0), X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    path = tmp_path_factory.mktemp("model") / "table.npz"
    model_io.save(pipe, path)
    return path, X


def _entries(path):
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def _forge(path, out, change_header=None, change_entries=None):
    entries = _entries(path)
    header = json.loads(entries["header"].tobytes())
    if change_header:
        change_header(header)
    entries["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    if change_entries:
        change_entries(entries)
    entries.pop("checksum")
    entries["checksum"] = model_io._checksum(entries)
    np.savez(out, **entries)
    return out


def _refused(path):
    """The message of the ModelFileError a check (not the load's safety net) raised."""
    with pytest.raises(model_io.ModelFileError) as info:
        model_io.load(path)
    assert not getattr(info.value, "unexpected", False), info.value
    return str(info.value)


def _part(header, kind):
    return next(p for p in header["pipeline"]["parts"] if p["kind"] == kind)


def _set(mapping, **values):
    mapping.update(values)


def _text_members(header, entries, values):
    """Replace the first categorical column's categories with the text ``values``."""
    spec = _part(header, "categorical")["categories"]
    values = [v if isinstance(v, bytes) else v.encode() for v in values]
    data = b"".join(values)
    offsets = np.cumsum([0] + [len(v) for v in values]).astype(np.int64)
    entries["state_%d" % spec["array"]] = np.frombuffer(data, dtype=np.uint8).copy()
    entries["state_%d" % spec["offsets"]] = offsets
    header["pipeline"]["arrays"][spec["array"]] = {"dtype": "|u1", "shape": [len(data)]}
    header["pipeline"]["arrays"][spec["offsets"]] = {"dtype": "<i8",
                                                     "shape": [len(offsets)]}


@pytest.mark.parametrize("what, header_change, entries_change, message", [
    ("a part of another kind", lambda h: _set(_part(h, "missing"), kind="function"),
     None, "unknown kind"),
    ("a NaN median", lambda h: _part(h, "numeric")["median"].__setitem__(0, float("nan")),
     None, "medians"),
    ("a zero scale", lambda h: _part(h, "numeric")["scale"].__setitem__(0, 0.0), None,
     "not positive"),
    ("a scale that is not the deviation",
     lambda h: _part(h, "numeric")["scale"].__setitem__(0, 1e-300), None,
     "square root of its variance"),
    ("a median far from its mean",
     lambda h: _part(h, "numeric")["median"].__setitem__(0, 1e300), None,
     "more than one standard deviation"),
    ("a column the table does not have",
     lambda h: _set(_part(h, "missing"), columns=["nowhere"]), None,
     "reads columns it does not take"),
    ("a part of two categorical columns",
     lambda h: _set(_part(h, "categorical"), columns=["island", "sex"]), None,
     "one-hot encodes 2 columns"),
    ("an infrequent index out of range",
     lambda h: _set(_part(h, "categorical"), infrequent=[10 ** 6]), None,
     "infrequent"),
    ("a min_frequency of text",
     lambda h: _part(h, "categorical")["params"].update(min_frequency="5"), None,
     "min_frequency"),
    ("a step name with a double underscore",
     lambda h: h["pipeline"].update(steps=["a__b", "model"]), None, "step name"),
    ("a width the estimator does not take",
     lambda h: _set(_part(h, "missing"), columns=_part(h, "missing")["columns"][:1]),
     None, "makes"),
    ("a standardized target for a classifier", lambda h: h["pipeline"].update(
        target={"mean": 0.0, "scale": 1.0, "var": 1.0, "n_samples_seen": 3}), None,
     "target of a classifier"),
    ("repeated categories", "text", ["Biscoe", "Dream", "Dream"], "repeated categories"),
    ("text that is not UTF-8", "text", ["Biscoe", b"\xff\xfe"], "not UTF-8"),
    ("offsets past the text", "offsets", [0, 3, 999], "malformed text"),
    ("decreasing offsets", "offsets", [0, 6, 2, 6], "malformed text"),
    ("an array of object dtype", lambda h: h["pipeline"]["arrays"][0].update(
        dtype="|O"), None, "dtype"),
    ("an array larger than declared", None,
     lambda e: e.update(state_0=np.concatenate([e["state_0"], e["state_0"]])), "shape"),
    ("a missing array member", None, lambda e: e.pop("state_0"), "missing"),
    ("an undeclared member", None, lambda e: e.update({"state_4000": np.zeros(3)}),
     "no member"),
    ("a member name that is no index", None,
     lambda e: e.update({"state_01": np.zeros(3)}), "unexpected member"),
    ("a pipeline in a Network file", lambda h: h.update({"kind": "Network"}), None,
     "Network"),
])
def test_forged_preprocessing_is_refused(table_model, tmp_path, what, header_change,
                                         entries_change, message):
    path, _ = table_model
    if header_change in ("text", "offsets"):   # a forger's text members, consistent sizes
        kind, values = header_change, entries_change
        entries = _entries(path)
        header = json.loads(entries["header"].tobytes())
        if kind == "text":
            _text_members(header, entries, values)
        else:
            _text_members(header, entries, ["Biscoe", "Dream", "Torgersen"])
            spec = _part(header, "categorical")["categories"]
            entries["state_%d" % spec["offsets"]] = np.asarray(values, dtype=np.int64)
            header["pipeline"]["arrays"][spec["offsets"]]["shape"] = [len(values)]
        entries["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        entries.pop("checksum")
        entries["checksum"] = model_io._checksum(entries)
        np.savez(tmp_path / "forged.npz", **entries)
        forged = tmp_path / "forged.npz"
    else:
        forged = _forge(path, tmp_path / "forged.npz", header_change, entries_change)
    assert message in _refused(forged), what


def test_a_tampered_preprocessing_array_fails_the_checksum(table_model, tmp_path):
    path, _ = table_model
    entries = _entries(path)
    entries["state_1"] = entries["state_1"].copy()   # one letter of a category
    entries["state_1"][0] ^= 1
    np.savez(tmp_path / "tampered.npz", **entries)
    assert "checksum" in _refused(tmp_path / "tampered.npz")


def test_a_pipeline_with_other_steps_is_not_saved(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    X = np.random.default_rng(0).normal(size=(40, 3))
    pipe = make_pipeline(FunctionTransformer(np.abs), MLPClassifier((4,), max_iter=5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, X[:, 0] > 0)
    with pytest.raises(TypeError, match="cannot save this pipeline"):
        model_io.save(pipe, tmp_path / "no.npz")
    assert not (tmp_path / "no.npz").exists()


# -- the command line, in subprocesses --------------------------------------------------------

def test_train_predict_evaluate_on_a_messy_table(tmp_path):
    frame = penguins()
    frame.insert(0, "name", ["bird-%03d" % i for i in range(len(frame))])
    frame["tagged"] = np.where(np.arange(len(frame)) % 3 == 0, "True", "False")
    frame.loc[5, "tagged"] = None
    data = write(frame, tmp_path / "penguins.csv")
    out, stdout, metrics = train(tmp_path, "--data", data, "--target", "species")
    assert "(classify)" in stdout
    assert ("3 categorical columns one-hot" in stdout and "5 numeric standardized" in stdout
            and "1 id column dropped (name)" in stdout and "empty cells" in stdout)
    assert "training up to 1,000 epochs" in stdout   # sized to 250 rows, early stopping
    assert metrics["test_score"] > 0.9 and metrics["epochs_completed"] > 30
    # new rows: columns permuted, an extra one, an unseen island, the id carried along
    new = frame.drop(columns=["species"]).iloc[:20].copy()
    new = new[list(reversed(new.columns))]
    new["comment"] = "x"
    new.loc[0, "island"] = "Atlantis"
    rows = write(new, tmp_path / "new.csv")
    result = run("predict", str(out / "model.npz"), rows)
    assert result.returncode == 0, result.stderr
    assert "does not read: name, comment" in result.stdout or "comment" in result.stdout
    written = pd.read_csv(tmp_path / "new.pred.csv")
    assert list(written.columns) == ["name", "prediction"]
    assert written["name"].tolist() == new["name"].tolist()
    assert set(written["prediction"]) <= {"Adelie", "Chinstrap", "Gentoo"}
    result = run("predict", str(out / "model.npz"), rows, "--proba", "--output",
                 str(tmp_path / "p.csv"))
    proba = pd.read_csv(tmp_path / "p.csv")
    assert list(proba.columns) == ["name", "proba_Adelie", "proba_Chinstrap", "proba_Gentoo"]
    np.testing.assert_allclose(proba.iloc[:, 1:].sum(axis=1), 1, atol=1e-5)
    # a missing column is a clear error
    write(new.drop(columns=["island"]), tmp_path / "short.csv")
    result = run("predict", str(out / "model.npz"), str(tmp_path / "short.csv"))
    assert result.returncode == 2 and "lacks the column 'island'" in result.stderr
    # evaluate finds the target as the one column the model does not read
    result = run("evaluate", str(out / "model.npz"), "--data", data)
    assert result.returncode == 0, result.stderr
    assert "target 'species'" in result.stdout and "accuracy: 0.9" in result.stdout
    # --init-from keeps the fitted preprocessing
    again, stdout, _ = train(tmp_path, "--data", data, "--target", "species", "--epochs",
                             "2", "--init-from", str(out / "model.npz"), name="again")
    before, after = model_io.load(out / "model.npz"), model_io.load(again / "model.npz")
    assert after[-1].t_ > before[-1].t_
    np.testing.assert_array_equal(after[0].transform(new), before[0].transform(new))


def test_an_integer_price_is_regressed_in_its_units(tmp_path):
    data = write(diamonds(), tmp_path / "diamonds.csv")
    out, stdout, metrics = train(tmp_path, "--data", data, "--target", "price")
    assert "distinct whole numbers, more than 30 classes: values to regress" in stdout
    assert "(regress)" in stdout and "3 categorical columns one-hot" in stdout
    assert metrics["test_score"] > 0.9 and 0 < metrics["test_mae"] < 1000
    assert "test RMSE:" in stdout
    result = run("evaluate", str(out / "model.npz"), "--data", data)
    assert result.returncode == 0 and result.stdout.startswith("R2: 0.9"), result.stderr
    # forced classification: a short message, never the class list
    result = run("train", "--data", data, "--target", "price", "--task", "classify",
                 "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert "classes have one row; for a numeric target use --task regress" in result.stderr
    assert len(result.stderr) < 300


def test_a_small_table_whose_first_column_names_the_row(tmp_path):
    rng = np.random.default_rng(3)
    cars = pd.DataFrame({"": ["car %d" % i for i in range(32)],
                         "cyl": rng.choice([4, 6, 8], 32), "hp": rng.integers(50, 300, 32),
                         "wt": rng.uniform(1.5, 5.4, 32).round(3)})
    cars["mpg"] = (40 - 4 * cars["wt"] - 0.02 * cars["hp"] + rng.normal(0, 1, 32)).round(1)
    data = write(cars, tmp_path / "cars.csv")
    _, stdout, metrics = train(tmp_path, "--data", data)
    assert "1 id column dropped (Unnamed: 0)" in stdout and "(regress)" in stdout
    assert metrics["data"]["feature_names"][0] == "Unnamed: 0"


def test_drop_and_categorical_override_the_guesses(tmp_path):
    frame = diamonds(600)
    frame["postcode"] = np.random.default_rng(4).choice(["02134", "10001", "94105"], 600)
    data = write(frame, tmp_path / "d.csv")
    _, stdout, _ = train(tmp_path, "--data", data, "--target", "price", "--epochs", "2",
                         "--drop", "depth,table", "--categorical", "postcode")
    assert "4 categorical columns one-hot" in stdout and "2 dropped by --drop" in stdout
    result = run("train", "--data", data, "--drop", "nope", "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 2 and "'nope'" in result.stderr


def test_bad_cells_are_named_by_line_and_column(tmp_path):
    frame = diamonds(50)
    frame["depth"] = frame["depth"].astype(object)
    frame.loc[7, "depth"] = "sixty"
    data = write(frame, tmp_path / "typo.csv")
    result = run("train", "--data", data, "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 2
    assert "typo.csv, line 9: column 'depth' is not a number ('sixty'" in result.stderr
    assert "--categorical depth" in result.stderr
    frame = diamonds(50)
    frame.loc[4, "price"] = None
    data = write(frame, tmp_path / "hole.csv")
    result = run("train", "--data", data, "--epochs", "1", cwd=tmp_path)
    assert result.returncode == 2 and "line 6: the target 'price' is empty" in result.stderr


def test_parquet_tables(tmp_path):
    pytest.importorskip("pyarrow")
    frame = penguins()
    frame.to_parquet(tmp_path / "p.parquet")
    out, stdout, metrics = train(tmp_path, "--data", str(tmp_path / "p.parquet"),
                                 "--target", "species", "--epochs", "5")
    assert "(classify)" in stdout
    result = run("predict", str(out / "model.npz"), str(tmp_path / "p.parquet"))
    assert result.returncode == 0, result.stderr
    assert len(pd.read_csv(tmp_path / "p.pred.csv")) == len(frame)


# -- ONNX: the whole pipeline, text inputs included ---------------------------------------------

@pytest.mark.parametrize("kind", ["classify", "regress"])
def test_onnx_export_of_a_table_pipeline_equals_python(kind, tmp_path):
    rt = pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    import cymlp.onnx
    frame = penguins() if kind == "classify" else diamonds(1500)
    target = "species" if kind == "classify" else "price"
    X, y = frame.drop(columns=[target]), frame[target]
    # a column with rare categories pooled as infrequent, and empty cells
    X["rare"] = ["r%d" % (i % 40) if i % 9 else "often" for i in range(len(X))]
    X.loc[::13, "rare"] = None
    estimator = MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0) if kind == "classify" \
        else MLPRegressor(hidden_layer_sizes=(16,), max_iter=50, random_state=0)
    pipe = make_table_pipeline(estimator, X, min_frequency=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    rare = next(t for _, t, columns in pipe[0].transformers_ if columns == ["rare"])
    assert rare.infrequent_categories_[0] is not None
    pipe = model_io.load(model_io.save(pipe, tmp_path / "m.npz"))
    new = X.iloc[:200].copy()
    new.loc[new.index[0], "rare"] = "never seen"
    onx = cymlp.onnx.to_onnx(pipe, new, options={"zipmap": False} if kind == "classify"
                             else None)
    session = rt.InferenceSession(onx.SerializeToString())
    outputs = session.run(None, cymlp.onnx.table_inputs(pipe, new))
    if kind == "classify":
        np.testing.assert_array_equal(outputs[0], pipe.predict(new))
        np.testing.assert_allclose(outputs[1], pipe.predict_proba(new), atol=1e-5)
    else:
        expected = pipe.predict(new)
        np.testing.assert_allclose(outputs[0].ravel(), expected,
                                   atol=1e-5 * np.abs(expected).max())


def test_a_column_without_a_value_is_not_a_feature(tmp_path):
    # an all-empty column has no median: it made a model file that could not be loaded
    frame = diamonds(300)
    frame.insert(2, "notes", np.nan)
    data = write(frame, tmp_path / "blank.csv")
    out, stdout, _ = train(tmp_path, "--data", data, "--target", "price", "--epochs", "2")
    assert "1 empty column dropped (notes)" in stdout
    result = run("predict", str(out / "model.npz"), data)
    assert result.returncode == 0, result.stderr
    roles = column_roles(frame.drop(columns=["price"]))
    assert roles.empty == ["notes"] and "notes" not in roles.features
