"""Atomic file output: write under a temporary name beside the target, verify, then rename.

A crash, a full disk or an exception never leaves a half-written file under the target's name,
and an existing file is replaced only by a complete one. Some writers do not report a short
write on a full disk (SimpleITK's NIfTI writer, VTK's PLY and OBJ writers), so before the rename
the temporary is flushed to the disk (fsync) and checked: a NIfTI file must hold the data its
header declares (a ``.nii.gz`` is inflated, with a cap, to count it), a ZIP its entries intact,
a PDF its end marker; and a write that left its disk full is not trusted. A failed write raises
:class:`~lumboplan_app.errors.WriteError` naming the disk and what to do; the temporary is
removed and the previous file kept.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from lumboplan_app.errors import WriteError


def _process_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The process's umask, read once: temporary files are private (0600), results are not.
_FILE_MODE = 0o666 & ~_process_umask()
#: A disk with less room than this after a write is full: the write may have been cut short.
FULL_BELOW_BYTES = 256 * 1024
_CHUNK = 1024 * 1024
_EDQUOT = getattr(errno, "EDQUOT", errno.ENOSPC)
#: The errors of an output that cannot be written, turned into a WriteError.
_WRITE_ERRNOS = {errno.ENOSPC, _EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


class IncompleteFileError(ValueError):
    """A file holds less (or other) data than its own header declares."""


def _mount_point(folder: Path) -> Path:
    """Return the mount point of the disk that holds ``folder`` (the folder must exist)."""
    point = folder.resolve()
    while not os.path.ismount(point) and point != point.parent:
        point = point.parent
    return point


def free_bytes(folder: Path) -> int:
    """Return the bytes this user may still write on the disk of ``folder``."""
    return shutil.disk_usage(folder).free


def _write_error(path: Path, code: int | None) -> WriteError:
    """Return the error of an output that could not be written (``code``: its errno, if any)."""
    disk = _mount_point(path.parent) if path.parent.exists() else path.parent
    if code == errno.EROFS:
        why = f"the disk at '{disk}' is read-only; write to another disk"
    elif code in (errno.EACCES, errno.EPERM):
        why = (
            f"LumboPlan may not write into the folder '{path.parent.name}' (permission denied); "
            "choose another folder"
        )
    elif code == errno.EFBIG:
        why = (
            f"it could not be completed on the disk at '{disk}': a file size limit "
            "('ulimit -f') was reached; raise the limit, or free some space or write to "
            "another disk"
        )
    elif code == _EDQUOT:
        why = f"your disk quota on '{disk}' is used up; free some space or write to another disk"
    elif code == errno.ENOSPC or (path.parent.exists() and free_bytes(disk) < FULL_BELOW_BYTES):
        why = f"the disk at '{disk}' is full; free some space or write to another disk"
    else:
        why = (
            f"it came out incomplete (the disk at '{disk}' is full, or a file size limit was "
            "reached); free some space or write to another disk"
        )
    kept = f"the previous '{path.name}' was kept" if path.exists() else "nothing was written"
    return WriteError(f"'{path.name}' could not be written: {why}; {kept}.", code)


def _native_write_failure(temporary: Path) -> int | None:
    """Return the errno a native writer's failure on ``temporary`` most likely had, or None.

    ENOSPC if its disk is full; EFBIG if the file reached the process's file size limit
    (``ulimit -f``); None for any other failure.
    """
    if free_bytes(temporary.parent) < FULL_BELOW_BYTES:
        return errno.ENOSPC
    try:
        import resource
    except ImportError:  # not POSIX: no file size limit
        return None
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    written = temporary.stat().st_size if temporary.exists() else 0
    if limit != resource.RLIM_INFINITY and written + _CHUNK >= limit:
        return errno.EFBIG
    return None


def _sync(path: Path) -> None:
    """Flush ``path`` to its disk (a full disk may only tell now)."""
    handle = os.open(path, os.O_RDWR)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to its disk, where the platform allows it."""
    if os.name != "posix":
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems cannot sync a folder; the file itself is synced
    finally:
        os.close(handle)


