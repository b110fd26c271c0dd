"""scikit-learn compatible MLPClassifier and MLPRegressor over the compiled Network.

This module holds the two estimators (label encoding, scores, prediction); their
shared machinery is ``cymlp._mlp_base`` (fit, warm start, validation) and
``cymlp._mlp_training`` (the epoch loop, early stopping, L-BFGS), their shared
docstring sections ``cymlp._estimator_docs``.

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
  (``cymlp._validation.SPARSE_DENSITY_CROSSOVER``);
- with more than one output, L-BFGS descends the loss whose gradient it is handed:
  ``1/2 sum_j (y_j - p_j)^2`` per sample (summed over the outputs) plus the L2 term,
  the loss SGD and Adam descend in both libraries.  scikit-learn hands scipy that
  gradient with a loss averaged over the outputs, so its line search and stopping see
  another function; its weights differ from cymlp's by a few 1e-2 (see docs/estimators.md).
  ``loss_`` and ``loss_curve_`` are reported on scikit-learn's scale (the data part
  averaged over the outputs) for every solver, so ``tol``-based stopping and
  ``n_iter_`` match for sgd and adam.
"""
from numbers import Real
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels

from cymlp._callbacks import with_callbacks
from cymlp._typing import MatrixLike
from cymlp._estimator_docs import (_ATTRIBUTE_DOCS, _PARAMETER_DOCS,
                                   _PARTIAL_FIT_VALIDATION_DOCS)
from cymlp._label_columns import LabelColumns, is_label_columns, is_label_columns_target
from cymlp._mlp_base import _BaseMLP, _store_parameters
from cymlp._names import (LOSS_OUTPUTS, LOSS_PARAMETERS, LOSS_SCORED_LOSSES,
                          REGRESSION_LOSSES)
