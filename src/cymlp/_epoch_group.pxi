# Part of _engine.pyx (textually included there: it shares its imports, constants and
# structs).  The group epoch: several networks of the same first-layer shape trained
# side by side on the same batches, as a model search trains its candidates.
#
# The members' first-layer weights are stacked side by side, W_stack = [W_1 | W_2 | ...]
# (n_in x G h1, row-major; member g's block is columns g h1 .. (g + 1) h1), so that for
# each batch the first layer's forward product and its weight gradient are one gemm each
# over the whole group:
#
#     Z = X_b W_stack          (rows x G h1)
#     dW_stack = X_b^T Delta   (n_in x G h1; Delta holds each member's Delta_1 block)
#
# Everything after the first product runs per member on its own buffers, exactly as the
# serial epoch runs it (``forward_backward``): the later layers, the output error, the
# backward pass, and each member's own optimizer step (its kind, learning rate and
# schedule, L2 factor, Adam's step count).  The stacked first-layer weights and their
# optimizer states (same layout) are filled from the members' own buffers before the
# epoch and written back after it (``GroupEpoch``, in _group_entry.pxi).
#
# With T threads, the members are cut into T subgroups of consecutive members, each with
# its own stack; the caller gathers each batch once and the subgroups run it on the pool,
# so a member's numbers depend on its subgroup (the gemm's width), never on which thread
# ran it.

cdef struct Member:
    Optim opt
    EpochStats stats
    double alpha
    const Step* steps
    Py_ssize_t n_steps, n_coef, max_width
    void* params
    void* grads
    void* acts           # this member's forward outputs (rows x width_sum)
    void* deltas         # its two delta blocks (rows x max_width each)
    Py_ssize_t col       # the first column of its block in its subgroup's stack
    double loss          # this batch: sum_i w_i L_i (NaN or inf: diverged)
    double penalty       # this batch: 0.5 alpha ||W||^2 before the update
    bint active          # still training in this epoch (not diverged)


cdef struct Subgroup:
    Member* members      # consecutive members of the group's array
    Py_ssize_t n_members
    Py_ssize_t width     # n_members * h1: the stack's columns
    void* S              # the stacked first-layer weights (n_in x width)
    void* dS             # their gradient
    void* M1             # the optimizer's states of S (same layout as S)
    void* V1
    void* Z              # the stacked first-layer products (rows x width)
    void* D              # the stacked first-layer deltas (rows x width)


cdef struct GroupBatch:
    Subgroup* subgroups
    Py_ssize_t n_in, n_out, h1
    const void* xb       # the gathered batch (rows x n_in), targets, weights or NULL
    const void* yb
    const void* wb
    double scale         # 1 / batch weight
    Py_ssize_t rows
    bint is_float
    Py_ssize_t n_subgroups
    Py_ssize_t n_threads # chunks of the pool job: thread t runs subgroups t, t + T, ...


