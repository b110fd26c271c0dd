"""``cymlp.model_selection`` (issue 27): the grouped search gives scikit-learn's
search results, candidate by candidate, in float64 and float32, with candidates that
stop early, diverge or train alone; and it behaves as scikit-learn's search does."""
import pickle
import warnings

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import FitFailedWarning
from sklearn.model_selection import GridSearchCV as SklearnGridSearchCV
from sklearn.model_selection import RandomizedSearchCV as SklearnRandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cymlp._fit_groups
import cymlp._search_groups
from cymlp import MLPClassifier, MLPRegressor
from cymlp._search_groups import MIN_EPOCH_WORK, plan_groups
from cymlp.model_selection import GridSearchCV, RandomizedSearchCV

# Coefficients of a candidate equal scikit-learn's search's to these relative
# tolerances (the first layer's products are summed in another order); scores to
# SCORE_TOLERANCE (a prediction may flip on a float32 tie).
COEF_TOLERANCE = {np.float64: 1e-9, np.float32: 1e-3}
SCORE_TOLERANCE = {np.float64: 1e-12, np.float32: 2e-3}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        warnings.simplefilter("ignore", category=FitFailedWarning)
        yield


@pytest.fixture
def group_every_size(monkeypatch):
    """Group candidates on the small data of these tests, and count group epochs."""
    monkeypatch.setattr(cymlp._search_groups, "MIN_EPOCH_WORK", 0)
    calls = []
    real = cymlp._fit_groups.train_group_epoch

    def counted(networks, *args, **kwargs):
        calls.append(len(networks))
        return real(networks, *args, **kwargs)

    monkeypatch.setattr(cymlp._fit_groups, "train_group_epoch", counted)
    return calls


def _digits(dtype):
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(dtype)[:900], y[:900]


class _Recorder:
    """A scorer that keeps each scored candidate's coefficients, by its parameters and
    the test rows."""

    def __init__(self, keys):
        self.keys = keys
        self.coefs = {}

    def __call__(self, estimator, X, y):
        params = estimator.get_params()
        key = (tuple(repr(params[k]) for k in self.keys), hash(np.asarray(X).tobytes()))
        self.coefs[key] = (np.concatenate([c.ravel() for c in estimator.coefs_]),
                           estimator.n_iter_)
        return estimator.score(X, y)


def _compare(ours, theirs, dtype, keys=("mean_test_score", "std_test_score")):
    assert ours.best_params_ == theirs.best_params_
    for key in keys:
        np.testing.assert_allclose(ours.cv_results_[key], theirs.cv_results_[key],
                                   rtol=SCORE_TOLERANCE[dtype], atol=SCORE_TOLERANCE[dtype])
    assert list(ours.cv_results_["params"]) == list(theirs.cv_results_["params"])
    assert sorted(ours.cv_results_) == sorted(theirs.cv_results_)


def _compare_coefs(ours, theirs, dtype):
    assert ours.coefs.keys() == theirs.coefs.keys()
    for key, (coef, n_iter) in theirs.coefs.items():
        mine, my_n_iter = ours.coefs[key]
        assert my_n_iter == n_iter, key
        scale = np.abs(coef).max()
        assert np.abs(mine - coef).max() <= COEF_TOLERANCE[dtype] * scale, key


GRID = [
    # one group: learning rates, penalties, activations, solvers, schedules and
    # patience differ; two stop early (tol), at different epochs
    {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2],
     "activation": ["relu", "tanh"]},
    {"solver": ["sgd"], "learning_rate": ["constant", "invscaling", "adaptive"],
     "momentum": [0.9], "learning_rate_init": [0.05]},
    {"solver": ["adamw"], "weight_decay": [0.01], "learning_rate": ["cosine", "step"]},
    {"tol": [0.02, 0.05], "n_iter_no_change": [2], "learning_rate_init": [0.01]},
    # early stopping: a group of its own (its own split), patience differs
    {"early_stopping": [True], "n_iter_no_change": [2, 4], "tol": [1e-3]},
    # alone: another hidden size, dropout, lbfgs
    {"hidden_layer_sizes": [(24,)]},
    {"dropout": [0.2]},
    {"solver": ["lbfgs"]},
]
KEYS = ("alpha", "learning_rate_init", "activation", "solver", "learning_rate",
        "weight_decay", "tol", "n_iter_no_change", "early_stopping", "hidden_layer_sizes",
        "dropout")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_grid_search_equals_scikit_learns_candidate_by_candidate(dtype, group_every_size):
    X, y = _digits(dtype)
    base = MLPClassifier((32, 16), max_iter=12, random_state=0, batch_size=64)
    ours_scorer, theirs_scorer = _Recorder(KEYS), _Recorder(KEYS)
    ours = GridSearchCV(base, GRID, cv=3, scoring=ours_scorer).fit(X, y)
    assert group_every_size, "no candidates were trained together"
    assert max(group_every_size) == 15    # 8 + 3 + 2 + 2 in the first group
    theirs = SklearnGridSearchCV(base, GRID, cv=3, scoring=theirs_scorer).fit(X, y)
    _compare(ours, theirs, dtype)
    _compare_coefs(ours_scorer, theirs_scorer, dtype)
    # candidates that stopped early did so at their own epochs
    n_iters = {n for _, n in ours_scorer.coefs.values()}
    assert min(n_iters) < 12 and 12 in n_iters
    np.testing.assert_allclose(ours.best_estimator_.coefs_[0],
                               theirs.best_estimator_.coefs_[0])


