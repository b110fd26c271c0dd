# Part of _engine.pyx (textually included there: it shares its imports, constants and
# structs).  The column-split epoch: every layer split over the threads.

# -- the column-split epoch ---------------------------------------------------
#
# For batches too small to split by rows (each chunk's gemms would repack all of W for
# a handful of rows), T > 1 threads split every layer instead.  Forward: chunk c computes
# the output columns c0..c1 of each step, O[:, c0:c1] = f(O_prev W[:, c0:c1] + b[c0:c1]),
# reading only its share of W.  Backward: chunk c owns the rows r0..r1 of each W (its
# input features): it computes Delta_prev[:, r0:r1] = (Delta W[r0:r1, :]^T) * f', then
# dW[r0:r1, :] = O_prev[:, r0:r1]^T Delta and, once the layer's gradient is complete,
# the optimizer step on those rows while they are in its cache; the intercept columns
# are cut the same way.  One synchronisation per step and direction.  Rows of W that a
# chunk updates are read by no other chunk in that batch, and a shared layer is
# updated only after its last use, as in ``forward_backward``.

cdef struct ColumnEpoch:
    const Step* steps
    Py_ssize_t n_steps, n_coef, n_chunks, rows
    Py_ssize_t k              # the step the current job works on
    void* params
    void* grads
    void* xb
    const SparseInput* sx     # the CSR input (the batch's rows picked), or NULL: xb
    void* acts
    void* d_cur               # backward: Delta of step k, and where Delta_{k-1} goes
    void* d_prev
    double alpha
    double* penalties         # per chunk: 0.5 alpha ||W||^2 over its coefficient slice
    const Optim* opt
    Dropout* drop             # or NULL


cdef inline Py_ssize_t cut(Py_ssize_t n, Py_ssize_t c, Py_ssize_t T) noexcept nogil:
    """Start of chunk c's share of n items cut into T parts."""
    return n * c // T


cdef inline const floating* step_input(const floating* params,
                                       const ColumnEpoch* ep) noexcept nogil:
    """O_{k-1} of step ep.k: the gathered rows for step 0, else the previous output
    (``params`` only picks the element type)."""
    if ep.k == 0:
        return <const floating*>ep.xb
    return step_output(ep.steps, ep.k - 1, <floating*>ep.acts, ep.rows, ep.drop)


cdef void forward_columns(floating* params, ColumnEpoch* ep, Py_ssize_t c) noexcept nogil:
    """Chunk c of the forward job of step ep.k (and, in step 0, its share of the L2
    penalty, taken before any update of this batch)."""
    cdef const Step* s = &ep.steps[ep.k]
    cdef Py_ssize_t T = ep.n_chunks, rows = ep.rows, r
    cdef Py_ssize_t c0 = cut(s.n_out, c, T), c1 = cut(s.n_out, c + 1, T)
    cdef Py_ssize_t p0, p1
    cdef const floating* src = step_input(params, ep)
    cdef floating* dst = <floating*>ep.acts + rows * s.act_off
    if ep.k == 0:
        p0 = cut(ep.n_coef, c, T)
        p1 = cut(ep.n_coef, c + 1, T)
        ep.penalties[c] = (0.5 * ep.alpha * dot(<int>(p1 - p0), params + p0, params + p0)
                           if ep.alpha > 0 and p1 > p0 else 0.0)
    if c1 <= c0:
        return
    if ep.k == 0:
        input_product(ep.sx, src, s, params, rows, c0, c1, dst)
    else:
        gemm(False, False, <int>rows, <int>(c1 - c0), <int>s.n_in, 1, src, <int>s.n_in,
             params + s.w_off + c0, <int>s.n_out, 0, dst + c0, <int>s.n_out)
    cdef floating* pre = pre_activation(s, <floating*>ep.acts, rows)
    if ep.k < ep.n_steps - 1:
        for r in range(rows):
            bias_activation(dst + r * s.n_out + c0, params + s.b_off + c0, 1, c1 - c0,
                            s.act, pre + r * s.n_out + c0 if pre != NULL else NULL)
        if dropped(ep.drop, ep.k):
            drop_rows(ep.drop, ep.k, dst, <floating*>ep.acts + rows * s.drop_off, rows, c0,
                      c1, s.n_out, 0)


