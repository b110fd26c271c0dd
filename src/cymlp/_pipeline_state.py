"""A table's fitted preprocessing as checked numbers and text, and back, without pickle
and without trusting any private attribute of scikit-learn's.

The pipelines saved are the ones ``cymlp.tables.make_table_pipeline`` builds: a
``ColumnTransformer`` whose parts are, in any order,

- ``numeric``: a ``Pipeline`` of ``SimpleImputer(strategy="median")`` and
  ``StandardScaler()``, kept as the medians, means, scales and variances;
- ``missing``: ``MissingIndicator(features="all")``, kept as its columns;
- ``categorical``: a ``OneHotEncoder`` of one column (``drop=None``, dense output),
  kept as its categories (``.npy`` members: text as UTF-8 bytes and offsets, or
  booleans or numbers; the empty-cell category, NaN or None, flagged), which of them
  are pooled as infrequent, and its ``handle_unknown``, ``max_categories`` and
  ``min_frequency``;

then the cymlp estimator, bare or inside a ``TransformedTargetRegressor`` with a
``StandardScaler`` (kept as its mean and scale).

Loading checks every field (types, lengths, finiteness, ranges, the output width
against the estimator's inputs) and then *fits* the same transformers, through
scikit-learn's public API, on a small synthetic table built from those figures: the
medians are the columns' only values; each category appears twice, or once when it
is infrequent (``min_frequency=2``; a column whose categories are all infrequent gets
a threshold above its row count); the scalers' public ``mean_``, ``scale_`` and
``var_`` are then set to the saved figures, and each encoder's saved parameters are
restored with ``set_params``.  Every private attribute is scikit-learn's own,
computed from checked figures; no state is read from the file as such.  The synthetic
table has at most three rows per category, so loading time and memory are linear in
the file.  Every problem is a ``ModelFileError``.
"""
import math

import numpy as np

from cymlp._model_reader import ModelFileError

#: Most columns and parts a table may have.
MAX_COLUMNS = 100_000
#: Longest column or step name, in characters.
MAX_NAME = 1 << 16
#: Most category arrays (one per categorical column).
MAX_ARRAYS = MAX_COLUMNS
#: Most categories in one file, all columns together (a column of a million distinct
#: strings fits; rebuilding them costs about 100 bytes each), and most bytes of text
#: among them (UTF-8).
MAX_CATEGORY_VALUES = 5_000_000
MAX_CATEGORY_BYTES = 1 << 30


def member_name(index):
    """The model-file member holding a pipeline's array ``index``.

    Parameters
    ----------
    index : int

    Returns
    -------
    str
    """
    return "state_%d" % index


# -- saving ---------------------------------------------------------------------------------

def _cannot(what):
    return TypeError("cannot save this pipeline in a model file: %s (model files hold "
                     "the pipelines cymlp.tables.make_table_pipeline builds)" % what)


def _is_nan(value):
    return isinstance(value, float) and math.isnan(value)


def _numeric_part(name, transformer, columns):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if type(transformer) is not Pipeline or len(transformer.steps) != 2:
        raise _cannot("part %r is not an imputer then a scaler" % name)
    (impute_name, imputer), (scale_name, scaler) = transformer.steps
    if type(imputer) is not SimpleImputer or imputer.strategy != "median" or \
            imputer.add_indicator or not _is_nan(imputer.missing_values) or \
            imputer.keep_empty_features:
        raise _cannot("part %r does not impute medians of NaN cells" % name)
    if type(scaler) is not StandardScaler or not (scaler.with_mean and scaler.with_std):
        raise _cannot("part %r does not standardize" % name)
    if len(imputer.statistics_) != len(columns) or not np.isfinite(imputer.statistics_).all():
        raise _cannot("part %r has a column without values (no median)" % name)
    return {"name": name, "kind": "numeric", "columns": columns,
            "steps": [impute_name, scale_name],
            "median": [float(v) for v in imputer.statistics_],
            "mean": [float(v) for v in scaler.mean_],
            "scale": [float(v) for v in scaler.scale_],
            "var": [float(v) for v in scaler.var_],
            "n_samples_seen": int(np.max(scaler.n_samples_seen_))}


