"""Files cymlp reads because a user named them: regular files only.

A FIFO (or a terminal) makes ``open`` or the first read wait for a writer forever, and
a device such as ``/dev/zero`` never ends: a reader that takes "to the end of the file"
then grows until the kernel kills it.  So every reader of a named file (model files,
the command line's data and inputs, IDX files) asks here first.
"""
import os
import stat

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
