"""Scale-out: wall time of one GridSearchCV over cymlp, run here and on a Dask
``LocalCluster`` (needs the ``distributed`` extra).

    python benchmarks/scale_out.py                                  # ~3 minutes on 2 cores
    python benchmarks/scale_out.py --json benchmarks/scale_out_results.json

The search: ``MLPClassifier`` (float32, Adam, batch 128, ``--epochs`` epochs, tol=0)
on the first ``--rows`` Fashion-MNIST training images, over hidden_layer_sizes
{(100,), (200, 100)} x alpha {1e-4, 1e-2}, 3-fold: 12 fits, then the refit.  Three
ways, each timed once, in this order:

- ``local, n_jobs=1``: one fit after the other, each on all the machine's threads
  (cymlp's row split);
- ``local, n_jobs=2 (loky)``: joblib's default process pool, two fits at a time (joblib
  holds BLAS, and so cymlp, at one thread in each worker);
- ``LocalCluster, 2 workers x 1 thread``: ``joblib.parallel_backend("dask")`` on a
  ``distributed.LocalCluster`` on 127.0.0.1; its start-up time is given apart.

The two one-thread-per-fit runs (loky and Dask) must give identical mean test scores;
``n_jobs=1`` trains each fit on two threads, whose row split sums in another order, so
its scores (and, where two are close, its best parameters) may differ by that rounding.
"""
import argparse
import json
import logging
import sys
import time
import warnings

import joblib
import numpy as np
from sklearn.model_selection import GridSearchCV

import cymlp
from cymlp.datasets import load_fashion_mnist

GRID = {"hidden_layer_sizes": [(100,), (200, 100)], "alpha": [1e-4, 1e-2]}


def search(epochs, n_jobs):
    return GridSearchCV(cymlp.MLPClassifier(batch_size=128, max_iter=epochs, tol=0.0,
                                            random_state=0), GRID, cv=3, n_jobs=n_jobs)


def timed_fit(estimator, X, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(X, y)
    return time.perf_counter() - start, estimator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    import distributed

    data = load_fashion_mnist()
    X, y = data.X_train[:args.rows], data.y_train[:args.rows]
    runs = {}
    runs["local, n_jobs=1"] = timed_fit(search(args.epochs, 1), X, y)
    runs["local, n_jobs=2 (loky)"] = timed_fit(search(args.epochs, 2), X, y)
    start = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster)
    startup = time.perf_counter() - start
    with joblib.parallel_backend("dask"):
        runs["LocalCluster, 2 workers x 1 thread"] = timed_fit(search(args.epochs, -1), X, y)
    client.close()
    cluster.close()

    base = runs["local, n_jobs=1"][0]
    lines = ["| how | wall time s | × local n_jobs=1 | best parameters | mean test scores |",
             "| --- | ---: | ---: | --- | --- |"]
    for name, (seconds, fitted) in runs.items():
        scores = " ".join("%.4f" % s for s in fitted.cv_results_["mean_test_score"])
        lines.append("| %s | %.1f | %.2f | %s | %s |" % (name, seconds, seconds / base,
                                                         fitted.best_params_, scores))
    print("\n".join(lines))
    print("LocalCluster start-up: %.1f s (not in its wall time)" % startup)
    one_thread = [fitted.cv_results_["mean_test_score"] for name, (_, fitted) in runs.items()
                  if name != "local, n_jobs=1"]
    same = bool(np.array_equal(*one_thread))
    print("loky and Dask (one thread per fit) give identical scores: %s" % same)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(dict(rows=args.rows, epochs=args.epochs, cluster_startup_s=startup,
                           one_thread_runs_identical=same,
                           runs={name: dict(seconds=seconds,
                                            best_params={k: str(v) for k, v in
                                                         fitted.best_params_.items()},
                                            mean_test_score=[float(s) for s in fitted.cv_results_["mean_test_score"]])
                                 for name, (seconds, fitted) in runs.items()}),
                      out, indent=2)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
