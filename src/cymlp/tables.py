"""Tables as users have them: text, boolean and numeric columns, empty cells, id columns.

``make_table_pipeline(estimator, X)`` builds the scikit-learn ``Pipeline`` that
``cymlp train`` fits on a CSV, TSV or Parquet table: a ``ColumnTransformer`` of
scikit-learn's own transformers, then the cymlp estimator.  ``column_roles`` says what
each column becomes and ``infer_task`` whether a target is classes or values; both are
the rules the command line applies, stated here once:

- **numeric** columns (integers and floats) are standardized (``StandardScaler``);
  empty cells are imputed with the column's median (``SimpleImputer``) and, for a
  column with any empty cell in the data the pipeline is built for, a 0/1
  missing-indicator feature is added (``MissingIndicator``);
- **categorical** columns (text, booleans, pandas categoricals, and the numeric
  columns named in ``categorical``) are one-hot encoded (``OneHotEncoder``): an empty
  cell is a category of its own, a category unseen in training encodes as all zeros,
  and at most ``max_categories`` features come from one column: categories with
  fewer than ``min_frequency`` rows, then the rarest beyond the cap, are pooled into
  one "infrequent" feature, so a column of 10**6 distinct strings costs at most
  ``max_categories`` features;
- **id** columns: a non-numeric column whose values are all different (over at least
  ``ID_MIN_ROWS`` rows: a name or an identifier), or a column without a name whose
  values are all different (the row names or index that R's ``write.csv`` and pandas'
  ``to_csv`` write first, read as ``Unnamed: 0``), is not a feature; the command line
  carries it to ``predict``'s output so rows can be matched;
- columns named in ``drop``, and columns without a single value, are not features
  either.

For a regressor the last step is a ``TransformedTargetRegressor`` that standardizes
the target for training; predictions and scores are in the target's own units.  A
regressor with a log-link loss (``poisson``, ``gamma``) takes the target as it is
(standardizing would make some targets negative).
"""
from dataclasses import dataclass, field

import numpy as np

from cymlp._names import LOG_LINK_LOSSES

#: At most this many one-hot features per categorical column (the infrequent pool is
#: one of them), and categories seen on fewer rows than this are pooled.
MAX_CATEGORIES = 32
MIN_FREQUENCY = 5
#: A text column whose values are all different is an id column from this many rows.
ID_MIN_ROWS = 10
#: An integer target with at most this many distinct values is taken as classes.
MAX_INTEGER_CLASSES = 30

__all__ = ["ColumnRoles", "categorical_columns", "column_roles", "infer_task",
           "is_id_column", "make_preprocessor", "make_table_pipeline", "summary",
           "MAX_CATEGORIES", "MIN_FREQUENCY", "ID_MIN_ROWS", "MAX_INTEGER_CLASSES"]


@dataclass
class ColumnRoles:
    """What each column of a table becomes (see the module's docstring).

    Parameters
    ----------
    numeric : list of str
        Standardized (missing cells imputed with the median).
    missing : list of str
        The numeric columns with empty cells, which get a missing-indicator feature.
    categorical : list of str
        One-hot encoded.
    ids : list of str
        Values unique per row: not features.
    dropped : list of str
        Named in ``drop``: not features.
    empty : list of str
        Without a single value in the data: not features (nothing to learn from, and
        no median to impute).
    order : list of str
        Every column, in the table's order.
    """

    numeric: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    categorical: list = field(default_factory=list)
    ids: list = field(default_factory=list)
    dropped: list = field(default_factory=list)
    empty: list = field(default_factory=list)
    order: list = field(default_factory=list)

    @property
    def features(self):
        """The columns the pipeline reads, in the table's order (a list of str)."""
        used = set(self.numeric) | set(self.categorical)
        return [c for c in self.order if c in used]


def _is_numeric(column):
    from pandas.api.types import is_bool_dtype, is_numeric_dtype
    return is_numeric_dtype(column.dtype) and not is_bool_dtype(column.dtype)


def is_id_column(name, column, min_rows=ID_MIN_ROWS):
    """Whether a column is an id column (see the module's docstring).

    Parameters
    ----------
    name : str
        The column's name.
    column : pandas.Series
        Its values.
    min_rows : int, default=ID_MIN_ROWS
        Fewest rows for a text column to count (1 for rows to predict).

    Returns
    -------
    bool
        Whether the column identifies rows rather than describing them.
    """
    if not (column.notna().all() and column.is_unique):
        return False
    return _unnamed(name) or (not _is_numeric(column) and column.dtype != bool
                              and len(column) >= min_rows)


def _unnamed(name):
    """A column without a name in the file, as pandas calls it (``Unnamed: 0``)."""
    return name == "" or (name.startswith("Unnamed: ") and name[9:].isdigit())


