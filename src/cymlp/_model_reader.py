"""Reading a model file's zip members as untrusted input: sizes checked before anything
is inflated or allocated.

A model file is a zip archive (``numpy.savez``) of ``.npy`` members.  This module
knows nothing of networks; it enforces what any member must satisfy before its bytes
are read:

- the zip directory, read whole by ``zipfile`` when the archive is opened, is at most
  ``MAX_DIRECTORY_BYTES`` (a forged directory of millions of entries is refused before
  it is parsed);
- the archive holds only the member names the caller allows, each at most once, and
  the ones it requires;
- each member is stored or deflated (no other method, no encryption), and a deflated
  member over 1 MiB inflates to at most ``MAX_DEFLATE_RATIO`` times its compressed
  size (a zip bomb is refused from the zip directory, before inflating);
- each member's ``.npy`` header (at most 10,000 bytes, parsed by numpy without
  ``eval``) declares the dtype and shape the caller expects, C order, and the zip
  directory's uncompressed size equals that header plus exactly the data it declares;
- the data is read into an array of that size, and the zip CRC is checked.

Every failure is a ``ModelFileError``.
"""
import contextlib
import io
import struct
import zipfile
import zlib
from math import prod

import numpy as np

from cymlp._files import read_npy_header, regular_file_problem

#: A deflated member larger than 1 MiB may inflate to at most this many times its
#: compressed size.  cymlp writes members uncompressed; float parameters compress to
#: no better than ~1.2:1, so only a forged or padded member comes near this.
MAX_DEFLATE_RATIO = 64
_SMALL_MEMBER = 1 << 20
#: While an archive is opened, no single read may exceed this many bytes: ``zipfile``
#: reads the end record's search window (at most 65,558 bytes) and then the whole zip
#: directory, which for a cymlp model is under 1 KB (five members at most).  A forged
#: directory of a million entries (a 56 MB file) took 4.7 s and 440 MB to parse.
MAX_DIRECTORY_BYTES = 1 << 17

# What the zip and .npy readers raise on damaged bytes: a bad header or length
# (BadZipFile, EOFError, ValueError, struct.error), a damaged deflate stream
# (zlib.error), an unknown compression method (NotImplementedError), the encryption
# flag (RuntimeError), a bad .npy header literal (SyntaxError, TypeError, KeyError).
_DAMAGED = (zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError, TypeError,
            SyntaxError, NotImplementedError, RuntimeError, struct.error, zlib.error,
            zipfile.LargeZipFile)


class ModelFileError(ValueError):
    """A model file is truncated, corrupted, forged, not a cymlp model, or too new."""

    #: set when the error was not found by a check (``model_io.load``'s safety net)
    unexpected: bool = False


class _OpeningReader(io.BufferedReader):
    """A file whose reads are capped at ``cap`` bytes until ``cap`` is set to None.

    ``zipfile.ZipFile`` reads the zip directory whole, in one ``read``, before any
    caller can look at it; capping that read bounds the work a forged file can cause
    without re-implementing zipfile's search for the end record.
    """

    cap = None

    def read(self, size=-1):
        if self.cap is not None:
            wanted = size if size is not None and size >= 0 else self._remaining()
            if wanted > self.cap:
                raise ModelFileError(
                    "%s is not a cymlp model file: its zip directory is %d bytes "
                    "(a cymlp model's is under %d)" % (self.name, wanted, self.cap))
        return super().read(size)

    def _remaining(self):
        here = self.tell()
        end = self.seek(0, io.SEEK_END)
        self.seek(here)
        return end - here


@contextlib.contextmanager
def open_archive(path):
    """Open ``path`` as a zip archive for a ``with`` block (the file is closed after it),
    refusing a zip directory over ``MAX_DIRECTORY_BYTES`` before it is parsed.

    Parameters
    ----------
    path : str or Path

    Yields
    ------
    zipfile.ZipFile

    Raises
    ------
    FileNotFoundError, PermissionError
        As ``open`` raises them.
    ModelFileError
        For anything but a regular file (a directory, FIFO, device...), and anything
        that is not a readable zip archive.
    """
    problem = regular_file_problem(path)
    if problem:
        raise ModelFileError("%s %s: not a model file" % (path, problem))
    # zipfile leaves a file it was handed open: this block closes it
    with _OpeningReader(io.FileIO(path, "rb")) as handle:
        handle.cap = MAX_DIRECTORY_BYTES
        try:
            archive = zipfile.ZipFile(handle)
        except ModelFileError:   # the directory cap (a ValueError, like the damage below)
            raise
        except _DAMAGED as exc:
            raise ModelFileError("%s is not a readable cymlp model file (corrupted or "
                                 "truncated?): %s" % (path, exc)) from None
        handle.cap = None
        with archive:
            yield archive


