"""The regression losses beyond scikit-learn's (absolute error, huber, quantile, gamma):
the compiled kernel against a numpy reference, every gradient against central finite
differences, the estimators with every solver, and what each loss is for: quantiles that
bracket held-out targets, robustness to gross outliers, a gamma model of skewed targets."""
import pickle

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

import cymlp
from cymlp import MLPRegressor, Network, model_io
from cymlp._kernels import output_error_memview
from cymlp._names import LOSS_CODES

from test_grad import assert_gradient_matches

NEW_LOSSES = ["absolute_error", "huber", "quantile", "gamma"]
OUTPUT_OF = {"absolute_error": "identity", "huber": "identity", "quantile": "identity",
             "gamma": "exp"}


def reference(loss, u, y, param):
    """Per-element loss and dL/du in numpy (float64), the formulas of losses.h."""
    r = u - y
    if loss == "absolute_error":
        return np.abs(r), np.sign(r)
    if loss == "huber":
        a = np.abs(r)
        return (np.where(a <= param, 0.5 * r ** 2, param * (a - 0.5 * param)),
                np.clip(r, -param, param))
    if loss == "quantile":
        return (np.where(r > 0, (1 - param) * r, -param * r),
                np.where(r > 0, 1 - param, np.where(r < 0, -param, 0.0)))
    assert loss == "gamma"
    return u + y * np.exp(-u) - np.log(y) - 1, 1 - y * np.exp(-u)


def positive_targets(rng, shape):
    return rng.gamma(2.0, 1.5, size=shape)


def targets_for(loss, rng, shape):
    return positive_targets(rng, shape) if loss == "gamma" else rng.normal(size=shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss,param", [("absolute_error", 0.0), ("huber", 0.7),
                                        ("quantile", 0.2), ("quantile", 0.9),
                                        ("gamma", 0.0)])
def test_kernel_matches_numpy(loss, param, dtype):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(40, 3)).astype(dtype)
    b = rng.normal(size=3).astype(dtype)
    Y = targets_for(loss, rng, (40, 3)).astype(dtype)
    Y[0, 0] = Z[0, 0] + b[0]   # a residual exactly 0: the kink's subgradient is 0
    D = np.empty_like(Z)
    total = output_error_memview(Z, b, Y, dtype(0.5), D, LOSS_CODES[loss], param)
    u = Z.astype(np.float64) + b
    expected_loss, expected_grad = reference(loss, u, Y.astype(np.float64), param)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert total == pytest.approx(expected_loss.sum(), rel=tol)
    np.testing.assert_allclose(D, 0.5 * expected_grad, rtol=tol, atol=tol)
    if loss != "gamma":
        assert D[0, 0] == 0


@pytest.mark.parametrize("loss", NEW_LOSSES)
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_gradient_matches_finite_differences(loss, activation):
    rng = np.random.default_rng(1)
    param = {"huber": 0.5, "quantile": 0.3}.get(loss)
    net = Network([4, 7, 5, 3], activation=activation, output=OUTPUT_OF[loss], loss=loss,
                  loss_param=param, random_state=2)
    X = rng.normal(size=(13, 4))
    Y = targets_for(loss, rng, (13, 3))
    if loss == "huber":
        # residuals on both sides of the threshold, none within reach of it
        U = net.forward(X)
        Y = U - rng.choice([-1, 1], size=U.shape) * rng.choice([0.2, 1.5], size=U.shape)
    assert_gradient_matches(net, X, Y)
    weights = rng.uniform(0.1, 3.0, size=13)
    assert_gradient_matches(net, X, Y, weights, alpha=0.3)


@pytest.mark.parametrize("loss", NEW_LOSSES)
def test_gradient_with_a_shared_layer(loss):
    rng = np.random.default_rng(3)
    hidden = cymlp.Dense(6, 6)
    layers = [cymlp.Dense(3, 6), hidden, hidden, cymlp.Dense(6, 2)]
    net = Network(layers, activation="tanh", output=OUTPUT_OF[loss], loss=loss,
                  random_state=0)
    X = rng.normal(size=(9, 3))
    assert_gradient_matches(net, X, targets_for(loss, rng, (9, 2)), alpha=0.1)


