"""What a model file's JSON header may say, checked before anything is built from it.

``parse_header`` turns the header bytes into a dict (size and nesting capped);
``check_header`` validates every field against an allow-list with types, ranges and
cross-checks, and returns a ``ModelSpec``: the network layout, the parameter count it
implies, the estimator parameters and fitted attributes to set, and the expected
shapes of the other members.  Nothing in the header reaches ``setattr`` or a
constructor unchecked, and every problem is a ``ModelFileError``.  All checks are
linear in the size of the header.
"""
import json
from dataclasses import dataclass, field
from typing import Optional
from numbers import Integral, Real

import numpy as np

from cymlp._model_reader import ModelFileError
from cymlp._names import (ACTIVATION_CODES, LOSS_OUTPUTS, LOSS_PARAMETER_DEFAULTS,
                          LOSS_PARAMETERS, MAX_BLAS_SIZE, OUTPUT_CODES, OUTPUT_LOSSES)

FORMAT_NAME = "cymlp-model"
FORMAT_VERSION = 1
#: The header is at most this many bytes and nests at most this deep.
MAX_HEADER_BYTES = 16 << 20
MAX_HEADER_DEPTH = 16
#: At most this many layer applications in a network.
MAX_STEPS = 65536
#: Layer sizes and the parameter count fit BLAS's 32-bit sizes (the engine's limit).
MAX_SIZE = MAX_BLAS_SIZE
#: Longest class label and feature name, in characters.
MAX_LABEL_CHARS = 4096

ESTIMATOR_KINDS = ("MLPClassifier", "MLPRegressor")
KINDS = ("Network",) + ESTIMATOR_KINDS
_TOP_KEYS = {"format", "version", "kind", "dtype", "network", "params", "fitted",
             "label_type", "pipeline"}
_OUTPUTS_OF = {"MLPClassifier": ("softmax", "logistic"),
               "MLPRegressor": ("identity", "exp")}
_LABEL_TYPES = ("binary", "multiclass", "multilabel-indicator", "multiclass-multioutput")


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def _count(value):
    return value if _is_int(value) and value >= 0 else None


def _real(value):
    return float(value) if _is_real(value) else None


def _real_or_none(value):
    return None if value is None else _real(value)


def _reals(value):
    if not isinstance(value, list) or not all(_is_real(v) for v in value):
        return None
    return [float(v) for v in value]


def _reals_or_none(value):
    return None if value is None else _reals(value)


# fitted attribute -> (converter returning the value or None when invalid, required)
# (converters that accept None as a value are looked up in _NULLABLE)
FITTED_ATTRIBUTES = {
    "n_features_in_": (_count, True),
    "n_outputs_": (_count, True),
    "n_layers_": (_count, True),
    "n_iter_": (_count, True),
    "t_": (_count, True),
    "out_activation_": (lambda v: v if isinstance(v, str) else None, True),
    "loss_": (_real, False),
    "best_loss_": (_real_or_none, False),
    "best_validation_score_": (_real_or_none, False),
    "loss_curve_": (_reals, False),
    "validation_scores_": (_reals_or_none, False),
    "validation_loss_curve_": (_reals_or_none, False),
}
_NULLABLE = {"best_loss_", "best_validation_score_", "validation_scores_",
             "validation_loss_curve_"}


@dataclass
class ModelSpec:
    """A checked header: everything ``model_io.load`` builds from."""

    kind: str
    dtype: np.dtype
    layers: list           # [(n_in, n_out)] per unique layer
    steps: list            # layer index per step
    activations: list      # hidden activation names
    output: str
    n_params: int
    loss: str = ""                  # the output's loss (resolve_output)
    loss_param: Optional[float] = None
    softmax_groups: Optional[list] = None
    params: dict = field(default_factory=dict)   # estimator parameters
    fitted: dict = field(default_factory=dict)   # fitted attributes to set
    label_type: Optional[str] = None
    pipeline: Optional[dict] = None   # a pipeline's document (_pipeline_state), unchecked
    class_counts: tuple = ()  # lengths the classes member may have (classifiers)
    # a multi-output classifier has one classes_<j> member per softmax group instead

    @property
    def n_inputs(self):
        return self.layers[self.steps[0]][0]

    @property
    def n_outputs(self):
        return self.layers[self.steps[-1]][1]


def _require(condition, where, message, *args):
    if not condition:
        raise ModelFileError("%s: %s" % (where, message % args))


