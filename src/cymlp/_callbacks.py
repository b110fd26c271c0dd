"""scikit-learn's callback API (``sklearn.callback``, scikit-learn >= 1.9) for the
estimators: one fit task, with one subtask per epoch (sgd, adam, adamw) or per
iteration (lbfgs).

Each subtask's ``on_fit_task_begin`` and ``on_fit_task_end`` hooks get the user's X
and y, ``metadata={"sample_weight": ...}`` when weights were given, and on request a
``fitted_estimator``: a copy of the estimator holding the weights of that moment (its
own network, so that a callback may keep it).  At the end hook the estimator's
``loss_curve_``, ``validation_scores_`` and ``validation_loss_curve_`` hold that
epoch's figures.  An end hook returning True stops training there, before the next
batch: the fit then ends as a converged fit ends (early stopping still restores its
best epoch).

Nothing is done, and nothing costs, when no callback is set and no meta-estimator
propagated a callback context.  Without ``sklearn.callback`` the estimators work as
before and ``set_callbacks`` raises an ImportError naming the version needed.
"""
import copy

import sklearn

try:
    from sklearn.callback import CallbackSupportMixin as CallbackSupport
    from sklearn.callback import with_callbacks
    HAVE_CALLBACKS = True
except ImportError:   # scikit-learn < 1.9
    HAVE_CALLBACKS = False

    class CallbackSupport:  # type: ignore[no-redef]
        """Stands in for ``sklearn.callback.CallbackSupportMixin`` where it is missing."""

        def set_callbacks(self, *callbacks):
            """Refuse: callbacks need ``sklearn.callback`` (scikit-learn >= 1.9).

            Parameters
            ----------
            *callbacks : callback instances

            Raises
            ------
            ImportError
            """
            raise ImportError("callbacks need scikit-learn >= 1.9 (sklearn.callback); "
                              "scikit-learn %s is installed" % sklearn.__version__)

    def with_callbacks(method):
        """Return ``method`` unchanged (no callbacks to tear down).

        Parameters
        ----------
        method : callable

        Returns
        -------
        callable
        """
        return method


class _NoTasks:
    """The tasks of a fit that no callback watches: every hook is a no-op."""

    def begin_subtask(self):
        """Start the next epoch or iteration (nothing to do)."""

    def end_subtask(self, params=None):
        """End the current epoch or iteration; never asks to stop.

        Parameters
        ----------
        params : ndarray, optional

        Returns
        -------
        bool
        """
        return False

    def end(self):
        """End the fit (nothing to do)."""


NO_TASKS = _NoTasks()


class _FitTasks:
    """The callback tasks of one fit: the root task and its epochs or iterations."""

    def __init__(self, estimator, context, X, y, metadata, subtask_name):
        self.estimator, self.context = estimator, context
        self.data = dict(X=X, y=y, metadata=metadata)
        self.subtask_name = subtask_name
        self.subtask = None

    def _fitted_attributes(self, params=None):
        """What makes a copy of the estimator predict with the weights of this moment
        (``params``, or the network's): its own network and the views of it."""
        estimator = self.estimator
        network = copy.deepcopy(estimator._network)
        if params is not None:
            network.params = params
        coefs, intercepts = network.coefs, network.intercepts
        attributes = dict(_network=network, coefs_=coefs, intercepts_=intercepts,
                          _bound_views=(coefs, intercepts, tuple(coefs), tuple(intercepts)))
        for name in ("loss_curve_", "validation_scores_", "validation_loss_curve_"):
            value = getattr(estimator, name, None)
            if value is not None:
                attributes[name] = list(value)
        return attributes

    def begin_subtask(self):
        """Start the next epoch or iteration."""
        self.subtask = self.context.subcontext(task_name=self.subtask_name)
        self.subtask.call_on_fit_task_begin(
            estimator=self.estimator, **self.data,
            reconstruction_attributes=self._fitted_attributes)

    def end_subtask(self, params=None):
        """End the current epoch or iteration.

        Parameters
        ----------
        params : ndarray, optional
            The weights the subtask ended with, if not the network's (L-BFGS).

        Returns
        -------
        bool
            Whether a callback asks to stop.
        """
        subtask, self.subtask = self.subtask, None
        return bool(subtask.call_on_fit_task_end(
            estimator=self.estimator, **self.data,
            reconstruction_attributes=lambda: self._fitted_attributes(params)))

    def end(self):
        """End the fit: an epoch or iteration left open (begun, never run) ends empty."""
        if self.subtask is not None:
            self.subtask.call_on_fit_task_end(estimator=self.estimator)
            self.subtask = None
        self.context.call_on_fit_task_end(estimator=self.estimator, **self.data,
                                          reconstruction_attributes={})


def fit_tasks(estimator, X, y, sample_weight, max_subtasks, subtask_name):
    """Open the callback tasks of a fit (``NO_TASKS`` if nothing watches it).

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
    X, y, sample_weight
        As given to ``fit``; passed to the hooks.
    max_subtasks : int or None
        Epochs or iterations at most (None: not known).
    subtask_name : str
        'epoch' or 'iteration'.

    Returns
    -------
    _FitTasks or _NoTasks
    """
    if not HAVE_CALLBACKS or not (getattr(estimator, "_skl_callbacks", None)
                                  or hasattr(estimator, "_parent_callback_ctx")):
        return NO_TASKS
    context = estimator._init_callback_context(max_subtasks=max_subtasks)
    metadata = None if sample_weight is None else {"sample_weight": sample_weight}
    context.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=metadata)
    return _FitTasks(estimator, context, X, y, metadata, subtask_name)