def test_randomized_search_equals_scikit_learns(group_every_size):
    X, y = _digits(np.float64)
    base = MLPClassifier((32,), max_iter=8, random_state=3)
    distributions = {"alpha": loguniform(1e-5, 1e-1), "learning_rate_init":
                     loguniform(1e-4, 1e-2), "activation": ["relu", "tanh", "gelu"]}
    ours = RandomizedSearchCV(base, distributions, n_iter=6, cv=3, random_state=0,
                              return_train_score=True).fit(X, y)
    theirs = SklearnRandomizedSearchCV(base, distributions, n_iter=6, cv=3,
                                       random_state=0, return_train_score=True).fit(X, y)
    assert group_every_size
    _compare(ours, theirs, np.float64, keys=("mean_test_score", "mean_train_score",
                                             "split0_test_score", "rank_test_score"))


def test_regressor_losses_multimetric_and_sample_weight(group_every_size):
    X, y = make_regression(n_samples=600, n_features=12, noise=5.0, random_state=0)
    y = y / y.std()
    w = np.random.default_rng(0).uniform(0.5, 2.0, y.shape[0])
    base = MLPRegressor((16, 8), max_iter=10, random_state=1)
    grid = {"loss": ["squared_error", "huber", "absolute_error", "quantile"],
            "alpha": [1e-4, 1e-1]}
    scoring = {"r2": "r2", "mae": "neg_mean_absolute_error"}
    ours = GridSearchCV(base, grid, cv=3, scoring=scoring, refit="mae").fit(
        X, y, sample_weight=w)
    theirs = SklearnGridSearchCV(base, grid, cv=3, scoring=scoring, refit="mae").fit(
        X, y, sample_weight=w)
    assert group_every_size
    _compare(ours, theirs, np.float64, keys=("mean_test_r2", "mean_test_mae",
                                             "rank_test_mae"))
    np.testing.assert_allclose(ours.predict(X[:20]), theirs.predict(X[:20]))


def test_a_diverging_candidate_gets_its_error_score_and_spares_the_others(
        group_every_size):
    X, y = _digits(np.float64)
    X = X * 40
    base = MLPClassifier((32, 16), max_iter=6, random_state=0, solver="sgd",
                         momentum=0.9)
    grid = {"learning_rate_init": [1e-3, 1e6, 1e-2]}
    ours_scorer, theirs_scorer = _Recorder(("learning_rate_init",)), _Recorder(
        ("learning_rate_init",))
    with pytest.warns(FitFailedWarning):
        ours = GridSearchCV(base, grid, cv=3, error_score=-1.0,
                            scoring=ours_scorer).fit(X, y)
    theirs = SklearnGridSearchCV(base, grid, cv=3, error_score=-1.0,
                                 scoring=theirs_scorer).fit(X, y)
    assert group_every_size and max(group_every_size) == 3
    assert list(ours.cv_results_["mean_test_score"][[1]]) == [-1.0]
    _compare(ours, theirs, np.float64, keys=("mean_test_score", "split1_test_score"))
    _compare_coefs(ours_scorer, theirs_scorer, np.float64)
    with pytest.raises(ValueError, match="NaN or infinite"):
        GridSearchCV(base, grid, cv=3, error_score="raise").fit(X, y)
    # with early stopping a diverged epoch ends that candidate's training instead
    stopping = GridSearchCV(base.set_params(early_stopping=True), grid, cv=3).fit(X, y)
    assert np.isfinite(stopping.cv_results_["mean_test_score"]).all()