def parse_header(raw, path):
    """Decode the header bytes as JSON, refusing oversized or deeply nested ones.

    Parameters
    ----------
    raw : ndarray of uint8
    path : str or Path
        For messages.

    Returns
    -------
    dict
    """
    if raw.size > MAX_HEADER_BYTES:
        raise ModelFileError("%s has a header of %d bytes (at most %d)"
                             % (path, raw.size, MAX_HEADER_BYTES))
    depth = _nesting_depth(raw)
    if depth > MAX_HEADER_DEPTH:
        raise ModelFileError("%s has a header nested %d deep (at most %d)"
                             % (path, depth, MAX_HEADER_DEPTH))
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelFileError("%s has an unreadable header: %s" % (path, exc)) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError("%s is not a cymlp model file" % path)
    version = header.get("version")
    if not _is_int(version) or version < 1:
        raise ModelFileError("%s has an invalid format version %r" % (path, version))
    if version > FORMAT_VERSION:
        raise ModelFileError("%s has format version %r, newer than this cymlp reads (%d); "
                             "upgrade cymlp" % (path, version, FORMAT_VERSION))
    return header


def _nesting_depth(raw):
    """Deepest bracket nesting of JSON bytes, brackets inside strings not counted
    (one vectorised pass; the JSON parser itself would recurse)."""
    codes = np.asarray(raw, dtype=np.uint8)
    quote = codes == ord('"')
    # a quote preceded by an odd run of backslashes is escaped
    backslash = (codes == ord("\\")).astype(np.int64)
    run = np.zeros(codes.size, dtype=np.int64)
    if codes.size:
        # length of the backslash run ending just before each position
        positions = np.arange(codes.size)
        last_other = np.maximum.accumulate(np.where(backslash == 0, positions, -1))
        run[1:] = positions[:-1] - last_other[:-1]
    quote &= (run % 2) == 0
    inside = (np.cumsum(quote) - quote) % 2 == 1
    step = np.zeros(codes.size, dtype=np.int64)
    step[np.isin(codes, (ord("["), ord("{")))] = 1
    step[np.isin(codes, (ord("]"), ord("}")))] = -1
    step[inside] = 0
    return int(np.cumsum(step).max(initial=0))


def check_header(header, path, estimator_classes):
    """Validate a parsed header; return its ``ModelSpec``.

    Parameters
    ----------
    header : dict
        From ``parse_header``.
    path : str or Path
        For messages.
    estimator_classes : dict
        ``{"MLPClassifier": class, "MLPRegressor": class}``.

    Returns
    -------
    ModelSpec
    """
    where = "%s has an invalid header" % path
    unknown = sorted(set(header) - _TOP_KEYS)
    _require(not unknown, where, "unknown keys %s", unknown)
    kind = header.get("kind")
    _require(kind in KINDS, where, "kind %r is not one of %s", kind, KINDS)
    dtype = header.get("dtype")
    _require(dtype in ("float32", "float64"), where, "dtype %r is not float32 or float64",
             dtype)
    spec = check_network(header.get("network"), where)
    spec.kind, spec.dtype = kind, np.dtype(dtype)
    if kind == "Network":
        extra = sorted({"params", "fitted", "label_type", "pipeline"} & set(header))
        _require(not extra, where, "a Network model has no %s", extra)
        return spec
    _require(spec.steps == list(range(len(spec.layers))), where,
             "an estimator's network shares no layers")
    _require(spec.output in _OUTPUTS_OF[kind], where, "output %r for an %s", spec.output,
             kind)
    spec.params = _check_params(header.get("params"), where, estimator_classes[kind], spec)
    spec.fitted = _check_fitted(header.get("fitted"), where, spec)
    if kind == "MLPClassifier":
        _check_labels(header.get("label_type"), where, spec)
    else:
        _require("label_type" not in header, where, "a regressor has no label_type")
    return spec