cdef void backward_columns(floating* params, ColumnEpoch* ep, Py_ssize_t c) noexcept nogil:
    """Chunk c of the backward job of step ep.k: its columns of Delta_{k-1}, its rows of
    dW and its intercept columns of db, and their optimizer step once complete."""
    cdef const Step* s = &ep.steps[ep.k]
    cdef Py_ssize_t T = ep.n_chunks, rows = ep.rows, r
    cdef Py_ssize_t r0 = cut(s.n_in, c, T), r1 = cut(s.n_in, c + 1, T)
    cdef Py_ssize_t b0 = cut(s.n_out, c, T), b1 = cut(s.n_out, c + 1, T)
    cdef const floating* src = step_input(params, ep)
    cdef const floating* d_cur = <floating*>ep.d_cur
    cdef floating* d_prev = <floating*>ep.d_prev
    cdef const floating* pre
    cdef const floating* out
    cdef floating* grads = <floating*>ep.grads
    if r1 > r0:
        if ep.k > 0:
            # Delta_{k-1}[:, r0:r1] from the rows r0..r1 of W before this batch's update
            gemm(False, True, <int>rows, <int>(r1 - r0), <int>s.n_out, 1, d_cur,
                 <int>s.n_out, params + s.w_off + r0 * s.n_out, <int>s.n_out, 0,
                 d_prev + r0, <int>s.n_in)
            if dropped(ep.drop, ep.k - 1):
                drop_rows(ep.drop, ep.k - 1, d_prev, d_prev, rows, r0, r1, s.n_in, 0)
            pre = pre_activation(&ep.steps[ep.k - 1], <floating*>ep.acts, rows)
            out = <const floating*>ep.acts + rows * ep.steps[ep.k - 1].act_off
            for r in range(rows):
                activation_derivative(d_prev + r * s.n_in + r0, out + r * s.n_in + r0,
                                      pre + r * s.n_in + r0 if pre != NULL else NULL,
                                      r1 - r0, ep.steps[ep.k - 1].act)
        if ep.k == 0:
            input_gradient(ep.sx, src, s, d_cur, rows, r0, r1, s.grad_starts, grads)
        else:
            gemm(True, False, <int>(r1 - r0), <int>s.n_out, <int>rows, 1, src + r0,
                 <int>s.n_in, d_cur, <int>s.n_out, 0 if s.grad_starts else 1,
                 grads + s.w_off + r0 * s.n_out, <int>s.n_out)
        if s.grad_complete:
            update_slice(params, grads, NULL, ep.opt, s.w_off + r0 * s.n_out,
                         s.w_off + r1 * s.n_out, True)
    if b1 > b0:
        if s.grad_starts:
            memset(grads + s.b_off + b0, 0, (b1 - b0) * sizeof(floating))
        add_column_sums(grads + s.b_off + b0, d_cur + b0, rows, b1 - b0, s.n_out)
        if s.grad_complete:
            update_slice(params, grads, NULL, ep.opt, s.b_off + b0, s.b_off + b1, False)


cdef void forward_columns_f(void* ep, Py_ssize_t c) noexcept nogil:
    forward_columns(<float*>(<ColumnEpoch*>ep).params, <ColumnEpoch*>ep, c)


cdef void forward_columns_d(void* ep, Py_ssize_t c) noexcept nogil:
    forward_columns(<double*>(<ColumnEpoch*>ep).params, <ColumnEpoch*>ep, c)


cdef void backward_columns_f(void* ep, Py_ssize_t c) noexcept nogil:
    backward_columns(<float*>(<ColumnEpoch*>ep).params, <ColumnEpoch*>ep, c)


cdef void backward_columns_d(void* ep, Py_ssize_t c) noexcept nogil:
    backward_columns(<double*>(<ColumnEpoch*>ep).params, <ColumnEpoch*>ep, c)


cdef int run_epoch_columns(ColumnEpoch* ep, floating* deltas, Py_ssize_t max_width,
                           const floating* X, const SparseInput* sx, const floating* Y,
                           const floating* W,
                           floating* yb, floating* wb, const Py_ssize_t* order,
                           Py_ssize_t n, Py_ssize_t batch_size, bint use_helpers,
                           Optim* opt, EpochStats* stats) except -1 nogil:
    """``run_epoch`` with every step split by columns over ``ep.n_chunks`` chunks (see
    above).  Same contract: a batch whose loss or penalty is not finite is not applied
    and ends the epoch (DIVERGED); Ctrl-C is checked between batches."""
    cdef const Step* last = &ep.steps[ep.n_steps - 1]
    cdef Py_ssize_t start = 0, rows, c, k, since_check = 0
    cdef Py_ssize_t n_in = ep.steps[0].n_in, n_out = last.n_out
    cdef Py_ssize_t check_every = SIGNAL_CHECK_WORK // (ep.n_coef * batch_size + 1) + 1
    cdef double loss, sw, penalty
    cdef floating* d_cur
    cdef SparseInput batch
    cdef chunk_fn forward_fn = forward_columns_f if floating is float else forward_columns_d
    cdef chunk_fn backward_fn = (backward_columns_f if floating is float else
                                 backward_columns_d)
    while start < n:
        rows = n - start if n - start < batch_size else batch_size
        ep.rows = rows
        sw = gather_batch(<floating*>ep.xb, yb, wb, X, Y, W, order + start, rows, n_in,
                          n_out)
        if sw == 0:
            skip_batch(opt, stats, rows, &since_check, check_every)
            start += rows
            continue
        if sx != NULL:
            batch = sparse_block(sx, order + start, 0)
            ep.sx = &batch
        set_batch_key(ep.drop, opt.batch)
        for k in range(ep.n_steps):
            ep.k = k
            pool_run(forward_fn, ep, ep.n_chunks, use_helpers)
        penalty = 0
        for c in range(ep.n_chunks):
            penalty += ep.penalties[c]
        d_cur = deltas
        loss = output_error(<floating*>ep.acts + rows * last.act_off,
                            <floating*>ep.params + last.b_off, yb,
                            wb if W != NULL else NULL, <floating>(1.0 / sw), d_cur, rows,
                            n_out, &last.output)
        loss = (loss + penalty) / sw
        if not isfinite(loss):
            # the data loss or the penalty was not finite: nothing was updated
            stats.status = EPOCH_DIVERGED
            return 0
        begin_step(opt, ep.alpha, sw)
        for k in range(ep.n_steps - 1, -1, -1):
            ep.k = k
            ep.d_cur = d_cur
            ep.d_prev = deltas + rows * max_width if d_cur == deltas else deltas
            pool_run(backward_fn, ep, ep.n_chunks, use_helpers)
            d_cur = <floating*>ep.d_prev
        end_batch(opt, stats, loss, penalty, sw, rows, &since_check, check_every)
        start += rows
    stats.status = EPOCH_DONE
    return 0
