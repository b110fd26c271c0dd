# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A pool of helper threads that run the chunks of one job alongside the caller.

A *job* is a function and a context pointer split into ``n_chunks`` chunks.  The
caller posts it, runs chunks itself, and returns when every chunk has run.  Chunks
are claimed one at a time through a single atomic word, ``claim``::

    bits 32-62: job generation    bits 16-31: n_chunks    bits 0-15: next chunk

so a helper that wakes up late can only claim chunks of the job that is current, and
a job's function and context are read only after a chunk of it is claimed (the caller
does not change them before every claimed chunk has run).  Which thread runs a chunk
is unpredictable; what a chunk computes is not: each chunk writes its own outputs, so
results depend on the number of chunks, never on the threads.

Helpers spin between jobs for about a millisecond (the next batch of an epoch comes
within that), then sleep on a lock until a caller wakes them.  A caller never waits
for a sleeping helper: it claims whatever chunks nobody took.  So the pool degrades to
serial work, never to a hang, when helpers are slow to wake, absent (after fork) or
busy; and when two callers want the pool at once, the one that does not get it runs
its chunks alone (``pool_acquire``).

Helpers are raw threads from ``PyThread_start_new_thread`` (pthreads or Win32): they
never touch Python objects and need no GIL.  They live until the process exits.

After ``fork`` the child has none of them, and the pool's words are whatever they were
at that instant (a job half claimed, ``busy`` held by a thread that the child does not
have): ``os.register_at_fork`` resets the pool in the child, which then starts its
own helpers when it needs them.
"""
import os

from cpython.pythread cimport (NOWAIT_LOCK, WAIT_LOCK, PyThread_acquire_lock,
                               PyThread_allocate_lock, PyThread_release_lock,
                               PyThread_type_lock)

cdef extern from "pythread.h":
    unsigned long start_thread "PyThread_start_new_thread"(void (*)(void*) noexcept nogil,
                                                          void*)
    unsigned long PYTHREAD_INVALID_THREAD_ID

cdef extern from "cymlp/sync.h" nogil:
    ctypedef long long cymlp_atomic
    cymlp_atomic atomic_load "cymlp_atomic_load"(cymlp_atomic* p)
    void atomic_store "cymlp_atomic_store"(cymlp_atomic* p, cymlp_atomic v)
    cymlp_atomic atomic_exchange "cymlp_atomic_exchange"(cymlp_atomic* p, cymlp_atomic v)
    cymlp_atomic atomic_fetch_add "cymlp_atomic_fetch_add"(cymlp_atomic* p, cymlp_atomic v)
    bint atomic_cas "cymlp_atomic_cas"(cymlp_atomic* p, cymlp_atomic expected,
                                       cymlp_atomic desired)
    void cpu_pause "cymlp_cpu_pause"()
    void thread_yield "cymlp_thread_yield"()

cdef enum:
    MAX_HELPERS = 63
    MAX_CHUNKS = 0xffff
    # Idle rounds (one pause instruction each, 10-140 cycles) before a helper sleeps:
    # roughly 0.2-2 ms, longer than the gap between two batches of an epoch.
    SPIN_ROUNDS = 40000
    # Rounds a waiting caller spins before it also yields the core (another process,
    # or a descheduled helper, may need it).
    YIELD_AFTER = 4000


cdef struct Helper:
    cymlp_atomic sleeping     # 1 while blocked (or about to block) on ``wake``
    PyThread_type_lock wake   # held while the helper sleeps; released to wake it
    char pad[48]              # one cache line per helper


cdef struct Pool:
    cymlp_atomic claim        # generation | n_chunks | next chunk, see the docstring
    char pad1[56]
    cymlp_atomic done         # chunks of the current job that have finished
    char pad2[56]
    cymlp_atomic busy         # 1 while a caller owns the helpers
    chunk_fn fn
    void* ctx
    Py_ssize_t n_helpers


cdef Pool pool
cdef Helper helpers[MAX_HELPERS]


cdef void reset_pool() noexcept nogil:
    """An idle pool with no helpers (the helper locks of a forked parent are dropped)."""
    pool.claim = 0
    pool.done = 0
    pool.busy = 0
    pool.fn = NULL
    pool.ctx = NULL
    pool.n_helpers = 0


reset_pool()


def _reset_after_fork():
    """In a forked child: forget the parent's helpers and any job in flight."""
    reset_pool()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


