"""MNIST-style data sets: IDX file reader, where the files are looked for, verified download.

Files are looked for, in order: the ``path`` argument (an error if it is not a
directory), the directory in the
``CYMLP_DATA_DIR`` environment variable (or its ``<name>/`` subdirectory), Debian's
``/usr/share/datasets/<name>/`` (package ``dataset-fashion-mnist``), and the user cache
directory (``$XDG_CACHE_HOME/cymlp/<name>``, default ``~/.cache/cymlp/<name>``).  A
location is used only when it holds all four files, gzipped or not.  When none does,
Fashion-MNIST is downloaded into the cache and each file's uncompressed bytes are
checked against a known SHA-256 before it is kept (the check on uncompressed bytes
holds for every mirror and recompression of the same data).
"""
import gzip
import hashlib
import io
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Optional

from cymlp._files import regular_file_problem
from cymlp._typing import PathLike

import numpy as np

#: IDX type codes and the big-endian numpy dtypes they stand for.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
#: Largest data an IDX header may declare (bytes); larger headers are refused unread.
MAX_IDX_BYTES = 1 << 32
_CHUNK = 1 << 22
ENV_DATA_DIR = "CYMLP_DATA_DIR"
PARTS = ("train_images", "train_labels", "test_images", "test_labels")


@dataclass(frozen=True)
class DatasetInfo:
    """Where an IDX data set's four files live and how to check them.

    Parameters
    ----------
    name : str
        The data set's name (its cache folder).
    files : dict
        ``{part: (file name without .gz, SHA-256 of the uncompressed bytes, SHA-256 of
        the published .gz file)}`` for the parts train_images, train_labels,
        test_images and test_labels.
    mirror : str, optional
        Base URL of the published .gz files.
    debian_dir : str, optional
        Where a Debian package installs the files.
    """

    name: str
    # part -> (file name without .gz, SHA-256 of the uncompressed bytes,
    #          SHA-256 of the published .gz file)
    files: dict
    mirror: Optional[str] = None
    debian_dir: Optional[str] = None


