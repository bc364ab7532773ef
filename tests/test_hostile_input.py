"""Hostile and broken input (issue 18): each input is generated here, never committed.

Every probe runs the reader as ``lumboplan info`` does (list the series, read the only one) in a
child process under a wall-clock timeout and an address-space limit, so a regression that hangs
or allocates gigabytes fails its test instead of taking the machine down. The invariant: a typed
:class:`~lumboplan_app.errors.LumboPlanError` with a one-line message, or a finite volume.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.tag import Tag
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, RLELossless

from lumboplan_app.errors import LumboPlanError
from lumboplan_app.io.dicom_export import SeriesHeader, write_dicom_series
from lumboplan_app.volume import Grid
from tests.conftest import SAGITTAL_DIRECTION, ramp_volume

ROOT = Path(__file__).resolve().parents[1]
#: Address space (bytes) of a probe: the imports take about 0.5 GB; one bomb asks for 4 GB.
PROBE_ADDRESS_SPACE = 2_500_000_000
#: Wall-clock limit (s) of one probe; a fixed reader answers each in well under a second.
PROBE_TIMEOUT_S = float(os.environ.get("PROBE_TIMEOUT_S", 30))
#: A gzip member that inflates to 64 MiB of zeros (about 64 kB), for trailing-stream bombs.
_ZEROS_MIB = 64

# -- generators --------------------------------------------------------------------------------


def dicom_series(folder: Path, slices: int = 4) -> Path:
    """Write a small, valid sagittal MR series (16 x 20 pixels) into ``folder``."""
    grid = Grid((slices, 16, 20), (0.8, 0.9, 1.5), (-9.0, -20.0, 30.0), SAGITTAL_DIRECTION)
    write_dicom_series(ramp_volume(grid), folder)
    return folder


def edit_dicoms(folder: Path, edit: Callable[[Dataset, int], None]) -> None:
    """Apply ``edit(dataset, index)`` to each file of ``folder`` (sorted) and save it back."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns of the invalid values written on purpose
        for index, path in enumerate(sorted(p for p in folder.iterdir() if p.is_file())):
            dataset = pydicom.dcmread(path)
            edit(dataset, index)
            dataset.save_as(path)


def _normal(dataset: Dataset) -> np.ndarray:
    cosines = np.asarray([float(v) for v in dataset.ImageOrientationPatient])
    return np.cross(cosines[:3], cosines[3:])


def set_slice_step(folder: Path, step_mm: float) -> None:
    """Place the slices ``step_mm`` apart along their normal."""

    def edit(dataset: Dataset, index: int) -> None:
        origin = np.asarray([-9.0, -20.0, 30.0])
        position = origin + index * step_mm * _normal(dataset)
        dataset.ImagePositionPatient = [f"{v:.6g}" for v in position]

    edit_dicoms(folder, edit)


def huge_frame_count(tmp: Path) -> Path:
    """One small file declaring 2^31 - 1 frames."""
    folder = dicom_series(tmp / "series")
    files = sorted(folder.iterdir())
    for extra in files[1:]:
        extra.unlink()
    edit_dicoms(folder, lambda d, i: setattr(d, "NumberOfFrames", 2147483647))
    return files[0]


def deflated(bomb: str = "") -> Callable[[Path], Path]:
    """A valid series saved as Deflated Explicit VR Little Endian.

    ``bomb`` "header": one file whose dataset opens with 64 MiB of zeros in a private element
    (64 kB deflated); "pixels": the first file's pixel data 64 MiB instead of 640 bytes.
    """

    def make(tmp: Path) -> Path:
        folder = dicom_series(tmp / "series")

        def edit(dataset: Dataset, index: int) -> None:
            dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
            if bomb == "header" and index == 0:
                block = dataset.private_block(0x0009, "LUMBOPLAN TEST", create=True)
                block.add_new(0x01, "OB", bytes(64 << 20))
            if bomb == "pixels" and index == 0:
                dataset.PixelData = bytes(64 << 20)

        edit_dicoms(folder, edit)
        if bomb == "header":
            first, *others = sorted(folder.iterdir())
            for other in others:
                other.unlink()
            return first
        return folder

    return make


def series_beside(target: str) -> Callable[[Path], Path]:
    """A valid series with a symlink named like a slice pointing to ``target``."""

    def make(tmp: Path) -> Path:
        folder = dicom_series(tmp / "series")
        (folder / "IM99999").symlink_to(target)
        return folder

    return make


def symlink(path: Path, target: str) -> Path:
    """Make ``path`` a symlink to ``target``; return it."""
    path.symlink_to(target)
    return path


def fifo_in_folder(tmp: Path) -> Path:
    """A valid series with a named pipe (no writer) among its slices."""
    folder = dicom_series(tmp / "series")
    os.mkfifo(folder / "IM99999")
    return folder


def fifo_given_directly(tmp: Path) -> Path:
    """A named pipe called like a NIfTI file, opened directly."""
    path = tmp / "scan.nii"
    os.mkfifo(path)
    return path


def _rle_frame(pixel_count: int) -> bytes:
    """An RLE frame of one segment that decodes to far fewer than ``pixel_count`` bytes."""
    header = struct.pack("<16I", 1, 64, *([0] * 14))
    return header + b"\x81\x00" * 4  # 4 runs of 128 zeros


