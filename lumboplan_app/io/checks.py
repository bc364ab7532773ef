"""Plausibility checks on a loaded scan: what the surgeon should be warned of, what is refused.

A scan that loads may still be unfit for the method: thick slices, a CT, a field of view that
misses the lumbosacral region. Viewing is always allowed; segmentation is refused for scans the
model must not label (:func:`require_segmentable`), so it never hands the planner garbage.

Numbers no scanner writes are refused before anything is allocated, naming the field: a voxel
size or slice step outside 0.01..50 mm, a position kilometres away, a non-finite rescale
(:func:`check_spacing`, :func:`check_positions`, :func:`finite_number`); voxels that are NaN or
infinite are refused after reading (:func:`finish_loading`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.errors import ImplausibleValueError, UnsuitableScanError, VolumeSizeError
from lumboplan_app.volume import Volume

logger = logging.getLogger(__name__)

#: Largest volume accepted (about 2 GiB as float32): beyond it, a scan is not a lumbar MR.
MAX_VOXELS = 512 * 1024 * 1024
#: Most bytes a reader may allocate for one scan: its voxels as stored plus their float32 copy.
#: 3 GiB is the voxel limit at 16 bits; a 64-bit file may have half as many voxels.
MAX_READ_BYTES = 3 << 30
#: Largest single image (pixels): a lumbar MR slice is at most 1024 x 1024.
MAX_FRAME_PIXELS = 4096 * 4096
#: Most frames (slices) in one file or stack; a lumbar MR has a few hundred.
MAX_FRAMES = 65536
#: Most files and folders looked at under one scan folder: a study of 50 series of 1000 slices
#: is half as many. More is a disk or a whole archive (``/``, a home folder), not one scan.
MAX_FOLDER_ENTRIES = 100_000
#: Largest DICOMDIR read: a record is about 200 bytes, so 8 MiB indexes about 40 000 images (a CD
#: of a few studies holds 1-5 MiB) and parses in about 5 s on a busy 2-core CPU (16 MiB: 11 s).
#: A larger one is refused: the series' own folder is read without it.
MAX_DICOMDIR_BYTES = 8 << 20
#: Voxel sizes and slice steps (mm) a patient scan can have; beyond them the header is broken.
SPACING_RANGE_MM = (0.01, 50.0)
#: Farthest (mm) a scan's voxels can lie from the scanner's origin: 10 m.
MAX_POSITION_MM = 1e4
#: Largest magnitude of a rescale slope or intercept (DICOM RescaleSlope, NIfTI scl_slope).
MAX_RESCALE = 1e6
#: Fewest slices that make a 3-D stack.
MIN_SLICES = 3
#: Coarsest voxel edge (mm) before the scan is flagged as a thick-slice protocol.
THICK_SLICE_MM = 2.0
#: Smallest field of view (mm) along any image axis that can hold L5, S1 and the foramina.
MIN_EXTENT_MM = 60.0
#: Below this field of view (mm) along an image axis the model is not run: L5's body alone is about
#: 35 mm deep and 45 mm wide, so such a field of view (a few thick slices, a localiser) cannot
#: hold L5, the disc and S1 together.
MIN_SEGMENTABLE_EXTENT_MM = 30.0
#: Voxel values below this look like CT Hounsfield units (air is -1000 HU).
_HOUNSFIELD_AIR_THRESHOLD = -500.0
#: BodyPartExamined values (whole, after removing spaces, dashes and underscores) that can hold
#: the lumbosacral junction. "CSPINE" and "TSPINE" are other regions.
_LUMBAR_BODY_PARTS = frozenset(
    {
        "SPINE",
        "LSPINE",
        "LUMBAR",
        "LUMBARSPINE",
        "LSSPINE",
        "TLSPINE",
        "SACRUM",
        "PELVIS",
        "ABDOMEN",
        "ABDOMENPELVIS",
        "WHOLEBODY",
    }
)


def read_bytes_error(voxels: int, stored_bytes: int, name: str) -> VolumeSizeError | None:
    """Say why reading a scan would take more memory than ``MAX_READ_BYTES``, or return None.

    ``voxels`` are stored in ``stored_bytes`` bytes in all (as the file holds them, decoded).
    """
    needed = stored_bytes + 4 * voxels  # the file's voxels, then their float32 copy
    if needed <= MAX_READ_BYTES:
        return None
    return VolumeSizeError(
        f"'{name}' would take {needed / 2**30:.1f} GiB of memory to read ({voxels / 1e6:.0f} "
        f"million voxels), more than LumboPlan allows ({MAX_READ_BYTES / 2**30:.0f} GiB). "
        "Choose a lumbar series, or export it with fewer voxels or 16-bit values."
    )


def finish_loading(volume: Volume, extra_warnings: tuple[str, ...] = ()) -> Volume:
    """Check a freshly read canonical volume, attach its warnings, log it (no identifiers).

    Every reader ends here, so every format gets the same checks and the same log line.

    Raises
    ------
    ImplausibleValueError
        If a voxel is NaN or infinite (a broken rescale or broken data).
    VolumeSizeError
        If every voxel has the same value (an empty export).
    """
    finite = np.isfinite(volume.array)
    if not finite.all():
        bad = finite.size - int(np.count_nonzero(finite))
        raise ImplausibleValueError(
            f"{bad} of {finite.size} voxels of this scan are not numbers (NaN or infinite): its "
            "scaling (RescaleSlope, scl_slope) or its data are broken. Export the series again."
        )
    if float(volume.array.max()) == float(volume.array.min()):
        raise VolumeSizeError(
            "This scan is empty: every voxel has the same value. Export the series again."
        )
    volume.meta = replace(volume.meta, warnings=scan_warnings(volume) + extra_warnings)
    grid = volume.grid
    logger.info(
        "case %s: %s %s volume %s voxels, spacing %s mm, %s",
        volume.meta.case_key,
        volume.meta.source_format,
        volume.meta.modality,
        "x".join(str(n) for n in grid.shape_zyx[::-1]),
        ", ".join(f"{s:.2f}" for s in grid.spacing_xyz_mm),
        grid.orientation_code(),
    )
    return volume


def check_spacing(spacing_mm: Sequence[float], fields: Sequence[str], file_name: str) -> None:
    """Refuse voxel sizes or slice steps no patient scan has (not finite, outside 0.01..50 mm).

    Parameters
    ----------
    spacing_mm : sequence of float
        The sizes in mm, one per axis.
    fields : sequence of str
        The header field each size comes from, named in the message.
    file_name : str
        The file's own name (never its path), named in the message.

    Raises
    ------
    ImplausibleValueError
        Naming the first field out of range.
    """
    low, high = SPACING_RANGE_MM
    for value, field in zip(spacing_mm, fields, strict=True):
        if not (math.isfinite(value) and low <= value <= high):
            raise ImplausibleValueError(
                f"The header of '{file_name}' gives {field} = {value:g} mm; a scan's voxels are "
                f"{low:g} to {high:g} mm. The header is damaged: export the scan again."
            )


def check_positions(positions_mm: npt.ArrayLike, field: str, file_name: str) -> None:
    """Refuse positions (LPS mm) that are not finite or lie more than 10 m from the origin.

    Raises
    ------
    ImplausibleValueError
        Naming ``field`` and ``file_name``.
    """
    values = np.asarray(positions_mm, dtype=np.float64)
    if values.size and not (
        np.all(np.isfinite(values)) and np.abs(values).max() <= MAX_POSITION_MM
    ):
        raise ImplausibleValueError(
            f"The header of '{file_name}' places the image at {field} values beyond "
            f"{MAX_POSITION_MM / 1000:g} m from the scanner (or not numbers). The header is "
            "damaged: export the scan again."
        )


def finite_number(value: Any, field: str, file_name: str, limit: float = MAX_RESCALE) -> float:
    """Return header ``value`` as a float, refusing text, NaN, infinity and magnitudes > limit.

    Raises
    ------
    ImplausibleValueError
        Naming ``field`` and ``file_name``.
    """
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if not (math.isfinite(number) and abs(number) <= limit):
        raise ImplausibleValueError(
            f"The header of '{file_name}' gives {field} = {value!s:.20}, not a usable number "
            f"(finite, at most {limit:g} in size). The header is damaged: export the scan again."
        )
    return number


def scan_warnings(volume: Volume) -> tuple[str, ...]:
    """Return the warnings a surgeon should read before trusting a plan built on ``volume``."""
    meta = volume.meta
    warnings: list[str] = []
    coarsest_mm = max(volume.grid.spacing_xyz_mm)
    if coarsest_mm > THICK_SLICE_MM:
        protocol = "a 2-D protocol with " if meta.acquisition_type.upper() == "2D" else ""
        warnings.append(
            f"This is {protocol}{coarsest_mm:.1f} mm slices. LumboPlan's method was validated on "
            "3-D T2 scans of about 1 mm: segmentation, contacts and angles are less precise."
        )
    if meta.modality == "CT" or looks_like_ct(volume):
        warnings.append(
            "This looks like a CT scan: it can be viewed, but segmentation and planning need MR."
        )
    elif meta.modality not in ("MR", "unknown"):
        warnings.append(
            f"This is a {meta.modality} image, not MR: it can be viewed, but segmentation and "
            "planning need an MR scan."
        )
    body_part = "".join(c for c in meta.body_part.upper() if c.isalnum())
    if body_part and body_part not in _LUMBAR_BODY_PARTS:
        warnings.append(
            f"The scan is labelled as body part '{meta.body_part}', not the lumbar spine."
        )
    thinnest_mm = min(volume.grid.field_of_view_xyz_mm)
    if thinnest_mm < MIN_EXTENT_MM:
        warnings.append(
            f"The scan covers only {thinnest_mm:.0f} mm along one axis; the plan needs L5, S1, "
            "the iliac crests and the skin in view."
        )
    return tuple(warnings)


def looks_like_ct(volume: Volume) -> bool:
    """Whether the values look like CT Hounsfield units (for formats without a modality tag)."""
    if volume.meta.modality == "CT":
        return True
    if volume.meta.modality != "unknown":
        return False
    sample = volume.array[::4, ::4, ::4]  # a percentile needs no more than every 64th voxel
    return float(np.percentile(sample, 1)) < _HOUNSFIELD_AIR_THRESHOLD


def segmentation_refusal(volume: Volume) -> str | None:
    """Say why the model must not segment ``volume``, or return None when it may."""
    if looks_like_ct(volume):
        return (
            "This is a CT scan (or its values look like CT). The segmentation model was trained "
            "on MR only; open the patient's lumbar MR (3-D T2) instead."
        )
    if volume.meta.modality not in ("MR", "unknown"):
        return (
            f"This is a {volume.meta.modality} image. The segmentation model needs a lumbar MR "
            "(3-D T2)."
        )
    thinnest_mm = min(volume.grid.field_of_view_xyz_mm)
    if thinnest_mm < MIN_SEGMENTABLE_EXTENT_MM:
        return (
            f"This series covers only {thinnest_mm:.0f} mm along one axis, too little to hold "
            "L5, the L5/S1 disc and S1. Open the patient's 3-D lumbar MR series (T2) instead."
        )
    return None


def require_segmentable(volume: Volume) -> None:
    """Raise if the model must not segment ``volume``.

    Raises
    ------
    UnsuitableScanError
        For CT or another non-MR modality, with the reason.
    """
    reason = segmentation_refusal(volume)
    if reason is not None:
        raise UnsuitableScanError(reason)
