# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The compiled engine: forward pass, backward pass, loss and the mini-batch epoch loop.

Every matrix product goes through BLAS gemm (``_blas.pxd``); every element-wise step
through the C kernels (``_kernels.pxd``).  All heavy work runs without the GIL.

Layout.  A network is a list of *steps*; step k applies one dense layer:
``O_k = f_k(O_{k-1} W + b)``.  The parameters of all (unique) layers live in one flat
buffer, every coefficient matrix first, then every intercept vector, so that an
optimizer step is one loop and the L2 penalty covers the prefix ``[0, n_coef)``.
Two steps may point at the same (W, b): the backward pass *adds* into the gradient
buffer (gemm with beta = 1), so a shared layer gets the sum of its gradients.

The Python layer (``network.py``) validates every array before it gets here: the
functions below assume C-contiguous buffers of the engine's dtype and right shapes.
"""
import numpy as np

cimport numpy as cnp
from cython cimport floating
from libc.math cimport isfinite, pow, sqrt
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from cymlp._blas cimport dot, gemm
from cymlp._kernels cimport (activation_derivative, adam_update, add_column_sums,
                             add_scaled, bias_activation, gather_rows, output_error,
                             row_product, sgd_update)
from cymlp._pool cimport (chunk_fn, pool_acquire, pool_helpers, pool_release, pool_run,
                          thread_limit)

from cymlp._pool import reserve as reserve_helpers

cnp.import_array()

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1

cdef enum:
    # Rows per block when a whole data set goes through (prediction, full gradient).
    BLOCK_ROWS = 1024
    # Check for Ctrl-C after about this many multiply-adds of training work.
    SIGNAL_CHECK_WORK = 20000000
    # Below this many rows, prediction goes row by row through row_product (rowproduct.h):
    # OpenBLAS's gemm packs all of W on every call (124 us for 1 x 784 @ 784 x 200).
    SMALL_ROWS = 8
    # In that path, a layer's W is cut into blocks of rows of about this many bytes,
    # so that each block fits in one core's L2 cache (512 KB on the EPYC we measure on;
    # 784 x 200 float32 = 627 KB does not, its two halves do).  Blocks run on the pool
    # when threads are allowed; their partial sums are added in block order, so the
    # result does not depend on the thread count.
    K_BLOCK_BYTES = 327680
    # From this size on, W gets at least two blocks, so two cores share even a layer
    # that fits one L2 (200 x 100 float32, 80 KB).
    SPLIT_BYTES = 65536
    MAX_K_BLOCKS = 16

# Epoch outcomes.
EPOCH_DONE = 0
EPOCH_DIVERGED = 1
cdef enum:
    _DONE = 0
    _DIVERGED = 1

# Optimizer kinds.
OPTIMIZER_SGD = 0
OPTIMIZER_ADAM = 1


cdef struct Step:
    Py_ssize_t n_in      # fan-in of the layer
    Py_ssize_t n_out     # fan-out of the layer
    Py_ssize_t w_off     # offset of W (n_in x n_out, row-major) in the flat buffer
    Py_ssize_t b_off     # offset of b (n_out) in the flat buffer
    Py_ssize_t act_off   # offset (per row) of this step's output in the workspace
    int act              # activation code
    Py_ssize_t k_blocks  # blocks of W's rows in the small-prediction path
    bint grad_starts     # first step of its layer in backward order: writes its gradient
    bint grad_complete   # last step of its layer in backward order: gradient complete


cdef struct Optim:
    int kind
    bint nesterov
    double lr, momentum, beta1, beta2, eps
    long long t          # Adam's step count, carried over between epochs
    double step_lr       # this batch's step size (Adam: bias-corrected)
    double l2            # this batch's L2 factor alpha / batch weight
    void* state1         # SGD velocity or Adam first moment (flat, like params)
    void* state2         # Adam second moment


cdef struct EpochStats:
    double loss_sum      # sum over batches of batch loss * batch weight
    double weight_sum    # sum of the weights (or counts) of finished batches
    Py_ssize_t n_batches
    Py_ssize_t n_samples
    int status


cdef inline void* data_ptr(object array):
    return cnp.PyArray_DATA(<cnp.ndarray>array)


# -- forward ------------------------------------------------------------------

cdef void forward_block(const Step* steps, Py_ssize_t n_steps, const floating* params,
                        const floating* X, Py_ssize_t rows, floating* out,
                        floating* scratch, Py_ssize_t scratch_stride) noexcept nogil:
    """O_k = f_k(O_{k-1} W_k + b_k) for every step; the last output goes to ``out``.

    ``scratch`` holds two ping-pong blocks of ``scratch_stride`` elements for the
    hidden outputs, which prediction does not keep."""
    cdef Py_ssize_t k, r
    cdef const Step* s
    cdef const floating* src = X
    cdef floating* dst
    for k in range(n_steps):
        s = &steps[k]
        dst = out if k == n_steps - 1 else scratch + (k % 2) * scratch_stride
        gemm(False, False, <int>rows, <int>s.n_out, <int>s.n_in, 1, src, <int>s.n_in,
             params + s.w_off, <int>s.n_out, 0, dst, <int>s.n_out)
        bias_activation(dst, params + s.b_off, rows, s.n_out, s.act)
        src = dst


cdef int predict_all(const Step* steps, Py_ssize_t n_steps, Py_ssize_t max_width,
                     const floating* params, const floating* X, Py_ssize_t n,
                     Py_ssize_t n_in, floating* out, Py_ssize_t n_out) noexcept nogil:
    """Forward pass over n rows in blocks; private scratch, so threads may share a model.

    Returns -1 when the scratch memory cannot be allocated, else 0."""
    cdef Py_ssize_t block = n if n < BLOCK_ROWS else BLOCK_ROWS
    cdef Py_ssize_t start, rows
    cdef floating* scratch = <floating*>malloc(2 * block * max_width * sizeof(floating))
    if scratch == NULL:
        return -1
    start = 0
    while start < n:
        rows = n - start if n - start < block else block
        forward_block(steps, n_steps, params, X + start * n_in, rows,
                      out + start * n_out, scratch, block * max_width)
        start += rows
    free(scratch)
    return 0


cdef struct PredictJob:
    const Step* steps
    Py_ssize_t n_steps, max_width, n, n_in, n_out, n_chunks
    const void* params
    const void* X
    void* out
    bint failed          # a chunk could not allocate its scratch


cdef void predict_chunk(const floating* params, PredictJob* job,
                        Py_ssize_t c) noexcept nogil:
    """Rows [n c / T, n (c + 1) / T) of a prediction split into T chunks."""
    cdef Py_ssize_t r0 = job.n * c // job.n_chunks
    cdef Py_ssize_t r1 = job.n * (c + 1) // job.n_chunks
    if r1 > r0 and predict_all(job.steps, job.n_steps, job.max_width, params,
                               <const floating*>job.X + r0 * job.n_in, r1 - r0,
                               job.n_in, <floating*>job.out + r0 * job.n_out,
                               job.n_out) != 0:
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
        bias_activation(dst, params + s.b_off, rows, s.n_out, s.act)
        src = dst
    free(memory)
    return 0


# -- forward + backward -------------------------------------------------------

cdef void update_slice(floating* params, const floating* g, const floating* g2,
                       const Optim* opt, Py_ssize_t a, Py_ssize_t b,
                       floating l2) noexcept nogil:
    """One optimizer step on params[a:b] with gradient g[a:b] (+ g2[a:b] unless g2 is
    NULL) (+ l2 * params)."""
    cdef floating* m = <floating*>opt.state1
    cdef floating* v = <floating*>opt.state2
    cdef const floating* g2a = NULL
    if b <= a:
        return
    if g2 != NULL:
        g2a = g2 + a
    if opt.kind == 0:
        sgd_update(params + a, g + a, g2a, m + a, b - a, l2, <floating>opt.step_lr,
                   <floating>opt.momentum, opt.nesterov)
    else:
        adam_update(params + a, g + a, g2a, m + a, v + a, b - a, l2, <floating>opt.step_lr,
                    <floating>opt.beta1, <floating>opt.beta2, <floating>opt.eps)


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
    update_slice(params, grads, NULL, opt, s.w_off, s.w_off + s.n_in * s.n_out,
                 <floating>opt.l2)
    update_slice(params, grads, NULL, opt, s.b_off, s.b_off + s.n_out, 0)


cdef double forward_backward(const Step* steps, Py_ssize_t n_steps, floating* params,
                             floating* grads, const floating* X, const floating* Y,
                             const floating* w, floating scale, Py_ssize_t rows,
                             floating* acts, floating* deltas, Py_ssize_t max_width,
                             bint backward, bint accumulate,
                             const Optim* opt) noexcept nogil:
    """Loss of one block; if ``backward``, its gradient; if ``opt``, the update too.

    forward   U_k = O_{k-1} W_k + b_k,  O_k = f_k(U_k)           (O_0 = X)
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
        gemm(False, False, <int>rows, <int>s.n_out, <int>s.n_in, 1, src, <int>s.n_in,
             params + s.w_off, <int>s.n_out, 0, dst, <int>s.n_out)
        if k < last:
            bias_activation(dst, params + s.b_off, rows, s.n_out, s.act)
        src = dst

    s = &steps[last]
    loss = output_error(acts + rows * s.act_off, params + s.b_off, Y, w, scale, d_cur,
                        rows, s.n_out, s.act)
    if not backward or not isfinite(loss):
        return loss

    for k in range(last, -1, -1):
        s = &steps[k]
        src = X if k == 0 else acts + rows * steps[k - 1].act_off
        fresh = s.grad_starts and not accumulate
        gemm(True, False, <int>s.n_in, <int>s.n_out, <int>rows, 1, src, <int>s.n_in,
             d_cur, <int>s.n_out, 0 if fresh else 1, grads + s.w_off, <int>s.n_out)
        if fresh:
            memset(grads + s.b_off, 0, s.n_out * sizeof(floating))
        add_column_sums(grads + s.b_off, d_cur, rows, s.n_out)
        if k > 0:
            d_prev = deltas + rows * max_width if d_cur == deltas else deltas
            gemm(False, True, <int>rows, <int>s.n_in, <int>s.n_out, 1, d_cur,
                 <int>s.n_out, params + s.w_off, <int>s.n_out, 0, d_prev, <int>s.n_in)
            activation_derivative(d_prev, src, rows * s.n_in, steps[k - 1].act)
            d_cur = d_prev
        if opt != NULL and s.grad_complete:
            update_layer(s, params, grads, opt)
    return loss


