# Part of _engine.pyx (textually included there: it shares its imports, constants and
# structs).  Forward + backward over one block, the optimizer step on a slice, and the
# full-data loss and gradient.

# -- the first layer's input: dense rows or CSR rows ---------------------------

cdef void input_product(const SparseInput* sx, const floating* X, const Step* s,
                        const floating* params, Py_ssize_t rows, Py_ssize_t c0,
                        Py_ssize_t c1, floating* dst) noexcept nogil:
    """dst[:, c0:c1] := O_0 W[:, c0:c1] (no intercept) for step ``s`` reading the input:
    dense rows X, or the CSR rows ``sx`` (when not NULL); dst has row stride n_out."""
    if c1 <= c0:
        return
    if sx == NULL:
        gemm(False, False, <int>rows, <int>(c1 - c0), <int>s.n_in, 1, X, <int>s.n_in,
             params + s.w_off + c0, <int>s.n_out, 0, dst + c0, <int>s.n_out)
    else:
        csr_matmul(<const floating*>sx.data, sx.indices, sx.idx32, sx.indptr, sx.pick,
                   sx.row0, rows, params + s.w_off + c0, s.n_out, c1 - c0, dst + c0,
                   s.n_out)


cdef void input_gradient(const SparseInput* sx, const floating* X, const Step* s,
                         const floating* D, Py_ssize_t rows, Py_ssize_t r0, Py_ssize_t r1,
                         bint fresh, floating* grads) noexcept nogil:
    """dW[r0:r1, :] := (or += unless ``fresh``) O_0[:, r0:r1]^T D for the step reading
    the input (dense rows X, or the CSR rows ``sx``)."""
    if r1 <= r0:
        return
    if sx == NULL:
        gemm(True, False, <int>(r1 - r0), <int>s.n_out, <int>rows, 1, X + r0,
             <int>s.n_in, D, <int>s.n_out, 0 if fresh else 1,
             grads + s.w_off + r0 * s.n_out, <int>s.n_out)
        return
    if fresh:
        memset(grads + s.w_off + r0 * s.n_out, 0, (r1 - r0) * s.n_out * sizeof(floating))
    csr_grad(<const floating*>sx.data, sx.indices, sx.idx32, sx.indptr, sx.pick, sx.row0,
             rows, D, s.n_out, r0, r1, grads + s.w_off, s.n_out)


# -- forward + backward -------------------------------------------------------

cdef inline floating* pre_activation(const Step* s, floating* acts,
                                     Py_ssize_t rows) noexcept nogil:
    """Where step ``s`` keeps its pre-activation U in the workspace (forward writes it,
    backward reads it), or NULL when its derivative does not need U."""
    return acts + rows * s.pre_off if s.pre_off >= 0 else NULL


# -- dropout ----------------------------------------------------------------------

cdef inline bint dropped(const Dropout* drop, Py_ssize_t k) noexcept nogil:
    """Whether step k's output is dropped in this call."""
    return drop != NULL and drop.thresholds[k] != 0


cdef inline unsigned int step_key(const Dropout* drop, Py_ssize_t k) noexcept nogil:
    """The mask key of step k in the current batch."""
    return cymlp_mix32(drop.key ^ cymlp_mix32(<unsigned int>(k + 1) * 0x85EBCA6Bu))


cdef inline void set_batch_key(Dropout* drop, long long batch) noexcept nogil:
    """Key the masks of batch number ``batch`` (the optimizer's batch count)."""
    if drop != NULL:
        drop.key = cymlp_mix32(drop.seed ^ cymlp_mix32(
            <unsigned int>batch ^ cymlp_mix32(<unsigned int>(batch >> 32) + 0x68E31DA4u)))


cdef inline floating* step_output(const Step* steps, Py_ssize_t k, floating* acts,
                                  Py_ssize_t rows, const Dropout* drop) noexcept nogil:
    """O_k as step k + 1 reads it: the dropped copy when step k is dropped."""
    return acts + rows * (steps[k].drop_off if dropped(drop, k) else steps[k].act_off)


