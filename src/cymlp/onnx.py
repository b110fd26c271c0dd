"""Export cymlp models to ONNX, through skl2onnx (the ``onnx`` extra).

``to_onnx(model, X_sample)`` converts an ``MLPClassifier``, an ``MLPRegressor``, a
``Network`` or a scikit-learn ``Pipeline`` holding them.  ``register_converters()``
(called by ``to_onnx``, and idempotent) tells skl2onnx about cymlp's classes, so that
``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn`` convert them too, inside any
pipeline.

The graph is the forward pass of the fitted network, step by step: ``MatMul`` by the
layer's W, ``Add`` of its b, then the step's activation (``Sigmoid``, ``Tanh``,
``Relu``, ``LeakyRelu``, ``Elu``, ``Softplus``, ``x * Sigmoid(x)`` for silu,
``0.5 x (1 + Erf(x / sqrt 2))`` for gelu; outputs ``Softmax``, ``Sigmoid``, ``Exp``);
a layer a ``Network`` uses twice is stored once.  Its float type is the sample's: float32 gives a float32 graph,
float64 a float64 graph (the weights are converted to it).  Outputs follow skl2onnx's
conventions:

- classifiers: ``label`` (n_samples,), then ``probabilities`` (n_samples, n_classes),
  which skl2onnx turns into a list of ``{class: probability}`` maps unless the option
  ``zipmap`` is False.  A binary model's probabilities are ``[1 - p, p]``; a multilabel
  model's ``label`` is the (n_samples, n_labels) int64 indicator matrix (``p > 0.5``).
  Integer, boolean and (whole-number) float classes give int64 labels, string classes
  string labels.
- regressors: ``variable`` (n_samples, n_outputs), the ``exp`` output included.
- ``Network``: ``variable`` (n_samples, n_outputs), what ``Network.forward`` returns.
"""
from typing import Any, Optional

import numpy as np

from cymlp.estimators import MLPClassifier, MLPRegressor
from cymlp.network import Network

# ONNX Runtime's CPU provider has no float64 LeakyRelu, Elu, Softplus or Erf: a float64
# graph spells the first three with operators it has, and computes erf in float32.

def _leaky_relu(graph, x):
    if graph.np_dtype == np.float32:
        return graph.node("LeakyRelu", [x], "leaky_relu", alpha=0.01)
    scaled = graph.node("Mul", [x, graph.constant("slope", np.array(0.01))], "leaky_scaled")
    return graph.node("Max", [x, scaled], "leaky_relu")   # max(u, 0.01 u)


def _elu(graph, x):
    if graph.np_dtype == np.float32:
        return graph.node("Elu", [x], "elu", alpha=1.0)
    zero, one = graph.constant("zero", np.array(0.0)), graph.constant("one", np.array(1.0))
    negative = graph.node("Sub", [graph.node("Exp", [graph.node("Min", [x, zero], "elu_min")],
                                             "elu_exp"), one], "elu_negative")
    return graph.node("Where", [graph.node("Greater", [x, zero], "elu_positive"), x,
                                negative], "elu")


def _softplus(graph, x):
    if graph.np_dtype == np.float32:
        return graph.node("Softplus", [x], "softplus")
    # max(u, 0) + log(1 + exp(-|u|)), exact for any u
    one = graph.constant("one", np.array(1.0))
    tail = graph.node("Exp", [graph.node("Neg", [graph.node("Abs", [x], "softplus_abs")],
                                         "softplus_neg")], "softplus_exp")
    log = graph.node("Log", [graph.node("Add", [one, tail], "softplus_sum")], "softplus_log")
    return graph.node("Add", [graph.node("Relu", [x], "softplus_relu"), log], "softplus")


