"""Model search whose candidates train together: ``GridSearchCV`` and
``RandomizedSearchCV``.

Drop-ins for scikit-learn's classes of the same names (same parameters, attributes,
``cv_results_``, ``best_*``, refit, scoring, callbacks).  For a cymlp ``MLPClassifier``
or ``MLPRegressor``, the candidates of one fold that draw the same batches (same hidden
sizes, batch size, shuffling and integer ``random_state``, early-stopping split and
class weights; a stochastic solver and no dropout) are fitted together: every batch is
gathered once and each epoch runs for the whole group in compiled code, the first
layer's product and weight gradient as one matrix product over the group's stacked
weights, every other step per candidate with its own optimizer, schedule, penalty,
activation, loss and stopping rule.  A candidate that stops early leaves its group.  A
``Pipeline`` ending in such an MLP groups its candidates too when they differ in that
step only: its other steps are fitted once per fold.
Each (fold, group) is one task of ``n_jobs`` (joblib, so Dask and Ray backends spread a
search over a cluster as scikit-learn's do).  Any other candidate, and any other
estimator, is fitted and scored by scikit-learn's own per-candidate code.

The results equal those of scikit-learn's search over the same estimator to the
rounding of the first layer's products (``docs/model_search.md`` gives the tolerances).
"""
import re
import time
from collections import defaultdict
from itertools import product

from joblib import effective_n_jobs
from sklearn.base import _fit_context, clone, is_classifier
from sklearn.metrics._scorer import _MultimetricScorer
from sklearn.model_selection import GridSearchCV as _SklearnGridSearchCV
from sklearn.model_selection import RandomizedSearchCV as _SklearnRandomizedSearchCV
from sklearn.model_selection._search import (_insert_error_scores,
                                             _warn_or_raise_about_fit_failures)
from sklearn.model_selection._split import check_cv
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_method_params, _num_samples, indexable

from cymlp._search_groups import fit_and_score_group, plan_groups

_SEARCH_NOTE = """
    cymlp trains the candidates of a cymlp ``MLPClassifier`` or ``MLPRegressor`` (or of
    a pipeline ending in one) that draw the same batches together, one fold at a time
    (see ``cymlp.model_selection``); any other estimator is searched exactly as
    scikit-learn searches it.  A candidate's
    ``fit_time`` in ``cv_results_`` is the wall time of its fit, which ran beside the
    rest of its group.
"""


