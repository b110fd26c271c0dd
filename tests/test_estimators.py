"""MLPClassifier / MLPRegressor: parity with scikit-learn, the ecosystem, failure modes."""
import pickle
import warnings

import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.base import clone
from sklearn.datasets import load_iris, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cymlp import MLPClassifier, MLPRegressor

IRIS_X, IRIS_Y = load_iris(return_X_y=True)
IRIS_X = StandardScaler().fit_transform(IRIS_X)


def fit_pair(name, kwargs, X, y, **fit_params):
    """Fit cymlp's and scikit-learn's estimator ``name`` alike; return (ours, theirs)."""
    ours = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}[name](**kwargs)
    theirs = getattr(sk, name)(**kwargs)
    return ours.fit(X, y, **fit_params), theirs.fit(X, y, **fit_params)


def assert_same_model(ours, theirs, rtol=1e-9):
    """Same weights, loss curve and counters as scikit-learn's fit."""
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=rtol)
    for name in ("t_", "n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert getattr(ours, name) == getattr(theirs, name), name


@pytest.mark.parametrize("params", [
    dict(solver="adam"),
    dict(solver="sgd", learning_rate="constant", momentum=0.5, nesterovs_momentum=False),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.5),
    dict(solver="sgd", learning_rate="adaptive", n_iter_no_change=2, tol=0.5),
    dict(solver="adam", early_stopping=True, n_iter_no_change=3),
    dict(solver="adam", activation="logistic", alpha=0.01, batch_size=16),
    dict(solver="adam", activation="tanh", shuffle=False),
    dict(solver="lbfgs", activation="tanh"),
])
def test_classifier_matches_sklearn_with_same_random_state(params):
    kwargs = dict(hidden_layer_sizes=(8, 6), max_iter=25, random_state=3, **params)
    ours, theirs = fit_pair("MLPClassifier", kwargs, IRIS_X, IRIS_Y)
    assert_same_model(ours, theirs, rtol=1e-6 if params["solver"] == "lbfgs" else 1e-9)
    np.testing.assert_allclose(ours.predict_proba(IRIS_X), theirs.predict_proba(IRIS_X),
                               rtol=1e-6, atol=1e-9)
    if params.get("early_stopping"):
        assert ours.validation_scores_ == pytest.approx(theirs.validation_scores_)
        assert ours.best_validation_score_ == theirs.best_validation_score_
        assert ours.best_loss_ is None
    elif params["solver"] != "lbfgs":
        assert ours.loss_curve_ == pytest.approx(theirs.loss_curve_, rel=1e-9)
        assert ours.best_loss_ == pytest.approx(theirs.best_loss_, rel=1e-9)


def test_binary_and_multilabel_use_logistic_outputs_like_sklearn():
    y = (IRIS_Y == 1).astype(int)
    for X, target in [(IRIS_X, y), make_multilabel_classification(60, 5, n_classes=3,
                                                                   random_state=0)]:
        kwargs = dict(hidden_layer_sizes=(7,), max_iter=20, random_state=0)
        ours, theirs = fit_pair("MLPClassifier", kwargs, X, target)
        assert ours.out_activation_ == "logistic"
        assert_same_model(ours, theirs)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-9)


@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_regressor_matches_sklearn(n_targets, solver):
    X, y = make_regression(80, 6, n_targets=n_targets, noise=1.0, random_state=0)
    y = y / y.std()
    kwargs = dict(hidden_layer_sizes=(9,), max_iter=15, random_state=1, solver=solver,
                  learning_rate_init=0.01 if solver == "sgd" else 0.001)
    ours, theirs = fit_pair("MLPRegressor", kwargs, X, y)
    assert ours.predict(X).shape == theirs.predict(X).shape
    # scikit-learn's reported squared-error loss divides by n_outputs while its gradient
    # does not; ours reports the loss the gradient descends (estimators module docstring).
    # So losses, and L-BFGS paths (which use the loss), agree for one output only.
    if n_targets == 1:
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-6)
    if n_targets == 1 or solver != "lbfgs":
        for a, b in zip(ours.coefs_, theirs.coefs_):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_poisson_regressor_matches_sklearn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    y = rng.poisson(np.exp(X[:, 0] * 0.5))
    kwargs = dict(loss="poisson", hidden_layer_sizes=(6,), max_iter=10, random_state=0)
    ours, theirs = fit_pair("MLPRegressor", kwargs, X, y)
    assert ours.out_activation_ == "exp"
    assert_same_model(ours, theirs)
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(loss="poisson").fit(X, -np.abs(y) - 1)


