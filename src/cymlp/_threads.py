"""How many threads cymlp computes with, and BLAS held at one thread meanwhile.

cymlp follows the BLAS thread setting the user already controls (threadpoolctl's
``threadpool_limits``, ``OPENBLAS_NUM_THREADS``...): with T BLAS threads allowed, a
training batch is split into T row chunks that run on T threads of cymlp's own pool
(``_pool.pyx``), each calling single-threaded BLAS.  On 784-200-100-10 at batch 128 that
beats letting OpenBLAS split each product (two cores give it ~1.3x; independent
half-batches give ~1.8x).  A batch too small for row chunks (under ``MIN_CHUNK_ROWS``
rows each) is split by columns instead: every layer's W over the T threads, which also
run the optimizer step on their rows of W (``Engine.train_epoch(by_columns=True)``).

While chunks run, BLAS must stay at one thread, or each chunk's gemm would fight
for the same cores.  ``training_plan`` does that for the length of a training loop
(not per epoch: OpenBLAS's idle workers spin for ~0.1 s after a threaded call, which
would slow the next epoch), ``prediction_plan`` for one large prediction.  Nested
plans share one limit; plans in other threads meanwhile see the user's own thread
count and leave BLAS alone (see ``_plan``).  Where no BLAS library is found (Apple
Accelerate is invisible to threadpoolctl), cymlp uses one thread and lets BLAS do the
threading.

Small predictions (under 8 rows) read the thread setting in C on every call
(``install_thread_queries``) and split each large W into row blocks over the pool.

Fork: a child may be forked while another thread holds the BLAS limit.  The forking
thread takes ``_lock`` around ``fork`` (``os.register_at_fork``), so the child never
sees a half-made change; the child gets a fresh lock and no owner, and puts BLAS back
to the user's thread count on its first plan (the parent's limit of one thread is
BLAS state that the child inherits, with no thread left to lift it).
"""
import collections
import contextlib
import ctypes
import os
import threading
from typing import Any

from threadpoolctl import ThreadpoolController

import cymlp._blas  # noqa: F401  (loads SciPy's BLAS before threadpoolctl looks)
from cymlp._pool import set_thread_queries

# A chunk needs this many rows of a batch for the split to pay (measured: at 16 rows
# per chunk the duplicated packing of W in each small gemm eats the gain).
MIN_CHUNK_ROWS = 32
# Predictions of this many rows or more go through gemm, under a plan (fewer: the
# engine's row-product path, which does not use BLAS and whose sums do not depend on
# the thread count).
MIN_PREDICT_ROWS = 8
# A prediction is computed in blocks of at most this many rows (``prediction_blocks``).
PREDICT_BLOCK_ROWS = 1024
# Most chunks per batch (the pool's limit is 63 helpers plus the caller).
MAX_CHUNKS = 64
# The column split synchronises twice per layer and batch: it pays from about this much
# work per batch, counted as coefficients x (batch rows + 4) (the products, plus the
# optimizer step).  Measured with 2 threads: 100-50-10 at batch 32 (198k) ran 0.019 s
# per 20,000 rows split against 0.017 s unsplit; 150-80-10 at batch 16 (256k) 0.041
# against 0.047 s; 784-200-100-10 at batch 1 (890k) 0.65 s either way.
MIN_COLUMN_WORK = 250_000

TrainingSplit = collections.namedtuple("TrainingSplit", "n_chunks by_columns")
TrainingSplit.__doc__ = """How a training batch is shared out: ``n_chunks`` chunks, of rows
or (``by_columns``) of every layer's columns."""
NO_SPLIT = TrainingSplit(1, False)

_lock = threading.Lock()
_controller = None   # threadpoolctl's view of the BLAS libraries, found once
_holders: dict[int, int] = {}   # thread id -> depth of its plans, while BLAS is held at 1
_original: list[Any] = []      # (library, thread count) to put back when the last plan ends
_user_threads = 1    # the BLAS thread count before the limit (valid while _holders)
_queries_installed = False
_restore_threads = None   # in a child forked while BLAS was held: the count to put back


