"""A fitted preprocessing pipeline as JSON and arrays, without pickle, and back.

A model file may hold a scikit-learn ``Pipeline`` whose steps are the transformers a
table needs (``ALLOWED``) and whose last step is the cymlp estimator, bare or inside a
``TransformedTargetRegressor``.  Each transformer is written as its class name and its
state (``__getstate__``: the parameters and fitted attributes), every value encoded
as data (``encode``): numbers, strings, lists, tuples, dicts, slices, numpy dtypes
and scalar types from a fixed list, and arrays.  Numeric and boolean arrays, and text
arrays, become ``.npy`` members of the model file, read under the same size checks as
the parameters; small arrays of mixed objects (categories such as ``[False, True,
nan]``) are written inline.  Objects are listed flat, each state referring only to
objects listed before it, so nesting stays shallow and no cycle can be written.

Reading (``decode``) builds nothing but allow-listed classes, through ``__new__`` and
``__setstate__``: no constructor, no callable, no import named by the file.  Every
problem is a ``ModelFileError``.
"""
import math
import re

import numpy as np

from cymlp._model_reader import ModelFileError


def _allowed():
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return {cls.__name__: cls for cls in (
        Pipeline, ColumnTransformer, SimpleImputer, MissingIndicator, StandardScaler,
        OneHotEncoder, TransformedTargetRegressor)}


#: numpy scalar types a state may name (``OneHotEncoder(dtype=np.float64)``)
_TYPES = {t.__name__: t for t in (np.float64, np.float32, np.int64, np.int32, np.bool_,
                                  np.object_, np.str_)}
_TYPES.update({"float": float, "int": int, "str": str, "bool": bool, "object": object})
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
#: Most arrays and objects one pipeline may hold.
MAX_ARRAYS = 4096
MAX_OBJECTS = 1024
#: Arrays of mixed objects written inline hold at most this many values.
MAX_INLINE = 4096
#: Text in arrays: at most this many characters per value.
MAX_TEXT = 4096


class Encoder:
    """Turns a pipeline into (JSON document, list of arrays)."""

    def __init__(self, model):
        self.model = model
        self.objects = []
        self.arrays = []
        self.array_specs = []
        self.allowed = _allowed()

    def document(self, pipeline):
        """The JSON-ready description of ``pipeline``.

        Parameters
        ----------
        pipeline : sklearn.pipeline.Pipeline

        Returns
        -------
        dict
        """
        root = self.value(pipeline)
        return {"objects": self.objects, "root": root, "arrays": self.array_specs}

    def value(self, value):
        if value is self.model:
            return {"$model": "fitted"}
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, np.bool_):
            return {"$np": type(value).__name__, "value": int(value)} \
                if isinstance(value, np.integer) else int(value)
        if isinstance(value, (float, np.floating)):
            number = float(value)
            encoded = number if math.isfinite(number) else {"$float": repr(number)}
            if isinstance(value, np.floating):
                return {"$np": type(value).__name__, "value": encoded}
            return encoded
        if isinstance(value, np.bool_):
            return {"$np": "bool_", "value": bool(value)}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, tuple):
            return {"$tuple": [self.value(v) for v in value]}
        if isinstance(value, dict):
            return {"$dict": [[self.value(k), self.value(v)] for k, v in value.items()]}
        if isinstance(value, slice):
            return {"$slice": [self.value(value.start), self.value(value.stop),
                               self.value(value.step)]}
        if isinstance(value, np.dtype):
            return {"$dtype": value.str if value.kind != "O" else "object"}
        if isinstance(value, type) and value in _TYPES.values():
            return {"$type": next(k for k, v in _TYPES.items() if v is value)}
        if isinstance(value, np.ndarray):
            return self.array(value)
        if type(value).__name__ in self.allowed and type(value) is self.allowed[
                type(value).__name__]:
            return self.estimator(value)
        if type(value).__name__ in ("MLPClassifier", "MLPRegressor") and hasattr(
                self.model, "get_params") and type(value) is type(self.model):
            # the unfitted template of a TransformedTargetRegressor: a clone on load
            if not _same_params(value.get_params(), self.model.get_params()):
                raise TypeError("a pipeline may hold one cymlp estimator (and its "
                                "unfitted template with the same parameters)")
            return {"$model": "template"}
        raise TypeError("cannot save %s in a model file (a pipeline may hold %s and one "
                        "cymlp estimator)" % (type(value).__name__, ", ".join(self.allowed)))

    def estimator(self, obj):
        state = obj.__getstate__()
        encoded = {}
        for key, value in state.items():
            if not isinstance(key, str) or not _KEY.match(key) or key.startswith("__"):
                raise TypeError("cannot save the attribute %r of %s" % (key, type(obj).__name__))
            encoded[key] = self.value(value)
        self.objects.append({"class": type(obj).__name__, "state": encoded})
        return {"$ref": len(self.objects) - 1}

    def array(self, array):
        if array.dtype.kind == "O":
            items = array.reshape(-1).tolist()
            missing = [k for k, v in enumerate(items) if isinstance(v, float) and v != v]
            nones = [k for k, v in enumerate(items) if v is None]
            gaps = set(missing) | set(nones)
            if array.ndim == 1 and all(isinstance(v, str) for k, v in enumerate(items)
                                       if k not in gaps):
                # text, with NaN (an empty cell's category) at the positions listed
                text = np.asarray(["" if k in gaps else v for k, v in enumerate(items)],
                                  dtype=str) if items else np.empty(0, dtype="<U1")
                return {"$text": self._member(text), "nan": missing, "none": nones}
            if array.size > MAX_INLINE or array.ndim != 1:
                raise TypeError("cannot save an object array of %d values that are not all "
                                "text" % array.size)
            return {"$objects": [self.value(v) for v in items]}
        if array.dtype.kind not in "biufU":
            raise TypeError("cannot save an array of dtype %s" % array.dtype)
        return {"$array": self._member(np.ascontiguousarray(array))}

    def _member(self, array):
        if len(self.arrays) >= MAX_ARRAYS:
            raise TypeError("a pipeline may hold at most %d arrays" % MAX_ARRAYS)
        self.arrays.append(array)
        self.array_specs.append({"dtype": array.dtype.str, "shape": list(array.shape)})
        return len(self.arrays) - 1


