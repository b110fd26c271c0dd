"""The base class of MLPClassifier and MLPRegressor: parameter constraints, the fit
that leaves the estimator as it was when it fails, warm start and ``partial_fit``'s
continuation, the validation split and class weights, and the checks before a
prediction.  The training loop itself is ``cymlp._mlp_training``; the two estimators
are ``cymlp.estimators``.
"""
import collections
import copy
import operator
from numbers import Integral, Real
from typing import Optional, TypeVar

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike
import scipy.sparse
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import validate_data

from cymlp._callbacks import CallbackSupport, fit_tasks, with_callbacks
from cymlp._names import ACTIVATION_CODES
from cymlp._typing import MatrixLike
from cymlp._checks import NOT_FINITE, READY, all_finite_array, ready_matrix_state
from cymlp._validation import (c_array, check_sample_weight, check_sparse_structure,
                               check_weight_values, class_index, engine_ready,
                               sparse_training_input)
from cymlp.network import DivergenceError, Network
from cymlp.optimizers import SGD, Adam, AdamW, CosineSchedule, StepSchedule
from cymlp._mlp_training import _TrainingLoop

_STOCHASTIC_SOLVERS = ("sgd", "adam", "adamw")
_Estimator = TypeVar("_Estimator", bound="_BaseMLP")

# a validation set as the epoch loop uses it: X ready for the network, Y encoded as the
# network's targets (for the loss), y as the user's labels or values (for the score),
# w the sample weights (class weights included) or None
# (X_raw: X as an array or CSR matrix in the network's dtype, kept by partial_fit)
_Validation = collections.namedtuple("_Validation", "X Y y w X_raw", defaults=(None,))
_NON_FINITE_MESSAGE = ("Solver produced non-finite parameter weights. The input data may "
                       "contain large values and need to be preprocessed.")


def _store_parameters(estimator, arguments):
    """Set each ``__init__`` argument as an attribute of the same name, unchanged
    (scikit-learn's rule: no logic in ``__init__``, checks happen in ``fit``)."""
    for name, value in arguments.items():
        if name not in ("self", "__class__"):
            setattr(estimator, name, value)


