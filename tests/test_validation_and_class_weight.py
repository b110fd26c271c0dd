"""Beyond scikit-learn: an explicit validation set (``fit(X, y, X_val=, y_val=,
sample_weight_val=)``), the validation loss curve, and ``class_weight``."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import log_loss, mean_squared_error
from sklearn.utils.class_weight import compute_sample_weight

import cymlp
from cymlp import model_io

X_ALL, Y_ALL = load_digits(return_X_y=True)
X_ALL = X_ALL / 16.0
X_TRAIN, Y_TRAIN, X_VAL, Y_VAL = X_ALL[:1400], Y_ALL[:1400], X_ALL[1400:], Y_ALL[1400:]


def _same_weights(a, b):
    for got, expected in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("alpha", [0.0, 0.01])
def test_validation_loss_is_the_training_loss_on_the_validation_set(alpha):
    clf = cymlp.MLPClassifier((24,), alpha=alpha, max_iter=7, random_state=0)
    clf.fit(X_TRAIN, Y_TRAIN, X_val=X_VAL, y_val=Y_VAL)
    assert len(clf.validation_loss_curve_) == len(clf.validation_scores_) == clf.n_iter_ == 7
    # after the last epoch: log loss on the validation rows plus the epoch's L2 term,
    # the term loss_curve_ holds too: scikit-learn's batches each add
    # alpha/2 ||W||^2 / n_samples, with that batch's W (7 batches of 200 rows here)
    data_loss = log_loss(Y_VAL, clf.predict_proba(X_VAL), labels=clf.classes_)
    if alpha == 0:
        assert clf.validation_loss_curve_[-1] == pytest.approx(data_loss, rel=1e-10)
    else:
        squares = sum(float((W ** 2).sum()) for W in clf.coefs_)
        penalty = 7 * 0.5 * alpha * squares / len(X_TRAIN)
        assert clf.validation_loss_curve_[-1] - data_loss == pytest.approx(penalty, rel=0.05)
    assert clf.validation_scores_[-1] == clf.score(X_VAL, Y_VAL)


def test_regressor_validation_loss_is_half_the_mean_squared_error():
    Y = np.c_[X_ALL[:, 10], X_ALL[:, 20]]
    reg = cymlp.MLPRegressor(hidden_layer_sizes=(16,), alpha=0.0, max_iter=5, random_state=0)
    reg.fit(X_TRAIN, Y[:1400], X_val=X_VAL, y_val=Y[1400:])
    # scikit-learn's scale: 1/2 the squared error averaged over samples and outputs
    expected = mean_squared_error(Y[1400:], reg.predict(X_VAL)) / 2
    assert reg.validation_loss_curve_[-1] == pytest.approx(expected, rel=1e-10)
    assert reg.validation_scores_[-1] == reg.score(X_VAL, Y[1400:])


def test_a_validation_set_does_not_change_training_without_early_stopping():
    plain = cymlp.MLPClassifier((16,), max_iter=15, random_state=0).fit(X_TRAIN, Y_TRAIN)
    watched = cymlp.MLPClassifier((16,), max_iter=15, random_state=0)
    watched.fit(X_TRAIN, Y_TRAIN, X_val=X_VAL, y_val=Y_VAL)
    _same_weights(watched, plain)
    assert watched.loss_curve_ == plain.loss_curve_
    assert plain.validation_scores_ is None and plain.validation_loss_curve_ is None
    assert watched.best_validation_score_ is None


def test_early_stopping_uses_the_given_set_instead_of_a_split():
    clf = cymlp.MLPClassifier((16,), max_iter=200, early_stopping=True, n_iter_no_change=3,
                              random_state=0)
    clf.fit(X_TRAIN, Y_TRAIN, X_val=X_VAL, y_val=Y_VAL)
    assert clf.n_iter_ < 200
    assert clf.t_ == clf.n_iter_ * len(X_TRAIN)   # every training row trained
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    # the kept weights are the best epoch's: their score is the best score
    assert clf.score(X_VAL, Y_VAL) == clf.best_validation_score_


def test_the_early_stopping_split_records_the_validation_loss_too():
    clf = cymlp.MLPClassifier((16,), max_iter=12, early_stopping=True, random_state=0)
    clf.fit(X_ALL, Y_ALL)
    assert len(clf.validation_loss_curve_) == clf.n_iter_
    assert np.all(np.isfinite(clf.validation_loss_curve_))
    assert clf.validation_loss_curve_[-1] < clf.validation_loss_curve_[0]


def test_validation_sample_weights_weigh_the_score_and_the_loss():
    weights = np.where(Y_VAL == 3, 5.0, 1.0)
    clf = cymlp.MLPClassifier((16,), alpha=0.0, max_iter=5, random_state=0)
    clf.fit(X_TRAIN, Y_TRAIN, X_val=X_VAL, y_val=Y_VAL, sample_weight_val=weights)
    assert clf.validation_scores_[-1] == clf.score(X_VAL, Y_VAL, sample_weight=weights)
    expected = log_loss(Y_VAL, clf.predict_proba(X_VAL), sample_weight=weights)
    assert clf.validation_loss_curve_[-1] == pytest.approx(expected, rel=1e-10)
    unweighted = cymlp.MLPClassifier((16,), alpha=0.0, max_iter=5, random_state=0)
    unweighted.fit(X_TRAIN, Y_TRAIN, X_val=X_VAL, y_val=Y_VAL)
    assert unweighted.validation_loss_curve_[-1] != clf.validation_loss_curve_[-1]


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(X_val=X_VAL), ValueError, "together"),
    (dict(y_val=Y_VAL), ValueError, "together"),
    (dict(sample_weight_val=np.ones(3)), ValueError, "needs X_val"),
    (dict(X_val=X_VAL, y_val=Y_VAL[:-1]), ValueError, "rows"),
    (dict(X_val=X_VAL[:, :10], y_val=Y_VAL), ValueError, "features"),
    (dict(X_val=X_VAL, y_val=Y_VAL + 20), ValueError, "not in"),
    (dict(X_val=X_VAL, y_val=Y_VAL, sample_weight_val=np.ones(3)), ValueError,
     "sample_weight"),
    (dict(X_val=np.where(X_VAL > 0.5, np.nan, X_VAL), y_val=Y_VAL), ValueError, "NaN"),
])
def test_bad_validation_sets_are_refused(kwargs, error, message):
    clf = cymlp.MLPClassifier((8,), max_iter=2, random_state=0)
    with pytest.raises(error, match=message):
        clf.fit(X_TRAIN, Y_TRAIN, **kwargs)
    assert not hasattr(clf, "coefs_")   # a failed first fit leaves nothing behind


def test_lbfgs_refuses_a_validation_set():
    with pytest.raises(ValueError, match="stochastic solvers"):
        cymlp.MLPClassifier(solver="lbfgs").fit(X_TRAIN, Y_TRAIN, X_val=X_VAL, y_val=Y_VAL)


def test_validation_curves_survive_a_model_file(tmp_path):
    clf = cymlp.MLPClassifier((8,), max_iter=4, random_state=0, class_weight={3: 2.0})
    clf.fit(X_TRAIN, Y_TRAIN, X_val=X_VAL, y_val=Y_VAL)
    loaded = model_io.load(model_io.save(clf, tmp_path / "m.npz"))
    assert loaded.validation_loss_curve_ == clf.validation_loss_curve_
    assert loaded.class_weight == {3: 2.0}
    np.testing.assert_array_equal(loaded.predict_proba(X_VAL), clf.predict_proba(X_VAL))


# -- class_weight ---------------------------------------------------------------

@pytest.mark.parametrize("labels", ["multiclass", "binary", "strings"])
def test_class_weight_is_sample_weight_per_class(labels):
    y = {"multiclass": Y_TRAIN, "binary": (Y_TRAIN == 3).astype(int),
         "strings": np.where(Y_TRAIN == 3, "three", "other")}[labels]
    classes = np.unique(y)
    class_weight = {c: 1.0 + 2 * k for k, c in enumerate(classes)}
    per_sample = np.array([class_weight[c] for c in y])
    weighted = cymlp.MLPClassifier((16,), max_iter=8, random_state=0,
                                   class_weight=class_weight).fit(X_TRAIN, y)
    by_samples = cymlp.MLPClassifier((16,), max_iter=8, random_state=0).fit(
        X_TRAIN, y, sample_weight=per_sample)
    _same_weights(weighted, by_samples)


def test_balanced_class_weight_times_sample_weight():
    y = (Y_TRAIN == 3).astype(int)
    sample_weight = np.linspace(0.5, 2.0, len(y))
    balanced = cymlp.MLPClassifier((16,), max_iter=8, random_state=0, class_weight="balanced")
    balanced.fit(X_TRAIN, y, sample_weight=sample_weight)
    manual = cymlp.MLPClassifier((16,), max_iter=8, random_state=0).fit(
        X_TRAIN, y, sample_weight=sample_weight * compute_sample_weight("balanced", y))
    np.testing.assert_allclose(balanced.coefs_[0], manual.coefs_[0], rtol=1e-12, atol=1e-15)
    # it does what it is for: the rare class is found more often
    plain = cymlp.MLPClassifier((16,), max_iter=8, random_state=0).fit(X_TRAIN, y)
    recall = lambda model: model.predict(X_VAL)[Y_VAL == 3].mean()
    assert recall(balanced) > recall(plain)


def test_class_weight_applies_to_the_validation_set_and_split():
    y = (Y_TRAIN == 3).astype(int)
    y_val = (Y_VAL == 3).astype(int)
    weights = {0: 1.0, 1: 4.0}
    clf = cymlp.MLPClassifier((16,), max_iter=4, random_state=0, class_weight=weights)
    clf.fit(X_TRAIN, y, X_val=X_VAL, y_val=y_val)
    per_sample = np.where(y_val == 1, 4.0, 1.0)
    assert clf.validation_scores_[-1] == clf.score(X_VAL, y_val, sample_weight=per_sample)


def test_partial_fit_takes_a_dict_and_refuses_balanced():
    classes = np.arange(10)
    weights = {3: 3.0, 5: 0.5}
    per_sample = np.array([weights.get(c, 1.0) for c in Y_TRAIN])
    a = cymlp.MLPClassifier((16,), random_state=0, class_weight=weights)
    b = cymlp.MLPClassifier((16,), random_state=0)
    for _ in range(3):
        a.partial_fit(X_TRAIN, Y_TRAIN, classes=classes)
        b.partial_fit(X_TRAIN, Y_TRAIN, sample_weight=per_sample, classes=classes)
    _same_weights(a, b)
    with pytest.raises(ValueError, match="'balanced' is not supported by partial_fit"):
        cymlp.MLPClassifier(class_weight="balanced").partial_fit(X_TRAIN, Y_TRAIN,
                                                                 classes=classes)


@pytest.mark.parametrize("class_weight, message", [
    ({0: 1.0, 42: 2.0}, "not in class_weight|not found"),
    ("heavy", "class_weight"),
])
def test_bad_class_weights_are_refused(class_weight, message):
    with pytest.raises(ValueError, match=message):
        cymlp.MLPClassifier(class_weight=class_weight, max_iter=2).fit(X_TRAIN, Y_TRAIN % 2)


def test_multilabel_refuses_class_weight():
    Y = np.c_[Y_TRAIN == 3, Y_TRAIN > 5].astype(int)
    with pytest.raises(ValueError, match="multilabel"):
        cymlp.MLPClassifier(class_weight={0: 2.0}, max_iter=2).fit(X_TRAIN, Y)
