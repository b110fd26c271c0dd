"""The ``cymlp`` command: ``train``, ``evaluate`` and ``predict``.

This module parses the command line and turns every error into one line on stderr
(exit status 2) and Ctrl-C into exit status 130, never a traceback.  It imports only
the standard library at start-up, so ``cymlp --help`` and ``cymlp --version`` answer
at once; the commands live in ``_cli_train`` and ``_cli_use``.
"""
import argparse
import sys

from cymlp._cli_errors import EXIT_ERROR, EXIT_INTERRUPTED, CLIError
from cymlp._names import ACTIVATION_CODES, REGRESSION_LOSSES   # plain data: no numpy
from cymlp._version import __version__

__all__ = ["CLIError", "EXIT_ERROR", "EXIT_INTERRUPTED", "build_parser", "main"]

DESCRIPTION = """Multi-layer perceptrons with a compiled core.

cymlp train trains the 784-200-100-10 network (logistic hidden layers, softmax output)
on Fashion-MNIST, or a network on your own data (IDX, .npz, or a CSV/TSV/Parquet table
with text, boolean and numeric columns and empty cells; classification or regression),
shows its progress, and writes a model file (a table's preprocessing included),
per-epoch metrics (JSON) and a plot of the curves under runs/.  cymlp evaluate reports
a model's scores on test data; cymlp predict writes predictions for the rows of a
.npy, .npz or table file."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and exit status 2."""

    def error(self, message):
        raise CLIError("%s (see %s --help)" % (message, self.prog))


class _Given(argparse.Action):
    """Store the value and record that the option was given (``args.NAME_given``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, self.dest + "_given", True)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("must be an integer >= 1, got %r" % text) from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be an integer >= 1, got %s" % text)
    return value


def _seed(text):
    """A seed numpy's RandomState takes: an integer in [0, 2**32 - 1]."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 2 ** 32 - 1:
        raise argparse.ArgumentTypeError("must be an integer from 0 to 4294967295, got %r"
                                         % text)
    return value


