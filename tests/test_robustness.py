"""Nothing crashes, nothing is lost: properties, threads, interrupts, memory, bad input."""
import _thread
import gc
import threading
import time
import warnings
import weakref

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

import cymlp

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


# -- properties ------------------------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(1, 7), min_size=2, max_size=5),
       activation=st.sampled_from(ACTIVATIONS),
       output=st.sampled_from(["softmax", "logistic", "identity", "exp"]),
       rows=st.integers(1, 12), seed=st.integers(0, 2 ** 16))
def test_gradients_match_finite_differences(sizes, activation, output, rows, seed):
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)   # a softmax of one unit is refused
    rng = np.random.default_rng(seed)
    net = cymlp.Network(sizes, activation=activation, output=output, random_state=seed)
    X = rng.normal(size=(rows, sizes[0]))
    k = sizes[-1]
    Y = {"softmax": np.eye(k)[rng.integers(0, k, rows)],
         "logistic": (rng.random((rows, k)) < 0.5) * 1.0,
         "exp": rng.poisson(1.0, (rows, k)) * 1.0}.get(output, rng.normal(size=(rows, k)))
    _, dW, db = net.backward(X, Y, alpha=0.05)
    analytic = np.concatenate([g.ravel() for g in dW + db])
    start, h = net.params.copy(), 1e-6
    for i in rng.choice(start.size, size=min(start.size, 12), replace=False):
        step = np.zeros_like(start)
        step[i] = h
        net.params = start + step
        plus = net.loss(X, Y, alpha=0.05)
        net.params = start - step
        minus = net.loss(X, Y, alpha=0.05)
        numeric = (plus - minus) / (2 * h)
        # relu kinks make finite differences unreliable right at 0: skip those
        assert abs(numeric - analytic[i]) <= 1e-5 * max(1, abs(numeric)) or activation == "relu"
    net.params = start


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 9), min_size=2, max_size=4),
       activation=st.sampled_from(ACTIVATIONS), dtype=st.sampled_from([np.float32, np.float64]),
       rows=st.integers(1, 40), scale=st.sampled_from([1.0, 1e2, 1e4]), seed=st.integers(0, 999))
def test_outputs_finite_and_probabilities_sum_to_one(sizes, activation, dtype, rows, scale, seed):
    rng = np.random.default_rng(seed)
    X = (rng.uniform(-1, 1, size=(rows, sizes[0])) * scale).astype(dtype)
    for output in ("softmax", "logistic", "identity"):
        if output == "softmax" and sizes[-1] == 1:
            continue   # a softmax of one unit is refused
        net = cymlp.Network(sizes, activation=activation, output=output, dtype=dtype,
                            random_state=seed)
        out = net.forward(X)
        if activation != "identity" or scale < 1e4 or output != "identity":
            assert np.isfinite(out).all()
        if output == "softmax":
            np.testing.assert_allclose(out.sum(axis=1), 1, rtol=1e-5)


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 70), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 999))
def test_any_batch_size_trains_and_predict_proba_sums_to_one(batch, dtype, seed):
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = cymlp.MLPClassifier((5,), batch_size=batch, max_iter=3, random_state=seed)
        clf.fit(X.astype(dtype), y)
    proba = clf.predict_proba(X.astype(dtype) * 1e4)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)


# -- threads -----------------------------------------------------------------------

def _fit(seed, results, key, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = cymlp.MLPClassifier((64, 32), max_iter=8, random_state=seed).fit(X, y)
    results[key] = [p.copy() for p in clf.coefs_ + clf.intercepts_]


def test_two_fits_in_two_threads_are_bit_identical_to_sequential_fits():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 40)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 1)
    sequential, parallel = {}, {}
    for seed in (1, 2):
        _fit(seed, sequential, seed, X, y)
    threads = [threading.Thread(target=_fit, args=(seed, parallel, seed, X, y)) for seed in (1, 2)]
    # BLAS held at one thread around both fits: otherwise the thread whose fit ends first
    # lifts the limit it owns, and the other fit's remaining batches run on threaded BLAS
    # (equal to rounding, not to the bit: seen once in CI)
    from cymlp._threads import training_plan
    with training_plan(128):
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for seed in (1, 2):
        for a, b in zip(sequential[seed], parallel[seed]):
            np.testing.assert_array_equal(a, b)


