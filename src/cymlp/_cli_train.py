"""``cymlp train``: fit a classifier or regressor on Fashion-MNIST or the user's data
(``_cli_data``), report, write model, metrics and plot.

Ctrl-C at any moment stops training at the next batch boundary.  If at least one batch
finished, the model as trained so far is saved, and metrics.json lists the finished
epochs and how far the interrupted one got; otherwise nothing is written.  Either way
the command prints one line about it and exits with status 130.  The run folder is
created only when there is something to write.
"""
import json
import signal
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from cymlp._cli_errors import EXIT_INTERRUPTED, CLIError
from cymlp._names import LOG_LINK_LOSSES, LOSS_SCORED_LOSSES


def interrupt_flag():
    """Install a SIGINT handler that records Ctrl-C and raises KeyboardInterrupt.

    The estimators (like scikit-learn's) stop training at the next batch boundary on
    KeyboardInterrupt and return normally; the flag tells the command it happened.

    Returns
    -------
    list
        Empty until Ctrl-C; then holds one True.
    """
    flag = []

    def handler(signum, frame):
        flag.append(True)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    return flag


def _require_cli_extras():
    try:
        import matplotlib  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError as exc:
        raise CLIError("cymlp train needs the 'cli' extra (%s): pip install 'cymlp[cli]'"
                       % exc.name) from None


def _plot(history, path, score_name, loss_name, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [row["loss"] for row in history], marker="o", label="training loss")
    left.set_xlabel("epoch")
    left.set_ylabel(loss_name)
    left.set_title("Training loss")
    left.grid(alpha=0.3)
    right.plot(epochs, [row["train_score"] for row in history], marker="o",
               label="training (up to 10,000 rows)")
    right.plot(epochs, [row["validation_score"] for row in history], marker="s",
               label="validation")
    right.set_xlabel("epoch")
    right.set_ylabel(score_name)
    right.set_title(score_name)
    right.grid(alpha=0.3)
    right.legend()
    for axis in (left, right):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle("cymlp: %s" % title)
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


def _split(X, y, fraction, seed, stratify):
    from sklearn.model_selection import train_test_split

    if stratify:
        from cymlp._cli_tables import summarize_classes
        problem = summarize_classes(y)
        if problem:
            raise CLIError("cannot hold out %.0f%% of %s rows stratified by class: %s"
                           % (100 * fraction, "{:,}".format(len(y)), problem))
    try:
        return train_test_split(X, y, test_size=fraction, random_state=seed,
                                stratify=y if stratify else None)
    except ValueError as exc:   # too few rows, or a class with a single row
        raise CLIError("cannot hold out %.0f%% of %d rows: %s"
                       % (100 * fraction, len(y), str(exc)[:300])) from None


def _prepare(args):
    """Train, validation and test parts of the data, the task, and for a table the
    preprocessing fitted on the training part (else None)."""
    from cymlp import _cli_data

    data = _cli_data.load(args.data, args)
    task, notice = _cli_data.infer_task(data.y, args.task, table=data.is_table)
    if notice:
        print("cymlp: target %r: %s" % (args.target or "(last column)", notice), flush=True)
    classify = task == "classify"
    if args.test_data is not None:
        test = _cli_data.load(args.test_data, args)
        if test.is_table != data.is_table:
            raise CLIError("--test-data must be a table when --data is one, and arrays when "
                           "--data is arrays")
        data.X_test, data.y_test = test.X, test.y
        data.sha256.update(test.sha256)
        data.source += "; test data: %s" % test.source
    elif data.X_test is None:
        data.X, data.X_test, data.y, data.y_test = _split(
            data.X, data.y, args.test_fraction, args.seed, classify)
    if not data.is_table and data.X_test.shape[1] != data.X.shape[1]:
        raise CLIError("the test data has %d features per row, the training data %d"
                       % (data.X_test.shape[1], data.X.shape[1]))
    if classify:
        unseen = np.setdiff1d(np.unique(data.y_test), np.unique(data.y))
        if unseen.size:
            raise CLIError("the test data has labels the training data lacks: %s"
                           % ", ".join(map(str, unseen[:5])))
    X_fit, X_val, y_fit, y_val = _split(data.X, data.y, args.validation_fraction, args.seed,
                                        classify)
    plan = None
    if data.is_table:
        from cymlp import _cli_tables

        initial = _initial_pipeline(args.init_from) if args.init_from else None
        plan = _cli_tables.fit_plan(X_fit, y_fit, task, args, initial)
        data.frame_test = data.X_test
        X_fit, X_val, data.X_test = (_cli_tables.features_of(plan, X)
                                     for X in (X_fit, X_val, data.X_test))
        y_fit, y_val = (_cli_tables.scaled_targets(plan, y) for y in (y_fit, y_val))
    return data, task, X_fit, X_val, y_fit, y_val, plan


