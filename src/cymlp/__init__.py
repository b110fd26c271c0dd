"""cymlp: multi-layer perceptrons with a compiled Cython + BLAS core.

``Network`` is the low-level model (forward, backward, loss, epoch training);
``MLPClassifier`` and ``MLPRegressor`` are the scikit-learn estimators on top of it.
"""
from cymlp._version import __version__
from cymlp.config import show_config
from cymlp.estimators import MLPClassifier, MLPRegressor
from cymlp.network import Dense, DivergenceError, EpochResult, Network
from cymlp.optimizers import SGD, Adam

__all__ = ["__version__", "Adam", "Dense", "DivergenceError", "EpochResult", "MLPClassifier",
           "MLPRegressor", "Network", "SGD", "show_config"]