def _categories_array(values, name):
    """(array to store, missing flag) for one column's categories."""
    items = list(values)
    missing = None
    if items and (items[-1] is None or _is_nan(items[-1])):
        missing = "none" if items[-1] is None else "nan"
        items = items[:-1]
    if any(v is None or _is_nan(v) for v in items):
        raise _cannot("column %r has two empty-cell categories" % name)
    if all(isinstance(v, str) for v in items):
        # text as UTF-8 bytes and the offsets of each value: numpy's fixed-width text
        # would pad every value to the longest (one 5,000-character value among 10**5
        # categories would take 2 GB)
        encoded = [v.encode("utf-8", "surrogatepass") for v in items]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return (np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets), missing
    elif all(isinstance(v, (bool, np.bool_)) for v in items):
        array = np.asarray(items, dtype=bool)
    elif all(isinstance(v, (int, float, np.integer, np.floating)) and
             not isinstance(v, (bool, np.bool_)) for v in items):
        array = np.asarray(items, dtype=np.float64 if any(
            isinstance(v, (float, np.floating)) for v in items) else np.int64)
    else:
        raise _cannot("column %r mixes kinds of categories" % name)
    return array, missing


def _categorical_part(name, encoder, columns, arrays):
    from sklearn.preprocessing import OneHotEncoder

    if type(encoder) is not OneHotEncoder or len(columns) != 1:
        raise _cannot("part %r is not a one-hot encoder of one column" % name)
    if encoder.drop is not None or encoder.sparse_output or encoder.handle_unknown not in (
            "ignore", "infrequent_if_exist") or encoder.dtype not in (np.float64, float):
        raise _cannot("part %r is not a dense one-hot encoding without drop" % name)
    array, missing = _categories_array(encoder.categories_[0], columns[0])
    offsets = None
    if isinstance(array, tuple):   # text: its bytes, then its offsets
        array, text_offsets = array
        arrays.append(text_offsets)
        offsets = len(arrays) - 1
    infrequent = []
    if getattr(encoder, "infrequent_categories_", None) is not None and \
            encoder.infrequent_categories_[0] is not None:
        # positions by value (one dict, not a search per value: 10**5 categories)
        position = {("nan",) if _is_nan(c) else (type(c).__name__, c): k
                    for k, c in enumerate(encoder.categories_[0])}
        for value in encoder.infrequent_categories_[0]:
            infrequent.append(position[("nan",) if _is_nan(value) else
                                       (type(value).__name__, value)])
    arrays.append(array)
    return {"name": name, "kind": "categorical", "columns": columns,
            "categories": {"array": len(arrays) - 1, "offsets": offsets,
                           "missing": missing},
            "infrequent": sorted(infrequent),
            "params": {"handle_unknown": encoder.handle_unknown,
                       "max_categories": encoder.max_categories,
                       "min_frequency": encoder.min_frequency}}


