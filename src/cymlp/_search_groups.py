"""Which candidates of a model search train together, and one (fold, group) task.

Candidates of a cymlp MLP train together when they draw the same batches: the same
hidden sizes (so the same number of initial draws before the shuffles), batch size,
shuffling and integer seed, the same early-stopping split and class weights, a
stochastic solver and no dropout (``batch_key``).  Everything else may differ from one
candidate to the next: learning rate and schedule, solver among sgd, adam and adamw,
L2 strength, activation, loss, momentum, betas, tolerance, patience, ``max_iter``.
Whether two candidates really draw the same batches is checked again at every epoch
(``cymlp._fit_groups``); these keys only decide which of them meet.

``fit_and_score_group`` is the task a search runs for one fold and one group: it splits
the fold once, fits the group's candidates together (``fit_together``) and scores
each as scikit-learn's ``_fit_and_score`` does, returning the same result records.
"""
import contextlib
import numbers
import time
from traceback import format_exc

import numpy as np
from sklearn.base import clone
from sklearn.metrics._scorer import _MultimetricScorer
from sklearn.model_selection._validation import _fit_and_score, _score
from sklearn.pipeline import Pipeline
from sklearn.utils.metaestimators import _safe_split
from sklearn.utils.validation import _check_method_params, _num_samples

from cymlp._fit_groups import fit_together
from cymlp._mlp_base import _BaseMLP

# The most candidates one group fits at once (each is a thread while it fits).
MAX_GROUP = 64
# Candidates train together only when one epoch of one of them is at least this many
# multiply-adds (rows x coefficients; about a millisecond on one core): each epoch of a
# group costs its members a hand-over between threads (~0.15 ms each, measured), which
# smaller epochs would not pay back.
MIN_EPOCH_WORK = 25_000_000


def batch_key(estimator, n_rows, n_features):
    """What fixes the batches ``estimator`` trains on, or None when it trains alone.

    Parameters
    ----------
    estimator : estimator
        A candidate, its parameters set.
    n_rows, n_features : int
        The training rows of a fold and the input width.

    Returns
    -------
    tuple or None
    """
    if not isinstance(estimator, _BaseMLP) or estimator.solver not in ("sgd", "adam",
                                                                        "adamw"):
        return None
    seed = estimator.random_state
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        return None
    dropout = estimator.dropout
    if dropout is not None and np.any(np.asarray(dropout, dtype=float) != 0):
        return None
    hidden = estimator.hidden_layer_sizes
    hidden = ((int(hidden),) if isinstance(hidden, numbers.Integral)
              else tuple(int(h) for h in np.ravel(hidden)))
    widths = (n_features,) + hidden
    n_coef = sum(a * b for a, b in zip(widths, widths[1:]))
    if not hidden or n_rows * n_coef < MIN_EPOCH_WORK:
        return None
    return (type(estimator), hidden, estimator.batch_size, bool(estimator.shuffle),
            int(seed), bool(estimator.early_stopping),
            estimator.validation_fraction if estimator.early_stopping else None,
            repr(getattr(estimator, "class_weight", None)))


def final_mlp(estimator):
    """The name of the last step when ``estimator`` is a ``Pipeline`` ending in a cymlp
    MLP (whose other steps are transformers), else None."""
    if not isinstance(estimator, Pipeline) or not estimator.steps:
        return None
    name, last = estimator.steps[-1]
    return name if isinstance(last, _BaseMLP) else None


def candidate_key(base_estimator, params, n_rows, n_features, pipelines=True):
    """``batch_key`` of one candidate: of the estimator with ``params`` set, or of a
    pipeline's final MLP when ``params`` set that step's parameters only (its other
    steps are then the same for every such candidate, and fitted once per fold);
    None when the candidate trains alone.  With ``pipelines`` False a pipeline's
    candidates train alone (a search with callbacks, which propagate through the
    pipeline's own ``fit``, or with fit parameters, which its steps route)."""
    estimator = clone(base_estimator).set_params(**clone(params, safe=False))
    last = final_mlp(estimator)
    if last is None:
        return batch_key(estimator, n_rows, n_features)
    if not pipelines or not all(name.startswith(last + "__") for name in params):
        return None
    key = batch_key(estimator.steps[-1][1], n_rows, n_features)
    return None if key is None else ("pipeline",) + key