cdef inline void drop_rows(const Dropout* drop, Py_ssize_t k, const floating* src,
                           floating* dst, Py_ssize_t rows, Py_ssize_t c0, Py_ssize_t c1,
                           Py_ssize_t width, Py_ssize_t row0) noexcept nogil:
    """dst[:, c0:c1] := src[:, c0:c1] * step k's mask * scale, for the batch rows row0..
    (rows ``width`` apart; src may be dst)."""
    dropout(src + c0, dst + c0, rows, c1 - c0, width, step_key(drop, k), row0, c0, width,
            drop.thresholds[k], <floating>drop.scales[k])


cdef void update_slice(floating* params, const floating* g, const floating* g2,
                       const Optim* opt, Py_ssize_t a, Py_ssize_t b,
                       bint coefficients) noexcept nogil:
    """One optimizer step on params[a:b] with gradient g[a:b] (+ g2[a:b] unless g2 is
    NULL); for ``coefficients`` (not intercepts) the L2 term opt.l2 * params and
    AdamW's decoupled decay too."""
    cdef floating l2 = <floating>opt.l2 if coefficients else 0
    cdef floating decay = <floating>opt.step_decay if coefficients else 0
    cdef floating* m = <floating*>opt.state1
    cdef floating* v = <floating*>opt.state2
    cdef const floating* g2a = NULL
    if b <= a:
        return
    if g2 != NULL:
        g2a = g2 + a
    if opt.kind == OPTIMIZER_SGD:
        sgd_update(params + a, g + a, g2a, m + a, b - a, l2, <floating>opt.step_lr,
                   <floating>opt.momentum, opt.nesterov)
    else:
        adam_update(params + a, g + a, g2a, m + a, v + a, b - a, l2, <floating>opt.step_lr,
                    <floating>opt.beta1, <floating>opt.beta2, <floating>opt.eps, decay)


cdef double weight_sum(const floating* W, const Py_ssize_t* idx,
                       Py_ssize_t rows) noexcept nogil:
    """sum_r W[idx[r]], in row order (every chunk count gives the same sum)."""
    cdef double total = 0
    cdef Py_ssize_t r
    for r in range(rows):
        total += W[idx[r]]
    return total


cdef void update_layer(const Step* s, floating* params, const floating* grads,
                       const Optim* opt) noexcept nogil:
    """One optimizer step on the W and b of the layer step ``s`` uses."""
    update_slice(params, grads, NULL, opt, s.w_off, s.w_off + s.n_in * s.n_out, True)
    update_slice(params, grads, NULL, opt, s.b_off, s.b_off + s.n_out, False)


