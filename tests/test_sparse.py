"""Sparse input stays sparse in the compiled core (issue 15): the first layer's product
and weight gradient read CSR rows in place.  Every path is checked against the dense
path on the same data: gradients (float64, to rounding), the serial, row-split and
column-split epochs, predictions, and the estimators (any scipy format)."""
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sk
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

import cymlp
from cymlp import _pool
from cymlp._validation import CSRRows, check_csr_matrix
from cymlp.network import Dense, Network
from cymlp.optimizers import SGD, Adam

RNG = np.random.default_rng(0)
_KEEP = np.ones(120)
_KEEP[5] = 0   # an empty row
X_SPARSE = (sp.diags(_KEEP) @ sp.random(120, 40, density=0.08, format="csr",
                                        random_state=1)).tocsr()
X_SPARSE.eliminate_zeros()
Y3 = np.eye(3)[RNG.integers(0, 3, 120)]
W = RNG.uniform(0.2, 2.0, 120)


def _nets(layers, dtype=np.float64, output="softmax"):
    return (Network(layers, "tanh", output, dtype=dtype, random_state=0),
            Network(layers, "tanh", output, dtype=dtype, random_state=0))


@pytest.mark.parametrize("weights", [None, W])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_sparse_gradient_equals_dense_gradient(weights, alpha):
    sparse_net, dense_net = _nets([40, 9, 6, 3])
    ls, dWs, dbs = sparse_net.backward(X_SPARSE, Y3, weights, alpha)
    ld, dWd, dbd = dense_net.backward(X_SPARSE.toarray(), Y3, weights, alpha)
    assert ls == pytest.approx(ld, rel=1e-12)
    for a, b in zip(dWs + dbs, dWd + dbd):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_shared_first_layer_gets_the_sum_of_both_uses():
    shared = Dense(40, 40)
    layers = [shared, Dense(40, 6), Dense(6, 40), shared, Dense(40, 3)]
    sparse_net = Network(layers, "tanh", "softmax", random_state=0)
    dense_net = Network(layers, "tanh", "softmax", random_state=0)
    _, a, _ = sparse_net.backward(X_SPARSE, Y3)
    _, b, _ = dense_net.backward(X_SPARSE.toarray(), Y3)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("n_chunks, by_columns, batch", [(1, False, 16), (2, False, 64),
                                                         (3, False, 64), (2, True, 16),
                                                         (3, True, 7)])
@pytest.mark.parametrize("make_optimizer", [lambda: Adam(1e-2),
                                            lambda: SGD(0.05, momentum=0.9, nesterov=True)])