def _names(value, what, columns):
    """A list of column names from a list or a comma-separated string, all present."""
    if value is None:
        return []
    names = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) \
        else list(value)
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise ValueError("%s names columns the table does not have: %s (its columns: %s)"
                         % (what, ", ".join(map(repr, unknown)),
                            ", ".join(map(str, columns))))
    return names


def column_roles(X, *, drop=None, categorical=None):
    """Decide what each column of the DataFrame ``X`` becomes.

    Parameters
    ----------
    X : pandas.DataFrame
        The table's feature columns (the target excluded), as the pipeline will be
        fitted on them.
    drop : list of str or str, optional
        Columns that are not features (a comma-separated string is split).
    categorical : list of str or str, optional
        Columns one-hot encoded whatever their type (a numeric code such as a postcode).

    Returns
    -------
    ColumnRoles
        The columns by role, each list in the table's order.

    Raises
    ------
    ValueError
        For names the table does not have, a column named twice, or no feature left.
    TypeError
        When ``X`` is not a DataFrame.
    """
    import pandas as pd

    if not isinstance(X, pd.DataFrame):
        raise TypeError("X must be a pandas DataFrame, got %s" % type(X).__name__)
    columns = [str(c) for c in X.columns]
    if len(set(columns)) != len(columns):
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        raise ValueError("the table has repeated column names: %s" % ", ".join(repeated))
    dropped = _names(drop, "drop", columns)
    forced = _names(categorical, "categorical", columns)
    both = sorted(set(dropped) & set(forced))
    if both:
        raise ValueError("columns both dropped and categorical: %s" % ", ".join(both))
    roles = ColumnRoles(dropped=dropped, order=columns)
    for name, original in zip(columns, X.columns):
        if name in dropped:
            continue
        column = X[original]
        if len(column) and column.isna().all():
            roles.empty.append(name)
        elif name in forced:
            roles.categorical.append(name)
        elif is_id_column(name, column):
            roles.ids.append(name)
        elif _is_numeric(column):
            roles.numeric.append(name)
            if column.isna().any():
                roles.missing.append(name)
        else:
            roles.categorical.append(name)
    if not roles.numeric and not roles.categorical:
        raise ValueError("the table has no feature columns left (id columns: %s; dropped: "
                         "%s; empty: %s)" % (", ".join(roles.ids) or "none",
                                             ", ".join(roles.dropped) or "none",
                                             ", ".join(roles.empty) or "none"))
    return roles


def infer_task(y):
    """``classify`` or ``regress`` for a target column, and why.

    Text, booleans and categoricals are classes; floats with a fractional part are
    values; whole numbers are classes when there are at most ``MAX_INTEGER_CLASSES``
    distinct ones, else values (a price, a count, a year).

    Parameters
    ----------
    y : pandas.Series or ndarray
        The target column, without empty cells.

    Returns
    -------
    task : {'classify', 'regress'}
        Classes or values.
    reason : str
        One line for the banner.
    """
    values = np.asarray(y)
    if values.dtype.kind not in "iuf":
        return "classify", "its values are labels"
    distinct = np.unique(values).size
    if values.dtype.kind == "f" and not (values == np.round(values)).all():
        return "regress", "its values are numbers with fractions"
    if distinct <= MAX_INTEGER_CLASSES:
        return "classify", "%d distinct whole numbers (at most %d are classes)" % (
            distinct, MAX_INTEGER_CLASSES)
    return "regress", ("{:,} distinct whole numbers, more than {} classes: values to "
                       "regress (--task classify to treat them as classes)".format(
                           distinct, MAX_INTEGER_CLASSES))


