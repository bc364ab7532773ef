"""Build a canonical LPS volume from one DICOM stack (classic series or enhanced multi-frame).

Geometry comes from ImagePositionPatient, ImageOrientationPatient and PixelSpacing of every
frame (from the functional groups for enhanced files), never from file order or InstanceNumber.
The stack is checked before any pixel is decoded: one orientation, distinct positions along
one axis (repeated positions mean a 4-D series), evenly spaced (a gap means a missing slice),
a plausible size, pixel spacing and slice step within 0.01..50 mm, and each file's declared
pixel data against the bytes it holds. Pixels are decoded by pydicom and its plugins, rescaled
with each frame's slope and intercept, and the volume is reoriented to LPS without resampling.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments
from pydicom.pixels import get_decoder
from pydicom.uid import UID

from lumboplan_app.errors import (
    Cancelled,
    CorruptFileError,
    IncompleteSeriesError,
    LoadError,
    UnsupportedImageError,
    VolumeSizeError,
)
from lumboplan_app.io.checks import (
    MAX_VOXELS,
    MIN_SLICES,
    check_positions,
    check_spacing,
    finish_loading,
    finite_number,
)
from lumboplan_app.io.codestreams import UnreadableCodestream, declared_frame
from lumboplan_app.io.dicom_files import read_dicom
from lumboplan_app.io.files import open_regular
from lumboplan_app.io.series import (
    CancelCheck,
    DicomStack,
    Frame,
    ProgressCallback,
    convert_all_values,
    declared_pixel_data_error,
)
from lumboplan_app.volume import (
    Grid,
    PatientInfo,
    ScanMeta,
    Volume,
    case_key_for,
)

logger = logging.getLogger(__name__)

#: Relative excess of a slice step over the smallest step that counts as a gap.
_STEP_TOLERANCE = 0.1
#: Largest |cos| between the row and column directions accepted as rounding (about 0.5 deg).
_ORTHOGONALITY_TOLERANCE = 0.01
#: Offset (mm) of a slice perpendicular to the stack axis beyond which the stack is sheared.
_SHEAR_TOLERANCE_MM = 0.5


def read_stack(
    stack: DicomStack,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> Volume:
    """Decode ``stack`` into a float32 volume in canonical LPS orientation.

    Raises
    ------
    UnsupportedImageError
        No geometry, repeated positions (4-D), too few slices, or no decoder for the
        compression.
    IncompleteSeriesError
        Uneven slice spacing (a missing slice); the message lists the positions.
    VolumeSizeError
        Too many voxels, not enough memory, or every voxel has the same value.
    ImplausibleValueError
        A spacing, slice step, position or rescale no scanner writes (names the field), or
        voxels that are NaN or infinite.
    CorruptFileError
        Pixel data truncated or undecodable, or a header declaring more than the file holds.
    UnreadableFileError
        A file of the stack may not be read (permissions).
    Cancelled
        If ``should_cancel`` returns True.
    """
    if stack.error is not None:
        raise stack.error
    if stack.problem:
        if len(stack.frames) == 1 and "Rows" in stack.header:
            _decode_file(stack.frames[0].path)  # a damaged single file: say it is damaged
        raise UnsupportedImageError(stack.problem)
    frames, grid = _stack_geometry(stack)
    voxels = grid.voxel_count
    if voxels > MAX_VOXELS:
        raise VolumeSizeError(
            f"This series has {voxels / 1e6:.0f} million voxels, more than LumboPlan handles "
            f"({MAX_VOXELS / 1e6:.0f} million). Choose a lumbar series, or reduce the "
            "resolution when exporting."
        )
    array = _decode_frames(stack, frames, progress, should_cancel)
    volume = Volume(array=array, grid=grid, meta=_scan_meta(stack.header, grid)).to_canonical()
    skipped: list[str] = []
    if stack.damaged_files:
        skipped.append(
            f"{stack.damaged_files} file(s) in this folder have a damaged DICOM header and were "
            "skipped; if they belong to this series, slices are missing at its ends. Check the "
            "export."
        )
    if stack.unreadable_files:
        skipped.append(
            f"{stack.unreadable_files} file(s) or folder(s) here cannot be read (permission "
            "denied) and were skipped; if they belong to this series, slices are missing at its "
            "ends. Ask for read access."
        )
    return finish_loading(volume, tuple(skipped))


def _stack_geometry(stack: DicomStack) -> tuple[list[Frame], Grid]:
    """Sort the frames along the stack axis and return them with the grid they span."""
    frames = stack.frames
    first = frames[0]
    if (
        first.orientation is None
        or first.pixel_spacing_mm is None
        or any(f.position_lps_mm is None for f in frames)
    ):
        raise UnsupportedImageError(
            "These images carry no slice geometry (position, orientation or pixel spacing), "
            "so they cannot be placed in 3-D. Export the original MR series, not screenshots."
        )
    file_name = first.path.name
    size_error = declared_pixel_data_error(stack.header, file_name, None)
    if size_error is not None:
        raise size_error
    row_spacing, column_spacing = first.pixel_spacing_mm
    check_spacing((row_spacing, column_spacing), ("PixelSpacing[0]", "PixelSpacing[1]"), file_name)
    row_cosine, column_cosine = _orthonormal_cosines(first.orientation)
    for frame in frames[1:]:
        if frame.orientation is None or not np.allclose(
            frame.orientation, first.orientation, atol=1e-3
        ):
            raise UnsupportedImageError(
                "The slices of this series do not share one orientation (a localizer or a "
                "multi-stack series). Choose a series acquired as one stack."
            )
    normal = np.cross(row_cosine, column_cosine)
    positions = np.array([f.position_lps_mm for f in frames], dtype=np.float64)
    check_positions(positions, "ImagePositionPatient", file_name)
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    frames = [frames[i] for i in order]
    positions, along = positions[order], along[order]
    distinct = np.unique(np.round(along, 2))
    if len(distinct) < len(frames):
        repeats = len(frames) / len(distinct)
        raise UnsupportedImageError(
            f"This series repeats its slice positions ({len(frames)} images at {len(distinct)} "
            f"positions, about {repeats:.0f} volumes): it is 4-D (diffusion, dynamic or "
            "multi-echo). LumboPlan needs a single anatomical 3-D T2 volume."
        )
    if len(frames) < MIN_SLICES:
        raise UnsupportedImageError(
            f"This series has only {len(frames)} slices; a 3-D plan needs a stack of at least "
            f"{MIN_SLICES}. Choose the 3-D T2 series."
        )
    steps = np.diff(along)
    smallest_step = float(steps.min())
    gaps = np.flatnonzero(steps > (1 + _STEP_TOLERANCE) * smallest_step)
    if len(gaps):
        described = ", ".join(
            f"{steps[i]:.2f} mm between {along[i]:.2f} and {along[i + 1]:.2f} mm "
            f"(about {round(steps[i] / smallest_step) - 1} slice(s) missing)"
            for i in gaps[:5]
        )
        raise IncompleteSeriesError(
            f"The slices are unevenly spaced (step {smallest_step:.2f} mm, but {described}). "
            "Export the complete series again.",
            positions_mm=along.tolist(),
        )
    median_step = float(np.median(steps))
    check_spacing((median_step,), ("the slice step (from ImagePositionPatient)",), file_name)
    in_plane = positions - positions[0] - np.outer(along - along[0], normal)
    if float(np.abs(in_plane).max()) > _SHEAR_TOLERANCE_MM:
        raise UnsupportedImageError(
            "The slices are not stacked straight along one axis (gantry tilt or a sheared "
            "reconstruction). Export a series with an orthogonal slice stack."
        )
    header = stack.header
    grid = Grid(
        shape_zyx=(len(frames), int(header.Rows), int(header.Columns)),
        spacing_xyz_mm=(column_spacing, row_spacing, median_step),
        origin_lps_mm=tuple(positions[0]),
        direction=np.column_stack([row_cosine, column_cosine, normal]),
    )
    return frames, grid


def _orthonormal_cosines(
    orientation: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return the unit row and column cosines of ImageOrientationPatient, made orthogonal.

    Scanners round the six numbers, so they are rarely exactly orthogonal; a deviation up to
    about half a degree is rounding and is corrected. A larger one is a broken header.

    Raises
    ------
    UnsupportedImageError
        If the two directions are zero or not close to orthogonal.
    """
    row, column = orientation[:3], orientation[3:]
    lengths = np.linalg.norm(row), np.linalg.norm(column)
    if min(lengths) < 1e-6:
        raise UnsupportedImageError(
            "The slice orientation in these files is empty, so the slices cannot be placed in "
            "3-D. Export the original MR series again."
        )
    row, column = row / lengths[0], column / lengths[1]
    if abs(float(row @ column)) > _ORTHOGONALITY_TOLERANCE:
        raise UnsupportedImageError(
            "The slice orientation in these files is not a valid pair of perpendicular "
            "directions (damaged header). Export the original MR series again."
        )
    column = column - (row @ column) * row
    return row, column / np.linalg.norm(column)


