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

The Python layer (``network.py``) validates and converts user arrays before they get
here.  The ``Engine`` checks again, in compiled code, every array it is handed against
its own steps (type, dtype, layout, rows and columns, writability, the indices of
``order``): whatever a Python attribute says, no call can make the nogil functions
below read or write outside a buffer.  Those functions then assume C-contiguous
buffers of the engine's dtype and right shapes.

The nogil functions live in the files included below, one job each (``_predict.pxi``,
``_backprop.pxi``, ``_batches.pxi`` (what every epoch does around a batch),
``_epoch_serial.pxi``, ``_epoch_rows.pxi`` (each batch split by rows),
``_epoch_columns.pxi`` (each layer split by columns)); this file holds the shared
constants and structs and the ``Engine`` object.  Why over 800 lines: ``Engine`` is
one ``cdef class`` whose methods share its workspace and its compiled checks (about
700 lines); Cython cannot split a ``cdef class`` across files.
"""
import numpy as np

cimport numpy as cnp
from cython cimport floating
from libc.math cimport INFINITY, M_PI, cos, isfinite, pow, sqrt
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

from cymlp._blas cimport dot, gemm
from cymlp._kernels cimport (activation_derivative, adam_update, add_column_sums,
                             add_scaled, bias_activation, csr_grad, csr_matmul,
                             cymlp_keeps_input, cymlp_mix32, cymlp_output, dropout,
                             gather_rows, output_activation, output_error, row_product,
                             sgd_update)
from cymlp._pool cimport (chunk_fn, pool_acquire, pool_helpers, pool_release, pool_run,
                          thread_limit)

from cymlp._names import ACTIVATION_CODES, LOSS_CODES, MAX_BLAS_SIZE
from cymlp._pool import reserve as reserve_helpers

cnp.import_array()

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1

cdef enum:
    # Rows per block when a whole data set goes through the full gradient.
    BLOCK_ROWS = 1024
    # A prediction of n rows goes in blocks of predict_block_rows(n) rows (at most
    # this many) at fixed offsets, whatever the chunk count: float32 gemm sums in an
    # order that depends on the row count (cymlp._threads.prediction_blocks, its twin,
    # says more).
    PREDICT_BLOCK_ROWS = 1024
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

# Epoch outcomes (EpochStats.status, and train_epoch's return).  The enums are anonymous
# on purpose: Cython 3.1 exports to Python the values of anonymous cpdef enums only.
cpdef enum:
    EPOCH_DONE = 0
    EPOCH_DIVERGED = 1

# Activation codes a hidden and an output step may have (enum cymlp_activation).
HIDDEN_ACTIVATION_CODES = frozenset(ACTIVATION_CODES.values())
OUTPUT_ACTIVATION_CODES = frozenset(LOSS_CODES.values())

# Optimizer kinds and learning-rate schedules (Optim.kind, Optim.schedule): one name
# each, in C and in Python (cymlp.optimizers passes them to train_epoch).
cpdef enum:
    OPTIMIZER_SGD = 0
    OPTIMIZER_ADAM = 1
    OPTIMIZER_ADAMW = 2

cpdef enum:
    SCHEDULE_CONSTANT = 0
    SCHEDULE_COSINE = 1
    SCHEDULE_STEP = 2


cdef struct Step:
    Py_ssize_t n_in      # fan-in of the layer
    Py_ssize_t n_out     # fan-out of the layer
    Py_ssize_t w_off     # offset of W (n_in x n_out, row-major) in the flat buffer
    Py_ssize_t b_off     # offset of b (n_out) in the flat buffer
    Py_ssize_t act_off   # offset (per row) of this step's output in the workspace
    Py_ssize_t pre_off   # offset (per row) of its pre-activation U in the workspace, kept
                         # only for a hidden activation whose derivative needs U (gelu,
                         # silu: cymlp_keeps_input); -1 otherwise
    Py_ssize_t drop_off  # offset (per row) of its output after dropout (hidden steps;
                         # written and read only when a training call drops this step)
    int act              # activation code
    Py_ssize_t k_blocks  # blocks of W's rows in the small-prediction path
    bint grad_starts     # first step of its layer in backward order: writes its gradient
    bint grad_complete   # last step of its layer in backward order: gradient complete
    cymlp_output output  # the output step: its code, loss parameter and softmax groups


cdef struct Optim:
    int kind
    bint nesterov
    double lr, momentum, beta1, beta2, eps
    long long t          # Adam's step count, carried over between epochs
    int schedule         # SCHEDULE_CONSTANT, SCHEDULE_COSINE or SCHEDULE_STEP
    long long batch      # batches trained so far (the schedule's clock), carried over
    long long total      # cosine: batches in the whole schedule (warm-up included)
    long long warmup     # cosine: warm-up batches (lr rising linearly to lr)
    long long step_every # step: batches between two decays
    double gamma         # step: factor of each decay
    double weight_decay  # AdamW's decoupled weight decay (0: none)
    double step_lr       # this batch's step size (scheduled; Adam: bias-corrected)
    double step_decay    # this batch's decay factor, scheduled lr * weight_decay
    double l2            # this batch's L2 factor alpha / batch weight
    void* state1         # SGD velocity or Adam first moment (flat, like params)
    void* state2         # Adam second moment


cdef struct Dropout:
    const unsigned int* thresholds  # per step: drop an element when its hash is below
                                    # (rate * 2^32); 0: the step is not dropped
    const double* scales            # per step: 1 / (1 - rate)
    unsigned int seed
    unsigned int key                # the current batch's key (set_batch_key)


cdef struct EpochStats:
    double loss_sum      # sum over batches of batch loss * batch weight
    double penalty_sum   # the part of loss_sum that is the L2 term alpha/2 ||W||^2
    double weight_sum    # sum of the weights (or counts) of finished batches
    Py_ssize_t n_batches
    Py_ssize_t n_samples
    int status


cdef struct SparseInput:
    # A CSR input matrix, and the rows of it that the current block uses: rows
    # pick[0..rows) when pick is not NULL, else row0, row0 + 1, ...
    const void* data
    const void* indices      # int32 (idx32) or intp column indices
    bint idx32
    const Py_ssize_t* indptr
    const Py_ssize_t* pick
    Py_ssize_t row0


cdef inline SparseInput sparse_block(const SparseInput* sx, const Py_ssize_t* pick,
                                     Py_ssize_t row0) noexcept nogil:
    """``sx`` restricted to a block: its rows ``pick`` (or from ``row0`` when NULL)."""
    cdef SparseInput block = sx[0]
    block.pick = pick
    block.row0 = row0
    return block


cdef inline void* data_ptr(object array):
    return cnp.PyArray_DATA(<cnp.ndarray>array)


# The largest dimension or parameter count the engine accepts: BLAS takes 32-bit sizes
# (one limit, cymlp._names.MAX_BLAS_SIZE, which model files and Network check too).
cdef Py_ssize_t MAX_BLAS_INT = MAX_BLAS_SIZE


cdef int check_buffer(object array, str name, int typenum, int ndim, Py_ssize_t rows,
                      Py_ssize_t cols, bint writable) except -1:
    """Raise unless ``array`` is an aligned, C-contiguous ndarray of ``typenum`` in native
    byte order, with ``ndim`` dimensions, ``rows`` rows (any when -1) and, for 2-D,
    ``cols`` columns; and writable when ``writable``."""
    cdef cnp.ndarray a
    if not isinstance(array, cnp.ndarray):
        raise TypeError("%s must be a numpy array, got %s" % (name, type(array).__name__))
    a = <cnp.ndarray>array
    if cnp.PyArray_TYPE(a) != typenum or not cnp.PyArray_ISNOTSWAPPED(a):
        raise TypeError("%s has dtype %s; the engine needs %s"
                        % (name, a.dtype, np.dtype(np.float32 if typenum == cnp.NPY_FLOAT32
                                                   else np.float64 if typenum == cnp.NPY_FLOAT64
                                                   else np.intp)))
    if cnp.PyArray_NDIM(a) != ndim:
        raise ValueError("%s must have %d dimension(s), got %d" % (name, ndim, a.ndim))
    if rows >= 0 and cnp.PyArray_DIM(a, 0) != rows:
        raise ValueError("%s has %d rows, expected %d" % (name, cnp.PyArray_DIM(a, 0), rows))
    if ndim == 2 and cnp.PyArray_DIM(a, 1) != cols:
        raise ValueError("%s has %d columns, the network expects %d"
                         % (name, cnp.PyArray_DIM(a, 1), cols))
    if not cnp.PyArray_IS_C_CONTIGUOUS(a) or not cnp.PyArray_ISALIGNED(a):
        raise ValueError("%s must be an aligned, C-contiguous array" % name)
    if writable and not cnp.PyArray_ISWRITEABLE(a):
        raise ValueError("%s must be writable" % name)
    return 0


cdef bint csr_pointers_valid(const Py_ssize_t* indptr, Py_ssize_t n,
                             Py_ssize_t nnz) noexcept nogil:
    """Whether indptr[0..n] runs from 0 to nnz without decreasing."""
    cdef Py_ssize_t i
    if indptr[0] != 0 or indptr[n] != nnz:
        return False
    for i in range(n):
        if indptr[i + 1] < indptr[i]:
            return False
    return True


ctypedef fused index_t:
    int
    Py_ssize_t


cdef bint indices_in_range(const index_t* idx, Py_ssize_t n,
                           Py_ssize_t n_rows) noexcept nogil:
    """Whether every ``idx[i]`` lies in ``[0, n_rows)`` (int32 or intp indices)."""
    cdef Py_ssize_t i
    for i in range(n):
        if idx[i] < 0 or idx[i] >= n_rows:
            return False
    return True


# The compiled functions, one file per job:
include "_predict.pxi"
include "_backprop.pxi"
include "_batches.pxi"
include "_epoch_serial.pxi"
include "_epoch_rows.pxi"
include "_epoch_columns.pxi"
include "_epoch_group.pxi"


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
    cdef Py_ssize_t* group_ends
    cdef readonly Py_ssize_t n_steps, n_params, n_coef, n_in, n_out, max_width, width_sum
    cdef readonly Py_ssize_t max_k_blocks, max_out
    cdef readonly object params, grads
    cdef readonly bint is_float
    cdef int typenum
    cdef object _acts, _deltas, _xb, _yb, _wb
    cdef Py_ssize_t _ws_rows
    # the rows epoch's workspace: per chunk (grads, xb, yb, wb, acts, deltas)
    cdef list _chunk_ws
    cdef Py_ssize_t _chunk_rows
    # progress of the last train_epoch call, kept even when it was interrupted
    cdef readonly double last_loss_sum, last_penalty_sum, last_weight_sum
    cdef readonly Py_ssize_t last_n_batches, last_n_samples
    cdef readonly long long last_t, last_batch
    cdef object __weakref__

    def __cinit__(self, params, grads, steps, Py_ssize_t n_coef, *, double loss_param=0.0,
                  softmax_groups=None):
        cdef Py_ssize_t k, off = 0, n_params
        cdef int typenum
        self.steps = NULL
        self.group_ends = NULL
        steps = [tuple(step) for step in steps]
        self.n_steps = len(steps)
        if self.n_steps == 0:
            raise ValueError("a network needs at least one step")
        if not isinstance(params, cnp.ndarray):
            raise TypeError("params must be a numpy array")
        typenum = cnp.PyArray_TYPE(<cnp.ndarray>params)
        if typenum != cnp.NPY_FLOAT32 and typenum != cnp.NPY_FLOAT64:
            raise TypeError("params must be float32 or float64, got %s" % params.dtype)
        check_buffer(params, "params", typenum, 1, -1, 0, True)
        n_params = params.shape[0]
        check_buffer(grads, "grads", typenum, 1, n_params, 0, True)
        if n_params > MAX_BLAS_INT:
            raise ValueError("%d parameters: more than BLAS's 32-bit sizes allow" % n_params)
        if not 0 <= n_coef <= n_params:
            raise ValueError("n_coef=%d outside [0, %d]" % (n_coef, n_params))
        # which step uses a layer (its W offset) first and last, in one pass each way
        first_use, last_use = {}, {}
        for k in range(self.n_steps):
            if len(steps[k]) != 5:
                raise ValueError("each step is (n_in, n_out, w_offset, b_offset, "
                                 "activation_code)")
            n_in, n_out, w_off, b_off, act = steps[k]
            if not (1 <= n_in <= MAX_BLAS_INT and 1 <= n_out <= MAX_BLAS_INT):
                raise ValueError("step %d has shape (%d, %d)" % (k, n_in, n_out))
            if k and n_in != steps[k - 1][1]:
                raise ValueError("step %d has %d inputs but step %d has %d outputs"
                                 % (k, n_in, k - 1, steps[k - 1][1]))
            if w_off < 0 or w_off + n_in * n_out > n_coef:
                raise ValueError("step %d: W at %d does not fit the %d coefficients"
                                 % (k, w_off, n_coef))
            if b_off < n_coef or b_off + n_out > n_params:
                raise ValueError("step %d: b at %d does not fit the %d parameters"
                                 % (k, b_off, n_params))
            if (act not in OUTPUT_ACTIVATION_CODES if k == self.n_steps - 1
                    else act not in HIDDEN_ACTIVATION_CODES):
                raise ValueError("step %d has activation code %d, not one for a %s step"
                                 % (k, act, "output" if k == self.n_steps - 1 else "hidden"))
            first_use.setdefault(w_off, k)
            last_use[w_off] = k
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
            self.steps[k].pre_off = -1
            self.steps[k].drop_off = -1
            self.steps[k].grad_starts = last_use[w_off] == k
            self.steps[k].grad_complete = first_use[w_off] == k
            off += n_out
            self.max_width = max(self.max_width, n_in, n_out)
        # the pre-activations kept for the backward pass go after every output, then the
        # dropped outputs (allocated, never touched unless a training call drops)
        for k in range(self.n_steps - 1):
            if cymlp_keeps_input(self.steps[k].act):
                self.steps[k].pre_off = off
                off += self.steps[k].n_out
        for k in range(self.n_steps - 1):
            self.steps[k].drop_off = off
            off += self.steps[k].n_out
        self.width_sum = off
        self.n_in = self.steps[0].n_in
        self.n_out = self.steps[self.n_steps - 1].n_out
        self._set_output(loss_param, softmax_groups)
        self.params = params
        self.grads = grads
        self.n_params = n_params
        self.n_coef = n_coef
        self.is_float = typenum == cnp.NPY_FLOAT32
        self.typenum = typenum
        self.max_k_blocks = 1
        self.max_out = 0
        for k in range(self.n_steps):
            self.max_out = max(self.max_out, self.steps[k].n_out)
            self.steps[k].k_blocks = k_blocks(&self.steps[k], 4 if self.is_float else 8)
            self.max_k_blocks = max(self.max_k_blocks, self.steps[k].k_blocks)
        self._ws_rows = 0
        self._chunk_ws = []
        self._chunk_rows = 0

    cdef _set_output(self, double loss_param, softmax_groups):
        """The output step's loss parameter and softmax column groups (sizes)."""
        cdef Step* last = &self.steps[self.n_steps - 1]
        cdef Py_ssize_t g, end = 0
        if not isfinite(loss_param):
            raise ValueError("loss_param must be finite")
        last.output.code = last.act
        last.output.param = loss_param
        last.output.group_ends = NULL
        last.output.n_groups = 0
        if softmax_groups is None:
            return
        sizes = [int(size) for size in softmax_groups]
        if last.act != LOSS_CODES["log_loss"]:   # the softmax output
            raise ValueError("softmax_groups needs a softmax output")
        if not sizes or min(sizes) < 1 or sum(sizes) != self.n_out:
            raise ValueError("softmax_groups %s must be positive sizes summing to the "
                             "%d outputs" % (sizes, self.n_out))
        self.group_ends = <Py_ssize_t*>malloc(len(sizes) * sizeof(Py_ssize_t))
        if self.group_ends == NULL:
            raise MemoryError()
        for g, size in enumerate(sizes):
            end += size
            self.group_ends[g] = end
        last.output.group_ends = self.group_ends
        last.output.n_groups = len(sizes)

    def __dealloc__(self):
        free(self.steps)
        free(self.group_ends)

    @property
    def workspace_bytes(self):
        """Bytes held by the training workspace (0 before the first training call)."""
        arrays = [self._acts, self._deltas, self._xb, self._yb, self._wb]
        for k, buffers in enumerate(self._chunk_ws):
            # chunk 0 accumulates into the engine's own gradient buffer
            arrays += buffers[1:] if k == 0 else buffers
        return sum(a.nbytes for a in arrays if a is not None)

    cdef _ensure_workspace(self, Py_ssize_t rows, bint dense=True):
        """Allocate the workspace for blocks of ``rows`` rows, unless it is big enough;
        the buffer for gathered input rows only for a ``dense`` input (a CSR input is
        read in place)."""
        dtype = self.params.dtype
        if rows > self._ws_rows:
            self._acts = np.empty(rows * self.width_sum, dtype=dtype)
            self._deltas = np.empty(2 * rows * self.max_width, dtype=dtype)
            self._yb = np.empty(rows * self.n_out, dtype=dtype)
            self._wb = np.empty(rows, dtype=dtype)
            self._ws_rows = rows
        if self._xb is None or (dense and self._xb.shape[0] < rows * self.n_in):
            self._xb = np.empty(rows * self.n_in if dense else 1, dtype=dtype)

    cdef _ensure_chunk_workspace(self, Py_ssize_t rows, Py_ssize_t n_chunks,
                                 bint dense=True):
        """Allocate per-chunk buffers for ``n_chunks`` chunks of up to ``rows`` rows (the
        gathered input rows only for a ``dense`` input)."""
        if (n_chunks == len(self._chunk_ws) and rows <= self._chunk_rows
                and (not dense or self._chunk_ws[0][1].shape[0] >= rows * self.n_in)):
            return
        self._chunk_ws = []   # free the old buffers first
        dtype = self.params.dtype
        for k in range(n_chunks):
            self._chunk_ws.append((
                self.grads if k == 0 else np.zeros(self.n_params, dtype=dtype),
                np.empty(rows * self.n_in if dense else 1, dtype=dtype),
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
        X : ndarray of shape (n, n_in), the engine's dtype, C-contiguous, or CSR
            ``(data, indices, indptr)`` (see ``_input``; no latency path)
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
        cdef SparseInput sx
        cdef void* x
        cdef bint owned
        cdef int status, threads = 1
        cdef Py_ssize_t n
        cdef cnp.npy_intp dims[2]
        n = self._input(X, &sx, &x)
        if out is None:
            dims[0] = n
            dims[1] = self.n_out
            out = cnp.PyArray_EMPTY(2, dims, self.typenum, 0)
        else:
            check_buffer(out, "out", self.typenum, 2, n, self.n_out, True)
        cdef void* o = data_ptr(out)
        cdef void* p = data_ptr(self.params)
        if n == 0:
            return out
        if n < SMALL_ROWS and x != NULL:
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
        job.block_rows = predict_block_rows(n)
        job.params = p
        job.X = x
        job.sx = &sx if x == NULL else NULL
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

    cdef object _dropout(self, rates, unsigned long long seed, Dropout* drop):
        """Fill ``drop`` from per-step dropout ``rates`` (None: none); return the arrays
        it points into (the caller keeps them alive), or None when nothing is dropped."""
        cdef unsigned int high
        if rates is None:
            return None
        rates = np.asarray(rates, dtype=np.float64)
        if rates.shape != (self.n_steps,):
            raise ValueError("dropout needs one rate per step (%d), got shape %s"
                             % (self.n_steps, rates.shape))
        if not (np.isfinite(rates).all() and (rates >= 0).all() and (rates < 1).all()):
            raise ValueError("dropout rates must be in [0, 1), got %s" % rates)
        if rates[self.n_steps - 1] != 0:
            raise ValueError("the output step cannot be dropped")
        if not rates.any():
            return None
        thresholds = np.where(rates > 0, np.clip(np.round(rates * 2.0 ** 32), 1,
                                                 2.0 ** 32 - 1), 0).astype(np.uint32)
        scales = np.ascontiguousarray(1.0 / (1.0 - rates))
        drop.thresholds = <const unsigned int*>cnp.PyArray_DATA(thresholds)
        drop.scales = <const double*>cnp.PyArray_DATA(scales)
        # the masks are keyed by 32 bits: fold the high half in (a seed below 2^32
        # keys itself), so that seeds apart by a multiple of 2^32 draw other masks
        high = <unsigned int>(seed >> 32)
        drop.seed = <unsigned int>(seed & 0xFFFFFFFFu)
        if high:
            drop.seed ^= cymlp_mix32(high + 0x2545F491u)
        drop.key = 0
        return thresholds, scales

    def loss_gradient(self, X, Y, sample_weight, double weight_sum, double alpha,
                      bint gradient, dropout=None, unsigned long long dropout_seed=0,
                      long long dropout_batch=0):
        """Mean loss over all rows plus the L2 penalty; optionally its gradient.

        ``loss = (sum_i w_i L_i + alpha/2 ||W||^2) / weight_sum``; with ``gradient`` the
        gradient of that loss is written to ``grads`` (overwriting it).

        Parameters
        ----------
        X : ndarray of shape (n, n_in), or CSR ``(data, indices, indptr)``
        Y : ndarray of shape (n, n_out)
        sample_weight : ndarray of shape (n,) or None
        weight_sum : float
            ``sum_i w_i`` (n without weights), > 0.
        alpha : float
            L2 penalty strength.
        gradient : bool
            Whether to compute the gradient.
        dropout, dropout_seed : as for ``train_epoch``
            With rates, every row's outputs are masked as row i of batch
            ``dropout_batch`` is: a fixed mask (to check gradients against finite
            differences).
        dropout_batch : int, default=0

        Returns
        -------
        float
        """
        cdef Dropout drop
        drop_arrays = self._dropout(dropout, dropout_seed, &drop)
        cdef Dropout* dropp = &drop if drop_arrays is not None else NULL
        set_batch_key(dropp, dropout_batch)
        cdef SparseInput sx
        cdef void* x
        cdef Py_ssize_t n = self._check_data(X, Y, sample_weight, &sx, &x)
        cdef const SparseInput* sxp = &sx if x == NULL else NULL
        if not weight_sum > 0 or not isfinite(weight_sum):
            raise ValueError("weight_sum must be a finite number > 0, got %r" % weight_sum)
        cdef Py_ssize_t block = n if n < BLOCK_ROWS else BLOCK_ROWS
        cdef double total, scale = 1.0 / weight_sum
        cdef void* y = data_ptr(Y)
        cdef void* w = NULL if sample_weight is None else data_ptr(sample_weight)
        cdef void* p = data_ptr(self.params)
        cdef void* g = data_ptr(self.grads)
        self._ensure_workspace(block, x != NULL)
        cdef void* acts = data_ptr(self._acts)
        cdef void* deltas = data_ptr(self._deltas)
        with nogil:
            if self.is_float:
                if gradient:
                    memset(g, 0, self.n_params * sizeof(float))
                total = loss_gradient_all(self.steps, self.n_steps, <float*>p, <float*>g,
                                          <float*>x, sxp, <float*>y, <float*>w, <float>scale,
                                          n, self.n_in, self.n_out, <float*>acts,
                                          <float*>deltas, block, self.max_width, gradient,
                                          dropp)
                if alpha > 0:
                    total += 0.5 * alpha * dot(<int>self.n_coef, <float*>p, <float*>p)
                    if gradient:
                        add_scaled(<float*>g, <float*>p, self.n_coef, <float>(alpha * scale))
            else:
                if gradient:
                    memset(g, 0, self.n_params * sizeof(double))
                total = loss_gradient_all(self.steps, self.n_steps, <double*>p,
                                          <double*>g, <double*>x, sxp, <double*>y,
                                          <double*>w, scale, n, self.n_in, self.n_out, <double*>acts,
                                          <double*>deltas, block, self.max_width, gradient,
                                          dropp)
                if alpha > 0:
                    total += 0.5 * alpha * dot(<int>self.n_coef, <double*>p, <double*>p)
                    if gradient:
                        add_scaled(<double*>g, <double*>p, self.n_coef, alpha * scale)
        return total * scale

    def train_epoch(self, X, Y, sample_weight, order, Py_ssize_t batch_size,
                    int optimizer, double learning_rate, double momentum, bint nesterov,
                    double beta_1, double beta_2, double epsilon, long long t,
                    state1, state2, double alpha, Py_ssize_t n_chunks=1,
                    bint by_columns=False, *, int schedule=SCHEDULE_CONSTANT,
                    long long batch=0, long long total=0, long long warmup=0,
                    long long step_every=1, double gamma=1.0, double weight_decay=0.0,
                    dropout=None, unsigned long long dropout_seed=0):
        """Train on the rows ``order`` in mini-batches of ``batch_size``.

        Parameters
        ----------
        X : ndarray of shape (n, n_in)
        Y : ndarray of shape (n, n_out)
        sample_weight : ndarray of shape (n,) or None
        order : ndarray of intp, the row indices in the order to visit them
        batch_size : int, > 0
        optimizer : int
            ``OPTIMIZER_SGD``, ``OPTIMIZER_ADAM`` or ``OPTIMIZER_ADAMW``.
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
        schedule : int, default=SCHEDULE_CONSTANT
            ``SCHEDULE_COSINE``: warm-up over ``warmup`` batches, then cosine decay to 0
            at batch ``total``; ``SCHEDULE_STEP``: times ``gamma`` every ``step_every``
            batches (``scheduled_lr``).
        batch : int, default=0
            Batches trained before this epoch (the schedule's clock).
        total, warmup, step_every, gamma : the schedule's lengths and factor
        weight_decay : float, default=0
            AdamW's decoupled weight decay (``OPTIMIZER_ADAMW`` only).
        dropout : ndarray of shape (n_steps,), optional
            Inverted-dropout rate of each step's output, in [0, 1) (0 for the output
            step); the masks of batch b come from ``dropout_seed`` and b, the optimizer's
            batch count (dropout.h).
        dropout_seed : int, default=0

        Returns
        -------
        status : int
            ``EPOCH_DONE`` or ``EPOCH_DIVERGED``.

        The sums (loss, its L2 part, weight, batches, samples), Adam's step count and the
        schedule's batch count are left in the ``last_*`` attributes, also when a
        KeyboardInterrupt ends the epoch.
        """
        cdef SparseInput sx
        cdef void* x
        cdef Py_ssize_t n_rows = self._check_data(X, Y, sample_weight, &sx, &x)
        cdef const SparseInput* sxp = &sx if x == NULL else NULL
        check_buffer(order, "order", cnp.NPY_INTP, 1, -1, 0, False)
        cdef Py_ssize_t n = order.shape[0]
        if n == 0:
            raise ValueError("order is empty")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1, got %d" % batch_size)
        if not self._order_in_range(order, n_rows):
            raise ValueError("order has indices outside [0, %d)" % n_rows)
        cdef Optim opt
        set_optim(&opt, self.typenum, self.n_params, optimizer, learning_rate, momentum,
                  nesterov, beta_1, beta_2, epsilon, t, state1, state2, schedule, batch,
                  total, warmup, step_every, gamma, weight_decay)
        cdef EpochStats stats
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
        cdef Dropout drop
        drop_arrays = self._dropout(dropout, dropout_seed, &drop)
        cdef Dropout* dropp = &drop if drop_arrays is not None else NULL
        memset(&stats, 0, sizeof(stats))
        n_chunks = max(1, min(n_chunks, batch_size))
        try:
            if n_chunks > 1 and by_columns:
                self._train_columns(x, sxp, Y, sample_weight, idx, n, batch_size, &opt,
                                    alpha, n_chunks, dropp, &stats)
            elif n_chunks > 1:
                self._train_rows(x, sxp, Y, sample_weight, idx, n, batch_size, &opt,
                                     alpha, n_chunks, dropp, &stats)
            else:
                self._ensure_workspace(batch_size, x != NULL)
                acts = data_ptr(self._acts)
                deltas = data_ptr(self._deltas)
                xb = data_ptr(self._xb)
                yb = data_ptr(self._yb)
                wb = data_ptr(self._wb)
                with nogil:
                    if self.is_float:
                        run_epoch(self.steps, self.n_steps, self.n_params, self.n_coef,
                                  self.max_width, <float*>p, <float*>g, <float*>x, sxp,
                                  <float*>y, <float*>w, idx, n, self.n_in, self.n_out,
                                  batch_size, <float*>xb, <float*>yb, <float*>wb,
                                  <float*>acts, <float*>deltas, &opt, alpha, dropp, &stats)
                    else:
                        run_epoch(self.steps, self.n_steps, self.n_params, self.n_coef,
                                  self.max_width, <double*>p, <double*>g, <double*>x,
                                  sxp, <double*>y, <double*>w, idx, n, self.n_in,
                                  self.n_out,
                                  batch_size, <double*>xb, <double*>yb, <double*>wb,
                                  <double*>acts, <double*>deltas, &opt, alpha, dropp,
                                  &stats)
        finally:
            self.last_loss_sum = stats.loss_sum
            self.last_penalty_sum = stats.penalty_sum
            self.last_weight_sum = stats.weight_sum
            self.last_n_batches = stats.n_batches
            self.last_n_samples = stats.n_samples
            self.last_t = opt.t
            self.last_batch = opt.batch
        return stats.status

    cdef Py_ssize_t _input(self, X, SparseInput* sx, void** x) except -1:
        """Check the input X against the network; return its row count.

        X is a dense (n, n_in) array of the engine's dtype (``*x`` := its data), or a CSR
        matrix as ``(data, indices, indptr)``: data of the engine's dtype, indices int32
        or intp, indptr intp, all C-contiguous, indptr of n + 1 entries from 0 to len(data),
        non-decreasing, every index in [0, n_in) (checked here, in one pass; ``*x`` :=
        NULL, ``sx`` describes it)."""
        cdef Py_ssize_t n, nnz
        cdef bint ok
        if not isinstance(X, tuple):
            check_buffer(X, "X", self.typenum, 2, -1, self.n_in, False)
            x[0] = data_ptr(X)
            return cnp.PyArray_DIM(<cnp.ndarray>X, 0)
        if len(X) != 3:
            raise ValueError("a CSR input is (data, indices, indptr), got %d arrays" % len(X))
        data, indices, indptr = X
        check_buffer(data, "X.data", self.typenum, 1, -1, 0, False)
        nnz = cnp.PyArray_DIM(<cnp.ndarray>data, 0)
        sx.idx32 = (isinstance(indices, cnp.ndarray)
                    and cnp.PyArray_TYPE(<cnp.ndarray>indices) == cnp.NPY_INT32)
        check_buffer(indices, "X.indices", cnp.NPY_INT32 if sx.idx32 else cnp.NPY_INTP, 1,
                     nnz, 0, False)
        check_buffer(indptr, "X.indptr", cnp.NPY_INTP, 1, -1, 0, False)
        n = cnp.PyArray_DIM(<cnp.ndarray>indptr, 0) - 1
        if n < 0:
            raise ValueError("X.indptr is empty")
        sx.data = data_ptr(data)
        sx.indices = data_ptr(indices)
        sx.indptr = <const Py_ssize_t*>data_ptr(indptr)
        sx.pick = NULL
        sx.row0 = 0
        with nogil:
            ok = (csr_pointers_valid(sx.indptr, n, nnz)
                  and (indices_in_range(<const int*>sx.indices, nnz, self.n_in)
                       if sx.idx32 else
                       indices_in_range(<const Py_ssize_t*>sx.indices, nnz, self.n_in)))
        if not ok:
            raise ValueError("X is not a valid CSR matrix of %d columns (indptr must run "
                             "from 0 to %d without decreasing, indices lie in [0, %d))"
                             % (self.n_in, nnz, self.n_in))
        x[0] = NULL
        return n

    cdef Py_ssize_t _check_data(self, X, Y, sample_weight, SparseInput* sx,
                                void** x) except -1:
        """Raise unless X (see ``_input``), Y and the sample weights fit the network and
        each other; return the row count."""
        cdef Py_ssize_t n = self._input(X, sx, x)
        if n == 0:
            raise ValueError("X has no rows")
        check_buffer(Y, "Y", self.typenum, 2, n, self.n_out, False)
        if sample_weight is not None:
            check_buffer(sample_weight, "sample_weight", self.typenum, 1, n, 0, False)
        return n

    cdef bint _order_in_range(self, order, Py_ssize_t n_rows):
        """Whether every index of ``order`` (checked intp, 1-D) is a row of X."""
        cdef const Py_ssize_t* idx = <const Py_ssize_t*>data_ptr(order)
        cdef Py_ssize_t n = order.shape[0]
        cdef bint ok
        with nogil:
            ok = indices_in_range(idx, n, n_rows)
        return ok

    cdef _train_columns(self, void* x, const SparseInput* sx, Y, sample_weight,
                        const Py_ssize_t* order, Py_ssize_t n, Py_ssize_t batch_size,
                        Optim* opt, double alpha, Py_ssize_t n_chunks, Dropout* drop,
                        EpochStats* stats):
        """The epoch with every layer split by columns (``run_epoch_columns``); the input
        is dense ``x`` or the CSR ``sx``."""
        cdef ColumnEpoch ep
        cdef bint owned
        cdef void* y = data_ptr(Y)
        cdef void* w = NULL if sample_weight is None else data_ptr(sample_weight)
        cdef void* deltas
        cdef void* yb
        cdef void* wb
        self._ensure_workspace(batch_size, x != NULL)
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
        ep.sx = NULL
        ep.acts = data_ptr(self._acts)
        ep.d_cur = NULL
        ep.d_prev = NULL
        ep.alpha = alpha
        ep.opt = opt
        ep.drop = drop
        ep.penalties = <double*>malloc(n_chunks * sizeof(double))
        if ep.penalties == NULL:
            raise MemoryError()
        try:
            with nogil:
                owned = pool_acquire()
                try:
                    if self.is_float:
                        run_epoch_columns(&ep, <float*>deltas, self.max_width, <float*>x,
                                          sx, <float*>y, <float*>w, <float*>yb, <float*>wb,
                                          order, n, batch_size, owned, opt, stats)
                    else:
                        run_epoch_columns(&ep, <double*>deltas, self.max_width, <double*>x,
                                          sx, <double*>y, <double*>w, <double*>yb, <double*>wb,
                                          order, n, batch_size, owned, opt, stats)
                finally:
                    if owned:
                        pool_release()
        finally:
            free(ep.penalties)

    cdef _train_rows(self, void* x, const SparseInput* sx, Y, sample_weight,
                     const Py_ssize_t* order, Py_ssize_t n, Py_ssize_t batch_size,
                     Optim* opt, double alpha, Py_ssize_t n_chunks, Dropout* drop,
                     EpochStats* stats):
        """The epoch with each batch split into ``n_chunks`` (``run_epoch_rows``); the
        input is dense ``x`` or the CSR ``sx``."""
        cdef RowsEpoch ep
        cdef Chunk* chunks
        cdef Py_ssize_t c
        cdef bint owned
        # ceil: the largest chunk of a full batch
        self._ensure_chunk_workspace((batch_size + n_chunks - 1) // n_chunks, n_chunks,
                                     x != NULL)
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
        ep.X = x
        ep.sx = sx
        ep.Y = data_ptr(Y)
        ep.W = NULL if sample_weight is None else data_ptr(sample_weight)
        ep.alpha = alpha
        ep.opt = opt
        ep.drop = drop
        ep.chunks = chunks
        try:
            with nogil:
                owned = pool_acquire()
                try:
                    run_epoch_rows(&ep, self.is_float, order, n, batch_size, owned,
                                       stats)
                finally:
                    if owned:
                        pool_release()
        finally:
            free(chunks)


# -- the group epoch's entry (its compiled loop is _epoch_group.pxi) ------------------

include "_group_entry.pxi"
