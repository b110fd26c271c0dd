# Part of _engine.pyx (textually included there: it shares its imports, constants and
# structs).  The mini-batch epoch on one thread (BLAS threads it as the user set).

# -- the epoch loop (its batch helpers are _batches.pxi) ----------------------

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
            stats.status = EPOCH_DIVERGED
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
            stats.status = EPOCH_DIVERGED
            return 0
        end_batch(opt, stats, loss, penalty, sw, rows, &since_check, check_every)
        start += rows
    stats.status = EPOCH_DONE
    return 0