FASHION_MNIST = DatasetInfo(
    name="fashion-mnist",
    files={
        "train_images": ("train-images-idx3-ubyte",
                         "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                         "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
        "train_labels": ("train-labels-idx1-ubyte",
                         "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                         "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
        "test_images": ("t10k-images-idx3-ubyte",
                        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
        "test_labels": ("t10k-labels-idx1-ubyte",
                        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
    },
    mirror="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    debian_dir="/usr/share/datasets/fashion-mnist",
)

#: Fashion-MNIST's label names, by label.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")

# No verified checksums are recorded for MNIST, so it is read from local files only.
MNIST = DatasetInfo(
    name="mnist",
    files={
        "train_images": ("train-images-idx3-ubyte", None, None),
        "train_labels": ("train-labels-idx1-ubyte", None, None),
        "test_images": ("t10k-images-idx3-ubyte", None, None),
        "test_labels": ("t10k-labels-idx1-ubyte", None, None),
    },
)


class DatasetNotFoundError(FileNotFoundError):
    """None of the searched locations holds the data set and it cannot be downloaded."""


@dataclass
class Dataset:
    """A train and test split.

    Parameters
    ----------
    X_train : ndarray of shape (n_train, n_features)
        Training rows, float32 in [0, 1], one row per image.
    y_train : ndarray of shape (n_train,)
        Training labels, int64.
    X_test : ndarray of shape (n_test, n_features)
        Test rows, as ``X_train``.
    y_test : ndarray of shape (n_test,)
        Test labels.
    source : str, optional
        The directory the files were read from.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    source: Optional[str] = None


def parse_idx(raw: bytes, name: str = "<bytes>", sha256: Optional[str] = None) -> np.ndarray:
    """Parse the bytes of an IDX file into an array.

    Parameters
    ----------
    raw : bytes
        The uncompressed file content.
    name : str
        File name used in error messages.
    sha256 : str, optional
        The SHA-256 the bytes must have.

    Returns
    -------
    ndarray
        Shape from the header, dtype from the type code (native byte order).

    Raises
    ------
    ValueError
        Bad magic number, unknown type code, a header declaring more than
        ``MAX_IDX_BYTES``, a length that does not match the header's dimensions, or
        another SHA-256.
    """
    return _read_idx_stream(io.BytesIO(raw), name, sha256)


def _read_exact(stream, n):
    """Read up to ``n`` bytes in chunks; return (bytes, whether all ``n`` were there)."""
    parts, left = [], n
    while left:
        chunk = stream.read(min(left, _CHUNK))
        if not chunk:
            return b"".join(parts), False
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts), True


def _read_idx_stream(stream, name, sha256=None):
    """Read one IDX file from a byte stream, inflating no more than its header declares
    (plus one byte); check ``sha256`` over everything read."""
    head, _ = _read_exact(stream, 4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise ValueError("%s is not an IDX file (bad magic number)" % name)
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        raise ValueError("%s has unknown IDX type code 0x%02x" % (name, code))
    if ndim == 0:
        raise ValueError("%s declares 0 dimensions" % name)
    dims_raw, complete = _read_exact(stream, 4 * ndim)
    if not complete:
        raise ValueError("%s is truncated inside its header" % name)
    dims = [int.from_bytes(dims_raw[4 * i:4 * i + 4], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_DTYPES[code])
    expected = prod(dims) * dtype.itemsize
    if expected > MAX_IDX_BYTES:
        raise ValueError("%s declares dimensions %s: %d bytes, more than the %d an IDX "
                         "file may hold here" % (name, dims, expected, MAX_IDX_BYTES))
    data, complete = _read_exact(stream, expected)
    if not complete:
        raise ValueError("%s is truncated: dimensions %s need %d bytes of data, found %d"
                         % (name, dims, expected, len(data)))
    if stream.read(1):
        raise ValueError("%s is longer than its header says: dimensions %s need %d bytes "
                         "of data" % (name, dims, expected))
    if sha256 is not None:
        digest = hashlib.sha256(head + dims_raw + data).hexdigest()
        if digest != sha256:
            raise ValueError("%s failed its SHA-256 check: expected %s, got %s (not the "
                             "known file, or damaged)" % (name, sha256, digest))
    array = np.frombuffer(data, dtype=dtype).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path: PathLike, sha256: Optional[str] = None) -> np.ndarray:
    """Read an IDX file (MNIST format), gzipped (``.gz``) or raw.

    A gzipped file is inflated only as far as its IDX header declares (plus one byte).

    Parameters
    ----------
    path : str or Path
        An IDX file, gzip-compressed if its name ends in .gz.
    sha256 : str, optional
        The SHA-256 the uncompressed bytes must have.

    Returns
    -------
    ndarray
        The array the file holds.

    Raises
    ------
    ValueError
        A damaged gzip stream, or any problem ``parse_idx`` reports.
    """
    path = Path(path)
    return _read_idx_file(path, path.suffix == ".gz", str(path), sha256)


def _read_idx_file(path, gzipped, name, sha256):
    """``read_idx`` with the compression given and the file called ``name`` in errors."""
    problem = regular_file_problem(path)
    if problem:
        raise ValueError("%s %s" % (name, problem))
    if not gzipped:
        with open(path, "rb") as stream:
            return _read_idx_stream(stream, name, sha256)
    try:
        with gzip.open(path, "rb") as stream:
            return _read_idx_stream(stream, name, sha256)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError("%s is a corrupted or truncated gzip file (%s)" % (name, exc)) from None


def cache_dir(name: str) -> Path:
    """Return the user cache directory for data set ``name``.

    Parameters
    ----------
    name : str
        The data set's name.

    Returns
    -------
    Path
        ``$CYMLP_DATA_DIR/<name>`` or ``~/.cache/cymlp/<name>``.
    """
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "cymlp" / name


def _file_in(directory, stem):
    for candidate in (directory / (stem + ".gz"), directory / stem):
        if candidate.is_file():
            return candidate
    return None


def _complete(directory, info):
    """Return {part: path} when ``directory`` holds all four files, else None."""
    if directory is None or not Path(directory).is_dir():
        return None
    found = {part: _file_in(Path(directory), stem) for part, (stem, *_) in info.files.items()}
    return found if all(found.values()) else None


def search_locations(info: DatasetInfo, path: Optional[PathLike] = None,
                     cache: Optional[PathLike] = None) -> list[Path]:
    """Return the directories searched for ``info``'s files, in order.

    Parameters
    ----------
    info : DatasetInfo
        The data set.
    path : str or Path, optional
        An explicit directory, searched first.
    cache : str or Path, optional
        Cache directory (default ``cache_dir(info.name)``).

    Returns
    -------
    list of Path
        The directories to search, in order.
    """
    places = []
    if path is not None:
        places.append(Path(path))
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        places += [Path(env), Path(env) / info.name]
    if info.debian_dir:
        places.append(Path(info.debian_dir))
    places.append(Path(cache) if cache is not None else cache_dir(info.name))
    return places


def download(info: DatasetInfo, directory: PathLike, base_url: Optional[str] = None,
             timeout: float = 60.0) -> dict[str, Path]:
    """Download the four files of ``info`` into ``directory``, verifying each one.

    A file is first written to a temporary name in ``directory``; it is renamed to its
    final name only after it decompresses, parses as IDX and matches its SHA-256.
    Anything that fails is deleted, so the directory never holds a half-written file.

    Parameters
    ----------
    info : DatasetInfo
        The data set.
    directory : str or Path
        Where to write the verified files.
    base_url : str, optional
        Mirror to use instead of ``info.mirror`` (must end with '/').
    timeout : float, default=60
        Seconds per network operation.

    Returns
    -------
    dict
        {part: Path} of the verified files.
    """
    base_url = base_url or info.mirror
    if base_url is None or any(None in checksums for _, *checksums in info.files.values()):
        raise DatasetNotFoundError(
            "%s cannot be downloaded (no verified checksums); put its four IDX files in a "
            "directory and pass it as path or set %s" % (info.name, ENV_DATA_DIR))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    found = {}
    for part, (stem, sha256, gz_sha256) in info.files.items():
        target = directory / (stem + ".gz")
        url = base_url + stem + ".gz"
        handle, temp_name = tempfile.mkstemp(prefix=".part-", dir=directory)
        temp = Path(temp_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(handle, "wb") as out, \
                    urllib.request.urlopen(url, timeout=timeout) as src:
                while True:
                    chunk = src.read(1 << 20)
                    if not chunk:
                        break
                    digest.update(chunk)
                    out.write(chunk)
            # checked before anything is inflated: a forged or damaged file never is
            if digest.hexdigest() != gz_sha256:
                raise ValueError("%s failed its SHA-256 check: expected %s, got %s"
                                 % (url, gz_sha256, digest.hexdigest()))
            _read_idx_file(temp, True, url, sha256)
            os.replace(temp, target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        found[part] = target
    return found


def locate(info: DatasetInfo, path: Optional[PathLike] = None, *,
           download_missing: bool = True, cache: Optional[PathLike] = None,
           base_url: Optional[str] = None) -> dict[str, Path]:
    """Return {{part: Path}} for ``info``'s four files, downloading them if needed.

    Parameters
    ----------
    info : DatasetInfo
        The data set.
    {load_parameters}

    Returns
    -------
    dict
        ``{{part: Path}}`` of the verified files.
    """
    if path is not None:
        # a folder the caller names must hold the data: no fallback to another copy
        if not Path(path).is_dir():
            raise DatasetNotFoundError("%s is not a directory" % path)
        found = _complete(Path(path), info)
        if not found:
            missing = [stem for part, (stem, *_) in info.files.items()
                       if _file_in(Path(path), stem) is None]
            raise DatasetNotFoundError("%s does not hold %s: missing %s (.gz or raw)"
                                       % (path, info.name, ", ".join(missing)))
        return found
    places = search_locations(info, path, cache)
    for place in places:
        found = _complete(place, info)
        if found:
            return found
    if not download_missing:
        raise DatasetNotFoundError(
            "%s not found; looked in %s. Install Debian's dataset-fashion-mnist, set %s, "
            "or allow the download" % (info.name, ", ".join(map(str, places)), ENV_DATA_DIR))
    return download(info, places[-1], base_url=base_url)


def load(info: DatasetInfo, path: Optional[PathLike] = None, *,
         download_missing: bool = True, cache: Optional[PathLike] = None,
         base_url: Optional[str] = None) -> Dataset:
    """Load an IDX image data set as float32 features in [0, 1] and int64 labels.

    Parameters
    ----------
    info : DatasetInfo
        The data set.
    {load_parameters}

    Returns
    -------
    Dataset
        The train and test split.
    """
    files = locate(info, path, download_missing=download_missing, cache=cache,
                   base_url=base_url)
    arrays = {part: read_idx(files[part], info.files[part][1]) for part in PARTS}
    for split in ("train", "test"):
        images, labels = arrays[split + "_images"], arrays[split + "_labels"]
        if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError("%s: %s images %s and labels %s do not match"
                             % (info.name, split, images.shape, labels.shape))
        if images.dtype.kind == "f" and not np.isfinite(images).all():
            raise ValueError("%s: %s has NaN or infinite pixel values"
                             % (info.name, files[split + "_images"]))
        if labels.dtype.kind == "f":
            raise ValueError("%s: %s holds float labels; labels are integers"
                             % (info.name, files[split + "_labels"]))
    return Dataset(_scale(arrays["train_images"]), arrays["train_labels"].astype(np.int64),
                   _scale(arrays["test_images"]), arrays["test_labels"].astype(np.int64),
                   source=str(Path(files["train_images"]).parent))


def _scale(images):
    """Flatten images to rows and scale bytes to float32 in [0, 1]."""
    return images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255)


def load_fashion_mnist(path: Optional[PathLike] = None, *, download_missing: bool = True,
                       cache: Optional[PathLike] = None,
                       base_url: Optional[str] = None) -> Dataset:
    """Load Fashion-MNIST (60,000 training and 10,000 test images, 28x28, 10 classes).

    Parameters
    ----------
    {load_parameters}

    Returns
    -------
    Dataset
        60,000 training and 10,000 test images, 784 features in [0, 1], labels 0-9.
    """
    return load(FASHION_MNIST, path, download_missing=download_missing, cache=cache,
                base_url=base_url)


def load_mnist(path: Optional[PathLike] = None, *,
               cache: Optional[PathLike] = None) -> Dataset:
    """Load MNIST from local IDX files (``path``, ``CYMLP_DATA_DIR`` or the cache).

    Parameters
    ----------
    path : str or Path, optional
        A directory that must hold the files (then nothing else is searched).
    cache : str or Path, optional
        Cache directory to search.

    Returns
    -------
    Dataset
        The train and test split.
    """
    return load(MNIST, path, download_missing=False, cache=cache)


# the parameters of locate, load and load_fashion_mnist, documented once
_LOAD_PARAMETERS = """
    path : str or Path, optional
        A directory that must hold the four files (then no other location is
        searched).
    download_missing : bool, default=True
        Download (and verify) when no location has the files.
    cache : str or Path, optional
        Cache directory to search and download into.
    base_url : str, optional
        Mirror URL for the download.
"""
for _loader in (locate, load, load_fashion_mnist):
    if _loader.__doc__:   # (python -OO strips docstrings)
        _loader.__doc__ = _loader.__doc__.format(load_parameters=_LOAD_PARAMETERS.strip())