cdef double member_rest(Member* m, const floating* Z, floating* D, Py_ssize_t width,
                        Py_ssize_t h1, const floating* yb, const floating* wb,
                        floating scale, Py_ssize_t rows) noexcept nogil:
    """Member m's batch after the stacked first product Z: its first layer's bias and
    activation, then its later steps through ``forward_backward`` (their output O_1 the
    input; no update yet), Delta_1 = (Delta_2 W_2^T) * f'(U_1) with the old W_2, each
    later layer's update, its first layer's intercept gradient; Delta_1 goes into D's
    block.  Returns the loss sum_i w_i L_i (not finite: nothing was updated)."""
    cdef const Step* steps = m.steps
    cdef Py_ssize_t k, r
    cdef floating* params = <floating*>m.params
    cdef floating* grads = <floating*>m.grads
    cdef floating* acts = <floating*>m.acts
    cdef floating* deltas = <floating*>m.deltas
    cdef const Step* first = &steps[0]
    cdef const Step* second = &steps[1]
    cdef floating* out1 = acts + rows * first.act_off
    cdef floating* delta2
    cdef floating* delta1
    cdef double loss
    for r in range(rows):
        memcpy(out1 + r * h1, Z + r * width + m.col, h1 * sizeof(floating))
    bias_activation(out1, params + first.b_off, rows, h1, first.act,
                    pre_activation(first, acts, rows))
    loss = forward_backward(steps + 1, m.n_steps - 1, params, grads, out1, NULL, yb, wb,
                            scale, rows, acts, deltas, m.max_width, True, False, NULL,
                            NULL, 0)
    if not isfinite(loss):
        return loss
    # forward_backward's deltas alternate between its two blocks, one switch a step
    delta2 = deltas + rows * m.max_width if (m.n_steps - 2) % 2 else deltas
    delta1 = deltas if delta2 != deltas else deltas + rows * m.max_width
    gemm(False, True, <int>rows, <int>h1, <int>second.n_out, 1, delta2,
         <int>second.n_out, params + second.w_off, <int>second.n_out, 0, delta1, <int>h1)
    activation_derivative(delta1, out1, pre_activation(first, acts, rows), rows * h1,
                          first.act)
    for k in range(m.n_steps - 1, 0, -1):
        update_layer(&steps[k], params, grads, &m.opt)
    memset(grads + first.b_off, 0, h1 * sizeof(floating))
    add_column_sums(grads + first.b_off, delta1, rows, h1, h1)
    for r in range(rows):
        memcpy(D + r * width + m.col, delta1 + r * h1, h1 * sizeof(floating))
    return loss


cdef double member_penalty(const Member* m, const floating* S, Py_ssize_t width,
                           Py_ssize_t n_in, Py_ssize_t h1) noexcept nogil:
    """0.5 alpha ||W||^2 of member m: its first layer's block of S, then its other
    coefficients (the flat buffer's [n_in h1, n_coef))."""
    cdef double total = 0
    cdef Py_ssize_t i, w1 = n_in * h1
    cdef const floating* params = <const floating*>m.params
    if m.alpha == 0:
        return 0.0
    for i in range(n_in):
        total += dot(<int>h1, S + i * width + m.col, S + i * width + m.col)
    if m.n_coef > w1:
        total += dot(<int>(m.n_coef - w1), params + w1, params + w1)
    return 0.5 * m.alpha * total


cdef void update_block(Member* m, floating* S, const floating* dS, floating* M1,
                       floating* V1, Py_ssize_t width, Py_ssize_t n_in,
                       Py_ssize_t h1) noexcept nogil:
    """Member m's optimizer step on its block of the stack (L2 and AdamW's decay: these
    are coefficients) and on its first layer's intercepts."""
    cdef const Optim* opt = &m.opt
    cdef floating l2 = <floating>opt.l2
    cdef floating decay = <floating>opt.step_decay
    cdef Py_ssize_t i, at
    for i in range(n_in):
        at = i * width + m.col
        if opt.kind == OPTIMIZER_SGD:
            sgd_update(S + at, dS + at, NULL, M1 + at, h1, l2, <floating>opt.step_lr,
                       <floating>opt.momentum, opt.nesterov)
        else:
            adam_update(S + at, dS + at, NULL, M1 + at, V1 + at, h1, l2,
                        <floating>opt.step_lr, <floating>opt.beta1, <floating>opt.beta2,
                        <floating>opt.eps, decay)
    update_slice(<floating*>m.params, <const floating*>m.grads, NULL, opt, m.steps[0].b_off,
                 m.steps[0].b_off + h1, False)


