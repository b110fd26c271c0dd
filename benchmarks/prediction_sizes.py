"""Milliseconds per ``predict_proba`` call by row count, for the block layout of
predictions (fixed blocks on one BLAS thread each, so that a prediction is the same
whatever runs beside it).

    python benchmarks/prediction_sizes.py                          # this cymlp
    PYTHONPATH=/path/to/old/build python benchmarks/prediction_sizes.py   # another build

784-200-100-10 (logistic, one epoch on 5,000 Fashion-MNIST images), float32, the
test images' first n rows, all threads BLAS is allowed; each size is called until about
0.2 s of calls have run (after 3 untimed ones), the figure the mean per call.  Prints one
JSON line per size.  Run two builds in turn, a few times, to compare them.
"""
import argparse
import json
import time
import warnings

import numpy as np

SIZES = [8, 100, 400, 1000, 3000, 10000]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    args = parser.parse_args(argv)

    import cymlp
    from cymlp.datasets import load_fashion_mnist

    data = load_fashion_mnist()
    X = np.ascontiguousarray(data.X_test, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = cymlp.MLPClassifier((200, 100), activation="logistic", max_iter=1,
                                  random_state=0).fit(
            data.X_train[:5000].astype(np.float32), data.y_train[:5000])
    for n in map(int, args.sizes.split(",")):
        rows = X[:n]
        for _ in range(3):
            clf.predict_proba(rows)
        calls, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.2:
            clf.predict_proba(rows)
            calls += 1
        print(json.dumps({"rows": n, "ms": round((time.perf_counter() - start) / calls
                                                 * 1e3, 4), "cymlp": cymlp.__file__}))


if __name__ == "__main__":
    main()
