"""scikit-learn's callback API (sklearn.callback, scikit-learn >= 1.9) in both
estimators: progress (task begin/end pairs, ProgressBar), monitoring (ScoringMonitor),
stopping (an end hook returning True), inside Pipeline and GridSearchCV, and the refusal
where scikit-learn has no callbacks."""
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cymlp
from cymlp import _callbacks

callback = pytest.importorskip("sklearn.callback")

X, Y = load_digits(return_X_y=True)
X = X / 16.0


class Recorder:
    """A FitCallback that records every hook and can ask to stop after ``stop_after``
    epochs or iterations."""

    def __init__(self, stop_after=None):
        self.events, self.stop_after = [], stop_after

    def setup(self, estimator, context):
        self.events.append(("setup",))

    def teardown(self, estimator, context):
        self.events.append(("teardown",))

    def on_fit_task_begin(self, estimator, context, *, X=None, y=None, metadata=None):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, X=None, y=None, metadata=None,
                        fitted_estimator=None):
        figures = None
        if context.task_name == "epoch":
            figures = (estimator.loss_curve_[-1],
                       None if estimator.validation_scores_ is None
                       else estimator.validation_scores_[-1],
                       fitted_estimator.score(X, y))
        self.events.append(("end", context.task_name, context.task_id, figures,
                            None if metadata is None else sorted(metadata)))
        return (self.stop_after is not None and context.task_name != "fit"
                and context.task_id + 1 >= self.stop_after)


def _subtasks(events, kind):
    return [e for e in events if len(e) > 1 and e[1] == kind]


@pytest.mark.parametrize("estimator", [
    cymlp.MLPClassifier((16,), max_iter=5, random_state=0),
    cymlp.MLPRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0),
])
def test_each_epoch_is_a_task_with_its_figures(estimator):
    recorder = Recorder()
    target = Y if isinstance(estimator, cymlp.MLPClassifier) else X[:, 20]
    estimator.set_callbacks(recorder).fit(X, target, sample_weight=np.ones(len(X)))
    events = recorder.events
    assert events[0] == ("setup",) and events[-1] == ("teardown",)
    assert events[1] == ("begin", "fit", 0) and events[-2][:3] == ("end", "fit", 0)
    epochs = _subtasks(events, "epoch")
    assert [e[0] for e in epochs] == ["begin", "end"] * 5
    assert [e[2] for e in epochs] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    ends = [e for e in epochs if e[0] == "end"]
    # the end hook sees that epoch's loss, and a fitted copy holding that epoch's weights
    assert [e[3][0] for e in ends] == estimator.loss_curve_
    assert ends[-1][3][2] == estimator.score(X, target)
    assert ends[0][3][2] != ends[-1][3][2]
    assert ends[0][4] == ["sample_weight"]


def test_validation_figures_reach_the_hooks():
    recorder = Recorder()
    clf = cymlp.MLPClassifier((16,), max_iter=4, random_state=0).set_callbacks(recorder)
    clf.fit(X[:1400], Y[:1400], X_val=X[1400:], y_val=Y[1400:])
    scores = [e[3][1] for e in _subtasks(recorder.events, "epoch") if e[0] == "end"]
    assert scores == clf.validation_scores_


def test_a_callback_stops_training_after_that_epoch():
    recorder = Recorder(stop_after=3)
    clf = cymlp.MLPClassifier((16,), max_iter=50, random_state=0).set_callbacks(recorder)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)   # a stop is not a failure
        clf.fit(X, Y)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    assert clf.t_ == 3 * len(X)
    # the same weights as a fit of exactly 3 epochs
    plain = cymlp.MLPClassifier((16,), max_iter=3, random_state=0).fit(X, Y)
    np.testing.assert_array_equal(clf.coefs_[0], plain.coefs_[0])


def test_a_callback_stops_early_stopping_with_the_best_epoch():
    recorder = Recorder(stop_after=6)
    clf = cymlp.MLPClassifier((16,), max_iter=50, early_stopping=True, random_state=0)
    clf.set_callbacks(recorder).fit(X[:1400], Y[:1400], X_val=X[1400:], y_val=Y[1400:])
    assert clf.n_iter_ == 6
    assert clf.score(X[1400:], Y[1400:]) == clf.best_validation_score_


