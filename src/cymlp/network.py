"""The low-level network: layer spec, parameters as numpy views, and the raw math.

``Network`` is what the estimators build on and what a user reaches for to see the
equations work: ``forward``, ``loss``, ``backward`` (the gradients of every layer) and
``train_epoch``.  It validates and converts its inputs; the compiled ``Engine`` computes.

Why over 800 lines: ``Network`` is one public class (about 650 lines) whose methods
carry long numpydoc docstrings stating the equations and promises they keep; the
helpers around it (layer specs, rebuilding from a model file) are short.
"""
import contextlib
import numbers
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np

from cymlp._engine import EPOCH_DIVERGED, Engine
from cymlp._model_schema import MAX_SIZE, check_network, resolve_output
from cymlp._names import ACTIVATION_CODES, LOSS_CODES, OUTPUT_CODES, OUTPUT_LOSSES
from cymlp._typing import FloatArray, MatrixLike, RandomStateLike
from cymlp._threads import (MIN_PREDICT_ROWS, install_thread_queries, prediction_plan,
                            training_plan)
from cymlp._validation import (CSRRows, c_array, check_float_matrix, check_positive_int,
                               check_sample_weight, engine_input, weight_total)
from cymlp.optimizers import _Optimizer

DTYPES = (np.float32, np.float64)

# Every live Network, so that a forked child can give each a fresh workspace lock (one
# held by a parent thread that the child does not have would never be released).
_NETWORKS: "weakref.WeakSet[Network]" = weakref.WeakSet()


def _reset_locks_after_fork():
    for net in list(_NETWORKS):
        net._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_locks_after_fork)


class Dense:
    """The shape of one dense layer: ``U = O W + b`` with W (n_in, n_out), b (n_out,).

    A ``Dense`` object is a parameter set: passing the same object twice to
    ``Network`` applies the same W and b twice, and its gradient is the sum of the
    gradients of both uses.

    Parameters
    ----------
    n_in, n_out : int
        Fan-in and fan-out, >= 1.
    """

    def __init__(self, n_in: int, n_out: int) -> None:
        self.n_in = check_positive_int(n_in, "n_in")
        self.n_out = check_positive_int(n_out, "n_out")

    def __repr__(self):
        return "Dense(%d, %d)" % (self.n_in, self.n_out)


class DivergenceError(ValueError):
    """Training produced a non-finite loss; the batch that did is not applied."""

    #: the epoch's figures up to the batch that diverged (``train_epoch`` sets it)
    result: Optional["EpochResult"] = None


@dataclass
class EpochResult:
    """Outcome of ``Network.train_epoch``.

    Parameters
    ----------
    loss : float
        Weighted mean over the batches of the batch loss (data loss plus L2 term).
    penalty : float
        The L2 term's part of ``loss`` (``loss - penalty`` is the data loss).
    n_batches : int
        Batches processed.
    n_samples : int
        Samples processed.
    weight_sum : float
        Sum of the sample weights processed (``n_samples`` without weights).
    """

    loss: float
    penalty: float
    n_batches: int
    n_samples: int
    weight_sum: float


def epoch_outcome(engine, status):
    """The ``EpochResult`` of an engine's last epoch, or for ``EPOCH_DIVERGED`` the
    ``DivergenceError`` to raise (its ``result`` set).

    Parameters
    ----------
    engine : Engine
        After ``train_epoch`` or ``train_group_epoch`` (its ``last_*`` sums).
    status : int
        The epoch's status for this engine.

    Returns
    -------
    EpochResult or DivergenceError
    """
    weight_sum = engine.last_weight_sum
    result = EpochResult(
        loss=engine.last_loss_sum / weight_sum if weight_sum else float("nan"),
        penalty=engine.last_penalty_sum / weight_sum if weight_sum else float("nan"),
        n_batches=engine.last_n_batches, n_samples=engine.last_n_samples,
        weight_sum=weight_sum)
    if status != EPOCH_DIVERGED:
        return result
    error = DivergenceError("the loss became NaN or infinite after %d batches; lower the "
                            "learning rate or scale the inputs" % result.n_batches)
    error.result = result
    return error