cdef double loss_gradient_all(const Step* steps, Py_ssize_t n_steps, floating* params,
                              floating* grads, const floating* X, const floating* Y,
                              const floating* w, floating scale, Py_ssize_t n,
                              Py_ssize_t n_in, Py_ssize_t n_out, floating* acts,
                              floating* deltas, Py_ssize_t block, Py_ssize_t max_width,
                              bint backward) noexcept nogil:
    """sum_i w_i L_i over all n rows, in blocks; gradients added into ``grads``
    (which the caller zeroes)."""
    cdef Py_ssize_t start = 0, rows
    cdef double total = 0
    cdef const floating* w_block = NULL
    while start < n:
        rows = n - start if n - start < block else block
        if w != NULL:
            w_block = w + start
        total += forward_backward(steps, n_steps, params, grads, X + start * n_in,
                                  Y + start * n_out, w_block, scale, rows, acts, deltas,
                                  max_width, backward, True, NULL)
        start += rows
    return total


# -- the epoch loop -----------------------------------------------------------

cdef void begin_step(Optim* opt, double alpha, double sw) noexcept nogil:
    """Set this batch's L2 factor and step size (Adam: bias-corrected for step t + 1)."""
    opt.l2 = alpha / sw
    if opt.kind == 0:
        opt.step_lr = opt.lr
    else:
        opt.step_lr = (opt.lr * sqrt(1.0 - pow(opt.beta2, <double>(opt.t + 1)))
                       / (1.0 - pow(opt.beta1, <double>(opt.t + 1))))