def _n_features(X):
    """The input width of X (0 when it has no second dimension)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2:
        return int(shape[1])
    try:
        return len(X[0])
    except Exception:
        return 0


class _GroupedSearch:
    """The ``fit`` of scikit-learn's ``BaseSearchCV`` (scikit-learn 1.9), with the
    candidates of each fold fitted in groups (``fit_and_score_group``)."""

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **params):
        """Run fit with all sets of parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training vectors.
        y : array-like of shape (n_samples, n_output) or (n_samples,), default=None
            Target relative to X for classification or regression.
        **params : dict of str -> object
            Parameters passed to the ``fit`` method of the estimator, the scorer and
            the CV splitter (as in scikit-learn).

        Returns
        -------
        object
            The fitted search (self).
        """
        if not hasattr(self, "_init_callback_context"):
            # a scikit-learn before 1.9 (no callbacks): its own search, candidate by
            # candidate
            return super().fit.__wrapped__(self, X, y, **params)
        return self._fit_grouped(X, y, **params)

    @property
    def n_features_in_(self):
        """Number of features seen during fit (``best_estimator_``'s)."""
        return super().n_features_in_

    def _fit_grouped(self, X, y, **params):
        scorers, refit_metric = self._get_scorers()
        X, y = indexable(X, y)
        params = _check_method_params(X, params=params)
        routed_params = self._get_routed_params_for_fit(params)
        sample_weight = params.get("sample_weight")
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        root_ctx = self._init_callback_context(
            max_subtasks=1 + (self.refit is not False)
        ).call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
        self._checked_cv_orig = check_cv(self.cv, y,
                                         classifier=is_classifier(self.estimator))
        self._check_input_parameters(X=X, y=y, split_params=routed_params.splitter.split)
        self.n_splits_ = self._checked_cv_orig.get_n_splits(
            X, y, **routed_params.splitter.split)
        base_estimator = clone(self.estimator)
        task_kwargs = dict(scorer=scorers, fit_params=routed_params.estimator.fit,
                           score_params=routed_params.scorer.score,
                           return_train_score=self.return_train_score,
                           error_score=self.error_score, verbose=self.verbose,
                           caller=self)
        results = {}
        all_candidate_params, all_out = [], []
        all_more_results = defaultdict(list)
        parallel = Parallel(n_jobs=self.n_jobs, pre_dispatch=self.pre_dispatch)
        with parallel:

            def evaluate_candidates(candidate_params, cv=None, more_results=None,
                                    callback_ctx=None):
                nonlocal results
                candidate_params = list(candidate_params)   # drawn once (a sampler)
                out = self._evaluate_in_groups(
                    parallel, base_estimator, X, y, candidate_params,
                    cv or self._checked_cv_orig, routed_params, callback_ctx,
                    task_kwargs)
                all_candidate_params.extend(candidate_params)
                all_out.extend(out)
                if more_results is not None:
                    for key, value in more_results.items():
                        all_more_results[key].extend(value)
                results = self._format_results(all_candidate_params, self.n_splits_,
                                               all_out, all_more_results)
                return results

            self._run_search(evaluate_candidates, callback_ctx=root_ctx)
            first_test_score = all_out[0]["test_scores"]
            self.multimetric_ = isinstance(first_test_score, dict)
            if callable(self.scoring) and self.multimetric_:
                self._check_refit_for_multimetric(first_test_score)
                refit_metric = self.refit

        if self.refit or not self.multimetric_:
            self.best_index_ = self._select_best_index(self.refit, refit_metric, results)
            if not callable(self.refit):
                self.best_score_ = results[f"mean_test_{refit_metric}"][self.best_index_]
            self.best_params_ = results["params"][self.best_index_]
        if self.refit:
            self._refit_best(base_estimator, X, y, routed_params, root_ctx, metadata)
        self.scorer_ = (scorers._scorers if isinstance(scorers, _MultimetricScorer)
                        else scorers)
        self.cv_results_ = results
        root_ctx.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata)
        return self

    def _evaluate_in_groups(self, parallel, base_estimator, X, y, candidate_params, cv,
                            routed_params, callback_ctx, task_kwargs):
        """Fit and score every candidate on every fold, one task per (fold, group);
        return the result records in scikit-learn's order (candidate-major)."""
        n_candidates, n_splits = len(candidate_params), self.n_splits_
        cv_splits = list(cv.split(X, y, **routed_params.splitter.split))
        if len(cv_splits) != n_splits:
            raise ValueError("cv.split and cv.get_n_splits return inconsistent results. "
                             f"Expected {n_splits} splits, got {len(cv_splits)}")
        if self.verbose > 0:
            print("Fitting {0} folds for each of {1} candidates, totalling {2} fits"
                  .format(n_splits, n_candidates, n_candidates * n_splits))
        # the callback subcontexts, made ahead as scikit-learn makes them (task ids in
        # its candidate-major order)
        contexts = [None] * (n_candidates * n_splits)
        if callback_ctx is not None:
            contexts = [callback_ctx.subcontext(task_name="candidate-split-evaluation",
                                                task_id=task_id)
                        for task_id in range(n_candidates * n_splits)]
        n_train = max((_num_samples(train) for train, _ in cv_splits), default=0)
        # a pipeline's steps are fitted once per fold for a group: not with callbacks
        # (they reach the steps through the pipeline's own fit) or fit parameters
        pipelines = (not getattr(self, "_skl_callbacks", None)
                     and not task_kwargs["fit_params"])
        groups = plan_groups(base_estimator, candidate_params, n_train, _n_features(X),
                             n_splits, effective_n_jobs(self.n_jobs), pipelines)
        together = [len(group) for group in groups if len(group) > 1]
        if self.verbose > 0 and together:
            print("cymlp trains %d of them together, in groups of %s, one task per fold "
                  "and group" % (sum(together), ", ".join(map(str, together))))
        tasks = list(product(enumerate(cv_splits), groups))
        outputs = parallel(
            delayed(fit_and_score_group)(
                base_estimator, X, y, train=train, test=test,
                candidates=[(c, candidate_params[c]) for c in group],
                split_progress=(split_index, n_splits), n_candidates=n_candidates,
                contexts=[contexts[c * n_splits + split_index] for c in group],
                **task_kwargs)
            for (split_index, (train, test)), group in tasks)
        out = [None] * (n_candidates * n_splits)
        for ((split_index, _), group), records in zip(tasks, outputs):
            for candidate, record in zip(group, records):
                out[candidate * n_splits + split_index] = record
        if not out:
            raise ValueError("No fits were performed. Was the CV iterator empty? Were "
                             "there no candidates?")
        _warn_or_raise_about_fit_failures(out, self.error_score)
        if callable(self.scoring):
            _insert_error_scores(out, self.error_score)
        return out

    def _refit_best(self, base_estimator, X, y, routed_params, root_ctx, metadata):
        """Refit the best candidate on all of X (as scikit-learn's search does)."""
        self.best_estimator_ = clone(base_estimator).set_params(
            **clone(self.best_params_, safe=False))
        refit_ctx = root_ctx.subcontext(task_name="refit-with-best-params")
        with refit_ctx.propagate_callback_context(self.best_estimator_):
            refit_ctx.call_on_fit_task_begin(estimator=self, X=X, y=y, metadata=metadata)
            start = time.time()
            if y is not None:
                self.best_estimator_.fit(X, y, **routed_params.estimator.fit)
            else:
                self.best_estimator_.fit(X, **routed_params.estimator.fit)
            self.refit_time_ = time.time() - start
        if hasattr(self.best_estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.best_estimator_.feature_names_in_
        refit_ctx.call_on_fit_task_end(estimator=self, X=X, y=y, metadata=metadata)


_EXAMPLE = """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from cymlp import MLPClassifier
    >>> from cymlp.model_selection import {name}
    >>> X, y = load_digits(return_X_y=True)
    >>> search = {name}(MLPClassifier((32,), max_iter=15, random_state=0),
    ...     {{"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2]}}{extra},
    ...     cv=3).fit(X / 16, y)
    >>> sorted(search.best_params_)
    ['alpha', 'learning_rate_init']
    >>> round(float(search.best_score_), 1)
    0.9
"""


def _adapted_doc(sklearn_class, extra=""):
    """scikit-learn's docstring of ``sklearn_class`` with cymlp's note after its summary,
    its cross-references to scikit-learn's user guide and glossary as plain words, and
    a cymlp example."""
    doc = sklearn_class.__doc__
    summary, rest = doc.split("\n", 1)
    rest = re.sub(r":(?:ref|term):`([^`<]*?)\s*<[^`>]*>`", r"\1", rest)
    rest = re.sub(r":(?:ref|term):`([^`]*)`", r"\1", rest)
    rest = rest[:rest.index("    Examples\n    --------")]
    doc = (summary + "\n" + _SEARCH_NOTE + rest.rstrip() + "\n"
           + _EXAMPLE.format(name=sklearn_class.__name__, extra=extra))
    return re.sub(r"\n(?:[ ]*\n){2,}", "\n\n", doc)


class GridSearchCV(_GroupedSearch, _SklearnGridSearchCV):
    __doc__ = _adapted_doc(_SklearnGridSearchCV)


class RandomizedSearchCV(_GroupedSearch, _SklearnRandomizedSearchCV):
    __doc__ = _adapted_doc(_SklearnRandomizedSearchCV, extra=", n_iter=4")


__all__ = ["GridSearchCV", "RandomizedSearchCV"]