def rle_bomb(tmp: Path, size: int = 65535, frames: int = 1) -> Path:
    """A 1 kB RLE file declaring ``size`` x ``size`` 8-bit pixels (and ``frames`` frames)."""
    folder = dicom_series(tmp / "series")
    files = sorted(folder.iterdir())
    for extra in files[1:]:
        extra.unlink()

    def edit(dataset: Dataset, index: int) -> None:
        dataset.Rows = dataset.Columns = size
        dataset.BitsAllocated = dataset.BitsStored = 8
        dataset.HighBit = 7
        if frames > 1:
            dataset.NumberOfFrames = frames
        dataset.file_meta.TransferSyntaxUID = RLELossless
        dataset.PixelData = encapsulate([_rle_frame(size * size)] * frames)

    edit_dicoms(folder, edit)
    return files[0]


def _declare_size(codestream: bytes, marker: bytes, at: int, width: int, size: int) -> bytes:
    """Make a codestream's ``marker`` segment declare ``size`` x ``size`` pixels.

    The two numbers (``width`` bytes each) start ``at`` bytes after the marker.
    """
    start = codestream.index(marker) + at
    data = bytearray(codestream)
    data[start : start + 2 * width] = size.to_bytes(width, "big") * 2  # SOF: Y, X; SIZ: X, Y
    return bytes(data)


def jpeg_series(kind: str, size: int | None = None) -> Callable[[Path], Path]:
    """A valid series re-encoded as 8-bit JPEG (Pillow's baseline encoder), or JPEG 2000.

    ``size``: the frames' SOF (SIZ) marker declares ``size`` x ``size`` pixels. ``kind``
    "jpeg-ls" relabels the baseline stream as JPEG-LS (SOF55): its header is read the same way.
    """
    from PIL import Image
    from pydicom.uid import JPEGBaseline8Bit, JPEGLSLossless

    def make(tmp: Path) -> Path:
        folder = tmp / "series"
        if kind == "jpeg2000":
            grid = Grid((4, 32, 32), (0.8, 0.9, 1.5), (-9.0, -20.0, 30.0), SAGITTAL_DIRECTION)
            write_dicom_series(ramp_volume(grid), folder, SeriesHeader(compression="jpeg2000"))

        def edit(dataset: Dataset, index: int) -> None:
            if kind == "jpeg2000":
                frame = next(generate_frames(dataset.PixelData, number_of_frames=1))
                if size is not None:
                    frame = _declare_size(frame, b"\xff\x51", 6, 4, size)
                dataset.PixelData = encapsulate([frame])
                return
            pixels = dataset.pixel_array.astype(np.float64)
            eight_bit = (255 * pixels / max(1.0, pixels.max())).astype(np.uint8)
            stream = io.BytesIO()
            Image.fromarray(eight_bit).save(stream, format="JPEG", quality=95)
            frame = stream.getvalue()
            if kind == "jpeg-ls":
                frame = frame.replace(b"\xff\xc0", b"\xff\xf7", 1)
            if size is not None:
                frame = _declare_size(
                    frame, b"\xff\xf7" if kind == "jpeg-ls" else b"\xff\xc0", 5, 2, size
                )
            dataset.BitsAllocated = dataset.BitsStored = 8
            dataset.HighBit = 7
            dataset.PixelRepresentation = 0
            dataset.file_meta.TransferSyntaxUID = (
                JPEGLSLossless if kind == "jpeg-ls" else JPEGBaseline8Bit
            )
            dataset.PixelData = encapsulate([frame])

        if kind != "jpeg2000":
            dicom_series(folder)
        edit_dicoms(folder, edit)
        return folder

    return make


def rle_multiframe_bomb(tmp: Path) -> Path:
    """120 frames of 2048 x 2048 in a few kB: under the voxel limit, far over what is present."""
    return rle_bomb(tmp, size=2048, frames=120)


def frames_beyond_bytes(tmp: Path) -> Path:
    """100 000 uncompressed 16 x 20 frames declared in a file that holds one."""
    path = huge_frame_count(tmp)
    edit_dicoms(path.parent, lambda d, i: setattr(d, "NumberOfFrames", 100000))
    return path


def nifti_file(tmp: Path, name: str = "scan.nii") -> Path:
    """A small valid NIfTI volume (8 x 10 x 12, 1.5 x 0.9 x 0.8 mm)."""
    grid = Grid((8, 10, 12), (0.8, 0.9, 1.5), (0.0, 0.0, 0.0))
    image = sitk.GetImageFromArray(ramp_volume(grid).array.astype(np.int16))
    image.SetSpacing(grid.spacing_xyz_mm)
    path = tmp / name
    sitk.WriteImage(image, str(path), useCompression=name.endswith(".gz"))
    return path


