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

#: Every loss, the output activation it is computed with and the code of that pair in
#: ``enum cymlp_activation`` (the paired losses share their activation's code; the
#: others have their own, include/cymlp/losses.h).  Adding a loss means one entry in
#: each, its case in losses.h and, if it takes a parameter, LOSS_PARAMETERS.
LOSS_OUTPUTS = {
    "squared_error": "identity",
    "binary_log_loss": "logistic",
    "log_loss": "softmax",
    "poisson": "exp",
    "absolute_error": "identity",
    "huber": "identity",
    "quantile": "identity",
    "gamma": "exp",
}
#: The losses MLPRegressor takes (``loss=``).
REGRESSION_LOSSES = ("squared_error", "poisson", "absolute_error", "huber", "quantile",
                     "gamma")
#: The regression losses whose early stopping and ``validation_scores_`` use minus the
#: validation loss rather than R² (which would favour the conditional mean).
LOSS_SCORED_LOSSES = ("absolute_error", "huber", "quantile", "gamma")
#: The losses with an exp output (a log link): their targets are not standardized.
LOG_LINK_LOSSES = ("poisson", "gamma")
LOSS_CODES = {
    "squared_error": 0, "binary_log_loss": 1, "log_loss": 4, "poisson": 5,
    "absolute_error": 11, "huber": 12, "quantile": 13, "gamma": 14,
}

#: The losses with a parameter: its estimator parameter name and the open interval it
#: lies in (the huber threshold in the target's units, the quantile level).
LOSS_PARAMETERS = {"huber": ("huber_epsilon", 0.0, float("inf")),
                   "quantile": ("quantile", 0.0, 1.0)}
#: Their defaults: scikit-learn's HuberRegressor threshold (95% efficiency for normal
#: residuals of unit scale) and the median.
LOSS_PARAMETER_DEFAULTS = {"huber": 1.35, "quantile": 0.5}

#: The largest layer size or parameter count: BLAS takes 32-bit sizes.  The engine
#: refuses more, and Network and model files check it before allocating.
MAX_BLAS_SIZE = 2 ** 31 - 1
