"""What a listing of scans says about one series, from its headers alone (``lumboplan info``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lumboplan_app.text import shown_text


@dataclass(frozen=True)
class SeriesInfo:
    """One stack of images found under a path, described from the headers alone.

    Parameters
    ----------
    index : int
        1-based position in the listing (what ``--series N`` takes).
    series_id : str
        The SeriesInstanceUID, with ``#k`` appended when one UID holds several stacks; for a
        volume file, the file's name.
    description : str
        SeriesDescription (or the file's name).
    modality : str
        ``"MR"``, ``"CT"``, ... or ``"unknown"``.
    orientation : str
        ``"sagittal"``, ``"coronal"``, ``"axial"``, prefixed by ``"oblique "`` beyond 10 degrees,
        or ``"unknown"``.
    rows, columns, slice_count : int
        In-plane size and number of slices (frames).
    pixel_spacing_mm : tuple of float or None
        (row spacing, column spacing) in mm, as DICOM PixelSpacing.
    series_number : int or None
        DICOM SeriesNumber.
    file_count : int
        Number of files holding the stack.
    problem : str
        Empty when a volume can be built from it as far as the headers tell; otherwise what
        stops it, phrased for a surgeon.
    source_format : str
        ``"DICOM"``, ``"NIfTI"``, ``"NRRD"`` or ``"MetaImage"``.
    """

    index: int
    series_id: str
    description: str
    modality: str
    orientation: str
    rows: int
    columns: int
    slice_count: int
    pixel_spacing_mm: tuple[float, float] | None
    series_number: int | None
    file_count: int
    problem: str = ""
    source_format: str = "DICOM"

    @property
    def loadable(self) -> bool:
        """Whether the headers allow a 3-D volume (decoding may still fail)."""
        return not self.problem

    def summary(self) -> str:
        """One line for a listing, e.g. ``"2: T2 SPACE sag, MR, sagittal, 320x320x192"``."""
        text = (
            f"{self.index}: {shown_text(self.description, None) or '(no description)'}, "
            f"{shown_text(self.modality, None)}, {self.orientation}, "
            f"{self.columns}x{self.rows}x{self.slice_count}"
        )
        return f"{text} - {shown_text(self.problem, None)}" if self.problem else text

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the ``series`` entries of ``lumboplan info --json``)."""
        return {
            "index": self.index,
            "series_id": self.series_id,
            "description": self.description,
            "modality": self.modality,
            "orientation": self.orientation,
            "size_xyz": [self.columns, self.rows, self.slice_count],
            "pixel_spacing_mm": list(self.pixel_spacing_mm) if self.pixel_spacing_mm else None,
            "series_number": self.series_number,
            "file_count": self.file_count,
            "loadable": self.loadable,
            "problem": self.problem or None,
            "format": self.source_format,
        }