def gzip_trailing_bomb(tmp: Path, gib: int = 6) -> Path:
    """A valid ``.nii.gz`` followed by gzip members that inflate to ``gib`` GiB of zeros."""
    path = nifti_file(tmp, "scan.nii.gz")
    member = gzip.compress(bytes(_ZEROS_MIB << 20), compresslevel=9)
    with path.open("ab") as stream:
        for _ in range(gib * 1024 // _ZEROS_MIB):
            stream.write(member)
    return path


def patch_nifti(path: Path, offset: int, fmt: str, *values: float) -> Path:
    """Overwrite header bytes of an uncompressed NIfTI-1 file at ``offset``."""
    with path.open("r+b") as stream:
        stream.seek(offset)
        stream.write(struct.pack("<" + fmt, *values))
    return path


def nifti_pixdim(value: float) -> Callable[[Path], Path]:
    """A NIfTI file whose pixdim[1] (the x voxel size) is ``value``."""
    return lambda tmp: patch_nifti(nifti_file(tmp), 80, "f", value)


def nifti_qoffset_nan(tmp: Path) -> Path:
    """A NIfTI file whose qform is in use (code 1, no sform) with its x offset NaN."""
    path = patch_nifti(nifti_file(tmp), 252, "2h", 1, 0)
    return patch_nifti(path, 268, "f", math.nan)


def nrrd_header(tmp: Path, data_file: str, name: str = "scan.nhdr") -> Path:
    """A detached NRRD header (4 x 4 x 4 uint8) naming ``data_file``."""
    path = tmp / name
    path.write_text(
        "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nspacings: 1 1 1\n"
        f"encoding: raw\ndata file: {data_file}\n\n"
    )
    return path


def nhdr_fifo_data(tmp: Path) -> Path:
    """An ``.nhdr`` whose data file is a named pipe with no writer."""
    os.mkfifo(tmp / "data.raw")
    return nrrd_header(tmp, "data.raw")


def nhdr_symlink_escape(tmp: Path) -> Path:
    """An ``.nhdr`` whose data file, in its own folder, is a symlink to /etc/passwd."""
    (tmp / "data.raw").symlink_to("/etc/passwd")
    return nrrd_header(tmp, "data.raw")


def nhdr_padded(tmp: Path) -> Path:
    """An ``.nhdr`` naming /etc/passwd after 1.2 MB of comment lines."""
    path = tmp / "scan.nhdr"
    lines = nrrd_header(tmp, "/etc/passwd").read_text().splitlines(keepends=True)
    path.write_text(lines[0] + "# padding\n" * 120_000 + "".join(lines[1:]))
    return path


def nhdr_named_twice(tmp: Path) -> Path:
    """An ``.nhdr`` naming a good data file beside it, then /etc/passwd."""
    (tmp / "data.raw").write_bytes(bytes(range(64)))
    path = nrrd_header(tmp, "data.raw")
    path.write_text(path.read_text().replace("\n\n", "\ndata file: /etc/passwd\n\n"))
    return path


def metaimage(tmp: Path, data_file_lines: str, name: str = "scan.mhd") -> Path:
    """A MetaImage header (4 x 4 x 4 uint8) whose ElementDataFile is ``data_file_lines``."""
    path = tmp / name
    path.write_text(
        "ObjectType = Image\nNDims = 3\nDimSize = 4 4 4\nElementType = MET_UCHAR\n"
        f"ElementSpacing = 1 1 1\nElementDataFile = {data_file_lines}\n"
    )
    return path


def metaimage_spelled(data_file_line: str, fifo: str = "") -> Callable[[Path], Path]:
    """A MetaImage header whose last line is ``data_file_line`` (with a named pipe ``fifo``)."""

    def make(tmp: Path) -> Path:
        if fifo:
            os.mkfifo(tmp / fifo)
        path = metaimage(tmp, "LOCAL")
        path.write_text(path.read_text().replace("ElementDataFile = LOCAL\n", data_file_line))
        return path

    return make


def nifti_gz_declaring(shape_xyz: tuple[int, int, int]) -> Callable[[Path], Path]:
    """A small float64 ``.nii.gz`` whose header declares ``shape_xyz`` voxels."""

    def make(tmp: Path) -> Path:
        image = sitk.GetImageFromArray(np.zeros((8, 10, 12), np.float64))
        plain = tmp / "plain.nii"
        sitk.WriteImage(image, str(plain))
        patch_nifti(plain, 40, "4h", 3, *shape_xyz)
        path = tmp / "scan.nii.gz"
        path.write_bytes(gzip.compress(plain.read_bytes()))
        return path

    return make


def dicom_named(name: str) -> Callable[[Path], Path]:
    """One DICOM slice of a valid series, renamed to ``name`` (a volume file's ending)."""

    def make(tmp: Path) -> Path:
        first = sorted(dicom_series(tmp / "series").iterdir())[0]
        return first.rename(tmp / name)

    return make


def metaimage_zero_spacing(tmp: Path) -> Path:
    """A MetaImage with its voxels inline and an x spacing of 0."""
    path = metaimage(tmp, "LOCAL", name="scan.mha")
    text = path.read_text().replace("ElementSpacing = 1 1 1", "ElementSpacing = 0 1 1")
    path.write_bytes(text.encode() + bytes(range(64)))
    return path


def positions_overflowing(tmp: Path) -> Path:
    """An oblique series whose positions project to infinity along the slice normal."""
    folder = dicom_series(tmp / "series")
    half = math.sqrt(0.5)

    def edit(dataset: Dataset, index: int) -> None:
        dataset.ImageOrientationPatient = [half, half, 0, 0, 0, -1]
        s = 1.3e308 + index * 1e306
        dataset.ImagePositionPatient = [f"{-s:.6g}", f"{s:.6g}", "0"]

    edit_dicoms(folder, edit)
    return folder


def dicom_edit(edit: Callable[[Dataset, int], None]) -> Callable[[Path], Path]:
    """A valid series with ``edit`` applied to every file."""

    def make(tmp: Path) -> Path:
        folder = dicom_series(tmp / "series")
        edit_dicoms(folder, edit)
        return folder

    return make


def _set(keyword: str, value: Any) -> Callable[[Dataset, int], None]:
    return lambda dataset, index: setattr(dataset, keyword, value)


def _slice_step(step_mm: float) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        folder = dicom_series(tmp / "series")
        set_slice_step(folder, step_mm)
        return folder

    return make


def dicomdir_export(edit: Callable[[Dataset], None]) -> Callable[[Path], Path]:
    """A small series exported with a DICOMDIR (pydicom's FileSet), the DICOMDIR then edited."""

    def make(tmp: Path) -> Path:
        from pydicom.fileset import FileSet

        series = dicom_series(tmp / "series")
        edit_dicoms(series, _set("PatientID", "PHANTOM"))  # a File-set record needs one
        file_set = FileSet()
        for path in sorted(series.iterdir()):
            file_set.add(pydicom.dcmread(path))
        file_set.write(tmp / "export")
        shutil.rmtree(series)
        dicomdir = tmp / "export" / "DICOMDIR"
        dataset = pydicom.dcmread(dicomdir)
        edit(dataset)
        dataset.save_as(dicomdir)
        return dicomdir

    return make


def _records_loop(dataset: Dataset) -> None:
    """The first record's "next record" is itself (same length: no offset moves)."""
    first = dataset.DirectoryRecordSequence[0]
    first.OffsetOfTheNextDirectoryRecord = first.seq_item_tell


def _dicomdir_traversal(dataset: Dataset) -> None:
    """One more record, outside the tree, naming a file above the export's folder."""
    outside = Dataset()
    outside.update(dataset.DirectoryRecordSequence[-1])
    outside.ReferencedFileID = ["..", "..", "..", "etc", "passwd"]
    dataset.DirectoryRecordSequence.append(outside)


def huge_dicomdir(tmp: Path) -> Path:
    """A 9 MiB DICOMDIR (sparse): refused by its size, before it is parsed."""
    path = tmp / "DICOMDIR"
    with path.open("wb") as file:
        file.truncate(9 << 20)
    return path


#: name -> (generator, expected error class name; None: a finite volume).
HOSTILE: dict[str, tuple[Callable[[Path], Path], str | None]] = {
    # 2: hangs
    "huge frame count": (huge_frame_count, "CorruptFileError"),
    "FIFO in a scanned folder": (fifo_in_folder, None),
    "symlink to /dev/zero in a folder": (series_beside("/dev/zero"), None),
    "symlink to /dev/urandom in a folder": (series_beside("/dev/urandom"), None),
    "nhdr whose data file is a FIFO": (nhdr_fifo_data, "UnsafeDataFileError"),
    "DICOMDIR whose records loop": (dicomdir_export(_records_loop), None),
    # 3: file read outside the header's folder
    "DICOMDIR naming ../../../etc/passwd": (dicomdir_export(_dicomdir_traversal), None),
    "nhdr data file ../../etc/passwd": (
        lambda tmp: nrrd_header(tmp, "../../../../../etc/passwd"),
        "UnsafeDataFileError",
    ),
    "MetaImage ElementDataFile LIST": (
        lambda tmp: metaimage(tmp, "LIST\n" + "/etc/passwd\n" * 4),
        "UnsafeDataFileError",
    ),
    # 4: bombs
    "RLE 65535 x 65535 in 1 kB": (rle_bomb, "CorruptFileError"),
    "DICOMDIR of 9 MiB": (huge_dicomdir, "FolderTooLargeError"),
    "folder holding only a DICOMDIR of 9 MiB": (
        lambda tmp: huge_dicomdir(tmp).parent,
        "NotAnImageError",  # read without its index: nothing there
    ),
    "nii.gz with a 6 GiB trailing stream": (gzip_trailing_bomb, None),
    # 7: nonsense numbers
    "RescaleSlope NaN": (dicom_edit(_set("RescaleSlope", "NaN")), "ImplausibleValueError"),
    "RescaleSlope 1e308": (dicom_edit(_set("RescaleSlope", "1e308")), "ImplausibleValueError"),
    "pixel spacing 1e-30": (
        dicom_edit(_set("PixelSpacing", ["1e-30", "1e-30"])),
        "ImplausibleValueError",
    ),
    "pixel spacing 1e30": (
        dicom_edit(_set("PixelSpacing", ["1e30", "1e30"])),
        "ImplausibleValueError",
    ),
    "slice step 1e300 mm": (_slice_step(1e300), "ImplausibleValueError"),
    "NIfTI pixdim 0": (nifti_pixdim(0.0), "ImplausibleValueError"),
    "NIfTI pixdim NaN": (nifti_pixdim(math.nan), "ImplausibleValueError"),
    "NIfTI pixdim negative": (nifti_pixdim(-1.5), "ImplausibleValueError"),
    "NIfTI qform offset NaN": (nifti_qoffset_nan, "ImplausibleValueError"),
    # 8: messages
    "slice positions overflowing": (positions_overflowing, "ImplausibleValueError"),
    # Not in the issue: the same classes, other doors.
    "FIFO given directly": (fifo_given_directly, "NotAnImageError"),
    "symlink to /dev/zero given directly": (
        lambda tmp: symlink(tmp / "scan.dcm", "/dev/zero"),
        "NotAnImageError",
    ),
    "JPEG series, intact": (jpeg_series("jpeg"), None),
    "JPEG 2000 series, intact": (jpeg_series("jpeg2000"), None),
    "deflated series, intact": (deflated(), None),
    "deflated header inflating to 64 MiB": (deflated("header"), "CorruptFileError"),
    "deflated pixel data inflating past its declared size": (
        deflated("pixels"),
        "CorruptFileError",
    ),
    "RLE 2048 x 2048 x 120 frames in a few kB": (rle_multiframe_bomb, "CorruptFileError"),
    "100 000 frames declared, one present": (frames_beyond_bytes, "CorruptFileError"),
    "nhdr symlink in its folder to /etc/passwd": (nhdr_symlink_escape, "UnsafeDataFileError"),
    "nrrd (attached) naming a data file": (
        lambda tmp: nrrd_header(tmp, "/etc/passwd", name="scan.nrrd"),
        "UnsafeDataFileError",
    ),
    "nhdr naming /etc/passwd after 1.2 MB of comments": (nhdr_padded, "UnsafeDataFileError"),
    "nhdr naming a good data file, then /etc/passwd": (nhdr_named_twice, "UnsafeDataFileError"),
    "MetaImage absolute data file": (
        lambda tmp: metaimage(tmp, "/etc/passwd"),
        "UnsafeDataFileError",
    ),
    "MetaImage file pattern": (
        lambda tmp: metaimage(tmp, "../slice%03d.raw 1 4 1"),
        "UnsafeDataFileError",
    ),
    "MetaImage ElementDataFile : /etc/passwd": (
        metaimage_spelled("ElementDataFile : /etc/passwd\n"),
        "UnsafeDataFileError",
    ),
    "MetaImage ElementDataFile:fifo": (
        metaimage_spelled("ElementDataFile:fifo\n", fifo="fifo"),
        "UnsafeDataFileError",
    ),
    "MetaImage ElementDataFile = then /etc/passwd on the next line": (
        metaimage_spelled("  ElementDataFile\t=\r\n/etc/passwd\r\n"),
        "UnsafeDataFileError",
    ),
    "MetaImage ElementDataFile LoCaL, a pipe of that name": (
        metaimage_spelled("ElementDataFile = LoCaL\n", fifo="LoCaL"),
        "UnsafeDataFileError",
    ),
    "MetaImage lowercase field naming /etc/passwd first": (
        metaimage_spelled("elementdatafile: /etc/passwd\nElementDataFile = LOCAL\n"),
        "UnsafeDataFileError",
    ),
    "nii.gz declaring 1024 x 1024 x 400 float64 (5 GiB to read)": (
        nifti_gz_declaring((1024, 1024, 400)),
        "VolumeSizeError",
    ),
    "DICOM named .nrrd": (dicom_named("scan.nrrd"), "NotAnImageError"),
    "DICOM named .mha": (dicom_named("scan.mha"), "NotAnImageError"),
    "DICOM named .nii": (dicom_named("scan.nii"), "NotAnImageError"),
    "MetaImage spacing 0": (metaimage_zero_spacing, "ImplausibleValueError"),
    "NIfTI vox_offset 1e18": (
        lambda tmp: patch_nifti(nifti_file(tmp), 108, "f", 1e18),
        "CorruptFileError",
    ),
    # NIfTI: a non-finite scl_slope means "no scaling".
    "NIfTI scl_slope inf": (lambda tmp: patch_nifti(nifti_file(tmp), 112, "f", math.inf), None),
    "slice step 1e-30 mm": (_slice_step(1e-30), "UnsupportedImageError"),
    "ImageOrientationPatient NaN": (
        dicom_edit(_set("ImageOrientationPatient", ["NaN"] * 6)),
        "UnsupportedImageError",
    ),
}


# -- the probe ---------------------------------------------------------------------------------


def probe(path: str | Path) -> dict[str, Any]:
    """Do what ``lumboplan info`` does with ``path``; describe the outcome (JSON-ready)."""
    from lumboplan_app.io import ScanSource
    from lumboplan_app.io.checks import segmentation_refusal

    try:
        source = ScanSource(path)
        listing = source.series
        volume = source.read(1 if len(listing) == 1 else None)
    except LumboPlanError as error:
        return {"outcome": "error", "type": type(error).__name__, "message": str(error)}
    array = volume.array
    return {
        "outcome": "volume",
        "finite": bool(np.isfinite(array).all()),
        "shape_zyx": list(volume.grid.shape_zyx),
        "spacing_xyz_mm": list(volume.grid.spacing_xyz_mm),
        "range": [float(array.min()), float(array.max())],
        "segmentable": segmentation_refusal(volume) is None,
    }


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (PROBE_ADDRESS_SPACE, PROBE_ADDRESS_SPACE))


