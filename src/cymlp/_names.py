"""Names of activations and losses, and the codes the C kernels know them by.

One table each: adding an activation means one entry here, its ``case`` in
include/cymlp/activations.h (forward and derivative; ``cymlp_keeps_input`` in kernels.h
if the derivative needs the pre-activation) and its ONNX operators in cymlp/onnx.py.
"""

#: Hidden-layer activations and their codes in ``enum cymlp_activation``: leaky_relu has
#: slope 0.01 below 0 (PyTorch's default), elu alpha 1, gelu is the exact erf form
#: ``u Phi(u)`` (not the tanh approximation), silu is ``u logistic(u)``.
ACTIVATION_CODES = {"identity": 0, "logistic": 1, "tanh": 2, "relu": 3, "leaky_relu": 6,
                    "elu": 7, "gelu": 8, "silu": 9, "softplus": 10}

#: Output activations, their codes and the loss each is paired with (dL/dU = O - Y).
OUTPUT_CODES = {"identity": 0, "logistic": 1, "softmax": 4, "exp": 5}
OUTPUT_LOSSES = {
    "identity": "squared_error",
    "logistic": "binary_log_loss",
    "softmax": "log_loss",
    "exp": "poisson",
}

#: The largest layer size or parameter count: BLAS takes 32-bit sizes.  The engine
#: refuses more, and Network and model files check it before allocating.
MAX_BLAS_SIZE = 2 ** 31 - 1
