"""Where ``cymlp train`` gets its data: Fashion-MNIST, a folder of IDX files, a ``.npz``
archive, or a CSV/TSV table with a named target column.

Every reader returns a ``TrainingData``: features (float), targets (labels as they are
in the file: numbers or strings, or values), where they came from and the SHA-256 of
each file read.  Problems are one-line errors naming the file (``CLIError``).
"""
import csv
import hashlib
from dataclasses import dataclass, field
from typing import Optional
from pathlib import Path

import numpy as np

from cymlp._files import regular_file_problem
from cymlp.cli import CLIError

FASHION = "fashion-mnist"


@dataclass
class TrainingData:
    """Features and targets of one data source (test part optional)."""

    X: np.ndarray
    y: np.ndarray
    X_test: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None
    source: str = ""
    sha256: dict = field(default_factory=dict)
    feature_names: Optional[list] = None


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
    from cymlp._model_reader import read_npy_header

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
        ``data_dir``, ``x_key``, ``y_key``, ``target``.

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
        names = None
    elif suffix in (".csv", ".tsv", ".txt"):
        X, y, names = _read_table(path, args.target, "\t" if suffix == ".tsv" else ",")
    else:
        raise CLIError("%s: unknown data format %r (use .npz, .csv or .tsv)" % (spec, suffix))
    return TrainingData(X, y, source=str(path), sha256={path.name: sha256_of(path)},
                        feature_names=names)


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


def _read_table(path, target, delimiter):
    """A CSV/TSV with a header row: numeric feature columns and one target column."""
    try:
        # utf-8-sig: a spreadsheet's "CSV UTF-8" starts with a byte-order mark
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle, delimiter=delimiter))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CLIError("%s is not a readable text table (%s)" % (path, exc)) from None
    rows = [row for row in rows if row]
    if len(rows) < 2:
        raise CLIError("%s needs a header row and at least one data row" % path)
    header = [name.strip() for name in rows[0]]
    target = target or header[-1]
    if target not in header:
        raise CLIError("%s has no column %r (its columns: %s); name the target with --target"
                       % (path, target, ", ".join(header)))
    column = header.index(target)
    features = [name for k, name in enumerate(header) if k != column]
    X = np.empty((len(rows) - 1, len(features)))
    y = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CLIError("%s, line %d: %d fields where the header has %d"
                           % (path, line, len(row), len(header)))
        values = [v.strip() for k, v in enumerate(row) if k != column]
        try:
            X[line - 2] = [float(v) for v in values]
        except ValueError:
            bad = next(name for name, v in zip(features, values) if not _is_number(v))
            raise CLIError("%s, line %d: column %r is not a number" % (path, line, bad)) \
                from None
        finite = np.isfinite(X[line - 2])
        if not finite.all():
            k = int(np.argmin(finite))
            raise CLIError("%s, line %d: column %r is %s, not a finite number"
                           % (path, line, features[k], values[k]))
        y.append(row[column].strip())
    targets = _as_targets(np.array(y))
    if targets.dtype.kind == "f" and not np.isfinite(targets).all():
        line = int(np.argmin(np.isfinite(targets))) + 2
        raise CLIError("%s, line %d: the target %r is %s, not a finite number"
                       % (path, line, target, y[line - 2]))
    return X, targets, features


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_targets(labels):
    """Text targets as numbers when they all are (integers stay integers)."""
    try:
        values = labels.astype(float)
    except ValueError:
        return labels
    if np.isfinite(values).all() and (values == np.round(values)).all():
        return values.astype(np.int64)
    return values


def infer_task(y, task=None):
    """``classify`` or ``regress``: as asked, else from the targets (non-integer numbers
    are values to regress; integers and strings are labels).

    Parameters
    ----------
    y : ndarray
    task : {'classify', 'regress'} or None

    Returns
    -------
    str
    """
    if task is not None:
        if task == "regress" and y.dtype.kind not in "iuf":
            raise CLIError("--task regress needs numeric targets, got %s" % y.dtype)
        return task
    if y.dtype.kind == "f" and not (y == np.round(y)).all():
        return "regress"
    return "classify"