def run_in_child(code: str, *args: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """Run ``code`` in a fresh Python under the probe limits; return its stdout.

    Raises ``subprocess.TimeoutExpired`` past ``timeout_s`` and fails the test if the child
    exits non-zero (a crash, a MemoryError, an assertion).
    """
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        preexec_fn=_limit_address_space,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def run_probe(path: Path) -> dict[str, Any]:
    """Run :func:`probe` on ``path`` in a child process under the probe limits."""
    code = (
        "import json, sys\nfrom tests.test_hostile_input import probe\n"
        "print(json.dumps(probe(sys.argv[1]), allow_nan=False))"
    )
    return json.loads(run_in_child(code, str(path)).splitlines()[-1])


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_gives_a_typed_error_or_a_finite_volume(name: str, tmp_path: Path) -> None:
    make, expected = HOSTILE[name]
    path = make(tmp_path)
    outcome = run_probe(path)
    if expected is None:
        assert outcome["outcome"] == "volume", outcome
        assert outcome["finite"]
    else:
        assert outcome["outcome"] == "error", outcome
        assert outcome["type"] == expected, outcome
        message = outcome["message"]
        assert "\n" not in message
        assert str(tmp_path) not in message
        assert "reinstall" not in message


# -- property-based fuzzing, in a child under the same limits ----------------------------------

_NASTY_NUMBERS = st.sampled_from(
    ["NaN", "inf", "-inf", "0", "-1", "1e308", "-1e308", "1e-30", "1e30", "2147483647", "", "x"]
)
_DICOM_FIELDS = st.sampled_from(
    [
        "Rows",
        "Columns",
        "NumberOfFrames",
        "BitsAllocated",
        "BitsStored",
        "HighBit",
        "PixelRepresentation",
        "SamplesPerPixel",
        "PixelSpacing",
        "ImagePositionPatient",
        "ImageOrientationPatient",
        "RescaleSlope",
        "RescaleIntercept",
        "SliceThickness",
    ]
)
#: Few examples by default (a bounded CI run); set LUMBOPLAN_FUZZ_EXAMPLES to fuzz longer.
_FUZZ_SETTINGS = settings(
    max_examples=int(os.environ.get("LUMBOPLAN_FUZZ_EXAMPLES", "25")),
    deadline=5000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _outcome_is_acceptable(path: Path) -> None:
    from lumboplan_app.io import read_scan

    try:
        volume = read_scan(path, series=1)
    except LumboPlanError as error:
        message = str(error)
    else:
        message = ""
        assert np.isfinite(volume.array).all()
        assert all(0.01 <= s <= 50 for s in volume.grid.spacing_xyz_mm)
    assert "\n" not in message


def _raw_element(keyword: str, text: str) -> RawDataElement:
    """The element ``keyword`` holding ``text`` as written, valid or not (no conversion)."""
    tag = Tag(keyword)
    vr = pydicom.datadict.dictionary_VR(keyword)
    if vr == "US":
        try:
            value = struct.pack("<H", int(float(text)) % 65536)
        except (ValueError, OverflowError):
            value = b"\xff\xff"
    else:
        multiplicity = {"PixelSpacing": 2, "ImagePositionPatient": 3, "ImageOrientationPatient": 6}
        value = "\\".join([text] * multiplicity.get(keyword, 1)).encode()
        value += b" " * (len(value) % 2)
    return RawDataElement(tag, vr, len(value), value, 0, False, True)


@given(
    edits=st.lists(st.tuples(_DICOM_FIELDS, _NASTY_NUMBERS), min_size=1, max_size=3),
    every_file=st.booleans(),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=2000)),
)
@_FUZZ_SETTINGS
def fuzz_dicom_headers(edits: list[tuple[str, str]], every_file: bool, cut: int | None) -> None:
    """Mutated DICOM headers (and a cut-off first file) read to a typed error or a volume."""
    with tempfile.TemporaryDirectory() as folder_name:
        folder = dicom_series(Path(folder_name) / "series", slices=3)

        def edit(dataset: Dataset, index: int) -> None:
            if index == 0 or every_file:
                for keyword, text in edits:
                    dataset[Tag(keyword)] = _raw_element(keyword, text)

        edit_dicoms(folder, edit)
        if cut is not None:
            first = sorted(folder.iterdir())[0]
            first.write_bytes(first.read_bytes()[:cut])
        _outcome_is_acceptable(folder)