def plan_groups(base_estimator, candidate_params, n_rows, n_features, n_splits=1,
                n_workers=1, pipelines=True):
    """Cut the candidates into groups that train together.

    Parameters
    ----------
    base_estimator : estimator
    candidate_params : list of dict
    n_rows, n_features : int
        The training rows of a fold and the input width.
    n_splits : int, default=1
        The folds: each (fold, group) is one task.
    n_workers : int, default=1
        The search's workers (``n_jobs``): groups are cut in parts (of at least two
        candidates) until there are about two tasks per worker.
    pipelines : bool, default=True
        Whether a pipeline's candidates may train together (see ``candidate_key``).

    Returns
    -------
    list of list of int
        Candidate indices, in order within each group; a candidate that trains alone
        is a group of one.  Groups are listed by their first candidate.
    """
    by_key = {}
    groups = []
    for index, params in enumerate(candidate_params):
        try:
            key = candidate_key(base_estimator, params, n_rows, n_features, pipelines)
        except Exception:   # invalid parameters: the candidate's own fit reports them
            key = None
        group = by_key.get(key) if key is not None else None
        if group is None or len(group) >= MAX_GROUP:
            group = []
            groups.append(group)
            if key is not None:
                by_key[key] = group
        group.append(index)
    while len(groups) * n_splits < 2 * n_workers:
        largest = max(groups, key=len)
        if len(largest) < 4:
            break
        at = groups.index(largest)
        half = (len(largest) + 1) // 2
        groups[at:at + 1] = [largest[:half], largest[half:]]
    return groups


def _error_scores(scorer, error_score, return_train_score):
    """The test (and train) scores of a candidate whose fit failed."""
    if isinstance(scorer, _MultimetricScorer):
        test_scores = {name: error_score for name in scorer._scorers}
        return test_scores, test_scores.copy() if return_train_score else None
    return error_score, error_score if return_train_score else None


def _fit_and_score_member(estimator, fold, fit_params, score_params, scorer,
                          return_train_score, error_score, callback_ctx, caller,
                          prepared=None):
    """``_fit_and_score`` for one candidate of a group, on the fold's split data
    (called in the candidate's thread); returns its result record.

    ``prepared`` is, for a pipeline, ``(final step, transformed training rows, seconds
    the fold's preprocessing took)``: the steps before the last are fitted already,
    and only the last is fitted here."""
    X_train, y_train, X_test, y_test = fold
    score_train, score_test = score_params
    sample_weight = fit_params.get("sample_weight")
    metadata = None if sample_weight is None else {"sample_weight": sample_weight}
    result = {}
    start = time.time() - (prepared[2] if prepared is not None else 0.0)
    train_scores = None
    try:
        with (callback_ctx.propagate_callback_context(estimator) if callback_ctx is not None
              else contextlib.nullcontext()):
            if callback_ctx is not None:
                callback_ctx.call_on_fit_task_begin(estimator=caller, X=X_train,
                                                    y=y_train, metadata=metadata)
            if prepared is None:
                estimator.fit(X_train, y_train, **fit_params)
            else:
                prepared[0].fit(prepared[1], y_train)
    except Exception:
        fit_time, score_time = time.time() - start, 0.0
        if error_score == "raise":
            raise
        test_scores, train_scores = _error_scores(scorer, error_score, return_train_score)
        result["fit_error"] = format_exc()
    else:
        result["fit_error"] = None
        fit_time = time.time() - start
        test_scores = _score(estimator, X_test, y_test, scorer, score_test, error_score)
        score_time = time.time() - start - fit_time
        if return_train_score:
            train_scores = _score(estimator, X_train, y_train, scorer, score_train,
                                  error_score)
    finally:
        if callback_ctx is not None:
            callback_ctx.call_on_fit_task_end(estimator=caller, X=X_train, y=y_train,
                                              metadata=metadata)
    result["test_scores"] = test_scores
    if return_train_score:
        result["train_scores"] = train_scores
    result["n_test_samples"] = _num_samples(X_test)
    result["fit_time"] = fit_time
    result["score_time"] = score_time
    return result


def _report(verbose, split_progress, candidate_progress, parameters, result,
            return_train_score):
    """scikit-learn's ``[CV] END`` line for a candidate (``verbose`` > 1)."""
    if verbose <= 1:
        return
    progress = ""
    if verbose > 2:
        progress = " %d/%d" % (split_progress[0] + 1, split_progress[1])
        if verbose > 9:
            progress += "; %d/%d" % (candidate_progress[0] + 1, candidate_progress[1])
    message = ", ".join("%s=%s" % (k, parameters[k]) for k in sorted(parameters))
    message += ";" if message else ""
    if verbose > 2:
        test = result["test_scores"]
        train = result.get("train_scores")
        if isinstance(test, dict):
            for name in sorted(test):
                message += " %s: (" % name
                if return_train_score:
                    message += "train=%.3f, " % train[name]
                message += "test=%.3f)" % test[name]
        elif return_train_score:
            message += ", score=(train=%.3f, test=%.3f)" % (train, test)
        else:
            message += ", score=%.3f" % test
    message += " total time=%6.1fs" % (result["fit_time"] + result["score_time"])
    start = "[CV%s] END " % progress
    print(start + "." * max(0, 80 - len(start) - len(message)) + message)


