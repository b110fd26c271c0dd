"""The ``cymlp`` command: ``train``, ``evaluate`` and ``predict``.

``cymlp train`` with no options trains the seed network 784-200-100-10 (logistic hidden
layers, softmax output) on Fashion-MNIST, shows a progress bar per epoch, and writes a
model file, per-epoch metrics (JSON) and a PNG plot of the curves.  Every error ends in
one line on stderr and a non-zero exit code, never a traceback.
"""
import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


class CLIError(Exception):
    """An error to report in one line (exit code 2)."""


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be an integer >= 1, got %s" % text)
    return value


def _positive_float(text):
    value = float(text)
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError("must be a number > 0, got %s" % text)
    return value


def _layer_sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("must be comma-separated sizes like 200,100, got %r"
                                         % text) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be integers >= 1, got %r" % text)
    return sizes


def build_parser():
    """Return the argument parser of the ``cymlp`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(prog="cymlp", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train on Fashion-MNIST and report")
    train.add_argument("--layers", type=_layer_sizes, default=(200, 100),
                       help="hidden layer sizes, comma-separated (default 200,100)")
    train.add_argument("--activation", default="logistic",
                       choices=["identity", "logistic", "tanh", "relu"])
    train.add_argument("--solver", default="adam", choices=["adam", "sgd"])
    train.add_argument("--epochs", type=_positive_int, default=30)
    train.add_argument("--batch-size", type=_positive_int, default=128)
    train.add_argument("--learning-rate", type=_positive_float, default=0.001)
    train.add_argument("--alpha", type=float, default=0.0001, help="L2 penalty")
    train.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    train.add_argument("--threads", type=_positive_int, default=None,
                       help="BLAS threads (default: all cores)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--validation-fraction", type=float, default=0.1)
    train.add_argument("--data-dir", default=None, help="directory with the IDX files")
    train.add_argument("--output-dir", default=None,
                       help="where to write results (default runs/fashion-mnist-<time>)")
    train.add_argument("--no-progress", action="store_true",
                       help="one line per epoch instead of a progress bar")

    evaluate = commands.add_parser("evaluate", help="report a model's test-set metrics")
    evaluate.add_argument("model")
    evaluate.add_argument("--data-dir", default=None)

    predict = commands.add_parser("predict", help="predict the rows of a .npy file")
    predict.add_argument("model")
    predict.add_argument("file", help=".npy array of rows (uint8 images are scaled to [0, 1])")
    predict.add_argument("--output", default=None,
                         help="where to write the predictions (default FILE.pred.npy)")
    return parser


# -- train ------------------------------------------------------------------

def _plot(history, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [row["loss"] for row in history], marker="o", label="training loss")
    left.set_xlabel("epoch")
    left.set_ylabel("cross-entropy")
    left.set_title("Training loss")
    left.grid(alpha=0.3)
    right.plot(epochs, [row["train_accuracy"] for row in history], marker="o",
               label="training (10,000-image sample)")
    right.plot(epochs, [row["validation_accuracy"] for row in history], marker="s",
               label="validation")
    right.set_xlabel("epoch")
    right.set_ylabel("accuracy")
    right.set_title("Accuracy")
    right.grid(alpha=0.3)
    right.legend()
    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("cymlp: Fashion-MNIST")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _require_cli_extras():
    try:
        import matplotlib  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as exc:
        raise CLIError("cymlp train needs the 'cli' extra (%s): pip install 'cymlp[cli]'"
                       % exc.name) from None


def _split(data, fraction, seed):
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise CLIError("--validation-fraction must be in (0, 1), got %s" % fraction)
    return train_test_split(data.X_train, data.y_train, test_size=fraction,
                            random_state=seed, stratify=data.y_train)


def train(args):
    """Run ``cymlp train``: fit, report, write model, metrics and plot.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
        Exit code.
    """
    _require_cli_extras()
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    from cymlp import MLPClassifier, model_io
    from cymlp._threads import training_plan
    from cymlp.datasets import load_fashion_mnist

    if args.alpha < 0:
        raise CLIError("--alpha must be >= 0, got %s" % args.alpha)
    out_dir = Path(args.output_dir or "runs/fashion-mnist-" + datetime.now().strftime(
        "%Y%m%d-%H%M%S"))
    out_dir.mkdir(parents=True, exist_ok=True)
    data = load_fashion_mnist(args.data_dir)
    dtype = np.dtype(args.dtype)
    X_fit, X_val, y_fit, y_val = _split(data, args.validation_fraction, args.seed)
    X_fit, X_val, X_test = (np.ascontiguousarray(a, dtype=dtype)
                            for a in (X_fit, X_val, data.X_test))
    classes = np.arange(10)
    sizes = (784,) + args.layers + (10,)
    clf = MLPClassifier(hidden_layer_sizes=args.layers, activation=args.activation,
                        solver=args.solver, alpha=args.alpha, batch_size=args.batch_size,
                        learning_rate_init=args.learning_rate,
                        random_state=np.random.RandomState(args.seed))
    print("cymlp: training %s on Fashion-MNIST: %d train / %d validation / %d test images, "
          "%s, %s, batch %d, %s" % ("-".join(map(str, sizes)),
                                    len(y_fit), len(y_val), len(data.y_test), args.activation,
                                    args.solver, args.batch_size, args.dtype), flush=True)
    history, seconds = [], []
    interrupted = False
    # one thread plan for the whole loop: training and the scores between epochs
    n_coef = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    with threadpool_limits(args.threads), training_plan(args.batch_size, n_coef):
        bar = tqdm(range(1, args.epochs + 1), desc="epochs", unit="epoch",
                   disable=args.no_progress, file=sys.stdout)
        try:
            for epoch in bar:
                start = time.perf_counter()
                clf.partial_fit(X_fit, y_fit, classes=classes)
                seconds.append(time.perf_counter() - start)
                row = {"epoch": epoch, "loss": clf.loss_, "seconds": seconds[-1],
                       "train_accuracy": float(clf.score(X_fit[:10000], y_fit[:10000])),
                       "validation_accuracy": float(clf.score(X_val, y_val))}
                history.append(row)
                bar.set_postfix(loss="%.4f" % row["loss"],
                                val_acc="%.4f" % row["validation_accuracy"])
                if args.no_progress:
                    print("epoch %d/%d: loss %.4f, validation accuracy %.4f, %.3f s"
                          % (epoch, args.epochs, row["loss"], row["validation_accuracy"],
                             row["seconds"]), flush=True)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            bar.close()
    if not history:
        raise CLIError("interrupted before the first epoch finished; nothing to save")

    test_accuracy = float(clf.score(X_test, data.y_test))
    model_path = model_io.save(clf, out_dir / "model.npz")
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(json.dumps({
        "settings": {k: v for k, v in vars(args).items() if k != "command"},
        "epochs": history, "test_accuracy": test_accuracy,
        "seconds_per_epoch": float(np.median(seconds)), "interrupted": interrupted,
    }, indent=2))
    plot_path = out_dir / "curves.png"
    _plot(history, plot_path)
    if interrupted:
        print("cymlp: interrupted after %d epoch(s); saved what was trained" % len(history))
    print("test accuracy: %.4f" % test_accuracy)
    print("time per epoch: %.3f s (median of %d epochs, training only)"
          % (np.median(seconds), len(seconds)))
    print("model:   %s" % model_path)
    print("metrics: %s" % metrics_path)
    print("plot:    %s" % plot_path)
    return EXIT_INTERRUPTED if interrupted else 0


# -- evaluate / predict -----------------------------------------------------

def _load_classifier(path):
    from cymlp import MLPClassifier, model_io

    model = model_io.load(path)
    if not isinstance(model, MLPClassifier):
        raise CLIError("%s holds a %s, not a classifier" % (path, type(model).__name__))
    return model


def evaluate(args):
    """Run ``cymlp evaluate``: accuracy, per-class precision/recall, confusion matrix.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from cymlp.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist

    model = _load_classifier(args.model)
    data = load_fashion_mnist(args.data_dir)
    predicted = model.predict(data.X_test)
    precision, recall, _, support = precision_recall_fscore_support(
        data.y_test, predicted, labels=model.classes_, zero_division=0)
    print("accuracy: %.4f on %d test images" % ((predicted == data.y_test).mean(),
                                                len(data.y_test)))
    print("class  name         precision  recall  support")
    for label, p, r, s in zip(model.classes_, precision, recall, support):
        name = FASHION_MNIST_CLASSES[label] if label in range(10) else ""
        print("%5s  %-11s  %9.4f  %6.4f  %7d" % (label, name, p, r, s))
    print("confusion matrix (rows: true class, columns: predicted):")
    matrix = confusion_matrix(data.y_test, predicted, labels=model.classes_)
    width = max(5, len(str(matrix.max())) + 1)
    print(" " * 6 + "".join(str(c).rjust(width) for c in model.classes_))
    for label, row in zip(model.classes_, matrix):
        print(str(label).rjust(5) + " " + "".join(str(v).rjust(width) for v in row))
    return 0


def predict(args):
    """Run ``cymlp predict``: write one predicted label per row of a ``.npy`` file.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
    """
    model = _load_classifier(args.model)
    try:
        X = np.load(args.file, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CLIError("cannot read %s as a .npy array: %s" % (args.file, exc)) from None
    if X.dtype == np.uint8:
        X = X.astype(np.float32) / np.float32(255)
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    predictions = model.predict(X)
    output = Path(args.output or str(Path(args.file).with_suffix("")) + ".pred.npy")
    np.save(output, predictions)
    print("wrote %d predictions to %s" % (len(predictions), output))
    return 0


COMMANDS = {"train": train, "evaluate": evaluate, "predict": predict}


def main(argv=None):
    """Entry point of the ``cymlp`` console script.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        Exit code.
    """
    from cymlp.datasets import DatasetNotFoundError
    from cymlp.model_io import ModelFileError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("cymlp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (CLIError, DatasetNotFoundError, ModelFileError, FileNotFoundError,
            ValueError, TypeError, OSError) as exc:
        print("cymlp: error: %s" % exc, file=sys.stderr)
        return EXIT_ERROR