@contextmanager
def atomic_output(path: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; verify it, then rename it to ``path``.

    The rename happens only if the block succeeds and the file proves complete.

    Parameters
    ----------
    path : Path
        The file to produce; its folder is created if needed.
    suffix : str, optional
        Ending of the temporary name (writers that pick the format by ending need it, e.g.
        ``".nii.gz"``); ``path.suffix`` by default.

    Raises
    ------
    WriteError
        If the disk is full, read-only or not writable, or the file came out incomplete; the
        previous file at ``path`` is kept.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(
            prefix=f".{path.name}.",
            suffix=path.suffix if suffix is None else suffix,
            dir=path.parent,
        )
    except OSError as error:
        if error.errno in _WRITE_ERRNOS:
            raise _write_error(path, error.errno) from error
        raise
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        _sync(temporary)
        verify_file(temporary)
        if free_bytes(path.parent) < FULL_BELOW_BYTES:
            raise IncompleteFileError("the write left the disk full")
        temporary.chmod(_FILE_MODE)
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        if error.errno in _WRITE_ERRNOS:
            raise _write_error(path, error.errno) from error
        raise
    except IncompleteFileError as error:
        code = _native_write_failure(temporary)
        temporary.unlink(missing_ok=True)
        raise _write_error(path, code) from error
    except RuntimeError as error:  # native writers (ITK) say only "could not write"
        code = _native_write_failure(temporary)
        temporary.unlink(missing_ok=True)
        if code is not None:
            raise _write_error(path, code) from error
        raise
    except WriteError as error:  # a part written beside it first (a case file's label map)
        temporary.unlink(missing_ok=True)
        raise _write_error(path, error.code) from error
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; the bytes on disk are checked."""
    data = text.encode("utf-8")
    with atomic_output(path) as temporary:
        temporary.write_bytes(data)
        if temporary.stat().st_size != len(data):
            raise IncompleteFileError("fewer bytes on the disk than written")


def verify_file(path: Path) -> None:
    """Check that a file just written is complete, by its ending (see :func:`verify_stream`)."""
    with path.open("rb") as handle:
        verify_stream(handle, path.name)


def verify_stream(handle: IO[bytes], name: str, max_data_bytes: int | None = None) -> None:
    """Check that the file ``name`` open in ``handle`` is complete, by its ending.

    A NIfTI file (``.nii``, ``.nii.gz``) must hold exactly the voxel data its header declares
    (a compressed one is inflated in chunks, never more than the header declares plus one
    chunk); a ZIP file (``.zip``, ``.lumboplan``) must have intact entries; a PDF its end marker.
    Other endings are not checked.

    Parameters
    ----------
    max_data_bytes : int, optional
        Refuse a NIfTI file whose header declares more voxel data than this (a bomb) before
        reading its data.

    Raises
    ------
    IncompleteFileError
        If the file is short, damaged, or declares more than ``max_data_bytes``.
    """
    name = name.lower()
    check = next((c for ending, c in _CHECKS.items() if name.endswith(ending)), None)
    if check is None:
        return
    try:
        check(handle, max_data_bytes)
    except (EOFError, zlib.error, zipfile.BadZipFile, struct.error) as error:
        raise IncompleteFileError(f"damaged ({type(error).__name__})") from error


def _nifti_layout(header: bytes) -> tuple[int, int]:
    """Return where a NIfTI-1 or NIfTI-2 header says the voxels start, and their byte count."""
    for order in "<>":
        if len(header) >= 348 and struct.unpack_from(order + "i", header)[0] == 348:
            dims = struct.unpack_from(order + "8h", header, 40)
            bitpix = struct.unpack_from(order + "h", header, 72)[0]
            offset = struct.unpack_from(order + "f", header, 108)[0]
            break
        if len(header) >= 540 and struct.unpack_from(order + "i", header)[0] == 540:
            bitpix = struct.unpack_from(order + "h", header, 14)[0]
            dims = struct.unpack_from(order + "8q", header, 16)
            offset = struct.unpack_from(order + "q", header, 168)[0]
            break
    else:
        raise IncompleteFileError("no NIfTI header")
    count = dims[0]
    if not 1 <= count <= 7 or any(d < 1 for d in dims[1 : count + 1]) or bitpix % 8 or bitpix < 8:
        raise IncompleteFileError("the NIfTI header declares no valid image")
    if not math.isfinite(offset) or offset < 348:
        raise IncompleteFileError("the NIfTI header declares no valid data offset")
    return int(offset), math.prod(dims[1 : count + 1]) * (bitpix // 8)


def _check_limit(data_bytes: int, limit: int | None) -> None:
    if limit is not None and data_bytes > limit:
        raise IncompleteFileError(f"declares {data_bytes} bytes of voxels, more than {limit}")


def _check_nifti(handle: IO[bytes], limit: int | None) -> None:
    header = handle.read(540)
    offset, data_bytes = _nifti_layout(header)
    _check_limit(data_bytes, limit)
    size = os.fstat(handle.fileno()).st_size
    if size != offset + data_bytes:
        raise IncompleteFileError(f"{size} bytes where the header declares {offset + data_bytes}")


def _check_nifti_gz(handle: IO[bytes], limit: int | None) -> None:
    inflater = zlib.decompressobj(wbits=31)  # one gzip member, as SimpleITK writes it
    header = b""
    while len(header) < 540 and not inflater.eof:
        header += _inflate_step(inflater, handle, 540)
    offset, data_bytes = _nifti_layout(header)
    _check_limit(data_bytes, limit)
    expected = offset + data_bytes
    total = len(header)
    while not inflater.eof and total <= expected:
        total += len(_inflate_step(inflater, handle, _CHUNK))
    if total != expected:
        raise IncompleteFileError(f"{total} bytes where the header declares {expected}")


def _inflate_step(inflater: zlib._Decompress, handle: IO[bytes], most: int) -> bytes:
    """Inflate at most ``most`` more bytes; raise if the stream stops before its end."""
    data = inflater.unconsumed_tail or handle.read(_CHUNK)
    out = inflater.decompress(data, most)
    if not data and not out:
        raise IncompleteFileError("the compressed stream stops before its end")
    return out


def _check_zip(handle: IO[bytes], limit: int | None) -> None:
    with zipfile.ZipFile(handle) as archive:
        damaged = archive.testzip()
    if damaged is not None:
        raise IncompleteFileError(f"the entry '{damaged}' is damaged")


def _check_pdf(handle: IO[bytes], limit: int | None) -> None:
    size = os.fstat(handle.fileno()).st_size
    handle.seek(max(0, size - 1024))
    if b"%%EOF" not in handle.read():
        raise IncompleteFileError("the PDF has no end marker")


_CHECKS: dict[str, Callable[[IO[bytes], int | None], None]] = {
    ".nii.gz": _check_nifti_gz,
    ".nii": _check_nifti,
    ".zip": _check_zip,
    ".lumboplan": _check_zip,
    ".pdf": _check_pdf,
}