#: NIfTI-1 header fields: name -> (byte offset, struct format).
_NIFTI_FIELDS = {
    "dim": (40, "8h"),
    "datatype": (70, "h"),
    "bitpix": (72, "h"),
    "pixdim": (76, "8f"),
    "vox_offset": (108, "f"),
    "scl_slope": (112, "f"),
    "scl_inter": (116, "f"),
    "qform_code": (252, "h"),
    "sform_code": (254, "h"),
    "quatern": (256, "6f"),
    "srow": (280, "12f"),
}
_NIFTI_NUMBERS = st.sampled_from(
    [math.nan, math.inf, -math.inf, 0.0, -1.0, 1e30, -1e30, 1e-30, 3.0, 32767.0, -32768.0]
)


@given(
    field=st.sampled_from(sorted(_NIFTI_FIELDS)),
    position=st.integers(min_value=0, max_value=11),
    value=_NIFTI_NUMBERS,
    compressed=st.booleans(),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=4000)),
)
@_FUZZ_SETTINGS
def fuzz_nifti_headers(
    field: str, position: int, value: float, compressed: bool, cut: int | None
) -> None:
    """A mutated NIfTI header field (and a cut-off file) reads to a typed error or a volume."""
    with tempfile.TemporaryDirectory() as folder_name:
        path = nifti_file(Path(folder_name))
        offset, fmt = _NIFTI_FIELDS[field]
        count = int(fmt[:-1] or 1)
        item = fmt[-1]
        offset += (position % count) * struct.calcsize(item)
        if item == "h":
            number = int(value) if math.isfinite(value) else 32767
            patch_nifti(path, offset, "h", max(-32768, min(32767, number)))
        else:
            patch_nifti(path, offset, "f", value)
        data = path.read_bytes()
        if cut is not None:
            data = data[:cut]
        if compressed:
            path.unlink()
            path = path.with_name("scan.nii.gz")
            data = gzip.compress(data)
        path.write_bytes(data)
        _outcome_is_acceptable(path)


