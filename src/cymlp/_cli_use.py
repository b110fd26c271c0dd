"""``cymlp evaluate`` and ``cymlp predict``: use a saved model.

Every problem with a file (missing, not a model, not an array, wrong shape) is reported
as one line naming the file.
"""
from pathlib import Path

import numpy as np

from cymlp._files import regular_file_problem, replaced_atomically, same_file
from cymlp._cli_errors import CLIError


def _load_estimator(path, command):
    """The estimator saved at ``path`` (a bare Network is refused for ``command``)."""
    from cymlp import model_io

    model = model_io.load(path)
    if not hasattr(model, "n_features_in_"):
        raise CLIError("%s holds a bare Network; %s needs a model written by cymlp train"
                       % (path, command))
    return model


def _estimator_of(model):
    """The cymlp estimator of a model (itself, or a pipeline's last)."""
    from cymlp import _cli_tables, model_io

    return model_io.pipeline_estimator(model) if _cli_tables.is_pipeline(model) else model


def evaluate(args):
    """Run ``cymlp evaluate``: a classifier's accuracy, per-class precision and recall and
    confusion matrix, or a regressor's R², RMSE and MAE, on Fashion-MNIST's test images
    or on the rows of ``--data`` (all of them).

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
    """
    from cymlp import MLPClassifier, _cli_data

    from cymlp import _cli_tables
    from cymlp._table_reader import is_table, split_target

    model = _load_estimator(args.model, "evaluate")
    if _cli_tables.is_pipeline(model):
        if args.data == _cli_data.FASHION or not is_table(args.data):
            raise CLIError("%s was trained on a table; evaluate it on a table (--data "
                           "FILE.csv)" % args.model)
        _, frame, _ = _cli_tables.table_rows(args.data, model, args, "evaluate")
        target = _cli_tables.guess_target(frame, model, args.target)
        try:
            X, y = split_target(frame, target, args.data)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
        X = X[[str(c) for c in model.feature_names_in_]]
        source = args.data + " (target %r)" % target
    else:
        data = _cli_data.load(args.data, args).numeric()
        X, y = (data.X_test, data.y_test) if data.X_test is not None else (data.X, data.y)
        source = data.source
        if model.n_features_in_ != X.shape[1]:
            raise CLIError("%s expects %d features per row; %s has %d"
                           % (args.model, model.n_features_in_, source, X.shape[1]))
    if isinstance(_estimator_of(model), MLPClassifier):
        _report_classifier(model, X, y, source)
    else:
        _report_regressor(model, X, y, source)
    return 0


def _report_classifier(model, X, y, source):
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from cymlp.datasets import FASHION_MNIST_CLASSES

    unseen = np.setdiff1d(np.unique(y), model.classes_)
    if unseen.size:
        raise CLIError("%s has labels the model does not know: %s"
                       % (source, ", ".join(map(str, unseen[:5]))))
    predicted = model.predict(X)
    precision, recall, _, support = precision_recall_fscore_support(
        y, predicted, labels=model.classes_, zero_division=0)
    fashion = source.startswith("Fashion-MNIST")
    print("accuracy: %.4f on %d %s" % ((predicted == y).mean(), len(y),
                                        "test images" if fashion else "rows of " + source))
    if fashion:
        print("class  name         precision  recall  support")
        for label, p, r, s in zip(model.classes_, precision, recall, support):
            print("%5s  %-11s  %9.4f  %6.4f  %7d" % (label, FASHION_MNIST_CLASSES[label], p,
                                                     r, s))
    else:
        width = max(5, *(len(str(c)) for c in model.classes_))
        print("%s  precision  recall  support" % "class".ljust(width))
        for label, p, r, s in zip(model.classes_, precision, recall, support):
            print("%s  %9.4f  %6.4f  %7d" % (str(label).ljust(width), p, r, s))
    print("confusion matrix (rows: true class, columns: predicted):")
    matrix = confusion_matrix(y, predicted, labels=model.classes_)
    width = max(5, len(str(matrix.max())) + 1, *(len(str(c)) + 1 for c in model.classes_))
    print(" " * 6 + "".join(str(c).rjust(width) for c in model.classes_))
    for label, row in zip(model.classes_, matrix):
        print(str(label).rjust(5) + " " + "".join(str(v).rjust(width) for v in row))


def _report_regressor(model, X, y, source):
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    if y.dtype.kind not in "iuf":
        raise CLIError("%s has non-numeric targets; the model is a regressor" % source)
    predicted = model.predict(X)
    print("R2: %.4f, RMSE: %.4g, MAE: %.4g on %d rows of %s" % (
        r2_score(y, predicted), np.sqrt(mean_squared_error(y, predicted)),
        mean_absolute_error(y, predicted), len(y), source))


