"""Open only regular files: the door every reader goes through before it parses a byte.

A CD, a PACS export or a shared folder may hold anything. Reading a named pipe blocks forever,
reading a symlink to ``/dev/zero`` or ``/dev/urandom`` never ends, and a file the user may not
read is not damaged. So a file is opened without blocking, its type is checked on the open
descriptor (no race with a file swapped after a check by name), and only a regular file is
handed on; a symlink to a regular file is followed like the file itself.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from lumboplan_app.errors import NotAnImageError, UnreadableFileError

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def unreadable(name: str) -> UnreadableFileError:
    """Return the error for a file or folder ``name`` this user may not read."""
    return UnreadableFileError(
        f"'{name}' cannot be read: permission denied. It may be intact; ask for read access, "
        "or copy the files to a folder of your own and open them there."
    )


def not_regular(name: str) -> NotAnImageError:
    """Return the error for ``name`` being a pipe, device or socket rather than a file."""
    return NotAnImageError(
        f"'{name}' is not a file but a device, pipe or socket; LumboPlan reads only image files "
        "and folders. Choose the scan's file or folder."
    )


def open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (symlinks followed).

    Raises
    ------
    UnreadableFileError
        If permission to read it is denied.
    NotAnImageError
        If it does not exist, or is a pipe, device, socket or folder.
    """
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except PermissionError as error:
        raise unreadable(path.name) from error
    except OSError as error:
        if error.errno == errno.EISDIR:
            raise not_regular(path.name) from error
        raise NotAnImageError(
            f"'{path.name}' cannot be opened ({error.strerror}). Check the drive or CD."
        ) from error
    try:
        mode = os.fstat(descriptor).st_mode
    except OSError:
        os.close(descriptor)
        raise
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise not_regular(path.name)
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")
