"""Type stubs of the compiled input checks (_checks.pyx)."""
from typing import Any

from numpy.typing import DTypeLike, NDArray

NEEDS_CONVERSION: int
READY: int
NOT_FINITE: int

def all_finite_array(X: NDArray[Any]) -> bool: ...
def ready_matrix_state(X: object, dtype: DTypeLike, n_cols: int = ...) -> int: ...
