"""Shared fixtures: the real Fashion-MNIST data, loaded once per test session; whether the
BLAS libraries in the process are all OpenBLAS; peak traced memory of a call."""
import tracemalloc

import pytest
from threadpoolctl import threadpool_info

from cymlp import datasets


@pytest.fixture(scope="session")
def fashion_mnist():
    """Fashion-MNIST from a local copy (Debian package or cache); skipped when absent."""
    try:
        return datasets.load_fashion_mnist(download_missing=False)
    except datasets.DatasetNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def openblas_only():
    """Whether threadpoolctl sees BLAS and all of it is OpenBLAS: then small predictions
    read the thread setting (``_threads.install_thread_queries``), else use one thread."""
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    return bool(blas) and all(lib["internal_api"] == "openblas" for lib in blas)


def _peak_bytes_of(function):
    """Run ``function``; return the peak of memory traced meanwhile (numpy included)."""
    tracemalloc.start()
    try:
        function()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.fixture
def peak_bytes_of():
    """``peak_bytes_of(function)``: the peak memory traced while ``function`` runs."""
    return _peak_bytes_of
