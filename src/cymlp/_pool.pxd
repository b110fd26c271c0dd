# cython: language_level=3
"""A pool of helper threads that run the chunks of one job alongside the caller."""

# One chunk of a job: ``fn(ctx, chunk)`` for chunk in [0, n_chunks).
ctypedef void (*chunk_fn)(void* ctx, Py_ssize_t chunk) noexcept nogil

cdef bint pool_acquire() noexcept nogil
cdef void pool_release() noexcept nogil
cdef void pool_run(chunk_fn fn, void* ctx, Py_ssize_t n_chunks,
                   bint use_helpers) noexcept nogil
cdef Py_ssize_t pool_helpers() noexcept nogil
cdef int thread_limit() noexcept nogil