def _gelu(graph, x):
    # u Phi(u) = 0.5 u (1 + erf(u / sqrt 2)), from Erf (opset 9), not opset 20's Gelu
    from skl2onnx.proto import onnx_proto
    scaled = graph.node("Mul", [x, graph.constant("inv_sqrt2", np.array(0.5 ** 0.5))],
                        "gelu_scaled")
    if graph.np_dtype == np.float32:
        erf = graph.node("Erf", [scaled], "gelu_erf")
    else:
        narrow = graph.node("Cast", [scaled], "gelu_float", to=onnx_proto.TensorProto.FLOAT)
        erf = graph.node("Cast", [graph.node("Erf", [narrow], "gelu_erf")], "gelu_double",
                         to=onnx_proto.TensorProto.DOUBLE)
    one_plus = graph.node("Add", [erf, graph.constant("one", np.array(1.0))], "gelu_sum")
    half_x = graph.node("Mul", [x, graph.constant("half", np.array(0.5))], "gelu_half")
    return graph.node("Mul", [half_x, one_plus], "gelu")


def _silu(graph, x):
    return graph.node("Mul", [x, graph.node("Sigmoid", [x], "sigmoid")], "silu")


# the ONNX nodes of each hidden or output activation cymlp computes (softmax: Softmax)
_ACTIVATIONS = {
    "identity": lambda graph, x: graph.node("Identity", [x], "identity"),
    "logistic": lambda graph, x: graph.node("Sigmoid", [x], "logistic"),
    "tanh": lambda graph, x: graph.node("Tanh", [x], "tanh"),
    "relu": lambda graph, x: graph.node("Relu", [x], "relu"),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "silu": _silu,
    "softplus": _softplus,
    "exp": lambda graph, x: graph.node("Exp", [x], "exp"),
}

_ALIASES = {MLPClassifier: "CymlpMLPClassifier", MLPRegressor: "CymlpMLPRegressor",
            Network: "CymlpNetwork"}

_registered = False


def _skl2onnx():
    try:
        import skl2onnx
    except ImportError:   # pragma: no cover - the tests run with the extra installed
        raise ImportError("ONNX export needs skl2onnx: pip install 'cymlp[onnx]'") from None
    return skl2onnx


class _Graph:
    """Adds nodes and constants to the graph skl2onnx is building, in its float type."""

    def __init__(self, scope, container, proto_dtype, np_dtype):
        self.scope, self.container = scope, container
        self.proto_dtype, self.np_dtype = proto_dtype, np_dtype

    def constant(self, seed, values, proto_dtype=None):
        """Add ``values`` as an initializer and return its name."""
        name = self.scope.get_unique_variable_name(seed)
        values = np.asarray(values)
        if proto_dtype is None:
            proto_dtype, values = self.proto_dtype, values.astype(self.np_dtype)
        self.container.add_initializer(name, proto_dtype, list(values.shape),
                                       values.ravel().tolist())
        return name

    def node(self, op_type, inputs, seed, output=None, **attributes):
        """Add one node and return the name of its output (``output`` if given)."""
        output = output or self.scope.get_unique_variable_name(seed)
        self.container.add_node(op_type, inputs, output,
                                name=self.scope.get_unique_operator_name(op_type),
                                **attributes)
        return output


def _graph_for(scope, operator, container):
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.proto import onnx_proto
    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return _Graph(scope, container, onnx_proto.TensorProto.DOUBLE, np.float64)
    return _Graph(scope, container, onnx_proto.TensorProto.FLOAT, np.float32)


def _forward(graph, network, x):
    """Emit the forward pass of ``network`` on input ``x``; return the output's name."""
    _check_exportable(network)
    coefs, intercepts = network.coefs, network.intercepts
    weights = {}   # unique layer index -> (W name, b name): a shared layer is stored once
    activations = list(network.hidden_activations) + [network.output]
    for k, layer in enumerate(network.step_layers):
        if layer not in weights:
            weights[layer] = (graph.constant("coefficient", coefs[layer]),
                              graph.constant("intercept", intercepts[layer][None, :]))
        w, b = weights[layer]
        x = graph.node("MatMul", [x, w], "mul_result")
        x = graph.node("Add", [x, b], "add_result")
        if activations[k] == "softmax":
            x = graph.node("Softmax", [x], "softmax", axis=1)
        else:
            x = _ACTIVATIONS[activations[k]](graph, x)
    return x


