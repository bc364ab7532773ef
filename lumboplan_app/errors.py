"""Typed errors of the LumboPlan core.

Every error carries a message a surgeon can act on: what happened and what to do. The GUI shows
the message in a dialog, the CLI prints it on one line and exits non-zero. New, more specific
errors subclass an existing one so that old ``except`` clauses keep working (pydicom's rule).
Messages never contain patient identifiers or full input paths (folder names often carry the
patient's name): at most a file's own name. Text from a file (a name, a header's value) may
hold terminal escape codes: every message is passed through :func:`~lumboplan_app.text.shown_text`
when the error is made, and so is any such text LumboPlan prints. This module imports no other
module of the package at run time (only type names), so every module may import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from lumboplan_app.text import shown_text

if TYPE_CHECKING:
    from lumboplan_app.labels import Structure
    from lumboplan_app.series_info import SeriesInfo


class LumboPlanError(Exception):
    """Base of every error LumboPlan raises on purpose; its message is one printable line."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(shown_text(str(message), None), *args)


class Cancelled(LumboPlanError):
    """The user cancelled a long operation; nothing was changed."""

    def __init__(self, message: str = "Cancelled; nothing was changed.") -> None:
        super().__init__(message)


class LoadError(LumboPlanError):
    """A scan or label file could not be read into a usable 3-D volume."""


class NotAnImageError(LoadError):
    """The path holds no image LumboPlan can read (not DICOM, NIfTI, NRRD or MetaImage)."""


class UnsupportedImageError(LoadError):
    """The file is an image, but not one a 3-D plan can be built from.

    Examples: a single 2-D slice, a colour screenshot, a Siemens mosaic, a 4-D (diffusion or
    dynamic) series, an image without pixel data, a compression no installed decoder reads.
    """


class CorruptFileError(LoadError):
    """The file is damaged: truncated pixel data, or a reader that stopped unexpectedly."""


class IncompleteSeriesError(LoadError):
    """The slices of a series do not form an evenly spaced stack (a missing or extra slice).

    Attributes
    ----------
    positions_mm : tuple of float
        The slice positions found, in mm along the stack's normal, sorted.
    """

    def __init__(self, message: str, positions_mm: Sequence[float] = ()) -> None:
        super().__init__(message)
        self.positions_mm = tuple(float(p) for p in positions_mm)

    def __reduce__(self) -> tuple[type, tuple[str, tuple[float, ...]]]:
        return (type(self), (str(self), self.positions_mm))


class SeriesChoiceRequired(LoadError):
    """The path holds several series, or not the one asked for; the caller must choose one.

    Attributes
    ----------
    series : list of SeriesInfo
        What was found, in the order the listing shows them (index 1 first).
    """

    def __init__(self, series: Sequence[SeriesInfo], message: str | None = None) -> None:
        self.series = list(series)
        super().__init__(message or f"This folder holds {len(self.series)} series; choose one.")

    def __reduce__(self) -> tuple[type, tuple[list[SeriesInfo], str]]:
        return (type(self), (self.series, str(self)))


class FolderTooLargeError(LoadError):
    """The chosen folder holds far more files than one scan (a disk, an archive)."""


class VolumeSizeError(LoadError):
    """The volume is empty or too large to handle."""


class ModelError(LumboPlanError):
    """The segmentation model cannot be used (missing or tampered weights, unsuitable scan)."""


class ImplausibleSegmentationError(ModelError):
    """The model's labels cannot be anatomy: a structure missing, implausibly sized or misplaced.

    ``reason`` is what did not fit (the message's first part), ``failed`` the structures that
    failed the check. ``labels`` holds the refused labels (a
    :class:`~lumboplan_app.volume.LabelMap`) where the segmenter kept them, so that the window
    can offer them as an unverified draft (issue 22); it is None otherwise. It is typed
    ``object`` so that this module, which every other imports, imports none of them.
    """

    def __init__(
        self,
        message: str,
        reason: str = "",
        failed: tuple[Structure, ...] = (),
        labels: object | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.failed = failed
        self.labels = labels


class UnsuitableScanError(ModelError):
    """The scan is loaded and can be viewed, but the model must not segment it (CT, 2-D, ...)."""


class PlanningError(LumboPlanError):
    """The plan could not be computed from the given labels."""


class CorrectionError(LumboPlanError):
    """A label-correction tool cannot do what was asked (no seeds, a structure not drawn, ...).

    The message says what to draw or choose first; the labels are unchanged.
    """


class WriteError(LumboPlanError):
    """An output could not be written; the previous file is kept.

    The disk is full or read-only, the folder may not be written, or the file came out
    incomplete (a writer that did not notice a full disk). Free some space or write elsewhere.

    Attributes
    ----------
    code : int or None
        The ``errno`` of the failure (``ENOSPC``, ``EROFS``, ...); None for an incomplete file.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code

    def __reduce__(self) -> tuple[type, tuple[str, int | None]]:
        return (type(self), (str(self), self.code))


class DamagedCaseError(CorruptFileError):
    """A case file (``.lumboplan``) is damaged or was altered.

    An entry is missing, too large, not valid JSON, or holds values of the wrong kind. Open an
    autosaved or earlier copy.
    """


class UnreadableFileError(LoadError):
    """A file or folder exists but this user may not read it (permissions); it may be intact."""


class UnsafeDataFileError(UnsupportedImageError):
    """A NRRD or MetaImage header names voxel data LumboPlan does not read.

    Only one regular file inside the header's own folder is read: never a file elsewhere (a
    header could otherwise copy any file on the computer into an image), a list or pattern of
    files, a pipe or a device.
    """


class ImplausibleValueError(CorruptFileError):
    """A header or voxel value is not a finite number or lies outside any physical range.

    Examples: a voxel size of 0 or 1e30 mm, a slice step of 1e300 mm, a RescaleSlope of NaN.
    The message names the field.
    """


class ExportError(LumboPlanError):
    """A case cannot be exported in the format asked for; the message says what to do instead."""


class DicomSourceRequiredError(ExportError):
    """A DICOM object must reference the DICOM series the case was planned on, and there is none.

    The case was planned on a NIfTI, NRRD or MetaImage file, or its DICOM series has moved.
    Export the labels as ``.seg.nrrd`` instead, or plan the case from the DICOM series (or give
    the series' folder).
    """


class UnverifiedLabelsError(ExportError):
    """A case's labels are not known to be right, so a model must not learn from them.

    They are an unverified draft with structures not confirmed, or nothing records that a person
    checked them. Confirm each structure in the Review tab and save the case; for labels that
    were reviewed by hand outside LumboPlan's record, ``lumboplan export-training --reviewed``.
    """
