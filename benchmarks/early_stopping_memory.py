"""Peak memory of one epoch with and without early stopping (issue 27's memory goal).

    python benchmarks/early_stopping_memory.py cymlp on      # early_stopping=True
    python benchmarks/early_stopping_memory.py cymlp off
    python benchmarks/early_stopping_memory.py sklearn on    # scikit-learn's, the same fit

X is 1,000,000 x 200 float32 (763 MB) of normal draws, y a linear function of it plus
noise; the fit is ``MLPRegressor(hidden_layer_sizes=(100,), max_iter=1)`` (batch 200,
adam). Prints one JSON line: the peak RSS of the fit over the RSS just before it (data
made, libraries imported). Goal: with early stopping, no second copy of X: the peak
over the fit without it at most the held-out 10 % plus a few MB, not the 90 % more
that splitting X itself costs.
"""
import json
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory import peak_rss_mb, reset_peak, rss_mb  # noqa: E402

ROWS, COLUMNS = 1_000_000, 200


def main(argv):
    peer, switch = argv
    if peer == "cymlp":
        from cymlp import MLPRegressor
    else:
        from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(0)
    X = rng.standard_normal((ROWS, COLUMNS), dtype=np.float32)
    y = (X[:, :10].sum(axis=1) + rng.standard_normal(ROWS, dtype=np.float32))
    model = MLPRegressor(hidden_layer_sizes=(100,), max_iter=1, random_state=0,
                         early_stopping=switch == "on")
    before = rss_mb()
    reset_peak()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    print(json.dumps({"peer": peer, "early_stopping": switch == "on",
                      "X_MB": round(X.nbytes / 2 ** 20, 1),
                      "peak_over_start_MB": round(peak_rss_mb() - before, 1)}))


if __name__ == "__main__":
    main(sys.argv[1:])