def encode(pipeline, model):
    """The JSON-ready description of a table's fitted pipeline, and its arrays.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A fitted pipeline as ``make_table_pipeline`` builds it.
    model : MLPClassifier or MLPRegressor
        Its estimator (saved by the caller).

    Returns
    -------
    document : dict
    arrays : list of ndarray

    Raises
    ------
    TypeError
        For any other pipeline.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator

    if len(pipeline.steps) != 2:
        raise _cannot("%d steps" % len(pipeline.steps))
    (columns_name, preprocessor), (model_name, last) = pipeline.steps
    if type(preprocessor) is not ColumnTransformer or not hasattr(preprocessor,
                                                                  "transformers_"):
        raise _cannot("the first step is not a fitted ColumnTransformer")
    parts, arrays = [], []
    for name, transformer, columns in preprocessor.transformers_:
        if name == "remainder":
            if transformer != "drop":
                raise _cannot("the other columns are not dropped")
            continue
        if isinstance(columns, (str, int)) or not all(isinstance(c, str) for c in columns):
            raise _cannot("part %r does not name its columns" % name)
        columns = list(columns)
        if type(transformer) is MissingIndicator:
            if transformer.features != "all" or not _is_nan(transformer.missing_values):
                raise _cannot("part %r does not flag every NaN" % name)
            parts.append({"name": name, "kind": "missing", "columns": columns})
        elif type(transformer).__name__ == "OneHotEncoder":
            parts.append(_categorical_part(name, transformer, columns, arrays))
        else:
            parts.append(_numeric_part(name, transformer, columns))
    target = None
    if type(last).__name__ == "TransformedTargetRegressor":
        scaler = last.transformer_
        if type(scaler).__name__ != "StandardScaler" or not (scaler.with_mean and
                                                             scaler.with_std):
            raise _cannot("the target is not standardized by a StandardScaler")
        if last.func is not None or last.inverse_func is not None:
            raise _cannot("the target has functions")
        target = {"mean": float(scaler.mean_[0]), "scale": float(scaler.scale_[0]),
                  "var": float(scaler.var_[0]),
                  "n_samples_seen": int(np.max(scaler.n_samples_seen_))}
    elif last is not model:
        raise _cannot("the last step is not the estimator")
    if sum(a.size for a in arrays if a.dtype != np.uint8) > MAX_CATEGORY_VALUES:
        raise _cannot("more than %d categories" % MAX_CATEGORY_VALUES)
    if sum(a.size for a in arrays if a.dtype == np.uint8) > MAX_CATEGORY_BYTES:
        raise _cannot("more than %d bytes of text categories" % MAX_CATEGORY_BYTES)
    names = [str(c) for c in preprocessor.feature_names_in_]
    if len(names) > MAX_COLUMNS or any(not 0 < len(n) <= MAX_NAME for n in names):
        raise _cannot("more than %d columns, or a column name that is empty or longer "
                      "than %d characters" % (MAX_COLUMNS, MAX_NAME))
    document = {"steps": [columns_name, model_name],
                "columns": names,
                "parts": parts, "target": target,
                "arrays": [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in arrays]}
    return document, arrays


# -- loading --------------------------------------------------------------------------------

class _Checker:
    def __init__(self, where):
        self.where = where

    def fail(self, message, *args):
        raise ModelFileError("%s: the pipeline %s" % (self.where, message % args))

    def name(self, value, what):
        if not isinstance(value, str) or not value or len(value) > MAX_NAME or "__" in value:
            self.fail("has an invalid %s %r", what, value)
        return value

    def step_names(self, value):
        """Two distinct step names."""
        if not isinstance(value, list) or len(value) != 2:
            self.fail("does not have two named steps")
        for step in value:
            self.name(step, "step name")
        if value[0] == value[1]:
            self.fail("names two steps %r", value[0])
        return value

    def names(self, value, what, allowed=None):
        if not isinstance(value, list) or not value or len(value) > MAX_COLUMNS or not all(
                isinstance(v, str) and 0 < len(v) <= MAX_NAME for v in value):
            self.fail("has invalid %s", what)
        if len(set(value)) != len(value):
            self.fail("names a column twice in %s", what)
        if allowed is not None and not set(value) <= allowed:
            self.fail("reads columns it does not take in %s", what)
        return value

    def reals(self, value, what, count, positive=False, non_negative=False):
        if not isinstance(value, list) or len(value) != count or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                for v in value):
            self.fail("has invalid %s (%d finite numbers expected)", what, count)
        if positive and not all(v > 0 for v in value):
            self.fail("has %s that are not positive", what)
        if non_negative and not all(v >= 0 for v in value):
            self.fail("has %s that are negative", what)
        return [float(v) for v in value]

    def count(self, value, what):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2 ** 62:
            self.fail("has an invalid %s", what)
        return value

    def keys(self, value, required, what):
        if not isinstance(value, dict) or set(value) != set(required):
            self.fail("has a %s without exactly the fields %s", what, sorted(required))


def check_array_specs(document, where):
    """The arrays a pipeline document declares, as (dtype, shape) pairs, checked.

    Parameters
    ----------
    document : dict
        The header's ``pipeline`` entry.
    where : str
        For messages.

    Returns
    -------
    list of (numpy.dtype, tuple)
    """
    check = _Checker(where)
    check.keys(document, {"steps", "columns", "parts", "target", "arrays"}, "description")
    specs = document["arrays"]
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        check.fail("has more than %d arrays", MAX_ARRAYS)
    checked = []
    for spec in specs:
        check.keys(spec, {"dtype", "shape"}, "array")
        try:
            dtype = np.dtype(spec["dtype"]) if isinstance(spec["dtype"], str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in "biuf" or dtype.fields is not None or \
                dtype.itemsize > 8 or dtype.byteorder == ">":
            check.fail("has an array of dtype %r", spec["dtype"])
        shape = spec["shape"]
        if not isinstance(shape, list) or len(shape) != 1 or not isinstance(shape[0], int) \
                or isinstance(shape[0], bool) or not 0 <= shape[0] <= 2 ** 31:
            check.fail("has an array of shape %r", shape)
        checked.append((dtype, (shape[0],)))
    # (text's bytes count once each: MAX_CATEGORY_BYTES bounds them)
    numbers = sum(shape[0] for dtype, shape in checked if dtype != np.uint8)
    if numbers > MAX_CATEGORY_VALUES:
        check.fail("holds more than %d categories", MAX_CATEGORY_VALUES)
    if sum(shape[0] for dtype, shape in checked if dtype == np.uint8) > MAX_CATEGORY_BYTES:
        check.fail("holds more than %d bytes of text", MAX_CATEGORY_BYTES)
    return checked


def _categories(part, arrays, check, column):
    """The full category list of a categorical part (an object array), checked."""
    spec = part["categories"]
    check.keys(spec, {"array", "offsets", "missing"}, "categories")
    for index in (spec["array"], spec["offsets"]):
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)
                                  or not 0 <= index < len(arrays)):
            check.fail("refers to a missing array for column %r", column)
    if spec["array"] is None:
        check.fail("refers to a missing array for column %r", column)
    values = arrays[spec["array"]]
    if spec["offsets"] is not None:
        values = _text_values(values, arrays[spec["offsets"]], check, column)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        check.fail("has non-finite categories for column %r", column)
    distinct = len(set(values.tolist())) if values.dtype == object else np.unique(values).size
    if distinct != values.size:
        check.fail("has repeated categories for column %r", column)
    if values.dtype.kind in "iuf" and values.size > 1 and not (values[1:] > values[:-1]).all():
        check.fail("has unsorted number categories for column %r", column)
    if spec["missing"] not in (None, "nan", "none"):
        check.fail("has an invalid empty-cell category for column %r", column)
    missing = spec["missing"]
    if values.size + (missing is not None) == 0:
        check.fail("has no categories for column %r", column)
    if values.dtype.kind in "iuf":   # numbers keep a number dtype (NaN last)
        if missing == "none":
            check.fail("has None among number categories for column %r", column)
        if missing is None:
            return values.astype(np.int64 if values.dtype.kind in "iu" else np.float64)
        return np.append(values.astype(np.float64), np.nan)
    if values.dtype.kind == "b" and missing is None:
        return values.astype(bool)
    items = values.astype(object).tolist()
    if missing is not None:
        items.append(None if missing == "none" else float("nan"))
    full = np.empty(len(items), dtype=object)
    full[:] = items
    return full


def _text_values(data, offsets, check, column):
    """The categories of a text column from its UTF-8 bytes and offsets (an object
    array of str), checked: offsets from 0 to the byte count, never decreasing, every
    value valid UTF-8."""
    if data.dtype != np.uint8 or offsets.dtype != np.int64 or offsets.size < 1 or \
            offsets[0] != 0 or offsets[-1] != data.size or \
            (offsets.size > 1 and (np.diff(offsets) < 0).any()):
        check.fail("has malformed text categories for column %r", column)
    raw = data.tobytes()
    values = np.empty(offsets.size - 1, dtype=object)
    try:
        for k in range(offsets.size - 1):
            values[k] = raw[offsets[k]:offsets[k + 1]].decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        check.fail("has text categories that are not UTF-8 for column %r", column)
    return values


def _check_parts(document, arrays, check):
    """Every part checked; returns the parts and the output width they make."""
    columns = set(document["columns"])
    parts = document["parts"]
    if not isinstance(parts, list) or not parts or len(parts) > MAX_COLUMNS:
        check.fail("has no parts")
    seen, width = set(), 0
    for part in parts:
        if not isinstance(part, dict) or part.get("kind") not in ("numeric", "missing",
                                                                  "categorical"):
            check.fail("has a part of unknown kind")
        kind = part["kind"]
        fields = {"numeric": {"name", "kind", "columns", "steps", "median", "mean", "scale",
                              "var", "n_samples_seen"},
                  "missing": {"name", "kind", "columns"},
                  "categorical": {"name", "kind", "columns", "categories", "infrequent",
                                  "params"}}[kind]
        check.keys(part, fields, "%s part" % kind)
        name = check.name(part["name"], "part name")
        if name in seen or name == "remainder":
            check.fail("has the part name %r twice or reserved", name)
        seen.add(name)
        names = check.names(part["columns"], "part %r's columns" % name, columns)
        if kind == "numeric":
            check.step_names(part["steps"])
            n = len(names)
            part["median"] = check.reals(part["median"], "medians", n)
            part["mean"] = check.reals(part["mean"], "means", n)
            part["scale"] = check.reals(part["scale"], "scales", n, positive=True)
            part["var"] = check.reals(part["var"], "variances", n, non_negative=True)
            check.count(part["n_samples_seen"], "sample count")
            for median, mean, scale, var in zip(part["median"], part["mean"], part["scale"],
                                                part["var"]):
                # a scaler's scale is the standard deviation (1 for a constant column),
                # and any distribution's median lies within one of them of its mean
                std = math.sqrt(var)
                if not (math.isclose(scale, std, rel_tol=1e-6) or (std == 0 and scale == 1)):
                    check.fail("has a scale %r that is not the square root of its variance "
                               "%r", scale, var)
                if abs(median - mean) > std * (1 + 1e-6) + 1e-12 * max(abs(mean), 1):
                    check.fail("has a median %r more than one standard deviation (%r) "
                               "from its mean %r", median, std, mean)
            width += n
        elif kind == "missing":
            width += len(names)
        else:
            if len(names) != 1:
                check.fail("one-hot encodes %d columns in one part", len(names))
            full = _categories(part, arrays, check, names[0])
            infrequent = part["infrequent"]
            if not isinstance(infrequent, list) or not all(
                    isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(full)
                    for k in infrequent) or sorted(set(infrequent)) != infrequent:
                check.fail("has invalid infrequent categories for column %r", names[0])
            params = part["params"]
            check.keys(params, {"handle_unknown", "max_categories", "min_frequency"},
                       "encoder's parameters")
            if params["handle_unknown"] not in ("ignore", "infrequent_if_exist"):
                check.fail("has an invalid handle_unknown")
            if not (params["max_categories"] is None or (
                    isinstance(params["max_categories"], int) and
                    not isinstance(params["max_categories"], bool) and
                    1 <= params["max_categories"] < 2 ** 31)):
                check.fail("has an invalid max_categories")
            low = params["min_frequency"]
            if not (low is None or (isinstance(low, int) and not isinstance(low, bool)
                                    and 1 <= low < 2 ** 62)
                    or (isinstance(low, float) and 0 < low < 1)):
                check.fail("has an invalid min_frequency")
            part["_full"] = full
            width += len(full) - len(infrequent) + (1 if infrequent else 0)
    return parts, width


def _synthetic_rows(document, parts):
    """Two rows on which the column transformer is fitted: each numeric column's median,
    each categorical column's first category, zeros elsewhere."""
    import pandas as pd

    values = {}
    for part in parts:
        if part["kind"] == "numeric":
            for column, median in zip(part["columns"], part["median"]):
                values[column] = np.full(2, median)
        elif part["kind"] == "categorical":
            full = part["_full"]
            column = np.empty(2, dtype=full.dtype)
            column[:] = [full[0], full[0]]
            values[part["columns"][0]] = column
    frame = {}
    for name in document["columns"]:
        column = values.get(name, np.zeros(2))   # read by a missing indicator, or by none
        frame[name] = pd.Series(column, dtype=column.dtype)
    return pd.DataFrame(frame)


