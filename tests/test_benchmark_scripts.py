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
