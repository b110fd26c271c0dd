# Part of _engine.pyx (textually included there: it shares its imports, constants and
# structs).  The rows epoch (data parallel): each batch split into row chunks.

# -- the rows epoch (data parallel) ------------------------------------------------
#
# With T > 1 chunks, each batch is split by rows into T parts.  Phase A (one job of T
# chunks): chunk c gathers its rows and runs forward + backward into its own gradient
# buffer, with single-threaded BLAS; it also sums the L2 penalty over its slice of the
# parameters.  Phase B: chunk c adds the T gradients over its slice of the flat
# parameter vector and applies the optimizer step to that slice.  Two synchronisation
# points per batch, no locks, and the same numbers whichever thread runs which chunk.
# OpenBLAS splits one gemm of this size over two cores at only ~1.3x; two independent
# half-batch gemm sequences on two cores ran at ~1.9x (numpy's OpenBLAS, no sync).

cdef struct Chunk:
    void* grads          # this chunk's gradient buffer (n_params); chunk 0: engine grads
    void* xb             # gathered rows (rows_max x n_in), targets, weights
    void* yb
    void* wb
    void* acts           # forward outputs (rows_max x width_sum)
    void* deltas         # two delta blocks (rows_max x max_width each)
    Py_ssize_t row0      # this batch: first row (offset in the batch) and row count
    Py_ssize_t rows
    Py_ssize_t p0, p1    # the slice of the flat parameters this chunk updates
    double loss          # phase A: sum_i w_i L_i over the chunk's rows
    double penalty       # phase A: 0.5 alpha ||W||^2 over the chunk's parameter slice


cdef struct RowsEpoch:
    const Step* steps
    Py_ssize_t n_steps, n_params, n_coef, max_width, n_in, n_out, n_chunks
    void* params
    const void* X        # dense input, or NULL with sx the CSR input
    const SparseInput* sx
    const void* Y
    const void* W        # sample weights or NULL
    const Py_ssize_t* batch_order   # order + start of the current batch
    double scale         # 1 / batch weight
    double alpha
    Optim* opt
    Dropout* drop        # or NULL
    Chunk* chunks


cdef void gradient_chunk(floating* params, RowsEpoch* ep, Py_ssize_t c) noexcept nogil:
    """Phase A for chunk c: gather its rows, forward, backward into its gradient."""
    cdef Chunk* ch = &ep.chunks[c]
    cdef const Py_ssize_t* idx = ep.batch_order + ch.row0
    cdef Py_ssize_t coef_end = ch.p1 if ch.p1 < ep.n_coef else ep.n_coef
    ch.penalty = 0
    if ep.alpha > 0 and coef_end > ch.p0:
        ch.penalty = 0.5 * ep.alpha * dot(<int>(coef_end - ch.p0), params + ch.p0,
                                          params + ch.p0)
    cdef SparseInput rows
    ch.loss = 0
    if ch.rows == 0:
        return
    if ep.sx == NULL:
        gather_rows(<floating*>ch.xb, <const floating*>ep.X, idx, ch.rows, ep.n_in)
    else:
        rows = sparse_block(ep.sx, idx, 0)
    gather_rows(<floating*>ch.yb, <const floating*>ep.Y, idx, ch.rows, ep.n_out)
    if ep.W != NULL:
        gather_rows(<floating*>ch.wb, <const floating*>ep.W, idx, ch.rows, 1)
    ch.loss = forward_backward(ep.steps, ep.n_steps, params, <floating*>ch.grads,
                               <floating*>ch.xb, &rows if ep.sx != NULL else NULL,
                               <floating*>ch.yb,
                               <floating*>ch.wb if ep.W != NULL else NULL,
                               <floating>ep.scale, ch.rows, <floating*>ch.acts,
                               <floating*>ch.deltas, ep.max_width, True, False, NULL,
                               ep.drop, ch.row0)


