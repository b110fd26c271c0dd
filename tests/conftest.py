"""Shared fixtures: the real Fashion-MNIST data, loaded once per test session."""
import pytest

from cymlp import datasets


@pytest.fixture(scope="session")
def fashion_mnist():
    """Fashion-MNIST from a local copy (Debian package or cache); skipped when absent."""
    try:
        return datasets.load_fashion_mnist(download_missing=False)
    except datasets.DatasetNotFoundError as exc:
        pytest.skip(str(exc))