def _reset_after_fork():
    """In a forked child: a new lock; the plans of threads the child does not have are
    dropped, and BLAS restored on the next plan unless the forking thread holds it
    (its plan lifts the limit when it ends)."""
    global _lock, _holders, _original, _restore_threads
    _lock = threading.Lock()
    me = threading.get_ident()
    if me in _holders:
        _holders = {me: _holders[me]}
        return
    if _holders:
        _restore_threads = _user_threads
    _holders, _original = {}, []


def _restore_after_fork():
    """Put BLAS back to the parent's user setting (call with ``_lock`` held)."""
    global _restore_threads
    if _restore_threads is not None:
        _set_thread_counts([(lib, _restore_threads)
                            for lib in _blas_libraries().lib_controllers])
        _restore_threads = None


if hasattr(os, "register_at_fork"):
    # fork only between two changes of the plan state, never in the middle of one
    os.register_at_fork(before=lambda: _lock.acquire(),
                        after_in_parent=lambda: _lock.release(),
                        after_in_child=_reset_after_fork)


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
        if _holders:
            return _user_threads
        _restore_after_fork()
        return _read_blas_threads()


def _thread_counts():
    """(library controller, its thread count) for every BLAS library."""
    return [(lib, lib.num_threads) for lib in _blas_libraries().lib_controllers]


def _set_thread_counts(counts):
    """Set each BLAS library's thread count (process-wide), from any thread.

    threadpoolctl 3.8 lets only a "controlling thread" change OpenBLAS's pthreads pool
    and silently ignores the others; cymlp's plans start and end in whichever thread
    comes first and last (under ``_lock``), so OpenBLAS is set through its own
    ``openblas_set_num_threads``; other libraries through threadpoolctl."""
    for lib, count in counts:
        if count is not None:
            _thread_setter(lib)(count)


_SETTERS: dict[str, Any] = {}   # library path -> the function setting its thread count


def _thread_setter(lib):
    setter = _SETTERS.get(lib.filepath)
    if setter is None:
        setter = lib.set_num_threads
        if lib.internal_api == "openblas" and getattr(lib, "threading_layer",
                                                      None) != "openmp":
            function = _openblas_symbol(lib, "openblas_set_num_threads")
            if function is not None:
                function.restype = None
                function.argtypes = [ctypes.c_int]
                setter = function
        _SETTERS[lib.filepath] = setter
    return setter


def _read_blas_threads():
    counts = [lib.num_threads for lib in _blas_libraries().lib_controllers]
    return max(1, min([c for c in counts if c is not None], default=1))


def install_thread_queries():
    """Let compiled code read the BLAS thread setting directly (once per process).

    Small predictions (``Engine.predict`` on fewer than 8 rows) decide per call
    whether to use the pool; threadpoolctl takes ~5 us to answer, OpenBLAS's own
    ``openblas_get_num_threads`` (or ``omp_get_max_threads`` for its OpenMP build)
    a few nanoseconds.  Those functions are handed to ``_pool.set_thread_queries``.
    If a BLAS library other than OpenBLAS is loaded, none are: small predictions
    then use one thread.
    """
    global _queries_installed
    with _lock:
        if _queries_installed:
            return
        addresses = []
        for lib in _blas_libraries().lib_controllers:
            function = _openblas_thread_query(lib)
            if function is None:
                addresses = []
                break
            addresses.append(ctypes.cast(function, ctypes.c_void_p).value)
        set_thread_queries(addresses)
        _queries_installed = True


def _openblas_thread_query(lib):
    """The ctypes function reporting an OpenBLAS library's thread count, or None."""
    if lib.internal_api != "openblas":
        return None
    if getattr(lib, "threading_layer", None) == "openmp":
        function = getattr(ctypes.CDLL(lib.filepath), "omp_get_max_threads", None)
    else:
        function = _openblas_symbol(lib, "openblas_get_num_threads")
    if function is not None:
        function.restype = ctypes.c_int
        function.argtypes = []
    return function