def _float_dtype(dtype):
    """``dtype`` as numpy's float32 or float64 dtype (anything ``numpy.dtype`` reads as
    one of them: the type, its name, 'f4'...), or raise TypeError."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if dtype is None or resolved not in DTYPES:
        raise TypeError("dtype must be float32 or float64, got %r" % (dtype,))
    return resolved


def _check_distributions(Y):
    """Refuse softmax targets whose rows are not distributions (entries >= 0, summing
    to 1 up to rounding): only for those is the output error ``O - Y`` the gradient of
    the cross-entropy ``-sum Y log O`` (in general it is ``O sum(Y) - Y``)."""
    sums = Y.sum(axis=1, dtype=np.float64)
    tolerance = 16 * Y.shape[1] * np.finfo(Y.dtype).eps
    bad = np.flatnonzero((Y < 0).any(axis=1) | (np.abs(sums - 1) > tolerance))
    if bad.size:
        raise ValueError("Y row %d is not a distribution (entries >= 0 summing to 1; it "
                         "sums to %.6g): with a softmax output the output error O - Y is "
                         "the cross-entropy's gradient only for one-hot or soft-label "
                         "rows" % (bad[0], sums[bad[0]]))


def _random_state(random_state):
    """A RandomState to draw from: ``random_state`` itself, or a new one seeded by an int
    (or by the OS when None)."""
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.RandomState(random_state)
    raise TypeError("random_state must be None, an int or a numpy.random.RandomState, "
                    "got %r" % (random_state,))


def _as_steps(layers):
    """Return one Dense per step from sizes or Dense objects."""
    layers = list(layers)
    if all(isinstance(layer, Dense) for layer in layers):
        if not layers:
            raise ValueError("layers is empty")
        return layers
    if any(isinstance(layer, Dense) for layer in layers):
        raise TypeError("layers must be all sizes or all Dense objects, not a mix")
    sizes = [check_positive_int(size, "each layer size") for size in layers]
    if len(sizes) < 2:
        raise ValueError("layers needs at least two sizes (inputs and outputs), got %r"
                         % (sizes,))
    return [Dense(a, b) for a, b in zip(sizes[:-1], sizes[1:])]


def _as_activations(activation, n_hidden):
    """Return the list of hidden activation names, one per hidden step."""
    if isinstance(activation, str):
        if activation not in ACTIVATION_CODES:   # also with no hidden step to use it
            raise ValueError("unknown activation %r; choose from %s"
                             % (activation, sorted(ACTIVATION_CODES)))
        return [activation] * n_hidden
    names = list(activation)
    if len(names) != n_hidden:
        raise ValueError("activation has %d entries for %d hidden layers"
                         % (len(names), n_hidden))
    for name in names:
        if name not in ACTIVATION_CODES:
            raise ValueError("unknown activation %r; choose from %s"
                             % (name, sorted(ACTIVATION_CODES)))
    return names


class Network:
    """A stack of dense layers with a compiled forward and backward pass.

    Step k computes ``O_k = f_k(O_{k-1} W_k + b_k)`` with ``O_0 = X`` (rows are
    samples).  Hidden steps use ``activation``; the output step uses ``output``,
    which also fixes the default loss so that the output error is ``O - Y``:
    softmax + cross-entropy (each row of Y a distribution: one-hot or soft labels),
    logistic + binary cross-entropy, identity + squared error
    (``1/2 sum (O - Y)^2``), exp + half Poisson deviance.  ``loss`` picks another
    one computed with the same output: absolute error, huber or quantile (pinball)
    with identity, half gamma deviance with exp (include/cymlp/losses.h has each
    formula and gradient).  Losses are means over samples (weighted, if sample
    weights are given) plus ``alpha / (2 n) * sum ||W||^2``.

    Parameters
    ----------
    layers : sequence of int or sequence of Dense
        Layer sizes ``[n_inputs, hidden..., n_outputs]``, or one ``Dense`` per step
        (the same object twice shares its parameters).
    activation : str or sequence of str, default='relu'
        Hidden activation(s): 'identity', 'logistic', 'tanh', 'relu', 'leaky_relu'
        (slope 0.01 below 0), 'elu' (alpha 1), 'gelu' (exact, ``u Phi(u)``), 'silu'
        (``u logistic(u)``) or 'softplus'.
    output : {'softmax', 'logistic', 'identity', 'exp'}, default='softmax'
        Output activation (and so the default loss).
    loss : str, optional
        'squared_error', 'absolute_error', 'huber' or 'quantile' with an identity
        output; 'poisson' or 'gamma' (positive targets) with exp; 'log_loss' with
        softmax; 'binary_log_loss' with logistic.  Default: the output's paired loss.
    loss_param : float, optional
        The huber threshold (in the target's units; default 1.35) or the quantile
        level in (0, 1) (default 0.5).
    softmax_groups : sequence of int, optional
        With a softmax output: sizes of consecutive column groups (summing to the
        outputs) that each get their own softmax and cross-entropy,
        the loss being their sum: one group per label column of a multi-output
        classifier.  Each group of each row of Y must be a distribution.
    dtype : {numpy.float32, numpy.float64}, default=numpy.float64
        Or anything ``numpy.dtype`` reads as one of them ('float32', 'f8'...).
    random_state : int, RandomState or None
        Seeds the Glorot-uniform initialisation.
    init_factor : float, optional
        Weights and biases are drawn from U(-r, r), ``r = sqrt(init_factor /
        (n_in + n_out))``; default 2 when every hidden activation is logistic, else 6
        (scikit-learn's rule).

    Attributes
    ----------
    coefs : list of ndarray of shape (n_in, n_out)
        One per unique layer; views of the parameter buffer (writable).
    intercepts : list of ndarray of shape (n_out,)
        Views of the parameter buffer (writable).
    params : ndarray of shape (n_params,)
        The flat parameter buffer: every coefficient matrix, then every intercept.

    Examples
    --------
    >>> import numpy as np, cymlp
    >>> net = cymlp.Network([4, 8, 3], activation="tanh", random_state=0)
    >>> X = np.random.default_rng(0).normal(size=(5, 4))
    >>> Y = np.eye(3)[[0, 1, 2, 0, 1]]
    >>> loss, dW, db = net.backward(X, Y)
    >>> [g.shape for g in dW]
    [(4, 8), (8, 3)]
    """

    def __init__(self, layers: Sequence[Union[int, "Dense"]],
                 activation: Union[str, Sequence[str]] = "relu", output: str = "softmax", *,
                 loss: Optional[str] = None, loss_param: Optional[float] = None,
                 softmax_groups: Optional[Sequence[int]] = None,
                 dtype: Any = np.float64, random_state: RandomStateLike = None,
                 init_factor: Optional[float] = None) -> None:
        steps = _as_steps(layers)
        self.hidden_activations = _as_activations(activation, len(steps) - 1)
        if output not in OUTPUT_CODES:
            raise ValueError("unknown output %r; choose from %s" % (output, sorted(OUTPUT_CODES)))
        self.output = output
        self.dtype = _float_dtype(dtype)
        for k in range(1, len(steps)):
            if steps[k].n_in != steps[k - 1].n_out:
                raise ValueError("step %d has %d inputs but step %d has %d outputs"
                                 % (k, steps[k].n_in, k - 1, steps[k - 1].n_out))
        if output == "softmax" and steps[-1].n_out < 2:
            raise ValueError("a softmax output needs at least 2 units (one unit would "
                             "always output 1); use output='logistic' for one")
        self._loss, self.loss_param, self.softmax_groups = resolve_output(
            output, loss, loss_param, softmax_groups, steps[-1].n_out)
        self.layers: list[Dense] = []
        self.step_layers: list[int] = []
        index_of = {}   # id(Dense) -> its index in self.layers (one pass, not a scan)
        for dense in steps:
            if id(dense) not in index_of:
                index_of[id(dense)] = len(self.layers)
                self.layers.append(dense)
            self.step_layers.append(index_of[id(dense)])
        self._allocate()
        self.initialize(random_state, init_factor)

    # -- structure --------------------------------------------------------

    def _allocate(self):
        shapes = [(layer.n_in, layer.n_out) for layer in self.layers]
        n_coef = sum(a * b for a, b in shapes)
        n_params = n_coef + sum(b for _, b in shapes)
        if n_params > MAX_SIZE:   # before allocating what the engine would refuse
            raise ValueError("%d parameters: more than BLAS's 32-bit sizes allow (%d)"
                             % (n_params, MAX_SIZE))
        self._params = np.zeros(n_params, dtype=self.dtype)
        self._grads = np.zeros(n_params, dtype=self.dtype)
        self._coef_slices, self._intercept_slices = [], []
        offset = 0
        for a, b in shapes:
            self._coef_slices.append((offset, offset + a * b, (a, b)))
            offset += a * b
        for _, b in shapes:
            self._intercept_slices.append((offset, offset + b))
            offset += b
        codes = [ACTIVATION_CODES[name] for name in self.hidden_activations]
        codes.append(LOSS_CODES[self._loss])
        engine_steps = []
        for k, layer_index in enumerate(self.step_layers):
            a, b = shapes[layer_index]
            engine_steps.append((a, b, self._coef_slices[layer_index][0],
                                 self._intercept_slices[layer_index][0], codes[k]))
        self._engine = Engine(self._params, self._grads, engine_steps, n_coef,
                              loss_param=self.loss_param or 0.0,
                              softmax_groups=self.softmax_groups)
        if self._engine.max_k_blocks > 1:
            # small predictions may then split W over threads (Engine.predict)
            install_thread_queries()
        self._lock = threading.Lock()
        _NETWORKS.add(self)

    @property
    def n_inputs(self) -> int:
        """Number of input features."""
        return self._engine.n_in

    @property
    def n_outputs(self) -> int:
        """Number of outputs."""
        return self._engine.n_out

    @property
    def n_steps(self) -> int:
        """Number of layer applications (a shared layer counts once per use)."""
        return len(self.step_layers)

    @property
    def loss_name(self) -> str:
        """Name of the loss (the constructor's ``loss``, or the output's paired one)."""
        return self._loss

    def output_options(self) -> dict[str, Any]:
        """The loss options a copy of this network needs.

        Returns
        -------
        dict
            ``loss``, ``loss_param`` and ``softmax_groups``, as ``Network`` takes them.
        """
        return {"loss": self._loss, "loss_param": self.loss_param,
                "softmax_groups": self.softmax_groups}

    @property
    def n_coef(self) -> int:
        """Length of the coefficient prefix of ``params``."""
        return self._engine.n_coef

    @property
    def params(self) -> FloatArray:
        """The flat parameter buffer (a writable view)."""
        return self._params

    @params.setter
    def params(self, values: Any) -> None:
        values = np.asarray(values)
        if values.shape != self._params.shape:
            raise ValueError("params must have shape %s, got %s"
                             % (self._params.shape, values.shape))
        if not np.isfinite(values).all():
            raise ValueError("params contains NaN or infinity")
        self._params[...] = values

    @property
    def coefs(self) -> list[FloatArray]:
        """Coefficient matrices, one per unique layer, as views of ``params``."""
        return [self._params[a:b].reshape(shape) for a, b, shape in self._coef_slices]

    @coefs.setter
    def coefs(self, values: Sequence[Any]) -> None:
        self._assign(values, self.coefs, "coefs")

    @property
    def intercepts(self) -> list[FloatArray]:
        """Intercept vectors, one per unique layer, as views of ``params``."""
        return [self._params[a:b] for a, b in self._intercept_slices]

    @intercepts.setter
    def intercepts(self, values: Sequence[Any]) -> None:
        self._assign(values, self.intercepts, "intercepts")

    def _assign(self, values, targets, name):
        values = list(values)
        if len(values) != len(targets):
            raise ValueError("%s needs %d arrays, got %d" % (name, len(targets), len(values)))
        arrays = [np.asarray(v) for v in values]
        for k, (value, target) in enumerate(zip(arrays, targets)):
            if value.shape != target.shape:
                raise ValueError("%s[%d] must have shape %s, got %s"
                                 % (name, k, target.shape, value.shape))
            if not np.isfinite(value).all():
                raise ValueError("%s[%d] contains NaN or infinity" % (name, k))
        for value, target in zip(arrays, targets):
            target[...] = value

    def _split(self, flat):
        """Split a flat buffer like ``params`` into (coefs, intercepts) copies."""
        coefs = [flat[a:b].reshape(shape).copy() for a, b, shape in self._coef_slices]
        intercepts = [flat[a:b].copy() for a, b in self._intercept_slices]
        return coefs, intercepts

    def initialize(self, random_state: RandomStateLike = None,
                   init_factor: Optional[float] = None) -> None:
        """Draw new parameters, Glorot-uniform, layer by layer (W then b).

        Parameters
        ----------
        random_state : int, RandomState or None
            Seeds the draws (a RandomState is drawn from, as scikit-learn does).
        init_factor : float, optional
            See the class docstring.
        """
        rng = _random_state(random_state)
        if init_factor is None:
            all_logistic = bool(self.hidden_activations) and all(
                a == "logistic" for a in self.hidden_activations)
            init_factor = 2.0 if all_logistic else 6.0
        for coef, intercept in zip(self.coefs, self.intercepts):
            bound = np.sqrt(init_factor / (coef.shape[0] + coef.shape[1]))
            coef[...] = rng.uniform(-bound, bound, coef.shape)
            intercept[...] = rng.uniform(-bound, bound, intercept.shape)

    def _softmax_spans(self):
        """(start, stop) of each softmax column group (one span without groups)."""
        ends = np.cumsum(self.softmax_groups or [self.n_outputs])
        return list(zip([0, *ends[:-1].tolist()], ends.tolist()))

    def _step_copies(self):
        """New Dense objects, one per step, shared as this network shares its layers."""
        layers = [Dense(layer.n_in, layer.n_out) for layer in self.layers]
        return [layers[i] for i in self.step_layers]

    def with_activation(self, activation: Union[str, Sequence[str]]) -> "Network":
        """Return a copy of this network with other hidden activations.

        Parameters
        ----------
        activation : str or sequence of str
            As in the constructor.

        Returns
        -------
        Network
            A new network with a copy of these parameters.
        """
        return _rebuild(self._step_copies(), activation, self.output, self.dtype.type,
                        self._params, self.output_options())

    def with_loss(self, loss: str, loss_param: Optional[float] = None) -> "Network":
        """Return a copy of this network trained with another loss of the same output.

        Parameters
        ----------
        loss : str
            A loss computed with this network's output activation (see the class
            docstring).
        loss_param : float, optional
            As in the constructor.

        Returns
        -------
        Network
            A new network with a copy of these parameters.
        """
        options = {**self.output_options(), "loss": loss, "loss_param": loss_param}
        return _rebuild(self._step_copies(), list(self.hidden_activations), self.output,
                        self.dtype.type, self._params, options)

    def layout(self) -> dict[str, Any]:
        """Describe the layer layout as plain lists and strings.

        Returns
        -------
        dict
            ``layers``: ``[n_in, n_out]`` per unique layer, in order of first use;
            ``steps``: the layer index each step applies; ``activations``: the hidden
            activation names; ``output``: the output activation; and, when they are
            not the defaults, ``loss``, ``loss_param`` and ``softmax_groups``.
        """
        layout = {"layers": [[layer.n_in, layer.n_out] for layer in self.layers],
                  "steps": list(self.step_layers),
                  "activations": list(self.hidden_activations),
                  "output": self.output}
        if self._loss != OUTPUT_LOSSES[self.output]:
            layout["loss"] = self._loss
        if self.loss_param is not None:
            layout["loss_param"] = self.loss_param
        if self.softmax_groups is not None:
            layout["softmax_groups"] = list(self.softmax_groups)
        return layout

    # -- pickling, copying, skops: the state is the layout, the dtype and the parameters
    # (plain lists, strings and one array); the compiled engine, the locks and the
    # workspace are made again from them and never stored.

    def __getstate__(self):
        return {"layout": self.layout(), "dtype": self.dtype.name,
                "params": self._params.copy()}

    def __setstate__(self, state):
        # the state may come from a file (pickle, skops): checked like a model file's
        # header before anything is allocated, and the parameters must be exactly the
        # array the layout implies
        if not isinstance(state, dict) or set(state) != {"layout", "dtype", "params"}:
            raise ValueError("a Network state must be a dict with exactly layout, dtype "
                             "and params")
        spec = check_network(state["layout"], "invalid Network state")
        if state["dtype"] not in ("float32", "float64"):
            raise ValueError("invalid Network state: dtype %r is not float32 or float64"
                             % (state["dtype"],))
        params = state["params"]
        if (not isinstance(params, np.ndarray) or params.dtype != np.dtype(state["dtype"])
                or params.shape != (spec.n_params,)):
            raise ValueError("invalid Network state: params must be a %s array of shape "
                             "(%d,)" % (state["dtype"], spec.n_params))
        self.__init__(steps_of(spec), spec.activations, spec.output,
                      dtype=np.dtype(state["dtype"]).type, random_state=0,
                      **output_options_of(spec))
        self.params = params

    def __repr__(self):
        sizes = [self.n_inputs] + [self.layers[i].n_out for i in self.step_layers]
        options = "".join(", %s=%r" % (name, value) for name, value in
                          self.layout().items() if name in ("loss", "loss_param",
                                                            "softmax_groups"))
        return "Network(%s, activation=%r, output=%r%s, dtype=%s)" % (
            sizes, self.hidden_activations, self.output, options, self.dtype.name)

    # -- checks -----------------------------------------------------------

    def check_xy(self, X: MatrixLike, Y: Any,
                 sample_weight: Any = None) -> tuple[Any, FloatArray, Optional[FloatArray]]:
        """Validate and convert training data once, for repeated internal use.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)
            The input rows.
        Y : array-like of shape (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), optional
            Finite, non-negative weights, not all zero.

        Returns
        -------
        X : ndarray or CSRRows
            C-contiguous and aligned in the network's dtype (a sparse X as CSR rows).
        Y : ndarray
            C-contiguous and aligned in the network's dtype.
        sample_weight : ndarray or None
            The weights in the network's dtype.
        """
        X = check_float_matrix(X, "X", self.dtype, self.n_inputs)
        Y = check_float_matrix(Y, "Y", self.dtype, self.n_outputs)
        if Y.shape[0] != X.shape[0]:
            raise ValueError("X has %d rows but Y has %d" % (X.shape[0], Y.shape[0]))
        if self.output == "softmax":
            for start, stop in self._softmax_spans():
                _check_distributions(Y[:, start:stop])
        elif self._loss == "gamma" and not (Y > 0).all():
            raise ValueError("the gamma loss needs targets > 0")
        elif self._loss == "poisson" and not (Y >= 0).all():
            raise ValueError("the poisson loss needs targets >= 0")
        weights = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        return X, Y, weights

    @contextlib.contextmanager
    def _exclusive(self):
        """The workspace lock: training calls from two threads on one network fail."""
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("this Network is in use by another thread's "
                               "loss/backward/train_epoch call")
        try:
            yield
        finally:
            self._lock.release()

    # -- the math ---------------------------------------------------------

    def forward(self, X: MatrixLike) -> FloatArray:
        """Return the network output ``O_L`` for the rows of X.

        Thread-safe: several threads may call it on one network at once, and each gets
        the result it would get alone, bit for bit.  Fewer than 8 rows take a latency
        path (row products, large layers split over the thread pool, see
        ``Engine.predict``); more go through gemm in blocks fixed by the row count
        (``cymlp._threads.prediction_blocks``), split into row chunks over the pool while
        BLAS is held at one thread (``cymlp._threads.prediction_plan``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)
            The input rows.

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
            The output activations, in the network's dtype.
        """
        X = check_float_matrix(X, "X", self.dtype, self._engine.n_in, allow_empty=True)
        return self.forward_checked(X)

    def forward_checked(self, X: Any) -> FloatArray:
        """``forward`` for rows checked already (the estimators' path).

        Parameters
        ----------
        X : ndarray or CSRRows
            C-contiguous and aligned in the network's dtype, ``n_inputs`` wide (as
            ``check_xy`` or ``cymlp._validation.engine_ready`` return it).

        Returns
        -------
        ndarray of shape (n_samples, n_outputs)
            The output activations, in the network's dtype.
        """
        n = X.shape[0]
        if n < MIN_PREDICT_ROWS and not isinstance(X, CSRRows):
            return self._engine.predict(engine_input(X))   # row products, no BLAS
        with prediction_plan(n) as n_chunks:
            return self._engine.predict(engine_input(X), None, n_chunks)

    def loss(self, X: MatrixLike, Y: Any, sample_weight: Any = None, alpha: float = 0.0, *,
             dropout: Any = None, dropout_seed: int = 0) -> float:
        """Return the mean loss over the rows plus the L2 penalty.

        ``(sum_i w_i L_i + alpha/2 sum ||W||^2) / sum_i w_i``

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)
            The input rows.
        Y : array-like of shape (n_samples, n_outputs)
            Targets: one-hot rows (softmax), 0/1 indicators (logistic), or values.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the rows (None: 1 each).
        alpha : float, default=0
            L2 penalty strength (coefficients only, not intercepts).
        dropout : float or sequence of float, optional
            Inverted-dropout rate of the hidden outputs (one, or one per hidden step),
            in [0, 1), with the fixed mask ``dropout_seed`` gives row i as the i-th
            row of a batch: the function a training batch descends, so that gradients
            can be checked against finite differences.
        dropout_seed : int, default=0
            Seeds the fixed mask (any integer; its low 64 bits are used).

        Returns
        -------
        float
            The loss.
        """
        X, Y, weights = self.check_xy(X, Y, sample_weight)
        with self._exclusive():
            return self._loss_gradient(X, Y, weights, _check_alpha(alpha), False,
                                       self.dropout_rates(dropout), dropout_seed)

    def data_loss(self, X: Any, Y: Any, weights: Any) -> float:
        """The weighted mean loss of rows checked already, without the L2 penalty.

        Parameters
        ----------
        X : ndarray or CSRRows
            As ``check_xy`` returns it.
        Y : ndarray
            As ``check_xy`` returns it.
        weights : ndarray or None
            As ``check_xy`` returns them.

        Returns
        -------
        float
            ``sum_i w_i L_i / sum_i w_i``.
        """
        with self._exclusive():
            return self._loss_gradient(X, Y, weights, 0.0, False)

    @property
    def last_epoch_samples(self) -> int:
        """Samples of the last ``train_epoch`` call whose batch finished.

        An interrupted epoch's count too: how far its weights have come.
        """
        return int(self._engine.last_n_samples)

    def dropout_rates(self, dropout: Any) -> Optional[np.ndarray]:
        """Per-step dropout rates for the engine (None when no step drops).

        Parameters
        ----------
        dropout : float, sequence of float, or None
            A rate for every hidden step, or one per hidden step, in [0, 1).

        Returns
        -------
        ndarray or None
            One rate per step (the output step's 0), or None when all are 0.
        """
        if dropout is None:
            return None
        n_hidden = self.n_steps - 1
        if np.ndim(dropout) == 0:
            rates = [dropout] * n_hidden
        elif np.ndim(dropout) > 1:
            raise TypeError("dropout must be one rate or a 1-D sequence of rates, got %d "
                            "dimensions" % np.ndim(dropout))
        else:
            rates = list(dropout)
            if len(rates) != n_hidden:
                raise ValueError("dropout has %d rates for %d hidden steps"
                                 % (len(rates), n_hidden))
        try:
            values = np.array(rates + [0.0], dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError("dropout rates must be numbers, got %r" % (dropout,)) from None
        if not (np.isfinite(values).all() and (values >= 0).all() and (values < 1).all()):
            raise ValueError("dropout rates must be in [0, 1), got %r" % (dropout,))
        return values if values.any() else None

    def backward(self, X: MatrixLike, Y: Any, sample_weight: Any = None, alpha: float = 0.0,
                 *, dropout: Any = None,
                 dropout_seed: int = 0) -> tuple[float, list[FloatArray], list[FloatArray]]:
        """Return the loss and its gradient with respect to every W and b.

        ``dW_k = O_{k-1}^T Delta_k``, ``db_k = sum_rows Delta_k``,
        ``Delta_{k-1} = (Delta_k W_k^T) * f'(U_{k-1})``, ``Delta_L = O_L - Y``, each
        scaled by the sample weight over the weight sum; a shared layer gets the sum
        over its uses; the L2 term adds ``alpha W / sum_i w_i``.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)
            The input rows.
        Y : array-like of shape (n_samples, n_outputs)
            The targets, as in ``loss``.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the rows (None: 1 each).
        alpha : float, default=0
            L2 penalty strength.
        dropout : float or sequence of float, optional
            As in ``loss``: with dropout, a dropped unit passes no gradient and a kept
            one ``1 / (1 - rate)`` times its own.
        dropout_seed : int, default=0
            Seeds the fixed mask (any integer; its low 64 bits are used).

        Returns
        -------
        loss : float
            The loss, as ``loss`` returns it.
        coef_grads : list of ndarray of shape (n_in, n_out)
            The gradient of each unique layer's coefficients.
        intercept_grads : list of ndarray of shape (n_out,)
            The gradient of each unique layer's intercepts.
        """
        X, Y, weights = self.check_xy(X, Y, sample_weight)
        with self._exclusive():
            loss = self._loss_gradient(X, Y, weights, _check_alpha(alpha), True,
                                       self.dropout_rates(dropout), dropout_seed)
            coef_grads, intercept_grads = self._split(self._grads)
        return loss, coef_grads, intercept_grads

    def _loss_gradient(self, X, Y, weights, alpha, gradient, dropout=None, dropout_seed=0):
        """Loss (and gradient into ``self._grads``) for checked arrays."""
        weight_sum = float(X.shape[0]) if weights is None else weight_total(weights)
        return self._engine.loss_gradient(engine_input(X), Y, weights, weight_sum, alpha,
                                          gradient, dropout, _seed(dropout_seed))

    def loss_and_flat_gradient(self, params: Any, X: Any, Y: Any, sample_weight: Any = None,
                               alpha: float = 0.0) -> tuple[float, np.ndarray]:
        """Set the parameters from a flat float64 vector; return loss and flat gradient.

        The form ``scipy.optimize.minimize(..., jac=True)`` wants (used for L-BFGS).
        X, Y and the weights are used as given: check them once with ``check_xy``.

        Parameters
        ----------
        params : ndarray of shape (n_params,)
            The parameters to evaluate at (written into ``params``).
        X : ndarray or CSRRows
            The input rows, as ``check_xy`` returns them.
        Y : ndarray
            The targets, as ``check_xy`` returns them.
        sample_weight : ndarray or None, default=None
            The weights, as ``check_xy`` returns them.
        alpha : float, default=0
            L2 penalty strength, as in ``loss``.

        Returns
        -------
        loss : float
            The loss at ``params``.
        gradient : ndarray of shape (n_params,)
            Its gradient, in float64.
        """
        self._params[...] = params
        with self._exclusive():
            loss = self._loss_gradient(X, Y, sample_weight, alpha, True)
            return loss, self._grads.astype(np.float64)

    def train_epoch(self, X: MatrixLike, Y: Any, optimizer: _Optimizer, batch_size: int = 200,
                    order: Any = None, sample_weight: Any = None, alpha: float = 0.0,
                    checked: bool = False, *, dropout: Any = None,
                    dropout_seed: int = 0) -> "EpochResult":
        """Run one epoch of mini-batch training in compiled code.

        For each batch of ``batch_size`` rows taken in ``order``: gather the rows,
        forward, backward, and one optimizer step.  Python is not entered between
        batches except to check for Ctrl-C.  With T BLAS threads allowed (see
        threadpoolctl), each batch of at least 32 T rows is split into T row chunks
        computed on T threads, a smaller one into T column chunks of every layer if
        the network is big enough (``cymlp._threads.split_for_batch``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_inputs)
            The input rows.
        Y : array-like of shape (n_samples, n_outputs)
            The targets, as in ``loss``.
        optimizer : SGD, Adam or AdamW
            Keeps its state between calls.
        batch_size : int, default=200
            Rows per mini-batch (the last batch may be smaller).
        order : array-like of int, optional
            Row indices in the order to visit them (e.g. a permutation); default all
            rows in order.
        sample_weight : array-like of shape (n_samples,), optional
            Weights of the rows (None: 1 each); a batch whose weights are all zero
            makes no step.
        alpha : float, default=0
            L2 penalty strength.
        checked : bool, default=False
            True when X, Y and sample_weight come from ``check_xy`` (skips the checks).
        dropout : float or sequence of float, optional
            Inverted dropout on the hidden outputs while training: a rate, or one per
            hidden step, in [0, 1).  Each element's mask is a pure function of
            ``dropout_seed``, the optimizer's batch count, the step, the row's place in
            the batch and the unit, so results do not depend on the thread count.
        dropout_seed : int, default=0
            Seeds the masks (any integer; its low 64 bits are used).

        Returns
        -------
        EpochResult
            The epoch's loss, its L2 part and its counts.

        Raises
        ------
        DivergenceError
            When a batch loss is NaN or infinite; that batch's update is not applied
            and earlier ones are.
        KeyboardInterrupt
            On Ctrl-C, between batches; the parameters are those after the last
            finished batch and the optimizer state matches them.
        """
        if not checked:
            X, Y, sample_weight = self.check_xy(X, Y, sample_weight)
        if not isinstance(optimizer, _Optimizer):
            raise TypeError("optimizer must be a cymlp.optimizers.SGD, Adam or AdamW, got %r"
                            % (optimizer,))
        batch_size = check_positive_int(batch_size, "batch_size")
        alpha = _check_alpha(alpha)
        order = self._check_order(order, X.shape[0])
        optimizer.ensure_state(self._params.shape[0], self.dtype)
        rates, seed = self.dropout_rates(dropout), _seed(dropout_seed)
        engine = self._engine
        batch_size = min(batch_size, order.shape[0])
        with self._exclusive(), training_plan(batch_size, engine.n_coef) as split:
            try:
                status = engine.train_epoch(engine_input(X), Y, sample_weight, order,
                                            batch_size,
                                            *optimizer.engine_args(), alpha, split.n_chunks,
                                            split.by_columns, **optimizer.engine_kwargs(),
                                            dropout=rates, dropout_seed=seed)
            finally:
                optimizer.t = engine.last_t
                optimizer.steps = engine.last_batch
        result = epoch_outcome(engine, status)
        if isinstance(result, DivergenceError):
            raise result
        return result

    @staticmethod
    def _check_order(order, n_rows):
        if order is None:
            return np.arange(n_rows, dtype=np.intp)
        order = np.asarray(order)
        if order.size == 0:
            raise ValueError("order is empty")
        if order.dtype.kind not in "iu" or order.ndim != 1:
            raise TypeError("order must be a 1-D array of integers")
        if order.size and (order.min() < 0 or order.max() >= n_rows):
            raise ValueError("order has indices outside [0, %d)" % n_rows)
        return c_array(order, dtype=np.intp)

    def release_workspace(self) -> None:
        """Free the training workspace (allocated again when training resumes)."""
        self._engine.release_workspace()


def _seed(value):
    """A dropout seed: any integer (its low 64 bits are used)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError("dropout_seed must be an integer, got %r" % (value,))
    return int(value) & 0xFFFFFFFFFFFFFFFF


def _check_alpha(alpha):
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError("alpha must be a finite number >= 0, got %r" % alpha)
    return alpha


def steps_of(spec):
    """One Dense per step of a checked layout (``ModelSpec``), shared as it says.

    Parameters
    ----------
    spec : ModelSpec
        From ``cymlp._model_schema.check_network``.

    Returns
    -------
    list of Dense
    """
    layers = [Dense(n_in, n_out) for n_in, n_out in spec.layers]
    return [layers[i] for i in spec.steps]


def output_options_of(spec):
    """The ``Network`` loss options of a checked layout (``check_network``'s spec).

    Parameters
    ----------
    spec : ModelSpec

    Returns
    -------
    dict
        ``loss``, ``loss_param`` and ``softmax_groups``.
    """
    return {"loss": spec.loss, "loss_param": spec.loss_param,
            "softmax_groups": spec.softmax_groups}


def _rebuild(steps, activations, output, dtype, params, options):
    net = Network(steps, activations, output, dtype=dtype, random_state=0, **options)
    net.params = params
    return net
