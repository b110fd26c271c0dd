# Part of _engine.pyx (textually included there: it shares its imports, constants and
# structs).  The mini-batch epoch on one thread (BLAS threads it as the user set).

# -- the epoch loop -----------------------------------------------------------

cdef double scheduled_lr(const Optim* opt) noexcept nogil:
    """The learning rate of batch ``opt.batch`` (counted from 0) under the schedule:
    constant; cosine, ``lr (b + 1) / warmup`` for the warm-up batches then
    ``lr (1 + cos(pi progress)) / 2`` down to 0 at batch ``total``; step,
    ``lr gamma^floor(b / step_every)``."""
    cdef double progress
    if opt.schedule == SCHED_COSINE:
        if opt.batch < opt.warmup:
            return opt.lr * <double>(opt.batch + 1) / <double>opt.warmup
        if opt.batch >= opt.total:
            return 0.0
        progress = <double>(opt.batch - opt.warmup) / <double>(opt.total - opt.warmup)
        return 0.5 * opt.lr * (1.0 + cos(M_PI * progress))
    if opt.schedule == SCHED_STEP:
        return opt.lr * pow(opt.gamma, <double>(opt.batch // opt.step_every))
    return opt.lr


cdef void begin_step(Optim* opt, double alpha, double sw) noexcept nogil:
    """Set this batch's L2 factor, step size (scheduled; Adam: bias-corrected for step
    t + 1) and AdamW's decay factor."""
    cdef double lr = scheduled_lr(opt)
    opt.l2 = alpha / sw
    opt.step_decay = lr * opt.weight_decay if opt.kind == OPT_ADAMW else 0.0
    if opt.kind == OPT_SGD:
        opt.step_lr = lr
    else:
        opt.step_lr = (lr * sqrt(1.0 - pow(opt.beta2, <double>(opt.t + 1)))
                       / (1.0 - pow(opt.beta1, <double>(opt.t + 1))))


cdef int end_batch(Optim* opt, EpochStats* stats, double loss, double penalty, double sw,
                   Py_ssize_t rows, Py_ssize_t* since_check,
                   Py_ssize_t check_every) except -1 nogil:
    """Count a finished batch (Adam's step, the epoch sums; ``penalty`` is the batch's
    L2 term alpha/2 ||W||^2, inside ``loss * sw``), then pass it (``skip_batch``)."""
    if opt.kind != OPT_SGD:
        opt.t += 1
    stats.loss_sum += loss * sw
    stats.penalty_sum += penalty
    stats.weight_sum += sw
    return skip_batch(opt, stats, rows, since_check, check_every)


cdef int skip_batch(Optim* opt, EpochStats* stats, Py_ssize_t rows,
                    Py_ssize_t* since_check, Py_ssize_t check_every) except -1 nogil:
    """Pass a batch: the schedule's batch position and the dropout key move on, the
    epoch counts its rows, and Ctrl-C is checked every ``check_every`` batches.  Alone,
    for a batch whose sample weights are all zero: it has no loss and no gradient, so no
    step is taken (Adam's t stays) and later batches are treated as without it."""
    opt.batch += 1
    stats.n_batches += 1
    stats.n_samples += rows
    since_check[0] += 1
    if since_check[0] >= check_every:
        since_check[0] = 0
        with gil:
            PyErr_CheckSignals()
    return 0


cdef double gather_batch(floating* xb, floating* yb, floating* wb, const floating* X,
                         const floating* Y, const floating* W, const Py_ssize_t* idx,
                         Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil:
    """Gather the batch rows ``idx`` of X (unless NULL: a CSR input is read in place),
    Y and (unless NULL) W; return the batch weight (the sum of its sample weights, or
    its row count)."""
    if X != NULL:
        gather_rows(xb, X, idx, rows, n_in)
    gather_rows(yb, Y, idx, rows, n_out)
    if W == NULL:
        return <double>rows
    gather_rows(wb, W, idx, rows, 1)
    return weight_sum(W, idx, rows)


cdef int run_epoch(const Step* steps, Py_ssize_t n_steps, Py_ssize_t n_params,
                   Py_ssize_t n_coef, Py_ssize_t max_width,
                   floating* params, floating* grads,
                   const floating* X, const SparseInput* sx, const floating* Y,
                   const floating* W, const Py_ssize_t* order, Py_ssize_t n,
                   Py_ssize_t n_in, Py_ssize_t n_out,
                   Py_ssize_t batch_size, floating* xb, floating* yb, floating* wb,
                   floating* acts, floating* deltas, Optim* opt, double alpha,
                   Dropout* drop, EpochStats* stats) except -1 nogil:
    """One pass over ``order``: gather, forward, backward, update, batch by batch
    (X dense, or X NULL and the CSR input ``sx``, whose batch rows are read in place).

    Stops early (status DIVERGED, parameters untouched by that batch) when a batch
    loss is not finite.  Checks for Ctrl-C between batches; a KeyboardInterrupt leaves
    the parameters of the last finished batch."""
    cdef Py_ssize_t start = 0, rows, since_check = 0
    cdef Py_ssize_t check_every = SIGNAL_CHECK_WORK // (n_params * batch_size + 1) + 1
    cdef double loss, sw, penalty
    cdef SparseInput batch
    while start < n:
        rows = n - start if n - start < batch_size else batch_size
        sw = gather_batch(xb, yb, wb, X, Y, W, order + start, rows, n_in, n_out)
        if sw == 0:
            skip_batch(opt, stats, rows, &since_check, check_every)
            start += rows
            continue
        # the penalty uses the weights before this batch's update; a non-finite one
        # must stop the epoch here, before forward_backward applies any update
        penalty = 0.5 * alpha * dot(<int>n_coef, params, params) if alpha > 0 else 0.0
        if not isfinite(penalty):
            stats.status = _DIVERGED
            return 0
        begin_step(opt, alpha, sw)
        set_batch_key(drop, opt.batch)
        if sx != NULL:
            batch = sparse_block(sx, order + start, 0)
        loss = forward_backward(steps, n_steps, params, grads, xb,
                                &batch if sx != NULL else NULL, yb,
                                wb if W != NULL else NULL, <floating>(1.0 / sw), rows,
                                acts, deltas, max_width, True, False, opt, drop, 0)
        loss = (loss + penalty) / sw
        if not isfinite(loss):
            # the data loss was not finite: forward_backward returned before any update
            stats.status = _DIVERGED
            return 0
        end_batch(opt, stats, loss, penalty, sw, rows, &since_check, check_every)
        start += rows
    stats.status = _DONE
    return 0
