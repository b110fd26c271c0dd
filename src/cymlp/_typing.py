"""Type aliases of the public API (annotations only: nothing here runs)."""
import os
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

#: A data matrix: anything numpy turns into a 2-D array, or a scipy sparse matrix (scipy
#: has no type information, so this is Any to a type checker).
MatrixLike = Any
#: A float array of the network's dtype.
FloatArray = NDArray[np.floating[Any]]
#: A path.
PathLike = Union[str, "os.PathLike[str]"]
#: What seeds a draw, as scikit-learn takes it.
RandomStateLike = Union[int, np.random.RandomState, None]