def _check_exportable(network):
    """Refuse what the graphs here do not express: one softmax per column group."""
    if network.softmax_groups is not None:
        raise ValueError("ONNX export of a softmax output with column groups (a "
                         "multi-output classifier's label columns) is not supported; "
                         "such models predict in Python and save to model files")


def _onnx_classes(model):
    """The class labels as ONNX can hold them: (array, proto type)."""
    from skl2onnx.proto import onnx_proto
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "iubf":
        # float classes are whole numbers: scikit-learn's target check refuses others
        return classes.astype(np.int64), onnx_proto.TensorProto.INT64
    return np.array([str(c) for c in classes], dtype=object), onnx_proto.TensorProto.STRING


def _is_multilabel(model):
    return model._label_binarizer.y_type_ == "multilabel-indicator"


def _check_float_input(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    if len(operator.inputs) != 1 or not isinstance(operator.inputs[0].type,
                                                   (FloatTensorType, DoubleTensorType)):
        raise TypeError("cymlp's ONNX graphs take one float or double tensor input; got %s"
                        % [type(v.type).__name__ for v in operator.inputs])


def _classifier_shapes(operator):
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType
    _check_float_input(operator)
    model = operator.raw_operator
    _check_exportable(model._fitted_network())
    n = operator.inputs[0].get_first_dimension()
    _, label_proto = _onnx_classes(model)
    if _is_multilabel(model):
        operator.outputs[0].type = Int64TensorType([n, model.n_outputs_])
        n_columns = model.n_outputs_
    else:
        label_type = StringTensorType if label_proto == 8 else Int64TensorType  # 8: STRING
        operator.outputs[0].type = label_type([n])
        n_columns = max(2, model.n_outputs_)
    operator.outputs[1].type = operator.inputs[0].type.__class__([n, n_columns])


def _network_of(model):
    """The fitted network a cymlp model predicts with (a Network is its own)."""
    return model if isinstance(model, Network) else model._fitted_network()


def _output_shapes(operator):
    """Regressors and Networks: one float output, the network's."""
    _check_float_input(operator)
    network = _network_of(operator.raw_operator)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = operator.inputs[0].type.__class__([n, network.n_outputs])


def _convert_classifier(scope, operator, container):
    from skl2onnx.proto import onnx_proto
    model = operator.raw_operator
    graph = _graph_for(scope, operator, container)
    if graph.np_dtype == np.float64 and scope.get_options(model, {"zipmap": True})["zipmap"]:
        # ONNX's ZipMap takes float32 only: the graph would not load in onnxruntime
        raise ValueError("a float64 classifier graph needs options={'zipmap': False} "
                         "(ONNX's ZipMap takes float32 probabilities only); or give a "
                         "float32 X_sample")
    output = _forward(graph, model._fitted_network(), operator.inputs[0].full_name)
    label_name, proba_name = operator.outputs[0].full_name, operator.outputs[1].full_name
    if _is_multilabel(model):
        graph.node("Identity", [output], "probabilities", output=proba_name)
        half = graph.constant("half", np.array(0.5))
        above = graph.node("Greater", [output, half], "above_half")
        graph.node("Cast", [above], "label", output=label_name,
                   to=onnx_proto.TensorProto.INT64)
        return
    classes, label_proto = _onnx_classes(model)
    if model.n_outputs_ == 1:
        # one logistic output p: probabilities [1 - p, p]; a model fitted on one class
        # (scikit-learn's rule) predicts that class whichever column is larger
        one = graph.constant("one", np.array(1.0))
        negative = graph.node("Sub", [one, output], "negative")
        graph.node("Concat", [negative, output], "probabilities", output=proba_name, axis=1)
        if len(classes) == 1:
            classes = np.concatenate([classes, classes])
    else:
        graph.node("Identity", [output], "probabilities", output=proba_name)
    labels = graph.constant("classes", classes, proto_dtype=label_proto)
    index = graph.node("ArgMax", [proba_name], "argmax", axis=1, keepdims=0)
    graph.node("Gather", [labels, index], "label", output=label_name, axis=0)


def _convert_output(scope, operator, container):
    """Regressors and Networks: the network's output is the model's output."""
    graph = _graph_for(scope, operator, container)
    output = _forward(graph, _network_of(operator.raw_operator),
                      operator.inputs[0].full_name)
    graph.node("Identity", [output], "variable", output=operator.outputs[0].full_name)


def _target_shapes(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    model = operator.raw_operator
    network = model.regressor_._fitted_network()
    n = operator.inputs[0].get_first_dimension()
    kind = DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) \
        else FloatTensorType
    operator.outputs[0].type = kind([n, network.n_outputs])


def _convert_target(scope, operator, container):
    model = operator.raw_operator
    scaler = getattr(model, "transformer_", None)
    if not isinstance(getattr(model, "regressor_", None), MLPRegressor) or \
            type(scaler).__name__ != "StandardScaler":
        raise NotImplementedError("cymlp converts a TransformedTargetRegressor of an "
                                  "MLPRegressor with a StandardScaler only")
    graph = _graph_for(scope, operator, container)
    output = _forward(graph, model.regressor_._fitted_network(), operator.inputs[0].full_name)
    scale = scaler.scale_ if scaler.scale_ is not None else np.ones(1)
    mean = scaler.mean_ if scaler.mean_ is not None else np.zeros(1)
    scaled = graph.node("Mul", [output, graph.constant("target_scale", scale[None, :])],
                        "target_scaled")
    graph.node("Add", [scaled, graph.constant("target_mean", mean[None, :])], "variable",
               output=operator.outputs[0].full_name)


def _parse_single_output(scope, model, inputs, custom_parsers=None):
    """A ``Network`` or regressor has one output, ``variable``."""
    operator = scope.declare_local_operator(_ALIASES[type(model)], model)
    operator.inputs = inputs
    variable = scope.declare_local_variable("variable", inputs[0].type.__class__())
    operator.outputs.append(variable)
    return operator.outputs


def register_converters() -> None:
    """Register cymlp's estimators and ``Network`` with skl2onnx.

    After this call ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn`` convert
    ``MLPClassifier``, ``MLPRegressor`` and ``Network`` objects, alone or inside
    scikit-learn pipelines, and a ``TransformedTargetRegressor`` of an
    ``MLPRegressor`` with a ``StandardScaler``.  Calling it again does nothing.
    """
    global _registered
    if _registered:
        return
    skl2onnx = _skl2onnx()
    skl2onnx.update_registered_converter(
        MLPClassifier, _ALIASES[MLPClassifier], _classifier_shapes, _convert_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [False]})
    for cls in (MLPRegressor, Network):
        skl2onnx.update_registered_converter(cls, _ALIASES[cls], _output_shapes,
                                             _convert_output, parser=_parse_single_output)
    # skl2onnx has no converter of its own for TransformedTargetRegressor
    from sklearn.compose import TransformedTargetRegressor
    skl2onnx.update_registered_converter(TransformedTargetRegressor,
                                         "CymlpTransformedTargetRegressor", _target_shapes,
                                         _convert_target)
    _registered = True


