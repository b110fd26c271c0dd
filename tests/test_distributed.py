"""Scale-out (the ``distributed`` extra): a real ``distributed.LocalCluster`` on
127.0.0.1 with two single-threaded worker processes.  GridSearchCV under joblib's Dask
backend and ``dask_ml.wrappers.Incremental`` over a chunked dask array give the results of
the same work run here with one thread; each worker's cymlp trains with the one thread
its worker was given."""
import logging
import warnings

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

import cymlp
import cymlp._search_groups
import cymlp.model_selection
from cymlp.config import config_info

distributed = pytest.importorskip("distributed")
dask_array = pytest.importorskip("dask.array")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       silence_logs=logging.ERROR)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 8))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0.5)
    return X, y


def test_each_worker_trains_with_the_threads_it_was_given(client):
    given = client.nthreads()
    used = client.run(config_info)
    assert set(used) == set(given) and len(given) == 2
    for worker, info in used.items():
        assert info["training_threads"] == given[worker] == 1


def _grid_search():
    return GridSearchCV(cymlp.MLPClassifier(max_iter=40, random_state=0),
                        {"hidden_layer_sizes": [(8,), (16, 8)], "alpha": [1e-4, 1e-1]},
                        cv=3, n_jobs=-1)


def test_grid_search_on_dask_workers_equals_the_local_search(client, data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with threadpool_limits(1):   # the workers' thread count, so results are bitwise
            local = _grid_search().fit(X, y)
        # (the final refit runs here, not on a worker: one thread here too)
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"), \
                threadpool_limits(1):
            remote = _grid_search().fit(X, y)
    workers = {task["worker"] for task in tasks.data}
    assert workers <= set(client.nthreads()) and workers, "nothing ran on the workers"
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


def test_grouped_search_spreads_one_task_per_fold_and_group(client, data, monkeypatch):
    """cymlp's search under the Dask backend: each (fold, group) is one task on a
    worker, whose candidates train together there; the results are the local ones."""
    X, y = data
    monkeypatch.setattr(cymlp._search_groups, "MIN_EPOCH_WORK", 0)   # decided here
    grid = {"alpha": [1e-4, 1e-3, 1e-2, 1e-1], "learning_rate_init": [1e-3, 1e-2]}

    def search():
        return cymlp.model_selection.GridSearchCV(
            cymlp.MLPClassifier((16,), max_iter=20, random_state=0), grid, cv=3,
            n_jobs=-1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with threadpool_limits(1):
            local = search().fit(X, y)
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"), \
                threadpool_limits(1):
            remote = search().fit(X, y)
    # 3 folds x the 8 candidates cut in 2 groups of 4 (two workers to feed): 6 tasks
    group_tasks = [t for t in tasks.data if "fit_and_score_group" in str(t["key"])]
    assert len(group_tasks) == 6, [t["key"] for t in tasks.data]
    assert {task["worker"] for task in group_tasks} == set(client.nthreads())
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_


def test_incremental_over_a_chunked_dask_array(client, data):
    X, y = data
    dX = dask_array.from_array(X, chunks=(150, X.shape[1]))
    dy = dask_array.from_array(y, chunks=150)
    assert dX.numblocks[0] == 4
    classes = np.unique(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        incremental = dask_ml_wrappers.Incremental(
            cymlp.MLPClassifier((12,), random_state=0), shuffle_blocks=False)
        incremental.fit(dX, dy, classes=classes)
        local = cymlp.MLPClassifier((12,), random_state=0)
        with threadpool_limits(1):
            for start in range(0, len(X), 150):
                local.partial_fit(X[start:start + 150], y[start:start + 150], classes=classes)
    remote = incremental.estimator_
    for got, expected in zip(remote.coefs_ + remote.intercepts_,
                             local.coefs_ + local.intercepts_):
        np.testing.assert_array_equal(got, expected)
    predicted = incremental.predict(dX)
    assert isinstance(predicted, dask_array.Array)
    np.testing.assert_array_equal(predicted.compute(), local.predict(X))