def _initial_pipeline(path):
    from cymlp import _cli_tables, model_io

    model = model_io.load(path)
    if not _cli_tables.is_pipeline(model):
        raise CLIError("%s was trained on arrays, without a table's preprocessing; this "
                       "data is a table" % path)
    return model


def _check_loss_options(args):
    """--quantile and --huber-epsilon go with their --loss (checked before any data is
    read)."""
    for option, dest, loss in (("--quantile", "quantile", "quantile"),
                               ("--huber-epsilon", "huber_epsilon", "huber")):
        if getattr(args, dest) is not None and args.loss != loss:
            raise CLIError("%s needs --loss %s" % (option, loss))


def _loss_settings(args, task, *targets_seen):
    """The estimator parameters of --loss, --quantile and --huber-epsilon (the targets
    checked against the loss's range)."""
    if task == "classify" and args.loss is not None:
        raise CLIError("--loss is for regression (a classifier's loss is the "
                       "cross-entropy); use --task regress for a numeric target")
    if args.loss in LOG_LINK_LOSSES:
        targets = np.concatenate([np.ravel(y) for y in targets_seen])
        bad = int(np.sum(targets <= 0) if args.loss == "gamma" else np.sum(targets < 0))
        if bad:
            raise CLIError("--loss %s needs targets %s; %s of the training rows %s not"
                           % (args.loss, "> 0" if args.loss == "gamma" else ">= 0",
                              "{:,}".format(bad), "is" if bad == 1 else "are"))
    settings = {} if args.loss is None else {"loss": args.loss}
    for dest in ("quantile", "huber_epsilon"):
        if getattr(args, dest) is not None:
            settings[dest] = getattr(args, dest)
    return settings


def _validation_loss(model, X_val, y_val):
    """The loss's data part on the validation rows (as trained: a table's target
    standardized)."""
    network = model._network
    X, Y, w = network.check_xy(X_val, np.asarray(y_val).reshape(len(y_val), -1))
    return float(network.data_loss(X, Y, w))


def _loss_banner(model):
    """', loss huber (1.35)' for a regressor's loss beyond squared error, else ''."""
    loss = getattr(model, "loss", "squared_error")
    if loss == "squared_error":
        return ""
    value = {"quantile": "quantile", "huber": "huber_epsilon"}.get(loss)
    return ", loss %s%s" % (loss, " (%g)" % getattr(model, value) if value else "")


def _initial_model(path, Estimator, n_features, classes):
    """A saved model to continue training (``--init-from``), checked against the data."""
    from cymlp import _cli_tables, model_io

    model = model_io.load(path)
    if _cli_tables.is_pipeline(model):
        model = model_io.pipeline_estimator(model)
    if type(model) is not Estimator:
        raise CLIError("%s holds a %s; this data needs a %s" % (
            path, type(model).__name__, Estimator.__name__))
    if model.n_features_in_ != n_features:
        raise CLIError("%s expects %d features per row; the data has %d"
                       % (path, model.n_features_in_, n_features))
    if classes is not None and not np.array_equal(model.classes_, classes):
        raise CLIError("%s was trained on the classes %s; the data has %s"
                       % (path, list(model.classes_)[:10], list(classes)[:10]))
    return model


#: With ``--epochs`` left out, training makes at least this many updates (and at
#: least ``DEFAULT_EPOCHS`` epochs, at most ``MAX_AUTO_EPOCHS``); when that takes more
#: epochs than the default, early stopping on the validation part is switched on.
MIN_UPDATES = 2000
DEFAULT_EPOCHS = 30
MAX_AUTO_EPOCHS = 1000


