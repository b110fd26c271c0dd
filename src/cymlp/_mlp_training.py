"""How an MLP estimator trains: the mini-batch epoch loop with its schedules, the
validation score and loss, early stopping and ``n_iter_no_change``, and L-BFGS.

``_TrainingLoop`` is a mixin of ``cymlp._mlp_base._BaseMLP``: its methods read the
estimator's parameters and fitted state and run each epoch in ``Network.train_epoch``
(the compiled engine).  Kept apart from the base class so that the fit's bookkeeping
(validation, warm start, undo on failure) and the loop read on their own.
"""
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import shuffle

from cymlp._threads import training_plan
from cymlp._validation import engine_ready, weight_total
from cymlp.network import DivergenceError


def _same_validation(first, second):
    """Whether two held-out parts (X, Y, y, w) hold the same rows and targets."""
    if first is None or second is None:
        return False
    (X1, Y1, _, w1), (X2, Y2, _, w2) = first, second
    if X1.shape != X2.shape or Y1.shape != Y2.shape or (w1 is None) != (w2 is None):
        return False
    if scipy.sparse.issparse(X1) != scipy.sparse.issparse(X2):
        return False
    same_x = ((X1 != X2).nnz == 0 if scipy.sparse.issparse(X1)
              else np.array_equal(X1, X2))
    return bool(same_x and np.array_equal(Y1, Y2) and (w1 is None or np.array_equal(w1, w2)))


class _TrainingLoop:
    """The stochastic and L-BFGS training of ``_BaseMLP`` (a mixin)."""

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
        early_stopping = self.early_stopping
        rows = None   # the rows trained on, when a validation part is held out of X
        if early_stopping and incremental:
            rows, validation = self._streaming_validation(X, Y, sample_weight, validation)
        elif early_stopping and validation is None:
            rows, held_out = self._split_validation(X, Y, sample_weight)
            validation = self._as_validation(held_out)
        if validation is not None:
            # a warm fit after one without validation, or a model loaded from a file
            for name in ("validation_scores_", "validation_loss_curve_"):
                if getattr(self, name, None) is None:
                    setattr(self, name, [])
        X = engine_ready(X, self._network.dtype)
        order = np.arange(X.shape[0], dtype=np.intp) if rows is None else rows
        n_samples = order.shape[0]
        batch_size = self._batch_size(n_samples)
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
        if early_stopping and incremental:
            self._end_streaming_call()
        elif early_stopping:
            network.params[...] = self._best_params

    def _streaming_validation(self, X, Y, sample_weight, validation):
        """``partial_fit`` with early stopping: the validation set of this call.

        One given to this call (``X_val``, ``y_val``) is used, and kept for the calls
        that give none; else the one kept; else, on the first call, ``validation_fraction``
        of this call's rows is held out (scikit-learn's split) and kept for every later
        call.  Returns the indices of the rows to train on (None: all) and the
        ``_Validation``."""
        kept = getattr(self, "_stream_validation", None)
        rows = None
        if validation is None and kept is None:
            rows, held_out = self._split_validation(X, Y, sample_weight)
        elif validation is not None:
            held_out = (validation.X_raw, validation.Y, validation.y, validation.w)
        else:
            held_out = kept
        if held_out is not kept and not _same_validation(held_out, kept):
            # scores on another validation set do not compare with the kept best one
            # (a fit's split, or an earlier set): a new window starts from these weights
            self._stream_validation = held_out
            self.best_validation_score_ = -np.inf
            self._best_params = self._network.params.copy()
            self._no_improvement_count = 0
        # early stopping switched on after calls without it: its curves start now
        for name in ("validation_scores_", "validation_loss_curve_"):
            if getattr(self, name, None) is None:
                setattr(self, name, [])
        return rows, self._as_validation(self._stream_validation)

    def _end_streaming_call(self):
        """After a ``partial_fit`` call with early stopping: when the validation score
        has not improved by ``tol`` for more than ``n_iter_no_change`` calls, restore the
        best call's coefficients, set ``stopped_early_`` and warn; the next call starts a
        new patience window."""
        self.stopped_early_ = self._no_improvement_count > self.n_iter_no_change
        if self.stopped_early_:
            self._network.params[...] = self._best_params
            self._no_improvement_count = 0
            warnings.warn(
                "Validation score did not improve more than tol=%f for %d consecutive "
                "partial_fit calls: the coefficients of the best call (validation score "
                "%f) are restored and stopped_early_ is True. The next call starts a new "
                "patience window." % (self.tol, self.n_iter_no_change,
                                      self.best_validation_score_), ConvergenceWarning)

    def _run_epochs(self, network, optimizer, X, Y, sample_weight, order, batch_size,
                    incremental, validation, tasks, dropout):
        """The epoch loop of ``_fit_stochastic``."""
        early_stopping = self.early_stopping
        n_samples = order.shape[0]
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:
                    order = shuffle(order, random_state=self._random_state)
                tasks.begin_subtask()
                try:
                    result = self._train_epoch(network, X, Y, optimizer, batch_size, order,
                                               sample_weight, dropout)
                except KeyboardInterrupt:
                    # the weights are those of the last finished batch
                    self.t_ += network.last_epoch_samples
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

    def _train_epoch(self, network, X, Y, optimizer, batch_size, order, sample_weight,
                     dropout):
        """One epoch: ``Network.train_epoch``, or, for a candidate a model search fits
        in a group (``cymlp._fit_groups``), the group's epoch."""
        group = self.__dict__.get("_epoch_group")
        if group is not None:
            return group.train_epoch(network, X, Y, optimizer, batch_size, order,
                                     sample_weight, self.alpha, dropout)
        return network.train_epoch(X, Y, optimizer, batch_size, order, sample_weight,
                                   self.alpha, checked=True, dropout=dropout[0],
                                   dropout_seed=dropout[1])

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
        data_loss = self._network.data_loss(validation.X, validation.Y, validation.w)
        score = self._score_validation(validation.X, validation.y, validation.w, data_loss)
        self.validation_scores_.append(score)
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
        X = engine_ready(X, network.dtype)
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
