"""Type stubs of the compiled engine (_engine.pyx)."""
from typing import Any, Optional, Sequence, Tuple

import numpy as np
from numpy.typing import NDArray

EPOCH_DONE: int
EPOCH_DIVERGED: int
HIDDEN_ACTIVATION_CODES: frozenset[int]
OUTPUT_ACTIVATION_CODES: frozenset[int]
OPTIMIZER_SGD: int
OPTIMIZER_ADAM: int
OPTIMIZER_ADAMW: int
SCHEDULE_CONSTANT: int
SCHEDULE_COSINE: int
SCHEDULE_STEP: int

# X as the engine takes it: a dense array, or a CSR (data, indices, indptr) triple
EngineInput = Any


class Engine:
    n_steps: int
    n_params: int
    n_coef: int
    n_in: int
    n_out: int
    max_width: int
    width_sum: int
    max_k_blocks: int
    max_out: int
    params: NDArray[np.floating[Any]]
    grads: NDArray[np.floating[Any]]
    is_float: bool
    last_loss_sum: float
    last_penalty_sum: float
    last_weight_sum: float
    last_n_batches: int
    last_n_samples: int
    last_t: int
    last_batch: int

    def __init__(self, params: NDArray[np.floating[Any]], grads: NDArray[np.floating[Any]],
                 steps: Sequence[Tuple[int, int, int, int, int]], n_coef: int, *,
                 loss_param: float = ..., softmax_groups: Optional[Sequence[int]] = ...
                 ) -> None: ...
    @property
    def workspace_bytes(self) -> int: ...
    def release_workspace(self) -> None: ...
    def predict(self, X: EngineInput, out: Optional[NDArray[Any]] = ...,
                n_chunks: int = ...) -> NDArray[np.floating[Any]]: ...
    def loss_gradient(self, X: EngineInput, Y: NDArray[Any],
                      sample_weight: Optional[NDArray[Any]], weight_sum: float,
                      alpha: float, gradient: bool, dropout: Optional[NDArray[Any]] = ...,
                      dropout_seed: int = ..., dropout_batch: int = ...) -> float: ...
    def train_epoch(self, X: EngineInput, Y: NDArray[Any],
                    sample_weight: Optional[NDArray[Any]], order: NDArray[np.intp],
                    batch_size: int, optimizer: int, learning_rate: float, momentum: float,
                    nesterov: bool, beta_1: float, beta_2: float, epsilon: float, t: int,
                    state1: NDArray[Any], state2: NDArray[Any], alpha: float,
                    n_chunks: int = ..., by_columns: bool = ..., *, schedule: int = ...,
                    batch: int = ..., total: int = ..., warmup: int = ...,
                    step_every: int = ..., gamma: float = ..., weight_decay: float = ...,
                    dropout: Optional[NDArray[Any]] = ..., dropout_seed: int = ...) -> int: ...


def train_group_epoch(engines: list[Engine], X: NDArray[Any], Y: NDArray[Any],
                      sample_weight: Optional[NDArray[Any]], order: NDArray[np.intp],
                      batch_size: int,
                      optimizers: list[tuple[tuple[Any, ...], dict[str, Any]]],
                      alphas: Sequence[float], n_subgroups: int = ...,
                      n_threads: int = ...) -> list[int]: ...