def make_preprocessor(roles, *, max_categories=MAX_CATEGORIES, min_frequency=MIN_FREQUENCY):
    """The ``ColumnTransformer`` for ``roles`` (unfitted).

    Parameters
    ----------
    roles : ColumnRoles
        From ``column_roles``.
    max_categories : int, default=MAX_CATEGORIES
        Most one-hot features from one column, the infrequent pool included.
    min_frequency : int, default=MIN_FREQUENCY
        Categories seen on fewer rows are pooled as infrequent.

    Returns
    -------
    sklearn.compose.ColumnTransformer
        Parts ``numeric``, ``missing`` and ``categorical_0``, ``categorical_1``... (one
        encoder per column), the other columns dropped.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = []
    if roles.numeric:
        parts.append(("numeric", Pipeline([("impute", SimpleImputer(strategy="median")),
                                           ("scale", StandardScaler())]), roles.numeric))
    if roles.missing:
        parts.append(("missing", MissingIndicator(features="all"), roles.missing))
    # one encoder per column: its cap and its rare categories are the column's own
    for k, column in enumerate(roles.categorical):
        parts.append(("categorical_%d" % k, OneHotEncoder(
            handle_unknown="ignore", max_categories=max_categories,
            min_frequency=min_frequency, sparse_output=False), [column]))
    return ColumnTransformer(parts, remainder="drop")


def make_table_pipeline(estimator, X, *, drop=None, categorical=None,
                        max_categories=MAX_CATEGORIES, min_frequency=MIN_FREQUENCY):
    """Build the pipeline that trains ``estimator`` on the DataFrame ``X`` as it is.

    The columns' roles are decided from ``X`` (see ``column_roles``); the returned
    pipeline is not fitted.  Fit it on the training part only (``X`` may be that part)
    so that medians, means and categories come from the training rows.

    Parameters
    ----------
    estimator : MLPClassifier or MLPRegressor
        Any scikit-learn classifier or regressor works; a regressor is wrapped in a
        ``TransformedTargetRegressor`` that standardizes the target (unless its
        ``loss`` is 'poisson' or 'gamma').
    X : pandas.DataFrame
        The feature columns (not the target).
    drop : list of str or str, optional
        Columns that are not features.
    categorical : list of str or str, optional
        Columns to one-hot encode whatever their type.
    max_categories : int, default=MAX_CATEGORIES
        Most one-hot features from one column, the infrequent pool included.
    min_frequency : int, default=MIN_FREQUENCY
        Categories seen on fewer training rows are pooled as infrequent.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``columns`` (the ``ColumnTransformer``) and ``model``.

    Examples
    --------
    >>> import pandas as pd
    >>> from cymlp import MLPClassifier
    >>> from cymlp.tables import make_table_pipeline
    >>> X = pd.DataFrame({"island": ["Biscoe", "Dream", None, "Dream"] * 5,
    ...                   "mass": [3750.0, 3800.0, None, 3250.0] * 5})
    >>> y = ["Adelie", "Gentoo", "Adelie", "Chinstrap"] * 5
    >>> pipe = make_table_pipeline(MLPClassifier(max_iter=20, random_state=0), X)
    >>> pipe.fit(X, y).predict(X.head(2)).shape
    (2,)
    """
    from sklearn.base import is_regressor
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    roles = column_roles(X, drop=drop, categorical=categorical)
    model = estimator
    if is_regressor(estimator) and getattr(estimator, "loss", None) not in LOG_LINK_LOSSES:
        model = TransformedTargetRegressor(regressor=estimator, transformer=StandardScaler())
    preprocessor = make_preprocessor(roles, max_categories=max_categories,
                                     min_frequency=min_frequency)
    return Pipeline([("columns", preprocessor), ("model", model)])


def categorical_columns(pipeline):
    """The columns a fitted table pipeline one-hot encodes.

    A file read for the pipeline reads these as text (a postcode keeps its leading
    zeros), and its ONNX graph takes them as strings.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        A fitted pipeline whose first step is a ``ColumnTransformer``.

    Returns
    -------
    list of str
        In the order of the encoders.
    """
    preprocessor = pipeline.steps[0][1]
    names = []
    for _, transformer, columns in getattr(preprocessor, "transformers_", []):
        if type(transformer).__name__ == "OneHotEncoder":
            names.extend(str(c) for c in columns)
    return names


def summary(roles, preprocessor=None, missing_rows=None):
    """One line saying what a pipeline does to the table, for the command's banner.

    Parameters
    ----------
    roles : ColumnRoles
        From ``column_roles``.
    preprocessor : fitted ColumnTransformer, optional
        Adds the one-hot feature count.
    missing_rows : int, optional
        Rows with an empty feature cell.

    Returns
    -------
    str
        E.g. ``3 categorical columns one-hot (20 features), 6 numeric standardized``.
    """
    parts = []
    if roles.categorical:
        text = "%d categorical column%s one-hot" % (
            len(roles.categorical), "" if len(roles.categorical) == 1 else "s")
        if preprocessor is not None:
            count = sum(len(t.get_feature_names_out()) for name, t in
                        preprocessor.named_transformers_.items()
                        if name.startswith("categorical"))
            text += " (%d features)" % count
        parts.append(text)
    if roles.numeric:
        parts.append("%d numeric standardized" % len(roles.numeric))
    if roles.ids:
        parts.append("%d id column%s dropped (%s)" % (
            len(roles.ids), "" if len(roles.ids) == 1 else "s", ", ".join(roles.ids)))
    if roles.dropped:
        parts.append("%d dropped by --drop (%s)" % (len(roles.dropped),
                                                    ", ".join(roles.dropped)))
    if roles.empty:
        parts.append("%d empty column%s dropped (%s)" % (
            len(roles.empty), "" if len(roles.empty) == 1 else "s", ", ".join(roles.empty)))
    if missing_rows:
        parts.append("{:,} row{} with empty cells (numbers imputed, text a category)"
                     .format(missing_rows, "" if missing_rows == 1 else "s"))
    return ", ".join(parts)