def _openblas_symbol(lib, stem):
    """OpenBLAS's function ``stem`` in library ``lib`` under the names its builds export
    (plain, SciPy's ``scipy_`` prefix, the ILP64 ``64_``/``_64`` suffixes), or None."""
    dynlib = ctypes.CDLL(lib.filepath)
    for name in [prefix + stem + suffix
                 for prefix in ("", "scipy_") for suffix in ("", "64_", "_64")]:
        function = getattr(dynlib, name, None)
        if function is not None:
            return function
    return None


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


def split_for_batch(threads, batch_size, n_coef=None):
    """Return how a batch of ``batch_size`` rows is shared out over ``threads`` threads.

    Parameters
    ----------
    threads : int
        Threads allowed.
    batch_size : int
    n_coef : int, optional
        The network's coefficient count; a batch too small for row chunks is split by
        columns only if ``n_coef * (batch_size + 4) >= MIN_COLUMN_WORK`` (unknown: it is).

    Returns
    -------
    TrainingSplit
        Row chunks (``chunks_for_batch``) when there are at least two; otherwise, with
        more than one thread and enough work, one column chunk per thread (at most 64): on
        784-200-100-10 with 2 threads, batch 32 ran 0.68-0.78 s/epoch split by columns
        against 0.92-0.99 s on threaded OpenBLAS, and batch 16 0.38 s against 0.52 s
        (20,000 rows).  At batch 128 row chunks stay ahead (0.51 s against 0.56 s).
    """
    rows = chunks_for_batch(threads, batch_size)
    if rows > 1:
        return TrainingSplit(rows, False)
    if threads > 1 and (n_coef is None or n_coef * (batch_size + 4) >= MIN_COLUMN_WORK):
        return TrainingSplit(min(threads, MAX_CHUNKS), True)
    return NO_SPLIT


