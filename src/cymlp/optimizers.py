"""Optimizer settings and state for the compiled epoch loop.

The update rules themselves are C loops (include/cymlp/optim.h) run by the engine;
these objects only hold the hyperparameters and the state buffers (one flat array
per state, the same length as the network's parameter buffer), so that training can
be resumed (``partial_fit``, ``warm_start``) with the state it had.
"""
import numpy as np

from cymlp._engine import OPTIMIZER_ADAM, OPTIMIZER_SGD


def _check_positive(name, value):
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError("%s must be a finite number > 0, got %r" % (name, value))
    return value


def _check_unit_interval(name, value, *, closed_low=True):
    value = float(value)
    if not (0 <= value < 1) or (value == 0 and not closed_low):
        raise ValueError("%s must be in [0, 1), got %r" % (name, value))
    return value


class _Optimizer:
    """State shared by the optimizers: flat state buffers, allocated on first use."""

    code = None
    n_states = 1

    def __init__(self):
        self.states = None

    def ensure_state(self, n_params, dtype):
        """Allocate zeroed state buffers for ``n_params`` parameters, once.

        Parameters
        ----------
        n_params : int
        dtype : numpy dtype
            The network's dtype.
        """
        if self.states is not None:
            if self.states[0].shape != (n_params,) or self.states[0].dtype != dtype:
                raise ValueError("this optimizer's state belongs to another network")
            return
        self.states = [np.zeros(n_params, dtype=dtype) for _ in range(2)]


class SGD(_Optimizer):
    """Stochastic gradient descent with momentum (optionally Nesterov's).

    ``v := momentum * v - lr * g;  p := p + v`` (Nesterov: ``p := p + momentum * v - lr * g``).

    Parameters
    ----------
    learning_rate : float, default=0.01
        Step size; the estimators change it between epochs for their schedules.
    momentum : float, default=0.9
        In [0, 1).
    nesterov : bool, default=True
    """

    code = OPTIMIZER_SGD

    def __init__(self, learning_rate=0.01, momentum=0.9, nesterov=True):
        super().__init__()
        self.learning_rate = _check_positive("learning_rate", learning_rate)
        self.momentum = _check_unit_interval("momentum", momentum)
        self.nesterov = bool(nesterov)
        self.t = 0

    def engine_args(self):
        """Return the positional optimizer arguments of ``Engine.train_epoch``.

        Returns
        -------
        tuple
        """
        return (self.code, self.learning_rate, self.momentum, self.nesterov,
                0.0, 0.0, 0.0, self.t, self.states[0], self.states[1])


class Adam(_Optimizer):
    """Adam (Kingma and Ba), with the bias correction folded into the step size.

    Parameters
    ----------
    learning_rate : float, default=0.001
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root of the second moment, > 0.
    """

    code = OPTIMIZER_ADAM

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        super().__init__()
        self.learning_rate = _check_positive("learning_rate", learning_rate)
        self.beta_1 = _check_unit_interval("beta_1", beta_1)
        self.beta_2 = _check_unit_interval("beta_2", beta_2)
        self.epsilon = _check_positive("epsilon", epsilon)
        self.t = 0

    def engine_args(self):
        """Return the positional optimizer arguments of ``Engine.train_epoch``.

        Returns
        -------
        tuple
        """
        return (self.code, self.learning_rate, 0.0, False, self.beta_1, self.beta_2,
                self.epsilon, self.t, self.states[0], self.states[1])