cdef inline Py_ssize_t word_next(cymlp_atomic w) noexcept nogil:
    return <Py_ssize_t>(w & 0xffff)


cdef inline Py_ssize_t word_chunks(cymlp_atomic w) noexcept nogil:
    return <Py_ssize_t>((w >> 16) & 0xffff)


cdef Py_ssize_t work() noexcept nogil:
    """Claim and run chunks of the current job until none is left; return how many."""
    cdef cymlp_atomic w
    cdef Py_ssize_t chunk, ran = 0
    while True:
        w = atomic_load(&pool.claim)
        chunk = word_next(w)
        if chunk >= word_chunks(w):
            return ran
        if atomic_cas(&pool.claim, w, w + 1):
            pool.fn(pool.ctx, chunk)
            atomic_fetch_add(&pool.done, 1)
            ran += 1


cdef void sleep_until_woken(Helper* me) noexcept nogil:
    """Block on ``me.wake`` unless a job is waiting; pairs with ``wake_helpers``."""
    cdef cymlp_atomic w
    atomic_store(&me.sleeping, 1)
    w = atomic_load(&pool.claim)
    if word_next(w) < word_chunks(w):
        # work arrived meanwhile: cancel the sleep, unless a caller already took the
        # flag, in which case its release of ``wake`` must be consumed
        if atomic_exchange(&me.sleeping, 0) == 1:
            return
    PyThread_acquire_lock(me.wake, WAIT_LOCK)


cdef void helper_main(void* arg) noexcept nogil:
    """A helper thread: run chunks while there are any, spin a while, then sleep."""
    cdef Helper* me = <Helper*>arg
    cdef Py_ssize_t idle = 0
    while True:
        if work() > 0:
            idle = 0
        elif idle < SPIN_ROUNDS:
            idle += 1
            cpu_pause()
        else:
            sleep_until_woken(me)
            idle = 0


cdef void wake_helpers(Py_ssize_t wanted) noexcept nogil:
    """Wake up to ``wanted`` sleeping helpers (each sleeper is woken by one caller)."""
    cdef Py_ssize_t i
    for i in range(pool.n_helpers):
        if wanted <= 0:
            return
        if atomic_load(&helpers[i].sleeping) == 1:
            if atomic_exchange(&helpers[i].sleeping, 0) == 1:
                PyThread_release_lock(helpers[i].wake)
        wanted -= 1


cdef bint pool_acquire() noexcept nogil:
    """Try to become the pool's only caller; False when another caller has it."""
    return atomic_cas(&pool.busy, 0, 1)


cdef void pool_release() noexcept nogil:
    """Give the pool back (after ``pool_acquire`` returned True)."""
    atomic_store(&pool.busy, 0)


cdef void pool_run(chunk_fn fn, void* ctx, Py_ssize_t n_chunks,
                   bint use_helpers) noexcept nogil:
    """Run ``fn(ctx, c)`` for c in [0, n_chunks) and return when all have finished.

    With ``use_helpers`` (the caller holds the pool), helpers may run some chunks;
    otherwise, or with no helpers or a single chunk, the caller runs them in order."""
    cdef Py_ssize_t c, spins = 0
    cdef cymlp_atomic generation
    if not use_helpers or pool.n_helpers == 0 or n_chunks <= 1 or n_chunks > MAX_CHUNKS:
        for c in range(n_chunks):
            fn(ctx, c)
        return
    pool.fn = fn
    pool.ctx = ctx
    atomic_store(&pool.done, 0)
    generation = ((atomic_load(&pool.claim) >> 32) + 1) & 0x7fffffff
    atomic_store(&pool.claim, (generation << 32) | (<cymlp_atomic>n_chunks << 16))
    wake_helpers(n_chunks - 1)
    work()
    while atomic_load(&pool.done) < n_chunks:
        spins += 1
        if spins < YIELD_AFTER:
            cpu_pause()
        else:
            thread_yield()


