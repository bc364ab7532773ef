"""DICOM objects for PACS: the labels as DICOM SEG, the report as Encapsulated PDF.

**DICOM SEG** (highdicom, binary segmentation): one frame per image of the source series, each
derived from (and referencing) its source image, so PACS viewers and Slicer lay the labels on
the original slices. Segment *n* is structure *n* (DESIGN.md, "Structures"), coded with SNOMED
CT (:mod:`~lumboplan_app.exchange.terminology`) and coloured as in the window; segments of
structures not segmented are left out. The labels are sampled at each source pixel's LPS
position, which lies exactly on a voxel of the case's label map (the scan is reoriented, never
resampled, on reading); a series whose pixels do not is refused.

A SEG needs the DICOM series the case was planned on: a case planned on a NIfTI, NRRD or
MetaImage file raises :class:`~lumboplan_app.errors.DicomSourceRequiredError`.

**Encapsulated PDF** (SOP class 1.2.840.10008.5.1.4.1.1.104.1): the report PDF inside a DICOM
document of modality ``DOC``, in the source study when there is one (same patient and
StudyInstanceUID, so PACS files it with the MR), else in a new study.

**De-identified** (``deidentify``): the patient's name, ID, birth date, sex and age, the
accession number, referring physician and institution are emptied (type 2 attributes stay,
empty), ``PatientIdentityRemoved`` is ``YES`` and the report inside is the de-identified one.
UIDs are kept: a SEG must name the series it lies on.
"""

from __future__ import annotations

import datetime
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, generate_uid

from lumboplan_app import __version__
from lumboplan_app.errors import DicomSourceRequiredError, ExportError, LoadError
from lumboplan_app.exchange.terminology import STRUCTURE_CODES, Code
from lumboplan_app.io.dicom_export import new_dataset, write_dataset
from lumboplan_app.labels import SEGMENTED_STRUCTURES
from lumboplan_app.progress import ProgressCallback
from lumboplan_app.session import CaseFile
from lumboplan_app.text import shown_text
from lumboplan_app.volume import LabelMap, Volume

if TYPE_CHECKING:
    import highdicom as hd

logger = logging.getLogger(__name__)

ENCAPSULATED_PDF_STORAGE = UID("1.2.840.10008.5.1.4.1.1.104.1")
#: Attributes emptied by de-identification (type 2 ones must stay present, empty).
IDENTIFYING_ATTRIBUTES = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "OtherPatientIDs",
    "OtherPatientNames",
    "AccessionNumber",
    "ReferringPhysicianName",
    "InstitutionName",
    "InstitutionAddress",
)
#: Patient and study attributes a document copies from its source series.
_STUDY_ATTRIBUTES = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)
#: Most distance (in voxels) between a source pixel and the nearest label voxel centre.
_GRID_TOLERANCE_VOX = 0.05


def source_series(case: CaseFile, scan: Path | None = None) -> list[Dataset]:
    """Return the headers of the DICOM series ``case`` was planned on (no pixel data).

    Parameters
    ----------
    case : CaseFile
        The case; its scan reference and series id name the series.
    scan : Path, optional
        Where the series is now, when it has moved since planning; or the DICOM series a
        NIfTI, NRRD or MetaImage scan was made from (its pixels must lie on the labels' voxels).

    Raises
    ------
    DicomSourceRequiredError
        If the case was planned on a volume file, or its series is not found.
    """
    summary = (case.scan or {}).get("summary") or {}
    given = (case.scan or {}).get("reference")
    reference = scan if scan is not None else Path(given) if given else None
    if scan is None and summary.get("format") not in (None, "DICOM"):
        raise DicomSourceRequiredError(
            f"This case was planned on a {summary['format']} file, not a DICOM series, and a "
            "DICOM object must reference the DICOM images it lies on. Export the labels as "
            ".seg.nrrd (Slicer) instead, or plan the case from the DICOM series (on the "
            "command line, --scan names the DICOM series the file was made from)."
        )
    if reference is None:
        raise DicomSourceRequiredError(
            "This case does not say which DICOM series it was planned on. Give the series' "
            "folder (--scan), or export the labels as .seg.nrrd instead."
        )
    from lumboplan_app.io import ScanSource

    try:
        files = ScanSource(reference).files((case.scan or {}).get("series_id"))
        datasets: list[Dataset] = [dcmread(path, stop_before_pixels=True) for path in files]
    except (LoadError, OSError, InvalidDicomError) as error:
        raise DicomSourceRequiredError(
            "The DICOM series this case was planned on could not be read from "
            f"'{shown_text(Path(reference).name)}' ({error}). Give the series' folder (--scan), "
            "or export the labels as .seg.nrrd instead."
        ) from error
    if any(int(d.get("NumberOfFrames", 1) or 1) > 1 for d in datasets):
        raise ExportError(
            "The scan is an enhanced (multi-frame) DICOM file; LumboPlan writes DICOM SEG for "
            "single-frame series only. Export the labels as .seg.nrrd instead."
        )
    return datasets


