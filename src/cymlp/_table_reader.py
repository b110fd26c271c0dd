"""Reading a CSV, TSV or Parquet table into a DataFrame, with one-line errors that name
the line and column of a bad cell.

pandas parses the file (its C reader; pyarrow's for Parquet, the ``parquet`` extra).
What counts as an empty cell is a fixed list (``MISSING_TEXTS``): the text ``NaN``,
``nan`` or ``inf`` is not empty but a number that is not finite, refused as today.
A text column whose non-empty cells are at least half numbers is taken as a numeric
column with a typo, and its first cell that is not a number is refused by line and
column (``categorical`` names the columns meant as text).  Line numbers count the
header as line 1 and assume one line per row (no blank lines, no quoted newlines).
"""
from pathlib import Path

import numpy as np

from cymlp._files import regular_file_problem

#: Cells read as empty (missing): nothing else, so that ``NaN`` and ``inf`` stay
#: visible as the non-finite numbers they are.
MISSING_TEXTS = ["", "NA", "N/A", "n/a", "NULL", "null", "None", "#N/A"]
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet")


def is_table(path):
    """Whether ``path`` names a table by its suffix.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
    """
    return Path(path).suffix.lower() in TABLE_SUFFIXES


def read_table(path, *, categorical=(), target=None, has_target=True):
    """Read a table; every column as pandas parses it, ``categorical`` ones as text.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.txt`` (comma-separated), ``.tsv`` or ``.parquet``.
    categorical : sequence of str
        Columns kept as text (a postcode keeps its leading zeros).
    target : str, optional
        The target column (default: the last), whose bad cells are named as the target's.
    has_target : bool, default=True
        False for rows to predict: no column is the target.

    Returns
    -------
    pandas.DataFrame
        Text columns hold ``str`` values with NaN for empty cells; booleans with empty
        cells are text too (``"True"``, ``"False"``).

    Raises
    ------
    ValueError
        Naming the file (and the line and column of a bad cell).
    ImportError
        For Parquet without pyarrow.
    """
    import pandas as pd

    path = Path(path)
    problem = regular_file_problem(path)   # a FIFO would block, /dev/zero never end
    if problem:
        raise ValueError("%s %s" % (path, problem))
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ImportError("reading Parquet needs pyarrow: pip install 'cymlp[parquet]'") \
                from None
        try:
            frame = pd.read_parquet(path)
        except Exception as exc:   # noqa: BLE001 -- pyarrow raises many kinds
            raise ValueError("%s is not a readable Parquet file (%s)" % (path, exc)) from None
        frame.columns = [str(c) for c in frame.columns]
        text_columns = [c for c in categorical if c in frame.columns]
        for name in text_columns:
            frame[name] = _as_text(frame[name])
    else:
        frame = _read_text_table(path, "\t" if suffix == ".tsv" else ",", categorical)
    if frame.shape[0] == 0:
        raise ValueError("%s needs a header row and at least one data row" % path)
    if has_target and target is None:
        target = frame.columns[-1]
    for name in frame.columns:
        column = frame[name]
        label = "the target %r" % name if name == target else "column %r" % name
        if name in categorical:
            continue
        if column.dtype == bool:
            frame[name] = column.map(str).astype(object)
        elif column.dtype.kind == "f":
            _check_finite(path, frame, name, suffix, label)
        elif column.dtype.kind not in "iu":
            frame[name] = _text_or_refuse(path, column, label, name == target)
    return frame


def _read_text_table(path, delimiter, categorical):
    import pandas as pd

    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise ValueError("%s is not readable (%s)" % (path, exc)) from None
    if b"\0" in head:
        raise ValueError("%s is not a text table (it holds NUL bytes)" % path)
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark
        frame = pd.read_csv(path, sep=delimiter, encoding="utf-8-sig", keep_default_na=False,
                            na_values=MISSING_TEXTS, dtype={c: str for c in categorical},
                            skipinitialspace=True, low_memory=False)
    except pd.errors.EmptyDataError:
        raise ValueError("%s needs a header row and at least one data row" % path) from None
    except pd.errors.ParserError as exc:
        text = str(exc)
        if "Expected" in text and "fields in line" in text:
            words = text.split()
            expected, line, seen = words[words.index("Expected") + 1], \
                words[words.index("line") + 1].rstrip(","), words[-1]
            raise ValueError("%s, line %s: %s fields where the header has %s"
                             % (path, line, seen, expected)) from None
        raise ValueError("%s is not a readable text table (%s)" % (path, text)) from None
    except (UnicodeDecodeError, ValueError, OSError) as exc:
        raise ValueError("%s is not a readable text table (%s)" % (path, exc)) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    for name in categorical:
        if name in frame.columns:
            frame[name] = _as_text(frame[name])
    return frame