class _BaseMLP(_TrainingLoop, CallbackSupport, BaseEstimator):
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
        for name in ("coefs_", "intercepts_", "_bound_views", "_epoch_group"):
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
        validation = self._given_validation(X_val, y_val, sample_weight_val)
        return self._fit(X, y, sample_weight, incremental=False, validation=validation)

    def _given_validation(self, X_val, y_val, sample_weight_val):
        """The validation set a caller gave to ``fit`` or ``partial_fit``, or None."""
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        if sample_weight_val is not None and X_val is None:
            raise ValueError("sample_weight_val needs X_val and y_val")
        validation = None if X_val is None else (X_val, y_val, sample_weight_val)
        if validation is not None and self.solver not in _STOCHASTIC_SOLVERS:
            raise ValueError("a validation set (X_val, y_val) is used by the stochastic "
                             "solvers 'sgd', 'adam' and 'adamw', not by solver=%r"
                             % self.solver)
        return validation

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
                              "_bound_views", "_best_params", "_stream_validation",
                              "_skl_callbacks",
                              "_skl_callbacks_to_teardown", "_callback_fit_ctx",
                              "_parent_callback_ctx", "_epoch_group")

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
        X = (sparse_training_input(X, dtype) if scipy.sparse.issparse(X)
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

        dropping = self._network.dropout_rates(self.dropout) is not None
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
                          dtype=dtype.type, random_state=0, **self._loss_options())
        network.coefs = coefs
        network.intercepts = intercepts
        self._network = network
        self._bind_parameters()
        defaults = {"n_iter_": 0, "t_": 0, "n_layers_": len(sizes), "n_outputs_": sizes[-1],
                    **self._fresh_bookkeeping()}
        for name, value in defaults.items():
            self.__dict__.setdefault(name, value)

    def _loss_options(self):
        """The network's loss options beyond its output activation (``Network``'s
        ``loss``, ``loss_param``, ``softmax_groups``); none by default."""
        return {}

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
            self._network = network = network.with_activation(self.activation)
            self._bind_parameters()
        options = self._loss_options()
        current = network.output_options()
        if options and {name: current[name] for name in options} != options:
            # another loss of the same output (or its parameter): used from now on
            self._network = network.with_loss(**options)
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
                                init_factor=2.0 if self.activation == "logistic" else 6.0,
                                **self._loss_options())
        self._bind_parameters()
        for name in ("_optimizer", "_stream_validation", "stopped_early_"):
            self.__dict__.pop(name, None)
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
        """scikit-learn's early-stopping split (same draws from the random state), by row
        indices: returns the training rows' indices (in the order scikit-learn's
        ``X_train`` has them) and the held-out part, so that training reads X in place
        (no copy of the 90 %)."""
        # scikit-learn stratifies on its boolean label indicator (so its messages name
        # classes 'True'/'False'); the same split, the same words
        stratify = Y.astype(bool) if is_classifier(self) and self.n_outputs_ == 1 else None
        # train_test_split's draws depend on the row count and the strata only: splitting
        # the indices splits the rows exactly as splitting X would
        train_rows, val_rows = train_test_split(
            np.arange(X.shape[0], dtype=np.intp), random_state=self._random_state,
            test_size=self.validation_fraction, stratify=stratify)
        if val_rows.shape[0] < 2:
            raise ValueError("The validation set is too small. Increase "
                             "'validation_fraction' or the size of your dataset.")
        Y_val = c_array(Y[val_rows])
        w_val = None if sample_weight is None else c_array(sample_weight[val_rows])
        held_out = (X[val_rows], Y_val, self._decode_validation_targets(Y_val), w_val)
        return train_rows, held_out

    @staticmethod
    def _as_validation(held_out):
        """A held-out part (X as an array or a sparse matrix, Y, y, w) as the epoch loop
        takes it (``_Validation``, X ready for the network)."""
        X_val, Y_val, y_val, w_val = held_out
        return _Validation(engine_ready(X_val, X_val.dtype), Y_val, y_val, w_val)

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
        X_raw = (X_val.tocsr().astype(dtype, copy=False) if scipy.sparse.issparse(X_val)
                 else c_array(X_val, dtype=dtype))
        return _Validation(engine_ready(X_raw, dtype), Y_val, y_val, w_val, X_raw)

    def _class_weights(self, Y, incremental):
        """Weight of each class in ``classes_`` order, or None (the regressor's case)."""
        return None

    @staticmethod
    def _with_class_weights(Y, sample_weight, class_weights, dtype):
        """The sample weights times each sample's class weight (``Y`` encoded)."""
        if class_weights is None:
            return sample_weight
        weights = np.asarray(class_weights, dtype=dtype)[class_index(Y, len(class_weights))]
        with np.errstate(over="ignore"):   # an overflow is refused just below
            weights = c_array(weights if sample_weight is None else sample_weight * weights)
        return check_weight_values(weights, "the sample weights (sample_weight times "
                                            "class_weight)")

    def _decode_validation_targets(self, Y_val):
        return Y_val

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
        return engine_ready(X, self._network.dtype)

    def _predict_checked(self, X):
        """Network output for X already made ready (``_engine_ready``)."""
        return self._network.forward_checked(X)

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
        output = network.forward_checked(self._check_predict_input(X))
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


def _overflow_error(output):
    """The ValueError for a prediction whose network output is NaN or infinite."""
    rows = np.flatnonzero(~np.isfinite(output).all(axis=1))
    return ValueError(
        "The network's output is NaN or infinite for %d of %d rows (rows %s%s): their "
        "inputs overflow it, being far beyond the values it was trained on (or its "
        "weights were set so). No prediction is made." % (
            rows.size, output.shape[0], ", ".join(map(str, rows[:5])),
            ", ..." if rows.size > 5 else ""))