def _is_table_pipeline(model):
    steps = getattr(model, "steps", None)
    return type(model).__name__ == "Pipeline" and bool(steps) and \
        type(steps[0][1]).__name__ == "ColumnTransformer"


def _table_to_onnx(model, X_sample, target_opset, options, name):
    from cymlp import _onnx_tables

    needed = [str(c) for c in getattr(model, "feature_names_in_", [])]
    columns = [str(c) for c in getattr(X_sample, "columns", [])]
    missing = [c for c in needed if c not in columns]
    if not needed or missing:
        raise ValueError("X_sample must be a DataFrame with the pipeline's columns; it lacks "
                         "%s" % (", ".join(map(repr, missing)) or "column names"))
    if target_opset is not None and target_opset < MIN_OPSET:
        raise ValueError("target_opset must be at least %d, got %d" % (MIN_OPSET,
                                                                       target_opset))
    return _onnx_tables.convert(model, target_opset=target_opset, options=options,
                                name=name)


def table_inputs(model: Any, X: Any) -> dict:
    """The ONNX Runtime inputs for the rows of a DataFrame, for a table's pipeline.

    For a pipeline exported by ``to_onnx``: one (n, 1) array per column, text as
    strings (an empty cell as ``""``), numbers as float32.

    Parameters
    ----------
    model : sklearn.pipeline.Pipeline
        The exported pipeline.
    X : pandas.DataFrame
        Rows with the pipeline's columns (others are ignored).

    Returns
    -------
    dict
        ``{column name: array}``, for ``InferenceSession.run(None, feed)``.
    """
    from cymlp import _onnx_tables
    return _onnx_tables.inputs_of(model, X)


