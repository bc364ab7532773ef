"""NIfTI, NRRD and MetaImage volumes (read and written through SimpleITK).

The header is read first (``ReadImageInformation``), so the dimension, pixel type and size are
checked before the voxels are loaded: a 4-D or colour file, or one too large, is refused without
allocating it.

Before ITK opens a file, LumboPlan reads its header itself: the file must be a regular file;
a NIfTI header's voxel sizes (``pixdim``, which ITK reads as 1 mm when 0 or NaN) and data offset
are checked, and an uncompressed file must hold the voxels it declares; a NRRD or MetaImage
header may name its voxel data only as one regular file inside its own folder (never a path
elsewhere, ``LIST`` or a file pattern). A ``.nii.gz`` stream is inflated only as far as the
voxels declared, to find a cut, never to its end.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from lumboplan_app.atomic import atomic_output
from lumboplan_app.errors import (
    CorruptFileError,
    ImplausibleValueError,
    LoadError,
    NotAnImageError,
    UnsafeDataFileError,
    UnsupportedImageError,
    VolumeSizeError,
)
from lumboplan_app.io.checks import (
    MAX_POSITION_MM,
    MAX_VOXELS,
    MIN_SLICES,
    check_positions,
    check_spacing,
    finish_loading,
    read_bytes_error,
)
from lumboplan_app.io.files import open_regular
from lumboplan_app.io.series import SeriesInfo, orientation_name
from lumboplan_app.logs import native_stderr_to_log
from lumboplan_app.volume import Grid, LabelMap, ScanMeta, Volume, case_key_for

logger = logging.getLogger(__name__)

_FORMATS = {
    ".nii": "NIfTI",
    ".nii.gz": "NIfTI",
    ".nrrd": "NRRD",
    ".nhdr": "NRRD",
    ".mha": "MetaImage",
    ".mhd": "MetaImage",
}
#: The ITK reader of each format: never the one ITK would guess from the bytes (a DICOM file
#: named ``.nrrd`` must not reach GDCM past LumboPlan's DICOM checks).
_IMAGE_IOS = {"NIfTI": "NiftiImageIO", "NRRD": "NrrdImageIO", "MetaImage": "MetaImageIO"}
#: File endings LumboPlan reads as volume files, for file dialogs and folder scans.
VOLUME_SUFFIXES: tuple[str, ...] = tuple(_FORMATS)
#: The header field each format takes a voxel size from, by axis (1 = x).
_SPACING_FIELDS = {
    "NIfTI": "pixdim[{}]",
    "NRRD": "the spacing of axis {}",
    "MetaImage": "ElementSpacing[{}]",
}
#: Most bytes of a NRRD or MetaImage text header read to find its data file.
_MAX_TEXT_HEADER_BYTES = 1 << 20
#: Largest NIfTI vox_offset (bytes): the header and its extensions come before the voxels.
_MAX_NIFTI_OFFSET = 64 << 20
_INFLATE_CHUNK = 1 << 22


def volume_format(path: Path) -> str | None:
    """Return the format name of a volume file by its ending, or None if it is not one."""
    name = path.name.lower()
    for suffix, name_of_format in _FORMATS.items():
        if name.endswith(suffix):
            return name_of_format
    return None


def _reader(path: Path) -> tuple[sitk.ImageFileReader, int | None]:
    """Check the file, then read its header with ITK.

    Returns the reader and, for NIfTI, the byte at which the declared voxels end.
    """
    if volume_format(path) == "NIfTI":
        voxels_end: int | None = _check_nifti(path)
    else:
        _check_data_file(path)
        voxels_end = None
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO(_IMAGE_IOS[volume_format(path) or "NIfTI"])
    try:
        with native_stderr_to_log():
            reader.ReadImageInformation()
    except RuntimeError as error:
        raise NotAnImageError(
            f"'{path.name}' cannot be read as a {volume_format(path)} image: the file is damaged "
            "or not an image. Check the export."
        ) from error
    return reader, voxels_end


def _check_nifti(path: Path) -> int:
    """Check a NIfTI-1 or -2 header; return the byte offset at which its voxels end.

    Raises
    ------
    NotAnImageError
        If the header is not NIfTI (or cannot be inflated).
    ImplausibleValueError
        If a voxel size (pixdim) is 0, negative or not a number, or the qform or sform in
        use is not finite (or lies beyond 10 m).
    CorruptFileError
        If the voxel offset is absurd, or an uncompressed file is shorter than its voxels.
    """
    compressed = path.name.lower().endswith(".gz")
    with open_regular(path) as raw:
        file_size = os.fstat(raw.fileno()).st_size
        try:
            if compressed:
                with gzip.GzipFile(fileobj=raw) as stream:
                    header = stream.read(540)
            else:
                header = raw.read(540)
        except (EOFError, OSError, zlib.error):
            header = b""  # not gzip, or cut inside the header: not a NIfTI image
    fields = _nifti_fields(header)
    if fields is None:
        raise NotAnImageError(
            f"'{path.name}' cannot be read as a NIfTI image: the file is damaged or not an "
            "image. Check the export."
        )
    dims, bitpix, pixdim, vox_offset, (qform_code, sform_code), quaternion, srow = fields
    for code, values, name in ((qform_code, quaternion, "qform"), (sform_code, srow, "sform")):
        if code > 0 and not all(math.isfinite(v) and abs(v) <= MAX_POSITION_MM for v in values):
            raise ImplausibleValueError(
                f"The header of '{path.name}' gives a {name} (the scan's position and "
                "orientation) that is not a finite number. The header is damaged: export the "
                "scan again."
            )
    rank = dims[0]
    for axis in range(1, min(rank, 3) + 1):
        if not (math.isfinite(pixdim[axis]) and pixdim[axis] > 0):
            raise ImplausibleValueError(
                f"The header of '{path.name}' gives pixdim[{axis}] = {pixdim[axis]:g} as a voxel "
                "size in mm (it must be a positive number). The header is damaged: export the "
                "scan again."
            )
    if not (math.isfinite(vox_offset) and 0 <= vox_offset <= _MAX_NIFTI_OFFSET):
        raise CorruptFileError(
            f"The header of '{path.name}' gives vox_offset = {vox_offset:g}: its voxels would "
            "start beyond any real file. The header is damaged: export the scan again."
        )
    sizes = dims[1 : rank + 1] if 1 <= rank <= 7 else ()
    voxels = math.prod(max(0, n) for n in sizes)
    voxels_end = int(vox_offset) + voxels * max(0, bitpix) // 8
    if not compressed and voxels_end > file_size:
        raise _cut_short(path)
    return voxels_end


def _nifti_fields(
    header: bytes,
) -> (
    tuple[
        tuple[int, ...],
        int,
        tuple[float, ...],
        float,
        tuple[int, ...],
        tuple[float, ...],
        tuple[float, ...],
    ]
    | None
):
    """Return the geometry fields of a NIfTI-1 or -2 header (either byte order), or None.

    (dim, bitpix, pixdim, vox_offset, (qform_code, sform_code), quaternion and offset, srow).
    """
    for order in "<>":
        if len(header) >= 348 and struct.unpack(order + "i", header[:4])[0] == 348:
            return (
                struct.unpack(order + "8h", header[40:56]),
                struct.unpack(order + "h", header[72:74])[0],
                struct.unpack(order + "8f", header[76:108]),
                struct.unpack(order + "f", header[108:112])[0],
                struct.unpack(order + "2h", header[252:256]),
                struct.unpack(order + "6f", header[256:280]),
                struct.unpack(order + "12f", header[280:328]),
            )
        if len(header) >= 540 and struct.unpack(order + "i", header[:4])[0] == 540:
            return (
                struct.unpack(order + "8q", header[16:80]),
                struct.unpack(order + "h", header[14:16])[0],
                struct.unpack(order + "8d", header[104:168]),
                float(struct.unpack(order + "q", header[168:176])[0]),
                struct.unpack(order + "2i", header[344:352]),
                struct.unpack(order + "6d", header[352:400]),
                struct.unpack(order + "12d", header[400:496]),
            )
    return None


def _cut_short(path: Path) -> CorruptFileError:
    return CorruptFileError(
        f"'{path.name}' is cut short or damaged (its data end before the voxels its header "
        "declares). Copy or export the file again."
    )


def _check_data_file(path: Path) -> None:
    """Refuse a NRRD or MetaImage header naming voxel data outside its folder, or no file.

    Raises
    ------
    UnsafeDataFileError
        If a data file is ``LIST``, a file pattern, a path outside the header's folder
        (symlinks resolved) or not a regular file, or the header is too long to check.
    CorruptFileError
        If the data file is missing.
    UnreadableFileError, NotAnImageError
        If the header or the data file cannot be opened.
    """
    with open_regular(path) as stream:
        head = stream.read(_MAX_TEXT_HEADER_BYTES + 1)
    names, ended = _data_file_names(head, volume_format(path))
    if not ended and len(head) > _MAX_TEXT_HEADER_BYTES:
        raise UnsafeDataFileError(
            f"The header of '{path.name}' is longer than {_MAX_TEXT_HEADER_BYTES >> 20} MB, so "
            "the file its voxels come from cannot be checked. Save the image as one .nii.gz file."
        )
    folder = path.parent.resolve()
    for name in names:
        refusal = ""
        target = (path.parent / name).resolve()
        if name.upper().split()[:1] == ["LIST"] or "%" in name:
            refusal = "a list or pattern of files"
        elif Path(name).is_absolute() or not target.is_relative_to(folder):
            refusal = "a file outside the header's own folder"
        elif not target.exists():
            raise CorruptFileError(
                f"The data file '{Path(name).name}' that '{path.name}' names is missing. Copy "
                "it beside the header."
            )
        else:
            try:
                open_regular(target).close()
            except NotAnImageError:
                refusal = "a pipe, device or folder, not a file"
        if refusal:
            raise UnsafeDataFileError(
                f"The header '{path.name}' takes its voxels from {refusal}; LumboPlan reads "
                "voxel data only from one file beside the header. Save the image as one file "
                "(.nrrd, .mha or .nii.gz)."
            )


def _data_file_names(head: bytes, format_name: str | None) -> tuple[list[str], bool]:
    """Return the data files a NRRD or MetaImage header names, and whether its end was seen.

    Every naming line counts (a second ``data file`` line must not slip through); an empty
    list means the voxels are inline.
    """
    if format_name != "NRRD":
        return _metaimage_data_files(head.decode("latin-1"))
    names: list[str] = []
    for raw in head.split(b"\n"):
        line = raw.decode("latin-1").strip()
        if not line:
            return names, True  # a blank line ends a NRRD header
        key, separator, value = line.partition(":")
        naming = key.strip().lower() in ("data file", "datafile")
        if separator and naming and not value.startswith("="):
            names.append(value.strip())
    return names, False


#: A MetaImage field name as ITK's MetaIO reads it: from a line's first non-blank character
#: to the first ``=`` or ``:`` (either separates), blanks around it ignored.
_METAIMAGE_FIELD = re.compile(r"(?:^|(?<=[\r\n]))[ \t\f\v]*([^=:\r\n]*?)[ \t\f\v]*[=:]")
#: What MetaIO skips between a field name and its value: separators and any white space
#: (line ends included).
_METAIMAGE_GAP = "=: \t\r\n\f\v"
#: The ElementDataFile values MetaIO takes as "the voxels follow the header".
_METAIMAGE_INLINE = ("LOCAL", "Local", "local")


def _metaimage_data_files(text: str) -> tuple[list[str], bool]:
    """Return the data files a MetaImage header names, and whether ElementDataFile was seen.

    Parsed as ITK's MetaIO parses it (either separator, any spacing, a value on the next line),
    but stricter: a field named ElementDataFile in any letter case counts, up to the one MetaIO
    stops at (the exact name).
    """
    names: list[str] = []
    for field in _METAIMAGE_FIELD.finditer(text):
        if field.group(1).lower() != "elementdatafile":
            continue
        rest = text[field.end() :].lstrip(_METAIMAGE_GAP)
        value = re.split(r"[\r\n]", rest, maxsplit=1)[0].rstrip()
        if value not in _METAIMAGE_INLINE:
            names.append(value)
        if field.group(1) == "ElementDataFile":
            return names, True
    return names, False


def _check_header(reader: sitk.ImageFileReader, path: Path) -> None:
    size = [int(n) for n in reader.GetSize()]
    dimension = reader.GetDimension()
    if dimension == 4 and size[3] == 1:
        size = size[:3]
    elif dimension != 3:
        what = "a 2-D image" if dimension == 2 else f"a {dimension}-D image (a time series)"
        raise UnsupportedImageError(
            f"'{path.name}' is {what}; a 3-D plan needs a single 3-D volume."
        )
    if reader.GetNumberOfComponents() != 1:
        raise UnsupportedImageError(
            f"'{path.name}' is a colour or vector image, not a scanner volume."
        )
    if min(size) == 0 or int(np.prod(size)) == 0:
        raise VolumeSizeError(f"'{path.name}' holds no voxels.")
    if min(size) < MIN_SLICES:
        raise UnsupportedImageError(
            f"'{path.name}' has only {min(size)} slices along one axis; a 3-D plan needs a stack."
        )
    if int(np.prod(size)) > MAX_VOXELS:
        raise VolumeSizeError(
            f"'{path.name}' has {np.prod(size) / 1e6:.0f} million voxels, more than LumboPlan "
            f"handles ({MAX_VOXELS / 1e6:.0f} million)."
        )
    voxels = math.prod(size)
    stored = voxels * sitk.Image([1, 1], reader.GetPixelID()).GetSizeOfPixelComponent()
    too_large = read_bytes_error(voxels, stored, path.name)
    if too_large is not None:
        raise too_large
    field = _SPACING_FIELDS[volume_format(path) or "NIfTI"]
    check_spacing(reader.GetSpacing()[:3], [field.format(axis) for axis in (1, 2, 3)], path.name)
    check_positions(reader.GetOrigin()[:3], "origin", path.name)
    rank = reader.GetDimension()
    direction = np.asarray(reader.GetDirection(), dtype=np.float64).reshape(rank, rank)[:3, :3]
    if not (
        np.all(np.isfinite(direction))
        and np.allclose(direction.T @ direction, np.eye(3), atol=1e-3)
    ):
        raise ImplausibleValueError(
            f"The orientation (direction) in the header of '{path.name}' is not a rotation. "
            "The header is damaged: export the scan again."
        )


def _check_compressed_stream(path: Path, voxels_end: int) -> None:
    """Raise if a gzip-compressed file ends before byte ``voxels_end`` or is damaged.

    ITK's NIfTI reader fills the voxels of a truncated ``.nii.gz`` with zeros without a word
    (a 2 kB stub of a 1.4 M-voxel scan loaded as an image); inflating the stream as far as its
    voxels go finds the cut. Whatever follows is never inflated (it may be gigabytes).
    """
    remaining = voxels_end
    try:
        with open_regular(path) as raw, gzip.GzipFile(fileobj=raw) as stream:
            while remaining > 0:
                chunk = stream.read(min(remaining, _INFLATE_CHUNK))
                if not chunk:
                    raise EOFError
                remaining -= len(chunk)
    except (EOFError, OSError, zlib.error) as error:
        raise _cut_short(path) from error


def _read_3d(path: Path) -> sitk.Image:
    reader, voxels_end = _reader(path)
    _check_header(reader, path)
    if voxels_end is not None and path.name.lower().endswith(".gz"):
        _check_compressed_stream(path, voxels_end)
    try:
        with native_stderr_to_log():
            image = reader.Execute()
    except RuntimeError as error:
        raise LoadError(
            f"The voxels of '{path.name}' cannot be read: the file is truncated or damaged."
        ) from error
    if image.GetDimension() == 4:
        image = image[:, :, :, 0]
    return image


def describe_volume_file(path: Path) -> SeriesInfo:
    """Describe a volume file from its header, as a one-entry series listing."""
    reader, _ = _reader(path)
    size = [int(n) for n in reader.GetSize()] + [1, 1]
    problem = ""
    try:
        _check_header(reader, path)
    except LoadError as error:
        problem = str(error)
    spacing = reader.GetSpacing()
    direction = np.asarray(reader.GetDirection(), dtype=np.float64)
    orientation = "unknown"
    if direction.size == 9 and len(spacing) >= 3:
        # The slice axis of a volume file: the coarsest spacing, then the fewest voxels.
        slice_axis = max(range(3), key=lambda axis: (spacing[axis], -size[axis]))
        in_plane = [axis for axis in range(3) if axis != slice_axis]
        columns = direction.reshape(3, 3)
        orientation = orientation_name(
            np.concatenate([columns[:, in_plane[0]], columns[:, in_plane[1]]])
        )
    return SeriesInfo(
        index=1,
        series_id=path.name,
        description=path.name,
        modality="unknown",
        orientation=orientation,
        rows=size[1],
        columns=size[0],
        slice_count=size[2],
        pixel_spacing_mm=(float(spacing[1]), float(spacing[0])) if len(spacing) >= 2 else None,
        series_number=None,
        file_count=1,
        problem=problem,
        source_format=volume_format(path) or "unknown",
    )


def read_volume_file(path: Path) -> Volume:
    """Read a NIfTI, NRRD or MetaImage scan into a float32 volume in canonical LPS order.

    Raises
    ------
    NotAnImageError, UnsupportedImageError, VolumeSizeError, LoadError
        With a message that says what is wrong with the file.
    """
    image = _read_3d(path)
    grid = Grid.from_sitk(image)
    stat = path.stat()
    meta = ScanMeta(
        source_format=volume_format(path) or "unknown",
        series_description=path.name,
        # Size, time and geometry: stable for one file, and nothing of the path is in it.
        case_key=case_key_for(f"{stat.st_size}:{stat.st_mtime_ns}:{grid.origin_lps_mm}"),
    )
    return finish_loading(Volume.from_sitk(image, meta=meta).to_canonical())


def read_label_map(path: str | Path, reference: Grid | None = None) -> LabelMap:
    """Read a label map (structure or part ids) in canonical LPS order.

    Parameters
    ----------
    path : str or Path
        NIfTI, NRRD or MetaImage file with whole-number ids 0..255, or a 3D Slicer
        segmentation (``.seg.nrrd``, whose segments are matched to structures by name or
        terminology: :mod:`~lumboplan_app.exchange.segnrrd`).
    reference : Grid, optional
        The scan's grid; the label map must describe the same voxels.

    Raises
    ------
    LoadError
        If the file is not a label map or does not match ``reference``.
    """
    path = Path(path)
    if volume_format(path) is None:
        raise NotAnImageError(
            f"'{path.name}' is not a label file: use NIfTI (.nii, .nii.gz), NRRD or MetaImage."
        )
    if path.name.lower().endswith(".seg.nrrd"):
        from lumboplan_app.exchange.segnrrd import read_seg_nrrd

        _check_data_file(path)
        labels = read_seg_nrrd(path)
    else:
        labels = LabelMap.from_sitk(_read_3d(path)).to_canonical()
    if reference is not None and not labels.grid.matches(reference, tolerance_mm=1e-2):
        raise LoadError(
            f"The label map '{path.name}' does not lie on the scan's voxel grid (size, spacing or "
            "position differ). Use the labels made from this scan."
        )
    return labels


def write_image(image: Volume | LabelMap, path: Path) -> None:
    """Write a volume or label map atomically (format by file ending, compressed).

    The file is written under a temporary name in the same folder and renamed, so a crash or a
    full disk never leaves a half-written file under ``path``.

    Raises
    ------
    LoadError
        If the ending is not a supported format or the file cannot be written.
    WriteError
        If the disk is full, read-only or not writable (the previous file is kept).
    """
    format_name = volume_format(path)
    if format_name is None:
        raise LoadError(
            f"'{path.name}': choose a file ending .nii.gz, .nii, .nrrd or .mha for the output."
        )
    suffix = next(s for s in _FORMATS if path.name.lower().endswith(s))
    try:
        with atomic_output(path, suffix=suffix) as temporary, native_stderr_to_log():
            sitk.WriteImage(image.to_sitk(), str(temporary), useCompression=True)
    except (RuntimeError, OSError) as error:
        raise LoadError(
            f"'{path.name}' could not be written ({type(error).__name__}); check that the folder "
            "is writable and the disk has space."
        ) from error
