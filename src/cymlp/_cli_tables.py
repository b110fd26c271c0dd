"""``cymlp train`` on a table: the columns' roles, the preprocessing fitted on the
training part, the target standardized for a regressor, the pipeline that is saved;
and, for ``predict``/``evaluate``, a new table matched to a saved pipeline by column
name.

The roles and transformers are ``cymlp.tables``'; this module does what only the
command needs: notices, one-line errors, and assembling the fitted pipeline around an
estimator trained epoch by epoch.
"""
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from cymlp._cli_errors import CLIError
from cymlp._names import LOG_LINK_LOSSES


@dataclass
class TablePlan:
    """A table's preprocessing for one training run."""

    roles: Any                 # tables.ColumnRoles
    preprocessor: Any          # fitted ColumnTransformer
    target_scaler: Any = None  # fitted StandardScaler of a regressor's target
    summary: str = ""


def fit_plan(X_fit, y_fit, task, args, initial=None):
    """Fit the preprocessing on the training part (or take a saved pipeline's).

    Parameters
    ----------
    X_fit : pandas.DataFrame
    y_fit : ndarray
    task : {'classify', 'regress'}
    args : argparse.Namespace
        ``drop``, ``categorical``.
    initial : sklearn.pipeline.Pipeline, optional
        A saved pipeline (``--init-from``): its fitted preprocessing is kept.

    Returns
    -------
    TablePlan
    """
    from sklearn.preprocessing import StandardScaler

    from cymlp import tables

    try:   # (column_roles splits the options' comma-separated names itself)
        roles = tables.column_roles(X_fit, drop=args.drop, categorical=args.categorical)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if initial is not None:
        from cymlp.model_io import pipeline_estimator
        kind = type(pipeline_estimator(initial)).__name__
        wanted = "MLPClassifier" if task == "classify" else "MLPRegressor"
        if kind != wanted:
            raise CLIError("%s holds a %s; this data needs a %s" % (args.init_from, kind,
                                                                    wanted))
        preprocessor = initial[:-1]
        needed = list(preprocessor.feature_names_in_)
        missing = [name for name in needed if name not in X_fit.columns]
        if missing:
            raise CLIError("%s needs the columns %s, which the data lacks"
                           % (args.init_from, ", ".join(map(repr, missing))))
        scaler = getattr(initial.steps[-1][1], "transformer_", None)
    else:
        preprocessor = tables.make_preprocessor(roles)
        features = X_fit[roles.features]
        preprocessor.fit(features)
        # a log-link loss trains on the targets themselves: standardizing would make
        # some negative
        scaler = StandardScaler().fit(y_fit.reshape(-1, 1).astype(float)) \
            if task == "regress" and getattr(args, "loss", None) not in LOG_LINK_LOSSES \
            else None
    missing_rows = int(X_fit[roles.features].isna().any(axis=1).sum())
    fitted = preprocessor[-1] if hasattr(preprocessor, "steps") else preprocessor
    return TablePlan(roles, preprocessor, scaler,
                     tables.summary(roles, fitted, missing_rows))


def features_of(plan, X):
    """The feature array of a table's rows under a fitted plan."""
    names = list(plan.preprocessor.feature_names_in_)
    missing = [name for name in names if name not in X.columns]
    if missing:
        raise CLIError("the test data lacks the column%s %s" % (
            "" if len(missing) == 1 else "s", ", ".join(map(repr, missing[:10]))))
    return np.asarray(plan.preprocessor.transform(X[names]), dtype=float)


def scaled_targets(plan, y):
    """A regressor's targets standardized as in training (classes pass through)."""
    if plan.target_scaler is None:
        return y
    return plan.target_scaler.transform(np.asarray(y, float).reshape(-1, 1)).ravel()


def fitted_pipeline(plan, model):
    """The pipeline ``model_io`` saves: the fitted preprocessing, then ``model`` (a
    regressor inside a fitted ``TransformedTargetRegressor`` with the target scaler).

    Parameters
    ----------
    plan : TablePlan
    model : MLPClassifier or MLPRegressor

    Returns
    -------
    sklearn.pipeline.Pipeline
    """
    from sklearn.base import clone
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline

    steps = list(plan.preprocessor.steps) if hasattr(plan.preprocessor, "steps") else [
        ("columns", plan.preprocessor)]
    last = model
    if plan.target_scaler is not None:
        last = TransformedTargetRegressor(regressor=clone(model),
                                          transformer=clone(plan.target_scaler))
        # what TransformedTargetRegressor.fit sets, for a regressor trained by the
        # command's own epoch loop on the standardized targets
        last.regressor_ = model
        last.transformer_ = plan.target_scaler
        last._training_dim = 1
    return Pipeline(steps + [("model", last)])


def summarize_classes(y):
    """One line about classes too small to split (never the whole class list)."""
    labels, counts = np.unique(y, return_counts=True)
    single = int((counts < 2).sum())
    if single:
        text = "{:,} of {:,} classes have one row".format(single, labels.size)
        if np.asarray(y).dtype.kind in "iuf":
            text += "; for a numeric target use --task regress"
        return text
    return None


def table_rows(path, model, args, command):
    """Read a table for a saved pipeline: its columns by name in any order, extra
    columns ignored with a notice, a missing one refused.

    Parameters
    ----------
    path : str
    model : sklearn.pipeline.Pipeline
    args : argparse.Namespace
    command : str
        For messages.

    Returns
    -------
    X : pandas.DataFrame
        The columns the pipeline reads, in its order.
    frame : pandas.DataFrame
        The whole table.
    ids : list of str
        Columns the model does not read whose text values are unique per row.
    """
    from cymlp._table_reader import read_table

    needed = [str(c) for c in model.feature_names_in_]
    from cymlp.tables import categorical_columns

    categorical = categorical_columns(model)
    target = getattr(args, "target", None)
    try:
        frame = read_table(path, categorical=categorical, target=target,
                           has_target=bool(target))
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    missing = [name for name in needed if name not in frame.columns]
    if missing:
        raise CLIError("%s lacks the column%s %s that the model reads (it was trained on "
                       "%s)" % (path, "" if len(missing) == 1 else "s",
                                ", ".join(map(repr, missing[:10])), ", ".join(needed[:10])))
    from cymlp.tables import is_id_column

    extra = [str(c) for c in frame.columns if c not in needed]
    ids = [c for c in extra if is_id_column(c, frame[c], min_rows=1)]
    if extra and command == "predict":
        print("cymlp: %d column%s the model does not read: %s%s" % (
            len(extra), "" if len(extra) == 1 else "s", ", ".join(extra[:8]),
            " ..." if len(extra) > 8 else "") + (
            " (carried to the output: %s)" % ", ".join(ids) if ids else ""), flush=True)
    return frame[needed], frame, ids


def guess_target(frame, model, explicit):
    """The target column of a table to evaluate on: ``--target``, else the one column
    the model does not read and that is not an id, else the last column."""
    from cymlp.tables import is_id_column

    if explicit:
        return explicit
    needed = set(map(str, model.feature_names_in_))
    unused = [c for c in frame.columns if c not in needed and not is_id_column(c, frame[c])]
    if len(unused) == 1:
        return unused[0]
    raise CLIError("name the target column with --target (the columns the model does "
                   "not read: %s)" % (", ".join(map(str, unused[:10])) or "none"))


def is_pipeline(model: Optional[Any]) -> bool:
    """Whether a loaded model is a pipeline (a table's preprocessing and an estimator)."""
    return type(model).__name__ == "Pipeline"
