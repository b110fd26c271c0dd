"""Scale-out through Ray (the ``ray`` extra): a local Ray instance of 2 CPUs runs
GridSearchCV on cymlp under Ray's joblib backend, with the local search's results, and
each Ray worker's cymlp trains with the one CPU Ray gave the task."""
import warnings

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_limits

import cymlp
from cymlp.config import config_info

ray = pytest.importorskip("ray")
ray_joblib = pytest.importorskip("ray.util.joblib")


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ray_joblib.register_ray()
    yield
    ray.shutdown()


def test_each_task_trains_with_the_cpu_it_was_given(ray_instance):
    with joblib.parallel_backend("ray"):
        infos = joblib.Parallel(n_jobs=2)(joblib.delayed(config_info)()
                                          for _ in range(4))
    assert [info["training_threads"] for info in infos] == [1, 1, 1, 1]


def test_grid_search_under_ray_equals_the_local_search(ray_instance):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 6))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)

    def search():
        return GridSearchCV(cymlp.MLPClassifier(max_iter=30, random_state=0),
                            {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-1]},
                            cv=3, n_jobs=2)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with threadpool_limits(1):
            local = search().fit(X, y)
            with joblib.parallel_backend("ray"):
                remote = search().fit(X, y)
    np.testing.assert_array_equal(remote.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert remote.best_params_ == local.best_params_
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))
