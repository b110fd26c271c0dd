"""Network: forward against plain NumPy, parameters as views, validation, training steps."""
import pickle
import threading

import numpy as np
import pytest
from scipy.special import expit, softmax

import cymlp
from cymlp.network import DivergenceError

NUMPY_ACTIVATIONS = {"identity": lambda u: u, "logistic": expit, "tanh": np.tanh,
                     "relu": lambda u: np.maximum(u, 0)}
NUMPY_OUTPUTS = {"identity": lambda u: u, "logistic": expit, "exp": np.exp,
                 "softmax": lambda u: softmax(u, axis=1)}


def numpy_forward(net, X):
    """O_k = f(O_{k-1} W_k + b_k) in float64 NumPy, from the network's own parameters."""
    out = np.asarray(X, dtype=np.float64)
    acts = net.hidden_activations + [None]
    for k, layer in enumerate(net.step_layers):
        u = out @ net.coefs[layer].astype(np.float64) + net.intercepts[layer]
        out = NUMPY_ACTIVATIONS[acts[k]](u) if k < net.n_steps - 1 else NUMPY_OUTPUTS[net.output](u)
    return out


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("activation", sorted(NUMPY_ACTIVATIONS))
@pytest.mark.parametrize("output", sorted(NUMPY_OUTPUTS))
def test_forward_matches_numpy(dtype, tol, activation, output):
    rng = np.random.default_rng(0)
    net = cymlp.Network([12, 9, 7, 4], activation=activation, output=output, dtype=dtype,
                        random_state=0)
    X = rng.normal(size=(3000, 12)).astype(dtype)  # several 1024-row blocks
    got = net.forward(X)
    assert got.dtype == dtype and got.shape == (3000, 4)
    np.testing.assert_allclose(got, numpy_forward(net, X), rtol=tol, atol=tol)