def test_ctrl_c_ends_the_groups_epoch_as_it_ends_one_fit(group_every_size, monkeypatch):
    X, y = _digits(np.float64)
    real = cymlp._fit_groups.train_group_epoch
    epochs = []

    def interrupted(networks, *args, **kwargs):
        epochs.append(1)
        if len(epochs) == 3:
            raise KeyboardInterrupt
        return real(networks, *args, **kwargs)

    monkeypatch.setattr(cymlp._fit_groups, "train_group_epoch", interrupted)
    base = MLPClassifier((32,), max_iter=10, random_state=0)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        search = GridSearchCV(base, {"alpha": [1e-4, 1e-3, 1e-2]}, cv=2).fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_runs_agree_bit_for_bit_and_across_joblib_backends(group_every_size):
    X, y = _digits(np.float32)
    base = MLPClassifier((32, 16), max_iter=8, random_state=0)
    grid = {"alpha": [1e-4, 1e-3, 1e-2, 1e-1], "learning_rate_init": [1e-2, 3e-2]}
    first = GridSearchCV(base, grid, cv=3).fit(X, y)
    again = GridSearchCV(base, grid, cv=3).fit(X, y)
    np.testing.assert_array_equal(first.cv_results_["mean_test_score"],
                                  again.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(first.best_estimator_.coefs_[0],
                                  again.best_estimator_.coefs_[0])
    threads = GridSearchCV(base, grid, cv=3, n_jobs=2, pre_dispatch="all")
    from joblib import parallel_backend
    with parallel_backend("threading", n_jobs=2):
        threads.fit(X, y)
    processes = GridSearchCV(base, grid, cv=3, n_jobs=2).fit(X, y)
    # two workers cut the group in two, so the stacks (and their rounding) differ: a
    # float32 prediction or two of a fold may flip (each 1/300 of a fold's score)
    for other in (threads, processes):
        np.testing.assert_allclose(other.cv_results_["mean_test_score"],
                                   first.cv_results_["mean_test_score"], atol=8e-3)


def test_what_trains_alone():
    base = MLPClassifier((64,), random_state=0)
    rows = MIN_EPOCH_WORK // (30 * 32) + 1   # enough work for 32 units and more
    plans = {
        "one group": ([{"alpha": a} for a in (1e-4, 1e-3, 1e-2)], [[0, 1, 2]]),
        "no seed": ([{"random_state": None}, {"random_state": None}], [[0], [1]]),
        "lbfgs": ([{}, {"solver": "lbfgs"}, {}], [[0, 2], [1]]),
        "dropout": ([{}, {"dropout": 0.1}, {"dropout": 0.0}], [[0, 2], [1]]),
        "sizes": ([{}, {"hidden_layer_sizes": (32,)}, {}, {"hidden_layer_sizes": (32,)}],
                  [[0, 2], [1, 3]]),
        "batches": ([{}, {"batch_size": 32}, {"shuffle": False}, {"random_state": 1}],
                    [[0], [1], [2], [3]]),
        "bad": ([{}, {"hidden_layer_sizes": "x"}], [[0], [1]]),
    }
    for name, (candidates, groups) in plans.items():
        assert plan_groups(base, candidates, rows, 30) == groups, name
    # too little work per epoch to pay for the hand-over: alone
    assert plan_groups(base, plans["one group"][0], 10, 30) == [[0], [1], [2]]
    # other estimators are searched candidate by candidate
    assert plan_groups(StandardScaler(), [{}, {}], rows, 30) == [[0], [1]]
    # with workers to feed, a group is cut in parts of at least two
    eight = [{"alpha": 10.0 ** -k} for k in range(8)]
    assert plan_groups(base, eight, rows, 30, n_splits=1, n_workers=2) == [
        [0, 1], [2, 3], [4, 5], [6, 7]]
    assert plan_groups(base, eight, rows, 30, n_splits=3, n_workers=2) == [
        [0, 1, 2, 3], [4, 5, 6, 7]]


def test_a_pipeline_ending_in_an_mlp_trains_its_candidates_together(group_every_size):
    X, y = _digits(np.float64)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((16,), max_iter=5, random_state=0))
    grid = {"mlpclassifier__alpha": [1e-4, 1e-2], "mlpclassifier__activation":
            ["relu", "tanh"]}
    ours = GridSearchCV(pipe, grid, cv=2, return_train_score=True).fit(X, y)
    theirs = SklearnGridSearchCV(pipe, grid, cv=2, return_train_score=True).fit(X, y)
    assert group_every_size == [4] * 10     # 2 folds x 5 epochs, the scaler fitted once
    _compare(ours, theirs, np.float64, keys=("mean_test_score", "mean_train_score"))
    np.testing.assert_allclose(ours.best_estimator_[-1].coefs_[0],
                               theirs.best_estimator_[-1].coefs_[0])
    # a grid that changes another step: each candidate fits its own pipeline
    del group_every_size[:]
    grid = {"standardscaler__with_mean": [True, False], "mlpclassifier__alpha": [1e-4]}
    ours = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    theirs = SklearnGridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert not group_every_size
    _compare(ours, theirs, np.float64)