def test_network_checks_its_loss_options():
    with pytest.raises(ValueError, match="computed with output 'exp'"):
        Network([2, 3, 1], output="identity", loss="gamma")
    with pytest.raises(ValueError, match="quantile in"):
        Network([2, 3, 1], output="identity", loss="quantile", loss_param=1.0)
    with pytest.raises(ValueError, match="takes no parameter"):
        Network([2, 3, 1], output="identity", loss="absolute_error", loss_param=0.5)
    with pytest.raises(ValueError, match="unknown loss"):
        Network([2, 3, 1], output="identity", loss="hinge")
    net = Network([2, 3, 1], output="exp", loss="gamma")
    with pytest.raises(ValueError, match="targets > 0"):
        net.backward(np.ones((2, 2)), np.array([[1.0], [0.0]]))


@pytest.mark.parametrize("loss", NEW_LOSSES)
def test_network_copies_keep_the_loss(loss):
    net = Network([3, 4, 2], output=OUTPUT_OF[loss], loss=loss,
                  loss_param={"huber": 2.0, "quantile": 0.8}.get(loss), random_state=0)
    for copy in (pickle.loads(pickle.dumps(net)), net.with_activation("tanh")):
        assert copy.loss_name == loss and copy.loss_param == net.loss_param
    X, Y = np.ones((2, 3)), np.full((2, 2), 2.0)
    assert pickle.loads(pickle.dumps(net)).loss(X, Y) == net.loss(X, Y)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("loss", NEW_LOSSES)
def test_every_solver_fits_every_loss(loss, solver, dtype):
    rng = np.random.default_rng(4)
    X = rng.uniform(-1, 1, size=(300, 3)).astype(dtype)
    mean = np.exp(0.5 + X[:, 0] - 0.5 * X[:, 1])
    y = rng.gamma(4.0, mean / 4.0) if loss == "gamma" else mean + 0.1 * rng.normal(size=300)
    weights = rng.uniform(0.5, 2.0, size=300)
    reg = MLPRegressor(loss=loss, hidden_layer_sizes=(16,), solver=solver, max_iter=150,
                       learning_rate_init=0.01, random_state=0, tol=1e-6)
    with _no_check():
        reg.fit(X, y, sample_weight=weights)
    assert reg.coefs_[0].dtype == dtype
    # within 0.15 of the R² of the true mean (gamma noise caps it at ~0.6)
    best = 1 - np.sum((y - mean) ** 2) / np.sum((y - y.mean()) ** 2)
    assert reg.score(X, y) > best - 0.15
    assert reg._network.loss_name == loss
    if loss == "gamma":
        assert (reg.predict(X) > 0).all()


class _no_check:
    """Ignore ConvergenceWarning inside (short fits)."""

    def __enter__(self):
        import warnings
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def test_multi_output_targets():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 2))
    Y = np.column_stack([X[:, 0] + 0.1 * rng.normal(size=400),
                         X[:, 1] - X[:, 0] + 0.1 * rng.normal(size=400)])
    for loss in ("absolute_error", "huber", "quantile"):
        reg = MLPRegressor(loss=loss, hidden_layer_sizes=(16,), learning_rate_init=0.01,
                           max_iter=200, random_state=0).fit(X, Y)
        assert reg.predict(X).shape == (400, 2)
        assert reg.score(X, Y) > 0.9


def heteroscedastic(rng, n):
    x = rng.uniform(-2, 2, size=(n, 1))
    y = np.sin(2 * x[:, 0]) + (0.1 + 0.4 * np.abs(x[:, 0])) * rng.normal(size=n)
    return x, y


@pytest.mark.parametrize("solver,settings,tolerance", [
    ("lbfgs", {"max_iter": 500}, 0.03),
    ("adam", {"learning_rate_init": 0.003, "max_iter": 500}, 0.05)])