def _same_params(first, second):
    """Equal estimator parameters (two RandomState objects count as equal: a clone's is
    a copy)."""
    if set(first) != set(second):
        return False
    for key, value in first.items():
        other = second[key]
        if isinstance(value, np.random.RandomState) and isinstance(other,
                                                                   np.random.RandomState):
            continue
        if not (value is other or (type(value) is type(other) and value == other)):
            return False
    return True


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


def check_array_specs(document, where):
    """The arrays a pipeline document declares, as (dtype, shape) pairs, checked.

    Parameters
    ----------
    document : dict
    where : str

    Returns
    -------
    list of (numpy.dtype, tuple)
    """
    if not isinstance(document, dict) or set(document) != {"objects", "root", "arrays"}:
        raise ModelFileError("%s: the pipeline is not an object of objects, root and arrays"
                             % where)
    specs = document["arrays"]
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise ModelFileError("%s: the pipeline's arrays are not a list of at most %d"
                             % (where, MAX_ARRAYS))
    checked = []
    for spec in specs:
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape"}:
            raise ModelFileError("%s: an array is not described by dtype and shape" % where)
        try:
            dtype = np.dtype(spec["dtype"]) if isinstance(spec["dtype"], str) else None
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in "biufU" or (
                dtype.kind == "U" and dtype.itemsize > 4 * MAX_TEXT) or dtype.itemsize > 8 \
                and dtype.kind != "U" or dtype.fields is not None or dtype.subdtype:
            raise ModelFileError("%s: an array of dtype %r" % (where, spec["dtype"]))
        shape = spec["shape"]
        if not isinstance(shape, list) or len(shape) > 2 or not all(
                isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2 ** 31
                for n in shape):
            raise ModelFileError("%s: an array of shape %r" % (where, shape))
        checked.append((dtype, tuple(shape)))
    return checked


