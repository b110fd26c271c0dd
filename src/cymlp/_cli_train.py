"""``cymlp train``: fit on Fashion-MNIST, report, write model, metrics and plot.

Ctrl-C at any moment stops training at the next batch boundary.  If at least one batch
finished, the model as trained so far is saved, and metrics.json lists the finished
epochs and how far the interrupted one got; otherwise nothing is written.  Either way
the command prints one line about it and exits with status 130.  The run folder is
created only when there is something to write.
"""
import json
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from cymlp.cli import EXIT_INTERRUPTED, CLIError, interrupt_flag


def _require_cli_extras():
    try:
        import matplotlib  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as exc:
        raise CLIError("cymlp train needs the 'cli' extra (%s): pip install 'cymlp[cli]'"
                       % exc.name) from None


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


def _environment(threads):
    """What the run ran on: versions, threads, BLAS."""
    import scipy
    import sklearn
    from threadpoolctl import threadpool_info

    import cymlp

    blas = [dict(library=lib.get("internal_api"), version=lib.get("version"),
                 threads=lib.get("num_threads"), path=lib.get("filepath"))
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"cymlp": cymlp.__version__, "python": sys.version.split()[0],
            "numpy": np.__version__, "scipy": scipy.__version__,
            "scikit-learn": sklearn.__version__, "threads": threads, "blas": blas}


def _data_source(data):
    """Where the data came from, with the SHA-256 of each file (verified on load)."""
    from cymlp.datasets import FASHION_MNIST

    return {"dataset": FASHION_MNIST.name, "directory": data.source,
            "sha256": {stem: sha for stem, sha, _ in FASHION_MNIST.files.values()}}


def train(args):
    """Run ``cymlp train``.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
        Exit status: 0, or 130 after Ctrl-C.
    """
    interrupted = interrupt_flag()
    # the estimator's own notice; the command reports the interruption itself
    warnings.filterwarnings("ignore", message="Training interrupted by user")
    _require_cli_extras()
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    from cymlp import MLPClassifier
    from cymlp._threads import blas_threads, training_plan
    from cymlp.datasets import load_fashion_mnist

    data = load_fashion_mnist(args.data_dir)
    dtype = np.dtype(args.dtype)
    X_fit, X_val, y_fit, y_val = train_test_split(
        data.X_train, data.y_train, test_size=args.validation_fraction,
        random_state=args.seed, stratify=data.y_train)
    X_fit, X_val, X_test = (np.ascontiguousarray(a, dtype=dtype)
                            for a in (X_fit, X_val, data.X_test))
    sizes = (X_fit.shape[1],) + args.layers + (10,)
    clf = MLPClassifier(hidden_layer_sizes=args.layers, activation=args.activation,
                        solver=args.solver, alpha=args.alpha, batch_size=args.batch_size,
                        learning_rate_init=args.learning_rate,
                        random_state=np.random.RandomState(args.seed))
    print("cymlp: training %s on Fashion-MNIST from %s: %d train / %d validation / %d test "
          "images, %s, %s, batch %d, %s" % (
              "-".join(map(str, sizes)), data.source, len(y_fit), len(y_val),
              len(data.y_test), args.activation, args.solver, args.batch_size, args.dtype),
          flush=True)
    history, seconds, partial = [], [], None
    n_coef = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    with threadpool_limits(args.threads), training_plan(args.batch_size, n_coef):
        threads = blas_threads()
        bar = tqdm(range(1, args.epochs + 1), desc="epochs", unit="epoch",
                   disable=args.no_progress, file=sys.stderr)
        try:
            for epoch in bar:
                samples_before = getattr(clf, "t_", 0)
                start = time.perf_counter()
                clf.partial_fit(X_fit, y_fit, classes=np.arange(10))
                if interrupted:   # partial_fit stopped at a batch boundary and returned
                    partial = {"epoch": epoch, "samples": int(clf.t_ - samples_before)}
                    break
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
            # between two partial_fit calls (scoring, the progress bar): no batch lost
            interrupted.append(True)
        finally:
            bar.close()
    if interrupted and getattr(clf, "t_", 0) == 0:
        print("cymlp: interrupted before the first batch finished; nothing was trained, "
              "nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _write_results(args, clf, data, X_test, history, seconds, partial,
                          bool(interrupted), threads)


def _write_results(args, clf, data, X_test, history, seconds, partial, interrupted,
                   threads):
    """Score the model on the test set; write model, metrics and plot; print a summary."""
    from cymlp import model_io

    test_accuracy = float(clf.score(X_test, data.y_test))
    out_dir = Path(args.output_dir or "runs/fashion-mnist-" + datetime.now().strftime(
        "%Y%m%d-%H%M%S"))
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = model_io.save(clf, out_dir / "model.npz")
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(json.dumps({
        "settings": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in vars(args).items() if k != "command"},
        "environment": _environment(threads),
        "data": _data_source(data),
        "epochs": history,
        "epochs_completed": len(history),
        "interrupted": interrupted,
        # how far the interrupted epoch got: its batches are in the saved model
        "interrupted_epoch": partial,
        "samples_trained": int(clf.t_),
        "test_accuracy": test_accuracy,
        "seconds_per_epoch": float(np.median(seconds)) if seconds else None,
    }, indent=2))
    plot_path = out_dir / "curves.png"
    if history:
        _plot(history, plot_path)
    if interrupted:
        done = "%d epoch(s)" % len(history)
        if partial and partial["samples"]:
            done += " and %d samples of epoch %d" % (partial["samples"], partial["epoch"])
        print("cymlp: interrupted after %s; saved what was trained" % done, file=sys.stderr)
    print("test accuracy: %.4f" % test_accuracy)
    if seconds:
        print("time per epoch: %.3f s (median of %d epochs, training only)"
              % (np.median(seconds), len(seconds)))
    print("model:   %s" % model_path)
    print("metrics: %s" % metrics_path)
    if history:
        print("plot:    %s" % plot_path)
    return EXIT_INTERRUPTED if interrupted else 0