def _prepared_pipelines(estimators, X_train, y_train):
    """For pipelines ending in a cymlp MLP whose candidates differ in that step only:
    fit the steps before it once on the fold, give every candidate those fitted steps,
    and return ``{id(candidate): (its last step, the transformed training rows, the
    seconds that took)}``; an empty dict for other estimators."""
    if final_mlp(estimators[0]) is None:
        return {}
    start = time.time()
    preprocessing = estimators[0][:-1]
    X_fit = preprocessing.fit_transform(X_train, y_train)
    seconds = time.time() - start
    prepared = {}
    for estimator in estimators:
        estimator.steps = list(preprocessing.steps) + [estimator.steps[-1]]
        prepared[id(estimator)] = (estimator.steps[-1][1], X_fit, seconds)
    return prepared


def fit_and_score_group(base_estimator, X, y, *, train, test, candidates, scorer,
                        fit_params, score_params, return_train_score, error_score,
                        verbose, split_progress, n_candidates, caller, contexts):
    """Fit and score the candidates of one group on one fold.

    Parameters
    ----------
    base_estimator : estimator
        Cloned for each candidate.
    X, y : the search's data
    train, test : ndarray of int
        The fold's rows.
    candidates : list of (int, dict)
        Each candidate's index and parameters.
    scorer, fit_params, score_params, return_train_score, error_score, verbose :
        as scikit-learn's ``_fit_and_score`` takes them.
    split_progress : (int, int)
        The fold's index and the number of folds.
    n_candidates : int
    caller : the search estimator (for callbacks)
    contexts : list
        Each candidate's callback context on this fold, or None.

    Returns
    -------
    list of dict
        Each candidate's result record, as ``_fit_and_score`` returns it with
        ``return_n_test_samples`` and ``return_times``; ``fit_time`` is the wall time
        of the candidate's fit, which ran beside its group's others.
    """
    def alone(index, parameters, context):
        """scikit-learn's own fit and score of one candidate."""
        return _fit_and_score(clone(base_estimator), X, y, scorer=scorer, train=train,
                              test=test, verbose=verbose, parameters=parameters,
                              fit_params=fit_params, score_params=score_params,
                              return_train_score=return_train_score,
                              return_n_test_samples=True, return_times=True,
                              error_score=error_score, split_progress=split_progress,
                              candidate_progress=(index, n_candidates), caller=caller,
                              callback_ctx=context)

    if len(candidates) == 1:
        return [alone(*candidates[0], contexts[0])]
    group_fit_params = _check_method_params(X, params=fit_params or {}, indices=train)
    split_scores = (_check_method_params(X, params=score_params or {}, indices=train),
                    _check_method_params(X, params=score_params or {}, indices=test))
    estimators = [clone(base_estimator).set_params(**clone(parameters, safe=False))
                  for _, parameters in candidates]
    data = np.asarray(X) if isinstance(X, (list, tuple)) else X   # one array, not one each
    X_train, y_train = _safe_split(estimators[0], data, y, train)
    X_test, y_test = _safe_split(estimators[0], data, y, test, train)
    fold = (X_train, y_train, X_test, y_test)
    try:
        prepared = _prepared_pipelines(estimators, X_train, y_train)
    except Exception:
        # a pipeline's steps fail on this fold: each candidate fails as scikit-learn's
        # search lets it fail (its error_score, or the error itself)
        return [alone(index, parameters, context)
                for (index, parameters), context in zip(candidates, contexts)]
    contexts = dict(zip(map(id, estimators), contexts))
    # the model each thread fits (a pipeline's last step) -> the candidate it belongs to
    owners = {id(prepared[id(e)][0] if prepared else e): e for e in estimators}
    outcomes = fit_together(
        [prepared[id(e)][0] if prepared else e for e in estimators],
        lambda model: _fit_and_score_member(
            owners[id(model)], fold, group_fit_params, split_scores, scorer,
            return_train_score, error_score, contexts[id(owners[id(model)])], caller,
            prepared.get(id(owners[id(model)]))))
    results = []
    for (index, parameters), (ok, value) in zip(candidates, outcomes):
        if not ok:
            raise value[1].with_traceback(value[2])
        _report(verbose, split_progress, (index, n_candidates), parameters, value,
                return_train_score)
        results.append(value)
    return results
