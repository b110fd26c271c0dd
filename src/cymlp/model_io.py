"""Model files without pickle: a versioned, checksummed ``.npz`` with a JSON header.

Layout (``numpy.savez``, loaded with ``allow_pickle=False``):

- ``header``: UTF-8 JSON as uint8: format name and version, model kind, dtype, the
  network (layer shapes, which layer each step uses, activations, output) and, for
  estimators, their parameters and fitted attributes;
- ``params``: the flat parameter buffer;
- ``classes``, ``feature_names``: arrays, when the model has them;
- ``checksum``: SHA-256 over the bytes of every other entry, in name order.

Loading refuses a newer format version, and reports a truncated or corrupted file (a
zip CRC or the SHA-256 does not match) as ``ModelFileError``.  The optimizer state is
not saved: a loaded estimator predicts, and ``warm_start``/``partial_fit`` resume with a
new optimizer.
"""
import hashlib
import io
import json
import os
import tempfile
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.preprocessing import LabelBinarizer

from cymlp.estimators import MLPClassifier, MLPRegressor
from cymlp.network import Dense, Network

FORMAT_NAME = "cymlp-model"
FORMAT_VERSION = 1
_ESTIMATORS = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}
_FITTED_SCALARS = ("n_features_in_", "n_outputs_", "n_layers_", "n_iter_", "t_", "loss_",
                   "best_loss_", "best_validation_score_", "out_activation_")
_FITTED_LISTS = ("loss_curve_", "validation_scores_")


class ModelFileError(ValueError):
    """A model file is truncated, corrupted, not a cymlp model, or too new."""


def _network_spec(net):
    return {
        "layers": [[layer.n_in, layer.n_out] for layer in net.layers],
        "steps": list(net.step_layers),
        "activations": list(net.hidden_activations),
        "output": net.output,
    }


def _build_network(spec, dtype, params):
    layers = [Dense(n_in, n_out) for n_in, n_out in spec["layers"]]
    net = Network([layers[i] for i in spec["steps"]], spec["activations"], spec["output"],
                  dtype=np.dtype(dtype).type, random_state=0)
    net.params = params
    return net


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.random.RandomState):
        return None
    return value


def _checksum(entries):
    digest = hashlib.sha256()
    for name in sorted(entries):
        array = np.ascontiguousarray(entries[name])
        digest.update(name.encode())
        digest.update(str(array.dtype).encode() + str(array.shape).encode())
        digest.update(array.tobytes())
    return np.frombuffer(digest.digest(), dtype=np.uint8)


def save(model, path):
    """Save a ``Network``, ``MLPClassifier`` or ``MLPRegressor`` to ``path``.

    The file is written under a temporary name and renamed, so a crash never leaves
    a half-written model at ``path``.

    Parameters
    ----------
    model : Network, MLPClassifier or MLPRegressor (fitted)
    path : str or Path
        Usually ending in ``.npz``.

    Returns
    -------
    Path
        The path written.
    """
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    entries = {}
    if isinstance(model, Network):
        net = model
        header["kind"] = "Network"
    elif type(model).__name__ in _ESTIMATORS and isinstance(model, tuple(_ESTIMATORS.values())):
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
            entries["classes"] = np.asarray(model.classes_)
            header["label_type"] = model._label_binarizer.y_type_
        if hasattr(model, "feature_names_in_"):
            entries["feature_names"] = np.asarray(model.feature_names_in_, dtype=str)
    else:
        raise TypeError("can only save Network, MLPClassifier or MLPRegressor, got %s"
                        % type(model).__name__)
    header["dtype"] = net.dtype.name
    header["network"] = _network_spec(net)
    entries["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    entries["params"] = net.params
    for name, array in entries.items():
        if array.dtype.kind == "O":
            raise TypeError("cannot save %s of object dtype without pickle" % name)
    entries["checksum"] = _checksum(entries)

    path = Path(path)
    handle, temp = tempfile.mkstemp(prefix=".part-", suffix=".npz", dir=path.parent or ".")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **entries)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


# What the zip and .npy readers raise on damaged bytes: a bad header or length
# (BadZipFile, EOFError, ValueError, struct.error), a damaged deflate stream
# (zlib.error), an unknown compression method (NotImplementedError) or the encryption
# flag (RuntimeError).
_DAMAGED_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError,
                       NotImplementedError, RuntimeError, struct.error, zlib.error)


def _read_entries(path):
    try:
        raw = Path(path).read_bytes()
    except IsADirectoryError:
        raise ModelFileError("%s is a directory, not a model file" % path) from None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            entries = {name: archive[name] for name in archive.files}
    except _DAMAGED_ZIP_ERRORS as exc:
        raise ModelFileError("%s is not a readable cymlp model file (corrupted or "
                             "truncated?): %s" % (path, exc)) from None
    if "header" not in entries or "checksum" not in entries or "params" not in entries:
        raise ModelFileError("%s is not a cymlp model file (entries missing)" % path)
    stored = entries.pop("checksum")
    if not np.array_equal(stored, _checksum(entries)):
        raise ModelFileError("%s is corrupted: its SHA-256 checksum does not match" % path)
    try:
        header = json.loads(entries["header"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError("%s has an unreadable header: %s" % (path, exc)) from None
    if header.get("format") != FORMAT_NAME:
        raise ModelFileError("%s is not a cymlp model file" % path)
    if not isinstance(header.get("version"), int) or header["version"] > FORMAT_VERSION:
        raise ModelFileError("%s has format version %r, newer than this cymlp reads (%d); "
                             "upgrade cymlp" % (path, header.get("version"), FORMAT_VERSION))
    return header, entries


def load(path):
    """Load a model written by ``save``.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Network, MLPClassifier or MLPRegressor

    Raises
    ------
    ModelFileError
        Truncated, corrupted, foreign or newer-version files.
    FileNotFoundError
        When ``path`` does not exist.
    """
    header, entries = _read_entries(path)
    try:
        net = _build_network(header["network"], header["dtype"], entries["params"])
        if header["kind"] == "Network":
            return net
        params = dict(header["params"])
        if isinstance(params.get("hidden_layer_sizes"), list):  # JSON has no tuples
            params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        model = _ESTIMATORS[header["kind"]](**params)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError("%s has an inconsistent header: %s" % (path, exc)) from None
    for name, value in header["fitted"].items():
        setattr(model, name, value)
    if "classes" in entries:
        classes = entries["classes"]
        binarizer = LabelBinarizer()
        if header.get("label_type") == "multilabel-indicator":
            binarizer.fit(np.eye(len(classes), dtype=int))
        else:
            binarizer.fit(classes)
        model._label_binarizer = binarizer
        model.classes_ = binarizer.classes_
    if "feature_names" in entries:
        model.feature_names_in_ = entries["feature_names"].astype(object)
    model._network = net
    model._bind_parameters()
    return model
