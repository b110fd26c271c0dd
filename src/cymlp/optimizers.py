"""Optimizer settings and state for the compiled epoch loop.

The update rules themselves are C loops (include/cymlp/optim.h) run by the engine;
these objects only hold the hyperparameters and the state buffers (one flat array
per state, the same length as the network's parameter buffer), so that training can
be resumed (``partial_fit``, ``warm_start``) with the state it had.
"""
import math
from abc import ABC, abstractmethod
from numbers import Integral, Real
from typing import Any, Optional

import numpy as np

from cymlp._engine import (OPTIMIZER_ADAM, OPTIMIZER_ADAMW, OPTIMIZER_SGD, SCHEDULE_CONSTANT,
                           SCHEDULE_COSINE, SCHEDULE_STEP)


def _real(name, value):
    """``value`` as a float if it is a real number (not a bool, not a string)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError("%s must be a real number, got %r" % (name, value))
    return float(value)


def _check_positive(name, value):
    value = _real(name, value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError("%s must be a finite number > 0, got %r" % (name, value))
    return value


def _check_unit_interval(name, value, *, closed_low=True):
    value = _real(name, value)
    if not (0 <= value < 1) or (value == 0 and not closed_low):
        raise ValueError("%s must be in [0, 1), got %r" % (name, value))
    return value


def _check_count(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError("%s must be an integer >= %d, got %r" % (name, minimum, value))
    return int(value)


class _Schedule(ABC):
    """A learning-rate schedule over the batches, computed in the compiled step."""

    code: Optional[int] = None

    def learning_rate(self, base: float, step: int) -> float:
        """The learning rate of batch ``step`` (from 0) for a base rate ``base``.

        Parameters
        ----------
        base : float
            The base learning rate.
        step : int
            The batch count, from 0.

        Returns
        -------
        float
            The learning rate.
        """
        return self._rate(base, step)

    def engine_kwargs(self) -> dict[str, Any]:
        """Return the schedule's keyword arguments of ``Engine.train_epoch``.

        Returns
        -------
        dict
            Keyword arguments for ``Engine.train_epoch``.
        """
        return dict(schedule=self.code, **self._engine_fields())

    @abstractmethod
    def _rate(self, base: float, step: int) -> float:
        """The rate of batch ``step`` (``learning_rate``'s body)."""

    @abstractmethod
    def _engine_fields(self) -> dict[str, Any]:
        """The schedule's own keyword arguments of ``Engine.train_epoch``."""


class CosineSchedule(_Schedule):
    """Cosine learning-rate decay with an optional linear warm-up, counted in batches.

    Batch ``b`` (from 0) trains with ``lr (b + 1) / warmup_steps`` while
    ``b < warmup_steps``, then ``lr (1 + cos(pi (b - warmup_steps) / (total_steps -
    warmup_steps))) / 2``, reaching 0 at ``total_steps`` and staying there.  Computed
    in the compiled step, for every optimizer.

    Parameters
    ----------
    total_steps : int
        Batches of the whole schedule, warm-up included (> ``warmup_steps``).
    warmup_steps : int, default=0
        Batches of linear warm-up.
    """

    code = SCHEDULE_COSINE

    def __init__(self, total_steps: int, warmup_steps: int = 0) -> None:
        self.warmup_steps = _check_count("warmup_steps", warmup_steps, 0)
        self.total_steps = _check_count("total_steps", total_steps, self.warmup_steps + 1)

    def _rate(self, base, step):
        if step < self.warmup_steps:
            return base * (step + 1) / self.warmup_steps
        if step >= self.total_steps:
            return 0.0
        progress = (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
        return 0.5 * base * (1.0 + math.cos(math.pi * progress))

    def _engine_fields(self):
        return dict(total=self.total_steps, warmup=self.warmup_steps)

    def __repr__(self):
        return "CosineSchedule(total_steps=%d, warmup_steps=%d)" % (self.total_steps,
                                                                   self.warmup_steps)


class StepSchedule(_Schedule):
    """Step decay: the learning rate times ``gamma`` every ``step_size`` batches.

    Parameters
    ----------
    step_size : int
        Batches between two decays (>= 1).
    gamma : float, default=0.1
        In (0, 1].
    """

    code = SCHEDULE_STEP

    def __init__(self, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _check_count("step_size", step_size, 1)
        gamma = _real("gamma", gamma)
        if not (0 < gamma <= 1):
            raise ValueError("gamma must be in (0, 1], got %r" % gamma)
        self.gamma = gamma

    def _rate(self, base, step):
        return base * self.gamma ** (step // self.step_size)

    def _engine_fields(self):
        return dict(step_every=self.step_size, gamma=self.gamma)

    def __repr__(self):
        return "StepSchedule(step_size=%d, gamma=%r)" % (self.step_size, self.gamma)


class _Optimizer(ABC):
    """State shared by the optimizers: flat state buffers, allocated on first use, the
    learning-rate schedule (None: constant) and its clock, ``steps``: batches trained."""

    code: Optional[int] = None
    n_states = 1

    def __init__(self, schedule: Optional["_Schedule"] = None) -> None:
        self.states: Optional[list[np.ndarray]] = None
        self.t = 0
        if schedule is not None and not isinstance(schedule, _Schedule):
            raise TypeError("schedule must be a CosineSchedule, a StepSchedule or None, got "
                            "%r" % (schedule,))
        self.schedule = schedule
        self.steps = 0

    def engine_kwargs(self) -> dict[str, Any]:
        """Return the schedule's keyword arguments of ``Engine.train_epoch``.

        Returns
        -------
        dict
            Keyword arguments for ``Engine.train_epoch``.
        """
        kwargs = dict(batch=self.steps)
        kwargs.update(self.schedule.engine_kwargs() if self.schedule is not None
                      else dict(schedule=SCHEDULE_CONSTANT))
        return kwargs

    def ensure_state(self, n_params: int, dtype: Any) -> None:
        """Allocate zeroed state buffers for ``n_params`` parameters, once.

        Parameters
        ----------
        n_params : int
            The network's parameter count.
        dtype : numpy dtype
            The network's dtype.
        """
        if self.states is not None:
            if self.states[0].shape != (n_params,) or self.states[0].dtype != dtype:
                raise ValueError("this optimizer's state belongs to another network")
            return
        self.states = [np.zeros(n_params, dtype=dtype) for _ in range(2)]

    def _buffers(self) -> list[np.ndarray]:
        """The state buffers (``ensure_state`` allocates them)."""
        if self.states is None:
            raise RuntimeError("the optimizer has no state yet: call ensure_state first")
        return self.states

    @abstractmethod
    def engine_args(self) -> tuple:
        """Return the positional optimizer arguments of ``Engine.train_epoch``.

        Returns
        -------
        tuple
            Optimizer code, learning rate, momentum, Nesterov flag, beta_1, beta_2,
            epsilon, Adam's step count and the two state buffers.
        """


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
        Whether to take Nesterov's step.
    schedule : CosineSchedule, StepSchedule or None, default=None
        Learning-rate schedule over the batches (None: constant).
    """

    code = OPTIMIZER_SGD

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.9,
                 nesterov: bool = True, schedule: Optional[_Schedule] = None) -> None:
        super().__init__(schedule)
        self.learning_rate = _check_positive("learning_rate", learning_rate)
        self.momentum = _check_unit_interval("momentum", momentum)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError("nesterov must be True or False, got %r" % (nesterov,))
        self.nesterov = bool(nesterov)

    def engine_args(self) -> tuple:  # docstring: _Optimizer.engine_args
        return (self.code, self.learning_rate, self.momentum, self.nesterov,
                0.0, 0.0, 0.0, self.t, *self._buffers())


class Adam(_Optimizer):
    """Adam (Kingma and Ba), with the bias correction folded into the step size.

    Parameters
    ----------
    {adam_parameters}
    schedule : CosineSchedule, StepSchedule or None, default=None
        Learning-rate schedule over the batches (None: constant).
    """

    code = OPTIMIZER_ADAM

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8,
                 schedule: Optional[_Schedule] = None) -> None:
        super().__init__(schedule)
        self.learning_rate = _check_positive("learning_rate", learning_rate)
        self.beta_1 = _check_unit_interval("beta_1", beta_1)
        self.beta_2 = _check_unit_interval("beta_2", beta_2)
        self.epsilon = _check_positive("epsilon", epsilon)

    def engine_args(self) -> tuple:  # docstring: _Optimizer.engine_args
        return (self.code, self.learning_rate, 0.0, False, self.beta_1, self.beta_2,
                self.epsilon, self.t, *self._buffers())


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as PyTorch's AdamW.

    Each step first shrinks every coefficient (not the intercepts) by
    ``p := p (1 - lr * weight_decay)``, ``lr`` the scheduled learning rate, then takes
    Adam's step on the gradient (which holds the L2 term only if ``alpha`` > 0).

    Parameters
    ----------
    {adam_parameters}
    weight_decay : float, default=0.01
        Decoupled weight decay, >= 0 (PyTorch's default).
    schedule : CosineSchedule, StepSchedule or None, default=None
        Learning-rate schedule over the batches (None: constant).
    """

    code = OPTIMIZER_ADAMW

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-8, weight_decay: float = 0.01,
                 schedule: Optional[_Schedule] = None) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, schedule)
        weight_decay = _real("weight_decay", weight_decay)
        if not np.isfinite(weight_decay) or weight_decay < 0:
            raise ValueError("weight_decay must be a finite number >= 0, got %r"
                             % weight_decay)
        self.weight_decay = weight_decay

    def engine_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of ``Engine.train_epoch``, weight decay included.

        Returns
        -------
        dict
            The schedule's arguments, the batch count and ``weight_decay``.
        """
        return dict(super().engine_kwargs(), weight_decay=self.weight_decay)


# the parameters Adam and AdamW share, documented once
_ADAM_PARAMETERS = """
    learning_rate : float, default=0.001
        Step size (the base rate of a schedule).
    beta_1 : float, default=0.9
        Decay rate of the first moment estimates, in [0, 1).
    beta_2 : float, default=0.999
        Decay rate of the second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Added to the root of the second moment, > 0.
"""
for _optimizer in (Adam, AdamW):
    if _optimizer.__doc__:   # (python -OO strips docstrings)
        _optimizer.__doc__ = _optimizer.__doc__.format(
            adam_parameters=_ADAM_PARAMETERS.strip())
for _subclass in (SGD, Adam):
    _subclass.engine_args.__doc__ = _Optimizer.engine_args.__doc__
