"""cymlp: multi-layer perceptrons with a compiled Cython + BLAS core.

``Network`` is the low-level model (forward, backward, loss, epoch training);
``MLPClassifier`` and ``MLPRegressor`` are the scikit-learn estimators on top of it.

The names below are imported on first use (PEP 562), so that ``cymlp --help`` and
``cymlp --version`` answer without importing scikit-learn.  Before any ``fork`` they are
all imported: a child forked while another thread was importing one of them would
otherwise wait forever for that import's lock.
"""
import importlib
import os
import threading

from cymlp._version import __version__

_LAZY = {
    "show_config": "cymlp.config",
    "MLPClassifier": "cymlp.estimators",
    "MLPRegressor": "cymlp.estimators",
    "Dense": "cymlp.network",
    "DivergenceError": "cymlp.network",
    "EpochResult": "cymlp.network",
    "Network": "cymlp.network",
    "SGD": "cymlp.optimizers",
    "Adam": "cymlp.optimizers",
    "AdamW": "cymlp.optimizers",
    "CosineSchedule": "cymlp.optimizers",
    "StepSchedule": "cymlp.optimizers",
}

__all__ = ["__version__", "Adam", "AdamW", "CosineSchedule", "Dense", "DivergenceError",
           "EpochResult", "MLPClassifier", "MLPRegressor", "Network", "SGD", "StepSchedule",
           "show_config"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError("module 'cymlp' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


def _imports_of_other_threads():
    """``{module name: lock}`` of the imports another thread has begun and not ended."""
    import importlib._bootstrap as bootstrap

    me = threading.get_ident()
    held = {}
    for name, ref in list(getattr(bootstrap, "_module_locks", {}).items()):
        lock = ref() if callable(ref) else None
        owner = getattr(lock, "owner", None)
        if owner is not None and owner != me:
            held[name] = lock
    return held


def _import_all():
    """Import every lazily provided module now (in the thread about to fork).

    Skipped while another thread is importing: this runs with the other fork handlers'
    locks held (logging's among them), and that thread's import may be waiting for one
    of them, so waiting for it here deadlocked the parent (seen: 3 of 46 runs of
    tests/test_fork.py's scenario).  A child forked then may itself wait for the import
    lock that thread held, as any Python child forked during another thread's import
    can; the parent no longer does.
    """
    if _imports_of_other_threads():
        return
    for module in sorted(set(_LAZY.values())):
        importlib.import_module(module)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_import_all)
