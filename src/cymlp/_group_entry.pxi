# Part of _engine.pyx (textually included at its end: it uses the Engine class).  The
# Python-facing call of the group epoch (_epoch_group.pxi).

cdef int check_group_member(Engine e, Engine first) except -1:
    """Raise unless engine ``e`` can train in a group led by ``first``: same dtype,
    input, first-layer and output widths, at least two steps, no layer used twice, the
    first layer's W at the start of the flat buffer."""
    cdef Py_ssize_t k
    if e.typenum != first.typenum:
        raise TypeError("the networks of a group must share one dtype")
    if (e.n_in != first.n_in or e.n_out != first.n_out
            or e.steps[0].n_out != first.steps[0].n_out):
        raise ValueError("the networks of a group must share their input, first hidden "
                         "and output widths")
    if e.n_steps < 2:
        raise ValueError("a network trained in a group needs a hidden layer")
    if e.steps[0].w_off != 0:
        raise ValueError("the first layer's coefficients must start the flat buffer")
    for k in range(e.n_steps):
        if not (e.steps[k].grad_starts and e.steps[k].grad_complete):
            raise ValueError("a network trained in a group cannot use a layer twice")
    return 0


cdef int fill_optim(Optim* opt, Engine e, tuple args, dict kwargs) except -1:
    """``set_optim`` from ``Engine.train_epoch``'s optimizer arguments and schedule
    keywords (an optimizer's ``engine_args()`` and ``engine_kwargs()``)."""
    schedule = dict(schedule=SCHEDULE_CONSTANT, batch=0, total=0, warmup=0, step_every=1,
                    gamma=1.0, weight_decay=0.0)
    unknown = set(kwargs) - set(schedule)
    if unknown or len(args) != 10:
        raise TypeError("an optimizer's arguments are 10 values and the keywords %s; got "
                        "%d values and %s" % (sorted(schedule), len(args), sorted(kwargs)))
    schedule.update(kwargs)
    return set_optim(opt, e.typenum, e.n_params, args[0], args[1], args[2], args[3],
                     args[4], args[5], args[6], args[7], args[8], args[9],
                     schedule["schedule"], schedule["batch"], schedule["total"],
                     schedule["warmup"], schedule["step_every"], schedule["gamma"],
                     schedule["weight_decay"])