def test_estimator_predicts_from_many_threads():
    X, y = load_iris(return_X_y=True)
    clf = cymlp.MLPClassifier((20,), max_iter=300, random_state=0).fit(X, y)
    big = np.repeat(X, 50, axis=0)
    expected = clf.predict_proba(big)
    errors = []

    def work():
        for _ in range(20):
            if not np.array_equal(clf.predict_proba(big), expected):
                errors.append("mismatch")

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_training_one_network_from_two_threads_is_refused_not_corrupted():
    net = cymlp.Network([50, 400, 10], random_state=0)
    X = np.random.default_rng(0).normal(size=(20000, 50))
    Y = np.eye(10)[np.random.default_rng(1).integers(0, 10, 20000)]
    outcomes = []

    def train():
        try:
            net.train_epoch(X, Y, cymlp.SGD(0.01), batch_size=32)
            outcomes.append("trained")
        except RuntimeError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=train) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "trained" in outcomes
    assert all(o == "trained" or "in use by another thread" in o for o in outcomes)
    assert np.isfinite(net.params).all()


# -- interrupts --------------------------------------------------------------------

def test_ctrl_c_stops_fit_within_a_second_at_a_batch_boundary():
    rng = np.random.default_rng(0)
    X = rng.random((20000, 784)).astype(np.float32)
    y = rng.integers(0, 10, 20000)
    clf = cymlp.MLPClassifier((200, 100), batch_size=100, max_iter=10_000, random_state=0)
    timer = threading.Timer(1.0, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        clf.fit(X, y)
    stopped = time.perf_counter() - start - 1.0
    timer.join()
    assert stopped < 1.0, stopped
    assert clf.t_ % 100 == 0 and clf.t_ > 0  # whole batches only
    assert np.isfinite(clf._network.params).all()
    assert clf.predict(X[:5]).shape == (5,)


# -- divergence --------------------------------------------------------------------

def test_partial_fit_keeps_last_finite_weights_when_it_diverges():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 5)), rng.normal(size=300)
    reg = cymlp.MLPRegressor(hidden_layer_sizes=(30,), solver="sgd", learning_rate_init=1e-3,
                             random_state=0)
    reg.partial_fit(X, y)
    before = reg._network.params.copy()
    t_before, iterations = reg.t_, reg.n_iter_
    with pytest.raises(ValueError, match="non-finite"):
        reg.partial_fit(X * 1e200, y * 1e200)
    np.testing.assert_array_equal(reg._network.params, before)
    assert (reg.t_, reg.n_iter_) == (t_before, iterations)
    reg.partial_fit(X, y)  # and it goes on training


# -- memory --------------------------------------------------------------------------

def _rss_bytes():
    with open("/proc/self/statm") as handle:
        import resource
        return int(handle.read().split()[1]) * resource.getpagesize()


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="Linux only")
def test_no_leak_over_200_fit_predict_cycles():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 30)).astype(np.float32)
    y = rng.integers(0, 3, 400)

    def cycle():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = cymlp.MLPClassifier((64,), max_iter=3, random_state=0).fit(X, y)
        clf.predict_proba(X)
        clf._network.forward(X[:3])

    for _ in range(30):
        cycle()
    gc.collect()
    warm = _rss_bytes()
    for _ in range(200):
        cycle()
    gc.collect()
    assert _rss_bytes() < warm * 1.05, (warm, _rss_bytes())


def test_models_and_their_buffers_are_freed_on_delete():
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = cymlp.MLPClassifier((10,), max_iter=5, random_state=0).fit(X, y)
    refs = [weakref.ref(clf), weakref.ref(clf._network), weakref.ref(clf._network._engine),
            weakref.ref(clf._network.params)]
    del clf
    gc.collect()
    assert all(ref() is None for ref in refs)


# -- bad input to the estimators ----------------------------------------------------

IRIS_X, IRIS_Y = load_iris(return_X_y=True)


@pytest.mark.parametrize("make, error, message", [
    (lambda: (IRIS_X[:, 0], IRIS_Y), ValueError, "2D"),
    (lambda: (IRIS_X[None], IRIS_Y), ValueError, "dim"),
    (lambda: (IRIS_X[:0], IRIS_Y[:0]), ValueError, "0 sample"),
    (lambda: (np.where(IRIS_X > 7, np.nan, IRIS_X), IRIS_Y), ValueError, "NaN"),
    (lambda: (np.where(IRIS_X > 7, np.inf, IRIS_X), IRIS_Y), ValueError, "infinity"),
    (lambda: (IRIS_X.astype(str).astype(object) + "x", IRIS_Y), ValueError, "convert"),
    (lambda: (IRIS_X, IRIS_Y[:10]), ValueError, "inconsistent numbers of samples"),
])
def test_bad_training_input_is_refused_clearly(make, error, message):
    X, y = make()
    with pytest.raises(error, match=message):
        cymlp.MLPClassifier(max_iter=5).fit(X, y)