def _number(accepts, wording):
    """An argparse type: a float for which ``accepts(value)`` holds, else the error
    "must be a number WORDING"."""
    def convert(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("must be a number %s, got %r"
                                             % (wording, text)) from None
        if not accepts(value):
            raise argparse.ArgumentTypeError("must be a number %s, got %s" % (wording, text))
        return value
    return convert


_positive_float = _number(lambda v: 0 < v < float("inf"), "> 0")
_fraction = _number(lambda v: 0 < v < 1, "in (0, 1)")
_non_negative_float = _number(lambda v: 0 <= v < float("inf"), ">= 0")
_unit_rate = _number(lambda v: 0 <= v < 1, "in [0, 1)")


def _layer_sizes(text):
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("must be comma-separated sizes like 200,100, got %r"
                                         % text) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be integers >= 1, got %r" % text)
    return sizes


def _add_data_options(command, what):
    """--data and the options that say how to read it."""
    command.add_argument("--data", default="fashion-mnist",
                         help=what + ": fashion-mnist, a folder of IDX files (MNIST's file "
                                     "names), a .npz file (see --x-key, --y-key) or a "
                                     ".csv/.tsv/.parquet table with a header row (see "
                                     "--target)")
    command.add_argument("--target", default=None,
                         help="the target column of a table (default: its last column; "
                              "for evaluate, the one column the model does not read)")
    command.add_argument("--x-key", default="X", help="the features array of a .npz file")
    command.add_argument("--y-key", default="y", help="the targets array of a .npz file")
    command.add_argument("--data-dir", default=None,
                         help="a folder holding Fashion-MNIST's four IDX files (default: "
                              "CYMLP_DATA_DIR, Debian's copy, or the download cache)")


def build_parser():
    """Return the argument parser of the ``cymlp`` command.

    Returns
    -------
    argparse.ArgumentParser
    """
    formatter = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(prog="cymlp", description=DESCRIPTION,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version="cymlp " + __version__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser(
        "train", formatter_class=formatter,
        help="train a network on Fashion-MNIST or your own data and report",
        description="Train an MLP classifier or regressor (on Fashion-MNIST by default: "
                    "54,000 training, 6,000 validation and 10,000 test images) and write "
                    "model.npz, metrics.json and curves.png; the input and output sizes "
                    "come from the data.  Ctrl-C stops after the current batch and saves "
                    "what was trained.")
    train.add_argument("--layers", type=_layer_sizes, default=(200, 100),
                       help="hidden layer sizes, comma-separated")
    train.add_argument("--activation", default="logistic", choices=sorted(ACTIVATION_CODES),
                       help="activation of the hidden layers")
    train.add_argument("--solver", default="adam", choices=["adam", "adamw", "sgd"],
                       help="optimizer")
    train.add_argument("--loss", default=None, choices=REGRESSION_LOSSES,
                       help="a regressor's loss (default squared_error): absolute_error "
                            "and huber resist outliers, quantile predicts --quantile's "
                            "quantile, poisson and gamma (targets > 0) a log-link mean; "
                            "a classifier's is the cross-entropy")
    train.add_argument("--quantile", type=_fraction, default=None,
                       help="with --loss quantile: the quantile level (default 0.5)")
    train.add_argument("--huber-epsilon", type=_positive_float, default=None,
                       help="with --loss huber: the threshold, in standard deviations of "
                            "a table's target (default 1.35)")
    train.add_argument("--dropout", type=_unit_rate, default=None,
                       help="dropout rate of the hidden layers while training, in [0, 1)")
    train.add_argument("--epochs", type=_positive_int, default=30, action=_Given,
                       help="passes over the training rows; when not given and 30 make "
                            "fewer than 2,000 updates (a small table), as many as make "
                            "2,000 (at most 1,000), with early stopping")
    train.add_argument("--batch-size", type=_positive_int, default=128,
                       help="images per mini-batch")
    train.add_argument("--learning-rate", type=_positive_float, default=0.001,
                       help="initial step size")
    train.add_argument("--alpha", type=_non_negative_float, default=0.0001,
                       help="L2 penalty strength")
    train.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                       help="floating-point type of the training")
    train.add_argument("--threads", type=_positive_int, default=None,
                       help="threads (default: what BLAS is allowed, usually all cores)")
    train.add_argument("--seed", type=_seed, default=0,
                       help="seed of the initial weights, the shuffles and the split")
    train.add_argument("--validation-fraction", type=_fraction, default=0.1,
                       help="share of the training images held out for validation")
    _add_data_options(train, "the training data")
    train.add_argument("--test-data", default=None,
                       help="test data in the same forms (default: the data set's test "
                            "part, or --test-fraction of --data held out)")
    train.add_argument("--test-fraction", type=_fraction, default=0.2,
                       help="share of --data held out for the test score when it has no "
                            "test part and --test-data is not given")
    train.add_argument("--task", choices=["classify", "regress"], default=None,
                       help="default: regress when the targets are non-integer numbers "
                            "(in a table also whole numbers with more than 30 distinct "
                            "values), else classify")
    train.add_argument("--drop", default=None, metavar="COL,...",
                       help="table columns that are not features (text columns unique per "
                            "row, such as names or ids, are dropped without asking)")
    train.add_argument("--categorical", default=None, metavar="COL,...",
                       help="table columns to one-hot encode whatever they hold (a numeric "
                            "code such as a postcode); text and boolean columns are "
                            "one-hot already, numbers standardized")

    train.add_argument("--init-from", default=None, metavar="MODEL",
                       help="continue training a model saved by cymlp train (its layers "
                            "and activation; a new optimizer)")
    train.add_argument("--early-stopping", action="store_true",
                       help="stop when the validation score has not improved for "
                            "--patience epochs, and keep the best epoch's model")
    train.add_argument("--patience", type=_positive_int, default=10,
                       help="epochs without improvement before --early-stopping stops")
    train.add_argument("--output-dir", default=None,
                       help="where to write the results (default: runs/NAME-TIME, NAME "
                            "the data set or file)")
    train.add_argument("--no-progress", action="store_true",
                       help="one line per epoch instead of a progress bar")

    evaluate = commands.add_parser(
        "evaluate", formatter_class=formatter,
        help="report a model's scores on test data",
        description="A classifier's accuracy, per-class precision and recall and "
                    "confusion matrix, or a regressor's R2, RMSE and MAE: on a data set's "
                    "test part (Fashion-MNIST's 10,000 test images, an IDX folder's "
                    "t10k files) or on every row of a .npz or CSV/TSV file.")
    evaluate.add_argument("model", help="a model file written by cymlp train")
    _add_data_options(evaluate, "the data to evaluate on")

    predict = commands.add_parser(
        "predict", formatter_class=formatter,
        help="predict the rows of a .npy, .npz or table file",
        description="Write one prediction per row: the class label as it was in the "
                    "training data (numbers or strings), the value of a regressor, or "
                    "with --proba the probability of each class.  uint8 inputs (images) "
                    "are scaled to [0, 1]; 3-D arrays of images are flattened to rows.  "
                    "A model trained on a table takes a table with the same columns by "
                    "name, in any order (others are ignored; text columns unique per row, "
                    "such as ids, are copied beside the predictions).")
    predict.add_argument("model", help="a model file written by cymlp train")
    predict.add_argument("file", help="a .npy array, a .npz archive (see --key), or for a "
                                      "model trained on a table a .csv/.tsv/.parquet table")
    predict.add_argument("--key", default=None,
                         help="the array of a .npz archive to use (default: its only "
                              "array, or 'X')")
    predict.add_argument("--proba", action="store_true",
                         help="write each class's probability instead of the label")
    predict.add_argument("--output", default=None,
                         help="where to write the predictions: .npy, or .csv (default: "
                              "FILE.pred.npy, or FILE.pred.csv for a table)")
    return parser


def main(argv=None):
    """Entry point of the ``cymlp`` console script.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    int
        Exit status: 0, 2 for an error, 130 after Ctrl-C.
    """
    try:
        args = build_parser().parse_args(argv)
        if args.command == "train":
            from cymlp._cli_train import train
            return train(args)
        from cymlp import _cli_use
        return getattr(_cli_use, args.command)(args)
    except KeyboardInterrupt:
        print("cymlp: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:   # noqa: BLE001 -- every error is one line, never a traceback
        return _report(exc)


def _report(exc):
    """Print an error in one line; return the exit status."""
    if isinstance(exc, FileNotFoundError) and exc.filename:
        text = "%s: no such file or directory" % exc.filename
    elif isinstance(exc, PermissionError) and exc.filename:
        text = "%s: permission denied" % exc.filename
    elif isinstance(exc, (CLIError, ValueError, TypeError, OSError)):
        text = str(exc)
    else:
        text = "%s: %s" % (type(exc).__name__, exc)
    print("cymlp: error: %s" % " ".join(text.split()), file=sys.stderr)
    return EXIT_ERROR