def _as_text(column):
    """A column as ``str`` values (object dtype), empty cells as NaN."""
    return column.map(lambda v: v if v is None or v != v else str(v).strip()).astype(object)


def _first_line(mask):
    return int(np.argmax(np.asarray(mask))) + 2


def _check_finite(path, frame, name, suffix, label):
    values = frame[name].to_numpy()
    bad = np.isinf(values)
    if bad.any():
        line = _first_line(bad)
        raise ValueError("%s, line %d: %s is %s, not a finite number"
                         % (path, line, label, _raw_cell(path, name, line, suffix)))


def _raw_cell(path, name, line, suffix):
    """The text of one cell as written in the file (for a message)."""
    import pandas as pd

    if suffix == ".parquet":
        return "infinite"
    raw = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", encoding="utf-8-sig",
                      usecols=[name], dtype=str, keep_default_na=False,
                      skipinitialspace=True)
    return raw[name].iloc[line - 2]


def _text_or_refuse(path, column, label, is_target):
    """A text column as ``str`` objects; or, when at least half of its non-empty cells
    are numbers, the first cell that is not a finite number is refused (for the target:
    when all are numbers; a target of labels may mix numbers and text)."""
    import pandas as pd

    present = column.notna().to_numpy()
    text = _as_text(column)
    numbers = pd.to_numeric(text.where(present, None), errors="coerce").to_numpy(float)
    parsed = ~np.isnan(numbers) | (present & text.str.lower().isin(
        ["nan", "+nan", "-nan"]).to_numpy())
    share = parsed[present].mean() if present.any() else 0.0
    if share == 1 or (share >= 0.5 and not is_target):
        not_number = present & ~parsed
        if not_number.any():
            name = str(column.name)
            raise ValueError("%s, line %d: %s is not a number (%r; most of its cells are "
                             "numbers: --categorical %s reads it as text)"
                             % (path, _first_line(not_number), label,
                                text.iloc[_first_line(not_number) - 2], name))
        infinite = present & ~np.isfinite(np.where(parsed, numbers, np.nan))
        if infinite.any():
            raise ValueError("%s, line %d: %s is %s, not a finite number"
                             % (path, _first_line(infinite), label,
                                text.iloc[_first_line(infinite) - 2]))
        return pd.Series(numbers, index=column.index, name=column.name)
    return text


def split_target(frame, target, path):
    """The feature columns and the target column of a table, the target checked.

    Parameters
    ----------
    frame : pandas.DataFrame
    target : str or None
        Default: the last column.
    path : str or Path
        For messages.

    Returns
    -------
    X : pandas.DataFrame
    y : ndarray
        Labels as in the file (strings, whole numbers as int64) or float values.
    """
    columns = list(frame.columns)
    target = target or columns[-1]
    if target not in columns:
        raise ValueError("%s has no column %r (its columns: %s); name the target with "
                         "--target" % (path, target, ", ".join(columns)))
    if len(columns) < 2:
        raise ValueError("%s has only the target column %r" % (path, target))
    column = frame[target]
    empty = column.isna().to_numpy()
    if empty.any():
        raise ValueError("{}, line {}: the target {!r} is empty ({:,} row{} without a "
                         "target: remove them or choose another --target)".format(
                             path, _first_line(empty), target, int(empty.sum()),
                             "" if empty.sum() == 1 else "s"))
    values = column.to_numpy()
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            line = _first_line(~np.isfinite(values))
            raise ValueError("%s, line %d: the target %r is %s, not a finite number"
                             % (path, line, target, values[line - 2]))
        if (values == np.round(values)).all() and np.abs(values).max(initial=0) < 2 ** 53:
            values = values.astype(np.int64)
    elif values.dtype.kind not in "iub":
        values = np.asarray(column.map(str).to_numpy(), dtype=str)
    return frame.drop(columns=[target]), values