@pytest.mark.parametrize("dtype, huge", [(np.float64, 1e308), (np.float32, 3e38)])
@pytest.mark.parametrize("activation", ["relu", "identity", "leaky_relu"])
def test_inputs_that_overflow_the_network_are_refused_not_predicted(dtype, huge,
                                                                     activation):
    # finite inputs whose hidden sums overflow: softmax of inf logits is NaN, whose
    # argmax is class 0 (scikit-learn returns those, with numpy's RuntimeWarnings)
    X = IRIS_X.astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = [cymlp.MLPClassifier((8,), activation=activation, max_iter=20,
                                      random_state=0).fit(X, IRIS_Y),
                  cymlp.MLPRegressor(hidden_layer_sizes=(8,), activation=activation,
                                     max_iter=20, random_state=0).fit(X, IRIS_X[:, 0])]
    far = X.copy()
    far[[3, 70]] = huge
    for model in models:
        for W in model.coefs_:
            W[...] = np.abs(W) + 1   # every path from an input to an output multiplies
        methods = [model.predict, lambda Z: model.score(Z, model.predict(X))]
        if hasattr(model, "predict_proba"):
            methods += [model.predict_proba, model.predict_log_proba]
        for method in methods:
            with pytest.raises(ValueError, match=r"NaN or infinite for 2 of 150 rows "
                                                 r"\(rows 3, 70\)"):
                method(far)
        assert np.isfinite(model.predict(X).astype(float)).all()


@pytest.mark.parametrize("params, message", [
    (dict(hidden_layer_sizes=(0,)), "hidden_layer_sizes"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=-3), "batch_size"),
    (dict(learning_rate_init=0.0), "learning_rate_init"),
    (dict(learning_rate_init=-1.0), "learning_rate_init"),
    (dict(activation="swish"), "activation"),
    (dict(max_iter=0), "max_iter"),
])
def test_bad_parameters_are_refused_clearly(params, message):
    with pytest.raises(ValueError, match=message):
        cymlp.MLPClassifier(**params).fit(IRIS_X, IRIS_Y)


def test_awkward_arrays_are_converted_and_left_untouched():
    clf = cymlp.MLPClassifier((8,), max_iter=200, random_state=0).fit(IRIS_X, IRIS_Y)
    expected = clf.predict_proba(IRIS_X)
    fortran = np.asfortranarray(IRIS_X)
    big_endian = IRIS_X.astype(">f8")
    read_only = IRIS_X.copy()
    read_only.setflags(write=False)
    strided = np.repeat(IRIS_X, 2, axis=1)[:, ::2]
    for variant in (fortran, big_endian, read_only, strided, IRIS_X.tolist()):
        np.testing.assert_allclose(clf.predict_proba(variant), expected, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_proba((IRIS_X * 10).astype(np.int64)),
                               clf.predict_proba(IRIS_X * 10), rtol=1e-12)
    reg = cymlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    with pytest.raises(ValueError):
        reg.fit(IRIS_X, np.array(["a", "b", "c"])[IRIS_Y])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cymlp.MLPClassifier((4,), max_iter=5).fit(read_only, IRIS_Y)  # read-only X trains


def _unaligned(array):
    """A copy of ``array`` one byte off its natural alignment (as Dask or pickle protocol
    5 can hand arrays over)."""
    raw = np.zeros(array.nbytes + 1, dtype=np.uint8)[1:]
    out = raw.view(array.dtype).reshape(array.shape)
    out[...] = array
    assert not out.flags.aligned
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unaligned_arrays_are_copied_not_refused(dtype):
    X, y = IRIS_X.astype(dtype), IRIS_Y
    weights = np.linspace(0.5, 1.5, len(y)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        aligned = cymlp.MLPClassifier((6,), max_iter=5, random_state=0)
        aligned.fit(X, y, sample_weight=weights).partial_fit(X, y)
        moved = cymlp.MLPClassifier((6,), max_iter=5, random_state=0)
        moved.fit(_unaligned(X), y, sample_weight=_unaligned(weights))
        moved.partial_fit(_unaligned(X), _unaligned(y))
        reg = cymlp.MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, early_stopping=True,
                                 random_state=0)
        expected = reg.fit(X, X[:, 0].copy()).predict(X)
        got = reg.fit(_unaligned(X), _unaligned(X[:, 0].copy())).predict(_unaligned(X))
    np.testing.assert_array_equal(moved.predict_proba(_unaligned(X)), aligned.predict_proba(X))
    np.testing.assert_array_equal(got, expected)
    net = cymlp.Network([4, 3, 3], dtype=dtype, random_state=0)
    Y = np.eye(3, dtype=dtype)[y]
    np.testing.assert_array_equal(net.forward(_unaligned(X)), net.forward(X))
    assert net.loss(_unaligned(X), _unaligned(Y)) == net.loss(X, Y)