cdef Py_ssize_t pool_helpers() noexcept nogil:
    """Return the number of helper threads started so far."""
    return pool.n_helpers


# The BLAS thread setting, read in C: functions ``int f(void)`` such as OpenBLAS's
# ``openblas_get_num_threads``, installed by cymlp._threads (threadpoolctl finds them).
ctypedef int (*thread_count_fn)() noexcept nogil
cdef enum:
    MAX_THREAD_QUERIES = 8
cdef thread_count_fn thread_queries[MAX_THREAD_QUERIES]
cdef int n_thread_queries = 0


cdef int thread_limit() noexcept nogil:
    """Return the smallest thread count the installed queries report (1 without any)."""
    cdef int i, n, best = 0
    for i in range(n_thread_queries):
        n = thread_queries[i]()
        if n >= 1 and (best == 0 or n < best):
            best = n
    return best if best >= 1 else 1


def set_thread_queries(addresses):
    """Install the C functions that report the BLAS thread setting.

    Parameters
    ----------
    addresses : sequence of int
        Addresses of functions ``int f(void)`` returning a thread count (at most 8;
        an empty sequence means one thread).
    """
    global n_thread_queries
    addresses = list(addresses)
    if len(addresses) > MAX_THREAD_QUERIES:
        raise ValueError("at most %d thread queries" % MAX_THREAD_QUERIES)
    if any(not isinstance(a, int) or a == 0 for a in addresses):
        raise ValueError("thread queries must be non-zero function addresses")
    n_thread_queries = 0
    for i, a in enumerate(addresses):
        thread_queries[i] = <thread_count_fn><size_t>a
    n_thread_queries = len(addresses)


def current_thread_limit():
    """Return what the installed thread queries report (see ``set_thread_queries``).

    Returns
    -------
    int
    """
    return thread_limit()


def reserve(Py_ssize_t n_helpers):
    """Start helper threads until there are ``n_helpers`` (at most 63).

    Parameters
    ----------
    n_helpers : int
        Helpers wanted besides the calling thread.

    Returns
    -------
    int
        The number of helpers running (fewer than asked if the system refuses
        threads; the pool works with any number, including none).
    """
    cdef Helper* h
    while pool.n_helpers < min(n_helpers, MAX_HELPERS):
        h = &helpers[pool.n_helpers]
        h.wake = PyThread_allocate_lock()
        if h.wake == NULL:
            break
        PyThread_acquire_lock(h.wake, NOWAIT_LOCK)   # held: the helper blocks on it
        h.sleeping = 0
        # count the helper before it starts: wake_helpers must see its lock
        pool.n_helpers += 1
        if start_thread(helper_main, h) == PYTHREAD_INVALID_THREAD_ID:
            pool.n_helpers -= 1
            break
    return pool.n_helpers


def n_helpers():
    """Return the number of helper threads started so far.

    Returns
    -------
    int
    """
    return pool_helpers()


cdef struct CountJob:
    long long* counts
    Py_ssize_t spin


cdef void count_chunk(void* ctx, Py_ssize_t chunk) noexcept nogil:
    cdef CountJob* job = <CountJob*>ctx
    cdef Py_ssize_t i
    for i in range(job.spin):
        cpu_pause()
    job.counts[chunk] += 1


def _count_runs(long long[::1] counts, Py_ssize_t repeats, Py_ssize_t spin):
    """Test twin: run a job of ``len(counts)`` chunks ``repeats`` times through the pool;
    chunk c adds 1 to counts[c] after ``spin`` pause instructions.

    Returns
    -------
    bool
        Whether this call held the pool (else it ran every chunk itself).
    """
    cdef CountJob job
    cdef Py_ssize_t r
    cdef bint owned
    job.counts = &counts[0]
    job.spin = spin
    with nogil:
        owned = pool_acquire()
        for r in range(repeats):
            pool_run(count_chunk, &job, counts.shape[0], owned)
        if owned:
            pool_release()
    return owned
