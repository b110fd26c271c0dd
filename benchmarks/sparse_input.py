"""Sparse input: seconds per epoch and peak memory, cymlp's sparse path against its dense
path and scikit-learn, plus the density at which the sparse path starts to pay.

    python benchmarks/sparse_input.py            # everything (~10 minutes on 2 cores)
    python benchmarks/sparse_input.py --quick    # smaller TF-IDF set, fewer densities
    python benchmarks/sparse_input.py --json benchmarks/sparse_results.json   # keep the numbers

Data sets:
(a) TF-IDF-like: 20,000 x 100,000 CSR, ~100 non-zeros per row, columns drawn from a
    Zipf law (word frequencies), rows L2-normalised, 20 classes from a random linear
    rule; made by a seeded generator (``tfidf_like``).  Network 100,000-100-20.
(b) Fashion-MNIST as CSR (about half the pixels are zero).  Network 784-200-100-10.
Density sweep: random CSR with 784 columns at several densities, 784-200-100-10, cymlp's
``Network.train_epoch`` on the CSR and on the same data densified.

Every fit runs in a fresh process (``--one``): the data is made, then the peak RSS mark
is reset, so the figure is what the fit itself adds (model, optimizer, workspace, and
for the dense path the densified copy).  Each process times one ``fit`` of 3 epochs
(MLPClassifier, Adam, batch 200, float32, tol=0 so no early stop; the dense path's
densifying included) and reports its wall time / 3.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import peak_rss_mb, reset_peak, rss_mb  # noqa: E402

IMPLEMENTATIONS = ("cymlp sparse", "cymlp dense", "scikit-learn")
#: Epochs of each timed fit.
EPOCHS = 3
#: Do not densify for "cymlp dense" beyond this (the machine has 24 GB, the run 2 cores).
DENSE_LIMIT_BYTES = 4 << 30


def tfidf_like(n_rows=20000, n_cols=100000, nnz_per_row=100, n_classes=20, seed=0):
    """A seeded TF-IDF-like CSR matrix (float32) and labels.

    Column ids follow a Zipf law of exponent 1.1 (a few frequent words, a long tail):
    each row draws 2 x ``nnz_per_row`` words and keeps its first ``nnz_per_row``
    distinct ones (fewer where the draws repeat a lot); counts become
    ``log(1 + tf) * idf`` with the idf of the drawn columns, and each row is
    L2-normalised; labels are the argmax of a random linear map of the rows.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_rows, n_cols), float32
    y : ndarray of shape (n_rows,), int
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_cols + 1) ** 1.1
    weights /= weights.sum()
    # twice as many word draws as wanted; each row keeps its first nnz_per_row distinct
    # words, with the number of times it drew each as the term frequency
    draws = 2 * nnz_per_row
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), draws)
    keys = rows * n_cols + rng.choice(n_cols, size=n_rows * draws, p=weights)
    _, first, tf = np.unique(keys, return_index=True, return_counts=True)
    order = np.argsort(first)
    first, tf = first[order], tf[order]
    kept_rows = rows[first]
    rank = np.arange(first.size) - np.searchsorted(kept_rows, kept_rows)
    keep = rank < nnz_per_row
    counts = sp.csr_matrix((tf[keep].astype(np.float32),
                            (kept_rows[keep], keys[first][keep] % n_cols)),
                           shape=(n_rows, n_cols))
    document_frequency = np.bincount(counts.indices, minlength=n_cols)
    idf = np.log((1 + n_rows) / (1 + document_frequency)).astype(np.float32) + 1
    counts.data = np.log1p(counts.data) * idf[counts.indices]
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    X = sp.diags((1 / np.maximum(norms, 1e-12)).astype(np.float32)) @ counts
    rule = rng.normal(size=(n_cols, n_classes)).astype(np.float32)
    y = np.asarray(X @ rule).argmax(axis=1)
    return X.tocsr().astype(np.float32), y


def fashion_csr():
    """Fashion-MNIST's training images as CSR float32 in [0, 1], and labels."""
    from cymlp.datasets import load_fashion_mnist

    data = load_fashion_mnist()
    return sp.csr_matrix(data.X_train), data.y_train


def make_estimator(implementation, hidden):
    """MLPClassifier (Adam, batch 200) that trains exactly ``EPOCHS`` epochs."""
    kwargs = dict(hidden_layer_sizes=hidden, batch_size=200, random_state=0,
                  max_iter=EPOCHS, tol=0, n_iter_no_change=EPOCHS + 1)
    if implementation == "scikit-learn":
        from sklearn.neural_network import MLPClassifier
    else:
        from cymlp import MLPClassifier
    return MLPClassifier(**kwargs)