from cymlp._validation import class_index


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier with a compiled core.

    Drop-in for ``sklearn.neural_network.MLPClassifier``: multiclass (softmax output),
    binary and multilabel (logistic outputs).  Beyond scikit-learn, multi-output
    classification: ``y`` of shape (n_samples, n_outputs) holding label columns
    (strings or numbers, each with its own classes) trains one softmax group per
    column, the loss the sum of their cross-entropies; ``predict`` returns one label
    per column and ``predict_proba`` one array per column.  (A y of 0/1 columns only
    stays a multilabel indicator, as in scikit-learn.)  float32 input trains in float32.

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
    classes_ : ndarray of shape (n_classes,), or list of ndarray
        The class labels (for multilabel y, the label indices); for multi-output y
        (label columns), one array of classes per column.
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
    classes_: Any   # set by fit: an ndarray, or a list of them for label columns
    _label_binarizer: Any   # LabelBinarizer, or LabelColumns for label columns

    @available_if(lambda est: est._check_solver())
    @with_callbacks
    def partial_fit(self, X: MatrixLike, y: ArrayLike,
                    sample_weight: Optional[ArrayLike] = None,
                    classes: Optional[ArrayLike] = None, *,
                    X_val: Optional[MatrixLike] = None, y_val: Optional[ArrayLike] = None,
                    sample_weight_val: Optional[ArrayLike] = None) -> "MLPClassifier":
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
        {validation}

        Returns
        -------
        MLPClassifier
            The updated estimator (``self``).
        """
        self._validate_params()
        validation = self._given_validation(X_val, y_val, sample_weight_val)
        first_call = not hasattr(self, "classes_")
        if first_call and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None and not first_call:
            same = (self._label_binarizer.same_classes(classes)
                    if self._is_multi_output() else
                    not is_label_columns(classes)
                    and np.array_equal(self.classes_, unique_labels(classes)))
            if not same:
                raise ValueError("`classes=%r` is not the same as on last call to "
                                 "partial_fit, was: %r" % (classes, self.classes_))

        def set_classes():
            if is_label_columns(classes):
                binarizer = LabelColumns(classes)
            else:
                binarizer = LabelBinarizer()
                binarizer.fit(y if type_of_target(y).startswith("multilabel") else classes)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_

        return self._fit(X, y, sample_weight, incremental=True,
                         prepare=set_classes if first_call else None, validation=validation)

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_xy(X, y, reset)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            # one class is fitted as scikit-learn fits it: one logistic output whose
            # target is always 0, and predict returns that class
            if is_label_columns_target(y):
                binarizer = LabelColumns.fit(y)   # one softmax group per column
            else:
                binarizer = LabelBinarizer().fit(y)
            self._label_binarizer = binarizer
            self.classes_ = binarizer.classes_
        elif self._is_multi_output():
            # the fitted columns' classes; a column's new label is refused by transform
            if self.warm_start and not LabelColumns.fit(y).same_classes(self.classes_):
                raise ValueError("warm_start can only be used where `y` has the same "
                                 "classes in each column as in the previous call to fit.")
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
        return ("softmax" if self._label_binarizer.y_type_ in ("multiclass",
                                                               "multiclass-multioutput")
                else "logistic")

    def _is_multi_output(self):
        """Whether the model was fitted on label columns (multi-output classification)."""
        return isinstance(getattr(self, "_label_binarizer", None), LabelColumns)

    def _loss_options(self):
        """One softmax group per label column for multi-output targets."""
        if self._is_multi_output():
            return {"softmax_groups": self._label_binarizer.group_sizes}
        return {}

    def _decode_validation_targets(self, Y_val):
        return self._label_binarizer.inverse_transform(Y_val)

    def _encode_validation_targets(self, y_val):
        """Validation labels: (labels as given, encoded as the network's targets)."""
        if self._is_multi_output():
            y_val = np.asarray(y_val)
            return y_val, self._label_binarizer.transform(y_val)
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
        if self._is_multi_output():
            raise ValueError("class_weight is not supported for multi-output y (label "
                             "columns); pass per-sample weights as sample_weight")
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
                                       y=self.classes_[class_index(Y, len(self.classes_))])
        if not np.isfinite(weights).all() or (weights < 0).any():
            raise ValueError("class_weight must give each class a finite, non-negative "
                             "weight; got %r" % (self.class_weight,))
        return weights

    def _decode(self, output):
        if self._is_multi_output():
            return self._label_binarizer.inverse_transform(output)
        if self.out_activation_ == "softmax":
            return self.classes_[output.argmax(axis=1)]
        if self.n_outputs_ == 1:
            output = output.ravel()
        return self._label_binarizer.inverse_transform(output)

    def _score_validation(self, X_val, y_val, w_val, data_loss):
        output = self._predict_checked(X_val)
        if not np.isfinite(output).all():
            return np.nan   # scikit-learn's score of a diverged model
        return self._accuracy(y_val, self._decode(output), w_val)

    def _accuracy(self, y, predicted, sample_weight):
        """Accuracy; for label columns the subset accuracy (every column right)."""
        if self._is_multi_output():
            return float(np.average(np.all(np.asarray(y) == predicted, axis=1),
                                    weights=sample_weight))
        return accuracy_score(y, predicted, sample_weight=sample_weight)

    def score(self, X: MatrixLike, y: ArrayLike,
              sample_weight: Optional[ArrayLike] = None) -> float:
        """Mean accuracy on the given test data and labels.

        For multi-output (label columns) models, the subset accuracy: the share of
        samples whose every column is predicted right (as ``MultiOutputClassifier``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        float
            The (weighted) share of samples predicted right.
        """
        if not self._is_multi_output():
            return super().score(X, y, sample_weight)
        y = np.asarray(y)
        predicted = self.predict(X)
        if y.shape != predicted.shape:
            raise ValueError("y has shape %s but the model predicts %s"
                             % (y.shape, predicted.shape))
        return self._accuracy(y, predicted, sample_weight)

    def predict(self, X: MatrixLike) -> np.ndarray:
        """Predict classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.

        Returns
        -------
        ndarray of shape (n_samples,), (n_samples, n_classes) or (n_samples, n_outputs)
            Class labels; the label indicator matrix for multilabel models; one label
            per column for multi-output models.
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
        ndarray of shape (n_samples, n_classes), or list of them
            The probability of each class; a binary model's columns are ``1 - p`` and
            ``p``.  A multi-output model gives one array per label column, its
            columns in ``classes_[j]`` order (as ``MultiOutputClassifier``).
        """
        output = self._forward(X)
        if self._is_multi_output():
            return self._label_binarizer.split(output)
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
        ndarray of shape (n_samples, n_classes), or list of them
            The natural log of each class's probability (one array per label column
            for a multi-output model).
        """
        proba = self.predict_proba(X)
        if isinstance(proba, list):
            return [np.log(p, out=p) for p in proba]
        return np.log(proba, out=proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.target_tags.multi_output = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor with a compiled core.

    Drop-in for ``sklearn.neural_network.MLPRegressor``: single or multiple outputs,
    squared error (identity output) or half Poisson deviance (exp output), and, beyond
    scikit-learn, the absolute error, huber and quantile (pinball) losses and the half
    gamma deviance.

    Parameters
    ----------
    loss : {{'squared_error', 'poisson', 'absolute_error', 'huber', 'quantile', \
'gamma'}}, default='squared_error'
        The loss, per sample and output with residual ``r = prediction - y``:

        - 'squared_error': ``r**2 / 2``, identity output.
        - 'absolute_error': ``|r|``; predictions estimate the conditional median.
        - 'huber': ``r**2 / 2`` for ``|r| <= huber_epsilon``, else
          ``huber_epsilon * (|r| - huber_epsilon / 2)``: squared error near the fit,
          absolute error for outliers.
        - 'quantile': the pinball loss ``quantile * max(-r, 0) + (1 - quantile) *
          max(r, 0)``; predictions estimate the ``quantile`` conditional quantile.
        - 'poisson': the half Poisson deviance with an exp output (targets >= 0).
        - 'gamma': the half gamma deviance ``log(mu) + y / mu - log(y) - 1`` with an
          exp output ``mu`` (targets > 0).

        At the kink ``r = 0`` the absolute and pinball losses use the subgradient 0.
        ``score`` is R² whatever the loss, as in scikit-learn.
    {params}
    huber_epsilon : float, default=1.35
        The huber loss's threshold, in the target's units (scikit-learn's
        ``HuberRegressor`` default, which suits residuals of about unit scale; scale
        the target or set it to match).  ``epsilon`` is already Adam's parameter.
    quantile : float, default=0.5
        The quantile level in (0, 1) of the quantile loss (as scikit-learn's
        ``HistGradientBoostingRegressor``).

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
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "huber_epsilon": [Interval(Real, 0, None, closed="neither")],
        "quantile": [Interval(Real, 0, 1, closed="neither")],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 weight_decay=0.01, warmup_epochs=0, step_epochs=10, step_gamma=0.1,
                 dropout=None, huber_epsilon=1.35, quantile=0.5):
        _store_parameters(self, locals())

    @available_if(lambda est: est._check_solver())
    @with_callbacks
    def partial_fit(self, X: MatrixLike, y: ArrayLike,
                    sample_weight: Optional[ArrayLike] = None, *,
                    X_val: Optional[MatrixLike] = None, y_val: Optional[ArrayLike] = None,
                    sample_weight_val: Optional[ArrayLike] = None) -> "MLPRegressor":
        """Update the model with one epoch over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in the loss.
        {validation}

        Returns
        -------
        MLPRegressor
            The updated estimator (``self``).
        """
        self._validate_params()
        validation = self._given_validation(X_val, y_val, sample_weight_val)
        return self._fit(X, y, sample_weight, incremental=True, validation=validation)

    def _validate_input(self, X, y, incremental, reset):
        X, y = self._validate_xy(X, y, reset, y_numeric=True)
        self._check_target_range(y, "y")
        return X, y

    def _check_target_range(self, y, name):
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' requires non-negative %s" % name)
        if self.loss == "gamma" and not np.all(y > 0):
            raise ValueError("loss='gamma' requires positive %s (all > 0)" % name)

    def _out_activation(self, Y):
        return LOSS_OUTPUTS[self.loss]

    def _initialize(self, Y, layer_units, dtype):
        super()._initialize(Y, layer_units, dtype)
        if self.loss == "gamma":
            # start from the best constant, log(mean y), rather than exp(0) = 1: targets
            # of thousands would otherwise take thousands of steps just to reach their
            # scale (scikit-learn's 'poisson' keeps its zero start)
            self._network.intercepts[-1][...] = np.log(np.mean(Y, axis=0))

    def _loss_options(self):
        """The network's loss and its parameter (``Network``'s keyword arguments)."""
        name = LOSS_PARAMETERS.get(self.loss, (None,))[0]
        return {"loss": self.loss, "loss_param": getattr(self, name) if name else None}

    def _encode_validation_targets(self, y_val):
        """A regressor's validation targets: (values as given, 2-D values)."""
        y_val = np.asarray(y_val)
        if y_val.dtype.kind not in "biuf":
            raise ValueError("y_val must hold numbers, got dtype %s" % y_val.dtype)
        if y_val.ndim not in (1, 2):
            raise ValueError("y_val must be 1-D or 2-D, got shape %s" % (y_val.shape,))
        if not np.isfinite(y_val).all():
            raise ValueError("y_val contains NaN or infinity")
        self._check_target_range(y_val, "y_val")
        return y_val, y_val.reshape(y_val.shape[0], -1)

    def _score_validation(self, X_val, y_val, w_val, data_loss):
        """R² for squared error and Poisson (scikit-learn's), minus the validation loss
        for the others: R² would pick the epoch closest to the conditional mean, not
        the best median, quantile or robust fit."""
        if self.loss in LOSS_SCORED_LOSSES:
            return -data_loss if np.isfinite(data_loss) else np.nan
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


# the shared sections go in at the placeholders' indentation (the placeholder line has it)
for _estimator in (MLPClassifier, MLPRegressor):
    if _estimator.__doc__:   # (python -OO strips docstrings)
        _estimator.__doc__ = _estimator.__doc__.format(params=_PARAMETER_DOCS.strip(),
                                                       attributes=_ATTRIBUTE_DOCS.strip())
    _partial_fit = _estimator.__dict__["partial_fit"]
    _partial_fit = getattr(_partial_fit, "fn", _partial_fit)   # under available_if
    if _partial_fit.__doc__:
        _partial_fit.__doc__ = _partial_fit.__doc__.replace(
            "{validation}", _PARTIAL_FIT_VALIDATION_DOCS.strip())