def test_sample_weight_matches_sklearn():
    weights = np.random.default_rng(0).uniform(0.2, 3, size=len(IRIS_Y))
    kwargs = dict(hidden_layer_sizes=(5,), max_iter=10, random_state=0, solver="sgd")
    ours, theirs = fit_pair("MLPClassifier", kwargs, IRIS_X, IRIS_Y, sample_weight=weights)
    for a, b in zip(ours.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_float32_trains_in_float32_and_float64_in_float64():
    for dtype in (np.float32, np.float64):
        clf = MLPClassifier((5,), max_iter=5, random_state=0).fit(IRIS_X.astype(dtype), IRIS_Y)
        assert all(c.dtype == dtype for c in clf.coefs_ + clf.intercepts_)
        assert clf.predict_proba(IRIS_X.astype(dtype)).dtype == dtype
        reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(
            IRIS_X.astype(dtype), IRIS_X[:, 0].astype(dtype))
        assert reg.predict(IRIS_X.astype(dtype)).dtype == dtype


def test_string_labels_and_predict_log_proba():
    labels = np.array(["setosa", "versicolor", "virginica"])[IRIS_Y]
    clf = MLPClassifier((10,), max_iter=300, random_state=0).fit(IRIS_X, labels)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.score(IRIS_X, labels) > 0.9
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(IRIS_X)), clf.predict_proba(IRIS_X))


def test_pickle_round_trip_and_clone():
    clf = MLPClassifier((10,), max_iter=50, random_state=0).fit(IRIS_X, IRIS_Y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(IRIS_X), clf.predict_proba(IRIS_X))
    restored.partial_fit(IRIS_X, IRIS_Y)  # still trainable, optimizer state included
    assert restored.coefs_[0].base is restored._network.params
    assert not hasattr(clone(clf), "coefs_")


def test_assigning_coefs_updates_the_model():
    clf = MLPClassifier((4,), max_iter=5, random_state=0).fit(IRIS_X, IRIS_Y)
    clf.coefs_ = [np.zeros_like(c) for c in clf.coefs_]
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    np.testing.assert_allclose(clf.predict_proba(IRIS_X[:2]), 1 / 3)


def test_grid_search_with_two_jobs_and_pipeline():
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=200, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(5,), (10,)],
                               "mlpclassifier__alpha": [1e-4, 1e-2]}, cv=3, n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(*load_iris(return_X_y=True))
        scores = cross_val_score(MLPRegressor(hidden_layer_sizes=(5,), max_iter=50, random_state=0),
                                 IRIS_X[:, :3], IRIS_X[:, 3], cv=3, n_jobs=2)
    assert grid.best_score_ > 0.85
    assert len(scores) == 3 and np.isfinite(scores).all()