def release_freed_memory():
    """Give the heap that making the data freed back to the system (glibc's
    ``malloc_trim``): otherwise the fit reuses those pages and its peak looks smaller."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def measure_one(implementation, dataset, quick):
    """Fit in this process: JSON with s/epoch (median of 3 after a warm-up) and peak MB."""
    import warnings

    from cymlp import _validation

    warnings.simplefilter("ignore")
    if dataset == "tfidf":
        X, y = tfidf_like(n_rows=5000 if quick else 20000)
        hidden = (100,)
    else:
        X, y = fashion_csr()
        hidden = (200, 100)
    if implementation == "cymlp sparse":
        _validation.SPARSE_DENSITY_CROSSOVER = 2.0   # never densify: the sparse path itself
    elif implementation == "cymlp dense" and X.shape[0] * X.shape[1] * 4 > DENSE_LIMIT_BYTES:
        return dict(implementation=implementation, dataset=dataset, skipped=(
            "the dense copy would take %.1f GB" % (X.shape[0] * X.shape[1] * 4 / 2 ** 30)))
    release_freed_memory()
    baseline = rss_mb()
    reset_peak()
    model = make_estimator(implementation, hidden)
    start = time.perf_counter()
    data = X.toarray() if implementation == "cymlp dense" else X
    model.fit(data, y)
    seconds = time.perf_counter() - start
    return dict(implementation=implementation, dataset=dataset, shape=list(X.shape),
                nnz=int(X.nnz), seconds_per_epoch=seconds / EPOCHS,
                peak_mb=peak_rss_mb() - baseline, accuracy=float(model.score(data, y)))


def density_sweep(densities, n_rows=20000):
    """s/epoch of 784-200-100-10 on random CSR at each density, sparse vs densified."""
    import cymlp

    rng = np.random.default_rng(0)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n_rows)]
    rows = []
    for density in densities:
        X = sp.random(n_rows, 784, density=density, format="csr", random_state=0,
                      dtype=np.float32)
        timing = {}
        for kind, data in (("sparse", X), ("dense", X.toarray())):
            net = cymlp.Network([784, 200, 100, 10], "logistic", dtype=np.float32,
                                random_state=0)
            optimizer = cymlp.Adam()
            order = np.arange(n_rows)
            net.train_epoch(data, Y, optimizer, 200, order)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                net.train_epoch(data, Y, optimizer, 200, order)
                times.append(time.perf_counter() - start)
            timing[kind] = statistics.median(times)
        rows.append(dict(density=density, sparse=timing["sparse"], dense=timing["dense"]))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("IMPLEMENTATION", "DATASET"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one[0], args.one[1], args.quick)))
        return
    results = []
    for dataset in ("tfidf", "fashion"):
        for implementation in IMPLEMENTATIONS:
            command = [sys.executable, __file__, "--one", implementation, dataset]
            output = subprocess.run(command + (["--quick"] if args.quick else []),
                                    capture_output=True, text=True, check=True).stdout
            results.append(json.loads(output.strip().splitlines()[-1]))
    print("| data | implementation | s/epoch | x cymlp sparse | peak MB over baseline "
          "| x cymlp sparse | training accuracy |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for dataset in ("tfidf", "fashion"):
        rows = [r for r in results if r["dataset"] == dataset]
        ours = next(r for r in rows if r["implementation"] == "cymlp sparse")
        for r in rows:
            if "skipped" in r:
                print("| %s | %s | not run: %s | | | | |" % (dataset, r["implementation"],
                                                         r["skipped"]))
                continue
            print("| %s %s | %s | %.3f | %.2fx | %.0f | %.2fx | %.3f |" % (
                dataset, "x".join(map(str, r["shape"])), r["implementation"],
                r["seconds_per_epoch"], r["seconds_per_epoch"] / ours["seconds_per_epoch"],
                r["peak_mb"], r["peak_mb"] / ours["peak_mb"], r["accuracy"]))
    sweep = density_sweep([0.01, 0.05, 0.1] if args.quick else
                          [0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5])
    print("\n| density (784 columns) | sparse s/epoch | dense s/epoch | sparse / dense |")
    print("| ---: | ---: | ---: | ---: |")
    for row in sweep:
        print("| %.2f | %.3f | %.3f | %.2f |" % (row["density"], row["sparse"], row["dense"],
                                                 row["sparse"] / row["dense"]))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(fits=results, sweep=sweep), indent=1))


if __name__ == "__main__":
    main()