def _fit_encoder(encoder, part):
    """Fit a one-column encoder on a column in which each frequent category appears
    twice and each infrequent one once (threshold 2), or, when all are infrequent, each
    once (threshold above the row count); then restore its saved parameters."""
    import pandas as pd

    full, pooled = part["_full"], set(part["infrequent"])
    frequent = [k for k in range(len(full)) if k not in pooled]
    order = [k for k in frequent for _ in range(2)] + sorted(pooled)
    if frequent:
        threshold = 2 if pooled else None
    else:
        threshold = len(order) + 1
    column = full[np.asarray(order, dtype=np.intp)]
    encoder.set_params(categories=[full], max_categories=None, min_frequency=threshold)
    encoder.fit(pd.DataFrame({part["columns"][0]: pd.Series(column, dtype=column.dtype)}))
    encoder.set_params(categories="auto", max_categories=part["params"]["max_categories"],
                       min_frequency=part["params"]["min_frequency"])


def decode(document, arrays, model, where):
    """Build a saved table pipeline around ``model``.

    Parameters
    ----------
    document : dict
        The header's ``pipeline`` entry.
    arrays : list of ndarray
        Its arrays, read and checked against ``check_array_specs``.
    model : MLPClassifier or MLPRegressor
        The file's estimator.
    where : str
        For messages.

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    import warnings

    from sklearn.base import clone
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    check = _Checker(where)
    steps = check.step_names(document["steps"])
    check.names(document["columns"], "columns")
    parts, width = _check_parts(document, arrays, check)
    if width != model.n_features_in_:
        check.fail("makes %d features; the estimator takes %d", width, model.n_features_in_)
    target = document["target"]
    is_regressor = type(model).__name__ == "MLPRegressor"
    if target is not None:
        if not is_regressor:
            check.fail("standardizes the target of a classifier")
        check.keys(target, {"mean", "scale", "var", "n_samples_seen"}, "target")
        check.reals([target["mean"]], "target mean", 1)
        check.reals([target["scale"]], "target scale", 1, positive=True)
        check.reals([target["var"]], "target variance", 1, non_negative=True)
        check.count(target["n_samples_seen"], "target sample count")
        std = math.sqrt(target["var"])
        if not (math.isclose(target["scale"], std, rel_tol=1e-6) or
                (std == 0 and target["scale"] == 1)):
            check.fail("has a target scale that is not the square root of its variance")
    transformers = []
    for part in parts:
        if part["kind"] == "numeric":
            transformer = Pipeline([(part["steps"][0], SimpleImputer(strategy="median")),
                                    (part["steps"][1], StandardScaler())])
        elif part["kind"] == "missing":
            transformer = MissingIndicator(features="all")
        else:
            transformer = OneHotEncoder(categories=[part["_full"]],
                                        handle_unknown=part["params"]["handle_unknown"],
                                        sparse_output=False)
        transformers.append((part["name"], transformer, list(part["columns"])))
    preprocessor = ColumnTransformer(transformers, remainder="drop")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # constant synthetic columns
        # stage 1: the column transformer and every part on two rows (medians exact)
        preprocessor.fit(_synthetic_rows(document, parts))
        # stage 2: each encoder on its own column of categories (rows linear in them)
        for part in parts:
            fitted = preprocessor.named_transformers_[part["name"]]
            if part["kind"] == "numeric":
                scaler = fitted[-1]
                scaler.mean_ = np.asarray(part["mean"])
                scaler.scale_ = np.asarray(part["scale"])
                scaler.var_ = np.asarray(part["var"])
                scaler.n_samples_seen_ = np.int64(part["n_samples_seen"])
            elif part["kind"] == "categorical":
                _fit_encoder(fitted, part)
                pooled = part["infrequent"]
                found = fitted.infrequent_categories_[0] if pooled else None
                if pooled and (found is None or len(found) != len(pooled)):
                    check.fail("could not be rebuilt for column %r", part["columns"][0])
    # the encoders' widths changed in stage 2: the public map of output columns follows
    start, indices = 0, {}
    for part in parts:
        fitted = preprocessor.named_transformers_[part["name"]]
        stop = start + len(fitted.get_feature_names_out())
        indices[part["name"]] = slice(start, stop)
        start = stop
    indices["remainder"] = slice(0, 0)
    preprocessor.output_indices_ = indices
    last = model
    if target is not None:
        scaler = StandardScaler()
        scaler.fit(np.zeros((2, 1)))
        scaler.mean_ = np.array([float(target["mean"])])
        scaler.scale_ = np.array([float(target["scale"])])
        scaler.var_ = np.array([float(target["var"])])
        scaler.n_samples_seen_ = np.int64(target["n_samples_seen"])
        last = TransformedTargetRegressor(regressor=clone(model), transformer=StandardScaler())
        # what TransformedTargetRegressor.fit sets
        last.regressor_, last.transformer_, last._training_dim = model, scaler, 1
    pipeline = Pipeline([(steps[0], preprocessor), (steps[1], last)])
    if len(pipeline[:-1].get_feature_names_out()) != model.n_features_in_:
        check.fail("does not make the estimator's %d features", model.n_features_in_)
    return pipeline
