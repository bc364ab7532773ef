"""A case on disk: the ``.lumboplan`` file (DESIGN.md, "Data contracts"; docs/case-file.md).

A case file is a ZIP container written atomically, so a crash never leaves a half-written case:

- ``case.json``: ``{"schema": "lumboplan.case/1", "software": ..., "saved": ISO time,
  "scan": {reference, summary}, "patient": {...} | null, "channels": {side: channel | null},
  "landmark_edits": {...}, "model": {...} | null}``;
- ``labels.nii.gz``: the structure label map on the scan's grid (the one the plan rests on);
- ``parts.nii.gz`` (optional): the part map the planner derived from it;
- ``plan.json``: the plan JSON (``lumboplan.plan/1``).

The scan itself is referenced (its path as given and a summary to check it against on reopening),
not copied. ``patient`` holds the DICOM identifiers for the report's case block only; it is
never logged. Older case schemas keep loading: :func:`read_case` upgrades them in one place.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lumboplan_app import __version__
from lumboplan_app.atomic import atomic_output
from lumboplan_app.errors import CorruptFileError, LoadError
from lumboplan_app.labels import Side
from lumboplan_app.planning.channel import Channel
from lumboplan_app.planning.plan import CasePlan
from lumboplan_app.volume import LabelMap, PatientInfo, Volume

CASE_SCHEMA = "lumboplan.case/1"
CASE_SUFFIX = ".lumboplan"
_KNOWN_SCHEMAS = (CASE_SCHEMA,)


@dataclass
class CaseFile:
    """Everything a saved case holds.

    Parameters
    ----------
    labels : LabelMap
        Structure ids on the scan's grid.
    plan : dict
        The plan JSON (``lumboplan.plan/1``).
    parts : LabelMap or None
        The part ids the planner derived from ``labels`` (for the report's figures and the 3-D
        view's highlights), if known.
    scan : dict
        ``reference`` (the scan's path as given, or None) and ``summary`` (series description,
        modality, size, spacing, study date; no identifiers).
    channels : dict
        Per side, the channel the surgeon left (tip and axis in LPS mm, diameter, length) or None.
    patient : PatientInfo or None
        Identifiers for the report; None when the scan had none.
    landmark_edits : dict
        Landmarks the surgeon moved (LPS mm), by name.
    model : dict or None
        The model that segmented the labels (name, version, SHA-256) or None for given labels.
    """

    labels: LabelMap
    plan: dict[str, Any]
    parts: LabelMap | None = None
    scan: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    patient: PatientInfo | None = None
    landmark_edits: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    saved: str = ""


def scan_summary(volume: Volume) -> dict[str, Any]:
    """Describe a scan for the case file and the report, without identifiers."""
    meta, grid = volume.meta, volume.grid
    return {
        "format": meta.source_format,
        "modality": meta.modality,
        "series_description": meta.series_description,
        "study_date": meta.study_date,
        "manufacturer": meta.manufacturer,
        "size_xyz": list(grid.shape_zyx[::-1]),
        "spacing_xyz_mm": [round(s, 4) for s in grid.spacing_xyz_mm],
        "case_key": meta.case_key,
        "warnings": list(meta.warnings),
    }


def channel_json(channel: Channel | None) -> dict[str, Any] | None:
    """Return a channel's JSON form (tip and unit axis in LPS mm, diameter, length)."""
    if channel is None:
        return None
    return {
        "tip_lps_mm": [round(v, 3) for v in channel.tip_lps_mm],
        "axis": [round(float(v), 6) for v in channel.axis],
        "diameter_mm": channel.diameter_mm,
        "length_mm": channel.length_mm,
    }


def channel_from_json(entry: dict[str, Any] | None) -> Channel | None:
    """Return the channel a :func:`channel_json` entry describes (None for None)."""
    if entry is None:
        return None
    x, y, z = (float(v) for v in entry["tip_lps_mm"])
    dx, dy, dz = (float(v) for v in entry["axis"])
    return Channel((x, y, z), (dx, dy, dz), float(entry["diameter_mm"]), float(entry["length_mm"]))


def case_from_plan(
    plan: CasePlan,
    labels: LabelMap,
    volume: Volume | None = None,
    scan_reference: str | None = None,
    model: dict[str, Any] | None = None,
) -> CaseFile:
    """Build a case from a fresh plan: each side's channel starts at the paper's placement."""
    has_patient = volume is not None and any(
        (volume.meta.patient.name, volume.meta.patient.patient_id, volume.meta.patient.birth_date)
    )
    return CaseFile(
        labels=labels,
        plan=plan.to_json(),
        parts=plan.parts,
        scan={
            "reference": scan_reference,
            "summary": None if volume is None else scan_summary(volume),
        },
        channels={side.value: channel_json(plan.sides[side].channel) for side in Side},
        patient=volume.meta.patient if has_patient and volume is not None else None,
        model=model,
    )


def write_case(case: CaseFile, path: Path) -> None:
    """Write ``case`` to ``path`` (a ``.lumboplan`` ZIP) atomically."""
    from lumboplan_app.io import write_image

    saved = datetime.now(timezone.utc).isoformat(timespec="seconds")
    patient = case.patient
    document = {
        "schema": CASE_SCHEMA,
        "software": {"name": "LumboPlan", "version": __version__},
        "saved": saved,
        "scan": case.scan,
        "patient": None
        if patient is None
        else {
            "name": patient.name,
            "patient_id": patient.patient_id,
            "birth_date": patient.birth_date,
            "sex": patient.sex,
        },
        "channels": case.channels,
        "landmark_edits": case.landmark_edits,
        "model": case.model,
    }
    with tempfile.TemporaryDirectory(prefix="lumboplan-case-") as folder:
        images = {"labels.nii.gz": case.labels, "parts.nii.gz": case.parts}
        with atomic_output(path) as temporary, zipfile.ZipFile(temporary, "w") as archive:
            archive.writestr("case.json", json.dumps(document, indent=2))
            archive.writestr("plan.json", json.dumps(case.plan, indent=2))
            for name, image in images.items():
                if image is not None:
                    written = Path(folder) / name
                    write_image(image, written)
                    archive.write(written, name, compress_type=zipfile.ZIP_STORED)
    case.saved = saved


def read_case(path: Path) -> CaseFile:
    """Read a ``.lumboplan`` file.

    Raises
    ------
    LoadError
        If the file is missing, not a case file, damaged, or from a newer LumboPlan.
    """
    from lumboplan_app.io import read_label_map

    if not path.is_file():
        raise LoadError(f"The case file '{path.name}' does not exist.")
    try:
        with zipfile.ZipFile(path) as archive:
            document = json.loads(archive.read("case.json"))
            plan = json.loads(archive.read("plan.json"))
            names = set(archive.namelist())
            with tempfile.TemporaryDirectory(prefix="lumboplan-case-") as folder:
                maps = {}
                for name in ("labels.nii.gz", "parts.nii.gz"):
                    if name in names or name == "labels.nii.gz":
                        member = Path(folder) / name
                        member.write_bytes(archive.read(name))
                        maps[name] = read_label_map(member)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError) as error:
        raise CorruptFileError(
            f"'{path.name}' is not a readable LumboPlan case (damaged or another kind of file). "
            "Open an autosaved or earlier copy, or plan the scan again."
        ) from error
    schema = document.get("schema")
    if schema not in _KNOWN_SCHEMAS:
        raise LoadError(
            f"'{path.name}' was saved as '{schema}', which this LumboPlan ({__version__}) does "
            "not know. Open it with the LumboPlan version that saved it, or a newer one."
        )
    patient = document.get("patient")
    return CaseFile(
        labels=maps["labels.nii.gz"],
        plan=plan,
        parts=maps.get("parts.nii.gz"),
        scan=document.get("scan", {}),
        channels=document.get("channels", {}),
        patient=None if patient is None else PatientInfo(**patient),
        landmark_edits=document.get("landmark_edits", {}),
        model=document.get("model"),
        saved=document.get("saved", ""),
    )