@pytest.mark.parametrize("rows", [1, 2, 7, 8, 9])
def test_forward_of_few_rows_matches_numpy(rows):
    """Fewer than 8 rows go through row_product, more through gemm: both agree with NumPy."""
    net = cymlp.Network([30, 20, 4], activation="tanh", random_state=0)
    X = np.random.default_rng(rows).normal(size=(rows, 30))
    np.testing.assert_allclose(net.forward(X), numpy_forward(net, X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype, tol, blocks", [(np.float32, 2e-5, 2), (np.float64, 1e-12, 4)])
@pytest.mark.parametrize("rows", [1, 3, 7])
def test_small_predictions_with_blocked_weights_match_numpy_and_batches(dtype, tol, blocks, rows):
    """A 784 x 200 W is cut into row blocks that fit an L2 cache (2 of them in float32,
    4 in float64); their partial sums agree with NumPy and with the gemm path."""
    net = cymlp.Network([784, 200, 100, 10], activation="logistic", dtype=dtype,
                        random_state=0)
    assert net._engine.max_k_blocks == blocks
    X = np.random.default_rng(rows).normal(size=(rows, 784)).astype(dtype)
    got = net.forward(X)
    np.testing.assert_allclose(got, numpy_forward(net, X), rtol=tol, atol=tol)
    padded = np.vstack([X, np.zeros((8, 784), dtype=dtype)])      # 8+ rows: gemm
    np.testing.assert_allclose(got, net.forward(padded)[:rows], rtol=tol, atol=tol)


def test_small_predictions_through_a_tall_layer_use_at_most_16_blocks():
    net = cymlp.Network([100000, 10, 3], activation="tanh", random_state=0)   # 8 MB W
    assert net._engine.max_k_blocks == 16
    X = np.random.default_rng(0).normal(size=(7, 100000))
    np.testing.assert_allclose(net.forward(X), numpy_forward(net, X), rtol=1e-10, atol=1e-12)


def test_small_predictions_do_not_depend_on_the_thread_count(openblas_only):
    from threadpoolctl import threadpool_limits

    from cymlp import _pool

    shared = cymlp.Dense(400, 400)     # 640 KB in float32: two blocks, used twice
    net = cymlp.Network([cymlp.Dense(784, 400), shared, shared, cymlp.Dense(400, 10)],
                        activation="tanh", dtype=np.float32, random_state=0)
    X = np.random.default_rng(0).normal(size=(2, 784)).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        with threadpool_limits(threads):
            assert _pool.current_thread_limit() == (threads if openblas_only else 1)
            results.append(net.forward(X))
            if threads > 1 and openblas_only:
                assert _pool.n_helpers() >= 1
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    np.testing.assert_allclose(results[0], numpy_forward(net, X), rtol=2e-5, atol=2e-5)


def test_small_predictions_from_many_threads_at_once():
    net = cymlp.Network([784, 200, 10], activation="relu", dtype=np.float32, random_state=0)
    X = np.random.default_rng(0).normal(size=(64, 784)).astype(np.float32)
    expected = np.vstack([net.forward(X[i:i + 1]) for i in range(64)])
    errors = []

    def work(offset):
        for repeat in range(20):
            for i in range(offset, 64, 4):
                if not np.array_equal(net.forward(X[i:i + 1]), expected[i:i + 1]):
                    errors.append((offset, repeat, i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_parameters_are_views_of_one_flat_buffer():
    net = cymlp.Network([3, 4, 2], random_state=0)
    assert net.params.size == 3 * 4 + 4 * 2 + 4 + 2
    net.coefs[0][0, 0] = 42.0
    assert net.params[0] == 42.0
    net.intercepts[1][:] = 7.0
    np.testing.assert_array_equal(net.params[-2:], 7.0)
    before = net.forward(np.ones((1, 3)))
    net.params = net.params * 0
    np.testing.assert_allclose(net.forward(np.ones((1, 3))), [[0.5, 0.5]])
    assert not np.allclose(before, [[0.5, 0.5]])


def test_same_seed_same_parameters_and_sklearn_glorot_bounds():
    a = cymlp.Network([784, 200, 100, 10], activation="logistic", random_state=3)
    b = cymlp.Network([784, 200, 100, 10], activation="logistic", random_state=3)
    np.testing.assert_array_equal(a.params, b.params)
    assert np.abs(a.coefs[0]).max() <= np.sqrt(2 / (784 + 200))
    relu = cymlp.Network([784, 200, 10], random_state=3)
    assert np.abs(relu.coefs[0]).max() > np.sqrt(2 / (784 + 200))


def test_pickle_round_trip_keeps_parameters_and_sharing():
    shared = cymlp.Dense(3, 3)
    net = cymlp.Network([cymlp.Dense(2, 3), shared, shared, cymlp.Dense(3, 2)],
                        activation="tanh", output="identity", dtype=np.float32, random_state=1)
    clone = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(clone.params, net.params)
    assert clone.step_layers == net.step_layers and clone.dtype == np.float32
    X = np.random.default_rng(0).normal(size=(4, 2))
    np.testing.assert_array_equal(clone.forward(X), net.forward(X))


@pytest.mark.parametrize("bad, error, message", [
    (np.ones((4, 3)), ValueError, "columns"),
    (np.ones(5), ValueError, "2-D"),
    (np.ones((2, 5, 1)), ValueError, "2-D"),
    (np.zeros((0, 5)), ValueError, "empty"),
    (np.array([[np.nan] * 5]), ValueError, "NaN"),
    (np.array([[np.inf] * 5]), ValueError, "NaN or infinity"),
    (np.array([["a"] * 5]), TypeError, "real numbers"),
    (np.array([[object()] * 5]), TypeError, "real numbers"),
])
def test_bad_inputs_raise_clear_errors(bad, error, message):
    net = cymlp.Network([5, 3, 2], random_state=0)
    with pytest.raises(error, match=message):
        net.backward(bad, np.ones((len(bad) if bad.ndim else 1, 2)))


def test_inputs_are_converted_not_modified():
    net = cymlp.Network([5, 3, 2], random_state=0)
    X = np.asfortranarray(np.random.default_rng(0).normal(size=(6, 5)))
    X_big_endian = X.astype(">f8")
    X_read_only = X.copy()
    X_read_only.setflags(write=False)
    X_strided = np.random.default_rng(0).normal(size=(6, 10))[:, ::2]
    keep = X.copy()
    expected = net.forward(np.ascontiguousarray(X))
    for variant in (X, X_big_endian, X_read_only, X.tolist(), X.astype(np.int64)):
        assert net.forward(variant).shape == (6, 2)
    np.testing.assert_allclose(net.forward(X_big_endian), expected, rtol=1e-15)
    np.testing.assert_allclose(net.forward(X_read_only), expected, rtol=1e-15)
    np.testing.assert_allclose(net.forward(X_strided), numpy_forward(net, X_strided), rtol=1e-12)
    np.testing.assert_array_equal(X, keep)


@pytest.mark.parametrize("kwargs, message", [
    (dict(layers=[5]), "at least two"),
    (dict(layers=[5, 0, 2]), ">= 1"),
    (dict(layers=[5, 3, 2], activation="swish"), "unknown activation"),
    (dict(layers=[5, 3, 2], output="tanh"), "unknown output"),
    (dict(layers=[5, 3, 2], activation=["relu", "relu"]), "2 entries for 1 hidden"),
    (dict(layers=[cymlp.Dense(2, 3), cymlp.Dense(4, 1)]), "step 1 has 4 inputs"),
    # no hidden step: a wrong name was ignored
    (dict(layers=[5, 2], activation="swish"), "unknown activation 'swish'"),
    (dict(layers=[5, 3, 1], output="softmax"), "softmax output needs at least 2 units"),
    # refused before 32 GB of float64 parameters and gradients are allocated
    (dict(layers=[2 ** 30, 2]), "2147483650 parameters: more than BLAS's 32-bit sizes"),
    # a shared layer's parameters count once
    (dict(layers=[cymlp.Dense(46341, 46341)] * 2), "2147534622 parameters"),
])
def test_bad_network_specs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        cymlp.Network(**kwargs)


def test_dtype_spec():
    for spelling in (np.float32, "float32", "f4", np.dtype(np.float32)):
        assert cymlp.Network([2, 2], dtype=spelling).dtype == np.float32
    for spelling in (np.float64, float, "float64", "double"):
        assert cymlp.Network([2, 2], dtype=spelling).dtype == np.float64
    for bad in (np.int32, "float16", ">f8", None, "no such type", object()):
        with pytest.raises(TypeError, match="dtype must be float32 or float64"):
            cymlp.Network([2, 2], dtype=bad)


def test_random_state_spec():
    same = [cymlp.Network([3, 2], random_state=seed).params
            for seed in (7, np.int64(7), np.random.RandomState(7))]
    np.testing.assert_array_equal(same[0], same[1])
    np.testing.assert_array_equal(same[0], same[2])
    for bad in ("7", 7.0, np.random.default_rng(7)):
        with pytest.raises(TypeError, match="random_state must be None, an int or a "
                                            "numpy.random.RandomState"):
            cymlp.Network([3, 2], random_state=bad)


def _numpy_sgd_epoch(net, X, Y, lr, momentum, nesterov, batch):
    """Reference mini-batch SGD in NumPy, using the network's own backward."""
    velocity = np.zeros_like(net.params)
    for start in range(0, len(X), batch):
        _, dW, db = net.backward(X[start:start + batch], Y[start:start + batch])
        g = np.concatenate([x.ravel() for x in dW + db])
        velocity = momentum * velocity - lr * g
        step = momentum * velocity - lr * g if nesterov else velocity
        net.params = net.params + step


@pytest.mark.parametrize("nesterov", [False, True])
def test_compiled_sgd_epoch_matches_numpy_reference(nesterov):
    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(50, 6)), np.eye(3)[rng.integers(0, 3, 50)]
    net = cymlp.Network([6, 8, 3], activation="tanh", random_state=0)
    ref = pickle.loads(pickle.dumps(net))
    net.train_epoch(X, Y, cymlp.SGD(0.1, 0.9, nesterov), batch_size=16)
    _numpy_sgd_epoch(ref, X, Y, 0.1, 0.9, nesterov, 16)
    np.testing.assert_allclose(net.params, ref.params, rtol=1e-12, atol=1e-14)


def test_compiled_adam_epoch_matches_numpy_reference():
    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(40, 5)), rng.normal(size=(40, 2))
    net = cymlp.Network([5, 7, 2], activation="relu", output="identity", random_state=0)
    ref = pickle.loads(pickle.dumps(net))
    opt = cymlp.Adam(0.01)
    net.train_epoch(X, Y, opt, batch_size=10, alpha=0.2)
    assert opt.t == 4
    m = v = np.zeros_like(ref.params)
    for t, start in enumerate(range(0, 40, 10), 1):
        _, dW, db = ref.backward(X[start:start + 10], Y[start:start + 10], alpha=0.2)
        g = np.concatenate([x.ravel() for x in dW + db])
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        lr_t = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        ref.params = ref.params - lr_t * m / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(net.params, ref.params, rtol=1e-10, atol=1e-13)


def test_epoch_loss_is_weighted_mean_of_batch_losses_and_order_is_used():
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(30, 4)), np.eye(2)[rng.integers(0, 2, 30)]
    net = cymlp.Network([4, 3, 2], random_state=0)
    ref = pickle.loads(pickle.dumps(net))
    order = rng.permutation(30)
    result = net.train_epoch(X, Y, cymlp.SGD(0.5, 0.0, False), batch_size=8, order=order)
    losses = []
    for start in range(0, 30, 8):
        rows = order[start:start + 8]
        loss, dW, db = ref.backward(X[rows], Y[rows])
        losses.append(loss * len(rows))
        ref.params = ref.params - 0.5 * np.concatenate([x.ravel() for x in dW + db])
    assert result.n_batches == 4 and result.n_samples == 30
    assert result.loss == pytest.approx(sum(losses) / 30, rel=1e-12)
    np.testing.assert_allclose(net.params, ref.params, rtol=1e-12)


def test_workspace_is_allocated_once_per_batch_size():
    rng = np.random.default_rng(10)
    X, Y = rng.normal(size=(100, 4)), np.eye(2)[rng.integers(0, 2, 100)]
    net = cymlp.Network([4, 8, 2], random_state=0)
    opt = cymlp.Adam()
    net.train_epoch(X, Y, opt, batch_size=32)
    buffers = net._engine.workspace_bytes
    assert buffers > 0
    for _ in range(3):
        net.train_epoch(X, Y, opt, batch_size=32)
    assert net._engine.workspace_bytes == buffers
    net.release_workspace()
    assert net._engine.workspace_bytes == 0


def test_divergence_raises_and_skips_the_bad_batch():
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(64, 3)) * 1e3, rng.normal(size=(64, 1)) * 1e3
    net = cymlp.Network([3, 16, 1], activation="relu", output="identity", random_state=0)
    with pytest.raises(DivergenceError, match="NaN or infinite") as info:
        for _ in range(50):
            net.train_epoch(X, Y, cymlp.SGD(10.0, 0.9), batch_size=8)
    assert np.isfinite(info.value.result.n_batches)