def train_group_epoch(list engines, X, Y, sample_weight, order, Py_ssize_t batch_size,
                      list optimizers, alphas, Py_ssize_t n_subgroups=1,
                      Py_ssize_t n_threads=1):
    """Train several networks one epoch side by side on the same batches.

    Each network takes the steps its own ``Engine.train_epoch`` would take on these
    batches, with its own optimizer, schedule and L2 strength; only the first layer's
    forward product and weight gradient are computed for the whole group at once (one
    gemm each over the stacked weights, ``_epoch_group.pxi``), which changes their
    rounding only.  A network whose loss stops being finite stops there (status
    ``EPOCH_DIVERGED``, untouched by that batch); the others go on.

    Parameters
    ----------
    engines : list of Engine
        At least one; same dtype, input, first hidden and output widths, a hidden
        layer, no layer used twice.  No engine may appear twice.
    X : ndarray of shape (n, n_in)
        Dense input rows, shared by all.
    Y : ndarray of shape (n, n_out)
    sample_weight : ndarray of shape (n,) or None
    order : ndarray of intp
        The row indices in the order to visit them.
    batch_size : int, > 0
    optimizers : list of (tuple, dict)
        Per engine, ``Engine.train_epoch``'s optimizer arguments (optimizer code up to
        state2) and its schedule keywords (``schedule`` .. ``weight_decay``).
    alphas : sequence of float
        Per engine, the L2 strength.
    n_subgroups : int, default=1
        Cut the engines into this many subgroups of consecutive engines (as even as
        possible), each with its own stack.  Results depend on the cut, never on which
        thread ran what.
    n_threads : int, default=1
        Run the subgroups on the caller and up to ``n_threads - 1`` helper threads,
        thread t taking subgroups t, t + n_threads, ...  (BLAS must then be held at one
        thread by the caller, ``cymlp._threads``).

    Returns
    -------
    list of int
        Per engine, ``EPOCH_DONE`` or ``EPOCH_DIVERGED``.  Each engine's ``last_*``
        attributes hold its epoch's sums, Adam's step count and the schedule's batch
        count, also when a KeyboardInterrupt ends the epoch (each engine then holds the
        parameters of its last finished batch).
    """
    cdef Py_ssize_t G = len(engines), g, c, j, n_rows, n, h1, n_in, width
    if G == 0:
        raise ValueError("a group needs at least one network")
    if len(optimizers) != G or len(alphas) != G:
        raise ValueError("one optimizer and one alpha per network are needed")
    if len(set(map(id, engines))) != G:
        raise ValueError("a network appears twice in the group")
    cdef Engine first = <Engine?>engines[0]
    cdef Engine e
    for g in range(G):
        check_group_member(<Engine?>engines[g], first)
    cdef SparseInput sx
    cdef void* x
    n_rows = first._check_data(X, Y, sample_weight, &sx, &x)
    if x == NULL:
        raise TypeError("a group trains on dense input only")
    check_buffer(order, "order", cnp.NPY_INTP, 1, -1, 0, False)
    n = order.shape[0]
    if n == 0:
        raise ValueError("order is empty")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1, got %d" % batch_size)
    if not first._order_in_range(order, n_rows):
        raise ValueError("order has indices outside [0, %d)" % n_rows)
    batch_size = min(batch_size, n)
    n_subgroups = max(1, min(n_subgroups, G))
    n_threads = max(1, min(n_threads, n_subgroups))
    n_in = first.n_in
    h1 = first.steps[0].n_out
    dtype = first.params.dtype

    cdef Member* members = <Member*>malloc(G * sizeof(Member))
    cdef Subgroup* subgroups = <Subgroup*>malloc(n_subgroups * sizeof(Subgroup))
    if members == NULL or subgroups == NULL:
        free(members)
        free(subgroups)
        raise MemoryError()
    memset(members, 0, G * sizeof(Member))
    cdef GroupBatch gb
    cdef bint owned = False
    cdef void* y
    cdef void* w
    cdef void* xbp
    cdef void* ybp
    cdef void* wbp
    cdef const Py_ssize_t* idx
    cdef Py_ssize_t check_every
    cdef double alpha
    stacks = []          # per subgroup: S, dS, M1, V1, Z, D and its engines
    try:
        for g in range(G):
            e = <Engine>engines[g]
            args, kwargs = optimizers[g]
            alpha = float(alphas[g])
            if not (0 <= alpha < INFINITY):
                raise ValueError("alpha must be finite and >= 0, got %r" % alpha)
            fill_optim(&members[g].opt, e, args, kwargs)
            members[g].alpha = alpha
            e._ensure_workspace(batch_size, True)
            members[g].steps = e.steps
            members[g].n_steps = e.n_steps
            members[g].n_coef = e.n_coef
            members[g].max_width = e.max_width
            members[g].params = data_ptr(e.params)
            members[g].grads = data_ptr(e.grads)
            members[g].acts = data_ptr(e._acts)
            members[g].deltas = data_ptr(e._deltas)
            members[g].active = True
        # the stacks: member g's block of subgroup c is columns j h1 .. (j + 1) h1
        for c in range(n_subgroups):
            lo, hi = G * c // n_subgroups, G * (c + 1) // n_subgroups
            width = (hi - lo) * h1
            S, M1, V1 = (np.empty((n_in, hi - lo, h1), dtype=dtype) for _ in range(3))
            for j in range(hi - lo):
                e = <Engine>engines[lo + j]
                args = optimizers[lo + j][0]
                S[:, j, :] = e.params[:n_in * h1].reshape(n_in, h1)
                M1[:, j, :] = args[8][:n_in * h1].reshape(n_in, h1)
                V1[:, j, :] = args[9][:n_in * h1].reshape(n_in, h1)
                members[lo + j].col = j * h1
            dS = np.empty((n_in, width), dtype=dtype)
            Z = np.empty((batch_size, width), dtype=dtype)
            D = np.empty((batch_size, width), dtype=dtype)
            stacks.append((S, M1, V1, dS, Z, D, lo, hi))
            subgroups[c].members = &members[lo]
            subgroups[c].n_members = hi - lo
            subgroups[c].width = width
            subgroups[c].S = data_ptr(S)
            subgroups[c].M1 = data_ptr(M1)
            subgroups[c].V1 = data_ptr(V1)
            subgroups[c].dS = data_ptr(dS)
            subgroups[c].Z = data_ptr(Z)
            subgroups[c].D = data_ptr(D)
        xb = np.empty(batch_size * n_in, dtype=dtype)
        yb = np.empty(batch_size * first.n_out, dtype=dtype)
        wb = np.empty(batch_size, dtype=dtype)
        gb.subgroups = subgroups
        gb.n_in = n_in
        gb.n_out = first.n_out
        gb.h1 = h1
        gb.is_float = first.is_float
        gb.n_subgroups = n_subgroups
        gb.n_threads = n_threads
        if n_threads > 1:
            reserve_helpers(n_threads - 1)
        check_every = SIGNAL_CHECK_WORK // (G * first.n_params * batch_size + 1) + 1
        y = data_ptr(Y)
        w = NULL if sample_weight is None else data_ptr(sample_weight)
        idx = <const Py_ssize_t*>data_ptr(order)
        xbp = data_ptr(xb)
        ybp = data_ptr(yb)
        wbp = data_ptr(wb)
        try:
            with nogil:
                if n_threads > 1:
                    owned = pool_acquire()
                try:
                    if gb.is_float:
                        run_group_epoch(&gb, members, G, owned,
                                        <const float*>x, <const float*>y, <const float*>w,
                                        idx, n, batch_size, <float*>xbp, <float*>ybp,
                                        <float*>wbp, check_every)
                    else:
                        run_group_epoch(&gb, members, G, owned,
                                        <const double*>x, <const double*>y,
                                        <const double*>w, idx, n, batch_size,
                                        <double*>xbp, <double*>ybp, <double*>wbp,
                                        check_every)
                finally:
                    if owned:
                        pool_release()
        finally:
            # every member's first layer and its optimizer states back home, and its sums
            for S, M1, V1, dS, Z, D, lo, hi in stacks:
                for j in range(hi - lo):
                    e = <Engine>engines[lo + j]
                    args = optimizers[lo + j][0]
                    e.params[:n_in * h1] = S[:, j, :].reshape(-1)
                    args[8][:n_in * h1] = M1[:, j, :].reshape(-1)
                    args[9][:n_in * h1] = V1[:, j, :].reshape(-1)
            for g in range(G):
                e = <Engine>engines[g]
                e.last_loss_sum = members[g].stats.loss_sum
                e.last_penalty_sum = members[g].stats.penalty_sum
                e.last_weight_sum = members[g].stats.weight_sum
                e.last_n_batches = members[g].stats.n_batches
                e.last_n_samples = members[g].stats.n_samples
                e.last_t = members[g].opt.t
                e.last_batch = members[g].opt.batch
        return [members[g].stats.status for g in range(G)]
    finally:
        free(members)
        free(subgroups)
