"""Training and validation loss of a 784-512-256-10 network on Fashion-MNIST, with and
without dropout: the picture of the "Beyond scikit-learn" page (docs/beyond.md).

    python examples/dropout_curves.py            # ~2 minutes on 2 cores
    python examples/dropout_curves.py --out examples/dropout_curves.png --epochs 40

50,000 training images, the other 10,000 of the training set as the validation set
(``fit(..., X_val=, y_val=)``: its loss after every epoch is ``validation_loss_curve_``),
relu, Adam, batch 128, float32; the same random_state for both fits.
"""
import argparse
import sys
import time
import warnings

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import cymlp  # noqa: E402
from cymlp.datasets import load_fashion_mnist  # noqa: E402


def fit(dropout, epochs, data):
    model = cymlp.MLPClassifier((512, 256), batch_size=128, max_iter=epochs, tol=0.0,
                                dropout=dropout, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data.X_train[:50000], data.y_train[:50000],
                  X_val=data.X_train[50000:], y_val=data.y_train[50000:])
    seconds = time.perf_counter() - start
    return model, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default="dropout_curves.png")
    args = parser.parse_args(argv)
    data = load_fashion_mnist()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for dropout, color in ((None, "tab:red"), (0.3, "tab:blue")):
        model, seconds = fit(dropout, args.epochs, data)
        label = "no dropout" if dropout is None else "dropout %.1f" % dropout
        epochs = range(1, len(model.loss_curve_) + 1)
        ax.plot(epochs, model.loss_curve_, color=color, linestyle="--",
                label=label + ", training")
        ax.plot(epochs, model.validation_loss_curve_, color=color,
                label=label + ", validation")
        best = min(model.validation_loss_curve_)
        print("%s: %.1f s, final validation loss %.4f (best %.4f), test accuracy %.4f"
              % (label, seconds, model.validation_loss_curve_[-1], best,
                 model.score(data.X_test, data.y_test)))
    ax.set_xlabel("epoch")
    ax.set_ylabel("log loss (with the L2 term)")
    ax.set_ylim(0, 0.7)
    ax.set_title("784-512-256-10 on Fashion-MNIST (50,000 train / 10,000 validation)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
