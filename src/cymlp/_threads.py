"""How many threads cymlp computes with, and BLAS held at one thread meanwhile.

cymlp follows the BLAS thread setting the user already controls (threadpoolctl's
``threadpool_limits``, ``OPENBLAS_NUM_THREADS``...): with T BLAS threads allowed, a
training batch is split into T row chunks that run on T threads of cymlp's own pool
(``_pool.pyx``), each calling single-threaded BLAS.  On 784-200-100-10 at batch 128 that
beats letting OpenBLAS split each product (two cores give it ~1.3x; independent
half-batches give ~1.8x).

While chunks run, BLAS must stay at one thread, or each chunk's gemm would fight
for the same cores.  ``training_plan`` does that for the length of a training loop
(not per epoch: OpenBLAS's idle workers spin for ~0.1 s after a threaded call, which
would slow the next epoch).  Nested loops share one limit; loops in other threads meanwhile see the user's
own thread count and leave BLAS alone (see ``training_plan``).  Where no
BLAS library is found (Apple Accelerate is invisible to threadpoolctl), cymlp uses one
thread and lets BLAS do the threading.
"""
import contextlib
import threading

from threadpoolctl import ThreadpoolController

import cymlp._blas  # noqa: F401  (loads SciPy's BLAS before threadpoolctl looks)

# A chunk needs this many rows of a batch for the split to pay (measured: at 16 rows
# per chunk the duplicated packing of W in each small gemm eats the gain).
MIN_CHUNK_ROWS = 32
# Predictions are split into chunks only from this many rows (and only while BLAS is
# held at one thread; otherwise threaded BLAS does well on 1024-row blocks).
MIN_PREDICT_ROWS = 2048
# Most chunks per batch (the pool's limit is 63 helpers plus the caller).
MAX_CHUNKS = 64

_lock = threading.Lock()
_controller = None   # threadpoolctl's view of the BLAS libraries, found once
_owner = None        # the thread holding BLAS at one thread, or None
_depth = 0           # nesting depth of training_plan in the owner thread
_limiter = None
_user_threads = 1    # the BLAS thread count before the limit (valid while _owner is set)


def _blas_libraries():
    global _controller
    if _controller is None:
        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


def blas_threads():
    """Return the number of threads BLAS may use, as the user set it.

    While a training loop holds BLAS at one thread, this is the count from before.

    Returns
    -------
    int
        At least 1; 1 when no BLAS library is visible to threadpoolctl.
    """
    with _lock:
        if _owner is not None:
            return _user_threads
        return _read_blas_threads()


def _read_blas_threads():
    counts = [lib.num_threads for lib in _blas_libraries().lib_controllers]
    return max(1, min([c for c in counts if c is not None], default=1))


def chunks_for_batch(threads, batch_size):
    """Return how many row chunks a batch of ``batch_size`` rows is split into.

    Parameters
    ----------
    threads : int
        Threads allowed.
    batch_size : int

    Returns
    -------
    int
        1 (no split) up to ``min(threads, 64)``, with at least ``MIN_CHUNK_ROWS`` rows
        per chunk.
    """
    return _split(threads, batch_size, MIN_CHUNK_ROWS)


def _split(threads, rows, min_rows):
    """Chunks for ``rows`` rows: one per thread, at most 64, each of >= ``min_rows``."""
    return max(1, min(threads, MAX_CHUNKS, rows // min_rows))


@contextlib.contextmanager
def training_plan(batch_size):
    """Choose the chunk count for training; hold BLAS at one thread while it is > 1.

    Only the thread that set the limit lifts it (threadpoolctl lets a single thread
    control OpenBLAS's pool), so a loop in another thread while the limit is held
    uses the user's thread count without touching BLAS; should the limit be lifted
    under it, its chunks call threaded BLAS: slower, never wrong.  If the limit does
    not take (another thread controls OpenBLAS), training does not split.

    Parameters
    ----------
    batch_size : int

    Yields
    ------
    int
        The number of chunks to pass to ``Engine.train_epoch``.
    """
    global _owner, _depth, _limiter, _user_threads
    me = threading.get_ident()
    holding = False
    with _lock:
        if _owner is not None:
            n_chunks = chunks_for_batch(_user_threads, batch_size)
            if _owner == me:
                _depth += 1
                holding = True
        else:
            threads = _read_blas_threads()
            n_chunks = chunks_for_batch(threads, batch_size)
            if n_chunks > 1:
                limiter = _blas_libraries().limit(limits=1)
                limiter.__enter__()
                if _read_blas_threads() == 1:
                    _owner, _depth, _limiter, _user_threads = me, 1, limiter, threads
                    holding = True
                else:
                    limiter.__exit__(None, None, None)
                    n_chunks = 1
    try:
        yield n_chunks
    finally:
        if holding:
            with _lock:
                _depth -= 1
                if _depth == 0:
                    _limiter.__exit__(None, None, None)
                    _limiter = _owner = None


def chunks_for_prediction(n_rows):
    """Return the chunk count for predicting ``n_rows`` rows.

    Only while a training loop holds BLAS at one thread (e.g. the validation score
    between epochs) are predictions split; otherwise BLAS threads them itself.

    Parameters
    ----------
    n_rows : int

    Returns
    -------
    int
    """
    if _owner is None or n_rows < MIN_PREDICT_ROWS:
        return 1
    return _split(_user_threads, n_rows, 1024)
