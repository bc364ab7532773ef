"""Which files under a chosen path are tried as DICOM: a bounded walk of regular files.

A folder is walked without recursion and without following symlinked folders; only regular
files (or symlinks to them) are yielded, never pipes or devices. A DICOMDIR yields the files it
references (as a flat list: a hostile DICOMDIR's looping offsets are never followed). A folder
holding more than ``MAX_FOLDER_ENTRIES`` files and folders, or a DICOMDIR listing as many, is no
scan (``/``, a home folder, an archive): it is refused before a single header is read.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from lumboplan_app.errors import FolderTooLargeError, NotAnImageError
from lumboplan_app.io.checks import MAX_DICOMDIR_BYTES, MAX_FOLDER_ENTRIES
from lumboplan_app.io.dicom_files import read_dicom

logger = logging.getLogger(__name__)

#: Endings that are never DICOM: skipped without opening (viewers on CDs ship many files).
_NEVER_DICOM_SUFFIXES = frozenset(
    [
        ".txt",
        ".htm",
        ".html",
        ".xml",
        ".pdf",
        ".jpg",
        ".jpeg",
        ".png",
        ".gif",
        ".bmp",
        ".exe",
        ".dll",
        ".inf",
        ".ini",
        ".js",
        ".css",
        ".json",
        ".zip",
        ".nii",
        ".gz",
        ".nrrd",
        ".mha",
        ".mhd",
        ".md",
        ".cfg",
        ".log",
        ".ico",
        ".bat",
        ".sh",
        ".py",
    ]
)


def candidate_files(path: Path, walk_errors: list[OSError]) -> Iterator[Path]:
    """Yield the regular files (or symlinks to them) to try, in a stable order.

    Pipes, devices, sockets and dangling symlinks are skipped unopened; symlinked folders are
    not followed (no loops), and any depth of folders is walked without recursion. Folders
    that cannot be listed are appended to ``walk_errors``.

    Raises
    ------
    FolderTooLargeError
        Past ``MAX_FOLDER_ENTRIES`` files and folders, before any header is read.
    """
    if path.is_file():
        if path.name.upper() == "DICOMDIR":
            yield from _dicomdir_files(path, walk_errors)
        else:
            yield path
        return
    folders = [path]
    seen = 0
    while folders:  # depth-first in name order, like os.walk, but without recursion
        folder = folders.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(
                    itertools.islice(scan, MAX_FOLDER_ENTRIES - seen + 1),
                    key=lambda entry: entry.name,
                )
        except OSError as error:
            walk_errors.append(error)
            continue
        seen += len(entries)
        if seen > MAX_FOLDER_ENTRIES:
            raise FolderTooLargeError(
                f"'{path.name or path}' holds more than {MAX_FOLDER_ENTRIES} files and "
                "folders: far more than one scan (a whole disk or archive?). Choose the folder "
                "of the series itself."
            )
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(Path(entry.path))
                    continue
                regular = entry.is_file()  # a symlink counts as what it points to
            except OSError:
                continue
            if regular and Path(entry.name).suffix.lower() not in _NEVER_DICOM_SUFFIXES:
                yield Path(entry.path)
        folders.extend(reversed(subfolders))


def dicomdir_in(folder: Path) -> Path | None:
    """Return the DICOMDIR directly inside ``folder`` (its name in any case), or None.

    One over ``MAX_DICOMDIR_BYTES`` is not returned: a folder is read without it.
    """
    try:
        with os.scandir(folder) as scan:
            for entry in itertools.islice(scan, MAX_FOLDER_ENTRIES):
                if entry.name.upper() == "DICOMDIR" and entry.is_file():
                    small = entry.stat().st_size <= MAX_DICOMDIR_BYTES
                    return Path(entry.path) if small else None
    except OSError:
        return None
    return None


def _dicomdir_files(dicomdir: Path, walk_errors: list[OSError]) -> Iterator[Path]:
    """Yield the files a DICOMDIR references; the whole folder if it cannot be parsed.

    The directory records are read as a flat list, not walked as the tree their offsets make
    (a DICOMDIR whose offsets loop would never end); a file ID with ``..`` or a separator in a
    component, or that names no regular file, is skipped.

    Raises
    ------
    FolderTooLargeError
        A DICOMDIR over ``MAX_DICOMDIR_BYTES``, or one referencing more than
        ``MAX_FOLDER_ENTRIES`` files, before any of them is opened.
    NotAnImageError
        A DICOMDIR none of whose files is there (copied without them).
    """
    try:
        size = dicomdir.stat().st_size
    except OSError as error:
        walk_errors.append(error)
        return
    if size > MAX_DICOMDIR_BYTES:
        raise FolderTooLargeError(
            f"The DICOMDIR is {size >> 20} MiB: far more than one study's index (a whole "
            "archive?). Choose the folder of the series itself."
        )
    try:
        with dicomdir.open("rb") as stream:  # a deflated one inflated under a cap
            records = read_dicom(stream, dicomdir.name, stop_before_pixels=True)
        file_ids = [record.get("ReferencedFileID") for record in records.DirectoryRecordSequence]
    except Exception:  # a damaged DICOMDIR: fall back to the files beside it
        logger.warning("the DICOMDIR could not be parsed; reading the files beside it instead")
        yield from (
            p for p in candidate_files(dicomdir.parent, walk_errors) if p.name.upper() != "DICOMDIR"
        )
        return
    if len(file_ids) > MAX_FOLDER_ENTRIES:
        raise FolderTooLargeError(
            f"The DICOMDIR lists more than {MAX_FOLDER_ENTRIES} entries: far more than one "
            "study (a whole archive?). Choose the folder of the series itself."
        )
    paths = {path for path in map(_referenced_path, file_ids) if path is not None}
    skipped = 0
    for relative in sorted(paths):
        path = dicomdir.parent.joinpath(*relative)
        try:
            regular = path.is_file()
        except OSError:
            regular = False
        if regular:
            yield path
        else:
            skipped += 1
    if paths and skipped == len(paths):
        raise NotAnImageError(
            f"The DICOMDIR lists {len(paths)} files, but none of them is in its folder: the "
            "disc or export was copied without its image files. Copy the whole disc (the "
            "DICOMDIR with its folders), or choose the folder that holds the images."
        )
    if skipped:
        logger.warning("%d files the DICOMDIR lists are missing or not files", skipped)


def _referenced_path(file_id: object) -> tuple[str, ...] | None:
    """Return a DICOMDIR record's file ID as path components; None if it has none or is unsafe."""
    if not file_id:
        return None
    if isinstance(file_id, str):
        parts: tuple[str, ...] = (file_id,)
    elif isinstance(file_id, Iterable):
        parts = tuple(str(part) for part in file_id)
    else:
        return None
    if any(part in ("", ".", "..") or "/" in part or "\\" in part for part in parts):
        return None
    return parts
