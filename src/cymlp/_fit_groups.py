"""Fit several estimators side by side, their epochs trained together.

A model search hands ``fit_together`` the candidates of one fold that draw the same
batches (same data, hidden sizes, batch size, shuffling and seed).  Each candidate's
own ``fit`` runs unchanged in its own thread, with all its checks, warm-up, validation,
early stopping, callbacks and undo on failure; only its epochs are handed to the
calling thread, which waits until every candidate still fitting has asked for its next
epoch and then trains those epochs at once: one ``train_group_epoch`` per set of
candidates whose epochs match (same rows, targets, weights, order and batch size), a
candidate's own ``Network.train_epoch`` for any other.  A candidate that stops (early
stopping, ``max_iter``, an error) simply asks for no more epochs, and the others go on
without it.  The threads spend their time waiting; the work runs in compiled code
without the GIL.
"""
import copy
import sys
import threading

import numpy as np
import scipy.sparse
from sklearn import config_context, get_config

from cymlp._group_training import groupable, train_group_epoch
from cymlp._validation import CSRRows


class _Request:
    """One candidate's next epoch: what ``Network.train_epoch`` would be given."""

    def __init__(self, network, X, Y, optimizer, batch_size, order, sample_weight,
                 alpha, dropout):
        self.network = network
        self.X = X
        self.Y = Y
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.order = order
        self.sample_weight = sample_weight
        self.alpha = alpha
        self.dropout = dropout

    def groupable_input(self):
        """Whether this epoch can join a group at all (dense X, no dropout)."""
        return (self.dropout is None and not isinstance(self.X, CSRRows)
                and not scipy.sparse.issparse(self.X) and isinstance(self.X, np.ndarray))

    def same_batches(self, other, same_data):
        """Whether ``other`` trains on the same batches: the same rows of the same data,
        targets and weights, in the same order, cut the same way.  ``same_data`` keeps
        the verdicts on pairs of X arrays (each candidate keeps its X for its whole
        fit, so two candidates that converted the user's X each are compared once)."""
        if (self.batch_size != other.batch_size or self.X.shape != other.X.shape
                or self.X.dtype != other.X.dtype or self.Y.shape != other.Y.shape
                or (self.sample_weight is None) != (other.sample_weight is None)):
            return False
        same_x = self.X is other.X or (
            self.X.__array_interface__["data"][0] == other.X.__array_interface__["data"][0]
            and self.X.strides == other.X.strides)
        if not same_x:
            pair = (id(self.X), id(other.X))
            if pair not in same_data:
                # the verdict keeps both arrays alive, so their ids are not reused
                # while it is kept
                same_data[pair] = (np.array_equal(self.X, other.X), self.X, other.X)
            same_x = same_data[pair][0]
        return bool(same_x and np.array_equal(self.order, other.order)
                    and np.array_equal(self.Y, other.Y)
                    and (self.sample_weight is None
                         or np.array_equal(self.sample_weight, other.sample_weight)))


