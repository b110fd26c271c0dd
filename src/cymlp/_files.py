"""Files a user names: cymlp reads regular files only, and replaces a file it writes
whole or not at all.

A FIFO (or a terminal) makes ``open`` or the first read wait for a writer forever, and
a device such as ``/dev/zero`` never ends: a reader that takes "to the end of the file"
then grows until the kernel kills it.  So every reader of a named file (model files,
the command line's data and inputs, IDX files) asks here first.  The ``.npy`` header
reader that model files and the command line's ``.npz`` inputs share lives here too.
"""
import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def regular_file_problem(path):
    """Say why ``path`` is not a regular file (symbolic links are followed), or None.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str or None
        For example ``"is a FIFO (named pipe), not a regular file"``.

    Raises
    ------
    FileNotFoundError, PermissionError
        As ``os.stat`` raises them.
    """
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "special")
    return "is %s, not a regular file" % kind


@contextlib.contextmanager
def replaced_atomically(path, mode="wb", **open_args):
    """Write a new file beside ``path`` and rename it to ``path`` when the block ends.

    A crash or an error inside the block leaves ``path`` as it was (an existing file is
    replaced whole or not at all) and no partial file behind.  The file gets the usual
    mode, 0666 less the umask (``tempfile.mkstemp`` would give 0600).

    Parameters
    ----------
    path : str or Path
    mode : str, default='wb'
        As for ``open``: 'wb' or 'w'.
    **open_args
        More arguments of ``open`` (``newline``, ``encoding``).

    Yields
    ------
    file object
    """
    path = Path(path)
    if path.is_dir():   # before a temporary file is made beside it, in its parent
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file to write",
                                str(path))
    temp = path.parent / (".part-%d-%s%s" % (os.getpid(), secrets.token_hex(8), path.suffix))
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666)
    try:
        with os.fdopen(handle, mode, **open_args) as out:
            yield out
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def same_file(a, b):
    """Whether ``a`` and ``b`` name the same existing file.

    Parameters
    ----------
    a, b : str or Path

    Returns
    -------
    bool
    """
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


#: A ``.npy`` header is at most this many bytes (numpy's own default is 10,000).
NPY_HEADER_LIMIT = 10000


def read_npy_header(stream, what):
    """Read the magic string and header of the ``.npy`` data at ``stream``.

    The header is at most 10,000 bytes and parsed by numpy without ``eval``; nothing
    past it is read.

    Parameters
    ----------
    stream : file object
    what : str
        For messages.

    Returns
    -------
    shape : tuple of int
    fortran_order : bool
    dtype : numpy dtype

    Raises
    ------
    ValueError, EOFError, SyntaxError...
        For a format version other than 1.0, 2.0 and 3.0, and as numpy's readers raise
        them for damaged bytes.
    """
    import numpy as np

    version = np.lib.format.read_magic(stream)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise ValueError("%s has .npy format version %s" % (what, version))
    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                   else np.lib.format.read_array_header_2_0)
    return read_header(stream, max_header_size=NPY_HEADER_LIMIT)
