"""Reading what a surgeon brings: DICOM folders and files, NIfTI, NRRD, MetaImage.

One reader for GUI, CLI and tests:

- :func:`list_series` describes what a path holds (several series: the caller chooses);
- :func:`read_scan` builds the canonical LPS :class:`~lumboplan_app.volume.Volume`;
- :func:`read_scan_isolated` does the same in a child process, so a crash in native decoding
  code cannot take the window or a batch down;
- :class:`ScanSource` lists and reads with the DICOM headers read once;
- :func:`read_label_map` and :func:`write_image` read and write label maps and volumes.

Hostile input is met at the door (:mod:`~lumboplan_app.io.files`): only regular files and
folders are read, never a pipe or device; declared sizes are checked against limits and against
the bytes present before anything is decoded; NRRD and MetaImage headers may name voxel data
only in their own folder; numbers no scanner writes are refused, naming the field.
"""

from __future__ import annotations

import stat
from pathlib import Path

from lumboplan_app.errors import NotAnImageError, SeriesChoiceRequired
from lumboplan_app.io.dicom import read_stack
from lumboplan_app.io.files import not_regular, unreadable
from lumboplan_app.io.isolated import run_isolated
from lumboplan_app.io.series import (
    CancelCheck,
    DicomStack,
    ProgressCallback,
    SeriesInfo,
    describe,
    discover,
)
from lumboplan_app.io.volume_files import (
    VOLUME_SUFFIXES,
    describe_volume_file,
    read_label_map,
    read_volume_file,
    volume_format,
    write_image,
)
from lumboplan_app.volume import Volume

__all__ = [
    "VOLUME_SUFFIXES",
    "ScanSource",
    "SeriesInfo",
    "list_series",
    "read_label_map",
    "read_scan",
    "read_scan_isolated",
    "write_image",
]

#: Share of the progress bar spent reading headers before pixels are decoded.
_DISCOVERY_SHARE = 0.3


