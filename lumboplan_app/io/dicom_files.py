"""Read a DICOM file with pydicom, a deflated one inflated under a cap.

pydicom inflates a Deflated Explicit VR Little Endian file (1.2.840.10008.1.2.1.99) whole
before reading a single element, even to read its header only: a 1 MB file may inflate to
gigabytes. Here such a file's dataset is inflated in chunks: for a header, no further than
``HEADER_BYTES``; for the pixels, no further than the pixel data the header declares, itself
at most two bytes for each of ``MAX_VOXELS``. More is refused as a damaged file.
"""

from __future__ import annotations

import io
import zlib
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, read_preamble
from pydicom.uid import DeflatedExplicitVRLittleEndian

from lumboplan_app.errors import CorruptFileError, VolumeSizeError
from lumboplan_app.io.checks import MAX_VOXELS

#: Most bytes the elements before the pixel data of a deflated file may inflate to.
HEADER_BYTES = 16 << 20
_CHUNK = 1 << 20


def read_dicom(
    stream: BinaryIO, name: str, stop_before_pixels: bool = False, force: bool = False
) -> Dataset:
    """Return ``pydicom.dcmread(stream, ...)``; a deflated dataset is inflated with a cap.

    Raises
    ------
    CorruptFileError
        If a deflated dataset inflates beyond its cap (its header beyond ``HEADER_BYTES``, its
        pixel data beyond what the header declares) or its stream is damaged.
    VolumeSizeError
        If a deflated dataset's header declares more pixel data than LumboPlan handles.
    Exception
        Whatever pydicom raises for a file it cannot parse.
    """
    meta = _deflated_file_meta(stream)
    if meta is None:
        return pydicom.dcmread(stream, stop_before_pixels=stop_before_pixels, force=force)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    body = _inflate(inflater, stream, HEADER_BYTES, name)  # the pixel data may follow
    header = pydicom.dcmread(io.BytesIO(body), stop_before_pixels=True, force=True)
    if len(body) == HEADER_BYTES and "Rows" not in header:
        raise CorruptFileError(
            f"The header of the deflated DICOM file '{name}' inflates to more than "
            f"{HEADER_BYTES >> 20} MB before its image attributes: it is damaged or a "
            "decompression bomb. Export the series again, uncompressed."
        )
    if not stop_before_pixels:
        pixel_bytes = declared_pixel_bytes(header)
        if pixel_bytes > 2 * MAX_VOXELS:
            raise VolumeSizeError(
                f"'{name}' declares {pixel_bytes >> 20} MB of pixel data, more than LumboPlan "
                f"handles ({MAX_VOXELS / 1e6:.0f} million voxels)."
            )
        body += _inflate(inflater, stream, pixel_bytes + _CHUNK, name, cut=False)
        header = pydicom.dcmread(io.BytesIO(body), force=True)
    header.file_meta = meta
    return header


def declared_pixel_bytes(header: Dataset) -> int:
    """Return the bytes of decoded pixel data ``header`` declares (0 where it says nothing)."""

    def number(keyword: str, default: int, least: int) -> int:
        try:
            return max(least, int(header.get(keyword) or default))
        except (TypeError, ValueError):
            return least

    pixels = number("Rows", 0, 0) * number("Columns", 0, 0) * number("NumberOfFrames", 1, 0)
    return (pixels * number("SamplesPerPixel", 1, 1) * number("BitsAllocated", 16, 1) + 7) // 8


def _deflated_file_meta(stream: BinaryIO) -> FileMetaDataset | None:
    """Return the file meta of a deflated file, ``stream`` at its dataset; else None, rewound."""
    try:
        if read_preamble(stream, False) is not None:
            meta = _read_file_meta_info(stream)
            if meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian:
                return meta
    except (InvalidDicomError, EOFError, OSError, ValueError, KeyError, TypeError):
        pass  # not DICOM with a preamble, or a damaged file meta: pydicom says which
    stream.seek(0)
    return None


def _inflate(
    inflater: zlib._Decompress, stream: BinaryIO, most: int, name: str, cut: bool = True
) -> bytes:
    """Inflate ``stream`` further, up to ``most`` bytes (``cut``: stop there; else refuse more).

    Raises
    ------
    CorruptFileError
        If the compressed stream is damaged, or (``cut`` False) it holds more than ``most``
        bytes: a bomb, or pixel data beyond what the header declares.
    """
    out = bytearray()
    wanted = most if cut else most + 1
    try:
        while not inflater.eof and len(out) < wanted:
            data = inflater.unconsumed_tail or stream.read(_CHUNK)
            if not data:
                break
            out += inflater.decompress(data, wanted - len(out))
    except zlib.error as error:
        raise CorruptFileError(
            f"The compressed (deflated) DICOM file '{name}' is damaged. Export the series again."
        ) from error
    if not cut and len(out) > most:
        raise CorruptFileError(
            f"The deflated DICOM file '{name}' inflates to more than its header declares "
            f"({most >> 20} MB or more): it is damaged or a decompression bomb. Export the "
            "series again, uncompressed."
        )
    return bytes(out)
