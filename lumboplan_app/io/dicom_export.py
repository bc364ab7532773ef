"""Write a volume as a DICOM MR series (one file per slice), e.g. the demo case or test fixtures.

The series is written along the volume's z axis with the volume's exact geometry (oblique
directions included), so reading it back gives the same voxels at the same LPS positions, up to
the 16-bit quantisation stated by RescaleSlope.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    MRImageStorage,
    RLELossless,
    generate_uid,
)

from lumboplan_app import __version__
from lumboplan_app.atomic import atomic_output
from lumboplan_app.errors import LoadError
from lumboplan_app.volume import Volume

_CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")
_UINT16_MAX = 65535


@dataclass(frozen=True)
class SeriesHeader:
    """What to write into the header of an exported series (all optional).

    ``patient_*`` are written as given: leave them empty for anonymous data. ``compression`` is
    ``"none"``, ``"rle"`` (RLE lossless) or ``"jpeg2000"`` (JPEG 2000 lossless, the smallest).
    ``uid_seed``, when given, derives every UID from it (the same text, the same UIDs: a
    reproducible export); otherwise UIDs are random.
    """

    patient_name: str = field(default="", repr=False)
    patient_id: str = field(default="", repr=False)
    patient_birth_date: str = field(default="", repr=False)
    series_description: str = ""
    series_number: int = 1
    modality: str = "MR"
    mr_acquisition_type: str = "3D"
    body_part: str = "LSPINE"
    study_date: str = ""
    series_instance_uid: str = ""
    study_instance_uid: str = ""
    compression: str = "none"
    uid_seed: str = ""


def write_dicom_series(
    volume: Volume,
    folder: Path,
    header: SeriesHeader | None = None,
    file_names: Sequence[str] | None = None,
) -> list[Path]:
    """Write ``volume`` as a single-frame DICOM series into ``folder``; return the file paths.

    Values are stored as unsigned 16-bit integers with RescaleIntercept = the minimum. Whole
    numbers spanning at most 65535 are stored exactly (RescaleSlope 1); other data with
    RescaleSlope = range / 65535 (the quantisation step).
    Files are written under temporary names and renamed, so a failure leaves no half file.

    Raises
    ------
    LoadError
        If the folder cannot be written.
    """
    header = header or SeriesHeader()
    slice_count = volume.grid.shape_zyx[0]
    if file_names is not None and len(file_names) != slice_count:
        raise ValueError(f"need {slice_count} file names, got {len(file_names)}")
    names = list(file_names) if file_names else [f"IM{z + 1:05d}.dcm" for z in range(slice_count)]
    folder.mkdir(parents=True, exist_ok=True)
    low, high = float(volume.array.min()), float(volume.array.max())
    whole_numbers = bool(np.all(volume.array == np.round(volume.array)))
    if whole_numbers and high - low <= _UINT16_MAX:
        slope = 1.0  # lossless for integer data, as scanners write it
    else:
        slope = (high - low) / _UINT16_MAX if high > low else 1.0
    stored = np.round((volume.array - low) / slope).clip(0, _UINT16_MAX).astype(np.uint16)
    series_uid = header.series_instance_uid or _uid(header, "series")
    study_uid = header.study_instance_uid or _uid(header, "study")
    frame_of_reference = _uid(header, "frame-of-reference")
    grid = volume.grid
    row_cosine, column_cosine = grid.direction[:, 0], grid.direction[:, 1]
    today = header.study_date or datetime.date.today().strftime("%Y%m%d")
    paths = []
    for z in range(slice_count):
        dataset = _slice_dataset(header, stored[z], z, _uid(header, f"instance-{z}"))
        dataset.SeriesInstanceUID = series_uid
        dataset.StudyInstanceUID = study_uid
        dataset.FrameOfReferenceUID = frame_of_reference
        dataset.StudyDate = dataset.SeriesDate = today
        dataset.StudyTime = dataset.SeriesTime = "120000"
        dataset.ImagePositionPatient = [f"{v:.6f}" for v in grid.index_to_lps([z, 0, 0])]
        dataset.ImageOrientationPatient = [
            f"{v:.8f}" for v in (*row_cosine.tolist(), *column_cosine.tolist())
        ]
        dataset.PixelSpacing = [f"{grid.spacing_xyz_mm[1]:.6f}", f"{grid.spacing_xyz_mm[0]:.6f}"]
        dataset.SliceThickness = f"{grid.spacing_xyz_mm[2]:.6f}"
        dataset.SpacingBetweenSlices = f"{grid.spacing_xyz_mm[2]:.6f}"
        dataset.RescaleSlope = f"{slope:.10g}"
        dataset.RescaleIntercept = f"{low:.10g}"
        paths.append(write_dataset(dataset, folder / names[z]))
    return paths


def _uid(header: SeriesHeader, purpose: str) -> UID:
    """Return a UID for ``purpose``: derived from ``header.uid_seed`` if set, else random."""
    if header.uid_seed:
        return generate_uid(entropy_srcs=[header.uid_seed, purpose])
    return generate_uid()


def _slice_dataset(header: SeriesHeader, pixels: np.ndarray, z: int, sop_instance: UID) -> Dataset:
    sop_class = MRImageStorage if header.modality == "MR" else _CT_IMAGE_STORAGE
    dataset = new_dataset(sop_class, sop_instance)
    dataset.Modality = header.modality
    dataset.Manufacturer = "LumboPlan"
    dataset.PatientName = header.patient_name
    dataset.PatientID = header.patient_id
    dataset.PatientBirthDate = header.patient_birth_date
    dataset.PatientSex = ""
    dataset.StudyID = "1"
    dataset.AccessionNumber = ""
    dataset.ReferringPhysicianName = ""
    dataset.SeriesDescription = header.series_description
    dataset.SeriesNumber = header.series_number
    dataset.InstanceNumber = z + 1
    dataset.BodyPartExamined = header.body_part
    if header.modality == "MR":
        dataset.MRAcquisitionType = header.mr_acquisition_type
    dataset.ImageType = ["DERIVED", "SECONDARY"]
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.Rows, dataset.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0
    dataset.PixelData = np.ascontiguousarray(pixels).tobytes()
    if header.compression == "rle":
        dataset.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    elif header.compression == "jpeg2000":
        dataset.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg", generate_instance_uid=False)
    elif header.compression != "none":
        raise ValueError(f"unknown compression {header.compression!r}")
    return dataset


def new_dataset(sop_class: UID, sop_instance: UID) -> Dataset:
    """Return an empty dataset of ``sop_class`` with its file meta (explicit VR little endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationVersionName = f"LUMBOPLAN_{__version__}"[:16]
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = sop_class
    dataset.SOPInstanceUID = sop_instance
    return dataset


def write_dataset(dataset: Dataset, path: Path) -> Path:
    """Write ``dataset`` as a DICOM file (with its file meta) atomically; return ``path``.

    Raises
    ------
    WriteError
        If the disk is full, read-only or not writable (the previous file is kept).
    LoadError
        If the file cannot be written for another reason.
    """
    try:
        with atomic_output(path) as temporary:
            dataset.save_as(temporary, enforce_file_format=True)
    except OSError as error:
        raise LoadError(
            f"'{path.name}' could not be written ({error.strerror}); check the folder and disk."
        ) from error
    return path
