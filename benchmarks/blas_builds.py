"""The same matrix products through the two OpenBLAS builds a Python process holds.

    python benchmarks/blas_builds.py                  # float32, batches 128 and 64, 1 thread
    python benchmarks/blas_builds.py --dtype float64 --batches 128,64,32 --threads 2

NumPy and SciPy each bundle their own OpenBLAS, and they need not be the same release.
cymlp calls SciPy's through ``scipy.linalg.cython_blas`` (the design's binding); the
"GEMM floor (numpy.matmul)" row of ``run_all.py`` runs on NumPy's.  This script times
every product of one batch of the 784-200-100-10 network both ways, on the same
preallocated arrays and in interleaved rounds, so that the part of the gap between cymlp
and that floor which is only the BLAS build can be read off.  A 64-row batch is the
share of one thread when cymlp splits a 128-row batch by rows.

Each figure is the median over ``--rounds`` rounds of the mean of ``--calls`` calls.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import SIZES  # noqa: E402

from cymlp._blas import gemm_memview  # noqa: E402


def batch_products(batch, dtype, rng):
    """The products of one batch: (name, cython_blas call, numpy call, output) tuples.

    Both calls of a tuple compute the same product into ``output``.

    Parameters
    ----------
    batch : int
        Rows of the batch.
    dtype : numpy dtype
    rng : numpy.random.Generator

    Returns
    -------
    list of (str, callable, callable, ndarray)
    """
    products = []
    for k, (n_in, n_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        W = rng.random((n_in, n_out)).astype(dtype)
        O = rng.random((batch, n_in)).astype(dtype)
        D = rng.random((batch, n_out)).astype(dtype)
        U = np.empty((batch, n_out), dtype)
        G = np.empty((n_in, n_out), dtype)
        E = np.empty((batch, n_in), dtype)
        products.append((
            "O%d W%d  (%dx%d @ %dx%d)" % (k, k + 1, batch, n_in, n_in, n_out),
            lambda O=O, W=W, U=U: gemm_memview(False, False, 1.0, O, W, 0.0, U),
            lambda O=O, W=W, U=U: np.matmul(O, W, out=U), U))
        products.append((
            "O%dT D%d (%dx%d @ %dx%d)" % (k, k + 1, n_in, batch, batch, n_out),
            lambda O=O, D=D, G=G: gemm_memview(True, False, 1.0, O, D, 0.0, G),
            lambda O=O, D=D, G=G: np.matmul(O.T, D, out=G), G))
        if k > 0:
            products.append((
                "D%d W%dT (%dx%d @ %dx%d)" % (k + 1, k + 1, batch, n_out, n_out, n_in),
                lambda D=D, W=W, E=E: gemm_memview(False, True, 1.0, D, W, 0.0, E),
                lambda D=D, W=W, E=E: np.matmul(D, W.T, out=E), E))
    return products


def time_pair(first, second, calls, rounds):
    """Median over rounds of the mean time per call (µs) of two functions, interleaved.

    Parameters
    ----------
    first, second : callable
    calls, rounds : int

    Returns
    -------
    (float, float)
    """
    samples = ([], [])
    first()
    second()
    for _ in range(rounds):
        for function, sample in zip((first, second), samples):
            start = time.perf_counter()
            for _ in range(calls):
                function()
            sample.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples[0]), statistics.median(samples[1])


def openblas_builds():
    """Return 'library version' for each BLAS threadpoolctl finds in this process.

    Returns
    -------
    list of str
    """
    return ["%s %s (%s)" % (Path(info["filepath"]).parent.name, info.get("version"),
                            info["internal_api"])
            for info in threadpool_info() if info["user_api"] == "blas"]


def main(argv=None):
    """Print one markdown table per batch size: each product both ways and the ratio.

    Parameters
    ----------
    argv : list of str, optional
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--batches", default="128,64")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args(argv)
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    print("BLAS builds in this process: " + "; ".join(openblas_builds()))
    print("%s, %d thread(s), median of %d rounds of %d calls\n"
          % (dtype.name, args.threads, args.rounds, args.calls))
    with threadpool_limits(args.threads):
        for batch in (int(b) for b in args.batches.split(",")):
            print("| batch %d: product | cython_blas (SciPy) µs | numpy.matmul µs "
                  "| SciPy ÷ NumPy |" % batch)
            print("| --- | ---: | ---: | ---: |")
            totals = [0.0, 0.0]
            for name, scipy_call, numpy_call, _ in batch_products(batch, dtype, rng):
                times = time_pair(scipy_call, numpy_call, args.calls, args.rounds)
                totals = [t + s for t, s in zip(totals, times)]
                print("| %s | %.1f | %.1f | %.2f |" % (name, times[0], times[1],
                                                      times[0] / times[1]))
            print("| **one batch** | **%.1f** | **%.1f** | **%.2f** |\n"
                  % (totals[0], totals[1], totals[0] / totals[1]))


if __name__ == "__main__":
    main()
