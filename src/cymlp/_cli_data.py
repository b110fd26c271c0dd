"""Where ``cymlp train`` gets its data: Fashion-MNIST, a folder of IDX files, a ``.npz``
archive, or a CSV/TSV/Parquet table with a named target column.

Every reader returns a ``TrainingData``: features (float arrays; for a table, a
DataFrame of its columns as they are, which ``_cli_tables`` turns into features),
targets (labels as they are in the file: numbers or strings, or values), where they
came from and the SHA-256 of each file read.  Problems are one-line errors naming the
file (``CLIError``).
"""
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from cymlp._cli_errors import CLIError
from cymlp._files import read_npy_header, regular_file_problem
from cymlp._table_reader import is_table, read_table, split_target

FASHION = "fashion-mnist"


@dataclass
class TrainingData:
    """Features and targets of one data source (test part optional)."""

    X: Any
    y: np.ndarray
    X_test: Any = None
    y_test: Optional[np.ndarray] = None
    source: str = ""
    sha256: dict = field(default_factory=dict)
    feature_names: Optional[list] = None
    #: whether X (and X_test) are DataFrames of a table's columns
    is_table: bool = False

    def numeric(self):
        """The table's columns as a float array, for a model trained on arrays: every
        feature column must be numbers without empty cells."""
        if not self.is_table:
            return self
        for name in self.X.columns:
            column = self.X[name]
            if column.dtype.kind not in "iuf":
                raise CLIError("%s: column %r is not a number (the model was trained on "
                               "numbers only)" % (self.source, name))
            if column.isna().any():
                raise CLIError("%s, line %d: column %r is empty (the model was trained "
                               "on arrays without empty cells)" % (
                                   self.source, int(np.argmax(column.isna())) + 2, name))
        return TrainingData(self.X.to_numpy(float), self.y, source=self.source,
                            sha256=self.sha256, feature_names=self.feature_names)


def sha256_of(path):
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def available_memory():
    """Bytes of memory this process can still use: the kernel's MemAvailable, or less
    when a cgroup (v2) limit leaves less; None where neither can be read."""
    limits = []
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as handle:
            limit = handle.read().strip()
        with open("/sys/fs/cgroup/memory.current") as handle:
            current = int(handle.read())
        if limit != "max":
            limits.append(max(int(limit) - current, 0))
    except (OSError, ValueError):
        pass
    return min(limits) if limits else None


def read_npz_arrays(archive, keys, path):
    """Read the arrays ``keys`` of an open ``.npz`` archive, after checking that their
    ``.npy`` headers declare no more bytes than the memory available.

    A deflated member inflates to the size its header declares: a few MB of file can
    declare tens of GB of zeros, which would otherwise be inflated into memory until
    the kernel kills the process.

    Parameters
    ----------
    archive : numpy.lib.npyio.NpzFile
    keys : sequence of str
        Names in ``archive.files``.
    path : str or Path
        For messages.

    Returns
    -------
    list of ndarray
    """

    declared = 0
    names = archive.zip.namelist()
    for key in keys:
        what = "%s: array %r" % (path, key)
        try:
            with archive.zip.open(key + ".npy" if key + ".npy" in names else key) as stream:
                shape, _, dtype = read_npy_header(stream, what)
        except (OSError, ValueError, EOFError, KeyError, SyntaxError, TypeError) as exc:
            raise CLIError("%s is not readable (%s)" % (what, exc)) from None
        declared += int(np.prod(shape, dtype=object)) * dtype.itemsize
    available = available_memory()
    if available is not None and declared > available:
        raise CLIError("%s: the arrays %s declare %.3g GB, more than the %.3g GB of memory "
                       "available" % (path, ", ".join(map(repr, keys)), declared / 1e9,
                                      available / 1e9))
    try:
        return [archive[key] for key in keys]
    except (OSError, ValueError, EOFError) as exc:
        raise CLIError("%s: %s" % (path, exc)) from None


