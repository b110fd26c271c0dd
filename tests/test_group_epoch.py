"""The group epoch (issue 27): several networks trained side by side on the same
batches end where each one's own ``Network.train_epoch`` ends, to the rounding of the
stacked first-layer products; a diverging member stops alone; bad groups are refused."""
import _thread
import copy
import threading
import time

import numpy as np
import pytest
import scipy.sparse

from cymlp import SGD, Adam, AdamW, CosineSchedule, Dense, Network, StepSchedule
from cymlp._engine import train_group_epoch as engine_group_epoch
from cymlp._group_training import (STACK_COLUMNS, groupable, subgroup_count,
                                   train_group_epoch)
from cymlp.network import DivergenceError

# float64: the stacked gemm sums each element in the same order or nearly; float32
# differences of a few ulps grow a little over the epochs
TOLERANCE = {np.float64: 1e-10, np.float32: 2e-4}


def _data(dtype, n=700, n_in=24, n_out=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    Y = np.eye(n_out, dtype=dtype)[rng.integers(0, n_out, n)]
    w = rng.uniform(0.2, 2.0, n).astype(dtype)
    return X, Y, w, rng.permutation(n).astype(np.intp)


def _members(dtype):
    """Networks of one first-layer shape that differ in everything else a group
    allows: later layers, activations (gelu keeps its pre-activation), optimizers and
    schedules, L2 strengths."""
    nets = [Network([24, 16, 8, 4], activation="relu", dtype=dtype, random_state=1),
            Network([24, 16, 4], activation="tanh", dtype=dtype, random_state=2),
            Network([24, 16, 12, 4], activation=["gelu", "logistic"], dtype=dtype,
                    random_state=3),
            Network([24, 16, 8, 4], activation="silu", dtype=dtype, random_state=4),
            Network([24, 16, 4], activation="elu", dtype=dtype, random_state=5)]
    optimizers = [Adam(1e-3), SGD(0.05, momentum=0.9, nesterov=True),
                  AdamW(3e-3, weight_decay=0.01, schedule=CosineSchedule(40, 5)),
                  SGD(0.02, momentum=0.0, schedule=StepSchedule(7, 0.5)), Adam(5e-3)]
    alphas = [1e-4, 0.0, 1e-2, 1e-3, 0.0]
    return nets, optimizers, alphas


def _relative(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_members_end_where_their_own_epochs_end(dtype, weighted):
    X, Y, w, order = _data(dtype)
    w = w if weighted else None
    nets, optimizers, alphas = _members(dtype)
    alone = copy.deepcopy((nets, optimizers))
    for _ in range(3):
        results = train_group_epoch(nets, X, Y, optimizers, 50, order, w, alphas)
        for net, optimizer, alpha, result in zip(*alone, alphas, results):
            own = net.train_epoch(X, Y, optimizer, 50, order, w, alpha)
            assert result.n_batches == own.n_batches == 14
            assert result.n_samples == own.n_samples
            assert result.weight_sum == pytest.approx(own.weight_sum, rel=1e-6)
            assert result.loss == pytest.approx(own.loss, rel=TOLERANCE[dtype])
            assert result.penalty == pytest.approx(own.penalty, rel=TOLERANCE[dtype],
                                                   abs=1e-12)
    for net, optimizer, own_net, own_optimizer in zip(nets, optimizers, *alone):
        assert _relative(net.params, own_net.params) < TOLERANCE[dtype]
        for state, own_state in zip(optimizer.states, own_optimizer.states):
            assert _relative(state, own_state) < 10 * TOLERANCE[dtype]
        assert optimizer.t == own_optimizer.t
        assert optimizer.steps == own_optimizer.steps


@pytest.mark.parametrize("loss,param", [("squared_error", None), ("huber", 0.5),
                                        ("quantile", 0.8), ("poisson", None)])
def test_regression_losses_in_a_group(loss, param):
    X, _, _, order = _data(np.float64)
    Y = np.abs(X[:, :2] @ np.array([[1.0, 0.5], [-0.5, 1.0]])) + 0.1
    output = "exp" if loss == "poisson" else "identity"
    nets = [Network([24, 16, 8, 2], activation=act, output=output, loss=loss,
                    loss_param=param, random_state=seed)
            for seed, act in ((1, "relu"), (2, "tanh"), (3, "softplus"))]
    optimizers = [Adam(1e-3), Adam(3e-3), SGD(1e-3)]
    alone = copy.deepcopy((nets, optimizers))
    for _ in range(2):
        train_group_epoch(nets, X, Y, optimizers, 64, order, None, [1e-4, 0.0, 1e-3])
        for net, optimizer, alpha in zip(*alone, [1e-4, 0.0, 1e-3]):
            net.train_epoch(X, Y, optimizer, 64, order, None, alpha)
    for net, own in zip(nets, alone[0]):
        assert _relative(net.params, own.params) < 1e-10


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_cut_into_subgroups_changes_rounding_only_and_threads_change_nothing(dtype):
    X, Y, _, order = _data(dtype)
    finals = {}
    for n_subgroups, n_threads in ((1, 1), (2, 1), (2, 2), (3, 2), (5, 2)):
        nets, optimizers, alphas = _members(dtype)
        for _ in range(2):
            train_group_epoch(nets, X, Y, optimizers, 32, order, None, alphas,
                              n_subgroups=n_subgroups)
        finals[n_subgroups, n_threads] = np.concatenate([n.params for n in nets])
        # the engine entry itself with an explicit thread count
        nets, optimizers, alphas = _members(dtype)
        for net, optimizer in zip(nets, optimizers):
            optimizer.ensure_state(net.params.shape[0], net.dtype)
        for _ in range(2):
            engine_group_epoch([n._engine for n in nets], X, Y, None, order, 32,
                               [(o.engine_args(), o.engine_kwargs()) for o in optimizers],
                               alphas, n_subgroups, n_threads)
            for optimizer, net in zip(optimizers, nets):
                optimizer.t, optimizer.steps = net._engine.last_t, net._engine.last_batch
        np.testing.assert_array_equal(np.concatenate([n.params for n in nets]),
                                      finals[n_subgroups, n_threads])
    # which thread runs a subgroup never matters
    np.testing.assert_array_equal(finals[2, 1], finals[2, 2])
    for params in finals.values():
        assert _relative(params, finals[1, 1]) < TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_diverging_member_stops_alone(dtype):
    X, Y, _, order = _data(dtype)
    nets, optimizers, alphas = _members(dtype)
    optimizers[0] = SGD(1e8, momentum=0.9)   # the relu network blows up
    alone = copy.deepcopy((nets, optimizers))
    results = train_group_epoch(nets, X, Y, optimizers, 50, order, None, alphas)
    assert isinstance(results[0], DivergenceError)
    with pytest.raises(DivergenceError) as own_error:
        alone[0][0].train_epoch(X, Y, alone[1][0], 50, order, None, alphas[0])
    assert 0 < results[0].result.n_batches == own_error.value.result.n_batches < 14
    # left as it was before the batch that diverged, as its own epoch leaves it
    assert _relative(nets[0].params, alone[0][0].params) < TOLERANCE[dtype]
    assert optimizers[0].steps == alone[1][0].steps
    for k in (1, 2, 3, 4):
        own = alone[0][k].train_epoch(X, Y, alone[1][k], 50, order, None, alphas[k])
        assert results[k].n_batches == 14
        assert results[k].loss == pytest.approx(own.loss, rel=TOLERANCE[dtype])
        assert _relative(nets[k].params, alone[0][k].params) < TOLERANCE[dtype]


def test_a_batch_of_zero_weights_is_skipped_by_every_member():
    X, Y, w, order = _data(np.float64, n=200)
    w[order[:50]] = 0.0          # the whole first batch
    nets, optimizers, alphas = _members(np.float64)
    alone = copy.deepcopy((nets, optimizers))
    results = train_group_epoch(nets, X, Y, optimizers, 50, order, w, alphas)
    for net, optimizer, alpha, result in zip(*alone, alphas, results):
        own = net.train_epoch(X, Y, optimizer, 50, order, w, alpha)
        assert result.n_batches == own.n_batches == 4
        assert result.loss == pytest.approx(own.loss, rel=1e-10)
        assert optimizer.t in (0, 3)


def test_groupable_says_which_networks_can_share_a_first_layer():
    a = Network([24, 16, 4], random_state=0)
    shared = Dense(16, 16)
    assert groupable([a, Network([24, 16, 8, 4], random_state=1)])
    assert not groupable([a])
    assert not groupable([a, a])
    assert not groupable([a, Network([24, 12, 4], random_state=1)])
    assert not groupable([a, Network([24, 16, 3], random_state=1)])
    assert not groupable([a, Network([24, 16, 4], dtype=np.float32, random_state=1)])
    assert not groupable([a, Network([24, 4], random_state=1)])
    assert not groupable([a, Network([Dense(24, 16), shared, shared, Dense(16, 4)],
                                     random_state=1)])


def test_bad_groups_and_inputs_are_refused():
    X, Y, _, order = _data(np.float64, n=100)
    nets, optimizers, alphas = _members(np.float64)
    for net, optimizer in zip(nets, optimizers):
        optimizer.ensure_state(net.params.shape[0], net.dtype)
    engines = [n._engine for n in nets]
    settings = [(o.engine_args(), o.engine_kwargs()) for o in optimizers]

    def call(engines=engines, X=X, Y=Y, w=None, order=order, batch=10,
             settings=settings, alphas=alphas):
        return engine_group_epoch(engines, X, Y, w, order, batch, settings, alphas)

    narrow = Network([24, 8, 4], random_state=0)
    single = Network([24, 4], random_state=0)
    shared = Dense(16, 16)
    twice = Network([Dense(24, 16), shared, shared, Dense(16, 4)], random_state=0)
    f32 = Network([24, 16, 4], dtype=np.float32, random_state=0)
    cases = [
        (dict(engines=[]), ValueError, "at least one"),
        (dict(engines=engines + [narrow._engine]), ValueError, "one optimizer"),
        (dict(engines=[engines[0], engines[0]], settings=settings[:2], alphas=alphas[:2]),
         ValueError, "twice"),
        (dict(engines=[engines[0], narrow._engine], settings=settings[:2],
              alphas=alphas[:2]), ValueError, "widths"),
        (dict(engines=[single._engine], settings=settings[:1], alphas=alphas[:1]),
         ValueError, "hidden layer"),
        (dict(engines=[twice._engine], settings=settings[:1], alphas=alphas[:1]),
         ValueError, "twice"),
        (dict(engines=[engines[0], f32._engine], settings=settings[:2], alphas=alphas[:2]),
         TypeError, "dtype"),
        (dict(X=X.astype(np.float32)), TypeError, "dtype"),
        (dict(X=np.asfortranarray(X)), ValueError, "contiguous"),
        (dict(Y=Y[:50]), ValueError, "rows"),
        (dict(order=np.array([0, 100], dtype=np.intp)), ValueError, "outside"),
        (dict(order=np.array([], dtype=np.intp)), ValueError, "empty"),
        (dict(batch=0), ValueError, "batch_size"),
        (dict(alphas=[np.nan] * 5), ValueError, "alpha"),
        (dict(alphas=[-1.0] * 5), ValueError, "alpha"),
        (dict(settings=[(s[0][:9], s[1]) for s in settings]), TypeError, "10 values"),
        (dict(settings=[(s[0], dict(s[1], bogus=1)) for s in settings]), TypeError,
         "keywords"),
        (dict(settings=[((99,) + s[0][1:], s[1]) for s in settings]), ValueError,
         "optimizer code"),
        (dict(settings=[(s[0][:8] + (np.zeros(3), s[0][9]), s[1]) for s in settings]),
         ValueError, "state1"),
    ]
    before = [n.params.copy() for n in nets]
    for kwargs, error, words in cases:
        with pytest.raises(error, match=words):
            call(**kwargs)
    for net, params in zip(nets, before):
        np.testing.assert_array_equal(net.params, params)
    with pytest.raises(TypeError, match="dense"):
        call(X=(scipy.sparse.csr_matrix(X).data, scipy.sparse.csr_matrix(X).indices,
                scipy.sparse.csr_matrix(X).indptr.astype(np.intp)))


def test_ctrl_c_leaves_every_member_at_its_last_finished_batch():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40000, 256))
    Y = np.eye(10)[rng.integers(0, 10, 40000)]
    order = np.arange(40000, dtype=np.intp)
    nets = [Network([256, 128, 10], random_state=s) for s in range(4)]
    optimizers = [Adam(1e-3) for _ in nets]
    before = [n.params.copy() for n in nets]
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in range(50):     # stops at the interrupt, long before 50 epochs
                train_group_epoch(nets, X, Y, optimizers, 64, order, None, [1e-4] * 4)
    finally:
        timer.cancel()
        time.sleep(0.05)
    for net, optimizer, params in zip(nets, optimizers, before):
        # the stacked first layer went home, with the optimizer's count of its steps
        assert not np.array_equal(net.params[:256 * 128], params[:256 * 128])
        assert optimizer.t == net._engine.last_t + 0 and optimizer.t > 0
        assert np.isfinite(net.params).all()
    # and training goes on from there
    train_group_epoch(nets, X[:640], Y[:640], optimizers, 64, order[:640], None,
                      [1e-4] * 4)


def test_stacks_are_about_256_columns_wide_with_one_per_thread_at_least():
    assert STACK_COLUMNS == 256
    assert subgroup_count(8, 200, 2) == 8      # 200 units: a stack each
    assert subgroup_count(8, 64, 2) == 2       # 4 x 64 = 256 columns a stack
    assert subgroup_count(8, 64, 1) == 2
    assert subgroup_count(2, 64, 2) == 2       # one per thread first
    assert subgroup_count(1, 64, 4) == 1
    assert subgroup_count(16, 32, 2) == 2
    assert subgroup_count(9, 64, 1) == 3