cdef int end_batch(Optim* opt, EpochStats* stats, double loss, double sw, Py_ssize_t rows,
                   Py_ssize_t* since_check, Py_ssize_t check_every) except -1 nogil:
    """Count a finished batch (Adam's step, the epoch sums); check for Ctrl-C every
    ``check_every`` batches."""
    if opt.kind != 0:
        opt.t += 1
    stats.loss_sum += loss * sw
    stats.weight_sum += sw
    stats.n_batches += 1
    stats.n_samples += rows
    since_check[0] += 1
    if since_check[0] >= check_every:
        since_check[0] = 0
        with gil:
            PyErr_CheckSignals()
    return 0


cdef int run_epoch(const Step* steps, Py_ssize_t n_steps, Py_ssize_t n_params,
                   Py_ssize_t n_coef, Py_ssize_t max_width,
                   floating* params, floating* grads,
                   const floating* X, const floating* Y, const floating* W,
                   const Py_ssize_t* order, Py_ssize_t n, Py_ssize_t n_in, Py_ssize_t n_out,
                   Py_ssize_t batch_size, floating* xb, floating* yb, floating* wb,
                   floating* acts, floating* deltas, Optim* opt, double alpha,
                   EpochStats* stats) except -1 nogil:
    """One pass over ``order``: gather, forward, backward, update, batch by batch.

    Stops early (status DIVERGED, parameters untouched by that batch) when a batch
    loss is not finite.  Checks for Ctrl-C between batches; a KeyboardInterrupt leaves
    the parameters of the last finished batch."""
    cdef Py_ssize_t start = 0, rows, since_check = 0
    cdef Py_ssize_t check_every = SIGNAL_CHECK_WORK // (n_params * batch_size + 1) + 1
    cdef double loss, sw, penalty
    while start < n:
        rows = n - start if n - start < batch_size else batch_size
        gather_rows(xb, X, order + start, rows, n_in)
        gather_rows(yb, Y, order + start, rows, n_out)
        if W != NULL:
            gather_rows(wb, W, order + start, rows, 1)
            sw = weight_sum(W, order + start, rows)
        else:
            sw = <double>rows
        # the penalty uses the weights before this batch's update; a non-finite one
        # must stop the epoch here, before forward_backward applies any update
        penalty = 0.5 * alpha * dot(<int>n_coef, params, params) if alpha > 0 else 0.0
        if not isfinite(penalty):
            stats.status = _DIVERGED
            return 0
        begin_step(opt, alpha, sw)
        loss = forward_backward(steps, n_steps, params, grads, xb, yb,
                                wb if W != NULL else NULL, <floating>(1.0 / sw), rows,
                                acts, deltas, max_width, True, False, opt)
        loss = (loss + penalty) / sw
        if not isfinite(loss):
            # the data loss was not finite: forward_backward returned before any update
            stats.status = _DIVERGED
            return 0
        end_batch(opt, stats, loss, sw, rows, &since_check, check_every)
        start += rows
    stats.status = _DONE
    return 0


# -- the data-parallel epoch --------------------------------------------------
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


cdef struct ParallelEpoch:
    const Step* steps
    Py_ssize_t n_steps, n_params, n_coef, max_width, n_in, n_out, n_chunks
    void* params
    const void* X
    const void* Y
    const void* W        # sample weights or NULL
    const Py_ssize_t* batch_order   # order + start of the current batch
    double scale         # 1 / batch weight
    double alpha
    Optim* opt
    Chunk* chunks


cdef void gradient_chunk(floating* params, ParallelEpoch* ep, Py_ssize_t c) noexcept nogil:
    """Phase A for chunk c: gather its rows, forward, backward into its gradient."""
    cdef Chunk* ch = &ep.chunks[c]
    cdef const Py_ssize_t* idx = ep.batch_order + ch.row0
    cdef Py_ssize_t coef_end = ch.p1 if ch.p1 < ep.n_coef else ep.n_coef
    ch.penalty = 0
    if ep.alpha > 0 and coef_end > ch.p0:
        ch.penalty = 0.5 * ep.alpha * dot(<int>(coef_end - ch.p0), params + ch.p0,
                                          params + ch.p0)
    ch.loss = 0
    if ch.rows == 0:
        return
    gather_rows(<floating*>ch.xb, <const floating*>ep.X, idx, ch.rows, ep.n_in)
    gather_rows(<floating*>ch.yb, <const floating*>ep.Y, idx, ch.rows, ep.n_out)
    if ep.W != NULL:
        gather_rows(<floating*>ch.wb, <const floating*>ep.W, idx, ch.rows, 1)
    ch.loss = forward_backward(ep.steps, ep.n_steps, params, <floating*>ch.grads,
                               <floating*>ch.xb, <floating*>ch.yb,
                               <floating*>ch.wb if ep.W != NULL else NULL,
                               <floating>ep.scale, ch.rows, <floating*>ch.acts,
                               <floating*>ch.deltas, ep.max_width, True, False, NULL)


cdef void update_chunk(floating* params, ParallelEpoch* ep, Py_ssize_t c) noexcept nogil:
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
    update_slice(params, g, g2, ep.opt, p0, mid, <floating>ep.opt.l2)
    update_slice(params, g, g2, ep.opt, mid, p1, 0)


cdef void gradient_chunk_f(void* ep, Py_ssize_t c) noexcept nogil:
    gradient_chunk(<float*>(<ParallelEpoch*>ep).params, <ParallelEpoch*>ep, c)