def test_partial_fit_rules():
    clf = MLPClassifier((5,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(IRIS_X, IRIS_Y)
    clf.partial_fit(IRIS_X[IRIS_Y < 2], IRIS_Y[IRIS_Y < 2], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and list(clf.classes_) == [0, 1, 2]
    t = clf.t_
    clf.partial_fit(IRIS_X, IRIS_Y)
    assert clf.t_ == t + len(IRIS_Y)
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(IRIS_X, IRIS_Y + 5)
    with pytest.raises(AttributeError, match="partial_fit"):
        MLPClassifier(solver="lbfgs").partial_fit(IRIS_X, IRIS_Y, classes=[0, 1, 2])
    # early stopping in partial_fit (issue 26; scikit-learn raises): tests in
    # test_partial_fit_early_stopping.py
    clf = MLPClassifier(early_stopping=True).partial_fit(IRIS_X, IRIS_Y, classes=[0, 1, 2])
    assert len(clf.validation_scores_) == 1 and clf.stopped_early_ is False


def test_one_class_is_fitted_as_scikit_learn_fits_it(tmp_path):
    # issue 15: scikit-learn fits y with one class (a constant predictor); so does cymlp
    from cymlp import model_io
    y = np.full(20, "only")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = fit_pair("MLPClassifier", dict(hidden_layer_sizes=(3,), max_iter=5,
                                                      random_state=0), IRIS_X[:20], y)
    assert list(ours.classes_) == list(theirs.classes_) == ["only"]
    np.testing.assert_array_equal(ours.predict(IRIS_X), theirs.predict(IRIS_X))
    np.testing.assert_allclose(ours.predict_proba(IRIS_X), theirs.predict_proba(IRIS_X),
                               rtol=1e-9)
    loaded = model_io.load(model_io.save(ours, tmp_path / "one.npz"))
    np.testing.assert_array_equal(loaded.predict(IRIS_X), ours.predict(IRIS_X))


def test_diverging_fit_with_early_stopping_keeps_the_best_epoch():
    # issue 15: as scikit-learn, the fit ends without error, the diverged epoch scores NaN,
    # and the weights are those of the best validation epoch
    kwargs = dict(hidden_layer_sizes=(100,), activation="identity", solver="sgd",
                  learning_rate_init=1, max_iter=20, early_stopping=True, random_state=0)
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = MLPRegressor(**kwargs).fit(X, y)
        theirs = sk.MLPRegressor(**kwargs).fit(X, y)
    assert np.isnan(ours.validation_scores_[-1]) and np.isnan(theirs.validation_scores_[-1])
    n = np.flatnonzero(~np.isnan(ours.validation_scores_)).size
    np.testing.assert_allclose(ours.validation_scores_[:n], theirs.validation_scores_[:n],
                               rtol=1e-7)
    assert ours.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7)


def test_warm_start_continues_from_the_fitted_weights():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((5,), max_iter=5, warm_start=True, random_state=0).fit(IRIS_X, IRIS_Y)
        first = clf.loss_
        clf.fit(IRIS_X, IRIS_Y)
    assert clf.loss_ < first
    with pytest.raises(ValueError, match="same classes"):
        clf.fit(IRIS_X[IRIS_Y < 2], IRIS_Y[IRIS_Y < 2])


def test_diverging_fit_raises_and_keeps_the_previous_model():
    X, y = make_regression(200, 5, noise=1, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(20,), solver="sgd", learning_rate_init=1e-4, max_iter=3,
                       warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    before = [c.copy() for c in reg.coefs_]
    prediction = reg.predict(X)
    reg.set_params(learning_rate_init=1e3, max_iter=50)
    with pytest.raises(ValueError, match="non-finite"):
        reg.fit(X * 1e3, y * 1e3)
    for a, b in zip(reg.coefs_, before):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(reg.predict(X), prediction)
    assert reg.n_iter_ == 3


def test_convergence_warning_like_sklearn():
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier((3,), max_iter=2, random_state=0).fit(IRIS_X, IRIS_Y)


def test_feature_count_checked_at_predict():
    clf = MLPClassifier((3,), max_iter=5, random_state=0).fit(IRIS_X, IRIS_Y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(IRIS_X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.full((2, 4), np.nan))


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_multi_output_loss_and_stopping_match_scikit_learn(solver):
    # issue 15: loss_ and loss_curve_ on scikit-learn's scale (squared error averaged over
    # the outputs), so tol-based stopping takes the same epochs (before: adam ran 84
    # epochs where scikit-learn ran 68 on this data)
    X, y = make_regression(n_targets=3, random_state=0)
    X, y = StandardScaler().fit_transform(X), StandardScaler().fit_transform(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = fit_pair("MLPRegressor", dict(hidden_layer_sizes=(100,), solver=solver,
                                                     random_state=0, max_iter=120), X, y)
    assert ours.n_iter_ == theirs.n_iter_
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    assert_same_model(ours, theirs)


def test_multi_output_lbfgs_reports_scikit_learn_scale():
    # L-BFGS descends the summed loss whose gradient both libraries use; loss_ is the
    # loss at the solution on scikit-learn's scale
    X, y = make_regression(n_samples=80, n_features=6, n_targets=3, noise=5, random_state=0)
    X, y = StandardScaler().fit_transform(X), StandardScaler().fit_transform(y)
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", alpha=0.01, max_iter=50,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    data = 0.5 * np.mean((reg.predict(X) - y) ** 2)
    penalty = 0.5 * 0.01 * sum((W ** 2).sum() for W in reg.coefs_) / len(X)
    assert reg.loss_ == pytest.approx(data + penalty, rel=1e-9)


def test_early_stopping_holds_no_second_copy_of_x(peak_bytes_of):
    """The early-stopping split is by row indices: training reads X in place, and only
    the held-out 10 % is copied (scikit-learn copies the other 90 % too)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20000, 200)).astype(np.float32)   # 16 MB
    y = rng.normal(size=20000).astype(np.float32)

    def fit(early_stopping):
        def run():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                MLPRegressor(hidden_layer_sizes=(8,), max_iter=1, early_stopping=early_stopping,
                             random_state=0).fit(X, y)
        return run

    without = peak_bytes_of(fit(False))
    with_split = peak_bytes_of(fit(True))
    # the held-out rows (10 %) and their engine-ready form; a copy of X would be 100 %
    assert with_split - without < 0.4 * X.nbytes, (with_split, without, X.nbytes)