def check_network(network, where):
    """Validate a network layout (``Network.layout()``'s form); return its ``ModelSpec``.

    Parameters
    ----------
    network : object
        Should be a dict with ``layers``, ``steps``, ``activations`` and ``output``.
    where : str
        What is being read, for messages (``"<where>: <problem>"``).

    Returns
    -------
    ModelSpec
        With ``kind`` and ``dtype`` left unset.
    """
    _require(isinstance(network, dict) and {"layers", "steps", "activations", "output"}
             <= set(network) <= {"layers", "steps", "activations", "output", "loss",
                                 "loss_param", "softmax_groups"},
             where, "network must have exactly layers, steps, activations and output, and "
             "may have loss, loss_param and softmax_groups")
    layers, steps = network["layers"], network["steps"]
    _require(isinstance(layers, list) and 1 <= len(layers) <= MAX_STEPS, where,
             "layers must be a list of 1 to %d layers", MAX_STEPS)
    _require(isinstance(steps, list) and 1 <= len(steps) <= MAX_STEPS, where,
             "steps must be a list of 1 to %d layer indices", MAX_STEPS)
    shapes = []
    for layer in layers:
        _require(isinstance(layer, list) and len(layer) == 2
                 and all(_is_int(n) and 1 <= n <= MAX_SIZE for n in layer), where,
                 "each layer must be [n_in, n_out] with sizes from 1 to %d", MAX_SIZE)
        shapes.append((int(layer[0]), int(layer[1])))
    seen = 0   # unique layers are numbered in order of first use
    for k, index in enumerate(steps):
        _require(_is_int(index) and 0 <= index < len(shapes), where,
                 "step %d uses layer %r of %d", k, index, len(shapes))
        _require(index <= seen, where, "layers are not numbered in order of first use")
        seen = max(seen, index + 1)
        if k:
            n_in, n_prev = shapes[index][0], shapes[steps[k - 1]][1]
            _require(n_in == n_prev, where, "step %d has %d inputs but step %d has %d "
                     "outputs", k, n_in, k - 1, n_prev)
    _require(seen == len(shapes), where, "layers %d and later are never used", seen)
    activations, output = network["activations"], network["output"]
    _require(isinstance(activations, list) and len(activations) == len(steps) - 1
             and all(isinstance(a, str) and a in ACTIVATION_CODES for a in activations),
             where, "activations must name one of %s per hidden step",
             sorted(ACTIVATION_CODES))
    _require(isinstance(output, str) and output in OUTPUT_CODES, where,
             "output must be one of %s", sorted(OUTPUT_CODES))
    _require(output != "softmax" or shapes[steps[-1]][1] >= 2, where,
             "a softmax output needs at least 2 units")
    groups = network.get("softmax_groups")
    _require(groups is None or (isinstance(groups, list) and len(groups) <= MAX_SIZE
                                and all(_is_int(n) for n in groups)), where,
             "softmax_groups must be a list of sizes")
    param = network.get("loss_param")
    _require(param is None or _is_real(param), where, "loss_param must be a number")
    try:
        loss, param, groups = resolve_output(output, network.get("loss"), param, groups,
                                             shapes[steps[-1]][1])
    except (TypeError, ValueError) as exc:
        raise ModelFileError("%s: %s" % (where, exc)) from None
    n_params = sum(a * b + b for a, b in shapes)
    _require(n_params <= MAX_SIZE, where, "%d parameters (at most %d)", n_params, MAX_SIZE)
    return ModelSpec(kind=None, dtype=None, layers=shapes, steps=[int(i) for i in steps],
                     activations=list(activations), output=output, n_params=n_params,
                     loss=loss, loss_param=param, softmax_groups=groups)


def resolve_output(output, loss, loss_param, softmax_groups, n_out):
    """Check an output step's loss options; return them with the defaults filled in.

    Parameters
    ----------
    output : str
        The output activation (a key of ``OUTPUT_CODES``).
    loss : str or None
        A loss computed with that activation (``LOSS_OUTPUTS``); None: the paired one.
    loss_param : float or None
        The huber threshold (default 1.35) or the quantile level (default 0.5); None
        for the other losses.
    softmax_groups : sequence of int or None
        Softmax only: the sizes of the column groups that each get their own softmax
        (summing to ``n_out``; a group of one always outputs 1, the label column of a
        single class); None for one softmax over all outputs.
    n_out : int
        The output units.

    Returns
    -------
    loss : str
    loss_param : float or None
    softmax_groups : list of int or None

    Raises
    ------
    ValueError
        Naming the option that does not fit.
    """
    if loss is None:
        loss = OUTPUT_LOSSES[output]
    if not isinstance(loss, str) or loss not in LOSS_OUTPUTS:
        raise ValueError("unknown loss %r; choose from %s" % (loss, sorted(LOSS_OUTPUTS)))
    if LOSS_OUTPUTS[loss] != output:
        raise ValueError("loss %r is computed with output %r, not %r"
                         % (loss, LOSS_OUTPUTS[loss], output))
    if loss in LOSS_PARAMETERS:
        name, low, high = LOSS_PARAMETERS[loss]
        if loss_param is None:
            loss_param = LOSS_PARAMETER_DEFAULTS[loss]
        if (isinstance(loss_param, bool) or not isinstance(loss_param, Real)
                or not low < loss_param < high):
            raise ValueError("the %s loss needs %s in (%g, %g), got %r"
                             % (loss, name, low, high, loss_param))
        loss_param = float(loss_param)
    elif loss_param is not None:
        raise ValueError("loss %r takes no parameter, got loss_param=%r" % (loss, loss_param))
    if softmax_groups is not None:
        groups = [int(n) for n in softmax_groups]
        if output != "softmax":
            raise ValueError("softmax_groups needs a softmax output, not %r" % output)
        if not groups or min(groups) < 1 or sum(groups) != n_out:
            raise ValueError("softmax_groups %s must be positive sizes summing to the "
                             "%d outputs" % (groups, n_out))
        softmax_groups = None if len(groups) == 1 else groups
    return loss, loss_param, softmax_groups