def test_sparse_epochs_train_the_same_network_as_dense(dtype, rtol, n_chunks, by_columns,
                                                       batch, make_optimizer):
    results = []
    for X in (X_SPARSE, X_SPARSE.toarray()):
        net = Network([40, 9, 3], "relu", "softmax", dtype=dtype, random_state=0)
        Xc, Yc, wc = net.check_xy(X, Y3, W)
        assert isinstance(Xc, CSRRows) == sp.issparse(X)
        optimizer = make_optimizer()
        optimizer.ensure_state(net.params.shape[0], net.dtype)
        order = np.random.default_rng(3).permutation(120).astype(np.intp)
        with threadpool_limits(1):
            for _ in range(2):
                net._engine.train_epoch(cymlp._validation.engine_input(Xc), Yc, wc, order,
                                        batch, *optimizer.engine_args(), 0.01, n_chunks,
                                        by_columns)
                optimizer.t = net._engine.last_t
        results.append(net.params.copy())
    np.testing.assert_allclose(results[0], results[1], rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("by_columns", [False, True])
def test_sparse_results_depend_on_the_chunk_count_not_on_the_threads(by_columns):
    def train():
        net = Network([40, 9, 3], "tanh", "softmax", random_state=0)
        X, Y, _ = net.check_xy(X_SPARSE, Y3)
        optimizer = Adam(1e-2)
        optimizer.ensure_state(net.params.shape[0], net.dtype)
        with threadpool_limits(1):
            net._engine.train_epoch(X.engine_input, Y, None, np.arange(120, dtype=np.intp),
                                    64 if not by_columns else 16, *optimizer.engine_args(),
                                    0.0, 3, by_columns)
        return net.params.copy()

    first = train()
    busy = threading.Thread(target=_pool._count_runs,
                            args=(np.zeros(2, dtype=np.int64), 20000, 200))
    busy.start()   # holds the pool: the second training runs its chunks alone
    second = train()
    busy.join()
    np.testing.assert_array_equal(first, second)


def test_sparse_predictions_equal_dense_in_every_path():
    net = Network([40, 12, 3], "relu", "softmax", random_state=0)
    big = sp.random(5000, 40, density=0.05, format="csr", random_state=2)
    for X in (X_SPARSE[:1], X_SPARSE[:5], X_SPARSE, big):
        np.testing.assert_allclose(net.forward(X), net.forward(X.toarray()), rtol=1e-12)
    assert net.forward(X_SPARSE[:0]).shape == (0, 3)


@pytest.mark.parametrize("bad", [
    lambda d, i, p: (d, i, p[:-1]),                                         # short indptr
    lambda d, i, p: (d, i, np.concatenate([[1], p[1:]]).astype(np.intp)),   # indptr[0] != 0
    lambda d, i, p: (d, i, p[::-1].copy()),                                  # decreasing
    lambda d, i, p: (d, np.where(i == i[0], 40, i).astype(np.intp), p),     # column 40 of 40
    lambda d, i, p: (d, np.where(i == i[0], -1, i).astype(np.intp), p),     # negative column
    lambda d, i, p: (d[:-1], i, p),                                          # lengths differ
    lambda d, i, p: (d, i.astype(np.int16), p),                              # wrong index type
    lambda d, i, p: (d, np.where(i == i[0], 40, i).astype(np.int32), p),    # int32, column 40
    lambda d, i, p: (d, i),                                                  # not a triple
])
def test_engine_refuses_malformed_csr_structures(bad):
    # the compiled core reads CSR arrays it is handed directly: their structure is checked
    net = Network([40, 5, 3], "tanh", "softmax", random_state=0)
    X = check_csr_matrix(X_SPARSE, "X", np.float64)
    triple = bad(X.data, X.indices, X.indptr)
    order = np.arange(120, dtype=np.intp)
    states = [np.zeros(net.params.shape[0]) for _ in range(2)]
    with pytest.raises((ValueError, TypeError)):
        net._engine.predict(triple)
    with pytest.raises((ValueError, TypeError)):
        net._engine.loss_gradient(triple, Y3, None, 120.0, 0.0, True)
    with pytest.raises((ValueError, TypeError)):
        net._engine.train_epoch(triple, Y3, None, order, 10, 1, 1e-3, 0, False, 0.9,
                                0.999, 1e-8, 0, states[0], states[1], 0.0)


def test_sparse_input_with_nan_is_refused():
    X = X_SPARSE.copy()
    X.data[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cymlp.MLPClassifier(max_iter=1).fit(X, Y3.argmax(1))


@pytest.mark.parametrize("convert", [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix,
                                     sp.csr_array, sp.csc_array, sp.lil_matrix])
def test_estimators_fit_sparse_as_dense_and_as_scikit_learn(convert):
    y = Y3.argmax(1)
    kwargs = dict(hidden_layer_sizes=(10,), max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = cymlp.MLPClassifier(**kwargs).fit(convert(X_SPARSE), y, sample_weight=W)
        dense = cymlp.MLPClassifier(**kwargs).fit(X_SPARSE.toarray(), y, sample_weight=W)
        theirs = sk.MLPClassifier(**kwargs).fit(convert(X_SPARSE), y, sample_weight=W)
    for a, b, c in zip(ours.coefs_, dense.coefs_, theirs.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(a, c, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.predict_proba(convert(X_SPARSE)),
                               dense.predict_proba(X_SPARSE.toarray()), rtol=1e-10)
    assert ours.score(convert(X_SPARSE), y) == dense.score(X_SPARSE.toarray(), y)


def test_sparse_partial_fit_early_stopping_and_regression():
    y = X_SPARSE @ RNG.normal(size=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for solver in ("adam", "sgd", "lbfgs"):
            kwargs = dict(hidden_layer_sizes=(8,), solver=solver, max_iter=20,
                          random_state=0, early_stopping=solver != "lbfgs")
            ours = cymlp.MLPRegressor(**kwargs).fit(X_SPARSE.astype(np.float32), y)
            dense = cymlp.MLPRegressor(**kwargs).fit(X_SPARSE.toarray().astype(np.float32), y)
            assert ours._network.dtype == np.float32
            np.testing.assert_allclose(ours.predict(X_SPARSE), dense.predict(X_SPARSE.toarray()),
                                       rtol=1e-4, atol=1e-5)
        clf = cymlp.MLPClassifier((6,), random_state=0)
        for start in range(0, 120, 40):
            clf.partial_fit(X_SPARSE[start:start + 40], Y3.argmax(1)[start:start + 40],
                            classes=[0, 1, 2])
        assert clf.predict(X_SPARSE).shape == (120,)


def test_dense_enough_sparse_input_takes_the_dense_path():
    from cymlp import _validation
    X = sp.random(50, 20, density=0.5, format="csr", random_state=0)
    assert isinstance(_validation.sparse_training_input(X, np.float64), np.ndarray)
    assert sp.issparse(_validation.sparse_training_input(X_SPARSE, np.float64))


def test_int32_and_intp_column_indices_give_the_same_results():
    # scipy's int32 indices are read in place; other index types are widened to intp
    net = Network([40, 8, 3], "tanh", "softmax", random_state=0)
    X = check_csr_matrix(X_SPARSE, "X", np.float64)
    assert X.indices.dtype == np.int32
    wide = (X.data, X.indices.astype(np.intp), X.indptr)
    np.testing.assert_array_equal(net._engine.predict(X.engine_input),
                                  net._engine.predict(wide))
    first = net._engine.loss_gradient(X.engine_input, Y3, None, 120.0, 0.0, True)
    grads = net._engine.grads.copy()
    assert net._engine.loss_gradient(wide, Y3, None, 120.0, 0.0, True) == first
    np.testing.assert_array_equal(net._engine.grads, grads)


_DAMAGE = r'''
import sys, warnings
import numpy as np, scipy.sparse as sp
import cymlp
warnings.simplefilter("ignore")
X = sp.random(50, 20, density=0.3, format="csr", random_state=0)
y = np.arange(50) % 2
model = cymlp.MLPClassifier((5,), max_iter=3, random_state=0).fit(X, y)
uses = {
    "fit": lambda B: cymlp.MLPClassifier((5,), max_iter=3).fit(B, y),
    "partial_fit": lambda B: cymlp.MLPClassifier((5,)).partial_fit(B, y, classes=[0, 1]),
    "X_val": lambda B: cymlp.MLPClassifier((5,), max_iter=3).fit(X, y, X_val=B, y_val=y),
    "predict": model.predict,
    "Network": cymlp.Network([20, 3, 2]).forward,
}
def damaged(fmt, how):
    B = X.asformat(fmt).copy()
    if fmt == "coo":
        {"big": B.col, "negative": B.row, "past": B.row}[how][3] = {
            "big": 10 ** 6, "negative": -5, "past": 50}[how]
    elif how == "big":
        B.indices[3] = 10 ** 6
    elif how == "negative":
        B.indices[3] = -5
    else:   # indptr past nnz, or decreasing
        B.indptr[5] = 10 ** 6
    return B
for fmt in ("csr", "csc", "coo", "bsr"):
    for how in ("big", "negative", "past"):
        for use, run in uses.items():
            before, B = damaged(fmt, how), damaged(fmt, how)   # (a damaged COO cannot copy)
            try:
                run(B)
                print("ACCEPTED", fmt, how, use)
            except ValueError as exc:
                assert "is not a valid %s sparse matrix" % fmt.upper() in str(exc), exc
            for name in ("data", "indices", "indptr", "row", "col"):
                if hasattr(before, name):
                    assert np.array_equal(getattr(B, name), getattr(before, name))
print("done")
'''


def test_damaged_index_arrays_are_refused_before_scipy_reads_them():
    # a column index past the end, a negative one or an indptr past the data, written
    # into a matrix's arrays: scipy's toarray/tocsr (C) read and wrote out of bounds
    # (fit segfaulted); now a ValueError names it, and the matrix is left as it was
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-c", _DAMAGE], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "done", result.stdout