class EpochGroup:
    """The meeting point of the candidates of ``fit_together``: each candidate's
    ``train_epoch`` waits here while the calling thread trains the epochs."""

    def __init__(self, n_members):
        # the calling thread waits on _cond for requests; each member on its own event
        self._cond = threading.Condition()
        self._answered = [threading.Event() for _ in range(n_members)]
        self._fitting = n_members            # candidates whose fit has not ended
        self._requests = {}                  # member -> _Request
        self._results = {}                   # member -> EpochResult or an exception
        self._index = {}                     # thread ident -> member index
        self._interrupted = False
        self._same_data = {}                 # (id X, id X) -> (equal, X, X)

    def train_epoch(self, network, X, Y, optimizer, batch_size, order, sample_weight,
                    alpha, dropout):
        """A candidate's epoch (called in its thread by ``_TrainingLoop._train_epoch``):
        the result its own ``Network.train_epoch`` would return, or the exception it
        would raise.  ``dropout`` is ``(rates or None, seed)``; an epoch with dropout or
        a sparse X runs at once in the candidate's thread, alone."""
        request = _Request(network, X, Y, optimizer, batch_size, order, sample_weight,
                           alpha, dropout[0])
        if not request.groupable_input():
            return network.train_epoch(X, Y, optimizer, batch_size, order, sample_weight,
                                       alpha, checked=True, dropout=dropout[0],
                                       dropout_seed=dropout[1])
        member = self._index[threading.get_ident()]
        answered = self._answered[member]
        with self._cond:
            self._requests[member] = request
            self._cond.notify()
        answered.wait()
        answered.clear()
        with self._cond:
            result = self._results.pop(member)
        if isinstance(result, BaseException):
            raise result
        return result

    def _member_done(self):
        with self._cond:
            self._fitting -= 1
            self._cond.notify()

    def _next_requests(self):
        """Wait until every candidate still fitting has asked for an epoch; take the
        requests (empty once all have ended)."""
        with self._cond:
            while self._fitting > 0 and len(self._requests) < self._fitting:
                self._cond.wait()
            requests, self._requests = self._requests, {}
            return requests

    def _answer(self, results):
        with self._cond:
            self._results.update(results)
        for member in results:
            self._answered[member].set()

    def run(self):
        """Train the candidates' epochs until every candidate's fit has ended.

        Ctrl-C during an epoch ends that epoch for every candidate in it, as it ends
        one estimator's fit (each keeps the weights of its last finished batch and
        warns); candidates asking later are interrupted likewise."""
        requests = {}
        while True:
            try:
                requests = self._next_requests()
                if not requests:
                    return
                if self._interrupted:
                    results = {member: KeyboardInterrupt() for member in requests}
                else:
                    results = self._train(requests)
                self._answer(results)
                requests = {}
            except KeyboardInterrupt:
                # every epoch taken ends interrupted, so that no candidate waits for
                # an answer that will not come
                self._interrupted = True
                self._answer({member: KeyboardInterrupt() for member in requests})
                requests = {}

    def _sets(self, requests):
        """Cut the requests (member order) into sets that train on the same batches."""
        sets = []
        for member in sorted(requests):
            request = requests[member]
            for members in sets:
                first = requests[members[0]]
                if (request.groupable_input() and first.groupable_input()
                        and groupable([first.network, request.network])
                        and request.same_batches(first, self._same_data)):
                    members.append(member)
                    break
            else:
                sets.append([member])
        return sets

    def _train(self, requests):
        """Train the requested epochs; return each member's result or exception."""
        results = {}
        for members in self._sets(requests):
            batch = [requests[m] for m in members]
            if len(batch) == 1:
                r = batch[0]
                try:
                    results[members[0]] = r.network.train_epoch(
                        r.X, r.Y, r.optimizer, r.batch_size, r.order, r.sample_weight,
                        r.alpha, checked=True)
                except KeyboardInterrupt:
                    raise
                except Exception as exc:
                    results[members[0]] = exc
                continue
            first = batch[0]
            try:
                outcomes = train_group_epoch([r.network for r in batch], first.X, first.Y,
                                             [r.optimizer for r in batch], first.batch_size,
                                             first.order, first.sample_weight,
                                             [r.alpha for r in batch])
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                # one exception object each: each candidate's thread raises its own
                outcomes = [copy.copy(exc) for _ in batch]
            results.update(zip(members, outcomes))
        return results


def fit_together(estimators, fit):
    """Run ``fit(estimator)`` for each estimator in its own thread, with their epochs
    trained together (``EpochGroup``); return each one's outcome.

    Parameters
    ----------
    estimators : list of cymlp MLP estimators
        Fitted in place; each is given the group for the time of its fit.
    fit : callable
        ``fit(estimator)`` fits one estimator (and may score it); its return value is
        that estimator's outcome.

    Returns
    -------
    list of (bool, object)
        Per estimator, ``(True, fit's return value)`` or ``(False, exc_info)`` when
        ``fit`` raised (``sys.exc_info()`` of the exception).
    """
    group = EpochGroup(len(estimators))
    outcomes = [None] * len(estimators)
    config = get_config()   # scikit-learn's settings are per thread: the caller's hold

    def member(i, estimator):
        group._index[threading.get_ident()] = i
        try:
            with config_context(**config):
                outcomes[i] = (True, fit(estimator))
        except BaseException:
            outcomes[i] = (False, sys.exc_info())
        finally:
            estimator.__dict__.pop("_epoch_group", None)
            group._member_done()

    threads = []
    for i, estimator in enumerate(estimators):
        estimator._epoch_group = group
        thread = threading.Thread(target=member, args=(i, estimator),
                                  name="cymlp-candidate-%d" % i, daemon=True)
        threads.append(thread)
    for thread in threads:
        thread.start()
    try:
        group.run()
    finally:
        for thread in threads:
            thread.join()
    return outcomes