def test_what_trains_alone_in_a_pipeline():
    pipe = make_pipeline(StandardScaler(), MLPClassifier((64,), random_state=0))
    rows = MIN_EPOCH_WORK // (30 * 64) + 1
    two = [{"mlpclassifier__alpha": 1e-4}, {"mlpclassifier__alpha": 1e-2}]
    assert plan_groups(pipe, two, rows, 30) == [[0, 1]]
    # with callbacks or fit parameters the pipeline's own fit runs, candidate by candidate
    assert plan_groups(pipe, two, rows, 30, pipelines=False) == [[0], [1]]
    assert plan_groups(make_pipeline(StandardScaler(), StandardScaler()),
                       [{}, {}], rows, 30) == [[0], [1]]


def test_the_fitted_search_pickles_and_leaves_no_group_behind(group_every_size):
    X, y = _digits(np.float64)
    search = GridSearchCV(MLPClassifier((16,), max_iter=3, random_state=0),
                          {"alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    assert "_epoch_group" not in search.best_estimator_.__dict__
    again = pickle.loads(pickle.dumps(search))
    np.testing.assert_array_equal(again.predict_proba(X[:5]), search.predict_proba(X[:5]))
    assert GridSearchCV.__doc__.startswith(SklearnGridSearchCV.__doc__.split("\n")[0])
    assert "cymlp trains the candidates" in GridSearchCV.__doc__


def test_a_dataframe_and_a_list_train_together_too(group_every_size):
    pandas = pytest.importorskip("pandas")
    X, y = _digits(np.float64)
    X, y = X[:300], y[:300]
    base = MLPClassifier((16,), max_iter=4, random_state=0)
    grid = {"alpha": [1e-4, 1e-2]}
    for data in (pandas.DataFrame(X, columns=["p%d" % i for i in range(64)]), X.tolist()):
        del group_every_size[:]
        ours = GridSearchCV(base, grid, cv=2).fit(data, y)
        theirs = SklearnGridSearchCV(base, grid, cv=2).fit(data, y)
        assert group_every_size == [2] * 8      # 2 folds x 4 epochs
        _compare(ours, theirs, np.float64)


def test_callbacks_see_the_tasks_scikit_learns_search_shows(group_every_size):
    callback = pytest.importorskip("sklearn.callback")
    from collections import Counter

    from test_callbacks import Recorder

    X, y = _digits(np.float64)
    base = MLPClassifier((16,), max_iter=3, random_state=0)
    grid = {"alpha": [1e-4, 1e-3, 1e-2]}
    events = []
    for search_class in (GridSearchCV, SklearnGridSearchCV):
        recorder = Recorder()
        search_class(base, grid, cv=2).set_callbacks(recorder).fit(X, y)
        events.append(Counter(e[:2] for e in recorder.events))
    assert group_every_size
    assert events[0] == events[1]
    assert events[0][("begin", "candidate-split-evaluation")] == 6
    pytest.importorskip("rich")
    search = GridSearchCV(base, grid, cv=2)
    search.set_callbacks(callback.ProgressBar(max_propagation_depth=None)).fit(X, y)
    assert search.best_estimator_.n_iter_ == 3


def test_the_issues_network_on_fashion_mnist_equals_scikit_learns(fashion_mnist,
                                                                   monkeypatch):
    """784-200-100-10 on real images, float32: each candidate has a stack of its own
    (200 units), so with one BLAS thread on both sides the fits are the same sums."""
    calls = []
    real = cymlp._fit_groups.train_group_epoch
    monkeypatch.setattr(cymlp._fit_groups, "train_group_epoch",
                        lambda networks, *a, **k: calls.append(1) or real(networks, *a, **k))
    from threadpoolctl import threadpool_limits

    X, y = fashion_mnist.X_train[:3000], fashion_mnist.y_train[:3000]
    base = MLPClassifier((200, 100), max_iter=3, random_state=0)
    grid = {"alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 3e-3]}
    keys = ("alpha", "learning_rate_init")
    ours_scorer, theirs_scorer = _Recorder(keys), _Recorder(keys)
    with threadpool_limits(1):
        ours = GridSearchCV(base, grid, cv=3, scoring=ours_scorer).fit(X, y)
        theirs = SklearnGridSearchCV(base, grid, cv=3, scoring=theirs_scorer).fit(X, y)
    assert len(calls) == 9            # 3 folds x 3 epochs, each of the 4 candidates
    assert ours.best_params_ == theirs.best_params_
    np.testing.assert_array_equal(ours.cv_results_["split0_test_score"],
                                  theirs.cv_results_["split0_test_score"])
    for key, (coef, _) in theirs_scorer.coefs.items():
        np.testing.assert_array_equal(ours_scorer.coefs[key][0], coef)


def test_a_candidate_that_fails_before_its_first_epoch_leaves_the_group(
        group_every_size):
    X, y = _digits(np.float64)
    base = MLPClassifier((16,), max_iter=4, random_state=0)
    # momentum is checked when fit starts; the candidate is planned into the group
    grid = [{"alpha": [1e-4, 1e-2]}, {"momentum": [2.0], "solver": ["adam"]}]
    with pytest.warns(FitFailedWarning):
        ours = GridSearchCV(base, grid, cv=2).fit(X, y)
    theirs = SklearnGridSearchCV(base, grid, cv=2).fit(X, y)
    assert group_every_size == [2] * 8
    assert np.isnan(ours.cv_results_["mean_test_score"][2])
    _compare(ours, theirs, np.float64)


def test_a_pipeline_whose_steps_fail_fails_each_candidate_as_scikit_learns(
        group_every_size):
    from sklearn.preprocessing import FunctionTransformer

    def refuse(X):
        raise ValueError("this step refuses the fold")

    X, y = _digits(np.float64)
    pipe = make_pipeline(FunctionTransformer(refuse),
                         MLPClassifier((16,), max_iter=3, random_state=0))
    grid = {"mlpclassifier__alpha": [1e-4, 1e-2]}
    for search in (GridSearchCV, SklearnGridSearchCV):
        with pytest.raises(ValueError, match="All the 4 fits failed"):
            search(pipe, grid, cv=2, error_score=0.0, refit=False).fit(X, y)
        with pytest.raises(ValueError, match="refuses the fold"):
            search(pipe, grid, cv=2, error_score="raise", refit=False).fit(X, y)
    assert not group_every_size


def test_a_messy_table_pipeline_searched_with_candidates_together(group_every_size):
    """The user's road: a table with text, empty cells and numbers, cymlp's table
    pipeline, then a search over the model's parameters."""
    pytest.importorskip("pandas")
    from test_tables import penguins

    from cymlp.tables import make_table_pipeline

    frame = penguins()
    y = frame.pop("species")
    pipe = make_table_pipeline(MLPClassifier((16,), max_iter=8, random_state=0), frame)
    grid = {"model__alpha": [1e-4, 1e-2], "model__learning_rate_init": [1e-3, 1e-2]}
    ours = GridSearchCV(pipe, grid, cv=3).fit(frame, y)
    theirs = SklearnGridSearchCV(pipe, grid, cv=3).fit(frame, y)
    assert group_every_size == [4] * 24       # 3 folds x 8 epochs
    _compare(ours, theirs, np.float64)
    assert list(ours.predict(frame.head(3))) == list(theirs.predict(frame.head(3)))


def test_forty_candidates_in_one_group_leaving_at_their_own_epochs(group_every_size):
    X, y = _digits(np.float64)
    X, y = X[:400], y[:400]
    base = MLPClassifier((8,), random_state=0, batch_size=50)
    grid = {"max_iter": list(range(1, 11)), "alpha": [1e-4, 1e-3, 1e-2, 1e-1]}
    ours = GridSearchCV(base, grid, cv=2, refit=False).fit(X, y)
    theirs = SklearnGridSearchCV(base, grid, cv=2, refit=False).fit(X, y)
    # 2 folds x 10 epochs; each epoch has the candidates whose max_iter is not reached
    assert sorted(group_every_size) == sorted(4 * k for k in range(1, 11) for _ in (0, 1))
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"], atol=1e-12)


def test_verbose_says_which_candidates_train_together(group_every_size, capsys):
    X, y = _digits(np.float64)
    base = MLPClassifier((16,), max_iter=2, random_state=0)
    grid = [{"alpha": [1e-4, 1e-3, 1e-2]}, {"solver": ["lbfgs"]}]
    GridSearchCV(base, grid, cv=2, verbose=1).fit(X, y)
    printed = capsys.readouterr().out
    assert "Fitting 2 folds for each of 4 candidates, totalling 8 fits" in printed
    assert "cymlp trains 3 of them together, in groups of 3" in printed
    GridSearchCV(base, {"solver": ["lbfgs", "adam"], "random_state": [None]}, cv=2,
                 verbose=1).fit(X, y)
    assert "together" not in capsys.readouterr().out