def test_quantiles_bracket_held_out_targets(solver, settings, tolerance):
    """The 0.1 and 0.9 quantile models bracket about 80 % of held-out targets, on a
    problem whose spread grows with |x| (one width would not fit both ends)."""
    rng = np.random.default_rng(0)
    X, y = heteroscedastic(rng, 3000)
    X_test, y_test = heteroscedastic(rng, 3000)
    bounds = {}
    with _no_check():
        for q in (0.1, 0.9):
            reg = MLPRegressor(loss="quantile", quantile=q, hidden_layer_sizes=(32, 32),
                               solver=solver, random_state=0, **settings).fit(X, y)
            bounds[q] = reg.predict(X_test)
            assert abs(np.mean(y_test < bounds[q]) - q) < tolerance
    inside = (y_test > bounds[0.1]) & (y_test < bounds[0.9])
    assert abs(inside.mean() - 0.8) < tolerance
    # and the band follows the spread: wider at |x| > 1.5 than at |x| < 0.5
    width = bounds[0.9] - bounds[0.1]
    assert width[np.abs(X_test[:, 0]) > 1.5].mean() > 2 * width[np.abs(X_test[:, 0]) < 0.5].mean()


def test_robust_losses_beat_squared_error_with_gross_outliers():
    rng = np.random.default_rng(1)
    x = rng.uniform(-2, 2, size=(2000, 1))
    y = np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=2000)
    y[rng.random(2000) < 0.1] += 30   # 10 % of the targets are gross outliers
    x_test = np.linspace(-2, 2, 500)[:, None]
    clean = np.sin(2 * x_test[:, 0])
    error = {}
    for loss in ("squared_error", "huber", "absolute_error"):
        reg = MLPRegressor(loss=loss, hidden_layer_sizes=(32, 32), learning_rate_init=0.01,
                           max_iter=300, random_state=0).fit(x, y)
        error[loss] = np.abs(reg.predict(x_test) - clean).mean()
    assert error["squared_error"] > 2.0          # pulled up by the outliers (by ~3)
    assert error["huber"] < 0.3 and error["absolute_error"] < 0.15


def test_gamma_models_skewed_positive_targets():
    rng = np.random.default_rng(2)
    X = rng.uniform(-1, 1, size=(2000, 2))
    mean = np.exp(1 + X[:, 0] - X[:, 1])
    y = rng.gamma(2.0, mean / 2.0)
    reg = MLPRegressor(loss="gamma", hidden_layer_sizes=(16,), learning_rate_init=0.01,
                       max_iter=300, random_state=0).fit(X, y)
    assert reg.out_activation_ == "exp"
    assert np.abs(np.log(reg.predict(X) / mean)).mean() < 0.1
    with pytest.raises(ValueError, match="positive y"):
        MLPRegressor(loss="gamma").fit(X, np.where(y > 3, y, 0.0))


@pytest.mark.parametrize("params", [{"loss": "quantile", "quantile": 1.0},
                                    {"loss": "quantile", "quantile": 0.0},
                                    {"loss": "huber", "huber_epsilon": 0.0},
                                    {"loss": "hinge"}])
def test_bad_loss_parameters_are_refused(params):
    with pytest.raises(InvalidParameterError):
        MLPRegressor(**params).fit(np.ones((4, 2)), np.arange(4.0))


def test_defaults_are_unchanged():
    """squared_error's network carries no loss options: its layout and its results are
    what they were."""
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, y)
    assert set(reg._network.layout()) == {"layers", "steps", "activations", "output"}


def test_warm_start_with_another_loss_continues_the_weights():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(200, 2)), rng.normal(size=200)
    reg = MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, warm_start=True,
                       random_state=0)
    with _no_check():
        reg.fit(X, y)
        before = reg.coefs_[0].copy()
        reg.set_params(loss="quantile", quantile=0.9).fit(X, y)
    assert reg._network.loss_name == "quantile" and reg._network.loss_param == 0.9
    assert not np.array_equal(before, reg.coefs_[0])
    with pytest.raises(ValueError, match="output layer"):
        reg.set_params(loss="gamma").fit(X, np.abs(y) + 1)