def _sized_epochs(args, n_fit):
    """``--epochs`` as given, or sized to the data; returns a line for the banner."""
    if getattr(args, "epochs_given", False):
        return None
    per_epoch = -(-n_fit // args.batch_size)
    args.epochs = min(max(DEFAULT_EPOCHS, -(-MIN_UPDATES // per_epoch)), MAX_AUTO_EPOCHS)
    if args.epochs == DEFAULT_EPOCHS:
        return None
    if not args.early_stopping:
        args.early_stopping = True
        args.patience = max(args.patience, args.epochs // 10)
    return ("{} epochs of {} rows would be {:,} updates: training up to {:,} epochs "
            "({:,} updates), stopping after {} epochs without a better validation score "
            "(--epochs N to choose)".format(
                DEFAULT_EPOCHS, n_fit, DEFAULT_EPOCHS * per_epoch, args.epochs,
                args.epochs * per_epoch, args.patience))


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
    from threadpoolctl import threadpool_limits
    from tqdm import tqdm

    from cymlp import MLPClassifier, MLPRegressor
    from cymlp._threads import blas_threads, training_plan

    _check_loss_options(args)
    data, task, X_fit, X_val, y_fit, y_val, plan = _prepare(args)
    # a batch is at most the training rows (the banner and metrics.json say what was used)
    args.batch_size = min(args.batch_size, len(y_fit))
    sizing = _sized_epochs(args, len(y_fit))
    dtype = np.dtype(args.dtype)
    X_fit, X_val, X_test = (np.ascontiguousarray(a, dtype=dtype)
                            for a in (X_fit, X_val, data.X_test))
    classes = np.unique(data.y) if task == "classify" else None
    Estimator = MLPClassifier if task == "classify" else MLPRegressor
    losses = _loss_settings(args, task, y_fit, y_val)
    if args.init_from is not None:
        model = _initial_model(args.init_from, Estimator, X_fit.shape[1], classes)
        model.set_params(solver=args.solver, alpha=args.alpha, batch_size=args.batch_size,
                         learning_rate_init=args.learning_rate, dropout=args.dropout,
                         **losses)
    else:
        model = Estimator(hidden_layer_sizes=args.layers, activation=args.activation,
                          solver=args.solver, alpha=args.alpha, batch_size=args.batch_size,
                          learning_rate_init=args.learning_rate, dropout=args.dropout,
                          random_state=np.random.RandomState(args.seed), **losses)
    n_out = len(classes) if classes is not None and len(classes) > 2 else 1
    sizes = (X_fit.shape[1],) + tuple(model.hidden_layer_sizes) + (n_out,)
    best = None   # --early-stopping: (validation score, epoch, parameters)
    score_name = "accuracy" if task == "classify" else "R2"
    # the losses R² does not judge: early stopping watches their validation loss
    by_loss = getattr(model, "loss", None) in LOSS_SCORED_LOSSES
    print("cymlp: training %s (%s) on %s: %d train / %d validation / %d test rows, %s, %s, "
          "batch %d, %s%s" % ("-".join(map(str, sizes)), task, data.source, len(y_fit),
                              len(y_val), len(data.y_test), args.activation, args.solver,
                              args.batch_size, args.dtype, _loss_banner(model)), flush=True)
    if plan is not None:
        print("cymlp: table: %s" % plan.summary, flush=True)
    if sizing:
        print("cymlp: %s" % sizing, flush=True)
    fit_kwargs = {"classes": classes} if task == "classify" else {}
    history, seconds, partial = [], [], None
    n_coef = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    with threadpool_limits(args.threads), training_plan(args.batch_size, n_coef):
        threads = blas_threads()
        bar = tqdm(range(1, args.epochs + 1), desc="epochs", unit="epoch",
                   disable=args.no_progress, file=sys.stderr)
        try:
            for epoch in bar:
                samples_before = getattr(model, "t_", 0)
                start = time.perf_counter()
                model.partial_fit(X_fit, y_fit, **fit_kwargs)
                if interrupted:   # partial_fit stopped at a batch boundary and returned
                    partial = {"epoch": epoch, "samples": int(model.t_ - samples_before)}
                    break
                seconds.append(time.perf_counter() - start)
                row = {"epoch": epoch, "loss": model.loss_, "seconds": seconds[-1],
                       "train_score": float(model.score(X_fit[:10000], y_fit[:10000])),
                       "validation_score": float(model.score(X_val, y_val))}
                if by_loss:
                    row["validation_loss"] = _validation_loss(model, X_val, y_val)
                history.append(row)
                bar.set_postfix(loss="%.4f" % row["loss"],
                                val="%.4f" % row["validation_score"])
                if args.no_progress:
                    print("epoch %d/%d: loss %.4f, validation %s %.4f, %.3f s"
                          % (epoch, args.epochs, row["loss"], score_name,
                             row["validation_score"], row["seconds"]), flush=True)
                if args.early_stopping:
                    criterion = (-row["validation_loss"] if by_loss
                                 else row["validation_score"])
                    if best is None or criterion > best[0]:
                        best = (criterion, epoch, model._network.params.copy())
                    elif epoch - best[1] >= args.patience:
                        break
        except KeyboardInterrupt:
            # between two partial_fit calls (scoring, the progress bar): no batch lost
            interrupted.append(True)
        finally:
            bar.close()
    if best is not None and best[1] != history[-1]["epoch"]:
        model._network.params[...] = best[2]   # the best validation epoch's weights
        print("cymlp: early stopping: keeping epoch %d (validation %s %.4f)"
              % ((best[1], "loss", -best[0]) if by_loss else (best[1], score_name, best[0])),
              flush=True)
    if interrupted and getattr(model, "t_", 0) == 0:
        print("cymlp: interrupted before the first batch finished; nothing was trained, "
              "nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _write_results(args, model, data, X_test, score_name, history, seconds, partial,
                          bool(interrupted), threads, best[1] if best is not None else None,
                          plan)


def _write_results(args, model, data, X_test, score_name, history, seconds, partial,
                   interrupted, threads, best_epoch, plan):
    """Score the model on the test set; write model, metrics and plot; print a summary.

    For a table the saved model is the pipeline (preprocessing, then the estimator) and
    the test metrics are the pipeline's, on the test rows as they are in the file, in
    the target's units."""
    from sklearn.base import is_regressor

    from cymlp import model_io

    saved, extra = model, {}
    if plan is not None:
        from cymlp._cli_tables import fitted_pipeline
        saved = fitted_pipeline(plan, model)
        test_score = float(saved.score(data.frame_test, data.y_test))
        if is_regressor(model):
            predicted = saved.predict(data.frame_test)
            error = predicted - np.asarray(data.y_test, float)
            extra = {"test_rmse": float(np.sqrt(np.mean(error ** 2))),
                     "test_mae": float(np.mean(np.abs(error)))}
    else:
        test_score = float(model.score(X_test, data.y_test))
    if is_regressor(model) and model.loss == "quantile":
        if plan is None:
            predicted = model.predict(X_test)
        extra["test_below_prediction"] = float(np.mean(
            np.asarray(data.y_test, float).reshape(predicted.shape) < predicted))
    name = "fashion-mnist" if args.data == "fashion-mnist" else Path(args.data).stem
    out_dir = Path(args.output_dir or "runs/%s-%s" % (
        name, datetime.now().strftime("%Y%m%d-%H%M%S")))
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = model_io.save(saved, out_dir / "model.npz")
    metrics_path = out_dir / "metrics.json"
    metrics_path.write_text(json.dumps({
        "settings": {k: (list(v) if isinstance(v, tuple) else v)
                     for k, v in vars(args).items() if k != "command"},
        "environment": _environment(threads),
        "data": {"source": data.source, "sha256": data.sha256,
                 "feature_names": data.feature_names},
        "score": score_name,
        "epochs": history,
        "epochs_completed": len(history),
        "interrupted": interrupted,
        # how far the interrupted epoch got: its batches are in the saved model
        "interrupted_epoch": partial,
        "best_epoch": best_epoch,
        "initial_model": args.init_from,
        "samples_trained": int(model.t_),
        "test_score": test_score,
        **extra,
        "table": plan.summary if plan is not None else None,
        "seconds_per_epoch": float(np.median(seconds)) if seconds else None,
    }, indent=2))
    plot_path = out_dir / "curves.png"
    if history:
        _plot(history, plot_path, score_name, "cross-entropy" if score_name == "accuracy"
              else "squared error", name)
    if interrupted:
        done = "%d epoch(s)" % len(history)
        if partial and partial["samples"]:
            done += " and %d samples of epoch %d" % (partial["samples"], partial["epoch"])
        print("cymlp: interrupted after %s; saved what was trained" % done, file=sys.stderr)
    print("test %s: %.4f" % (score_name, test_score))
    if "test_rmse" in extra:
        print("test RMSE: %.4g, MAE: %.4g (in the target's units)"
              % (extra["test_rmse"], extra["test_mae"]))
    if "test_below_prediction" in extra:
        print("test: %.3f of the targets below the prediction (quantile %g)"
              % (extra["test_below_prediction"], model.quantile))
    if seconds:
        print("time per epoch: %.3f s (median of %d epochs, training only)"
              % (np.median(seconds), len(seconds)))
    print("model:   %s" % model_path)
    print("metrics: %s" % metrics_path)
    if history:
        print("plot:    %s" % plot_path)
    return EXIT_INTERRUPTED if interrupted else 0