class ScanSource:
    """The series under a path (DICOM folder, DICOMDIR, DICOM file or volume file), found once.

    :attr:`series` describes them; :meth:`read` reads one without reading the DICOM headers
    again (``lumboplan info`` lists the series, then reads the one chosen).

    Raises
    ------
    NotAnImageError
        If the path does not exist, is a device or pipe, or holds no DICOM image (a volume
        file's own header is read, and its errors raised, by :attr:`series` and :meth:`read`).
    UnreadableFileError
        If the path, or everything under it, may not be read (permissions).
    Cancelled
        If ``should_cancel`` returns True while the headers are read.
    """

    def __init__(
        self,
        path: str | Path,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> None:
        self.path = _existing(path)
        volume_file = self.path.is_file() and volume_format(self.path) is not None
        self._stacks = None if volume_file else discover(self.path, progress, should_cancel)
        self._series: list[SeriesInfo] | None = None

    @property
    def series(self) -> list[SeriesInfo]:
        """The series found, in the order their 1-based indices refer to.

        Raises :class:`~lumboplan_app.errors.LoadError` for a volume file it cannot read.
        """
        if self._series is None:
            if self._stacks is None:
                self._series = [describe_volume_file(self.path)]
            else:
                self._series = describe(self._stacks)
        return self._series

    def read(
        self,
        series: int | str | None = None,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> Volume:
        """Read one series (see :func:`read_scan` for ``series`` and the errors raised)."""
        if self._stacks is None:
            if series not in (None, 1, "1", self.path.name):
                raise NotAnImageError(
                    f"'{self.path.name}' holds one volume; there is no series {series}."
                )
            return read_volume_file(self.path)
        return read_stack(_choose(self._stacks, self.series, series), progress, should_cancel)

    def files(self, series: int | str | None = None) -> list[Path]:
        """Return the files of one DICOM series (see :func:`read_scan` for ``series``), sorted.

        Raises
        ------
        NotAnImageError
            If the path is a volume file, not DICOM.
        SeriesChoiceRequired
            As :func:`read_scan`.
        """
        if self._stacks is None:
            raise NotAnImageError(f"'{self.path.name}' is a volume file, not a DICOM series.")
        return sorted(_choose(self._stacks, self.series, series).paths)


def list_series(
    path: str | Path,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> list[SeriesInfo]:
    """Describe the series under ``path`` (folder, DICOMDIR, DICOM file or volume file).

    Raises
    ------
    NotAnImageError
        If the path does not exist or holds no image.
    """
    return ScanSource(path, progress, should_cancel).series


def read_scan(
    path: str | Path,
    series: int | str | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> Volume:
    """Read one scan into a float32 volume in canonical LPS order.

    Parameters
    ----------
    path : str or Path
        A DICOM folder, DICOMDIR, DICOM file, or a NIfTI/NRRD/MetaImage file.
    series : int or str, optional
        Which series, when the path holds several: its 1-based index in :func:`list_series`,
        or its ``series_id`` (SeriesInstanceUID).
    progress : callable, optional
        Called with (fraction 0..1, text).
    should_cancel : callable, optional
        Polled between slices; returning True raises :class:`~lumboplan_app.errors.Cancelled`.

    Raises
    ------
    SeriesChoiceRequired
        If the path holds several series and ``series`` is None, or ``series`` is an id not
        found here; it lists the series found.
    LoadError
        Or one of its subclasses, with a message a surgeon can act on.
    """
    discovery_progress = None
    decode_progress = None
    if progress is not None:
        discovery_progress = lambda f, text: progress(_DISCOVERY_SHARE * f, text)  # noqa: E731
        decode_progress = lambda f, text: progress(  # noqa: E731
            _DISCOVERY_SHARE + (1 - _DISCOVERY_SHARE) * f, text
        )
    source = ScanSource(path, discovery_progress, should_cancel)
    volume = source.read(series, decode_progress, should_cancel)
    if progress is not None:
        progress(1.0, "Scan loaded")
    return volume


def read_scan_isolated(
    path: str | Path,
    series: int | str | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> Volume:
    """Like :func:`read_scan`, in a child process: a reader crash becomes a CorruptFileError."""
    return run_isolated(
        read_scan, Path(path), series, progress=progress, should_cancel=should_cancel
    )


def _existing(path: str | Path) -> Path:
    """Return ``path`` if it is a folder or a regular file (symlinks followed)."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
    except PermissionError as error:
        raise unreadable(path.name) from error
    except (OSError, ValueError) as error:
        raise NotAnImageError(
            "This file or folder does not exist. Check the drive or CD and choose it again."
        ) from error
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise not_regular(path.name)
    return path


def _choose(
    stacks: list[DicomStack], infos: list[SeriesInfo], series: int | str | None
) -> DicomStack:
    """Return the stack ``series`` names (``infos``: the stacks' listing, same order)."""
    if series is None:
        if len(stacks) == 1:
            return stacks[0]
        raise SeriesChoiceRequired(infos)
    if isinstance(series, str) and series.strip().isdigit():
        series = int(series.strip())
    if isinstance(series, int):
        if 1 <= series <= len(stacks):
            return stacks[series - 1]
    else:
        # An exact series id first (a UID shared by several stacks names its first stack),
        # then the bare UID when it names exactly one stack.
        exact = [i for i, info in enumerate(infos) if info.series_id == series]
        if len(exact) == 1:
            return stacks[exact[0]]
        matches = [i for i, info in enumerate(infos) if info.series_id.split("#")[0] == series]
        if len(matches) == 1:
            return stacks[matches[0]]
        if len(matches) > 1:
            raise SeriesChoiceRequired([infos[i] for i in matches])
        # A series id from elsewhere (a case whose scan moved): this folder's own are offered.
        raise SeriesChoiceRequired(
            infos, f"The series '{series}' is not in this folder, which holds {len(infos)}."
        )
    raise NotAnImageError(
        f"There is no series '{series}' here; there are {len(stacks)} (1 to {len(stacks)}). "
        "'lumboplan info' lists them."
    )