cdef double forward_backward(const Step* steps, Py_ssize_t n_steps, floating* params,
                             floating* grads, const floating* X, const SparseInput* sx,
                             const floating* Y, const floating* w, floating scale,
                             Py_ssize_t rows, floating* acts, floating* deltas,
                             Py_ssize_t max_width, bint backward, bint accumulate,
                             const Optim* opt, const Dropout* drop,
                             Py_ssize_t row0) noexcept nogil:
    """Loss of one block; if ``backward``, its gradient; if ``opt``, the update too.
    With ``drop``, the dropped hidden steps' outputs are masked (inverted dropout) for
    the block's rows, which are rows row0.. of the batch.

    forward   U_k = O_{k-1} W_k + b_k,  O_k = f_k(U_k)           (O_0 = X, or the CSR
              rows ``sx`` when it is not NULL)
    output    Delta_L = (O_L - Y) * w * scale,  loss = sum_i w_i L_i   (returned)
    backward  dW_k = O_{k-1}^T Delta_k,  db_k = sum_rows Delta_k,
              Delta_{k-1} = (Delta_k W_k^T) * f'_{k-1}(U_{k-1})

    The gradient of a layer's first step in backward order overwrites its buffer
    (gemm beta = 0) unless ``accumulate``; later steps of a shared layer add to it.
    With ``opt``, a layer is updated as soon as its gradient is complete, while it
    is still in cache, and after Delta_{k-1} has used the old W_k.  A non-finite
    loss returns before any gradient or update.
    """
    cdef Py_ssize_t k, last = n_steps - 1
    cdef const Step* s
    cdef const floating* src = X
    cdef floating* dst
    cdef floating* d_cur = deltas
    cdef floating* d_prev
    cdef double loss
    cdef bint fresh

    for k in range(n_steps):
        s = &steps[k]
        dst = acts + rows * s.act_off
        if k == 0:
            input_product(sx, X, s, params, rows, 0, s.n_out, dst)
        else:
            gemm(False, False, <int>rows, <int>s.n_out, <int>s.n_in, 1, src, <int>s.n_in,
                 params + s.w_off, <int>s.n_out, 0, dst, <int>s.n_out)
        if k < last:
            bias_activation(dst, params + s.b_off, rows, s.n_out, s.act,
                            pre_activation(s, acts, rows))
            if dropped(drop, k):
                drop_rows(drop, k, dst, acts + rows * s.drop_off, rows, 0, s.n_out,
                          s.n_out, row0)
        src = step_output(steps, k, acts, rows, drop)

    s = &steps[last]
    loss = output_error(acts + rows * s.act_off, params + s.b_off, Y, w, scale, d_cur,
                        rows, s.n_out, &s.output)
    if not backward or not isfinite(loss):
        return loss

    for k in range(last, -1, -1):
        s = &steps[k]
        src = X if k == 0 else step_output(steps, k - 1, acts, rows, drop)
        fresh = s.grad_starts and not accumulate
        if k == 0:
            input_gradient(sx, X, s, d_cur, rows, 0, s.n_in, fresh, grads)
        else:
            gemm(True, False, <int>s.n_in, <int>s.n_out, <int>rows, 1, src, <int>s.n_in,
                 d_cur, <int>s.n_out, 0 if fresh else 1, grads + s.w_off, <int>s.n_out)
        if fresh:
            memset(grads + s.b_off, 0, s.n_out * sizeof(floating))
        add_column_sums(grads + s.b_off, d_cur, rows, s.n_out, s.n_out)
        if k > 0:
            d_prev = deltas + rows * max_width if d_cur == deltas else deltas
            gemm(False, True, <int>rows, <int>s.n_in, <int>s.n_out, 1, d_cur,
                 <int>s.n_out, params + s.w_off, <int>s.n_out, 0, d_prev, <int>s.n_in)
            if dropped(drop, k - 1):
                drop_rows(drop, k - 1, d_prev, d_prev, rows, 0, s.n_in, s.n_in, row0)
            activation_derivative(d_prev, acts + rows * steps[k - 1].act_off,
                                  pre_activation(&steps[k - 1], acts, rows),
                                  rows * s.n_in, steps[k - 1].act)
            d_cur = d_prev
        if opt != NULL and s.grad_complete:
            update_layer(s, params, grads, opt)
    return loss


cdef double loss_gradient_all(const Step* steps, Py_ssize_t n_steps, floating* params,
                              floating* grads, const floating* X, const SparseInput* sx,
                              const floating* Y,
                              const floating* w, floating scale, Py_ssize_t n,
                              Py_ssize_t n_in, Py_ssize_t n_out, floating* acts,
                              floating* deltas, Py_ssize_t block_rows,
                              Py_ssize_t max_width, bint backward,
                              const Dropout* drop) noexcept nogil:
    """sum_i w_i L_i over all n rows (dense X, or the CSR rows ``sx``), in blocks;
    gradients added into ``grads`` (which the caller zeroes).  With ``drop``, the masks
    of one batch of all n rows (a fixed mask, for checking gradients)."""
    cdef Py_ssize_t start = 0, rows
    cdef double total = 0
    cdef const floating* w_block = NULL
    cdef SparseInput block
    while start < n:
        rows = n - start if n - start < block_rows else block_rows
        if w != NULL:
            w_block = w + start
        if sx != NULL:
            block = sparse_block(sx, NULL, start)
        total += forward_backward(steps, n_steps, params, grads,
                                  X + start * n_in if sx == NULL else NULL,
                                  &block if sx != NULL else NULL,
                                  Y + start * n_out, w_block, scale, rows, acts, deltas,
                                  max_width, backward, True, NULL, drop, start)
        start += rows
    return total