cdef void subgroup_batch(floating* unused, GroupBatch* gb, Py_ssize_t c) noexcept nogil:
    """Subgroup c's batch: the penalties, the stacked first product, each member's rest,
    the stacked first-layer gradient and each member's first-layer step."""
    cdef Subgroup* sg = &gb.subgroups[c]
    cdef Py_ssize_t j, rows = gb.rows, width = sg.width
    cdef floating* S = <floating*>sg.S
    cdef floating* Z = <floating*>sg.Z
    cdef floating* D = <floating*>sg.D
    cdef const floating* xb = <const floating*>gb.xb
    cdef Member* m
    cdef bint any_finite = False
    for j in range(sg.n_members):
        m = &sg.members[j]
        if m.active:
            m.penalty = member_penalty(m, S, width, gb.n_in, gb.h1)
            m.loss = m.penalty
    gemm(False, False, <int>rows, <int>width, <int>gb.n_in, 1, xb, <int>gb.n_in, S,
         <int>width, 0, Z, <int>width)
    for j in range(sg.n_members):
        m = &sg.members[j]
        if not m.active or not isfinite(m.penalty):
            continue
        m.loss = member_rest(m, Z, D, width, gb.h1, <const floating*>gb.yb,
                             <const floating*>gb.wb, <floating>gb.scale, rows)
        if isfinite(m.loss):
            any_finite = True
    if not any_finite:
        return
    gemm(True, False, <int>gb.n_in, <int>width, <int>rows, 1, xb, <int>gb.n_in, D,
         <int>width, 0, <floating*>sg.dS, <int>width)
    for j in range(sg.n_members):
        m = &sg.members[j]
        if m.active and isfinite(m.penalty) and isfinite(m.loss):
            update_block(m, S, <const floating*>sg.dS, <floating*>sg.M1,
                         <floating*>sg.V1, width, gb.n_in, gb.h1)


cdef void subgroup_chunk(void* ctx, Py_ssize_t t) noexcept nogil:
    """``chunk_fn`` of the pool: the batch of subgroups t, t + T, t + 2T, ... (T threads),
    in the group's dtype."""
    cdef GroupBatch* gb = <GroupBatch*>ctx
    cdef Py_ssize_t c = t
    while c < gb.n_subgroups:
        if gb.is_float:
            subgroup_batch(<float*>NULL, gb, c)
        else:
            subgroup_batch(<double*>NULL, gb, c)
        c += gb.n_threads


cdef int run_group_epoch(GroupBatch* gb, Member* members, Py_ssize_t n_members,
                         bint use_helpers, const floating* X,
                         const floating* Y, const floating* W, const Py_ssize_t* order,
                         Py_ssize_t n, Py_ssize_t batch_size, floating* xb, floating* yb,
                         floating* wb, Py_ssize_t check_every) except -1 nogil:
    """One pass over ``order`` for every member: the caller gathers each batch, the
    subgroups run it (on the pool when ``use_helpers``), the caller counts it for each
    member that is still finite.  A member whose batch loss (or penalty) is not finite
    stops there (status DIVERGED, untouched by that batch); the others go on.  Ctrl-C is
    checked every ``check_every`` batches; a KeyboardInterrupt leaves every member with
    the parameters of its last finished batch."""
    cdef Py_ssize_t start = 0, rows, since_check = 0, j, n_active = n_members
    cdef double sw
    cdef Member* m
    gb.xb = xb
    gb.yb = yb
    gb.wb = wb if W != NULL else NULL
    while start < n and n_active > 0:
        rows = n - start if n - start < batch_size else batch_size
        sw = gather_batch(xb, yb, wb, X, Y, W, order + start, rows, gb.n_in, gb.n_out)
        if sw == 0:
            for j in range(n_members):
                if members[j].active:
                    count_batch(&members[j].opt, &members[j].stats, rows)
        else:
            for j in range(n_members):
                if members[j].active:
                    begin_step(&members[j].opt, members[j].alpha, sw)
            gb.rows = rows
            gb.scale = 1.0 / sw
            if gb.n_threads == 1:
                subgroup_chunk(gb, 0)
            else:
                pool_run(subgroup_chunk, gb, gb.n_threads, use_helpers)
            for j in range(n_members):
                m = &members[j]
                if not m.active:
                    continue
                if not isfinite((m.loss + m.penalty) / sw):
                    m.active = False
                    m.stats.status = EPOCH_DIVERGED
                    n_active -= 1
                    continue
                record_batch(&m.opt, &m.stats, (m.loss + m.penalty) / sw, m.penalty, sw,
                             rows)
        check_signals(&since_check, check_every)
        start += rows
    return 0