cdef void update_chunk(floating* params, RowsEpoch* ep, Py_ssize_t c) noexcept nogil:
    """Phase B for chunk c: one optimizer step on its parameter slice with the sum of
    the chunks' gradients (L2 on coefficients only).

    The last chunk with rows goes straight into the optimizer kernel as its second
    gradient; any before it are first summed into chunk 0's buffer, in chunk order.  With
    two chunks that is one pass over the slice instead of two (Adam's share of a split
    784-200-100-10 epoch went from 10.9% + 2.6% for the separate sum to 8.8%, perf)."""
    cdef Py_ssize_t p0 = ep.chunks[c].p0, p1 = ep.chunks[c].p1, k, last = -1
    cdef Py_ssize_t mid = min(max(ep.n_coef, p0), p1)
    cdef floating* g = NULL
    cdef floating* g2 = NULL
    if p1 <= p0:
        return
    for k in range(ep.n_chunks):
        if ep.chunks[k].rows > 0:
            last = k
    for k in range(ep.n_chunks):
        if ep.chunks[k].rows == 0:
            continue
        if g == NULL:
            g = <floating*>ep.chunks[k].grads
        elif k == last:
            g2 = <floating*>ep.chunks[k].grads
        else:
            if g != <floating*>ep.chunks[0].grads:
                memcpy(<floating*>ep.chunks[0].grads + p0, g + p0,
                       (p1 - p0) * sizeof(floating))
                g = <floating*>ep.chunks[0].grads
            add_scaled(g + p0, <floating*>ep.chunks[k].grads + p0, p1 - p0, 1)
    update_slice(params, g, g2, ep.opt, p0, mid, True)
    update_slice(params, g, g2, ep.opt, mid, p1, False)


cdef void gradient_chunk_f(void* ep, Py_ssize_t c) noexcept nogil:
    gradient_chunk(<float*>(<RowsEpoch*>ep).params, <RowsEpoch*>ep, c)


cdef void gradient_chunk_d(void* ep, Py_ssize_t c) noexcept nogil:
    gradient_chunk(<double*>(<RowsEpoch*>ep).params, <RowsEpoch*>ep, c)


cdef void update_chunk_f(void* ep, Py_ssize_t c) noexcept nogil:
    update_chunk(<float*>(<RowsEpoch*>ep).params, <RowsEpoch*>ep, c)


cdef void update_chunk_d(void* ep, Py_ssize_t c) noexcept nogil:
    update_chunk(<double*>(<RowsEpoch*>ep).params, <RowsEpoch*>ep, c)


cdef int run_epoch_rows(RowsEpoch* ep, bint is_float, const Py_ssize_t* order,
                            Py_ssize_t n, Py_ssize_t batch_size, bint use_helpers,
                            EpochStats* stats) except -1 nogil:
    """``run_epoch`` with each batch split into ``ep.n_chunks`` row chunks (see above).

    Same contract: a batch whose loss or penalty is not finite is not applied and ends
    the epoch (DIVERGED); Ctrl-C is checked between batches."""
    cdef Py_ssize_t start = 0, rows, c, since_check = 0
    cdef Py_ssize_t T = ep.n_chunks
    cdef Py_ssize_t check_every = SIGNAL_CHECK_WORK // (ep.n_params * batch_size + 1) + 1
    cdef double loss, sw, penalty
    cdef Optim* opt = ep.opt
    cdef chunk_fn gradient_fn = gradient_chunk_f if is_float else gradient_chunk_d
    cdef chunk_fn update_fn = update_chunk_f if is_float else update_chunk_d
    while start < n:
        rows = n - start if n - start < batch_size else batch_size
        ep.batch_order = order + start
        for c in range(T):
            ep.chunks[c].row0 = rows * c // T
            ep.chunks[c].rows = rows * (c + 1) // T - ep.chunks[c].row0
        if ep.W == NULL:
            sw = <double>rows
        elif is_float:
            sw = weight_sum(<const float*>ep.W, order + start, rows)
        else:
            sw = weight_sum(<const double*>ep.W, order + start, rows)
        if sw == 0:
            skip_batch(opt, stats, rows, &since_check, check_every)
            start += rows
            continue
        ep.scale = 1.0 / sw
        set_batch_key(ep.drop, opt.batch)
        pool_run(gradient_fn, ep, T, use_helpers)
        loss = 0
        penalty = 0
        for c in range(T):
            loss += ep.chunks[c].loss
            penalty += ep.chunks[c].penalty
        loss = (loss + penalty) / sw
        if not isfinite(loss):
            stats.status = EPOCH_DIVERGED
            return 0
        begin_step(opt, ep.alpha, sw)
        pool_run(update_fn, ep, T, use_helpers)
        end_batch(opt, stats, loss, penalty, sw, rows, &since_check, check_every)
        start += rows
    stats.status = EPOCH_DONE
    return 0
