"""Same hyperparameters, same epochs: cymlp's and scikit-learn's MLPClassifier on Fashion-MNIST.

    python benchmarks/accuracy_vs_sklearn.py [--epochs 10] [--dtype float32]

Both train 784-200-100-10 (logistic hidden layers, Adam, lr 1e-3, batch 128, alpha 1e-4,
random_state 0, no early stopping) on the 60,000 training images for exactly
``--epochs`` epochs (tol=0 so neither stops early), then score the 10,000 test images.
"""
import argparse
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLP

from cymlp import MLPClassifier as CymlpMLP
from cymlp.datasets import load_fashion_mnist


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    data = load_fashion_mnist()
    X_train = data.X_train.astype(args.dtype)
    X_test = data.X_test.astype(args.dtype)
    params = dict(hidden_layer_sizes=(200, 100), activation="logistic", solver="adam",
                  learning_rate_init=1e-3, batch_size=128, alpha=1e-4, max_iter=args.epochs,
                  tol=0.0, n_iter_no_change=args.epochs + 1, random_state=0)
    print("| implementation | epochs | fit seconds | test accuracy |")
    print("| --- | ---: | ---: | ---: |")
    for name, cls in (("cymlp", CymlpMLP), ("scikit-learn", SklearnMLP)):
        clf = cls(**params)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X_train, data.y_train)
        seconds = time.perf_counter() - start
        print("| %s | %d | %.1f | %.4f |" % (name, clf.n_iter_, seconds,
                                            clf.score(X_test, data.y_test)), flush=True)


if __name__ == "__main__":
    main()