def _split(threads, rows, min_rows):
    """Chunks for ``rows`` rows: one per thread, at most 64, each of >= ``min_rows``."""
    return max(1, min(threads, MAX_CHUNKS, rows // min_rows))


def prediction_blocks(n_rows):
    """The blocks a prediction of ``n_rows`` rows is computed in: (rows per block, blocks).

    An even number of blocks, two per 2048 rows begun (so that two threads share even
    a hundred rows, each packing W once per block), each a multiple of 32 from 64 to
    ``PREDICT_BLOCK_ROWS`` rows, at fixed offsets: a function of
    the row count alone, never of the thread count or of what else runs.  float32 gemm
    sums in an order that depends on the rows it is given (OpenBLAS 0.3.30: rows
    1500 + 1500 differ from 3000 in the last bits, and 1 thread from 2), so fixed blocks,
    each on one BLAS thread, give every row the same result however busy the machine is.
    The engine's ``predict_block_rows`` is the compiled twin.

    Parameters
    ----------
    n_rows : int

    Returns
    -------
    tuple of int
    """
    blocks = 2 * -(-n_rows // 2048)
    block = min(PREDICT_BLOCK_ROWS, max(64, (-(-n_rows // blocks) + 31) // 32 * 32))
    return block, -(-n_rows // block)


def chunks_for_prediction(threads, n_rows):
    """Return how many row chunks a prediction of ``n_rows`` rows is split into.

    Parameters
    ----------
    threads : int
        Threads allowed.
    n_rows : int

    Returns
    -------
    int
        One per thread, at most one per block (``prediction_blocks``: a chunk is whole
        blocks), 1 below ``MIN_PREDICT_ROWS`` rows.
    """
    if n_rows < MIN_PREDICT_ROWS:
        return 1
    return _split(threads, prediction_blocks(n_rows)[1], 1)


def training_plan(batch_size, n_coef=None):
    """Choose the split for training; hold BLAS at one thread meanwhile (``_plan``).

    Parameters
    ----------
    batch_size : int
    n_coef : int, optional
        The network's coefficient count (see ``split_for_batch``).

    Returns
    -------
    context manager
        Yields the ``TrainingSplit`` whose ``n_chunks`` and ``by_columns`` go to
        ``Engine.train_epoch`` (see ``_plan``).
    """
    return _plan(lambda threads: split_for_batch(threads, batch_size, n_coef))


def group_plan(n_members):
    """Choose the thread count for a group epoch of ``n_members`` networks
    (``cymlp._engine.train_group_epoch``); hold BLAS at one thread meanwhile.

    The group's stacks run on these threads, each with single-threaded BLAS: as many
    threads as the user's BLAS setting allows, up to one per member.  The count, and
    so the cut into stacks (``cymlp._group_training.subgroup_count``), depends on that
    setting and the member count only (see ``_plan``).

    Parameters
    ----------
    n_members : int

    Returns
    -------
    context manager
        Yields the number of threads.
    """
    return _chunk_count(_plan(
        lambda threads: TrainingSplit(max(1, min(threads, n_members)), False)))


def prediction_plan(n_rows):
    """Choose the chunk count for a prediction; hold BLAS at one thread meanwhile.

    Predictions run on cymlp's pool with single-threaded BLAS, like training: a little
    faster than threaded BLAS on large ones (10,000 Fashion-MNIST rows: 24.3 vs 26 ms),
    OpenBLAS's workers are left asleep instead of spinning for ~0.1 s after the call on
    the cores the next small prediction's helper wants, and a row's result does not
    depend on what else runs (see ``prediction_blocks``).

    Parameters
    ----------
    n_rows : int

    Returns
    -------
    context manager
        Yields the number of chunks to pass to ``Engine.predict``.
    """
    return _chunk_count(_plan(
        lambda threads: TrainingSplit(chunks_for_prediction(threads, n_rows), False)))


@contextlib.contextmanager
def _chunk_count(plan):
    """The plan's chunk count alone."""
    with plan as split:
        yield split.n_chunks


@contextlib.contextmanager
def _plan(split_for_threads):
    """Split work as ``split_for_threads(T)`` says (a ``TrainingSplit``), T = the user's
    BLAS threads, and hold BLAS at one thread while any plan of any thread runs.

    The first plan to start sets the limit, the last to end lifts it (under ``_lock``,
    so cymlp never changes OpenBLAS's process-wide setting from two threads at once);
    plans that start meanwhile, in any thread, split by the user's count.  So every
    product cymlp computes under a plan runs on one BLAS thread, in chunks that depend
    on the user's setting only: the same arithmetic whether other predictions or fits
    run beside it or not.  With one BLAS thread set by the user nothing is held.  If the
    limit does not take (another library controls OpenBLAS), the work is not split.
    """
    global _holders, _original, _user_threads
    me = threading.get_ident()
    holding = False
    with _lock:
        if _holders:
            split = split_for_threads(_user_threads)
            _holders[me] = _holders.get(me, 0) + 1
            holding = True
        else:
            _restore_after_fork()
            threads = _read_blas_threads()
            split = split_for_threads(threads)
            if threads > 1:
                original = _thread_counts()
                try:
                    _set_thread_counts([(lib, 1) for lib, _ in original])
                    if _read_blas_threads() == 1:
                        _holders, _original, _user_threads = {me: 1}, original, threads
                        holding = True
                    else:
                        _set_thread_counts(original)
                        split = NO_SPLIT
                except BaseException:
                    # Ctrl-C (or anything) between setting the limit and holding it
                    _set_thread_counts(original)
                    _holders, _original = {}, []
                    raise
    try:
        yield split
    finally:
        if holding:
            with _lock:
                _holders[me] -= 1
                if _holders[me] == 0:
                    del _holders[me]
                if not _holders:
                    original, _original = _original, []
                    try:
                        _set_thread_counts(original)
                    except BaseException:
                        _set_thread_counts(original)   # Ctrl-C in the lift: again
                        raise
