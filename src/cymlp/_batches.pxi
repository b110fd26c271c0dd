# Part of _engine.pyx (textually included there: it shares its imports, constants and
# structs).  What every epoch does around a batch, whichever way it splits the work
# (the serial epoch, the rows epoch, the columns epoch): the scheduled step size and
# the optimizer's per-batch factors, the end of a batch (loss bookkeeping, divergence,
# Ctrl-C), a skipped batch, and gathering a batch's rows.

cdef double scheduled_lr(const Optim* opt) noexcept nogil:
    """The learning rate of batch ``opt.batch`` (counted from 0) under the schedule:
    constant; cosine, ``lr (b + 1) / warmup`` for the warm-up batches then
    ``lr (1 + cos(pi progress)) / 2`` down to 0 at batch ``total``; step,
    ``lr gamma^floor(b / step_every)``."""
    cdef double progress
    if opt.schedule == SCHEDULE_COSINE:
        if opt.batch < opt.warmup:
            return opt.lr * <double>(opt.batch + 1) / <double>opt.warmup
        if opt.batch >= opt.total:
            return 0.0
        progress = <double>(opt.batch - opt.warmup) / <double>(opt.total - opt.warmup)
        return 0.5 * opt.lr * (1.0 + cos(M_PI * progress))
    if opt.schedule == SCHEDULE_STEP:
        return opt.lr * pow(opt.gamma, <double>(opt.batch // opt.step_every))
    return opt.lr


cdef void begin_step(Optim* opt, double alpha, double sw) noexcept nogil:
    """Set this batch's L2 factor, step size (scheduled; Adam: bias-corrected for step
    t + 1) and AdamW's decay factor."""
    cdef double lr = scheduled_lr(opt)
    opt.l2 = alpha / sw
    opt.step_decay = lr * opt.weight_decay if opt.kind == OPTIMIZER_ADAMW else 0.0
    if opt.kind == OPTIMIZER_SGD:
        opt.step_lr = lr
    else:
        opt.step_lr = (lr * sqrt(1.0 - pow(opt.beta2, <double>(opt.t + 1)))
                       / (1.0 - pow(opt.beta1, <double>(opt.t + 1))))


cdef int end_batch(Optim* opt, EpochStats* stats, double loss, double penalty, double sw,
                   Py_ssize_t rows, Py_ssize_t* since_check,
                   Py_ssize_t check_every) except -1 nogil:
    """Count a finished batch (``record_batch``), then check for Ctrl-C
    (``check_signals``)."""
    record_batch(opt, stats, loss, penalty, sw, rows)
    return check_signals(since_check, check_every)


cdef int skip_batch(Optim* opt, EpochStats* stats, Py_ssize_t rows,
                    Py_ssize_t* since_check, Py_ssize_t check_every) except -1 nogil:
    """Pass a batch (``count_batch``) and check for Ctrl-C (``check_signals``).  Alone,
    for a batch whose sample weights are all zero: it has no loss and no gradient, so no
    step is taken (Adam's t stays) and later batches are treated as without it."""
    count_batch(opt, stats, rows)
    return check_signals(since_check, check_every)


cdef inline void record_batch(Optim* opt, EpochStats* stats, double loss, double penalty,
                              double sw, Py_ssize_t rows) noexcept nogil:
    """Count a finished batch: Adam's step, the epoch sums (``loss`` the batch's mean,
    ``penalty`` its L2 term alpha/2 ||W||^2, inside ``loss * sw``) and ``count_batch``."""
    if opt.kind != OPTIMIZER_SGD:
        opt.t += 1
    stats.loss_sum += loss * sw
    stats.penalty_sum += penalty
    stats.weight_sum += sw
    count_batch(opt, stats, rows)


cdef inline void count_batch(Optim* opt, EpochStats* stats, Py_ssize_t rows) noexcept nogil:
    """Move the schedule's batch position (and the dropout key) on and count the rows."""
    opt.batch += 1
    stats.n_batches += 1
    stats.n_samples += rows


cdef inline int check_signals(Py_ssize_t* since_check,
                              Py_ssize_t check_every) except -1 nogil:
    """Count a batch since the last check; every ``check_every`` batches, check for
    Ctrl-C (raises KeyboardInterrupt)."""
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


cdef int set_optim(Optim* opt, int typenum, Py_ssize_t n_params, int optimizer,
                   double learning_rate, double momentum, bint nesterov, double beta_1,
                   double beta_2, double epsilon, long long t, state1, state2,
                   int schedule, long long batch, long long total, long long warmup,
                   long long step_every, double gamma, double weight_decay) except -1:
    """Check an optimizer's settings and its state buffers (``n_params`` each, of the
    engine's ``typenum``) and fill ``opt`` with them (``Engine.train_epoch`` documents
    each one)."""
    if optimizer not in (OPTIMIZER_SGD, OPTIMIZER_ADAM, OPTIMIZER_ADAMW):
        raise ValueError("unknown optimizer code %d" % optimizer)
    if schedule not in (SCHEDULE_CONSTANT, SCHEDULE_COSINE, SCHEDULE_STEP):
        raise ValueError("unknown schedule code %d" % schedule)
    if batch < 0 or warmup < 0 or (schedule == SCHEDULE_COSINE and total <= warmup):
        raise ValueError("a cosine schedule needs 0 <= warmup < total batches and a "
                         "batch count >= 0; got warmup=%d, total=%d, batch=%d"
                         % (warmup, total, batch))
    if step_every < 1 or not (0 < gamma <= 1):
        raise ValueError("a step schedule needs step_every >= 1 and 0 < gamma <= 1; "
                         "got %d and %r" % (step_every, gamma))
    if not (0 <= weight_decay < INFINITY) or (weight_decay and optimizer != OPTIMIZER_ADAMW):
        raise ValueError("weight_decay must be finite, >= 0, and 0 but for AdamW; got "
                         "%r" % weight_decay)
    check_buffer(state1, "state1", typenum, 1, n_params, 0, True)
    check_buffer(state2, "state2", typenum, 1, n_params, 0, True)
    memset(opt, 0, sizeof(Optim))
    opt.kind = optimizer
    opt.nesterov = nesterov
    opt.lr = learning_rate
    opt.momentum = momentum
    opt.beta1 = beta_1
    opt.beta2 = beta_2
    opt.eps = epsilon
    opt.t = t
    opt.schedule = schedule
    opt.batch = batch
    opt.total = total
    opt.warmup = warmup
    opt.step_every = step_every
    opt.gamma = gamma
    opt.weight_decay = weight_decay
    opt.state1 = data_ptr(state1)
    opt.state2 = data_ptr(state2)
    return 0
