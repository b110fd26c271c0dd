"""Names of activations and losses, and the codes the C kernels know them by.

One table each: adding an activation means one entry here and one ``case`` in
include/cymlp/activations.h; nothing else branches on names.
"""

#: Hidden-layer activations and their codes in ``enum cymlp_activation``.
ACTIVATION_CODES = {"identity": 0, "logistic": 1, "tanh": 2, "relu": 3}

#: Output activations, their codes and the loss each is paired with (dL/dU = O - Y).
OUTPUT_CODES = {"identity": 0, "logistic": 1, "softmax": 4, "exp": 5}
OUTPUT_LOSSES = {
    "identity": "squared_error",
    "logistic": "binary_log_loss",
    "softmax": "log_loss",
    "exp": "poisson",
}
