"""Model files without pickle: a versioned, checksummed ``.npz`` with a JSON header.

Layout (``numpy.savez``, loaded with ``allow_pickle=False``):

- ``header``: UTF-8 JSON as uint8: format name and version, model kind, dtype, the
  network (layer shapes, which layer each step uses, activations, output) and, for
  estimators, their parameters and fitted attributes;
- ``params``: the flat parameter buffer;
- ``classes``, ``feature_names``: arrays, when the model has them (a multi-output
  classifier has ``classes_0``, ``classes_1``... instead, one per label column);
- ``state_0``, ``state_1``...: for a ``Pipeline`` (a table's preprocessing, then the
  estimator), the arrays of its transformers, whose classes and states the header's
  ``pipeline`` entry lists (``_pipeline_state``);
- ``checksum``: SHA-256 over the bytes of every other entry, in name order.

Loading treats the file as untrusted input (see ``load``; the zip members are read by
``_model_reader``, the header is checked by ``_model_schema``): every problem with a
file is a ``ModelFileError``, found before anything large is allocated.  The optimizer state is
not saved: a loaded estimator predicts, and ``warm_start``/``partial_fit`` resume with a
new optimizer.
"""
import hashlib
import json
from pathlib import Path
from typing import Any, Union

import numpy as np
from sklearn.preprocessing import LabelBinarizer

from cymlp import _model_reader as _reader
from cymlp import _model_schema as _schema
from cymlp import _pipeline_state
from cymlp._files import replaced_atomically
from cymlp._label_columns import LabelColumns
from cymlp._model_reader import ModelFileError
from cymlp._model_schema import FORMAT_NAME, FORMAT_VERSION
from cymlp._typing import PathLike
from cymlp.estimators import MLPClassifier, MLPRegressor
from cymlp.network import Network, _rebuild, output_options_of, steps_of

_ESTIMATORS: dict[str, type] = {"MLPClassifier": MLPClassifier,
                                "MLPRegressor": MLPRegressor}
_FITTED_LISTS = ("loss_curve_", "validation_scores_", "validation_loss_curve_")
_FITTED_SCALARS = tuple(name for name in _schema.FITTED_ATTRIBUTES if name not in _FITTED_LISTS)


def _build_network(spec, params):
    """The network a checked ``ModelSpec`` describes, holding ``params``."""
    return _rebuild(steps_of(spec), spec.activations, spec.output, spec.dtype.type, params,
                    output_options_of(spec))


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.random.RandomState):
        return None
    if isinstance(value, dict):   # class_weight: JSON keys would become strings
        return [[_jsonable(k), _jsonable(v)] for k, v in value.items()]
    return value


def _checksum(entries):
    digest = hashlib.sha256()
    for name in sorted(entries):
        array = np.ascontiguousarray(entries[name])
        digest.update(name.encode())
        digest.update(str(array.dtype).encode() + str(array.shape).encode())
        digest.update(array.tobytes())
    return np.frombuffer(digest.digest(), dtype=np.uint8)


def pipeline_estimator(pipeline: Any) -> Union[MLPClassifier, MLPRegressor]:
    """The cymlp estimator a fitted pipeline ends with.

    The last step itself, or the fitted regressor of a ``TransformedTargetRegressor``.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A fitted pipeline.

    Returns
    -------
    MLPClassifier or MLPRegressor
        The estimator (the object in the pipeline, not a copy).

    Raises
    ------
    TypeError
        When the pipeline does not end with a fitted cymlp estimator.
    """
    last = pipeline.steps[-1][1] if getattr(pipeline, "steps", None) else None
    if type(last).__name__ == "TransformedTargetRegressor":
        last = getattr(last, "regressor_", None)
    if not isinstance(last, (MLPClassifier, MLPRegressor)):
        raise TypeError("a pipeline is saved when its last step is a fitted cymlp "
                        "MLPClassifier or MLPRegressor (or a fitted "
                        "TransformedTargetRegressor of one), got %s" % type(last).__name__)
    return last