def test_a_callback_stops_lbfgs_after_that_iteration():
    recorder = Recorder(stop_after=4)
    clf = cymlp.MLPClassifier((16,), solver="lbfgs", max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.set_callbacks(recorder).fit(X, Y)
    assert clf.n_iter_ == 4
    iterations = _subtasks(recorder.events, "iteration")
    assert [e[0] for e in iterations] == ["begin", "end"] * 4


def test_partial_fit_is_one_task_of_one_epoch():
    recorder = Recorder()
    clf = cymlp.MLPClassifier((16,), random_state=0).set_callbacks(recorder)
    clf.partial_fit(X, Y, classes=np.arange(10))
    assert [e[:3] for e in recorder.events[1:-1]] == [
        ("begin", "fit", 0), ("begin", "epoch", 0), ("end", "epoch", 0), ("end", "fit", 0)]


def test_scoring_monitor_logs_each_epoch():
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = cymlp.MLPClassifier((16,), max_iter=4, random_state=0).set_callbacks(monitor)
    clf.fit(X, Y)
    log = monitor.get_logs().data
    epochs = [row for row in log if row["task_name"] == "epoch"]
    assert [row["task_id"] for row in epochs] == [0, 1, 2, 3]
    assert epochs[-1]["accuracy"] == clf.score(X, Y)
    assert epochs[0]["accuracy"] < epochs[-1]["accuracy"]


def test_progress_bar_in_a_pipeline_and_a_grid_search(capsys):
    pytest.importorskip("rich")
    pipe = make_pipeline(StandardScaler(), cymlp.MLPClassifier((8,), max_iter=3,
                                                               random_state=0))
    pipe.set_callbacks(callback.ProgressBar(max_propagation_depth=None)).fit(X, Y)
    search = GridSearchCV(cymlp.MLPClassifier((8,), max_iter=2, random_state=0),
                          {"alpha": [1e-4, 1e-2]}, cv=2)
    search.set_callbacks(callback.ProgressBar(max_propagation_depth=None)).fit(X, Y)
    assert search.best_estimator_.n_iter_ == 2
    # callbacks propagated to the sub-estimators are removed again after the fit
    assert not getattr(pipe[-1], "_skl_callbacks", None)


def test_a_recorder_inside_a_pipeline_sees_the_epochs():
    recorder = Recorder()
    clf = cymlp.MLPClassifier((8,), max_iter=3, random_state=0).set_callbacks(recorder)
    make_pipeline(StandardScaler(), clf).fit(X, Y)
    assert len([e for e in _subtasks(recorder.events, "epoch") if e[0] == "end"]) == 3


def test_a_failing_fit_still_tears_callbacks_down():
    recorder = Recorder()
    clf = cymlp.MLPClassifier((8,), max_iter=3, random_state=0).set_callbacks(recorder)
    with pytest.raises(ValueError):
        clf.fit(X, np.r_[Y[:-1], 99][:-1])   # y one row short
    assert recorder.events[-1] == ("teardown",)
    assert not hasattr(clf, "_callback_fit_ctx")


def test_no_callback_no_context():
    clf = cymlp.MLPClassifier((8,), max_iter=2, random_state=0)
    assert _callbacks.fit_tasks(clf, X, Y, None, 2, "epoch") is _callbacks.NO_TASKS


def test_without_sklearn_callback_set_callbacks_names_the_version(monkeypatch):
    import importlib
    import sys
    monkeypatch.setitem(sys.modules, "sklearn.callback", None)   # as on scikit-learn 1.8
    try:
        fallback = importlib.reload(_callbacks)
        assert not fallback.HAVE_CALLBACKS
        with pytest.raises(ImportError, match=r"scikit-learn >= 1\.9"):
            fallback.CallbackSupport().set_callbacks(Recorder())
        assert fallback.fit_tasks(None, X, Y, None, 1, "epoch") is fallback.NO_TASKS
    finally:
        monkeypatch.undo()
        importlib.reload(_callbacks)


def test_partial_fit_early_stopping_reaches_the_hooks():
    # issue 26: each streaming call's validation score is the epoch's figure the hooks
    # see, and a ScoringMonitor logs each call (its log holds the latest call's epoch)
    recorder = Recorder()
    monitor = callback.ScoringMonitor(scoring="accuracy")
    clf = cymlp.MLPClassifier((16,), early_stopping=True, random_state=0).set_callbacks(
        recorder, monitor)
    for start in range(0, 1200, 300):
        clf.partial_fit(X[start:start + 300], Y[start:start + 300], classes=np.arange(10),
                        X_val=X[1400:], y_val=Y[1400:])
    scores = [e[3][1] for e in _subtasks(recorder.events, "epoch") if e[0] == "end"]
    assert scores == clf.validation_scores_ and len(scores) == 4
    epochs = [row for row in monitor.get_logs().data if row["task_name"] == "epoch"]
    assert len(epochs) == 1 and epochs[0]["accuracy"] == clf.score(X[900:1200], Y[900:1200])