@pytest.mark.parametrize("fuzz", ["fuzz_dicom_headers", "fuzz_nifti_headers"])
def test_fuzzed_headers_give_a_typed_error_or_a_finite_volume(fuzz: str) -> None:
    run_in_child(f"from tests.test_hostile_input import {fuzz}\n{fuzz}()", timeout_s=240)


# -- in-process checks that need no child ------------------------------------------------------


def _deny(*args: object, **kwargs: object) -> int:
    raise PermissionError(13, "Permission denied")


def test_an_unreadable_file_is_said_to_be_unreadable(tmp_path: Path, monkeypatch) -> None:
    from lumboplan_app.errors import UnreadableFileError
    from lumboplan_app.io import read_scan

    folder = dicom_series(tmp_path / "series")
    single = sorted(folder.iterdir())[0]
    nifti = nifti_file(tmp_path)
    monkeypatch.setattr(os, "open", _deny)
    for path in (single, folder, nifti):
        with pytest.raises(UnreadableFileError, match="permission"):
            read_scan(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_a_file_without_read_permission_is_said_to_be_unreadable(tmp_path: Path) -> None:
    from lumboplan_app.errors import UnreadableFileError
    from lumboplan_app.io import read_scan

    nifti = nifti_file(tmp_path)
    nifti.chmod(0)
    with pytest.raises(UnreadableFileError, match="permission"):
        read_scan(nifti)


def test_info_json_never_holds_a_bare_nan(tmp_path: Path) -> None:
    folder = dicom_edit(_set("RescaleSlope", "NaN"))(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "lumboplan_app.cli", "info", "--json", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        preexec_fn=_limit_address_space,
        check=False,
    )
    assert result.returncode != 0
    assert "NaN" not in result.stdout
    assert "RescaleSlope" in result.stderr


def test_a_symlink_to_a_regular_file_in_a_folder_is_read(tmp_path: Path) -> None:
    from lumboplan_app.io import read_scan

    folder = dicom_series(tmp_path / "series")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    last = sorted(folder.iterdir())[-1]
    shutil.move(last, elsewhere / last.name)
    (folder / last.name).symlink_to(elsewhere / last.name)
    assert read_scan(folder).grid.shape_zyx[2] == 4  # sagittal slices run along x


def test_a_series_under_1100_nested_folders_is_found(tmp_path: Path) -> None:
    deepest = tmp_path / "cd"
    deepest.mkdir()
    for _ in range(1100):  # deeper than Python's recursion limit
        deepest = deepest / "a"
        deepest.mkdir()
    dicom_series(deepest)
    try:
        outcome = run_probe(tmp_path / "cd")
    finally:  # shutil.rmtree itself recurses: remove from the bottom up
        for file in deepest.iterdir():
            file.unlink()
        while deepest != tmp_path:
            deepest.rmdir()
            deepest = deepest.parent
    assert outcome["outcome"] == "volume", outcome
    assert outcome["shape_zyx"] == [16, 20, 4]


def _raw(keyword: str, text: str) -> Callable[[Dataset, int], None]:
    return lambda dataset, index: dataset.__setitem__(Tag(keyword), _raw_element(keyword, text))


def test_a_damaged_value_decides_by_the_field_it_is_in(tmp_path: Path) -> None:
    from lumboplan_app.errors import CorruptFileError
    from lumboplan_app.io import read_scan

    sloppy = dicom_series(tmp_path / "sloppy")
    edit_dicoms(sloppy, _raw("InstanceNumber", "inf"))  # pydicom raises when it is used
    assert read_scan(sloppy).grid.shape_zyx == (16, 20, 4)
    broken = dicom_series(tmp_path / "broken")
    edit_dicoms(broken, _raw("NumberOfFrames", "inf"))
    with pytest.raises(CorruptFileError, match="damaged header"):
        read_scan(broken)


def test_a_detached_nrrd_in_its_own_folder_is_read(tmp_path: Path) -> None:
    from lumboplan_app.io import read_scan

    (tmp_path / "data.raw").write_bytes(bytes(range(64)))
    volume = read_scan(nrrd_header(tmp_path, "data.raw"))
    assert volume.grid.shape_zyx == (4, 4, 4)


def test_a_compressed_stream_cut_short_is_still_refused(tmp_path: Path) -> None:
    from lumboplan_app.errors import CorruptFileError
    from lumboplan_app.io import read_scan

    path = nifti_file(tmp_path, "scan.nii.gz")
    data = zlib.decompress(path.read_bytes(), wbits=31)
    path.write_bytes(gzip.compress(data)[:-200])
    with pytest.raises(CorruptFileError, match="cut short"):
        read_scan(path)


def test_a_folder_far_larger_than_a_scan_is_refused_before_its_headers_are_read(
    tmp_path: Path,
) -> None:
    # A case file or a user pointing at `/` walked the whole disk and read every header.
    # The limit is lowered in the child, so a few hundred files stand for a whole disk.
    dicom_series(tmp_path / "disk" / "a" / "series")
    for folder in range(30):
        deep = tmp_path / "disk" / f"b{folder:02d}" / "x"
        deep.mkdir(parents=True)
        for name in range(20):
            (deep / f"f{name}").write_bytes(b"junk")
    code = (
        "import json, sys\nimport lumboplan_app.io.folders as folders\n"
        "from tests.test_hostile_input import probe\n"
        "folders.MAX_FOLDER_ENTRIES = 500\n"
        "print(json.dumps(probe(sys.argv[1])))\n"
        "folders.MAX_FOLDER_ENTRIES = 1000\n"
        "print(json.dumps(probe(sys.argv[1])))"
    )
    refused, read = (
        json.loads(line) for line in run_in_child(code, str(tmp_path / "disk")).splitlines()[-2:]
    )
    assert refused["type"] == "FolderTooLargeError", refused
    assert "more than 500 files and folders" in refused["message"]
    assert "Choose the folder of the series" in refused["message"]
    assert read["outcome"] == "volume", read


@pytest.mark.parametrize(
    ("kind", "size"), [("jpeg", 65535), ("jpeg-ls", 65535), ("jpeg2000", 60000), ("jpeg", 20)]
)
def test_a_codestream_declaring_another_size_is_refused_before_decoding(
    tmp_path: Path, kind: str, size: int
) -> None:
    # Before: the decoder was handed the frame and asked for what its SOF or SIZ declared
    # (8.6 GB, 15 to 44 s for 65535 x 65535) before any size was compared.
    outcome = run_probe(jpeg_series(kind, size)(tmp_path))
    assert outcome["type"] == "CorruptFileError", outcome
    assert f"declares {size}x{size} pixels" in outcome["message"], outcome


def test_the_memory_a_read_takes_is_bounded_in_bytes_not_only_voxels() -> None:
    from lumboplan_app.io.checks import MAX_READ_BYTES, MAX_VOXELS
    from lumboplan_app.io.series import declared_pixel_data_error

    header = Dataset()
    header.file_meta = FileMetaDataset()
    header.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    header.Rows, header.Columns, header.NumberOfFrames = 1024, 1024, 400
    header.BitsAllocated = 16
    assert declared_pixel_data_error(header, "x.dcm", None) is None  # 16 bits: 2 GiB to read
    header.BitsAllocated = 64  # under the voxel limit, but 5 GiB to read
    assert MAX_VOXELS > 1024 * 1024 * 400
    error = declared_pixel_data_error(header, "x.dcm", None)
    assert error is not None
    assert f"more than LumboPlan allows ({MAX_READ_BYTES / 2**30:.0f} GiB)" in str(error)


def test_a_dicomdir_yields_only_the_regular_files_it_names_inside_its_folder(
    tmp_path: Path,
) -> None:
    from lumboplan_app.io.folders import candidate_files

    dicomdir = dicomdir_export(_dicomdir_traversal)(tmp_path)
    found = list(candidate_files(dicomdir, []))
    assert len(found) == 4  # the series' slices, not /etc/passwd
    assert all(path.resolve().is_relative_to(dicomdir.parent.resolve()) for path in found)


def deflated_dicomdir_bomb(folder: Path, inflated_mib: int) -> Path:
    """A DICOMDIR of a few hundred kB, deflated, whose pixel data inflates to ``inflated_mib``."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info

    header = Dataset()
    header.SOPClassUID = "1.2.840.10008.1.3.10"  # Media Storage Directory
    body = DicomBytesIO()
    body.is_little_endian, body.is_implicit_VR = True, False
    write_dataset(body, header)
    pixel_data = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, inflated_mib << 20)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunks = [deflater.compress(body.getvalue() + pixel_data)]
    zeros = bytes(1 << 20)
    chunks += [deflater.compress(zeros) for _ in range(inflated_mib)]
    chunks.append(deflater.flush())
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = header.SOPClassUID
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = DicomBytesIO()
    out.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(out, meta)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "DICOMDIR"
    path.write_bytes(out.getvalue() + b"".join(chunks))
    return path


def test_a_deflated_dicomdir_bomb_in_a_chosen_folder_is_not_inflated_whole(
    tmp_path: Path,
) -> None:
    # 512 MiB of zeros in half a MiB: choosing its folder (or the file) reads the listing under
    # the deflated header's cap, and says no image is there.
    bomb = deflated_dicomdir_bomb(tmp_path / "disc", 512)
    assert bomb.stat().st_size < 1 << 20
    code = (
        "import json, resource, sys\nfrom tests.test_hostile_input import probe\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "outcomes = [probe(sys.argv[1]), probe(sys.argv[2])]\n"
        "grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) >> 10\n"
        "print(json.dumps({'outcomes': outcomes, 'grown_mib': grown}))"
    )
    found = json.loads(run_in_child(code, str(bomb.parent), str(bomb)).splitlines()[-1])
    assert [outcome["outcome"] for outcome in found["outcomes"]] == ["error", "error"]
    assert found["grown_mib"] < 200, found
