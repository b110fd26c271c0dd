"""Early stopping for ``partial_fit`` (issue 26, part 3; scikit-learn refuses it): each
call scores a validation set that stays fixed across calls, the best call's
coefficients are kept, and after more than ``n_iter_no_change`` calls without
improvement they are restored, ``stopped_early_`` is set and a warning says so; the
next call starts a new patience window."""
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from cymlp import MLPClassifier, MLPRegressor

RNG = np.random.default_rng(0)
X = RNG.normal(size=(600, 8))
Y_CLASS = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
Y_VALUE = X @ RNG.normal(size=8) + 0.1 * RNG.normal(size=600)


def _stream(model, n_calls, X_val=None, y_val=None, classes=None):
    """Feed the rows in blocks of 100, cycling; return per call (stopped, params)."""
    history = []
    for call in range(n_calls):
        block = slice((call % 5) * 100, (call % 5) * 100 + 100)
        kwargs = {} if X_val is None else dict(X_val=X_val, y_val=y_val)
        if classes is not None and call == 0:
            kwargs["classes"] = classes
        y = Y_CLASS if isinstance(model, MLPClassifier) else Y_VALUE
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.partial_fit(X[block], y[block], **kwargs)
        stopped = [w for w in caught if "partial_fit calls" in str(w.message)]
        assert bool(stopped) == model.stopped_early_
        assert all(w.category is ConvergenceWarning for w in stopped)
        history.append((model.stopped_early_, np.concatenate(
            [c.ravel() for c in model.coefs_ + model.intercepts_])))
    return history


def test_patience_runs_out_restores_the_best_call_and_starts_again():
    # validation targets unrelated to the inputs: the score wanders, and calls without
    # a better one come in runs longer than the patience
    model = MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01,
                         early_stopping=True, n_iter_no_change=3, tol=0.0, random_state=0)
    X_val, y_val = X[500:], np.random.default_rng(1).normal(size=100)
    history = _stream(model, 40, X_val, y_val)
    scores = model.validation_scores_
    assert len(scores) == 40 and len(model.validation_loss_curve_) == 40
    stops = [k for k, (stopped, _) in enumerate(history) if stopped]
    assert stops, scores
    first = stops[0]
    best = int(np.argmax(scores[:first + 1]))
    # more than n_iter_no_change calls since the best one, and its weights are back
    assert first - best > model.n_iter_no_change
    np.testing.assert_array_equal(history[first][1], history[best][1])
    assert model.best_validation_score_ == max(scores[:len(scores)])
    # the next call trains again: a new window, not silence
    assert not history[first + 1][0]
    assert not np.array_equal(history[first + 1][1], history[first][1])


def test_without_a_validation_set_the_first_call_holds_one_out_and_keeps_it():
    model = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True,
                          validation_fraction=0.2, random_state=0)
    model.partial_fit(X[:100], Y_CLASS[:100], classes=[0, 1])
    assert model.t_ == 80          # 20 rows held out of the first call
    kept = model._stream_validation[0].copy()
    model.partial_fit(X[100:200], Y_CLASS[100:200])
    assert model.t_ == 180         # later calls train on all their rows
    np.testing.assert_array_equal(model._stream_validation[0], kept)
    assert len(model.validation_scores_) == 2 and model.stopped_early_ is False
    # a validation set given later replaces the kept one
    model.partial_fit(X[200:300], Y_CLASS[200:300], X_val=X[500:], y_val=Y_CLASS[500:])
    assert model._stream_validation[0].shape[0] == 100
    score = model.score(X[500:], Y_CLASS[500:])
    assert model.validation_scores_[-1] == pytest.approx(score)


def test_fit_after_streaming_forgets_the_stream_and_defaults_are_unchanged():
    model = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, random_state=0,
                          max_iter=5)
    model.partial_fit(X[:100], Y_CLASS[:100], classes=[0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, Y_CLASS)
    assert not hasattr(model, "_stream_validation") and not hasattr(model, "stopped_early_")
    # without early stopping partial_fit records nothing and trains on every row
    plain = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    plain.partial_fit(X[:100], Y_CLASS[:100], classes=[0, 1])
    assert plain.t_ == 100 and plain.validation_scores_ is None


def test_a_failed_call_leaves_the_stream_as_it_was():
    model = MLPRegressor(hidden_layer_sizes=(8,), early_stopping=True, random_state=0)
    model.partial_fit(X[:100], Y_VALUE[:100])
    scores, kept = list(model.validation_scores_), model._stream_validation
    with pytest.raises(ValueError):
        model.partial_fit(X[:100, :3], Y_VALUE[:100])
    assert model.validation_scores_ == scores and model._stream_validation is kept
    with pytest.raises(ValueError, match="together"):
        model.partial_fit(X[:100], Y_VALUE[:100], X_val=X[:10])


def test_dask_ml_incremental_streams_with_early_stopping():
    dask_array = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    import dask
    model = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True,
                          learning_rate_init=0.05, random_state=0)
    with dask.config.set(scheduler="synchronous"):
        inc = wrappers.Incremental(model, scoring="accuracy")
        inc.fit(dask_array.from_array(X, chunks=100), dask_array.from_array(Y_CLASS,
                                                                            chunks=100),
                classes=[0, 1])
    fitted = inc.estimator_
    assert len(fitted.validation_scores_) == 6 and fitted.stopped_early_ in (True, False)
    assert fitted.score(X, Y_CLASS) > 0.7   # six one-epoch calls on 100 rows each


def test_partial_fit_after_an_early_stopping_fit_starts_its_own_window():
    # scikit-learn's gh-25693: partial_fit after fit(early_stopping=True) must not fail;
    # cymlp trains on, and scores on its own validation set compare only with each other
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=30,
                              random_state=0).fit(X, Y_CLASS)
    fitted_scores = len(model.validation_scores_)
    model.partial_fit(X[:100], Y_CLASS[:100], X_val=X[500:], y_val=Y_CLASS[500:])
    assert model.best_validation_score_ == model.validation_scores_[-1]
    assert len(model.validation_scores_) == fitted_scores + 1
    # the same validation set again (a copy): the window goes on
    model.partial_fit(X[100:200], Y_CLASS[100:200], X_val=X[500:].copy(),
                      y_val=Y_CLASS[500:].copy())
    assert model.best_validation_score_ == max(model.validation_scores_[-2:])