def load(spec, args):
    """Read the data named by ``spec`` (``--data`` or ``--test-data``).

    Parameters
    ----------
    spec : str
        ``fashion-mnist``, a directory of IDX files (MNIST's file names), a ``.npz``
        file, or a ``.csv``/``.tsv`` file.
    args : argparse.Namespace
        ``data_dir``, ``x_key``, ``y_key``, ``target``, ``categorical``.

    Returns
    -------
    TrainingData
    """
    from cymlp import datasets

    if spec == FASHION:
        data = datasets.load_fashion_mnist(args.data_dir)
        return TrainingData(data.X_train, data.y_train, data.X_test, data.y_test,
                            source="Fashion-MNIST in %s" % data.source,
                            sha256={stem: sha for stem, sha, _ in
                                    datasets.FASHION_MNIST.files.values()})
    path = Path(spec)
    if path.is_dir():
        data = datasets.load_mnist(path)
        files = datasets.locate(datasets.MNIST, path, download_missing=False)
        return TrainingData(data.X_train, data.y_train, data.X_test, data.y_test,
                            source="IDX files in %s" % path,
                            sha256={Path(p).name: sha256_of(p) for p in files.values()})
    if not path.exists():
        raise CLIError("%s: no such file or directory (--data takes fashion-mnist, a folder "
                       "of IDX files, a .npz or a .csv/.tsv file)" % spec)
    problem = regular_file_problem(path)
    if problem:
        raise CLIError("%s %s" % (spec, problem))
    suffix = path.suffix.lower()
    if suffix == ".npz":
        X, y = _read_npz(path, args.x_key, args.y_key)
        return TrainingData(X, y, source=str(path), sha256={path.name: sha256_of(path)})
    if not is_table(path):
        raise CLIError("%s: unknown data format %r (use .npz, .csv, .tsv or .parquet)"
                       % (spec, suffix))
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise CLIError("%s: reading a table needs pandas: pip install 'cymlp[cli]'"
                       % spec) from None
    frame = read_table(path, categorical=names_option(getattr(args, "categorical", None)),
                       target=args.target)
    X, y = split_target(frame, args.target, path)
    return TrainingData(X, y, source=str(path), sha256={path.name: sha256_of(path)},
                        feature_names=[str(c) for c in X.columns], is_table=True)


def names_option(text):
    """Column names from a comma-separated option (``--drop``, ``--categorical``)."""
    return [name.strip() for name in text.split(",") if name.strip()] if text else []


def _read_npz(path, x_key, y_key):
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CLIError("%s is not a NumPy .npz file (%s)" % (path, exc)) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CLIError("%s holds one array; training needs X and y in a .npz archive" % path)
    with archive:
        missing = [key for key in (x_key, y_key) if key not in archive.files]
        if missing:
            raise CLIError("%s has no array %s (it holds %s); name them with --x-key and "
                           "--y-key" % (path, " or ".join(map(repr, missing)),
                                        ", ".join(archive.files) or "none"))
        X, y = read_npz_arrays(archive, (x_key, y_key), path)
    if X.dtype.kind not in "biuf":
        raise CLIError("%s: %s holds %s values, not numbers" % (path, x_key, X.dtype))
    if X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise CLIError("%s: %s must be rows (2-D) and %s one target per row; got shapes "
                       "%s and %s" % (path, x_key, y_key, X.shape, y.shape))
    if X.dtype == np.uint8:
        X = X.astype(np.float32) / np.float32(255)
    return X, y


def infer_task(y, task=None, table=False):
    """``classify`` or ``regress``: as asked, else from the targets, and a notice.

    Non-integer numbers are values to regress; strings are labels; integers are
    labels, except in a table where more than ``tables.MAX_INTEGER_CLASSES`` distinct
    ones are values (``tables.infer_task``).

    Parameters
    ----------
    y : ndarray
    task : {'classify', 'regress'} or None
    table : bool
        Whether the targets come from a table.

    Returns
    -------
    task : str
    notice : str or None
        Why, when the guess is worth a line.
    """
    if task is not None:
        if task == "regress" and y.dtype.kind not in "iuf":
            raise CLIError("--task regress needs numeric targets, got %s" % y.dtype)
        return task, None
    if table:
        from cymlp.tables import infer_task as infer_table_task
        task, reason = infer_table_task(y)
        return task, reason if task == "regress" and y.dtype.kind in "iu" else None
    if y.dtype.kind == "f" and not (y == np.round(y)).all():
        return "regress", None
    return "classify", None