def _decode_frames(
    stack: DicomStack,
    frames: Sequence[Frame],
    progress: ProgressCallback | None,
    should_cancel: CancelCheck | None,
) -> npt.NDArray[np.float32]:
    """Decode every frame into a (Z, Y, X) float32 array with rescale applied."""
    rows, columns = int(stack.header.Rows), int(stack.header.Columns)
    try:
        array = np.empty((len(frames), rows, columns), dtype=np.float32)
    except MemoryError as error:
        raise _out_of_memory(len(frames) * rows * columns) from error
    datasets: dict[Path, tuple[Dataset, npt.NDArray[Any]]] = {}
    for z, frame in enumerate(frames):
        if should_cancel is not None and should_cancel():
            raise Cancelled()
        if progress is not None and z % 10 == 0:
            progress(z / len(frames), f"Reading slices ({z}/{len(frames)})")
        if frame.path not in datasets:
            if frame.frame_index is None:
                datasets.clear()  # single-frame files: keep only the current one in memory
            datasets[frame.path] = _decode_file(frame.path)
        dataset, pixels = datasets[frame.path]
        plane = pixels if frame.frame_index is None else pixels[frame.frame_index]
        if plane.shape != (rows, columns):
            raise CorruptFileError(
                f"The image in '{frame.path.name}' is {plane.shape[1]}x{plane.shape[0]} pixels, "
                f"not {columns}x{rows} like the rest of the series. Export the series again."
            )
        slope, intercept = _rescale(dataset, frame.frame_index, frame.path.name)
        array[z] = plane.astype(np.float32) * slope + intercept
    if str(stack.header.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        array = array.max() + array.min() - array
    return array


def _out_of_memory(voxels: int) -> VolumeSizeError:
    return VolumeSizeError(
        f"There is not enough memory to hold this series ({voxels / 1e6:.0f} million voxels). "
        "Close other programs, or choose a smaller series."
    )


def _decode_file(path: Path) -> tuple[Dataset, npt.NDArray[Any]]:
    """Read a whole file and decode its pixels, once its header's sizes are checked.

    Raises
    ------
    CorruptFileError, UnsupportedImageError, VolumeSizeError, UnreadableFileError
        As :func:`read_stack` says.
    """
    with open_regular(path) as stream:
        try:
            dataset = convert_all_values(read_dicom(stream, path.name))
        except LoadError:
            raise
        except Exception as error:
            raise CorruptFileError(
                f"The file '{path.name}' is damaged and cannot be read ({type(error).__name__}). "
                "Export the series again."
            ) from error
    transfer_syntax = UID(str(dataset.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2")))
    if "PixelData" not in dataset and "FloatPixelData" not in dataset:
        raise UnsupportedImageError(
            f"The file '{path.name}' holds no pixel data. Export the series again with its images."
        )
    _check_pixel_data(dataset, path.name, transfer_syntax)
    try:
        pixels = dataset.pixel_array
    except MemoryError as error:
        raise _out_of_memory(int(dataset.Rows) * int(dataset.Columns)) from error
    except Exception as error:
        raise CorruptFileError(
            f"The pixel data of '{path.name}' is truncated or corrupt. Export the series again."
        ) from error
    return dataset, pixels


def _check_pixel_data(dataset: Dataset, file_name: str, transfer_syntax: UID) -> None:
    """Refuse pixel data whose declared size its bytes cannot hold, or that nothing decodes.

    Raises
    ------
    CorruptFileError, VolumeSizeError
        From :func:`~lumboplan_app.io.series.declared_pixel_data_error`, or a compressed frame
        whose own header declares another size than the DICOM header.
    UnsupportedImageError
        If no installed decoder reads the compression.
    """
    element = "PixelData" if "PixelData" in dataset else "FloatPixelData"
    data = dataset[element].value or b""
    fragments: list[bytes] = []
    if transfer_syntax.is_compressed:
        try:
            fragments = list(generate_fragments(data[8 + _offset_table_length(data) :]))
        except Exception as error:
            raise CorruptFileError(
                f"The compressed pixel data of '{file_name}' is damaged. Export the series again."
            ) from error
    refusal = declared_pixel_data_error(
        dataset, file_name, len(data), len(fragments) if transfer_syntax.is_compressed else None
    )
    if refusal is not None:
        raise refusal
    if transfer_syntax.is_compressed:
        try:
            available = get_decoder(transfer_syntax).is_available
        except NotImplementedError:
            available = False
        if not available:
            raise UnsupportedImageError(
                f"The images are compressed as {transfer_syntax.name} and no installed decoder "
                "reads it. Export the series uncompressed, or reinstall LumboPlan."
            )
    for fragment in fragments:
        _check_codestream(dataset, fragment, file_name, transfer_syntax)


def _check_codestream(
    dataset: Dataset, fragment: bytes, file_name: str, transfer_syntax: UID
) -> None:
    """Refuse a frame whose codestream declares another size, components or more bits.

    A decoder allocates what the codestream says, not what the DICOM header says.

    Raises
    ------
    CorruptFileError
        If they differ, or the codestream's header cannot be read.
    """
    try:
        declared = declared_frame(fragment, transfer_syntax)
    except UnreadableCodestream as error:
        raise CorruptFileError(
            f"The compressed pixel data of '{file_name}' is damaged ({error}). Export the "
            "series again."
        ) from error
    if declared is None:
        return
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    bits = int(dataset.get("BitsAllocated", 16) or 16)
    if (declared.columns, declared.rows, declared.components) != (columns, rows, samples) or (
        declared.bits > bits
    ):
        raise CorruptFileError(
            f"A compressed image in '{file_name}' declares {declared.columns}x{declared.rows} "
            f"pixels of {declared.components} x {declared.bits} bits, but the file's header "
            f"{columns}x{rows} of {samples} x {bits} bits: the file is damaged. Export the "
            "series again."
        )


def _offset_table_length(data: bytes) -> int:
    """Length of the Basic Offset Table item that opens encapsulated pixel data."""
    if len(data) < 8:
        raise ValueError("encapsulated pixel data shorter than one item")
    length: int = struct.unpack("<I", data[4:8])[0]
    return length


def _rescale(dataset: Dataset, frame_index: int | None, file_name: str) -> tuple[float, float]:
    """Return (slope, intercept) for a frame (functional groups first, then the top level).

    Raises
    ------
    ImplausibleValueError
        If either is not a finite number of sane size.
    """
    sources: list[Any] = []
    if frame_index is not None:
        for keyword, index in (
            ("PerFrameFunctionalGroupsSequence", frame_index),
            ("SharedFunctionalGroupsSequence", 0),
        ):
            groups = dataset.get(keyword)
            if groups is not None and len(groups) > index:
                transform = groups[index].get("PixelValueTransformationSequence")
                if transform:
                    sources.append(transform[0])
    sources.append(dataset)
    for source in sources:
        if "RescaleSlope" in source or "RescaleIntercept" in source:
            slope = finite_number(source.get("RescaleSlope", 1.0) or 1.0, "RescaleSlope", file_name)
            intercept = finite_number(
                source.get("RescaleIntercept", 0.0) or 0.0, "RescaleIntercept", file_name
            )
            return slope, intercept
    return 1.0, 0.0


def _scan_meta(header: Dataset, grid: Grid) -> ScanMeta:
    uid = str(header.get("SeriesInstanceUID", "") or "")
    thickness = header.get("SliceThickness")
    if thickness is None:
        shared = header.get("SharedFunctionalGroupsSequence")
        measures = shared[0].get("PixelMeasuresSequence") if shared else None
        thickness = measures[0].get("SliceThickness") if measures else None
    try:
        thickness_mm: float | None = float(thickness) if thickness not in (None, "") else None
    except (TypeError, ValueError):
        thickness_mm = None
    identifier = (
        uid or f"{header.get('StudyDate', '')}{header.get('SeriesTime', '')}{grid.origin_lps_mm}"
    )
    return ScanMeta(
        source_format="DICOM",
        modality=str(header.get("Modality", "") or "unknown"),
        series_description=str(header.get("SeriesDescription", "") or ""),
        case_key=case_key_for(identifier),
        acquisition_type=str(header.get("MRAcquisitionType", "") or ""),
        slice_thickness_mm=thickness_mm,
        study_date=str(header.get("StudyDate", "") or ""),
        manufacturer=str(header.get("Manufacturer", "") or ""),
        body_part=str(header.get("BodyPartExamined", "") or ""),
        patient=PatientInfo(
            name=str(header.get("PatientName", "") or ""),
            patient_id=str(header.get("PatientID", "") or ""),
            birth_date=str(header.get("PatientBirthDate", "") or ""),
            sex=str(header.get("PatientSex", "") or ""),
        ),
    )