def member_directory(archive, path, allowed, required):
    """Return ``{name: ZipInfo}`` for the archive's members, after checking the directory.

    Parameters
    ----------
    archive : zipfile.ZipFile
    path : str or Path
        For messages.
    allowed : set of str, or callable
        Member names without ``.npy``, or a test ``allowed(name)`` of one.
    required : set of str
        Member names without ``.npy``.

    Returns
    -------
    dict
    """
    members = {}
    for info in archive.infolist():
        name = info.filename[:-4] if info.filename.endswith(".npy") else None
        if not (allowed(name) if callable(allowed) else name in allowed):
            raise ModelFileError("%s is not a cymlp model file: unexpected member %r"
                                 % (path, info.filename))
        if name in members:
            raise ModelFileError("%s has member %r twice" % (path, info.filename))
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError("%s is not a readable cymlp model file: member %r uses "
                                 "unknown compression method %d"
                                 % (path, info.filename, info.compress_type))
        if info.flag_bits & 0x1:
            raise ModelFileError("%s is not a readable cymlp model file: member %r is "
                                 "encrypted" % (path, info.filename))
        if (info.compress_type == zipfile.ZIP_DEFLATED and info.file_size > _SMALL_MEMBER
                and info.file_size > MAX_DEFLATE_RATIO * max(info.compress_size, 1)):
            raise ModelFileError("%s: member %r would inflate %d bytes to %d (a zip bomb?)"
                                 % (path, info.filename, info.compress_size, info.file_size))
        members[name] = info
    missing = sorted(required - set(members))
    if missing:
        raise ModelFileError("%s is not a cymlp model file (entries missing: %s)"
                             % (path, ", ".join(missing)))
    return members


def read_member(archive, info, path, check_dtype, shape):
    """Read one ``.npy`` member whose dtype passes ``check_dtype`` and whose shape is
    ``shape``; nothing is allocated before both are known to hold.

    Parameters
    ----------
    archive : zipfile.ZipFile
    info : zipfile.ZipInfo
    path : str or Path
        For messages.
    check_dtype : callable
        ``check_dtype(dtype)`` returns an error text, or None when the dtype is fine.
    shape : tuple of int, or callable
        The expected shape, or ``shape(declared)`` returning an error text or None.

    Returns
    -------
    ndarray
    """
    what = "%s: member %r" % (path, info.filename)
    try:
        with archive.open(info) as stream:
            declared, fortran_order, dtype = read_npy_header(stream, what)
            problem = check_dtype(dtype)
            if problem:
                raise ModelFileError("%s has %s" % (what, problem))
            if fortran_order:
                raise ModelFileError("%s is in Fortran order" % what)
            problem = shape(declared) if callable(shape) else (
                None if declared == tuple(shape) else
                "shape %s where the header implies %s" % (declared, tuple(shape)))
            if problem:
                raise ModelFileError("%s has %s" % (what, problem))
            n_bytes = prod(declared) * dtype.itemsize
            if stream.tell() + n_bytes != info.file_size:
                raise ModelFileError("%s holds %d bytes where its .npy header declares %d"
                                     % (what, info.file_size - stream.tell(), n_bytes))
            array = np.empty(declared, dtype=dtype)
            target = memoryview(array.reshape(-1).view(np.uint8))
            filled = 0
            while filled < n_bytes:
                count = stream.readinto(target[filled:])
                if not count:
                    raise ModelFileError("%s is truncated" % what)
                filled += count
            if stream.read(1):   # also makes zipfile compare the CRC
                raise ModelFileError("%s is longer than declared" % what)
    except ModelFileError:
        raise
    except _DAMAGED as exc:
        raise ModelFileError("%s is not a readable cymlp model file (corrupted or "
                             "truncated?): %s" % (what, exc)) from None
    return array