@pytest.mark.parametrize("loss", NEW_LOSSES)
def test_model_files_keep_the_loss(tmp_path, loss):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(100, 3))
    y = np.exp(X[:, 0] / 2) + 0.1
    reg = MLPRegressor(loss=loss, hidden_layer_sizes=(6,), max_iter=20, random_state=0,
                       quantile=0.7, huber_epsilon=0.4)
    with _no_check():
        reg.fit(X, y)
    path = tmp_path / "model.cymlp"
    model_io.save(reg, path)
    loaded = model_io.load(path)
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert loaded._network.layout() == reg._network.layout()
    # continued training descends the same loss, not the output's paired one
    Y = y[:, None]
    assert loaded._network.loss(X, Y) == reg._network.loss(X, Y)
    paired = Network([3, 6, 1], output=reg.out_activation_)
    paired.params = reg._network.params
    assert paired.loss(X, Y) != reg._network.loss(X, Y)
    with _no_check():
        loaded.partial_fit(X, y)
    assert loaded._network.loss_name == loss


@pytest.mark.parametrize("change,message", [
    (lambda h: h["params"].update(quantile=0.4), "quantile=0.4 but the network's"),
    (lambda h: h["network"].update(loss_param=1.5), "quantile in"),
    (lambda h: h["network"].update(loss="huber"), "loss 'quantile' but the network's"),
    (lambda h: h["network"].update(loss="gamma"), "computed with output 'exp'"),
    (lambda h: h["network"].update(loss_param="0.3"), "loss_param must be a number"),
    (lambda h: h["network"].update(softmax_groups=[1]), "softmax_groups"),
])
def test_model_file_with_a_mismatched_loss_is_refused(tmp_path, change, message):
    from test_model_io import _rewrite_header
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(50, 2)), rng.normal(size=50)
    with _no_check():
        reg = MLPRegressor(loss="quantile", quantile=0.3, hidden_layer_sizes=(4,),
                           max_iter=3, random_state=0).fit(X, y)
    path = model_io.save(reg, tmp_path / "model.npz")
    _rewrite_header(path, change)
    with pytest.raises(model_io.ModelFileError, match=message):
        model_io.load(path)


# -- the command line --------------------------------------------------------------------

def test_cli_quantile_and_gamma_on_a_table(tmp_path):
    pytest.importorskip("pandas")
    from test_tables import diamonds, run, train, write

    data = write(diamonds(), tmp_path / "diamonds.csv")
    out, stdout, metrics = train(tmp_path, "--data", data, "--target", "price",
                                 "--loss", "quantile", "--quantile", "0.9", name="q")
    assert "loss quantile (0.9)" in stdout
    assert "validation loss" in stdout or metrics["best_epoch"] is None
    assert abs(metrics["test_below_prediction"] - 0.9) < 0.05
    loaded = model_io.load(out / "model.npz")
    estimator = model_io.pipeline_estimator(loaded)
    assert estimator.loss == "quantile" and estimator.quantile == 0.9
    # gamma: the price as it is (a standardized target would have negative values)
    out, stdout, metrics = train(tmp_path, "--data", data, "--target", "price",
                                 "--loss", "gamma", name="g")
    assert metrics["test_score"] > 0.8
    loaded = model_io.load(out / "model.npz")
    assert type(loaded.steps[-1][1]).__name__ == "MLPRegressor"
    result = run("evaluate", str(out / "model.npz"), "--data", data)
    assert result.returncode == 0 and result.stdout.startswith("R2: 0."), result.stderr


@pytest.mark.parametrize("args,message", [
    (["--quantile", "0.3"], "--quantile needs --loss quantile"),
    (["--loss", "huber", "--quantile", "0.3"], "--quantile needs --loss quantile"),
    (["--huber-epsilon", "2"], "--huber-epsilon needs --loss huber"),
    (["--loss", "quantile", "--quantile", "1"], "must be a number in (0, 1)"),
    (["--loss", "hinge"], "invalid choice: 'hinge'"),
    (["--loss", "huber", "--task", "classify"], "--loss is for regression"),
    (["--loss", "gamma"], "--loss gamma needs targets > 0; "),
])
def test_cli_refuses_loss_options_that_do_not_fit(tmp_path, args, message):
    from test_tables import penguins, run, write

    frame = penguins()
    frame["change"] = frame["flipper_length_mm"] - 200   # negative and positive values
    data = write(frame, tmp_path / "penguins.csv")
    target = "species" if "classify" in args else "change"
    result = run("train", "--data", data, "--target", target, "--epochs", "1", *args,
                 cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