#: The oldest ONNX opset cymlp's graphs are built and tested for (every activation, both
#: float types, run by ONNX Runtime): opsets 7 and 8 lack Erf (gelu) and ONNX Runtime's
#: float64 kernels of the workarounds.
MIN_OPSET = 9


def to_onnx(model: Any, X_sample: Any, *, target_opset: Optional[int] = None,
            options: Optional[dict] = None, name: Optional[str] = None) -> Any:
    """Convert a fitted cymlp model, or a pipeline holding one, to an ONNX model.

    Parameters
    ----------
    model : MLPClassifier, MLPRegressor, Network or sklearn Pipeline
        Fitted.  A table's pipeline (``cymlp.tables.make_table_pipeline``, or a model
        file of ``cymlp train`` on a table) becomes a graph with one input per column,
        named as the column: text columns as (n, 1) strings (an empty cell as ``""``),
        the others as (n, 1) float32 (see ``table_inputs``).
    X_sample : ndarray of shape (n_samples, n_features), or DataFrame
        A few input rows: their dtype (float32 or float64) fixes the graph's float type
        and its input's type; only the first row is read.  For a table's pipeline, a
        DataFrame with its columns (only their names are read).
    target_opset : int, optional
        ONNX opset to target, at least ``MIN_OPSET`` (9); default: skl2onnx's latest
        tested opset.
    options : dict, optional
        The skl2onnx conversion options, e.g. ``{"zipmap": False}`` so that a classifier's
        probabilities are a tensor instead of a list of maps.
    name : str, optional
        Name of the ONNX graph.

    Returns
    -------
    onnx.ModelProto
        Run it with ``onnxruntime.InferenceSession(model.SerializeToString())``.

    Examples
    --------
    >>> import numpy as np, cymlp, cymlp.onnx
    >>> X = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    >>> clf = cymlp.MLPClassifier((8,), max_iter=20, random_state=0).fit(X, X[:, 0] > 0)
    >>> onx = cymlp.onnx.to_onnx(clf, X[:1], options={"zipmap": False})
    >>> [output.name for output in onx.graph.output]
    ['label', 'probabilities']
    """
    skl2onnx = _skl2onnx()
    register_converters()
    if _is_table_pipeline(model):
        return _table_to_onnx(model, X_sample, target_opset, options, name)
    if isinstance(model, (MLPClassifier, MLPRegressor)):
        model._fitted_network()   # NotFittedError before skl2onnx looks for classes_
    X_sample = np.asarray(X_sample)
    if X_sample.ndim != 2 or X_sample.dtype not in (np.float32, np.float64):
        raise ValueError("X_sample must be a 2-D float32 or float64 array, got %s of "
                         "shape %s" % (X_sample.dtype, X_sample.shape))
    n_features = (model.n_inputs if isinstance(model, Network)
                  else getattr(model, "n_features_in_", None))
    if n_features is not None and X_sample.shape[1] != n_features:
        raise ValueError("X_sample has %d features, but the model takes %d"
                         % (X_sample.shape[1], n_features))
    if target_opset is not None and target_opset < MIN_OPSET:
        raise ValueError("target_opset must be at least %d (Erf and MatMul's broadcasting; "
                         "ONNX Runtime also lacks older kernels), got %d"
                         % (MIN_OPSET, target_opset))
    return skl2onnx.to_onnx(model, X_sample[:1], target_opset=target_opset,
                            options=options, name=name)
