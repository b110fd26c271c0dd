# Part of _engine.pyx (textually included there: it shares its imports, constants and
# structs).  Prediction: the whole-batch gemm path, its row chunks on the pool, and the
# row-product path for fewer than SMALL_ROWS rows.

# -- forward ------------------------------------------------------------------

cdef inline Py_ssize_t predict_block_rows(Py_ssize_t n) noexcept nogil:
    """Rows per block of an n-row prediction: an even number of blocks, two per 2048
    rows begun (so that two threads share even a hundred rows, each packing W once per
    block), each a multiple of 32 from 64 to PREDICT_BLOCK_ROWS rows.  A function of n
    alone (cymlp._threads.prediction_blocks is its twin)."""
    cdef Py_ssize_t blocks = 2 * ((n + 2047) // 2048)
    cdef Py_ssize_t block = ((n + blocks - 1) // blocks + 31) // 32 * 32
    return min(<Py_ssize_t>PREDICT_BLOCK_ROWS, max(<Py_ssize_t>64, block))


cdef inline void step_activation(const Step* s, bint is_output, floating* dst,
                                 const floating* params, Py_ssize_t rows) noexcept nogil:
    """dst := f(dst + b) for step s (the output step: its own activation, with one
    softmax per column group if it has groups)."""
    if is_output:
        output_activation(dst, params + s.b_off, rows, s.n_out, &s.output)
    else:
        bias_activation(dst, params + s.b_off, rows, s.n_out, s.act, NULL)


cdef void forward_block(const Step* steps, Py_ssize_t n_steps, const floating* params,
                        const floating* X, const SparseInput* sx, Py_ssize_t rows,
                        floating* out, floating* scratch,
                        Py_ssize_t scratch_stride) noexcept nogil:
    """O_k = f_k(O_{k-1} W_k + b_k) for every step; the last output goes to ``out``
    (O_0: dense rows X, or the CSR rows ``sx`` when it is not NULL).

    ``scratch`` holds two ping-pong blocks of ``scratch_stride`` elements for the
    hidden outputs, which prediction does not keep."""
    cdef Py_ssize_t k, r
    cdef const Step* s
    cdef const floating* src = X
    cdef floating* dst
    for k in range(n_steps):
        s = &steps[k]
        dst = out if k == n_steps - 1 else scratch + (k % 2) * scratch_stride
        if k == 0:
            input_product(sx, X, s, params, rows, 0, s.n_out, dst)
        else:
            gemm(False, False, <int>rows, <int>s.n_out, <int>s.n_in, 1, src, <int>s.n_in,
                 params + s.w_off, <int>s.n_out, 0, dst, <int>s.n_out)
        step_activation(s, k == n_steps - 1, dst, params, rows)
        src = dst


cdef int predict_all(const Step* steps, Py_ssize_t n_steps, Py_ssize_t max_width,
                     const floating* params, const floating* X, const SparseInput* sx,
                     Py_ssize_t row0, Py_ssize_t n, Py_ssize_t n_in, floating* out,
                     Py_ssize_t n_out, Py_ssize_t block_rows) noexcept nogil:
    """Forward pass over the n rows from ``row0`` of X (or of the CSR input ``sx``), in
    blocks of ``block_rows`` from row0 (a multiple of it); private scratch, so threads
    may share a model.

    Returns -1 when the scratch memory cannot be allocated, else 0."""
    cdef Py_ssize_t block = n if n < block_rows else block_rows
    cdef Py_ssize_t start, rows
    cdef SparseInput rows_of
    cdef floating* scratch = <floating*>malloc(2 * block * max_width * sizeof(floating))
    if scratch == NULL:
        return -1
    start = 0
    while start < n:
        rows = n - start if n - start < block else block
        if sx != NULL:
            rows_of = sparse_block(sx, NULL, row0 + start)
        forward_block(steps, n_steps, params,
                      X + (row0 + start) * n_in if sx == NULL else NULL,
                      &rows_of if sx != NULL else NULL, rows,
                      out + start * n_out, scratch, block * max_width)
        start += rows
    free(scratch)
    return 0


cdef struct PredictJob:
    const Step* steps
    Py_ssize_t n_steps, max_width, n, n_in, n_out, n_chunks, block_rows
    const void* params
    const void* X        # dense input, or NULL with sx the CSR input
    const SparseInput* sx
    void* out
    bint failed          # a chunk could not allocate its scratch


cdef void predict_chunk(const floating* params, PredictJob* job,
                        Py_ssize_t c) noexcept nogil:
    """Chunk c of T of a prediction: whole blocks of ``job.block_rows`` rows, blocks
    [B c / T, B (c + 1) / T) of the B blocks, so that every block starts at the same
    row whatever T is."""
    cdef Py_ssize_t size = job.block_rows
    cdef Py_ssize_t blocks = (job.n + size - 1) // size
    cdef Py_ssize_t r0 = min(job.n, blocks * c // job.n_chunks * size)
    cdef Py_ssize_t r1 = min(job.n, blocks * (c + 1) // job.n_chunks * size)
    if r1 > r0 and predict_all(job.steps, job.n_steps, job.max_width, params,
                               <const floating*>job.X, job.sx, r0, r1 - r0,
                               job.n_in, <floating*>job.out + r0 * job.n_out,
                               job.n_out, size) != 0:
        job.failed = True


cdef void predict_chunk_f(void* job, Py_ssize_t c) noexcept nogil:
    predict_chunk(<const float*>(<PredictJob*>job).params, <PredictJob*>job, c)


cdef void predict_chunk_d(void* job, Py_ssize_t c) noexcept nogil:
    predict_chunk(<const double*>(<PredictJob*>job).params, <PredictJob*>job, c)


cdef Py_ssize_t k_blocks(const Step* s, Py_ssize_t itemsize) noexcept nogil:
    """Blocks of W's rows for the small-prediction path: ~K_BLOCK_BYTES each, at least
    two from SPLIT_BYTES on, at most MAX_K_BLOCKS and one row each."""
    cdef Py_ssize_t bytes = s.n_in * s.n_out * itemsize
    cdef Py_ssize_t n = (bytes + K_BLOCK_BYTES - 1) // K_BLOCK_BYTES
    if bytes >= SPLIT_BYTES:
        n = max(n, 2)
    return max(1, min(n, MAX_K_BLOCKS, s.n_in))


cdef struct SmallJob:
    const Step* step
    const void* params
    const void* src      # rows x step.n_in
    void* partial        # step.k_blocks x rows x step.n_out
    Py_ssize_t rows


cdef inline Py_ssize_t padded(Py_ssize_t n) noexcept nogil:
    """n rounded up to a multiple of 16 elements (whole cache lines)."""
    return (n + 15) // 16 * 16


cdef void small_block(const floating* params, SmallJob* job, Py_ssize_t c) noexcept nogil:
    """Partial products of block c of W's rows, for every row of the job.

    Each block's partial sums start on their own cache line: two cores adding into
    one line would pass it back and forth on every pass over W."""
    cdef const Step* s = job.step
    cdef Py_ssize_t k0 = s.n_in * c // s.k_blocks
    cdef Py_ssize_t k1 = s.n_in * (c + 1) // s.k_blocks
    cdef const floating* src = <const floating*>job.src
    cdef floating* partial = <floating*>job.partial + c * padded(job.rows * s.n_out)
    cdef Py_ssize_t r
    for r in range(job.rows):
        row_product(src + r * s.n_in + k0, params + s.w_off + k0 * s.n_out, s.n_out,
                    k1 - k0, s.n_out, partial + r * s.n_out)


cdef void small_block_f(void* job, Py_ssize_t c) noexcept nogil:
    small_block(<const float*>(<SmallJob*>job).params, <SmallJob*>job, c)


cdef void small_block_d(void* job, Py_ssize_t c) noexcept nogil:
    small_block(<const double*>(<SmallJob*>job).params, <SmallJob*>job, c)


cdef int predict_small(const Step* steps, Py_ssize_t n_steps, Py_ssize_t max_out,
                       Py_ssize_t max_k_blocks, const floating* params,
                       const floating* X, Py_ssize_t rows, floating* out,
                       bint use_helpers) noexcept nogil:
    """Forward pass over fewer than SMALL_ROWS rows with row_product, W in row blocks.

    With ``use_helpers`` (the caller holds the pool) the blocks of a layer may run on
    helper threads.  ``max_out`` is the widest layer output.  Returns -1 when the scratch
    memory cannot be allocated, else 0."""
    cdef Py_ssize_t width = padded(rows * max_out)
    # 64 spare bytes to start the partial sums on a cache line
    cdef void* memory = malloc((2 + max_k_blocks) * width * sizeof(floating) + 64)
    cdef floating* scratch = <floating*>memory
    cdef floating* partial = <floating*>((<size_t>(scratch + 2 * width) + 63) & ~(<size_t>63))
    cdef const floating* src = X
    cdef floating* dst
    cdef const Step* s
    cdef SmallJob job
    cdef Py_ssize_t k, c, n, stride
    if memory == NULL:
        return -1
    job.params = params
    job.rows = rows
    for k in range(n_steps):
        s = &steps[k]
        dst = out if k == n_steps - 1 else scratch + (k % 2) * width
        n = rows * s.n_out
        stride = padded(n)
        job.step = s
        job.src = src
        job.partial = dst if s.k_blocks == 1 else partial
        pool_run(small_block_f if floating is float else small_block_d, &job, s.k_blocks,
                 use_helpers)
        if s.k_blocks > 1:
            memcpy(dst, partial, n * sizeof(floating))
            for c in range(1, s.k_blocks):
                add_scaled(dst, partial + c * stride, n, 1)
        step_activation(s, k == n_steps - 1, dst, params, rows)
        src = dst
    free(memory)
    return 0
