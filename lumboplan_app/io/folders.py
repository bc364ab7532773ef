"""Which files under a chosen path are tried as DICOM: a bounded walk of regular files.

A folder is walked without recursion and without following symlinked folders; only regular
files (or symlinks to them) are yielded, never pipes or devices. A DICOMDIR yields the files it
references. A folder holding more than ``MAX_FOLDER_ENTRIES`` files and folders is no scan
(``/``, a home folder, an archive): it is refused before a single header is read.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pydicom

from lumboplan_app.errors import FolderTooLargeError
from lumboplan_app.io.checks import MAX_FOLDER_ENTRIES

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


def _dicomdir_files(dicomdir: Path, walk_errors: list[OSError]) -> Iterator[Path]:
    """Yield the files a DICOMDIR references; the whole folder if it cannot be parsed."""
    try:
        from pydicom.fileset import FileSet

        file_set = FileSet(pydicom.dcmread(dicomdir))
        paths = [Path(instance.path) for instance in file_set]
    except Exception:  # a damaged DICOMDIR: fall back to the files beside it
        logger.warning("the DICOMDIR could not be parsed; reading the files beside it instead")
        yield from (
            p for p in candidate_files(dicomdir.parent, walk_errors) if p.name.upper() != "DICOMDIR"
        )
        return
    yield from sorted(paths)
