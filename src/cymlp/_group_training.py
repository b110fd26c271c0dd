"""Several networks trained one epoch side by side on the same batches.

A model search trains many candidates of one shape on the same rows in the same order.
``train_group_epoch`` runs such an epoch for all of them at once in compiled code
(``cymlp._engine.train_group_epoch``): the batch is gathered once, the first layer's
forward product and weight gradient are one gemm each over the stacked weights of the
whole group, and every network keeps its own later layers, loss, optimizer, schedule and
L2 strength.  Each network ends where its own ``Network.train_epoch`` would end, to the
rounding of those two products.
"""
import contextlib
import math

from cymlp._engine import train_group_epoch as _engine_group_epoch
from cymlp._threads import group_plan
from cymlp._validation import CSRRows
from cymlp.network import DivergenceError, EpochResult, Network, epoch_outcome


# Members are stacked until their first layers are this many columns wide: narrower
# products run below the GEMM rate a wider one reaches, wider ones gain nothing.
# Measured, 8 networks on 6,667 rows of 784 inputs, 2 threads, seconds per epoch:
# - 200 units, batch 200: 0.216 as 8 stacks of one, 0.227-0.233 as 2 stacks of 4;
# - 64 units, batch 64: 0.075 as 2 stacks of 4, 0.079 as 8 stacks of one, and 0.118
#   one network after the other (each batch split over the 2 threads).
STACK_COLUMNS = 256


def subgroup_count(n_members, width, n_threads):
    """How many subgroups to cut ``n_members`` networks of first-layer ``width`` into:
    stacks of about ``STACK_COLUMNS`` columns, at least one per thread."""
    per_stack = max(1, STACK_COLUMNS // width)
    return max(min(n_threads, n_members), math.ceil(n_members / per_stack))


def groupable(networks):
    """Whether ``networks`` can train as one group: at least two distinct networks of one
    dtype with the same input, first hidden and output widths, a hidden layer each and
    no layer used twice.

    Parameters
    ----------
    networks : sequence of Network

    Returns
    -------
    bool
    """
    if len(networks) < 2 or len(set(map(id, networks))) != len(networks):
        return False
    first = networks[0]
    for net in networks:
        if (not isinstance(net, Network) or net.dtype != first.dtype
                or len(net.layers) < 2 or net.step_layers != list(range(len(net.layers)))
                or net.layers[0].n_in != first.layers[0].n_in
                or net.layers[0].n_out != first.layers[0].n_out
                or net.layers[-1].n_out != first.layers[-1].n_out):
            return False
    return True


def train_group_epoch(networks, X, Y, optimizers, batch_size, order, sample_weight,
                      alphas, n_subgroups=None):
    """Train ``networks`` one epoch side by side on the batches of ``order``.

    Parameters
    ----------
    networks : list of Network
        ``groupable`` ones.
    X : ndarray of shape (n_samples, n_inputs)
        Dense, C-contiguous, of the networks' dtype (as ``Network.check_xy`` returns).
    Y : ndarray of shape (n_samples, n_outputs)
        The targets, checked likewise.
    optimizers : list of SGD, Adam or AdamW
        One per network, each keeping its state between calls.
    batch_size : int
    order : ndarray of intp
        The rows in the order to visit them.
    sample_weight : ndarray of shape (n_samples,) or None
    alphas : list of float
        One L2 strength per network.
    n_subgroups : int, optional
        How many stacks to cut the networks into (default ``subgroup_count``).

    Returns
    -------
    list of EpochResult or DivergenceError
        Per network: its epoch's figures, or, when its loss stopped being finite, the
        error its own ``train_epoch`` would raise (its ``result`` set); a diverged
        network is left as it was before the batch that diverged, and the others train
        on.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C, between batches; every network then holds the parameters of its last
        finished batch, and its optimizer the state that goes with them.
    """
    if isinstance(X, CSRRows):
        raise TypeError("a group trains on dense input only")
    with contextlib.ExitStack() as stack:
        for net in networks:
            stack.enter_context(net._exclusive())
        for net, optimizer in zip(networks, optimizers):
            optimizer.ensure_state(net.params.shape[0], net.dtype)
        engines = [net._engine for net in networks]
        settings = [(optimizer.engine_args(), optimizer.engine_kwargs())
                    for optimizer in optimizers]
        with group_plan(len(networks)) as n_threads:
            if n_subgroups is None:
                n_subgroups = subgroup_count(len(networks), networks[0].layers[0].n_out,
                                             n_threads)
            try:
                statuses = _engine_group_epoch(engines, X, Y, sample_weight, order,
                                               batch_size, settings, alphas, n_subgroups,
                                               n_threads)
            finally:
                for optimizer, engine in zip(optimizers, engines):
                    optimizer.t = engine.last_t
                    optimizer.steps = engine.last_batch
    return [epoch_outcome(engine, status) for engine, status in zip(engines, statuses)]


__all__ = ["DivergenceError", "EpochResult", "groupable", "train_group_epoch"]