def test_forward_from_many_threads_on_one_network():
    rng = np.random.default_rng(12)
    net = cymlp.Network([20, 30, 5], random_state=0, dtype=np.float32)
    inputs = [rng.normal(size=(rng.integers(1, 3000), 20)).astype(np.float32) for _ in range(8)]
    expected = [net.forward(X) for X in inputs]
    results = [None] * 8

    def work(i):
        for _ in range(5):
            results[i] = net.forward(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Up to the last bits: a large prediction runs on cymlp's pool with single-threaded
    # BLAS when its thread can hold BLAS at one thread, else on threaded BLAS
    # (threadpoolctl lets one thread at a time set OpenBLAS's thread count).
    for got, want in zip(results, expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_train_epoch_argument_checks():
    net = cymlp.Network([2, 2], random_state=0)
    X, Y = np.ones((4, 2)), np.eye(2)[[0, 1, 0, 1]]
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        net.train_epoch(X, Y, cymlp.SGD(), batch_size=0)
    with pytest.raises(TypeError, match="optimizer"):
        net.train_epoch(X, Y, "sgd")
    with pytest.raises(ValueError, match="learning_rate"):
        cymlp.SGD(learning_rate=-1)
    with pytest.raises(ValueError, match="outside"):
        net.train_epoch(X, Y, cymlp.SGD(), order=[0, 9])
    with pytest.raises(ValueError, match="alpha"):
        net.train_epoch(X, Y, cymlp.SGD(), alpha=-1)


def test_non_finite_penalty_rejects_the_batch_before_any_update():
    """A weight whose square overflows float32 (1e20^2) on an input that is always 0:
    the data loss stays finite, the L2 penalty does not, and no update may happen."""
    net = cymlp.Network([3, 4, 2], activation="tanh", dtype=np.float32, random_state=0)
    net.coefs[0][0, 0] = 1e20
    X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    X[:, 0] = 0
    Y = np.eye(2, dtype=np.float32)[np.arange(16) % 2]
    before = net.params.copy()
    with pytest.raises(DivergenceError):
        net.train_epoch(X, Y, cymlp.Adam(0.01), batch_size=8, alpha=0.1)
    np.testing.assert_array_equal(net.params, before)


def test_softmax_targets_must_be_distributions():
    # for a row summing to s the cross-entropy's gradient is O s - Y, not O - Y: such
    # rows trained on a gradient that was not the reported loss's (finite differences
    # disagreed by a factor of 2 on rows of 0.5s)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6, 4))
    for dtype in (np.float32, np.float64):
        net = cymlp.Network([4, 5, 3], random_state=0, dtype=dtype)
        for Y, message in ((np.full((6, 3), 0.5), "row 0 is not a distribution .* sums "
                                                  "to 1.5"),
                           (np.eye(3)[[0, 1, 2, 0, 1, 2]] * [[1], [1], [-1], [1], [1], [1]],
                            "row 2 is not a distribution")):
            for call in (net.loss, net.backward, net.check_xy,
                         lambda X, Y: net.train_epoch(X, Y, cymlp.SGD())):
                with pytest.raises(ValueError, match=message):
                    call(X, Y)
    # one-hot and soft labels (label smoothing 0.1 over 3 classes) are distributions,
    # and their gradient is the loss's
    net = cymlp.Network([4, 5, 3], random_state=0)
    smooth = np.eye(3)[[0, 1, 2, 0, 1, 2]] * 0.9 + 0.1 / 3
    _, dW, _ = net.backward(X, smooth)
    start, h = net.params.copy(), 1e-6
    step = np.zeros_like(start)
    step[0] = h
    net.params = start + step
    plus = net.loss(X, smooth)
    net.params = start - step
    minus = net.loss(X, smooth)
    assert (plus - minus) / (2 * h) == pytest.approx(dW[0].ravel()[0], rel=1e-6)
    net.params = start
    float32 = cymlp.Network([4, 5, 3], random_state=0, dtype=np.float32)
    float32.loss(X, smooth.astype(np.float32))