def read_rows(path, key=None):
    """Read the rows to predict from a ``.npy`` array or one array of a ``.npz`` archive.

    Parameters
    ----------
    path : str
    key : str, optional
        The array of a ``.npz`` archive (default: its only array, or ``X``).

    Returns
    -------
    ndarray
        As stored (see ``as_rows``).
    """
    from cymlp._cli_data import read_npz_arrays

    path = str(path)
    problem = regular_file_problem(path)   # FileNotFoundError passes through
    if problem:
        raise CLIError("%s %s" % (path, problem))
    try:
        loaded = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise CLIError("%s is not a NumPy .npy or .npz file (%s)"
                       % (path, str(exc).split(".")[0])) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        return loaded
    with loaded:
        names = list(loaded.files)
        if key is None:
            key = names[0] if len(names) == 1 else "X" if "X" in names else None
        if key not in names:
            raise CLIError("%s holds the arrays %s; choose one with --key"
                           % (path, ", ".join(names) or "(none)"))
        return read_npz_arrays(loaded, (key,), path)[0]


def as_rows(X, path, n_features):
    """Shape a loaded array into rows of ``n_features`` numbers (images flattened,
    uint8 scaled to [0, 1]), or raise a one-line error naming ``path``."""
    if X.dtype.kind not in "biuf":
        raise CLIError("%s holds %s values, not numbers" % (path, X.dtype))
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    if X.ndim != 2:
        raise CLIError("%s holds a %d-D array of %d values; predict needs one row per "
                       "sample (a 2-D array, or images as a 3-D array)"
                       % (path, X.ndim, X.size))
    if X.shape[1] != n_features:
        raise CLIError("%s has rows of %d values; the model expects %d"
                       % (path, X.shape[1], n_features))
    if X.dtype == np.uint8:
        X = X.astype(np.float32) / np.float32(255)
    return X


def predict(args):
    """Run ``cymlp predict``: write one prediction per row (class labels as they were in
    the training data, or values), or with ``--proba`` one probability per class.

    Parameters
    ----------
    args : argparse.Namespace

    Returns
    -------
    int
    """
    from cymlp import MLPClassifier

    from cymlp import _cli_tables
    from cymlp._table_reader import is_table

    model = _load_estimator(args.model, "predict")
    ids = None
    if is_table(args.file):
        if not _cli_tables.is_pipeline(model):
            raise CLIError("%s was trained on arrays; predict reads a table only for a model "
                           "trained on one (give a .npy or .npz file)" % args.model)
        X, frame, id_columns = _cli_tables.table_rows(args.file, model, args, "predict")
        ids = frame[id_columns] if id_columns else None
        default_suffix = ".pred.csv"
    else:
        X = as_rows(read_rows(args.file, args.key), args.file, model.n_features_in_)
        if _cli_tables.is_pipeline(model):
            X = _table_of_array(model, X, args.file)
        default_suffix = ".pred.npy"
    if args.proba and not isinstance(_estimator_of(model), MLPClassifier):
        raise CLIError("--proba needs a classifier; %s holds a regressor" % args.model)
    output = Path(args.output or str(Path(args.file).with_suffix("")) + default_suffix)
    if output.suffix.lower() not in (".npy", ".csv"):
        raise CLIError("--output %s: the predictions file must end in .npy or .csv"
                       % output)
    for what, path in (("the input file", args.file), ("the model file", args.model)):
        if same_file(output, path):
            raise CLIError("--output %s is %s, which would be overwritten" % (output, what))
    predictions = model.predict_proba(X) if args.proba else model.predict(X)
    if output.suffix.lower() == ".csv":
        _write_csv(output, predictions, model.classes_ if args.proba else None, ids)
    else:
        with replaced_atomically(output) as handle:
            np.save(handle, predictions, allow_pickle=False)
    print("wrote %d predictions to %s" % (len(predictions), output))
    return 0


def _write_csv(path, predictions, classes, ids=None):
    """One row per prediction; with ``classes``, one column of probability per class;
    ``ids`` (a DataFrame of the input's id columns) first."""
    import csv

    rows = predictions.reshape(len(predictions), -1).tolist()
    names = ["proba_%s" % c for c in classes] if classes is not None else \
        ["prediction"] if len(rows) == 0 or len(rows[0]) == 1 else \
        ["prediction_%d" % k for k in range(len(rows[0]))]
    if ids is not None:
        names = [str(c) for c in ids.columns] + names
        rows = [list(key) + row for key, row in zip(ids.itertuples(index=False), rows)]
    with replaced_atomically(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(rows)


def _table_of_array(model, X, path):
    """Rows of an array as the table a pipeline reads: its columns, in training order,
    when they are all numbers."""
    import pandas as pd

    from cymlp.tables import categorical_columns

    names = [str(c) for c in model.feature_names_in_]
    text = categorical_columns(model)
    if text:
        raise CLIError("%s: the model reads the text columns %s; give a table (.csv) "
                       % (path, ", ".join(text[:5])))
    if X.shape[1] != len(names):
        raise CLIError("%s has rows of %d values; the model reads the %d columns %s"
                       % (path, X.shape[1], len(names), ", ".join(names[:10])))
    return pd.DataFrame(X, columns=names)