def _check_params(params, where, estimator_class, spec):
    """The estimator's constructor parameters: known names, values valid for it, and a
    network that they describe."""
    _require(isinstance(params, dict), where, "params must be an object")
    names = set(estimator_class().get_params())
    unknown = sorted(set(params) - names)
    _require(not unknown, where, "unknown estimator parameters %s", unknown)
    params = dict(params)
    weights = params.get("class_weight")
    if isinstance(weights, list):   # JSON keys are strings: a dict is stored as pairs
        _require(all(isinstance(pair, list) and len(pair) == 2
                     and isinstance(pair[0], (str, int, float, bool)) and _is_real(pair[1])
                     for pair in weights), where,
                 "class_weight must be [label, weight] pairs")
        params["class_weight"] = {label: float(weight) for label, weight in weights}
    sizes = params.get("hidden_layer_sizes", (100,))
    if isinstance(sizes, list):   # JSON has no tuples
        sizes = tuple(sizes)
        params["hidden_layer_sizes"] = sizes
    try:
        estimator_class(**params)._validate_params()
    except (ValueError, TypeError) as exc:
        raise ModelFileError("%s: invalid estimator parameters: %s" % (where, exc)) from None
    sizes = list(sizes) if isinstance(sizes, tuple) else [sizes]
    hidden = [spec.layers[i][1] for i in spec.steps[:-1]]
    _require(all(_is_int(n) for n in sizes) and [int(n) for n in sizes] == hidden, where,
             "hidden_layer_sizes %s but the network's hidden layers are %s", sizes, hidden)
    activation = params.get("activation", "relu")
    _require(all(a == activation for a in spec.activations), where,
             "activation %r but the network uses %s", activation, spec.activations)
    if estimator_class.__name__ == "MLPRegressor":
        loss = params.get("loss", "squared_error")
        _require(loss == spec.loss, where, "loss %r but the network's loss is %r", loss,
                 spec.loss)
        if loss in LOSS_PARAMETERS:
            name = LOSS_PARAMETERS[loss][0]
            value = params.get(name, LOSS_PARAMETER_DEFAULTS[loss])
            _require(value == spec.loss_param, where, "%s=%r but the network's loss_param "
                     "is %r", name, value, spec.loss_param)
    return params


def _check_fitted(fitted, where, spec):
    _require(isinstance(fitted, dict), where, "fitted must be an object")
    unknown = sorted(set(fitted) - set(FITTED_ATTRIBUTES))
    _require(not unknown, where, "unknown fitted attributes %s", unknown)
    values = {}
    for name, (convert, required) in FITTED_ATTRIBUTES.items():
        if name not in fitted:
            _require(not required, where, "fitted attribute %s is missing", name)
            continue
        value = convert(fitted[name])
        _require(value is not None or (name in _NULLABLE and fitted[name] is None), where,
                 "fitted attribute %s has an invalid value", name)
        values[name] = value
    _require(values["n_features_in_"] == spec.n_inputs, where,
             "n_features_in_=%d but the network has %d inputs",
             values["n_features_in_"], spec.n_inputs)
    _require(values["n_outputs_"] == spec.n_outputs, where,
             "n_outputs_=%d but the network has %d outputs",
             values["n_outputs_"], spec.n_outputs)
    _require(values["n_layers_"] == len(spec.steps) + 1, where,
             "n_layers_=%d but the network has %d layers", values["n_layers_"],
             len(spec.steps) + 1)
    _require(values["out_activation_"] == spec.output, where,
             "out_activation_=%r but the network's output is %r",
             values["out_activation_"], spec.output)
    return values


def _check_labels(label_type, where, spec):
    """A classifier's label type against its output layer; sets ``spec.class_counts``."""
    _require(label_type in _LABEL_TYPES, where, "label_type %r is not one of %s",
             label_type, _LABEL_TYPES)
    n_out = spec.n_outputs
    if label_type == "multiclass":
        _require(spec.output == "softmax" and n_out >= 3 and spec.softmax_groups is None,
                 where, "a multiclass model needs a softmax output of 3 or more classes")
        spec.class_counts = (n_out,)
    elif label_type == "multiclass-multioutput":
        # label columns: one classes_<j> member per softmax group, of its size
        _require(spec.output == "softmax" and spec.softmax_groups is not None, where,
                 "a multi-output model needs a softmax output with softmax_groups")
        spec.class_counts = ()
    elif label_type == "binary":
        # two classes, or one (fitted as scikit-learn does, to a constant)
        _require(spec.output == "logistic" and n_out == 1, where,
                 "a binary model needs one logistic output")
        spec.class_counts = (1, 2)
    else:
        _require(spec.output == "logistic", where,
                 "a multilabel model needs logistic outputs")
        spec.class_counts = (n_out,)
    spec.label_type = label_type
