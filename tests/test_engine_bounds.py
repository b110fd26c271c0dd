"""The compiled engine checks every array it is handed against its own network, so no
Python attribute or direct call can make it read or write out of bounds (issue 14,
finding 1: an estimator whose ``n_features_in_`` disagreed with its network read past X).

The calls that crashed the process before are run in a subprocess, so that a
regression shows as a failed test, not as a dead test run."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cymlp
from cymlp._engine import Engine


def run_isolated(code):
    """Run ``code`` in a fresh interpreter; return (exit status, stdout + stderr)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_estimator_with_lying_n_features_in_raises_not_crashes():
    status, output = run_isolated("""
        import numpy as np, cymlp
        rng = np.random.default_rng(0)
        X = rng.random((30, 200_000), dtype=np.float32)
        clf = cymlp.MLPClassifier((2,), max_iter=1, random_state=0).fit(X, np.arange(30) % 2)
        clf.n_features_in_ = 1
        for rows in (4000, 7):
            try:
                clf.predict(np.ones((rows, 1), np.float32))
            except ValueError as exc:
                print("refused", rows, exc)
            else:
                print("ACCEPTED", rows)
        """)
    assert status == 0, output
    assert "ACCEPTED" not in output and output.count("refused") == 2, output
    assert "columns" in output


@pytest.fixture
def net():
    return cymlp.Network([6, 5, 3], activation="tanh", dtype=np.float32, random_state=0)


def test_engine_predict_checks_its_arguments(net):
    engine = net._engine
    good = np.ones((4, 6), np.float32)
    assert engine.predict(good).shape == (4, 3)
    bad_inputs = {
        "columns": np.ones((4, 5), np.float32),
        "dtype": np.ones((4, 6), np.float64),
        "ndim": np.ones(6, np.float32),
        "layout": np.ones((6, 4), np.float32).T,
        "type": [[1.0] * 6] * 4,
        "byte order": np.ones((4, 6), ">f4"),
    }
    for what, X in bad_inputs.items():
        with pytest.raises((ValueError, TypeError)):
            engine.predict(X)
    for out in (np.empty((3, 3), np.float32), np.empty((4, 2), np.float32),
                np.empty((4, 3), np.float64)):
        with pytest.raises((ValueError, TypeError)):
            engine.predict(good, out)
    frozen = np.empty((4, 3), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        engine.predict(good, frozen)


def test_engine_training_checks_its_arguments(net):
    engine = net._engine
    X = np.ones((10, 6), np.float32)
    Y = np.eye(3, dtype=np.float32)[np.arange(10) % 3]
    states = [np.zeros(engine.n_params, np.float32) for _ in range(2)]
    order = np.arange(10, dtype=np.intp)

    def train(X=X, Y=Y, w=None, order=order, states=states, batch=4):
        return engine.train_epoch(X, Y, w, order, batch, 0, 0.1, 0.9, True, 0, 0, 0, 0,
                                  states[0], states[1], 0.0)

    assert train() == 0
    with pytest.raises(ValueError, match="rows"):
        train(Y=Y[:9])
    with pytest.raises(ValueError, match="columns"):
        train(X=np.ones((10, 7), np.float32))
    with pytest.raises(ValueError, match="rows"):
        train(w=np.ones(9, np.float32))
    for bad in (np.array([0, 10]), np.array([-1, 2]), np.array([2 ** 40])):
        with pytest.raises(ValueError, match="outside"):
            train(order=bad.astype(np.intp))
    with pytest.raises(TypeError):
        train(order=order.astype(np.int32))
    with pytest.raises(ValueError, match="rows"):
        train(states=[states[0][:-1], states[1]])
    with pytest.raises(ValueError, match="batch_size"):
        train(batch=0)
    with pytest.raises(ValueError, match="rows"):
        engine.loss_gradient(X, Y[:5], None, 10.0, 0.0, True)
    with pytest.raises(ValueError, match="weight_sum"):
        engine.loss_gradient(X, Y, None, 0.0, 0.0, True)


@pytest.mark.parametrize("steps, n_coef, n_params, match", [
    ([(4, 3, 0, 12, 4)], 12, 15, None),                      # valid
    ([(4, 3, 0, 12, 4)], 12, 14, "b at"),                    # b past the end
    ([(4, 3, 4, 12, 4)], 12, 15, "W at"),                    # W past the coefficients
    ([(4, 3, -1, 12, 4)], 12, 15, "W at"),
    ([(4, 3, 0, 12, 9)], 12, 15, "activation code"),         # unknown output code
    ([(4, 3, 0, 20, 4), (3, 2, 12, 23, 4)], 18, 25, "activation code"),  # softmax hidden
    ([(4, 3, 0, 20, 3), (2, 2, 12, 23, 4)], 18, 25, "inputs"),           # shapes do not chain
    ([(0, 3, 0, 12, 4)], 12, 15, "shape"),
    ([], 0, 1, "at least one step"),
])
def test_engine_refuses_steps_outside_its_buffers(steps, n_coef, n_params, match):
    params, grads = np.zeros(n_params), np.zeros(n_params)
    if match is None:
        assert Engine(params, grads, steps, n_coef).n_out == 3
        return
    with pytest.raises(ValueError, match=match):
        Engine(params, grads, steps, n_coef)


def test_engine_refuses_mismatched_buffers():
    with pytest.raises(ValueError, match="rows"):
        Engine(np.zeros(15), np.zeros(14), [(4, 3, 0, 12, 4)], 12)
    with pytest.raises(TypeError):
        Engine(np.zeros(15), np.zeros(15, np.float32), [(4, 3, 0, 12, 4)], 12)
    with pytest.raises(TypeError):
        Engine(np.zeros(15, np.int64), np.zeros(15, np.int64), [(4, 3, 0, 12, 4)], 12)