def write_dicom_seg(
    case: CaseFile, path: Path, deidentify: bool = False, scan: Path | None = None
) -> None:
    """Write the case's labels as a DICOM SEG referencing its source series, atomically.

    Raises
    ------
    DicomSourceRequiredError
        If the case was not planned on a DICOM series, or the series is not found.
    ExportError
        If the labels do not lie on the series' pixels, or no structure is segmented.
    WriteError
        If the disk is full, read-only or not writable.
    """
    import highdicom as hd

    sources = source_series(case, scan)
    frames = np.stack([_labels_at_pixels(case.labels, source) for source in sources])
    present = set(np.unique(frames).tolist()) - {0}
    structures = [s for s in SEGMENTED_STRUCTURES if int(s) in present]
    if not structures:
        raise ExportError("The case has no segmented structure to export.")
    # Segment numbers run 1..N: structure ids when all are present, else renumbered in order.
    numbers = np.zeros(256, dtype=np.uint8)
    descriptions = []
    automatic = case.model is not None
    algorithm = (
        hd.AlgorithmIdentificationSequence(
            name="LumboPlan",
            family=hd.sr.CodedConcept("123109", "DCM", "Artificial Intelligence"),
            version=__version__,
        )
        if automatic
        else None
    )
    for number, structure in enumerate(structures, start=1):
        numbers[int(structure)] = number
        codes = STRUCTURE_CODES[structure]
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=structure.display_name,
                segmented_property_category=_coded(codes.category),
                segmented_property_type=_coded(codes.type),
                anatomic_regions=None if codes.region is None else [_coded(codes.region)],
                algorithm_type="AUTOMATIC" if automatic else "MANUAL",
                algorithm_identification=algorithm,
                display_color=hd.color.CIELabColor.from_rgb(*structure.colour_rgb),
            )
        )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=numbers[frames],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=_series_number(sources, 900),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="LumboPlan",
        manufacturer_model_name="LumboPlan",
        software_versions=__version__,
        device_serial_number="0",
        content_label="LUMBOPLAN",
        content_description="L5/S1 structures for PELD planning",
        series_description="LumboPlan segmentation",
    )
    if deidentify:
        deidentify_dataset(seg)
    write_dataset(seg, path)
    logger.info("wrote a DICOM SEG of %d segment(s) on %d frame(s)", len(structures), len(sources))


