"""Discover the DICOM series under a path and describe them without decoding pixels.

A surgeon brings a CD export, a PACS export, a folder tree with a DICOMDIR, files with or
without the ``.dcm`` extension, or a single enhanced multi-frame file. :func:`discover` reads
every header with pydicom (pure Python: a malformed header raises, it cannot crash the process),
groups the image objects into stacks and says, for each, whether a 3-D volume can be built from
it and if not, why.

Only regular files are opened (see :mod:`lumboplan_app.io.files`): pipes, devices and symlinks to
them are skipped without being read. A header whose declared pixel data cannot be in the file
(2^31 frames in 9 kB, 65535 x 65535 pixels) makes its file a stack of its own that is refused
with the reason, before a single frame record is built.

One ``SeriesInstanceUID`` may hold several stacks (different orientation or series number); they
are listed separately, with ``#2``, ``#3``... appended to the UID to tell them apart.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, RLELossless

from lumboplan_app.errors import (
    Cancelled,
    CorruptFileError,
    LoadError,
    NotAnImageError,
    UnreadableFileError,
    VolumeSizeError,
)
from lumboplan_app.io.checks import MAX_FRAME_PIXELS, MAX_FRAMES, MAX_VOXELS, read_bytes_error
from lumboplan_app.io.dicom_files import declared_pixel_bytes, read_dicom
from lumboplan_app.io.files import open_regular, unreadable
from lumboplan_app.io.folders import candidate_files, dicomdir_in
from lumboplan_app.progress import CancelCheck, ProgressCallback
from lumboplan_app.series_info import SeriesInfo

logger = logging.getLogger(__name__)


_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
_STORAGE_PREFIX = "1.2.840.10008.5.1.4.1.1."
# Storage classes that are not images: waveforms, presentation states, structured reports and
# key objects, encapsulated documents, raw data, spectroscopy, RT objects.
_NON_IMAGE_STORAGE_PREFIXES = tuple(
    _STORAGE_PREFIX + suffix for suffix in ("9.", "11.", "88.", "104.", "66", "4.2", "481.")
)
_ORIENTATION_DECIMALS = 3
#: Fields whose damaged value makes the file damaged (see :func:`convert_all_values`).
_PIXEL_AND_GEOMETRY_FIELDS = frozenset(
    [
        "Rows",
        "Columns",
        "NumberOfFrames",
        "SamplesPerPixel",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "PhotometricInterpretation",
        "PixelSpacing",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "RescaleSlope",
        "RescaleIntercept",
        "PixelData",
        "FloatPixelData",
    ]
)


@dataclass
class Frame:
    """One 2-D image of a stack: where its pixels are and where it lies in LPS mm."""

    path: Path
    frame_index: int | None
    position_lps_mm: npt.NDArray[np.float64] | None
    orientation: npt.NDArray[np.float64] | None
    pixel_spacing_mm: tuple[float, float] | None


@dataclass
class DicomStack:
    """A group of frames that may form one volume, with the header of its first file."""

    key: tuple[Any, ...]
    header: Dataset
    frames: list[Frame] = field(default_factory=list)
    paths: set[Path] = field(default_factory=set)
    problem: str = ""
    #: Why the stack cannot be read, raised as is by the reader (a header that lies about size).
    error: LoadError | None = None
    #: DICOM files beside this stack whose header could not be parsed (they may be its slices).
    damaged_files: int = 0
    #: Files or folders beside this stack this user may not read (they may be its slices).
    unreadable_files: int = 0

    @property
    def series_uid(self) -> str:
        """The SeriesInstanceUID (may be empty in anonymised files)."""
        return str(self.header.get("SeriesInstanceUID", "") or "")


def orientation_name(orientation: npt.ArrayLike | None) -> str:
    """Name the plane of slices with the given ImageOrientationPatient (6 cosines)."""
    if orientation is None:
        return "unknown"
    cosines = np.asarray(orientation, dtype=np.float64)
    normal = np.cross(cosines[:3], cosines[3:])
    axis = int(np.argmax(np.abs(normal)))
    plane = ("sagittal", "coronal", "axial")[axis]
    if abs(normal[axis]) < np.cos(np.deg2rad(10.0)):
        return f"oblique {plane}"
    return plane


def discover(
    path: Path,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> list[DicomStack]:
    """Find the image stacks under a DICOM folder, DICOMDIR or single DICOM file.

    Raises
    ------
    FolderTooLargeError
        If the folder holds far more files than one scan, before any header is read.
    UnreadableFileError
        If nothing was found but files or folders this user may not read.
    CorruptFileError
        If no image was found but DICOM files with a damaged header.
    NotAnImageError
        If no DICOM image object is found.
    Cancelled
        If ``should_cancel`` returns True.
    """
    walk_errors: list[OSError] = []
    candidates = list(candidate_files(path, walk_errors))
    stacks: dict[tuple[Any, ...], DicomStack] = {}
    skipped_non_image = 0
    damaged = 0
    unreadable_count = sum(isinstance(error, PermissionError) for error in walk_errors)
    for number, file_path in enumerate(candidates):
        if should_cancel is not None and should_cancel():
            raise Cancelled()
        if progress is not None and number % 25 == 0:
            progress(
                number / max(1, len(candidates)), f"Reading headers ({number}/{len(candidates)})"
            )
        try:
            header, file_size = _read_header(file_path)
        except UnreadableFileError:
            unreadable_count += 1
            continue
        except NotAnImageError:  # replaced by a pipe or device since the folder was listed
            continue
        except LoadError as error:  # a deflated header refused: listed with the reason
            _refuse(stacks, Dataset(), file_path, error)
            continue
        if header is _DAMAGED:
            damaged += 1
            continue
        if header is None:
            continue
        if not _is_image_object(header):
            if _is_well_formed(header):
                skipped_non_image += 1
            else:  # a DICOM file cut short or broken before its image attributes
                damaged += 1
            continue
        try:
            framed = list(_frames_of(header, file_path, file_size))
        except LoadError as error:  # a multi-frame header that lies about its size
            _refuse(stacks, header, file_path, error)
            continue
        for key, frame in framed:
            stack = stacks.get(key)
            if stack is None:
                stack = stacks[key] = DicomStack(key=key, header=header)
            stack.frames.append(frame)
            stack.paths.add(file_path)
    if not stacks and unreadable_count:
        raise (
            unreadable(path.name)
            if path.is_file()
            else UnreadableFileError(
                f"{unreadable_count} file(s) or folder(s) here cannot be read: permission "
                "denied. Ask for read access, or copy the files to a folder of your own."
            )
        )
    if not stacks and damaged:
        raise CorruptFileError(
            f"{damaged} DICOM file(s) here have a damaged header and no intact image was found. "
            "Export the series again."
        )
    if not stacks and path.is_file():
        raise NotAnImageError(
            f"'{path.name}' is not a DICOM image (nor NIfTI, NRRD or MetaImage). Choose the "
            "folder that holds the MR series, or an image file."
        )
    dicomdir = None if stacks or path.is_file() else dicomdir_in(path)
    if dicomdir is not None:
        # A disc's index copied without its folders: reading its listing says so.
        list(candidate_files(dicomdir, []))
    if not stacks:
        raise NotAnImageError(
            "No DICOM image was found here. Choose the folder that holds the MR series "
            "(a CD's DICOM folder, a PACS export) or an image file (.nii, .nii.gz, .nrrd, .mha)."
        )
    result = sorted(stacks.values(), key=_stack_sort_key)
    for stack in result:
        stack.problem = str(stack.error) if stack.error is not None else _stack_problem(stack)
        stack.damaged_files = damaged
        stack.unreadable_files = unreadable_count
    logger.info(
        "found %d image stack(s) in %d file(s); %d non-image object(s) skipped",
        len(result),
        len(candidates),
        skipped_non_image,
    )
    return result


def _refuse(
    stacks: dict[tuple[Any, ...], DicomStack], header: Dataset, path: Path, error: LoadError
) -> None:
    """Add ``path`` as a stack of its own that cannot be read, for ``error``."""
    key = ("refused", str(path))
    stacks[key] = DicomStack(key=key, header=header, paths={path}, error=error)
    stacks[key].frames.append(Frame(path, None, None, None, None))


def describe(stacks: list[DicomStack]) -> list[SeriesInfo]:
    """Return the listing of ``stacks`` (same order), with unique ``series_id`` values."""
    uid_counts: dict[str, int] = {}
    infos = []
    for index, stack in enumerate(stacks, start=1):
        uid = stack.series_uid
        uid_counts[uid] = uid_counts.get(uid, 0) + 1
        infos.append((index, stack, uid_counts[uid]))
    result = []
    for index, stack, occurrence in infos:
        uid = stack.series_uid or "(no UID)"
        series_id = uid if occurrence == 1 else f"{uid}#{occurrence}"
        header = stack.header
        first = stack.frames[0]
        result.append(
            SeriesInfo(
                index=index,
                series_id=series_id,
                description=str(header.get("SeriesDescription", "") or ""),
                modality=str(header.get("Modality", "") or "unknown"),
                orientation=orientation_name(first.orientation),
                rows=int(header.get("Rows", 0) or 0),
                columns=int(header.get("Columns", 0) or 0),
                slice_count=len(stack.frames),
                pixel_spacing_mm=first.pixel_spacing_mm,
                series_number=_int_or_none(header.get("SeriesNumber")),
                file_count=len(stack.paths),
                problem=stack.problem,
            )
        )
    return result


def _stack_sort_key(stack: DicomStack) -> tuple[Any, ...]:
    number = _int_or_none(stack.header.get("SeriesNumber"))
    return (number if number is not None else 1 << 30, stack.series_uid, str(stack.key))


#: Returned by :func:`_read_header` for a file that is DICOM but whose header is damaged.
_DAMAGED = Dataset()


def _read_header(path: Path) -> tuple[Dataset | None, int]:
    """Read a file's header and size (bytes).

    The header is None when the file is not DICOM, ``_DAMAGED`` when it is but is broken.

    Raises
    ------
    UnreadableFileError
        If the file may not be read.
    NotAnImageError
        If it is not a regular file.
    CorruptFileError, VolumeSizeError
        If a deflated header inflates past its cap.
    """
    with open_regular(path) as stream:
        size = os.fstat(stream.fileno()).st_size
        try:
            header = read_dicom(stream, path.name, stop_before_pixels=True)
            return convert_all_values(header), size
        except InvalidDicomError:
            pass
        except LoadError:  # a deflated header that inflates past its cap
            raise
        except Exception:  # a DICOM preamble with a header pydicom cannot parse
            logger.warning("a file with a damaged DICOM header was skipped")
            return _DAMAGED, size
        try:  # old files without the 128-byte preamble and "DICM"
            stream.seek(0)
            header = convert_all_values(
                read_dicom(stream, path.name, stop_before_pixels=True, force=True)
            )
            if "Rows" in header and "Columns" in header and "SOPClassUID" in header:
                return header, size
        except Exception:  # not DICOM at all: junk named .dcm, text, binaries
            return None, size
    return None, size


def convert_all_values(dataset: Dataset) -> Dataset:
    """Convert every element's value now, nested ones included, and return ``dataset``.

    pydicom converts a value when it is first used, so a damaged one (an IS of "inf") would
    raise wherever that happens. Here, a damaged value of a field the pixels or geometry depend
    on raises at once, where the file is read; one of any other field (a description, a
    private tag) is dropped, as sloppy exports have them.
    """
    pending = [dataset]
    while pending:  # without recursion: nesting depth is up to the file
        current = pending.pop()
        for tag in list(current.keys()):
            try:
                element = current[tag]
            except Exception:
                if keyword_for_tag(tag) in _PIXEL_AND_GEOMETRY_FIELDS:
                    raise
                logger.warning("a damaged header value (%s) was ignored", tag)
                del current[tag]
                continue
            if element.VR == "SQ":
                pending.extend(element.value)
    return dataset


def declared_pixel_data_error(
    header: Dataset, file_name: str, available_bytes: int | None, fragments: int | None = None
) -> LoadError | None:
    """Say why the pixel data a header declares cannot be decoded, or return None.

    Checked before anything is allocated: the bytes the declared frames need against
    ``available_bytes`` (the file's size while listing, the
    pixel data element's length before decoding). Compressed frames need at least one fragment
    each (``fragments``, when known), and RLE, which shrinks data at most 64-fold, a 64th of
    the decoded size. Then the image size against the limits. ``available_bytes`` None: the
    limits only.
    """
    rows, columns = _int_or_none(header.get("Rows")), _int_or_none(header.get("Columns"))
    if rows is None or columns is None:
        return None
    frames = _int_or_none(header.get("NumberOfFrames"))
    frames = 1 if frames is None or frames == 0 else frames
    if frames < 0 or rows < 1 or columns < 1:
        return CorruptFileError(
            f"The header of '{file_name}' declares {frames} image(s) of {columns}x{rows} pixels. "
            "The file is damaged: export the series again."
        )
    decoded_bytes = declared_pixel_bytes(header)
    syntax = UID(str(getattr(header, "file_meta", Dataset()).get("TransferSyntaxUID", "")))
    if not syntax.is_compressed:
        needed_bytes = decoded_bytes
    elif syntax == RLELossless:
        needed_bytes = decoded_bytes // 64
    else:
        needed_bytes = 8 * frames  # an item tag and length per frame, at the least
    if available_bytes is not None and (
        needed_bytes > available_bytes or (fragments is not None and fragments < frames)
    ):
        return CorruptFileError(
            f"The header of '{file_name}' declares {frames} image(s) of {columns}x{rows} pixels, "
            f"but the file holds far too little pixel data for them ({available_bytes} bytes): "
            "it is damaged or cut short. Export the series again."
        )
    if rows * columns > MAX_FRAME_PIXELS or frames > MAX_FRAMES:
        return VolumeSizeError(
            f"'{file_name}' declares {frames} image(s) of {columns}x{rows} pixels, more than "
            f"LumboPlan handles ({MAX_FRAMES} images of {math.isqrt(MAX_FRAME_PIXELS)} pixels "
            "square): this is no lumbar MR, or its header is damaged."
        )
    if rows * columns * frames > MAX_VOXELS:
        return VolumeSizeError(
            f"'{file_name}' has {rows * columns * frames / 1e6:.0f} million voxels, more than "
            f"LumboPlan handles ({MAX_VOXELS / 1e6:.0f} million)."
        )
    return read_bytes_error(rows * columns * frames, decoded_bytes, file_name)


def _is_image_object(header: Dataset) -> bool:
    sop_class = str(header.get("SOPClassUID", "") or "")
    media_class = str(getattr(header, "file_meta", Dataset()).get("MediaStorageSOPClassUID", ""))
    if _DICOMDIR_SOP_CLASS in (sop_class, media_class):
        return False
    if "Rows" in header and "Columns" in header:
        return True
    # Image storage objects whose pixel module is absent (header-only exports) are images that
    # cannot be shown: keep them so the listing can say so.
    return _is_image_class(sop_class)


def _is_image_class(uid: str) -> bool:
    return uid.startswith(_STORAGE_PREFIX) and not uid.startswith(_NON_IMAGE_STORAGE_PREFIXES)


def _is_well_formed(header: Dataset) -> bool:
    """Whether a non-image DICOM object is intact (DICOMDIR, report...), not a cut-off image.

    A file whose class says image but which lost its image attributes, or whose class UID is
    missing or invalid, is damaged.
    """
    sop_class = str(header.get("SOPClassUID", "") or "")
    media_class = str(getattr(header, "file_meta", Dataset()).get("MediaStorageSOPClassUID", ""))
    classes = [uid for uid in (sop_class, media_class) if uid]
    valid = [uid for uid in classes if UID(uid).is_valid and not uid.endswith(".")]
    return bool(valid) and not any(_is_image_class(uid) for uid in classes)


def _frames_of(
    header: Dataset, path: Path, file_size: int
) -> Iterator[tuple[tuple[Any, ...], Frame]]:
    """Yield (stack key, frame) for each frame of a file of ``file_size`` bytes.

    Raises
    ------
    LoadError
        If a multi-frame header declares more pixel data than the file or the limits hold
        (checked before any frame is built).
    """
    frame_count = _int_or_none(header.get("NumberOfFrames")) or 1
    uid = str(header.get("SeriesInstanceUID", "") or "")
    rows, columns = _int_or_none(header.get("Rows")), _int_or_none(header.get("Columns"))
    if frame_count > 1 or "PerFrameFunctionalGroupsSequence" in header:
        error = declared_pixel_data_error(header, path.name, file_size)
        if error is not None:
            raise error
        # An enhanced (or classic) multi-frame file is one stack on its own.
        key: tuple[Any, ...] = ("multiframe", uid, str(header.get("SOPInstanceUID", path.name)))
        for index in range(frame_count):
            yield key, _multiframe_frame(header, path, index)
        return
    orientation = _float_array(header.get("ImageOrientationPatient"), 6)
    spacing = _pixel_spacing(header.get("PixelSpacing"))
    key = (
        "single",
        uid,
        _int_or_none(header.get("SeriesNumber")),
        None if orientation is None else tuple(np.round(orientation, _ORIENTATION_DECIMALS)),
        rows,
        columns,
        None if spacing is None else tuple(round(s, 4) for s in spacing),
        "MOSAIC" in _image_type(header),
    )
    yield (
        key,
        Frame(
            path=path,
            frame_index=None,
            position_lps_mm=_float_array(header.get("ImagePositionPatient"), 3),
            orientation=orientation,
            pixel_spacing_mm=spacing,
        ),
    )


def _multiframe_frame(header: Dataset, path: Path, index: int) -> Frame:
    per_frame = _sequence_item(header, "PerFrameFunctionalGroupsSequence", index)
    shared = _sequence_item(header, "SharedFunctionalGroupsSequence", 0)

    def functional(sequence: str, attribute: str) -> Any:
        for group in (per_frame, shared):
            item = _sequence_item(group, sequence, 0) if group is not None else None
            if item is not None and attribute in item:
                return item.get(attribute)
        return header.get(attribute)

    return Frame(
        path=path,
        frame_index=index,
        position_lps_mm=_float_array(
            functional("PlanePositionSequence", "ImagePositionPatient"), 3
        ),
        orientation=_float_array(
            functional("PlaneOrientationSequence", "ImageOrientationPatient"), 6
        ),
        pixel_spacing_mm=_pixel_spacing(functional("PixelMeasuresSequence", "PixelSpacing")),
    )


def _stack_problem(stack: DicomStack) -> str:
    """Say what stops a volume from being built from the headers, or return ``""``."""
    header = stack.header
    modality = str(header.get("Modality", "") or "")
    sop_class = str(header.get("SOPClassUID", "") or "")
    if "Rows" not in header or "Columns" not in header:
        return (
            f"The {modality or 'DICOM'} files of this series hold no pixel data (header-only "
            "export). Export the series again with its images."
        )
    if stack.key[-1] is True:
        return (
            "This is a Siemens mosaic (fMRI or diffusion): each image holds a whole volume in "
            "tiles. LumboPlan needs an anatomical 3-D T2 series."
        )
    if int(header.get("SamplesPerPixel", 1) or 1) != 1 or sop_class.startswith(
        _SECONDARY_CAPTURE_PREFIX
    ):
        return (
            "This is a screenshot or colour secondary capture, not a scanner volume. "
            "Export the original MR series from the scanner or PACS."
        )
    if len(stack.frames) == 1:
        return (
            "This series is a single 2-D image; a 3-D plan needs a stack of slices. Open the "
            "folder holding the whole series, or export it again with all slices."
        )
    return ""


def _sequence_item(dataset: Dataset | None, keyword: str, index: int) -> Dataset | None:
    if dataset is None:
        return None
    sequence = dataset.get(keyword)
    if sequence is None or len(sequence) <= index:
        return None
    item: Dataset = sequence[index]
    return item


def _float_array(value: Any, length: int) -> npt.NDArray[np.float64] | None:
    try:
        array = np.asarray([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.shape == (length,) and np.all(np.isfinite(array)) else None


def _pixel_spacing(value: Any) -> tuple[float, float] | None:
    array = _float_array(value, 2)
    if array is None or np.any(array <= 0):
        return None
    return float(array[0]), float(array[1])


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _image_type(header: Dataset) -> list[str]:
    value = header.get("ImageType", [])
    if isinstance(value, str):
        return value.upper().split("\\")
    return [str(v).upper() for v in value]