cdef void gradient_chunk_d(void* ep, Py_ssize_t c) noexcept nogil:
    gradient_chunk(<double*>(<ParallelEpoch*>ep).params, <ParallelEpoch*>ep, c)


cdef void update_chunk_f(void* ep, Py_ssize_t c) noexcept nogil:
    update_chunk(<float*>(<ParallelEpoch*>ep).params, <ParallelEpoch*>ep, c)


cdef void update_chunk_d(void* ep, Py_ssize_t c) noexcept nogil:
    update_chunk(<double*>(<ParallelEpoch*>ep).params, <ParallelEpoch*>ep, c)


cdef int run_epoch_parallel(ParallelEpoch* ep, bint is_float, const Py_ssize_t* order,
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
        ep.scale = 1.0 / sw
        pool_run(gradient_fn, ep, T, use_helpers)
        loss = 0
        penalty = 0
        for c in range(T):
            loss += ep.chunks[c].loss
            penalty += ep.chunks[c].penalty
        loss = (loss + penalty) / sw
        if not isfinite(loss):
            stats.status = _DIVERGED
            return 0
        begin_step(opt, ep.alpha, sw)
        pool_run(update_fn, ep, T, use_helpers)
        end_batch(opt, stats, loss, sw, rows, &since_check, check_every)
        start += rows
    stats.status = _DONE
    return 0


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
    void* acts
    void* d_cur               # backward: Delta of step k, and where Delta_{k-1} goes
    void* d_prev
    double alpha
    double* penalties         # per chunk: 0.5 alpha ||W||^2 over its coefficient slice
    const Optim* opt


cdef inline Py_ssize_t cut(Py_ssize_t n, Py_ssize_t c, Py_ssize_t T) noexcept nogil:
    """Start of chunk c's share of n items cut into T parts."""
    return n * c // T


cdef void forward_columns(floating* params, ColumnEpoch* ep, Py_ssize_t c) noexcept nogil:
    """Chunk c of the forward job of step ep.k (and, in step 0, its share of the L2
    penalty, taken before any update of this batch)."""
    cdef const Step* s = &ep.steps[ep.k]
    cdef Py_ssize_t T = ep.n_chunks, rows = ep.rows, r
    cdef Py_ssize_t c0 = cut(s.n_out, c, T), c1 = cut(s.n_out, c + 1, T)
    cdef Py_ssize_t p0, p1
    cdef const floating* src = (<floating*>ep.xb if ep.k == 0 else
                                <floating*>ep.acts + rows * ep.steps[ep.k - 1].act_off)
    cdef floating* dst = <floating*>ep.acts + rows * s.act_off
    if ep.k == 0:
        p0 = cut(ep.n_coef, c, T)
        p1 = cut(ep.n_coef, c + 1, T)
        ep.penalties[c] = (0.5 * ep.alpha * dot(<int>(p1 - p0), params + p0, params + p0)
                           if ep.alpha > 0 and p1 > p0 else 0.0)
    if c1 <= c0:
        return
    gemm(False, False, <int>rows, <int>(c1 - c0), <int>s.n_in, 1, src, <int>s.n_in,
         params + s.w_off + c0, <int>s.n_out, 0, dst + c0, <int>s.n_out)
    if ep.k < ep.n_steps - 1:
        for r in range(rows):
            bias_activation(dst + r * s.n_out + c0, params + s.b_off + c0, 1, c1 - c0,
                            s.act)


cdef void backward_columns(floating* params, ColumnEpoch* ep, Py_ssize_t c) noexcept nogil:
    """Chunk c of the backward job of step ep.k: its columns of Delta_{k-1}, its rows of
    dW and its intercept columns of db, and their optimizer step once complete."""
    cdef const Step* s = &ep.steps[ep.k]
    cdef Py_ssize_t T = ep.n_chunks, rows = ep.rows, r
    cdef Py_ssize_t r0 = cut(s.n_in, c, T), r1 = cut(s.n_in, c + 1, T)
    cdef Py_ssize_t b0 = cut(s.n_out, c, T), b1 = cut(s.n_out, c + 1, T)
    cdef const floating* src = (<floating*>ep.xb if ep.k == 0 else
                                <floating*>ep.acts + rows * ep.steps[ep.k - 1].act_off)
    cdef const floating* d_cur = <floating*>ep.d_cur
    cdef floating* d_prev = <floating*>ep.d_prev
    cdef floating* grads = <floating*>ep.grads
    if r1 > r0:
        if ep.k > 0:
            # Delta_{k-1}[:, r0:r1] from the rows r0..r1 of W before this batch's update
            gemm(False, True, <int>rows, <int>(r1 - r0), <int>s.n_out, 1, d_cur,
                 <int>s.n_out, params + s.w_off + r0 * s.n_out, <int>s.n_out, 0,
                 d_prev + r0, <int>s.n_in)
            for r in range(rows):
                activation_derivative(d_prev + r * s.n_in + r0, src + r * s.n_in + r0,
                                      r1 - r0, ep.steps[ep.k - 1].act)
        gemm(True, False, <int>(r1 - r0), <int>s.n_out, <int>rows, 1, src + r0,
             <int>s.n_in, d_cur, <int>s.n_out, 0 if s.grad_starts else 1,
             grads + s.w_off + r0 * s.n_out, <int>s.n_out)
        if s.grad_complete:
            update_slice(params, grads, NULL, ep.opt, s.w_off + r0 * s.n_out,
                         s.w_off + r1 * s.n_out, <floating>ep.opt.l2)
    if b1 > b0:
        if s.grad_starts:
            memset(grads + s.b_off + b0, 0, (b1 - b0) * sizeof(floating))
        for r in range(rows):
            add_scaled(grads + s.b_off + b0, d_cur + r * s.n_out + b0, b1 - b0, 1)
        if s.grad_complete:
            update_slice(params, grads, NULL, ep.opt, s.b_off + b0, s.b_off + b1, 0)


cdef void forward_columns_f(void* ep, Py_ssize_t c) noexcept nogil:
    forward_columns(<float*>(<ColumnEpoch*>ep).params, <ColumnEpoch*>ep, c)


cdef void forward_columns_d(void* ep, Py_ssize_t c) noexcept nogil:
    forward_columns(<double*>(<ColumnEpoch*>ep).params, <ColumnEpoch*>ep, c)


cdef void backward_columns_f(void* ep, Py_ssize_t c) noexcept nogil:
    backward_columns(<float*>(<ColumnEpoch*>ep).params, <ColumnEpoch*>ep, c)


cdef void backward_columns_d(void* ep, Py_ssize_t c) noexcept nogil:
    backward_columns(<double*>(<ColumnEpoch*>ep).params, <ColumnEpoch*>ep, c)


cdef int run_epoch_columns(ColumnEpoch* ep, floating* deltas, Py_ssize_t max_width,
                           const floating* X, const floating* Y, const floating* W,
                           floating* yb, floating* wb, const Py_ssize_t* order,
                           Py_ssize_t n, Py_ssize_t batch_size, bint use_helpers,
                           Optim* opt, EpochStats* stats) except -1 nogil:
    """``run_epoch`` with every step split by columns over ``ep.n_chunks`` chunks (see
    above).  Same contract: a batch whose loss or penalty is not finite is not applied
    and ends the epoch (DIVERGED); Ctrl-C is checked between batches."""
    cdef const Step* last = &ep.steps[ep.n_steps - 1]
    cdef const Step* s
    cdef Py_ssize_t start = 0, rows, c, k, since_check = 0
    cdef Py_ssize_t n_in = ep.steps[0].n_in, n_out = last.n_out
    cdef Py_ssize_t check_every = SIGNAL_CHECK_WORK // (ep.n_coef * batch_size + 1) + 1
    cdef double loss, sw, penalty
    cdef floating* d_cur
    cdef chunk_fn forward_fn = forward_columns_f if floating is float else forward_columns_d
    cdef chunk_fn backward_fn = (backward_columns_f if floating is float else
                                 backward_columns_d)
    while start < n:
        rows = n - start if n - start < batch_size else batch_size
        ep.rows = rows
        gather_rows(<floating*>ep.xb, X, order + start, rows, n_in)
        gather_rows(yb, Y, order + start, rows, n_out)
        if W != NULL:
            gather_rows(wb, W, order + start, rows, 1)
            sw = weight_sum(W, order + start, rows)
        else:
            sw = <double>rows
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
                            n_out, last.act)
        loss = (loss + penalty) / sw
        if not isfinite(loss):
            # the data loss or the penalty was not finite: nothing was updated
            stats.status = _DIVERGED
            return 0
        begin_step(opt, ep.alpha, sw)
        for k in range(ep.n_steps - 1, -1, -1):
            ep.k = k
            ep.d_cur = d_cur
            ep.d_prev = deltas + rows * max_width if d_cur == deltas else deltas
            pool_run(backward_fn, ep, ep.n_chunks, use_helpers)
            d_cur = <floating*>ep.d_prev
        end_batch(opt, stats, loss, sw, rows, &since_check, check_every)
        start += rows
    stats.status = _DONE
    return 0


