"""scikit-learn compatible MLPClassifier and MLPRegressor over the compiled Network.

Same parameters, defaults, attributes and behaviour as ``sklearn.neural_network``
(1.7+), so that switching is a change of import.  This module validates input,
encodes labels, runs the schedules, early stopping and L-BFGS; every epoch of
mini-batch training and every forward pass runs in ``cymlp._engine``.

With the same ``random_state`` the initial weights, the shuffling and the validation
split are drawn exactly as scikit-learn draws them.

Differences, each deliberate:
- a fit whose loss becomes NaN or infinite stops at once with ``ValueError`` and
  leaves the estimator as it was before the call (scikit-learn trains on and raises at
  the end, leaving non-finite weights behind); with ``early_stopping=True`` it ends
  without error, as scikit-learn's does, with a NaN loss and validation score for the
  diverged epoch and the weights of the best validation epoch (scikit-learn trains on
  through NaN epochs up to ``max_iter``, which cannot change those weights, so only
  ``n_iter_`` and the length of the curves differ);
- sparse ``X`` (any scipy format, converted to CSR once) stays sparse in the compiled
  core unless it is dense enough for the dense path to be faster
  (``SPARSE_DENSITY_CROSSOVER``);
- with more than one output, L-BFGS descends the loss whose gradient it is handed:
  ``1/2 sum_j (y_j - p_j)^2`` per sample (summed over the outputs) plus the L2 term,
  the loss SGD and Adam descend in both libraries.  scikit-learn hands scipy that
  gradient with a loss averaged over the outputs, so its line search and stopping see
  another function; its weights differ from cymlp's by a few 1e-2 (see README).
  ``loss_`` and ``loss_curve_`` are reported on scikit-learn's scale (the data part
  averaged over the outputs) for every solver, so ``tol``-based stopping and
  ``n_iter_`` match for sgd and adam.
"""
import collections
import copy
import operator
import warnings
from numbers import Integral, Real
from typing import Optional, TypeVar

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike
import scipy.sparse
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d, shuffle
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import validate_data

from cymlp._callbacks import CallbackSupport, fit_tasks, with_callbacks
from cymlp._names import ACTIVATION_CODES
from cymlp._threads import training_plan
from cymlp._typing import MatrixLike
from cymlp._checks import NOT_FINITE, READY, all_finite_array, ready_matrix_state
from cymlp._validation import (c_array, check_sample_weight, check_sparse_structure,
                               check_weight_values, csr_rows, weight_total)
from cymlp.network import DivergenceError, Network
from cymlp.optimizers import SGD, Adam, AdamW, CosineSchedule, StepSchedule

_STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw")
_Estimator = TypeVar("_Estimator", bound="_BaseMLP")

# a validation set as the epoch loop uses it: X ready for the network, Y encoded as the
# network's targets (for the loss), y as the user's labels or values (for the score),
# w the sample weights (class weights included) or None
_Validation = collections.namedtuple("_Validation", "X Y y w")
_NON_FINITE_MESSAGE = ("Solver produced non-finite parameter weights. The input data may "
                       "contain large values and need to be preprocessed.")