def save(model: Any, path: PathLike) -> Path:
    """Save a ``Network``, an estimator, or a table's fitted ``Pipeline`` to ``path``.

    The file is written under a temporary name and renamed, so a crash never leaves
    a half-written model at ``path``.  A pipeline is one that
    ``cymlp.tables.make_table_pipeline`` builds, fitted: a ``ColumnTransformer`` of
    median imputers and standard scalers, missing-value indicators and one-hot
    encoders of one column each, then the estimator (a regressor possibly inside a
    ``TransformedTargetRegressor`` with a ``StandardScaler``); the file keeps their
    figures (medians, means, scales, categories), not their Python state.

    Parameters
    ----------
    model : Network, MLPClassifier, MLPRegressor or sklearn.pipeline.Pipeline
        The model; an estimator or pipeline must be fitted.
    path : str or Path
        Usually ending in ``.npz``.

    Returns
    -------
    Path
        The path written.

    Raises
    ------
    TypeError
        For another kind of model, or a pipeline holding anything else.
    """
    header: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    entries = {}
    pipeline = None
    if type(model).__name__ == "Pipeline" and hasattr(model, "steps"):
        pipeline, model = model, pipeline_estimator(model)
    if isinstance(model, Network):
        net = model
        header["kind"] = "Network"
    elif type(model).__name__ in _ESTIMATORS and isinstance(model, (MLPClassifier, MLPRegressor)):
        if not hasattr(model, "_network"):
            raise ValueError("the estimator is not fitted; fit it before saving")
        model._sync_parameters()
        net = model._network
        header["kind"] = type(model).__name__
        header["params"] = {k: _jsonable(v) for k, v in model.get_params().items()}
        header["fitted"] = {k: _jsonable(getattr(model, k)) for k in _FITTED_SCALARS
                            if hasattr(model, k)}
        header["fitted"].update({k: list(map(float, getattr(model, k))) for k in _FITTED_LISTS
                                 if getattr(model, k, None) is not None})
        if hasattr(model, "classes_"):
            header["label_type"] = model._label_binarizer.y_type_
            if isinstance(model._label_binarizer, LabelColumns):
                for j, classes in enumerate(model.classes_):
                    # numbers or text: LabelColumns converts object columns
                    entries[column_classes_member(j)] = np.asarray(classes)
            else:
                entries["classes"] = np.asarray(model.classes_)
        if hasattr(model, "feature_names_in_"):
            entries["feature_names"] = np.asarray(model.feature_names_in_, dtype=str)
    else:
        raise TypeError("can only save Network, MLPClassifier or MLPRegressor, got %s"
                        % type(model).__name__)
    header["dtype"] = net.dtype.name
    header["network"] = net.layout()
    if pipeline is not None:
        header["pipeline"], arrays = _pipeline_state.encode(pipeline, model)
        for index, array in enumerate(arrays):
            entries[_pipeline_state.member_name(index)] = array
    entries["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    entries["params"] = net.params
    for name, array in entries.items():
        if array.dtype.kind == "O":
            raise TypeError("cannot save %s of object dtype without pickle" % name)
    entries["checksum"] = _checksum(entries)

    path = Path(path)
    with replaced_atomically(path) as out:
        # (the member names are ours, never numpy's allow_pickle keyword)
        np.savez(out, **entries)  # type: ignore[arg-type]
    return path


_MEMBERS = {"header", "params", "checksum", "classes", "feature_names"}


def _allowed_member(name):
    """A member name a model file may hold (a pipeline's arrays are state_0, state_1...,
    a multi-output classifier's classes classes_0, classes_1...)."""
    if not isinstance(name, str):
        return False
    if name in _MEMBERS:
        return True
    for prefix, limit in (("state_", _pipeline_state.MAX_ARRAYS),
                          ("classes_", _MAX_LABEL_COLUMNS)):
        number = name[len(prefix):]
        if (name.startswith(prefix) and number.isdigit() and number == str(int(number))
                and int(number) < limit):
            return True
    return False


#: At most this many label columns (softmax groups) in a multi-output classifier file.
_MAX_LABEL_COLUMNS = 100000


def column_classes_member(j):
    """The member holding the classes of label column j of a multi-output classifier.

    Parameters
    ----------
    j : int
        The column.

    Returns
    -------
    str
        ``classes_<j>``.
    """
    return "classes_%d" % j


_REQUIRED = {"header", "params", "checksum"}


def _is_bytes(dtype):
    return None if dtype == np.uint8 else "dtype %s, not uint8" % dtype


def _float_dtype(expected):
    def check(dtype):
        if dtype.kind == "f" and dtype.itemsize == expected.itemsize:
            return None
        return "dtype %s where the header says %s" % (dtype, expected)
    return check


def _label_dtype(dtype):
    if dtype.kind in "biuf" and dtype.itemsize <= 8:
        return None
    if dtype.kind == "U" and dtype.itemsize <= 4 * _schema.MAX_LABEL_CHARS:
        return None
    return "dtype %s (labels are numbers, booleans or strings of at most %d characters)" % (
        dtype, _schema.MAX_LABEL_CHARS)


def _name_dtype(dtype):
    if dtype.kind == "U" and dtype.itemsize <= 4 * _schema.MAX_LABEL_CHARS:
        return None
    return "dtype %s (feature names are strings of at most %d characters)" % (
        dtype, _schema.MAX_LABEL_CHARS)


def _class_count_check(counts):
    def check(declared):
        if len(declared) == 1 and declared[0] in counts:
            return None
        return "shape %s where the header implies %s classes" % (
            declared, " or ".join(map(str, counts)))
    return check


def _exact_dtype(expected):
    def check(dtype):
        return None if dtype == expected else "dtype %s where the header says %s" % (
            dtype, expected)
    return check


def _header_shape(declared):
    if len(declared) == 1 and declared[0] <= _schema.MAX_HEADER_BYTES:
        return None
    return "shape %s (a header is 1-D, at most %d bytes)" % (declared,
                                                             _schema.MAX_HEADER_BYTES)


def _read_model(path):
    """Read and check every member of a model file; return (spec, entries).

    Sizes come from the checked header before any other member is read."""
    with _reader.open_archive(path) as archive:
        members = _reader.member_directory(archive, path, _allowed_member, _REQUIRED)
        entries = {
            "header": _reader.read_member(archive, members["header"], path, _is_bytes,
                                          _header_shape),
            "checksum": _reader.read_member(archive, members["checksum"], path, _is_bytes,
                                            (32,)),
        }
        header = _schema.parse_header(entries["header"], path)
        spec = _schema.check_header(header, path, _ESTIMATORS)
        expected = {"params": (_float_dtype(spec.dtype), (spec.n_params,))}
        if spec.label_type == "multiclass-multioutput":
            for j, size in enumerate(spec.softmax_groups):
                expected[column_classes_member(j)] = (_label_dtype, (size,))
        elif spec.kind == "MLPClassifier":
            expected["classes"] = (_label_dtype, _class_count_check(spec.class_counts))
        if spec.kind != "Network":
            expected["feature_names"] = (_name_dtype, (spec.fitted["n_features_in_"],))
        if "pipeline" in header:
            arrays = _pipeline_state.check_array_specs(header["pipeline"],
                                                       "%s has an invalid header" % path)
            for index, (dtype, shape) in enumerate(arrays):
                expected[_pipeline_state.member_name(index)] = (_exact_dtype(dtype), shape)
                if _pipeline_state.member_name(index) not in members:
                    raise ModelFileError("%s: the pipeline's array %d is missing"
                                         % (path, index))
            spec.pipeline = header["pipeline"]
        for name in members:
            if name not in expected and name not in entries:
                raise ModelFileError("%s: a %s model has no member %r"
                                     % (path, spec.kind, name))
        needed = ([column_classes_member(j) for j in range(len(spec.softmax_groups))]
                  if spec.label_type == "multiclass-multioutput" else ["classes"])
        if spec.kind == "MLPClassifier" and not set(needed) <= set(members):
            raise ModelFileError("%s: a classifier needs its classes member%s"
                                 % (path, "s" if len(needed) > 1 else ""))
        for name, (check_dtype, shape) in expected.items():
            if name in members:
                entries[name] = _reader.read_member(archive, members[name], path,
                                                    check_dtype, shape)
    stored = entries.pop("checksum")
    if not np.array_equal(stored, _checksum(entries)):
        raise ModelFileError("%s is corrupted: its SHA-256 checksum does not match" % path)
    if not np.isfinite(entries["params"]).all():
        raise ModelFileError("%s has NaN or infinite parameters" % path)
    for name in entries:
        if name == "classes" or name.startswith("classes_"):
            _check_classes(entries[name], spec, path)
    return spec, entries


def _check_classes(classes, spec, path):
    if classes.dtype.kind == "f" and not np.isfinite(classes).all():
        raise ModelFileError("%s has NaN or infinite class labels" % path)
    if classes.size > 1 and not (classes[1:] > classes[:-1]).all():
        raise ModelFileError("%s: class labels are not sorted and distinct" % path)
    if spec.label_type == "multilabel-indicator" and not np.array_equal(
            classes, np.arange(classes.size)):
        raise ModelFileError("%s: a multilabel model's classes are 0 to %d"
                             % (path, classes.size - 1))


def load(path: PathLike) -> Any:
    """Load a model written by ``save``, treating the file as untrusted input.

    Before anything is inflated or allocated, the zip directory is checked (at most
    128 KiB, only the members a model has, stored or deflated, no zip bomb), then the
    JSON header
    (at most 16 MB, nested at most 16 deep) against an allow-list: the network
    layout, estimator parameters valid for the estimator, fitted attributes with
    their types, and cross-checks between them (inputs, outputs, classes, layer
    sizes, activations, label type).  Every other member must then have exactly
    the dtype and shape the header implies; the SHA-256 checksum covers them all.
    Load time is linear in the file size.  A pipeline's figures are checked the same
    way (lengths, finite values, positive scales, distinct categories, the output
    width against the estimator's inputs), and its transformers are then fitted by
    scikit-learn on a small synthetic table that reproduces them: no state is read
    from the file as such, and nothing in it names code to run.

    Parameters
    ----------
    path : str or Path
        A model file.

    Returns
    -------
    Network, MLPClassifier, MLPRegressor or sklearn.pipeline.Pipeline
        The model, ready to predict (and an estimator to go on training).

    Raises
    ------
    ModelFileError
        Truncated, corrupted, forged, foreign or newer-version files: every problem
        with the file's content.
    FileNotFoundError, PermissionError
        When ``path`` cannot be opened.
    """
    try:
        return _load_checked(path)
    except (ModelFileError, FileNotFoundError, PermissionError):
        raise
    except Exception as exc:   # noqa: BLE001 -- the promise: a bad file is a ModelFileError
        error = ModelFileError("%s could not be loaded (%s: %s)"
                               % (path, type(exc).__name__, exc))
        error.unexpected = True   # a check is missing: the fuzz tests look for this
        raise error from exc


def _load_checked(path):
    spec, entries = _read_model(path)
    net = _build_network(spec, entries["params"])
    if spec.kind == "Network":
        return net
    model = _ESTIMATORS[spec.kind](**spec.params)
    for name, value in spec.fitted.items():
        setattr(model, name, value)
    if spec.label_type == "multiclass-multioutput":
        model._label_binarizer = LabelColumns(
            [entries[column_classes_member(j)] for j in range(len(spec.softmax_groups))])
        model.classes_ = model._label_binarizer.classes_
    elif "classes" in entries:
        binarizer = LabelBinarizer()
        if spec.label_type == "multilabel-indicator":
            binarizer.fit(np.eye(entries["classes"].size, dtype=int))
        else:
            binarizer.fit(entries["classes"])
        model._label_binarizer = binarizer
        model.classes_ = binarizer.classes_
    if "feature_names" in entries:
        model.feature_names_in_ = entries["feature_names"].astype(object)
    model._network = net
    model._bind_parameters()
    # the stopping rule's patience is not saved: a continued fit starts a new count (a
    # loaded model's first partial_fit without improvement failed on the missing count)
    model._no_improvement_count = 0
    if getattr(spec, "pipeline", None) is not None:
        arrays = [entries[_pipeline_state.member_name(k)]
                  for k in range(len(spec.pipeline["arrays"]))]
        return _pipeline_of(spec.pipeline, arrays, model, path)
    return model


def _pipeline_of(document, arrays, model, path):
    """Build a saved table pipeline around ``model`` (``_pipeline_state.decode``)."""
    return _pipeline_state.decode(document, arrays, model, str(path))
