"""The thread pool, the data-parallel epoch and the BLAS-thread policy.

A batch split into T row chunks must train the same network as the unsplit batch, up
to floating-point summation order, and the split must never depend on which thread
ran which chunk."""
import _thread
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import cymlp
from cymlp import _pool, _threads
from cymlp._names import ACTIVATION_CODES
from cymlp.network import Dense, Network
from cymlp.optimizers import SGD, Adam


def _scipy_blas_threads():
    return min(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


# -- the pool -------------------------------------------------------------------

@pytest.mark.parametrize("n_chunks", [1, 2, 3, 7, 64])
def test_every_chunk_runs_exactly_once_per_job(n_chunks):
    _pool.reserve(2)
    counts = np.zeros(n_chunks, dtype=np.int64)
    _pool._count_runs(counts, 2000, 20)
    np.testing.assert_array_equal(counts, 2000)


def test_concurrent_callers_each_get_every_chunk_once():
    # one caller holds the pool, the others run their chunks themselves
    _pool.reserve(2)
    results = [np.zeros(5, dtype=np.int64) for _ in range(4)]
    threads = [threading.Thread(target=_pool._count_runs, args=(counts, 3000, 50))
               for counts in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for counts in results:
        np.testing.assert_array_equal(counts, 3000)


def test_a_late_sleeping_helper_never_delays_the_caller():
    # after the helpers have gone to sleep (> 2 ms idle) a job still completes at once
    _pool.reserve(2)
    counts = np.zeros(2, dtype=np.int64)
    time.sleep(0.05)
    start = time.perf_counter()
    for _ in range(50):
        _pool._count_runs(counts, 1, 0)
        time.sleep(0.005)
    assert time.perf_counter() - start < 5
    np.testing.assert_array_equal(counts, 50)


# -- the data-parallel epoch -------------------------------------------------------

def _data(n, n_in, n_out, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    Y = np.eye(n_out)[rng.integers(0, n_out, n)]
    return X, Y, rng.uniform(0.1, 2.0, n)


def _train(layers, n_chunks, optimizer, batch_size, sample_weight=None, alpha=0.0,
           epochs=2, output="softmax", n=300, dtype=np.float64, by_columns=False,
           activation="tanh"):
    """Train through the engine directly with a given chunk count."""
    dense = layers if isinstance(layers[0], Dense) else None
    net = Network(layers, activation, output, dtype=dtype, random_state=0)
    X, Y, w = _data(n, net.n_inputs, net.n_outputs)
    X, Y, w = net.check_xy(X, Y, w if sample_weight else None)
    optimizer.ensure_state(net.params.shape[0], net.dtype)
    order = np.random.default_rng(1).permutation(n).astype(np.intp)
    losses = []
    with threadpool_limits(1):
        for _ in range(epochs):
            status = net._engine.train_epoch(X, Y, w, order, batch_size,
                                             *optimizer.engine_args(), alpha, n_chunks,
                                             by_columns)
            optimizer.t = net._engine.last_t
            losses.append(net._engine.last_loss_sum / net._engine.last_weight_sum)
    assert dense is None or net.n_steps == len(dense)
    return net, losses, status


@pytest.mark.parametrize("n_chunks", [2, 3, 5])
@pytest.mark.parametrize("make_optimizer", [
    lambda: Adam(learning_rate=1e-2),
    lambda: SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
    lambda: SGD(learning_rate=0.05, momentum=0.0),
])
@pytest.mark.parametrize("sample_weight, alpha", [(False, 0.0), (True, 1e-2)])
def test_split_batches_train_the_same_network(n_chunks, make_optimizer, sample_weight,
                                              alpha):
    # 300 rows in batches of 64: the last batch has 44 rows
    serial, serial_losses, _ = _train([12, 9, 7, 4], 1, make_optimizer(), 64,
                                      sample_weight, alpha)
    split, split_losses, status = _train([12, 9, 7, 4], n_chunks, make_optimizer(), 64,
                                         sample_weight, alpha)
    assert status == 0
    np.testing.assert_allclose(split.params, serial.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(split_losses, serial_losses, rtol=1e-12)


@pytest.mark.parametrize("activation", sorted(ACTIVATION_CODES))
@pytest.mark.parametrize("by_columns", [False, True])
def test_every_activation_trains_the_same_network_split_or_not(activation, by_columns):
    # gelu and silu keep their pre-activation in the workspace: each chunk its rows, or
    # its columns; a shared hidden layer uses it twice
    hidden = Dense(7, 7)
    layers = [Dense(12, 7), hidden, hidden, Dense(7, 4)]
    serial, serial_losses, _ = _train(layers, 1, Adam(1e-2), 16, True, 1e-2, n=100,
                                      activation=activation)
    split, split_losses, status = _train(layers, 3, Adam(1e-2), 16, True, 1e-2, n=100,
                                         activation=activation, by_columns=by_columns)
    assert status == 0
    np.testing.assert_allclose(split.params, serial.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(split_losses, serial_losses, rtol=1e-12)


def test_split_batches_with_empty_chunks_and_shared_layers():
    # batch 2 split in 5: three chunks get no rows; the shared layer sums its gradients
    hidden = Dense(6, 6)
    layers = [Dense(5, 6), hidden, hidden, Dense(6, 3)]
    serial, _, _ = _train(layers, 1, Adam(1e-2), 2, n=11, output="identity")
    split, _, status = _train(layers, 5, Adam(1e-2), 2, n=11, output="identity")
    assert status == 0
    np.testing.assert_allclose(split.params, serial.params, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_chunks", [2, 3, 13])
@pytest.mark.parametrize("make_optimizer", [
    lambda: Adam(learning_rate=1e-2),
    lambda: SGD(learning_rate=0.05, momentum=0.9, nesterov=True),
])
@pytest.mark.parametrize("sample_weight, alpha", [(False, 0.0), (True, 1e-2)])
def test_column_split_batches_train_the_same_network(n_chunks, make_optimizer,
                                                     sample_weight, alpha):
    # 13 chunks: more than the 12 inputs, 9 and 7 units and 4 outputs (some get none)
    serial, serial_losses, _ = _train([12, 9, 7, 4], 1, make_optimizer(), 16,
                                      sample_weight, alpha)
    split, split_losses, status = _train([12, 9, 7, 4], n_chunks, make_optimizer(), 16,
                                         sample_weight, alpha, by_columns=True)
    assert status == 0
    np.testing.assert_allclose(split.params, serial.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(split_losses, serial_losses, rtol=1e-12)


@pytest.mark.parametrize("layers", [
    lambda hidden: [Dense(5, 6), hidden, hidden, Dense(6, 3)],
    lambda hidden: [hidden, hidden, Dense(6, 3)],           # the first layer is shared
])
def test_column_split_batches_with_shared_layers(layers):
    hidden = Dense(6, 6)
    serial, _, _ = _train(layers(hidden), 1, Adam(1e-2), 7, n=30, output="identity")
    split, _, status = _train(layers(hidden), 2, Adam(1e-2), 7, n=30, output="identity",
                              by_columns=True)
    assert status == 0
    np.testing.assert_allclose(split.params, serial.params, rtol=1e-10, atol=1e-12)


def test_column_split_of_a_single_layer_network():
    serial, _, _ = _train([12, 4], 1, Adam(1e-2), 16, alpha=1e-2)
    split, _, status = _train([12, 4], 3, Adam(1e-2), 16, alpha=1e-2, by_columns=True)
    assert status == 0
    np.testing.assert_allclose(split.params, serial.params, rtol=1e-10, atol=1e-12)


def test_column_split_in_float32_and_with_one_row_batches():
    serial, _, _ = _train([20, 16, 5], 1, Adam(1e-2), 1, dtype=np.float32, n=40)
    split, _, _ = _train([20, 16, 5], 2, Adam(1e-2), 1, dtype=np.float32, n=40,
                         by_columns=True)
    np.testing.assert_allclose(split.params, serial.params, rtol=1e-4, atol=1e-6)


def test_split_batches_in_float32():
    serial, _, _ = _train([20, 16, 5], 1, Adam(1e-2), 64, dtype=np.float32)
    split, _, _ = _train([20, 16, 5], 2, Adam(1e-2), 64, dtype=np.float32)
    np.testing.assert_allclose(split.params, serial.params, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("by_columns", [False, True])
def test_results_depend_on_the_chunk_count_not_on_the_threads(by_columns):
    # the same chunk count gives bit-identical results with or without helper threads
    first, _, _ = _train([12, 9, 4], 3, Adam(1e-2), 64, by_columns=by_columns)
    busy = threading.Thread(target=_pool._count_runs,
                            args=(np.zeros(2, dtype=np.int64), 20000, 200))
    busy.start()   # holds the pool for a while: this training runs its chunks alone
    second, _, _ = _train([12, 9, 4], 3, Adam(1e-2), 64, by_columns=by_columns)
    busy.join()
    np.testing.assert_array_equal(first.params, second.params)


@pytest.mark.parametrize("n_chunks, by_columns", [(1, False), (2, False), (2, True)])
def test_split_epoch_stops_before_applying_a_non_finite_batch(n_chunks, by_columns):
    net = Network([4, 3, 2], "relu", "identity", random_state=0)
    X = np.ones((128, 4))
    Y = np.zeros((128, 2))
    Y[100] = 1e300           # batch 2 (rows 64-127): its squared error overflows
    X, Y, _ = net.check_xy(X, Y)
    optimizer = Adam(1e-3)
    optimizer.ensure_state(net.params.shape[0], net.dtype)
    order = np.arange(128, dtype=np.intp)

    status = net._engine.train_epoch(X[:64], Y[:64], None, order[:64], 64,
                                     *optimizer.engine_args(), 0.0, n_chunks, by_columns)
    assert status == 0
    before = net.params.copy()
    status = net._engine.train_epoch(X, Y, None, order[64:].copy(), 64,
                                     *optimizer.engine_args(), 0.0, n_chunks, by_columns)
    assert status == 1 and net._engine.last_n_batches == 0
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("by_columns", [False, True])
def test_split_epoch_rejects_an_overflowing_penalty_before_any_update(by_columns):
    # a finite weight whose square overflows: the penalty is inf, nothing is applied
    net64 = Network([4, 3, 2], "relu", "identity", random_state=0)
    net64.coefs[0][0, 0] = 1e200
    X, Y, _ = net64.check_xy(np.ones((64, 4)), np.zeros((64, 2)))
    optimizer = SGD(1e-3)
    optimizer.ensure_state(net64.params.shape[0], net64.dtype)
    before = net64.params.copy()
    status = net64._engine.train_epoch(X, Y, None, np.arange(64, dtype=np.intp), 64,
                                       *optimizer.engine_args(), 1.0, 2, by_columns)
    assert status == 1
    np.testing.assert_array_equal(net64.params, before)


@pytest.mark.parametrize("batch_size", [128, 16])      # row chunks, column chunks
def test_ctrl_c_stops_a_split_epoch_at_a_batch_boundary(batch_size):
    net = Network([784, 200, 100, 10], "relu", "softmax", dtype=np.float32, random_state=0)
    X = np.random.default_rng(0).random((20000, 784), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[np.arange(20000) % 10]
    optimizer = Adam(1e-3)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    start = time.perf_counter()
    timer.start()
    with threadpool_limits(2):
        with pytest.raises(KeyboardInterrupt):
            for _ in range(1000):
                net.train_epoch(X, Y, optimizer, batch_size=batch_size)
        threads_after = _scipy_blas_threads()
    timer.cancel()
    assert time.perf_counter() - start < 5
    assert threads_after == 2          # the BLAS limit was lifted on the way out
    # stopped at a batch boundary inside an epoch, or (rarely) between two epochs
    assert (net._engine.last_n_samples % batch_size == 0
            or net._engine.last_n_samples == 20000)
    assert np.isfinite(net.params).all()


# -- the thread policy -------------------------------------------------------------

@pytest.mark.parametrize("threads, batch, expected", [
    (1, 512, 1), (2, 63, 1), (2, 64, 2), (2, 200, 2), (4, 100, 3), (8, 4096, 8),
    (200, 10**6, 64),
])
def test_chunks_for_batch(threads, batch, expected):
    assert _threads.chunks_for_batch(threads, batch) == expected


@pytest.mark.parametrize("threads, batch, expected", [
    (1, 512, (1, False)), (1, 8, (1, False)), (2, 1, (2, True)), (2, 63, (2, True)),
    (2, 64, (2, False)), (4, 100, (3, False)), (4, 63, (4, True)), (200, 8, (64, True)),
])
def test_split_for_batch(threads, batch, expected):
    assert _threads.split_for_batch(threads, batch) == expected


@pytest.mark.parametrize("n_coef, batch, expected", [
    (5500, 32, (1, False)),            # 100-50-10: too little work to split by columns
    (12800, 16, (2, True)),            # 150-80-10
    (178000, 1, (2, True)),            # 784-200-100-10
    (5500, 64, (2, False)),            # row chunks do not look at the size
])
def test_split_for_batch_needs_enough_work_for_columns(n_coef, batch, expected):
    assert _threads.split_for_batch(2, batch, n_coef) == expected


def test_training_plan_holds_blas_at_one_thread_and_restores_it():
    with threadpool_limits(2):
        with _threads.training_plan(128) as split:
            assert split == (2, False)
            assert _scipy_blas_threads() == 1
            assert _threads.blas_threads() == 2
            with _threads.training_plan(128) as inner:      # nested: same plan
                assert inner == (2, False)
            with _threads.training_plan(16) as inner:       # nested, small batches
                assert inner == (2, True)
            assert _scipy_blas_threads() == 1
            with _threads.prediction_plan(10000) as n_chunks:   # nested in training
                assert n_chunks == 2
            with _threads.prediction_plan(64) as n_chunks:
                assert n_chunks == 1   # one block of 64 rows
            assert _scipy_blas_threads() == 1
        assert _scipy_blas_threads() == 2


def test_prediction_plan_holds_blas_at_one_thread_for_every_gemm_prediction():
    # one BLAS thread per block whatever the chunk count: the same arithmetic however
    # busy the machine is (test_determinism.py)
    with threadpool_limits(2):
        for rows, chunks in ((10000, 2), (300, 2), (64, 1), (8, 1)):
            with _threads.prediction_plan(rows) as n_chunks:
                assert n_chunks == chunks
                assert _scipy_blas_threads() == 1
            assert _scipy_blas_threads() == 2
    with threadpool_limits(1), _threads.prediction_plan(10000) as n_chunks:
        assert n_chunks == 1


def test_a_plan_started_and_ended_in_other_threads_holds_and_lifts_blas():
    # threadpoolctl 3.8 ignores limits from threads other than its controlling one:
    # cymlp sets OpenBLAS itself, from whichever thread starts or ends the last plan
    started, release = threading.Event(), threading.Event()

    def hold():
        with _threads.prediction_plan(10000):
            started.set()
            release.wait(10)

    with threadpool_limits(2):
        worker = threading.Thread(target=hold)
        worker.start()
        assert started.wait(10)
        assert _scipy_blas_threads() == 1
        with _threads.training_plan(128) as split:   # joins the hold
            assert split == (2, False)
        assert _scipy_blas_threads() == 1           # the worker still holds it
        release.set()
        worker.join()
        assert _scipy_blas_threads() == 2 and not _threads._holders


@pytest.mark.parametrize("threads, rows, expected", [
    (2, 7, 1), (2, 8, 1), (2, 64, 1), (2, 65, 2), (4, 600, 2), (4, 3000, 4),
    (8, 100000, 8), (1, 10**6, 1),
])
def test_chunks_for_prediction(threads, rows, expected):
    assert _threads.chunks_for_prediction(threads, rows) == expected


@pytest.mark.parametrize("rows, expected", [
    (8, (64, 1)), (100, (64, 2)), (129, (96, 2)), (400, (224, 2)), (1000, (512, 2)),
    (2048, (1024, 2)), (2049, (544, 4)), (3000, (768, 4)), (10000, (1024, 10)),
])
def test_prediction_blocks_depend_on_the_row_count_alone(rows, expected):
    assert _threads.prediction_blocks(rows) == expected


def test_one_blas_thread_means_no_split():
    with threadpool_limits(1):
        for batch in (1, 16, 4096):
            with _threads.training_plan(batch) as split:
                assert split == (1, False)
                assert _scipy_blas_threads() == 1


@pytest.mark.parametrize("batch_size, n_features, hidden, split", [
    (128, 20, 30, (2, False)),      # row chunks
    (16, 200, 200, (2, True)),      # column chunks (200 x 200 + 200 x 3 coefficients)
    (16, 20, 30, (1, False)),       # too small to split
])
def test_estimator_fit_with_two_threads_matches_one_thread_and_restores_blas(
        batch_size, n_features, hidden, split, monkeypatch):
    X, Y, _ = _data(600, n_features, 3)
    y = Y.argmax(1)
    fits, splits = [], []
    original = _threads.split_for_batch
    monkeypatch.setattr(_threads, "split_for_batch",
                        lambda *args: splits.append(original(*args)) or splits[-1])
    for threads in (1, 2):
        with threadpool_limits(threads):
            fits.append(cymlp.MLPClassifier((hidden,), batch_size=batch_size, max_iter=5,
                                            early_stopping=True, random_state=0).fit(X, y))
            assert _scipy_blas_threads() == threads
    assert splits[-1] == split       # how the last epoch with 2 threads was split
    for a, b in zip(fits[0].coefs_, fits[1].coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fits[0].validation_scores_, fits[1].validation_scores_)


def test_large_predictions_split_give_the_unsplit_result():
    net = Network([30, 20, 4], "relu", random_state=0)
    X = np.random.default_rng(0).normal(size=(5000, 30))
    expected = net.forward(X)
    with threadpool_limits(2), _threads.training_plan(128):
        np.testing.assert_allclose(net.forward(X), expected, rtol=1e-13)
    with threadpool_limits(2):
        np.testing.assert_allclose(net.forward(X), expected, rtol=1e-13)   # own plan
    out = np.empty((5000, 4))
    net._engine.predict(np.ascontiguousarray(X), out, 7)
    np.testing.assert_allclose(out, expected, rtol=1e-13)


def test_divergence_in_a_split_fit_raises_and_restores():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(600, 5)), rng.normal(size=600)
    with threadpool_limits(2):
        reg = cymlp.MLPRegressor(hidden_layer_sizes=(30,), solver="sgd", batch_size=128,
                                 learning_rate_init=1e-3,
                                 random_state=0)
        reg.partial_fit(X, y)
        before = reg._network.params.copy()
        with pytest.raises(ValueError, match="non-finite"):
            reg.partial_fit(X * 1e200, y * 1e200)
        assert _scipy_blas_threads() == 2
    np.testing.assert_array_equal(reg._network.params, before)


@pytest.mark.parametrize("outer_limit", [None, 2])
def test_training_in_two_threads_leaves_blas_as_the_user_set_it(outer_limit):
    # the first loop to start holds the limit, the other leaves BLAS alone, and the
    # limit is lifted by the thread that set it, whichever finishes first; under the
    # main thread's own threadpool_limits the loops cannot limit BLAS and do not split
    X, Y, _ = _data(3000, 30, 4)
    y = Y.argmax(1)
    results = {}
    both_done = threading.Barrier(2)

    def fit(name, iterations):
        # like pool workers, both threads stay alive until both fits are done
        results[name] = cymlp.MLPClassifier((40,), batch_size=128, max_iter=iterations,
                                            random_state=0).fit(X, y)
        both_done.wait()

    with threadpool_limits(outer_limit):
        before = _scipy_blas_threads()
        for first, second in ((3, 12), (12, 3)):
            threads = [threading.Thread(target=fit, args=("a", first)),
                       threading.Thread(target=fit, args=("b", second))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert set(results) == {"a", "b"}
            assert _scipy_blas_threads() == before
            results.clear()


@pytest.mark.parametrize("threads", [1, 2])
def test_show_config_reports_the_training_threads(threads):
    import io

    out = io.StringIO()
    with threadpool_limits(threads):
        cymlp.show_config(out)
        assert cymlp.config.config_info()["training_threads"] == threads
    assert "training threads: %d (batches of at least %d rows" % (threads, 32 * threads) \
        in out.getvalue()


def test_thread_queries_follow_the_blas_setting(openblas_only):
    _threads.install_thread_queries()
    for threads in (1, 2, 3):
        with threadpool_limits(threads):
            assert _pool.current_thread_limit() == (threads if openblas_only else 1)


@pytest.mark.parametrize("addresses", [[0], ["0x1"], [1.5], [1] * 9])
def test_set_thread_queries_rejects_bad_addresses(addresses):
    _threads.install_thread_queries()
    with threadpool_limits(2):
        before = _pool.current_thread_limit()
        with pytest.raises(ValueError):
            _pool.set_thread_queries(addresses)
        assert _pool.current_thread_limit() == before     # the installed ones stay


def test_an_interrupt_while_taking_or_lifting_the_blas_limit_restores_blas(monkeypatch):
    # Ctrl-C can land between setting BLAS to one thread and recording who holds that
    # limit (seen once in CI: BLAS stayed at one thread afterwards), or inside the lift
    real = _threads._read_blas_threads
    calls = []

    def interrupted_after_the_limit():
        calls.append(1)
        if len(calls) == 2:      # the check right after limit(1) took effect
            raise KeyboardInterrupt
        return real()

    with threadpool_limits(2):
        monkeypatch.setattr(_threads, "_read_blas_threads", interrupted_after_the_limit)
        with pytest.raises(KeyboardInterrupt):
            with _threads.training_plan(128):
                pass
        monkeypatch.setattr(_threads, "_read_blas_threads", real)
        assert _scipy_blas_threads() == 2 and not _threads._holders

        real_set = _threads._set_thread_counts
        lifts = []

        def interrupted_lift(counts):
            lifts.append(1)
            if len(lifts) == 1:   # Ctrl-C in the first attempt to put BLAS back
                raise KeyboardInterrupt
            real_set(counts)

        with pytest.raises(KeyboardInterrupt):
            with _threads.training_plan(128):
                monkeypatch.setattr(_threads, "_set_thread_counts", interrupted_lift)
        monkeypatch.undo()
        assert _scipy_blas_threads() == 2 and not _threads._holders
        with _threads.training_plan(128) as split:   # and the next plan works as usual
            assert split.n_chunks == 2 and _scipy_blas_threads() == 1
        assert _scipy_blas_threads() == 2