def _store_parameters(estimator, arguments):
    """Set each ``__init__`` argument as an attribute of the same name, unchanged
    (scikit-learn's rule: no logic in ``__init__``, checks happen in ``fit``)."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class _BaseMLP(CallbackSupport, BaseEstimator):
    """Shared fitting machinery of MLPClassifier and MLPRegressor."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATION_CODES))],
        "solver": [StrOptions({"lbfgs", "sgd", "adam", "adamw"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive", "cosine",
                                      "step"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"),
                             Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "step_epochs": [Interval(Integral, 1, None, closed="left")],
        "step_gamma": [Interval(Real, 0, 1, closed="right")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like", None],
    }

    # -- pickling: coefs_ and intercepts_ are views of the network's buffer ----

    def __getstate__(self):
        state = dict(super().__getstate__())  # object.__getstate__ returns __dict__ itself
        for name in ("coefs_", "intercepts_", "_bound_views"):
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        # a state may come from a file (pickle, skops): the network must be a Network
        if not isinstance(state, dict):
            raise TypeError("a %s state must be a dict, got %s"
                            % (type(self).__name__, type(state).__name__))
        if "_network" in state and not isinstance(state["_network"], Network):
            raise TypeError("a %s state's _network must be a cymlp Network, got %s"
                            % (type(self).__name__, type(state["_network"]).__name__))
        super().__setstate__(state)
        if "_network" in state:
            self._bind_parameters()

    def _bind_parameters(self):
        self.coefs_ = self._network.coefs
        self.intercepts_ = self._network.intercepts
        self._bound_views = (self.coefs_, self.intercepts_, tuple(self.coefs_),
                             tuple(self.intercepts_))

    def _sync_parameters(self):
        """Copy user-assigned ``coefs_``/``intercepts_`` into the network, if any."""
        coefs, intercepts, coef_views, intercept_views = self._bound_views
        if (self.coefs_ is coefs and self.intercepts_ is intercepts
                and all(map(operator.is_, coefs, coef_views))
                and all(map(operator.is_, intercepts, intercept_views))):
            return
        self._network.coefs = self.coefs_
        self._network.intercepts = self.intercepts_
        self._bind_parameters()

    # -- fitting ---------------------------------------------------------

    @with_callbacks
    def fit(self: _Estimator, X: MatrixLike, y: ArrayLike,
            sample_weight: Optional[ArrayLike] = None, *, X_val: Optional[MatrixLike] = None,
            y_val: Optional[ArrayLike] = None,
            sample_weight_val: Optional[ArrayLike] = None) -> _Estimator:
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Class labels or a label indicator matrix (classifier), values (regressor).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss (and, with early stopping's split, in the
            validation score); None weighs every sample 1. A mini-batch whose weights
            are all zero makes no step.
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            A validation set (the convention of scikit-learn's ``HistGradientBoosting*``),
            for the stochastic solvers: every epoch records its score in
            ``validation_scores_`` and its loss in ``validation_loss_curve_``, and
            ``early_stopping=True`` stops on it instead of splitting
            ``validation_fraction`` off the training data.
        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Targets of ``X_val``; required with it.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation samples (in the score and the loss).

        Returns
        -------
        object
            The fitted estimator (``self``).
        """
        self._validate_params()
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        if sample_weight_val is not None and X_val is None:
            raise ValueError("sample_weight_val needs X_val and y_val")
        validation = None if X_val is None else (X_val, y_val, sample_weight_val)
        if validation is not None and self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError("a validation set (X_val, y_val) is used by the stochastic "
                             "solvers 'sgd', 'adam' and 'adamw', not by solver=%r"
                             % self.solver)
        return self._fit(X, y, sample_weight, incremental=False, validation=validation)

    def _hidden_sizes(self):
        sizes = self.hidden_layer_sizes
        sizes = list(sizes) if hasattr(sizes, "__iter__") else [sizes]
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, Integral):
                raise TypeError("hidden_layer_sizes must hold integers, got %r in %s."
                                % (size, sizes))
        if any(size <= 0 for size in sizes):
            raise ValueError("hidden_layer_sizes must be > 0, got %s." % sizes)
        return [int(size) for size in sizes]

    # attributes a fit reads but never changes in place: kept by reference in a snapshot
    # (the parameters are the user's; the network and optimizer are restored by value;
    # coefs_/intercepts_ are views of the network or lists the user assigned;
    # _best_params is replaced, never written to)
    _SNAPSHOT_BY_REFERENCE = ("_network", "_optimizer", "coefs_", "intercepts_",
                              "_bound_views", "_best_params", "_skl_callbacks",
                              "_skl_callbacks_to_teardown", "_callback_fit_ctx",
                              "_parent_callback_ctx")

    def _snapshot(self):
        """Everything a failed fit must put back: attributes (containers copied deeply),
        weights, optimizer state."""
        keep = set(self._SNAPSHOT_BY_REFERENCE) | set(self.get_params(deep=False))
        attributes = {name: value if name in keep else copy.deepcopy(value)
                      for name, value in self.__dict__.items()}
        network = self.__dict__.get("_network")
        optimizer = self.__dict__.get("_optimizer")
        return (attributes,
                None if network is None else network.params.copy(),
                None if optimizer is None or optimizer.states is None else
                [s.copy() for s in optimizer.states],
                None if optimizer is None else (optimizer.t, optimizer.learning_rate,
                                                optimizer.steps))

    def _restore(self, snapshot):
        attributes, params, states, optimizer_scalars = snapshot
        self.__dict__.clear()
        self.__dict__.update(attributes)
        if params is not None:
            self._network.params[...] = params
        optimizer = self.__dict__.get("_optimizer")
        if optimizer is not None and optimizer_scalars is not None:
            optimizer.t, optimizer.learning_rate, optimizer.steps = optimizer_scalars
            if states is not None:
                for target, saved in zip(optimizer.states, states):
                    target[...] = saved

    def _fit(self, X, y, sample_weight=None, incremental=False, prepare=None,
             validation=None):
        """Fit, or on any failure put every attribute back as it was.

        ``prepare``, if given, runs first inside the guard (``partial_fit``'s classes)."""
        hidden = self._hidden_sizes()
        stochastic = self.solver in _STOCHASTIC_SOLVERS
        # opened before the snapshot, which so keeps the callback context for teardown
        tasks = fit_tasks(self, X, y, sample_weight,
                          (1 if incremental else self.max_iter) if stochastic else None,
                          "epoch" if stochastic else "iteration")
        snapshot = self._snapshot()
        try:
            if prepare is not None:
                prepare()
            first_pass = not hasattr(self, "coefs_") or (not self.warm_start
                                                         and not incremental)
            self._fit_unguarded(X, y, sample_weight, incremental, hidden, first_pass,
                                validation, tasks)
        except DivergenceError as exc:
            self._restore(snapshot)
            raise ValueError("%s (%s) The estimator keeps the state it had before this "
                             "call." % (_NON_FINITE_MESSAGE, exc)) from None
        except BaseException:
            self._restore(snapshot)
            raise
        tasks.end()
        return self

    def _fit_unguarded(self, X, y, sample_weight, incremental, hidden, first_pass,
                       validation, tasks):
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        if not first_pass and "_network" not in self.__dict__:
            self._adopt_assigned_parameters(X.dtype)
        dtype = X.dtype if first_pass else self._network.dtype
        X = (_sparse_training_input(X, dtype) if scipy.sparse.issparse(X)
             else c_array(X, dtype=dtype))
        Y = c_array(y, dtype=dtype)
        sample_weight = check_sample_weight(sample_weight, X.shape[0], dtype)
        class_weights = self._class_weights(Y, incremental)
        sample_weight = self._with_class_weights(Y, sample_weight, class_weights, dtype)

        self._random_state = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, [X.shape[1]] + hidden + [Y.shape[1]], dtype)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError("y has %d outputs, the model was fitted with %d"
                             % (Y.shape[1], self.n_outputs_))
        else:
            self._sync_parameters()
            self._continue_with(hidden)

        dropping = self._network._dropout_rates(self.dropout) is not None
        if self.solver in _STOCHASTIC_SOLVERS:
            if validation is not None:
                validation = self._validation_set(*validation, class_weights, dtype)
            self._fit_stochastic(X, Y, sample_weight, incremental, validation, tasks,
                                 dropping)
        elif dropping:
            raise ValueError("dropout is applied by the stochastic solvers 'sgd', 'adam' "
                             "and 'adamw', not by solver=%r" % self.solver)
        else:
            self._fit_lbfgs(X, Y, sample_weight, tasks)

        if not np.isfinite(self._network.params).all():
            raise DivergenceError("non-finite weights after fitting")

    def _adopt_assigned_parameters(self, default_dtype=np.float64):
        """Build the network from ``coefs_``/``intercepts_`` a user assigned to an
        estimator that was never fitted (scikit-learn continues from them).

        ``out_activation_`` must be assigned too; the counters and curves that a fit
        keeps start afresh where they were not assigned."""
        try:
            coefs = [np.asarray(c) for c in self.coefs_]
            intercepts = [np.asarray(b) for b in self.intercepts_]
        except TypeError:
            raise TypeError("coefs_ and intercepts_ must be lists of arrays") from None
        if not coefs or len(coefs) != len(intercepts):
            raise ValueError("coefs_ and intercepts_ must be lists of the same, non-zero "
                             "length; got %d and %d" % (len(coefs), len(intercepts)))
        for k, (W, b) in enumerate(zip(coefs, intercepts)):
            if W.ndim != 2 or b.shape != (W.shape[1],):
                raise ValueError("coefs_[%d] must be 2-D and intercepts_[%d] hold one value "
                                 "per column; got shapes %s and %s"
                                 % (k, k, W.shape, b.shape))
        output = self.__dict__.get("out_activation_")
        if output is None:
            raise NotFittedError("coefs_ and intercepts_ were assigned without "
                                 "out_activation_; assign it too, or call fit")
        dtype = coefs[0].dtype if coefs[0].dtype in (np.float32, np.float64) else \
            np.dtype(default_dtype)
        sizes = [coefs[0].shape[0]] + [W.shape[1] for W in coefs]
        network = Network(sizes, activation=self.activation, output=output,
                          dtype=dtype.type, random_state=0)
        network.coefs = coefs
        network.intercepts = intercepts
        self._network = network
        self._bind_parameters()
        defaults = {"n_iter_": 0, "t_": 0, "n_layers_": len(sizes), "n_outputs_": sizes[-1],
                    **self._fresh_bookkeeping()}
        for name, value in defaults.items():
            self.__dict__.setdefault(name, value)

    def _continue_with(self, hidden):
        """Check that a warm or incremental fit continues the fitted network.

        The layer sizes and (regressor) loss fix the parameters' shapes and meaning: a
        change raises.  A changed ``activation`` is used from now on with the fitted
        weights, as scikit-learn does (it reads ``activation`` at every pass)."""
        network = self._network
        fitted = [network.layers[i].n_out for i in network.step_layers[:-1]]
        if hidden != fitted:
            raise ValueError("hidden_layer_sizes is %s but the model was fitted with %s; "
                             "a warm_start fit or partial_fit continues the fitted "
                             "network: set warm_start=False (or use a new estimator) to "
                             "fit another architecture." % (tuple(hidden), tuple(fitted)))
        output = self._out_activation(None)
        if output != network.output:
            raise ValueError("the output layer is %r but the model was fitted with %r "
                             "(loss changed?); a warm_start fit or partial_fit continues "
                             "the fitted network." % (output, network.output))
        if any(a != self.activation for a in network.hidden_activations):
            self._network = network.with_activation(self.activation)
            self._bind_parameters()

    def _initialize(self, Y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation(Y)
        # scikit-learn draws every layer's weights then bias from the same generator,
        # with the Glorot factor of the hidden activation for every layer
        self._network = Network(layer_units, activation=self.activation,
                                output=self.out_activation_, dtype=dtype,
                                random_state=self._random_state,
                                init_factor=2.0 if self.activation == "logistic" else 6.0)
        self._bind_parameters()
        self.__dict__.pop("_optimizer", None)
        if self.solver in _STOCHASTIC_SOLVERS:
            self.__dict__.update(self._fresh_bookkeeping())

    def _fresh_bookkeeping(self):
        """The stochastic solvers' curves and counters at the start of training."""
        state = {"loss_curve_": [], "_no_improvement_count": 0}
        if self.early_stopping:
            # the weights of the best validation epoch (only early stopping restores them)
            state.update(_best_params=self._network.params.copy(), validation_scores_=[],
                         validation_loss_curve_=[], best_validation_score_=-np.inf,
                         best_loss_=None)
        else:
            state.update(best_loss_=np.inf, validation_scores_=None,
                         validation_loss_curve_=None, best_validation_score_=None)
        return state

    def _make_optimizer(self):
        if self.solver == "sgd":
            return SGD(self.learning_rate_init, self.momentum, self.nesterovs_momentum)
        if self.solver == "adamw":
            return AdamW(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon,
                         self.weight_decay)
        return Adam(self.learning_rate_init, self.beta_1, self.beta_2, self.epsilon)

    def _schedule(self, n_batches):
        """The compiled schedule for ``learning_rate`` 'cosine' or 'step' (lengths given
        in epochs, counted in batches of ``n_batches`` per epoch), else None."""
        if self.learning_rate == "cosine":
            if self.warmup_epochs >= self.max_iter:
                raise ValueError("warmup_epochs (%d) must be less than max_iter (%d)"
                                 % (self.warmup_epochs, self.max_iter))
            return CosineSchedule(self.max_iter * n_batches, self.warmup_epochs * n_batches)
        if self.learning_rate == "step":
            return StepSchedule(self.step_epochs * n_batches, self.step_gamma)
        return None

    def _split_validation(self, X, Y, sample_weight):
        """scikit-learn's early-stopping split (same draws from the random state)."""
        # scikit-learn stratifies on its boolean label indicator (so its messages name
        # classes 'True'/'False'); the same split, the same words
        stratify = Y.astype(bool) if is_classifier(self) and self.n_outputs_ == 1 else None
        arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
        parts = train_test_split(*arrays, random_state=self._random_state,
                                 test_size=self.validation_fraction, stratify=stratify)
        X_train, X_val, Y_train, Y_val = parts[:4]
        w_train, w_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        contiguous = lambda a: None if a is None else c_array(a)
        return (X_train, contiguous(Y_train), contiguous(w_train),
                _Validation(_engine_ready(X_val, X_val.dtype), c_array(Y_val),
                            self._decode_validation_targets(Y_val), contiguous(w_val)))

    def _validation_set(self, X_val, y_val, sample_weight_val, class_weights, dtype):
        """Check and encode a validation set given to ``fit`` (``_Validation``)."""
        if scipy.sparse.issparse(X_val):
            X_val = check_sparse_structure(X_val, "X_val")
        X_val = validate_data(self, X_val, accept_sparse=["csr", "csc", "coo"], reset=False,
                              dtype=(np.float64, np.float32))
        y_val, Y_val = self._encode_validation_targets(y_val)
        if Y_val.shape[0] != X_val.shape[0]:
            raise ValueError("X_val has %d rows but y_val has %d"
                             % (X_val.shape[0], Y_val.shape[0]))
        if Y_val.shape[1] != self.n_outputs_:
            raise ValueError("y_val has %d outputs, the model has %d"
                             % (Y_val.shape[1], self.n_outputs_))
        Y_val = c_array(Y_val, dtype=dtype)
        w_val = check_sample_weight(sample_weight_val, X_val.shape[0], dtype)
        w_val = self._with_class_weights(Y_val, w_val, class_weights, dtype)
        return _Validation(_engine_ready(X_val, dtype), Y_val, y_val, w_val)

    def _class_weights(self, Y, incremental):
        """Weight of each class in ``classes_`` order, or None (the regressor's case)."""
        return None

    @staticmethod
    def _with_class_weights(Y, sample_weight, class_weights, dtype):
        """The sample weights times each sample's class weight (``Y`` encoded)."""
        if class_weights is None:
            return sample_weight
        weights = np.asarray(class_weights, dtype=dtype)[_class_index(Y, len(class_weights))]
        with np.errstate(over="ignore"):   # an overflow is refused just below
            weights = c_array(weights if sample_weight is None else sample_weight * weights)
        return check_weight_values(weights, "the sample weights (sample_weight times "
                                            "class_weight)")

    def _decode_validation_targets(self, Y_val):
        return Y_val

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is "
                          "going to be clipped")
        return int(np.clip(self.batch_size, 1, n_samples))

    def _fit_stochastic(self, X, Y, sample_weight, incremental, validation, tasks,
                        dropping):
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer()
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping and validation is None:
            X, Y, sample_weight, validation = self._split_validation(X, Y, sample_weight)
        if validation is not None:
            # a warm fit after one without validation, or a model loaded from a file
            for name in ("validation_scores_", "validation_loss_curve_"):
                if getattr(self, name, None) is None:
                    setattr(self, name, [])
        X = _engine_ready(X, self._network.dtype)
        n_samples = X.shape[0]
        batch_size = self._batch_size(n_samples)
        order = np.arange(n_samples, dtype=np.intp)
        network, optimizer = self._network, self._optimizer
        optimizer.schedule = self._schedule(-(-n_samples // batch_size))
        # the masks' seed: drawn only when dropping (a fit without dropout draws exactly
        # what scikit-learn draws)
        seed = int(self._random_state.randint(2 ** 31 - 1)) if dropping else 0
        dropout = self.dropout if dropping else None
        # one BLAS-thread plan for the whole loop, validation scores included
        with training_plan(batch_size, network.n_coef):
            self._run_epochs(network, optimizer, X, Y, sample_weight, order, batch_size,
                             incremental, validation, tasks, (dropout, seed))
        if early_stopping:
            network.params[...] = self._best_params

    def _run_epochs(self, network, optimizer, X, Y, sample_weight, order, batch_size,
                    incremental, validation, tasks, dropout):
        """The epoch loop of ``_fit_stochastic``."""
        early_stopping = self.early_stopping
        n_samples = X.shape[0]
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    order = shuffle(order, random_state=self._random_state)
                tasks.begin_subtask()
                try:
                    result = network.train_epoch(X, Y, optimizer, batch_size, order,
                                                 sample_weight, self.alpha, checked=True,
                                                 dropout=dropout[0], dropout_seed=dropout[1])
                except KeyboardInterrupt:
                    # the weights are those of the last finished batch
                    self.t_ += network._engine.last_n_samples
                    raise
                except DivergenceError:
                    if not early_stopping:
                        raise
                    self._record_diverged_epoch(n_samples)
                    break
                self.n_iter_ += 1
                self.loss_ = self._reported_loss(result.loss, result.penalty)
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                if validation is not None:
                    self._record_validation(validation, result.penalty)
                self._update_no_improvement_count(early_stopping)
                if tasks.end_subtask():
                    if self.verbose:
                        print("A callback asked to stop. Stopping.")
                    break
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    optimizer.learning_rate = (float(self.learning_rate_init)
                                               / (self.t_ + 1) ** self.power_t)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = ("Validation score" if early_stopping else "Training loss")
                    msg = ("%s did not improve more than tol=%f for %d consecutive epochs."
                           % (what, self.tol, self.n_iter_no_change))
                    if self._trigger_stopping(msg):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached "
                                  "and the optimization hasn't converged yet."
                                  % self.max_iter, ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")

    def _reported_loss(self, loss, penalty):
        """``loss_`` on scikit-learn's scale from the loss descended (``penalty`` is its
        L2 part); the same but for multi-output squared error (``MLPRegressor``)."""
        return loss

    def _record_diverged_epoch(self, n_samples):
        """With early stopping, a diverged epoch ends training as scikit-learn's fit ends:
        its loss and validation score are NaN, and the weights of the best validation
        epoch are kept.  (scikit-learn trains on through NaN epochs, which can never
        improve the best score, so it ends with the same weights.)"""
        self.n_iter_ += 1
        self.t_ += n_samples
        self.loss_ = np.nan
        self.loss_curve_.append(np.nan)
        self.validation_scores_.append(np.nan)
        self.validation_loss_curve_.append(np.nan)
        warnings.warn("Training diverged in epoch %d (the loss became NaN or infinite); "
                      "stopping with the weights of the best validation epoch. Lower the "
                      "learning rate or scale the inputs." % self.n_iter_,
                      ConvergenceWarning)

    def _trigger_stopping(self, msg):
        """Stop, or for adaptive SGD divide the learning rate by 5 (stop below 1e-6)."""
        if self.solver != "sgd" or self.learning_rate != "adaptive":
            if self.verbose:
                print(msg + " Stopping.")
            return True
        if self._optimizer.learning_rate <= 1e-6:
            if self.verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._optimizer.learning_rate /= 5.0
        if self.verbose:
            print(msg + " Setting learning rate to %f" % self._optimizer.learning_rate)
        return False

    def _record_validation(self, validation, penalty):
        """Score the validation set, and its loss: the training loss's data part on the
        validation samples plus the same L2 term (``penalty``, the epoch's), on the
        scale of ``loss_curve_``."""
        score = self._score_validation(validation.X, validation.y, validation.w)
        self.validation_scores_.append(score)
        network = self._network
        with network._exclusive():
            data_loss = network._loss_gradient(validation.X, validation.Y, validation.w,
                                               0.0, False)
        self.validation_loss_curve_.append(self._reported_loss(data_loss + penalty, penalty))
        if self.verbose:
            print("Validation score: %f" % score)

    def _update_no_improvement_count(self, early_stopping):
        if early_stopping:
            score = self.validation_scores_[-1]
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = self._network.params.copy()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _fit_lbfgs(self, X, Y, sample_weight, tasks):
        network = self._network
        X = _engine_ready(X, network.dtype)
        iterations = []
        stopped = []

        def callback(intermediate_result):
            iterations.append(intermediate_result.fun)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (len(iterations),
                                                     intermediate_result.fun))
            # the iteration's callback task ends with its weights; the next one begins
            if tasks.end_subtask(intermediate_result.x.astype(network.dtype)):
                stopped.append(True)
                raise StopIteration
            tasks.begin_subtask()

        tasks.begin_subtask()
        result = scipy.optimize.minimize(
            network.loss_and_flat_gradient, network.params.astype(np.float64),
            args=(X, Y, sample_weight, self.alpha), method="L-BFGS-B", jac=True,
            callback=callback,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        if result.status != 0 and not stopped:
            warnings.warn("lbfgs failed to converge after %d iteration(s) (status=%d):\n%s.\n\n"
                          "Increase the number of iterations to improve the convergence "
                          "(max_iter=%d)." % (result.nit, result.status, result.message,
                                              self.max_iter), ConvergenceWarning)
        if not np.isfinite(result.fun):
            raise DivergenceError("L-BFGS reached a non-finite loss")
        self.n_iter_ = min(int(result.nit), self.max_iter)
        coef = result.x[:network.n_coef]
        weight_sum = X.shape[0] if sample_weight is None else weight_total(sample_weight)
        self.loss_ = self._reported_loss(float(result.fun),
                                         0.5 * self.alpha * float(coef @ coef) / weight_sum)
        network.params[...] = result.x

    # -- prediction ------------------------------------------------------

    def _check_predict_input(self, X):
        """Validate X for prediction: scikit-learn's checks, with a fast path for
        plain C-contiguous float arrays (no feature names to check)."""
        if not hasattr(self, "feature_names_in_"):
            state = ready_matrix_state(X, self._network.dtype, self.n_features_in_)
            if state == READY:
                return X
            if state == NOT_FINITE:
                raise ValueError("Input X contains NaN or infinity.")
        if scipy.sparse.issparse(X):
            X = check_sparse_structure(X, "X")
        X = validate_data(self, X, accept_sparse=["csr", "csc", "coo"], reset=False,
                          dtype=(np.float64, np.float32))
        return _engine_ready(X, self._network.dtype)

    def _predict_checked(self, X):
        """Network output for X already made ready (``_engine_ready``)."""
        return self._network._forward(X)

    def _fitted_network(self):
        """The network predictions use, holding any ``coefs_``/``intercepts_`` the user
        assigned (also read by the ONNX export)."""
        if "_network" not in self.__dict__ and "coefs_" in self.__dict__:
            self._adopt_assigned_parameters()
        if "_network" not in self.__dict__:
            # check_is_fitted's message, without its per-call cost (tags, attribute scan)
            raise NotFittedError("This %s instance is not fitted yet. Call 'fit' with "
                                 "appropriate arguments before using this estimator."
                                 % type(self).__name__)
        self._sync_parameters()
        return self._network

    def _forward(self, X):
        network = self._fitted_network()
        output = network._forward(self._check_predict_input(X))
        if not all_finite_array(output):
            raise _overflow_error(output)
        return output

    def _validate_xy(self, X, y, reset, **kwargs):
        if scipy.sparse.issparse(X):
            X = check_sparse_structure(X, "X")
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"],
                             multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset, **kwargs)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        return X, y

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError("partial_fit is only available for stochastic optimizers. "
                                 "%s is not stochastic." % self.solver)
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


#: A sparse X at least this dense trains and predicts densified (when that fits in
#: ``DENSE_BYTES_LIMIT``): measured crossover, see benchmarks/sparse_input.py and README.
SPARSE_DENSITY_CROSSOVER = 0.1
DENSE_BYTES_LIMIT = 2 << 30


def _sparse_training_input(X, dtype):
    """A sparse training X as CSR in ``dtype``, or densified where that is faster."""
    n_rows, n_cols = X.shape
    density = X.nnz / max(1, n_rows * n_cols)
    if (density >= SPARSE_DENSITY_CROSSOVER
            and n_rows * n_cols * np.dtype(dtype).itemsize <= DENSE_BYTES_LIMIT):
        return c_array(X.toarray(), dtype=dtype)
    return X.tocsr().astype(dtype, copy=False)


def _class_index(Y, n_classes):
    """Each sample's class, as an index into ``classes_``, from the encoded targets
    (one-hot rows; one 0/1 column for two classes; for one class, always 0)."""
    if n_classes == 1:
        return np.zeros(Y.shape[0], dtype=np.intp)
    return Y.argmax(axis=1) if Y.shape[1] > 1 else (Y[:, 0] > 0).astype(np.intp)


def _engine_ready(X, dtype):
    """X as the network takes it: a C-contiguous array, or ``CSRRows`` for sparse X (its
    index arrays checked on the way in, by ``_validate_xy`` or ``_check_predict_input``,
    or made by scipy from such a matrix)."""
    if scipy.sparse.issparse(X):
        return csr_rows(X, "X", dtype)
    return c_array(X, dtype=dtype)


_PARAMETER_DOCS = """
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu', 'elu', 'gelu', \
'silu', 'softplus'}, default='relu'
        Activation of the hidden layers.  Beyond scikit-learn's four: 'leaky_relu'
        (slope 0.01 below 0), 'elu' (alpha 1), 'gelu' (the exact form ``u Phi(u)``,
        not the tanh approximation), 'silu' (``u logistic(u)``) and 'softplus'
        (``log(1 + exp(u))``).
    solver : {'lbfgs', 'sgd', 'adam', 'adamw'}, default='adam'
        Weight optimizer; 'lbfgs' runs ``scipy.optimize.minimize`` on the compiled
        loss and gradient; 'adamw' is Adam with decoupled weight decay
        (``weight_decay``; not in scikit-learn).
    alpha : float, default=0.0001
        Strength of the L2 penalty on the coefficients (not the intercepts).
    batch_size : int or 'auto', default='auto'
        Mini-batch size for the stochastic solvers; 'auto' is ``min(200, n_samples)``.
    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine', 'step'}, \
default='constant'
        Step-size schedule: 'invscaling' and 'adaptive' for 'sgd' (as scikit-learn);
        'cosine' and 'step' (not in scikit-learn) for 'sgd', 'adam' and 'adamw',
        computed per batch in the compiled step: 'cosine' rises linearly over
        ``warmup_epochs`` epochs, then decays as a half cosine to 0 at ``max_iter``
        epochs; 'step' multiplies by ``step_gamma`` every ``step_epochs`` epochs.
        (Each ``partial_fit`` call counts as an epoch.)
    learning_rate_init : float, default=0.001
        The initial (base) step size of 'sgd', 'adam' and 'adamw'.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Epochs for the stochastic solvers, iterations for 'lbfgs'.
    shuffle : bool, default=True
        Whether to shuffle the samples before every epoch (stochastic solvers).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffles, the early-stopping split and the
        dropout masks; the same seed draws what scikit-learn draws.
    tol : float, default=1e-4
        Tolerance: training stops when the loss (or the validation score, with early
        stopping) improves by less than ``tol`` for ``n_iter_no_change`` epochs;
        'lbfgs' uses it as ``gtol``.
    verbose : bool, default=False
        Print the loss (and validation score) after every epoch.
    warm_start : bool, default=False
        Continue from the fitted weights on the next ``fit``.
    momentum : float, default=0.9
        Momentum of 'sgd', in [0, 1].
    nesterovs_momentum : bool, default=True
        Whether 'sgd' uses Nesterov's momentum.
    early_stopping : bool, default=False
        Stop when the validation score stops improving, and keep the weights of its
        best epoch; the validation set is ``X_val`` if given to ``fit``, else
        ``validation_fraction`` of the training data (stochastic solvers).
    validation_fraction : float, default=0.1
        Share of the training data set aside for early stopping, in [0, 1).
    beta_1 : float, default=0.9
        Decay of Adam's (and AdamW's) first moment estimates, in [0, 1).
    beta_2 : float, default=0.999
        Decay of Adam's (and AdamW's) second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root of Adam's second moment estimate, > 0.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping.
    max_fun : int, default=15000
        Maximum number of loss evaluations for 'lbfgs'.
    weight_decay : float, default=0.01
        AdamW's decoupled weight decay: each step first multiplies the coefficients
        (not the intercepts) by ``1 - lr * weight_decay``, ``lr`` the scheduled rate.
        Used by solver='adamw' only; ``alpha`` still adds its L2 term to the loss (set
        alpha=0 for pure AdamW).
    warmup_epochs : int, default=0
        Linear warm-up epochs of learning_rate='cosine' (fewer than ``max_iter``).
    step_epochs : int, default=10
        Epochs between two decays of learning_rate='step'.
    step_gamma : float, default=0.1
        Factor of each decay of learning_rate='step', in (0, 1].
    dropout : float, array-like of float or None, default=None
        Inverted dropout on the hidden layers while training with 'sgd', 'adam' or
        'adamw': a rate in [0, 1), or one per hidden layer; kept units are scaled by
        ``1 / (1 - rate)``, and ``predict`` uses every unit.  The masks come from a
        counter-based generator (seeded from ``random_state``, keyed by batch, layer,
        row and unit), so a fit gives the same results for any thread count.  Not in
        scikit-learn.
"""

_ATTRIBUTE_DOCS = """
    loss_ : float
        The loss after the last epoch (iteration for 'lbfgs'), data part plus L2 term,
        on scikit-learn's scale.
    best_loss_ : float or None
        The lowest ``loss_`` reached (None with early stopping).
    loss_curve_ : list of float
        ``loss_`` after every epoch (stochastic solvers).
    validation_scores_ : list of float or None
        The validation score after each epoch, when a validation set is used (early
        stopping, or ``X_val`` given to ``fit``).
    validation_loss_curve_ : list of float or None
        The loss of ``loss_curve_`` on the validation set after each epoch: its data
        part on the validation samples plus the same L2 term.  Not in scikit-learn.
    best_validation_score_ : float or None
        The best validation score (early stopping), else None.
    t_ : int
        Training samples seen by the solver.
    coefs_ : list of ndarray of shape (n_in, n_out)
        The coefficient matrix of each layer: views of the compiled network's
        parameters (assigning new arrays is allowed).
    intercepts_ : list of ndarray of shape (n_out,)
        The intercept vector of each layer, views like ``coefs_``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features,)
        Names of the features seen during ``fit``, when X had string column names.
    n_iter_ : int
        Epochs (or L-BFGS iterations) run.
    n_layers_ : int
        Number of layers, input and output included.
    n_outputs_ : int
        Number of outputs.
    out_activation_ : str
        The output activation: 'softmax' or 'logistic' (classifier), 'identity' or
        'exp' (regressor).
"""


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier with a compiled core.

    Drop-in for ``sklearn.neural_network.MLPClassifier``: multiclass (softmax output),
    binary and multilabel (logistic outputs).  float32 input trains in float32.

    Parameters
    ----------
    {params}
    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, ``{{class_label: weight}}``, multiplying
        ``sample_weight`` (in the loss, the validation score and loss, and the early
        stopping split); 'balanced' weighs each class by ``n_samples / (n_classes *
        count)`` over the ``y`` given to ``fit`` (not available to ``partial_fit``).
        Not for multilabel y.  Not in scikit-learn's MLP.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels (for multilabel y, the label indices).
    {attributes}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from cymlp import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(20,), max_iter=500, random_state=0).fit(X, y)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 weight_decay=0.01, warmup_epochs=0, step_epochs=10, step_gamma=0.1,
                 dropout=None, class_weight=None):
        _store_parameters(self, locals())

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    classes_: np.ndarray   # set by fit (annotation only: no class attribute)

    @available_if(lambda est: est._check_solver())
    @with_callbacks
    def partial_fit(self, X: MatrixLike, y: ArrayLike,
                    sample_weight: Optional[ArrayLike] = None,
                    classes: Optional[ArrayLike] = None) -> "MLPClassifier":
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or a label indicator matrix.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss.
        classes : array of shape (n_classes,), default=None
            All classes across calls; required on the first call.

        Returns
        -------
        MLPClassifier
            The updated estimator (``self``).
        """
        self._validate_params()
        first_call = not hasattr(self, "classes_")
        if first_call and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and not first_call:
            if not np.array_equal(self.classes_, unique_labels(classes)):
                raise ValueError("`classes=%r` is not the same as on last call to "
                                 "partial_fit, was: %r" % (classes, self.classes_))

        def set_classes():
            binarizer = LabelBinarizer()
            binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_

        return self._fit(X, y, sample_weight, incremental=True,
                         prepare=set_classes if first_call else None)

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_xy(X, y, reset)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            # one class is fitted as scikit-learn fits it: one logistic output whose
            # target is always 0, and predict returns that class
            binarizer = LabelBinarizer().fit(y)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same "
                                     "classes as in the previous call to fit. Previously "
                                     f"got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError("`y` has classes not in `self.classes_`. "
                                 f"`self.classes_` has {self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y)

    def _out_activation(self, Y):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _decode_validation_targets(self, Y_val):
        return self._label_binarizer.inverse_transform(Y_val)

    def _encode_validation_targets(self, y_val):
        """Validation labels: (labels as given, encoded as the network's targets)."""
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            y_val = np.asarray(y_val)
        else:
            y_val = column_or_1d(y_val, warn=True)
        unseen = np.setdiff1d(unique_labels(y_val), self.classes_)
        if len(unseen):
            raise ValueError("y_val has classes not in `self.classes_`: %s" % unseen)
        return y_val, self._label_binarizer.transform(y_val)

    def _class_weights(self, Y, incremental):
        """``class_weight`` as one weight per class of ``classes_``, from the encoded Y
        of this fit ('balanced': ``n_samples / (n_classes * count)``), or None."""
        if self.class_weight is None:
            return None
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            raise ValueError("class_weight is not supported for multilabel y")
        if incremental and isinstance(self.class_weight, str):
            raise ValueError("class_weight='balanced' is not supported by partial_fit: "
                             "one call sees part of the data. Compute the weights once, "
                             "with sklearn.utils.class_weight.compute_class_weight over "
                             "all the labels, and pass them as a dict.")
        if isinstance(self.class_weight, dict) and not all(
                isinstance(weight, Real) for weight in self.class_weight.values()):
            raise TypeError("class_weight's weights must be real numbers; got %r"
                            % (self.class_weight,))
        weights = compute_class_weight(self.class_weight, classes=self.classes_,
                                       y=self.classes_[_class_index(Y, len(self.classes_))])
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("class_weight must give each class a finite, non-negative "
                             "weight; got %r" % (self.class_weight,))
        return weights

    def _decode(self, output):
        if self.out_activation_ == "softmax":
            return self.classes_[output.argmax(axis=1)]
        if self.n_outputs_ == 1:
            output = output.ravel()
        return self._label_binarizer.inverse_transform(output)

    def _score_validation(self, X_val, y_val, w_val):
        output = self._predict_checked(X_val)
        if not np.isfinite(output).all():
            return np.nan   # scikit-learn's score of a diverged model
        return accuracy_score(y_val, self._decode(output), sample_weight=w_val)

    def predict(self, X: MatrixLike) -> np.ndarray:
        """Predict classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or the label indicator matrix for multilabel models.
        """
        return self._decode(self._forward(X))

    def predict_proba(self, X: MatrixLike) -> np.ndarray:
        """Probability estimates, one column per class in ``classes_`` order.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The probability of each class; a binary model's columns are ``1 - p`` and
            ``p``.
        """
        output = self._forward(X)
        if self.n_outputs_ == 1:
            p = output.ravel()
            return np.vstack([1 - p, p]).T
        return output

    def predict_log_proba(self, X: MatrixLike) -> np.ndarray:
        """Log of ``predict_proba``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            The natural log of each class's probability.
        """
        proba = self.predict_proba(X)
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor with a compiled core.

    Drop-in for ``sklearn.neural_network.MLPRegressor``: single or multiple outputs,
    squared error (identity output) or half Poisson deviance (exp output).

    Parameters
    ----------
    loss : {{'squared_error', 'poisson'}}, default='squared_error'
        The loss: the squared error with an identity output, or the half Poisson
        deviance with an exp output (non-negative targets).
    {params}

    Attributes
    ----------
    {attributes}

    Examples
    --------
    >>> import numpy as np
    >>> from cymlp import MLPRegressor
    >>> X = np.linspace(0, 1, 50)[:, None]
    >>> reg = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0)
    >>> reg = reg.fit(X, 2 * X.ravel())
    >>> round(float(reg.score(X, 2 * X.ravel())), 2)
    1.0
    """

    _parameter_constraints: dict = {
        **_BaseMLP._parameter_constraints,
        "loss": [StrOptions({"squared_error", "poisson"})],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 weight_decay=0.01, warmup_epochs=0, step_epochs=10, step_gamma=0.1,
                 dropout=None):
        _store_parameters(self, locals())

    @available_if(lambda est: est._check_solver())
    @with_callbacks
    def partial_fit(self, X: MatrixLike, y: ArrayLike,
                    sample_weight: Optional[ArrayLike] = None) -> "MLPRegressor":
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss.

        Returns
        -------
        MLPRegressor
            The updated estimator (``self``).
        """
        self._validate_params()
        return self._fit(X, y, sample_weight, incremental=True)

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_xy(X, y, reset, y_numeric=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' requires non-negative y")
        return X, y

    def _out_activation(self, Y):
        return "exp" if self.loss == "poisson" else "identity"

    def _encode_validation_targets(self, y_val):
        """A regressor's validation targets: (values as given, 2-D values)."""
        y_val = np.asarray(y_val)
        if y_val.dtype.kind not in "biuf":
            raise ValueError("y_val must hold numbers, got dtype %s" % y_val.dtype)
        if y_val.ndim not in (1, 2):
            raise ValueError("y_val must be 1-D or 2-D, got shape %s" % (y_val.shape,))
        if not np.isfinite(y_val).all():
            raise ValueError("y_val contains NaN or infinity")
        if self.loss == "poisson" and np.any(y_val < 0):
            raise ValueError("loss='poisson' requires non-negative y_val")
        return y_val, y_val.reshape(y_val.shape[0], -1)

    def _score_validation(self, X_val, y_val, w_val):
        output = self._predict_checked(X_val)
        if not np.isfinite(output).all():
            return np.nan   # scikit-learn's score of a diverged model
        return r2_score(y_val, self._shape_output(output), sample_weight=w_val)

    def _reported_loss(self, loss, penalty):
        """scikit-learn reports the squared error averaged over the outputs (its gradient,
        and the loss every solver here descends, sum over them): the data part of the
        loss is divided by ``n_outputs_``, the L2 part is not."""
        if self.loss != "squared_error" or self.n_outputs_ == 1:
            return loss
        return (loss - penalty) / self.n_outputs_ + penalty

    @staticmethod
    def _shape_output(output):
        return output.ravel() if output.shape[1] == 1 else output

    def predict(self, X: MatrixLike) -> np.ndarray:
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values (one column per output for multi-output models).
        """
        return self._shape_output(self._forward(X))


def _overflow_error(output):
    """The ValueError for a prediction whose network output is NaN or infinite."""
    rows = np.flatnonzero(~np.isfinite(output).all(axis=1))
    return ValueError(
        "The network's output is NaN or infinite for %d of %d rows (rows %s%s): their "
        "inputs overflow it, being far beyond the values it was trained on (or its "
        "weights were set so). No prediction is made." % (
            rows.size, output.shape[0], ", ".join(map(str, rows[:5])),
            ", ..." if rows.size > 5 else ""))


# the shared sections go in at the placeholders' indentation (the placeholder line has it)
for _estimator in (MLPClassifier, MLPRegressor):
    if _estimator.__doc__:   # (python -OO strips docstrings)
        _estimator.__doc__ = _estimator.__doc__.format(params=_PARAMETER_DOCS.strip(),
                                                       attributes=_ATTRIBUTE_DOCS.strip())
