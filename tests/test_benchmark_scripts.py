"""The benchmark scripts time what they say they time."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
blas_builds = pytest.importorskip("blas_builds")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_builds_times_the_same_product_both_ways(dtype):
    products = blas_builds.batch_products(5, np.dtype(dtype), np.random.default_rng(0))
    # forward and weight gradient of three layers, Delta W^T of the last two
    assert len(products) == 8
    for name, scipy_call, numpy_call, out in products:
        out[...] = np.nan
        scipy_call()
        first = out.copy()
        out[...] = np.nan
        numpy_call()
        np.testing.assert_allclose(first, out, rtol=1e-5, err_msg=name)


def test_blas_builds_prints_one_table_per_batch(capsys):
    blas_builds.main(["--batches", "4,2", "--calls", "1", "--rounds", "1"])
    printed = capsys.readouterr().out
    assert printed.startswith("BLAS builds in this process: ")
    assert printed.count("| **one batch** |") == 2


def test_sparse_benchmark_data_is_what_it_says():
    sparse = pytest.importorskip("sparse_input")
    X, y = sparse.tfidf_like(n_rows=300, n_cols=2000, nnz_per_row=40, n_classes=5)
    assert X.shape == (300, 2000) and X.format == "csr" and X.dtype == np.float32
    # 40 distinct columns per row (fewer only where the Zipf draws repeat a lot)
    assert 30 < X.nnz / 300 <= 40
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A.ravel(), 1, rtol=1e-5)
    counts = np.bincount(X.indices, minlength=2000)
    assert counts[:10].sum() > counts[-1000:].sum()   # frequent words first
    assert set(y) <= set(range(5))


def test_sparse_benchmark_density_sweep_times_both_paths():
    sparse = pytest.importorskip("sparse_input")
    rows = sparse.density_sweep([0.05], n_rows=600)
    assert len(rows) == 1 and rows[0]["sparse"] > 0 and rows[0]["dense"] > 0


def test_search_benchmark_counts_the_search_arithmetic():
    search = pytest.importorskip("search")
    # 784-200-100-10: forward and weight gradient of every layer, input gradient of
    # the last two; 2 of 3 folds' rows per candidate fit, all rows for the refit
    per_row = 2 * (2 * 784 * 200 + 3 * 200 * 100 + 3 * 100 * 10)
    assert search.search_flops(900, (200, 100), 8, 10, 3) == per_row * 10 * (8 * 3 * 600
                                                                            + 900)


def test_search_benchmark_times_both_ways_on_the_same_batches():
    search = pytest.importorskip("search")
    rng = np.random.default_rng(0)
    X = rng.random((300, 784), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 300)]
    order = rng.permutation(300).astype(np.intp)
    for count in (1, 3):
        together, alone = search.grouped_epoch_seconds(X, Y, (16,), 50, count, order)
        assert together > 0 and alone > 0
