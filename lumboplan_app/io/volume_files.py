"""NIfTI, NRRD and MetaImage volumes (read and written through SimpleITK).

The header is read first (``ReadImageInformation``), so the dimension, pixel type and size are
checked before the voxels are loaded: a 4-D or colour file, or one too large, is refused without
allocating it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from lumboplan_app.atomic import atomic_output
from lumboplan_app.errors import (
    CorruptFileError,
    LoadError,
    NotAnImageError,
    UnsupportedImageError,
    VolumeSizeError,
)
from lumboplan_app.io.checks import MAX_VOXELS, MIN_SLICES, finish_loading
from lumboplan_app.io.series import SeriesInfo, orientation_name
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
#: File endings LumboPlan reads as volume files, for file dialogs and folder scans.
VOLUME_SUFFIXES: tuple[str, ...] = tuple(_FORMATS)


def volume_format(path: Path) -> str | None:
    """Return the format name of a volume file by its ending, or None if it is not one."""
    name = path.name.lower()
    for suffix, name_of_format in _FORMATS.items():
        if name.endswith(suffix):
            return name_of_format
    return None


def _reader(path: Path) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as error:
        raise NotAnImageError(
            f"'{path.name}' cannot be read as a {volume_format(path)} image: the file is damaged "
            "or not an image. Check the export."
        ) from error
    return reader


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


def _check_compressed_stream(path: Path) -> None:
    """Raise if a gzip-compressed file ends early or is damaged.

    ITK's NIfTI reader fills the voxels of a truncated ``.nii.gz`` with zeros without a word
    (a 2 kB stub of a 1.4 M-voxel scan loaded as an image); reading the stream to its end
    finds the cut.
    """
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 22):
                pass
    except (EOFError, OSError, zlib.error) as error:
        raise CorruptFileError(
            f"'{path.name}' is cut short or damaged (its compressed data end early). Copy or "
            "export the file again."
        ) from error


def _read_3d(path: Path) -> sitk.Image:
    reader = _reader(path)
    _check_header(reader, path)
    if path.name.lower().endswith(".gz"):
        _check_compressed_stream(path)
    try:
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
    reader = _reader(path)
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
        NIfTI, NRRD or MetaImage file with whole-number ids 0..255.
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
    """
    format_name = volume_format(path)
    if format_name is None:
        raise LoadError(
            f"'{path.name}': choose a file ending .nii.gz, .nii, .nrrd or .mha for the output."
        )
    suffix = next(s for s in _FORMATS if path.name.lower().endswith(s))
    try:
        with atomic_output(path, suffix=suffix) as temporary:
            sitk.WriteImage(image.to_sitk(), str(temporary), useCompression=True)
    except (RuntimeError, OSError) as error:
        raise LoadError(
            f"'{path.name}' could not be written ({type(error).__name__}); check that the folder "
            "is writable and the disk has space."
        ) from error