def write_encapsulated_report(
    case: CaseFile,
    path: Path,
    volume: Volume | None = None,
    deidentify: bool = False,
    progress: ProgressCallback | None = None,
    scan: Path | None = None,
) -> None:
    """Write the case's PDF report inside a DICOM Encapsulated PDF document, atomically.

    The document joins the source study when the case was planned on a DICOM series that can
    be read; otherwise it starts a new study with the case's patient identifiers.

    Raises
    ------
    PlanningError
        If the case holds no plan.
    WriteError
        If the disk is full, read-only or not writable.
    """
    from lumboplan_app.report.pdf import write_report

    with tempfile.TemporaryDirectory(prefix="lumboplan-report-") as folder:
        pdf_path = Path(folder) / "report.pdf"
        write_report(case, pdf_path, volume, deidentify, progress)
        pdf = pdf_path.read_bytes()
    try:
        sources: Sequence[Dataset] = source_series(case, scan)
    except ExportError:
        sources = []  # a report needs no images: it starts its own study
        logger.warning("the source series was not found: the report starts a study of its own")
    dataset = new_dataset(ENCAPSULATED_PDF_STORAGE, generate_uid())
    if sources:
        for keyword in _STUDY_ATTRIBUTES:
            setattr(dataset, keyword, sources[0].get(keyword, ""))
    else:
        patient = case.patient
        dataset.PatientName = "" if patient is None else patient.name
        dataset.PatientID = "" if patient is None else patient.patient_id
        dataset.PatientBirthDate = "" if patient is None else patient.birth_date
        dataset.PatientSex = "" if patient is None else patient.sex
        dataset.StudyInstanceUID = generate_uid()
        dataset.StudyDate = dataset.StudyTime = dataset.StudyID = ""
        dataset.AccessionNumber = dataset.ReferringPhysicianName = ""
    now = datetime.datetime.now()
    dataset.Modality = "DOC"
    dataset.SeriesInstanceUID = generate_uid()
    dataset.SeriesNumber = _series_number(sources, 901)
    dataset.SeriesDescription = "LumboPlan report"
    dataset.Manufacturer = "LumboPlan"
    dataset.SoftwareVersions = __version__
    dataset.ConversionType = "WSD"
    dataset.InstanceNumber = 1
    dataset.ContentDate = now.strftime("%Y%m%d")
    dataset.ContentTime = now.strftime("%H%M%S")
    dataset.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    dataset.BurnedInAnnotation = "NO" if deidentify else "YES"
    dataset.DocumentTitle = "LumboPlan PELD planning report L5/S1"
    dataset.ConceptNameCodeSequence = []
    dataset.MIMETypeOfEncapsulatedDocument = "application/pdf"
    dataset.EncapsulatedDocumentLength = len(pdf)
    dataset.EncapsulatedDocument = pdf + (b"\x00" if len(pdf) % 2 else b"")
    if deidentify:
        deidentify_dataset(dataset)
    write_dataset(dataset, path)


def deidentify_dataset(dataset: Dataset) -> None:
    """Empty the patient identifiers of ``dataset`` in place (:data:`IDENTIFYING_ATTRIBUTES`)."""
    for keyword in IDENTIFYING_ATTRIBUTES:
        if keyword in dataset:
            setattr(dataset, keyword, "")
    dataset.PatientIdentityRemoved = "YES"
    dataset.DeidentificationMethod = "LumboPlan: patient and study identifiers emptied"


def _labels_at_pixels(labels: LabelMap, source: Dataset) -> np.ndarray:
    """Return the (rows, columns) structure ids at the pixels of one source image."""
    try:
        position = np.asarray(source.ImagePositionPatient, dtype=np.float64)
        cosines = np.asarray(source.ImageOrientationPatient, dtype=np.float64)
        row_step, column_step = (float(v) for v in source.PixelSpacing)
        rows, columns = int(source.Rows), int(source.Columns)
    except (AttributeError, ValueError, TypeError) as error:
        raise ExportError(
            "An image of the series has no position, orientation or pixel spacing; a DICOM "
            "SEG cannot be placed on it. Export the labels as .seg.nrrd instead."
        ) from error
    grid = labels.grid
    origin = grid.lps_to_index(position[None, :])[0]
    along_row = grid.lps_to_index((position + column_step * cosines[:3])[None, :])[0] - origin
    along_column = grid.lps_to_index((position + row_step * cosines[3:])[None, :])[0] - origin
    index = (
        origin[None, None, :]
        + np.arange(rows)[:, None, None] * along_column[None, None, :]
        + np.arange(columns)[None, :, None] * along_row[None, None, :]
    )
    nearest = np.rint(index)
    inside = np.all((nearest >= 0) & (nearest < np.asarray(grid.shape_zyx)), axis=-1)
    if np.abs(index - nearest).max() > _GRID_TOLERANCE_VOX or not inside.all():
        raise ExportError(
            "The case's labels do not lie on the pixels of this DICOM series (another series "
            "or a resampled one). Choose the series the case was planned on."
        )
    z, y, x = nearest.astype(np.intp).transpose(2, 0, 1)
    return labels.array[z, y, x]


def _coded(code: Code) -> hd.sr.CodedConcept:
    import highdicom as hd

    return hd.sr.CodedConcept(code.value, code.scheme, code.meaning)


def _series_number(sources: Sequence[Dataset], offset: int) -> int:
    """Return a series number for a derived series: the source's plus ``offset``."""
    number = sources[0].get("SeriesNumber") if sources else None
    return offset + (int(number) if number not in (None, "") else 0)
