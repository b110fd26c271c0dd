"""The same answer whatever runs beside it: predictions made while other threads predict
or fit, and fits running side by side in threads, equal the sequential ones bit for bit
(float32 and float64, with two BLAS threads)."""
import threading
import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from cymlp import MLPClassifier, MLPRegressor

DTYPES = [np.float32, np.float64]


def data(dtype, n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 300)).astype(dtype)
    y = (X[:, :5].sum(axis=1) > 0).astype(int) + (X[:, 5] > 1)
    return X, y


def fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


def run_threads(targets):
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as exc:   # noqa: BLE001 -- reported below
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


@pytest.mark.parametrize("dtype", DTYPES)
def test_concurrent_predictions_equal_sequential_ones(dtype):
    X, y = data(dtype)
    with threadpool_limits(2):
        clf = fit(MLPClassifier((200, 100), max_iter=2, random_state=0), X, y)
        sizes = [3, 50, 300, 1000, 3000]   # row products, one block, chunks of blocks
        expected = {n: clf.predict_proba(X[:n]) for n in sizes}
        differing = []

        def predict(seed):
            rng = np.random.default_rng(seed)
            for _ in range(5):
                n = sizes[rng.integers(len(sizes))]
                if not np.array_equal(clf.predict_proba(X[:n]), expected[n]):
                    differing.append(n)

        run_threads([lambda s=s: predict(s) for s in range(8)])
    assert not differing


@pytest.mark.parametrize("dtype", DTYPES)
def test_fits_side_by_side_equal_a_fit_alone(dtype):
    X, y = data(dtype, n=2000)
    def make():
        return MLPRegressor(hidden_layer_sizes=(64, 32), max_iter=3, batch_size=64,
                            random_state=0)
    target = y.astype(dtype)
    with threadpool_limits(2):
        alone = fit(make(), X, target)
        side_by_side = [make() for _ in range(3)]
        predictor = fit(make(), X, target)
        run_threads([lambda m=m: fit(m, X, target) for m in side_by_side]
                    + [lambda: [predictor.predict(X) for _ in range(5)]])
    for model in side_by_side:
        for mine, theirs in zip(model.coefs_ + model.intercepts_,
                                alone.coefs_ + alone.intercepts_):
            np.testing.assert_array_equal(mine, theirs)