class Decoder:
    """Builds a pipeline from a checked document and its arrays."""

    def __init__(self, document, arrays, model, where):
        self.document = document
        self.arrays = arrays
        self.model = model
        self.where = where
        self.allowed = _allowed()
        self.built = []

    def fail(self, message, *args):
        raise ModelFileError("%s: the pipeline %s" % (self.where, message % args))

    def pipeline(self):
        """Build every object in order; return the root.

        Returns
        -------
        sklearn.pipeline.Pipeline
        """
        objects = self.document["objects"]
        if not isinstance(objects, list) or len(objects) > MAX_OBJECTS:
            self.fail("lists more than %d objects", MAX_OBJECTS)
        for entry in objects:
            if not isinstance(entry, dict) or set(entry) != {"class", "state"} or \
                    not isinstance(entry["state"], dict):
                self.fail("has an object that is not a class and a state")
            cls = self.allowed.get(entry["class"]) if isinstance(entry["class"], str) else None
            if cls is None:
                self.fail("names the class %r, which a model file may not hold (allowed: %s)",
                          entry["class"], ", ".join(sorted(self.allowed)))
            state = {}
            for key, value in entry["state"].items():
                if not _KEY.match(key) or key.startswith("__"):
                    self.fail("sets the attribute %r", key)
                state[key] = self.value(value)
            obj = cls.__new__(cls)
            obj.__setstate__(state)
            self.built.append(obj)
        return self.value(self.document["root"])

    def value(self, value):
        if value is None or isinstance(value, (bool, str, int)):
            return value
        if isinstance(value, float):
            return value
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if not isinstance(value, dict) or len(value) not in (1, 2, 3):
            self.fail("holds a value it cannot read")
        tag = next(iter(value))
        body = value[tag]
        if len(value) > 1 and (tag, sorted(value)) not in (
                ("$np", ["$np", "value"]), ("$text", ["$text", "nan", "none"])):
            self.fail("holds a value it cannot read")
        if tag == "$ref":
            if not isinstance(body, int) or isinstance(body, bool) or \
                    not 0 <= body < len(self.built):
                self.fail("refers to object %r before it is built", body)
            return self.built[body]
        if tag == "$model":
            if body == "fitted":
                return self.model
            if body == "template":
                from sklearn.base import clone
                return clone(self.model)
        if tag == "$float" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "$tuple" and isinstance(body, list):
            return tuple(self.value(v) for v in body)
        if tag == "$dict" and isinstance(body, list):
            pairs = [self.value(pair) for pair in body]
            if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
                self.fail("has a dict that is not a list of pairs")
            try:
                return dict((k, v) for k, v in pairs)
            except TypeError:
                self.fail("has a dict key that cannot be one")
        if tag == "$slice" and isinstance(body, list) and len(body) == 3:
            bounds = [self.value(v) for v in body]
            if all(b is None or (isinstance(b, int) and not isinstance(b, bool))
                   for b in bounds):
                return slice(*bounds)
        if tag == "$dtype" and isinstance(body, str):
            if body == "object":
                return np.dtype(object)
            try:
                dtype = np.dtype(body)
            except TypeError:
                dtype = None
            if dtype is not None and dtype.kind in "biufU" and dtype.fields is None:
                return dtype
        if tag == "$type" and body in _TYPES:
            return _TYPES[body]
        if tag == "$np" and len(value) == 2 and body in ("float64", "float32", "int64",
                                                         "int32", "bool_"):
            inner = self.value(value["value"])
            if isinstance(inner, (int, float, bool)):
                return getattr(np, body)(inner)
        if tag in ("$array", "$text") and isinstance(body, int) and \
                not isinstance(body, bool) and 0 <= body < len(self.arrays):
            array = self.arrays[body]
            if tag == "$text":
                missing, nones = value.get("nan", []), value.get("none", [])
                if array.dtype.kind != "U" or array.ndim != 1 or not all(
                        isinstance(ks, list) and all(
                            isinstance(k, int) and not isinstance(k, bool) and
                            0 <= k < array.size for k in ks) for ks in (missing, nones)):
                    self.fail("has text that is not a 1-D array of strings")
                text = array.astype(object)
                text[missing] = np.nan
                text[nones] = None
                return text
            return array
        if tag == "$objects" and isinstance(body, list) and len(body) <= MAX_INLINE:
            items = [self.value(v) for v in body]
            if all(v is None or isinstance(v, (str, bool, int, float)) for v in items):
                out = np.empty(len(items), dtype=object)
                out[:] = items
                return out
        self.fail("holds a value it cannot read (%s)", tag)