# -- the Python-facing object -------------------------------------------------

cdef class Engine:
    """Compiled state of one network: its steps, parameter and gradient buffers, and
    a workspace for training, allocated once per batch size and reused.

    Parameters
    ----------
    params, grads : ndarray of shape (n_params,), float32 or float64, C-contiguous
        Flat parameter and gradient buffers, kept (not copied) by the engine.
    steps : sequence of (n_in, n_out, w_offset, b_offset, activation_code)
        One tuple per step, in forward order.
    n_coef : int
        Length of the coefficient prefix of ``params`` (the part the L2 penalty covers).
    """
    cdef Step* steps
    cdef readonly Py_ssize_t n_steps, n_params, n_coef, n_in, n_out, max_width, width_sum
    cdef readonly Py_ssize_t max_k_blocks, max_out
    cdef readonly object params, grads
    cdef readonly bint is_float
    cdef object _acts, _deltas, _xb, _yb, _wb
    cdef Py_ssize_t _ws_rows
    # data-parallel workspace: per chunk (grads, xb, yb, wb, acts, deltas)
    cdef list _chunk_ws
    cdef Py_ssize_t _chunk_rows
    # progress of the last train_epoch call, kept even when it was interrupted
    cdef readonly double last_loss_sum, last_weight_sum
    cdef readonly Py_ssize_t last_n_batches, last_n_samples
    cdef readonly long long last_t
    cdef object __weakref__

    def __cinit__(self, params, grads, steps, Py_ssize_t n_coef):
        cdef Py_ssize_t k, off = 0
        self.steps = NULL
        self.n_steps = len(steps)
        if self.n_steps == 0:
            raise ValueError("a network needs at least one step")
        self.steps = <Step*>malloc(self.n_steps * sizeof(Step))
        if self.steps == NULL:
            raise MemoryError()
        self.max_width = 0
        for k, (n_in, n_out, w_off, b_off, act) in enumerate(steps):
            self.steps[k].n_in = n_in
            self.steps[k].n_out = n_out
            self.steps[k].w_off = w_off
            self.steps[k].b_off = b_off
            self.steps[k].act = act
            self.steps[k].act_off = off
            self.steps[k].grad_starts = all(later[2] != w_off for later in steps[k + 1:])
            self.steps[k].grad_complete = all(earlier[2] != w_off for earlier in steps[:k])
            off += n_out
            self.max_width = max(self.max_width, n_in, n_out)
        self.width_sum = off
        self.n_in = self.steps[0].n_in
        self.n_out = self.steps[self.n_steps - 1].n_out
        self.params = params
        self.grads = grads
        self.n_params = params.shape[0]
        self.n_coef = n_coef
        self.is_float = params.dtype == np.float32
        self.max_k_blocks = 1
        self.max_out = 0
        for k in range(self.n_steps):
            self.max_out = max(self.max_out, self.steps[k].n_out)
            self.steps[k].k_blocks = k_blocks(&self.steps[k], 4 if self.is_float else 8)
            self.max_k_blocks = max(self.max_k_blocks, self.steps[k].k_blocks)
        self._ws_rows = 0
        self._chunk_ws = []
        self._chunk_rows = 0

    def __dealloc__(self):
        free(self.steps)

    @property
    def workspace_bytes(self):
        """Bytes held by the training workspace (0 before the first training call)."""
        arrays = [self._acts, self._deltas, self._xb, self._yb, self._wb]
        for k, buffers in enumerate(self._chunk_ws):
            # chunk 0 accumulates into the engine's own gradient buffer
            arrays += buffers[1:] if k == 0 else buffers
        return sum(a.nbytes for a in arrays if a is not None)

    cdef _ensure_workspace(self, Py_ssize_t rows):
        """Allocate the workspace for blocks of ``rows`` rows, unless it is big enough."""
        if rows <= self._ws_rows:
            return
        dtype = self.params.dtype
        self._acts = np.empty(rows * self.width_sum, dtype=dtype)
        self._deltas = np.empty(2 * rows * self.max_width, dtype=dtype)
        self._xb = np.empty(rows * self.n_in, dtype=dtype)
        self._yb = np.empty(rows * self.n_out, dtype=dtype)
        self._wb = np.empty(rows, dtype=dtype)
        self._ws_rows = rows

    cdef _ensure_chunk_workspace(self, Py_ssize_t rows, Py_ssize_t n_chunks):
        """Allocate per-chunk buffers for ``n_chunks`` chunks of up to ``rows`` rows."""
        if n_chunks == len(self._chunk_ws) and rows <= self._chunk_rows:
            return
        self._chunk_ws = []   # free the old buffers first
        dtype = self.params.dtype
        for k in range(n_chunks):
            self._chunk_ws.append((
                self.grads if k == 0 else np.zeros(self.n_params, dtype=dtype),
                np.empty(rows * self.n_in, dtype=dtype),
                np.empty(rows * self.n_out, dtype=dtype),
                np.empty(rows, dtype=dtype),
                np.empty(rows * self.width_sum, dtype=dtype),
                np.empty(2 * rows * self.max_width, dtype=dtype)))
        self._chunk_rows = rows

    def release_workspace(self):
        """Free the training workspace (it is allocated again when needed)."""
        self._acts = self._deltas = self._xb = self._yb = self._wb = None
        self._ws_rows = 0
        self._chunk_ws = []
        self._chunk_rows = 0

    def predict(self, X, out=None, Py_ssize_t n_chunks=1):
        """Forward pass: ``out := O_L`` for the rows of X (thread-safe).

        Fewer than 8 rows take the latency path: row products with each large W in
        row blocks that run on the pool when the BLAS thread setting allows more than
        one thread (``_pool.thread_limit``).  Its results do not depend on the thread
        count; they may differ from the batch path's in the last bits.

        Parameters
        ----------
        X : ndarray of shape (n, n_in), the engine's dtype, C-contiguous
        out : ndarray of shape (n, n_out), the engine's dtype, C-contiguous, optional
            Written; allocated when None.
        n_chunks : int, default=1
            For 8 rows or more: split the rows into this many chunks for the thread
            pool (BLAS should then be at one thread, see ``cymlp._threads``).

        Returns
        -------
        out : ndarray of shape (n, n_out)
        """
        cdef PredictJob job
        cdef bint owned
        cdef int status, threads = 1
        cdef Py_ssize_t n = X.shape[0]
        cdef cnp.npy_intp dims[2]
        if out is None:
            dims[0] = n
            dims[1] = self.n_out
            out = cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT32 if self.is_float else cnp.NPY_FLOAT64, 0)
        cdef void* x = data_ptr(X)
        cdef void* o = data_ptr(out)
        cdef void* p = data_ptr(self.params)
        if n == 0:
            return out
        if n < SMALL_ROWS:
            if self.max_k_blocks > 1:
                threads = min(thread_limit(), self.max_k_blocks)
                if threads > 1 and pool_helpers() < threads - 1:
                    reserve_helpers(threads - 1)
            with nogil:
                owned = threads > 1 and pool_acquire()
                if self.is_float:
                    status = predict_small(self.steps, self.n_steps, self.max_out,
                                           self.max_k_blocks, <const float*>p,
                                           <const float*>x, n, <float*>o, owned)
                else:
                    status = predict_small(self.steps, self.n_steps, self.max_out,
                                           self.max_k_blocks, <const double*>p,
                                           <const double*>x, n, <double*>o, owned)
                if owned:
                    pool_release()
            if status != 0:
                raise MemoryError("cannot allocate the prediction scratch buffer")
            return out
        job.steps = self.steps
        job.n_steps = self.n_steps
        job.max_width = self.max_width
        job.n = n
        job.n_in = self.n_in
        job.n_out = self.n_out
        job.n_chunks = max(1, min(n_chunks, n))
        job.params = p
        job.X = x
        job.out = o
        job.failed = False
        if job.n_chunks > 1:
            reserve_helpers(job.n_chunks - 1)
        with nogil:
            owned = job.n_chunks > 1 and pool_acquire()
            pool_run(predict_chunk_f if self.is_float else predict_chunk_d, &job,
                     job.n_chunks, owned)
            if owned:
                pool_release()
        if job.failed:
            raise MemoryError("cannot allocate the prediction scratch buffer")
        return out

    def loss_gradient(self, X, Y, sample_weight, double weight_sum, double alpha,
                      bint gradient):
        """Mean loss over all rows plus the L2 penalty; optionally its gradient.

        ``loss = (sum_i w_i L_i + alpha/2 ||W||^2) / weight_sum``; with ``gradient`` the
        gradient of that loss is written to ``grads`` (overwriting it).

        Parameters
        ----------
        X : ndarray of shape (n, n_in)
        Y : ndarray of shape (n, n_out)
        sample_weight : ndarray of shape (n,) or None
        weight_sum : float
            ``sum_i w_i`` (n without weights), > 0.
        alpha : float
            L2 penalty strength.
        gradient : bool
            Whether to compute the gradient.

        Returns
        -------
        float
        """
        cdef Py_ssize_t n = X.shape[0]
        cdef Py_ssize_t block = n if n < BLOCK_ROWS else BLOCK_ROWS
        cdef double total, scale = 1.0 / weight_sum
        cdef void* x = data_ptr(X)
        cdef void* y = data_ptr(Y)
        cdef void* w = NULL if sample_weight is None else data_ptr(sample_weight)
        cdef void* p = data_ptr(self.params)
        cdef void* g = data_ptr(self.grads)
        self._ensure_workspace(block)
        cdef void* acts = data_ptr(self._acts)
        cdef void* deltas = data_ptr(self._deltas)
        with nogil:
            if self.is_float:
                if gradient:
                    memset(g, 0, self.n_params * sizeof(float))
                total = loss_gradient_all(self.steps, self.n_steps, <float*>p, <float*>g,
                                          <float*>x, <float*>y, <float*>w, <float>scale,
                                          n, self.n_in, self.n_out, <float*>acts,
                                          <float*>deltas, block, self.max_width, gradient)
                if alpha > 0:
                    total += 0.5 * alpha * dot(<int>self.n_coef, <float*>p, <float*>p)
                    if gradient:
                        add_scaled(<float*>g, <float*>p, self.n_coef, <float>(alpha * scale))
            else:
                if gradient:
                    memset(g, 0, self.n_params * sizeof(double))
                total = loss_gradient_all(self.steps, self.n_steps, <double*>p,
                                          <double*>g, <double*>x, <double*>y, <double*>w,
                                          scale, n, self.n_in, self.n_out, <double*>acts,
                                          <double*>deltas, block, self.max_width, gradient)
                if alpha > 0:
                    total += 0.5 * alpha * dot(<int>self.n_coef, <double*>p, <double*>p)
                    if gradient:
                        add_scaled(<double*>g, <double*>p, self.n_coef, alpha * scale)
        return total * scale

    def train_epoch(self, X, Y, sample_weight, order, Py_ssize_t batch_size,
                    int optimizer, double learning_rate, double momentum, bint nesterov,
                    double beta_1, double beta_2, double epsilon, long long t,
                    state1, state2, double alpha, Py_ssize_t n_chunks=1,
                    bint by_columns=False):
        """Train on the rows ``order`` in mini-batches of ``batch_size``.

        Parameters
        ----------
        X : ndarray of shape (n, n_in)
        Y : ndarray of shape (n, n_out)
        sample_weight : ndarray of shape (n,) or None
        order : ndarray of intp, the row indices in the order to visit them
        batch_size : int, > 0
        optimizer : int
            ``OPTIMIZER_SGD`` or ``OPTIMIZER_ADAM``.
        learning_rate, momentum, nesterov, beta_1, beta_2, epsilon : optimizer settings
        t : int
            Adam's step count before this epoch.
        state1, state2 : ndarray of shape (n_params,)
            SGD velocity (state2 unused) or Adam's first and second moments.
        alpha : float
            L2 penalty strength.
        n_chunks : int, default=1
            Split each batch into this many row chunks, run on the calling thread and
            up to ``n_chunks - 1`` helper threads (data parallel).  BLAS must then be
            limited to one thread by the caller (``cymlp._threads``).  Results depend
            on ``n_chunks`` (summation order), never on which thread ran what.
        by_columns : bool, default=False
            With ``n_chunks`` > 1: split every layer by columns instead of each batch
            by rows (for batches too small to split by rows; ``run_epoch_columns``).

        Returns
        -------
        status : int
            ``EPOCH_DONE`` or ``EPOCH_DIVERGED``.

        The sums (loss, weight, batches, samples) and Adam's step count are left in
        the ``last_*`` attributes, also when a KeyboardInterrupt ends the epoch.
        """
        cdef Py_ssize_t n = order.shape[0]
        cdef Optim opt
        cdef EpochStats stats
        cdef void* x = data_ptr(X)
        cdef void* y = data_ptr(Y)
        cdef void* w = NULL if sample_weight is None else data_ptr(sample_weight)
        cdef Py_ssize_t* idx = <Py_ssize_t*>data_ptr(order)
        cdef void* p = data_ptr(self.params)
        cdef void* g = data_ptr(self.grads)
        cdef void* acts
        cdef void* deltas
        cdef void* xb
        cdef void* yb
        cdef void* wb
        opt.kind = optimizer
        opt.nesterov = nesterov
        opt.lr = learning_rate
        opt.momentum = momentum
        opt.beta1 = beta_1
        opt.beta2 = beta_2
        opt.eps = epsilon
        opt.t = t
        opt.state1 = data_ptr(state1)
        opt.state2 = data_ptr(state2)
        memset(&stats, 0, sizeof(stats))
        n_chunks = max(1, min(n_chunks, batch_size))
        try:
            if n_chunks > 1 and by_columns:
                self._train_columns(X, Y, sample_weight, idx, n, batch_size, &opt, alpha,
                                    n_chunks, &stats)
            elif n_chunks > 1:
                self._train_parallel(X, Y, sample_weight, idx, n, batch_size, &opt, alpha,
                                     n_chunks, &stats)
            else:
                self._ensure_workspace(batch_size)
                acts = data_ptr(self._acts)
                deltas = data_ptr(self._deltas)
                xb = data_ptr(self._xb)
                yb = data_ptr(self._yb)
                wb = data_ptr(self._wb)
                with nogil:
                    if self.is_float:
                        run_epoch(self.steps, self.n_steps, self.n_params, self.n_coef,
                                  self.max_width, <float*>p, <float*>g, <float*>x,
                                  <float*>y, <float*>w, idx, n, self.n_in, self.n_out,
                                  batch_size, <float*>xb, <float*>yb, <float*>wb,
                                  <float*>acts, <float*>deltas, &opt, alpha, &stats)
                    else:
                        run_epoch(self.steps, self.n_steps, self.n_params, self.n_coef,
                                  self.max_width, <double*>p, <double*>g, <double*>x,
                                  <double*>y, <double*>w, idx, n, self.n_in, self.n_out,
                                  batch_size, <double*>xb, <double*>yb, <double*>wb,
                                  <double*>acts, <double*>deltas, &opt, alpha, &stats)
        finally:
            self.last_loss_sum = stats.loss_sum
            self.last_weight_sum = stats.weight_sum
            self.last_n_batches = stats.n_batches
            self.last_n_samples = stats.n_samples
            self.last_t = opt.t
        return stats.status

    cdef _train_columns(self, X, Y, sample_weight, const Py_ssize_t* order, Py_ssize_t n,
                        Py_ssize_t batch_size, Optim* opt, double alpha,
                        Py_ssize_t n_chunks, EpochStats* stats):
        """The epoch with every layer split by columns (``run_epoch_columns``)."""
        cdef ColumnEpoch ep
        cdef bint owned
        cdef void* x = data_ptr(X)
        cdef void* y = data_ptr(Y)
        cdef void* w = NULL if sample_weight is None else data_ptr(sample_weight)
        cdef void* deltas
        cdef void* yb
        cdef void* wb
        self._ensure_workspace(batch_size)
        reserve_helpers(n_chunks - 1)
        deltas = data_ptr(self._deltas)
        yb = data_ptr(self._yb)
        wb = data_ptr(self._wb)
        ep.steps = self.steps
        ep.n_steps = self.n_steps
        ep.n_coef = self.n_coef
        ep.n_chunks = n_chunks
        ep.rows = 0
        ep.k = 0
        ep.params = data_ptr(self.params)
        ep.grads = data_ptr(self.grads)
        ep.xb = data_ptr(self._xb)
        ep.acts = data_ptr(self._acts)
        ep.d_cur = NULL
        ep.d_prev = NULL
        ep.alpha = alpha
        ep.opt = opt
        ep.penalties = <double*>malloc(n_chunks * sizeof(double))
        if ep.penalties == NULL:
            raise MemoryError()
        try:
            with nogil:
                owned = pool_acquire()
                try:
                    if self.is_float:
                        run_epoch_columns(&ep, <float*>deltas, self.max_width, <float*>x,
                                          <float*>y, <float*>w, <float*>yb, <float*>wb,
                                          order, n, batch_size, owned, opt, stats)
                    else:
                        run_epoch_columns(&ep, <double*>deltas, self.max_width, <double*>x,
                                          <double*>y, <double*>w, <double*>yb, <double*>wb,
                                          order, n, batch_size, owned, opt, stats)
                finally:
                    if owned:
                        pool_release()
        finally:
            free(ep.penalties)

    cdef _train_parallel(self, X, Y, sample_weight, const Py_ssize_t* order, Py_ssize_t n,
                         Py_ssize_t batch_size, Optim* opt, double alpha,
                         Py_ssize_t n_chunks, EpochStats* stats):
        """The epoch with each batch split into ``n_chunks`` (``run_epoch_parallel``)."""
        cdef ParallelEpoch ep
        cdef Chunk* chunks
        cdef Py_ssize_t c
        cdef bint owned
        # ceil: the largest chunk of a full batch
        self._ensure_chunk_workspace((batch_size + n_chunks - 1) // n_chunks, n_chunks)
        reserve_helpers(n_chunks - 1)
        chunks = <Chunk*>malloc(n_chunks * sizeof(Chunk))
        if chunks == NULL:
            raise MemoryError()
        memset(chunks, 0, n_chunks * sizeof(Chunk))
        for c, buffers in enumerate(self._chunk_ws):
            chunks[c].grads = data_ptr(buffers[0])
            chunks[c].xb = data_ptr(buffers[1])
            chunks[c].yb = data_ptr(buffers[2])
            chunks[c].wb = data_ptr(buffers[3])
            chunks[c].acts = data_ptr(buffers[4])
            chunks[c].deltas = data_ptr(buffers[5])
            # parameter slices on 16-element (64-byte) boundaries: no shared cache lines
            chunks[c].p0 = 0 if c == 0 else (self.n_params * c // n_chunks) // 16 * 16
            chunks[c].p1 = (self.n_params if c == n_chunks - 1 else
                            (self.n_params * (c + 1) // n_chunks) // 16 * 16)
        ep.steps = self.steps
        ep.n_steps = self.n_steps
        ep.n_params = self.n_params
        ep.n_coef = self.n_coef
        ep.max_width = self.max_width
        ep.n_in = self.n_in
        ep.n_out = self.n_out
        ep.n_chunks = n_chunks
        ep.params = data_ptr(self.params)
        ep.X = data_ptr(X)
        ep.Y = data_ptr(Y)
        ep.W = NULL if sample_weight is None else data_ptr(sample_weight)
        ep.alpha = alpha
        ep.opt = opt
        ep.chunks = chunks
        try:
            with nogil:
                owned = pool_acquire()
                try:
                    run_epoch_parallel(&ep, self.is_float, order, n, batch_size, owned,
                                       stats)
                finally:
                    if owned:
                        pool_release()
        finally:
            free(chunks)
