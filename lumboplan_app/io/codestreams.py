"""The image size a compressed DICOM frame declares, read from its codestream header.

A JPEG, JPEG-LS or JPEG 2000 decoder allocates what its codestream declares (the SOF marker
segment of JPEG and JPEG-LS, the SIZ marker segment of JPEG 2000), not what the DICOM header
says. A 1 MB file whose SOF says 65535 x 65535 makes the decoder ask for gigabytes and work for
seconds before the size check after decoding. So each frame's header is read here first, and
the pixel reader refuses a frame whose declared columns, rows, components or bit depth do not
fit the DICOM header.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.uid import (
    UID,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
)

_SOI = b"\xff\xd8"
_J2K_SOC_SIZ = b"\xff\x4f\xff\x51"
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
#: Start-of-frame markers: JPEG's SOF0..SOF15 (not DHT, JPG, DAC) and JPEG-LS's SOF55.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}
#: Markers without a length field (TEM, RSTn).
_STANDALONE = frozenset([0x01, *range(0xD0, 0xD8)])
_START_OF_SCAN = 0xDA
#: How far into a JP2 file its codestream may start (after its header boxes).
_JP2_SEARCH_BYTES = 1 << 16


@dataclass(frozen=True)
class DeclaredFrame:
    """What a frame's codestream declares: its size, components and bits per sample."""

    columns: int
    rows: int
    components: int
    bits: int


class UnreadableCodestream(ValueError):
    """A frame opens like a codestream of its kind but its header cannot be read."""


def declared_frame(fragment: bytes, syntax: UID) -> DeclaredFrame | None:
    """Return what the frame starting with ``fragment`` declares.

    None if ``fragment`` is not the first fragment of a JPEG, JPEG-LS or JPEG 2000 frame.

    Raises
    ------
    UnreadableCodestream
        If the fragment opens a codestream whose header is cut short or damaged.
    """
    if syntax in JPEGTransferSyntaxes or syntax in JPEGLSTransferSyntaxes:
        return _jpeg_frame(fragment) if fragment.startswith(_SOI) else None
    if syntax in JPEG2000TransferSyntaxes:
        if fragment.startswith(_J2K_SOC_SIZ):
            return _j2k_frame(fragment, 0)
        if fragment.startswith(_JP2_SIGNATURE):
            start = fragment.find(_J2K_SOC_SIZ, 0, _JP2_SEARCH_BYTES)
            if start < 0:
                raise UnreadableCodestream("a JP2 file without a codestream header")
            return _j2k_frame(fragment, start)
    return None


def _jpeg_frame(data: bytes) -> DeclaredFrame:
    """Read the SOF marker segment of a JPEG or JPEG-LS codestream (after SOI)."""
    at = len(_SOI)
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise UnreadableCodestream("a marker segment does not start with 0xFF")
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker == _START_OF_SCAN:
            break
        if marker in _SOF_MARKERS:
            if at + 10 > len(data):
                break
            return DeclaredFrame(
                columns=int.from_bytes(data[at + 7 : at + 9], "big"),
                rows=int.from_bytes(data[at + 5 : at + 7], "big"),
                components=data[at + 9],
                bits=data[at + 4],
            )
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    raise UnreadableCodestream("no start-of-frame marker before the image data")


def _j2k_frame(data: bytes, start: int) -> DeclaredFrame:
    """Read the SIZ marker segment of a JPEG 2000 codestream starting at ``start`` (SOC)."""
    siz = start + 2
    if siz + 41 > len(data):
        raise UnreadableCodestream("the SIZ marker segment is cut short")

    def number(offset: int) -> int:
        return int.from_bytes(data[siz + offset : siz + offset + 4], "big")

    return DeclaredFrame(
        columns=number(6) - number(14),
        rows=number(10) - number(18),
        components=int.from_bytes(data[siz + 38 : siz + 40], "big"),
        bits=(data[siz + 40] & 0x7F) + 1,
    )
