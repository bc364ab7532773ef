"""Export a case in the format its output's name ends with (``lumboplan export``, File > Export).

| ending | what is written |
|---|---|
| ``.seg.nrrd`` | the labels as a 3D Slicer segmentation (:mod:`.segnrrd`) |
| ``.dcm`` | the labels as DICOM SEG on the source series (:mod:`.dicom_objects`) |
| ``.pdf.dcm`` | the report as DICOM Encapsulated PDF (:mod:`.dicom_objects`) |
| ``.markups.json`` | the plan as Slicer markups (:mod:`.markups`) |
| ``.stl`` ``.ply`` ``.obj`` ``.vtp`` | one mesh per structure: ``<name>_<structure>.<ending>`` |

Everything is in patient LPS millimetres. ``deidentify`` empties the patient identifiers of the
DICOM objects and de-identifies the report; the other formats hold none.
"""

from __future__ import annotations

from pathlib import Path

from lumboplan_app.errors import ExportError
from lumboplan_app.progress import CancelCheck, ProgressCallback
from lumboplan_app.reconstruction.meshes import MESH_FORMATS
from lumboplan_app.session import CaseFile
from lumboplan_app.text import shown_text
from lumboplan_app.volume import Volume

#: Output endings and what each holds, longest ending first (``.pdf.dcm`` before ``.dcm``).
EXPORT_FORMATS: dict[str, str] = {
    ".seg.nrrd": "Slicer segmentation",
    ".markups.json": "Slicer markups (plan)",
    ".pdf.dcm": "DICOM Encapsulated PDF (report)",
    ".dcm": "DICOM SEG (labels)",
    **{f".{ending}": f"{ending.upper()} meshes" for ending in MESH_FORMATS},
}


def export_format(path: Path) -> str:
    """Return the export ending ``path`` names (a key of :data:`EXPORT_FORMATS`).

    Raises
    ------
    ExportError
        If the name ends with none of them.
    """
    name = path.name.lower()
    for ending in EXPORT_FORMATS:
        if name.endswith(ending) and len(name) > len(ending):
            return ending
    raise ExportError(
        f"'{shown_text(path.name)}' does not say what to export: end the name with one of "
        f"{', '.join(EXPORT_FORMATS)}."
    )


def export_case(
    case: CaseFile,
    output: Path,
    deidentify: bool = False,
    volume: Volume | None = None,
    scan: Path | None = None,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> list[Path]:
    """Export ``case`` into ``output`` in the format its ending names; return the files written.

    Parameters
    ----------
    case : CaseFile
        The case (labels, plan, channels, scan reference).
    output : Path
        The file to write; for meshes, the files are named after it, one per structure.
    deidentify : bool
        Leave the patient's identifiers out (DICOM objects and the report).
    volume : Volume, optional
        The scan, for the report's slice figures.
    scan : Path, optional
        The DICOM series' folder, when it has moved since planning.
    progress, should_cancel : callable, optional
        Progress (fraction 0..1, text) and cooperative cancel (meshes, report).

    Raises
    ------
    ExportError
        For an ending LumboPlan does not export, or a case that cannot be exported so (a DICOM
        SEG of a case planned on NIfTI raises its subclass DicomSourceRequiredError).
    PlanningError
        For the plan or report of a case that has no plan.
    WriteError
        If the disk is full, read-only or not writable.
    """
    ending = export_format(output)
    if progress is not None:
        progress(0.0, f"Exporting {EXPORT_FORMATS[ending]}")
    written = [output]
    if ending == ".seg.nrrd":
        from lumboplan_app.exchange.segnrrd import write_seg_nrrd

        write_seg_nrrd(case.labels, output)
    elif ending == ".markups.json":
        from lumboplan_app.exchange.markups import write_markups

        write_markups(case, output)
    elif ending == ".pdf.dcm":
        from lumboplan_app.exchange.dicom_objects import write_encapsulated_report

        write_encapsulated_report(case, output, volume, deidentify, progress, scan)
    elif ending == ".dcm":
        from lumboplan_app.exchange.dicom_objects import write_dicom_seg

        write_dicom_seg(case, output, deidentify, scan)
    else:
        written = _write_meshes(case, output, ending, should_cancel)
    if progress is not None:
        progress(1.0, "Exported")
    return written


def _write_meshes(
    case: CaseFile, output: Path, ending: str, should_cancel: CancelCheck | None
) -> list[Path]:
    """Write one mesh per structure as ``<output stem>_<structure><ending>`` beside ``output``."""
    from lumboplan_app.reconstruction.meshes import structure_meshes, write_meshes

    meshes = structure_meshes(case.labels, should_cancel=should_cancel)
    if not meshes:
        raise ExportError("The case has no segmented structure to export as meshes.")
    stem = output.name[: -len(ending)]
    return write_meshes(meshes, output.parent, ending[1:], prefix=f"{stem}_")
