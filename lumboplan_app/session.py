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
import math
import os
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from lumboplan_app import __version__
from lumboplan_app.atomic import IncompleteFileError, atomic_output, verify_stream
from lumboplan_app.draft import Draft
from lumboplan_app.errors import DamagedCaseError, LoadError, NotAnImageError
from lumboplan_app.io.files import open_regular
from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.channel import Channel
from lumboplan_app.planning.plan import PLAN_SCHEMA, CasePlan
from lumboplan_app.text import shown_text
from lumboplan_app.volume import LabelMap, PatientInfo, Volume

CASE_SCHEMA = "lumboplan.case/1"
CASE_SUFFIX = ".lumboplan"
_KNOWN_SCHEMAS = (CASE_SCHEMA,)
#: Most bytes case.json or plan.json may inflate to (a plan with its maps is well under 1 MB).
JSON_LIMIT_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024
#: Folders of devices and kernel files: never a scan, and reading them can block or never end.
_SYSTEM_FOLDERS = (Path("/dev"), Path("/proc"), Path("/sys"))
_PATIENT_KEYS = ("name", "patient_id", "birth_date", "sex")
_GROUPS = ("A", "B", "not_assessable")


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
    draft : dict or None
        While the labels are an unverified draft: why they were refused and which structures
        failed, were confirmed or were corrected (:meth:`Draft.to_json`); None otherwise.
    """

    labels: LabelMap
    plan: dict[str, Any]
    parts: LabelMap | None = None
    scan: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    patient: PatientInfo | None = None
    landmark_edits: dict[str, Any] = field(default_factory=dict)
    model: dict[str, Any] | None = None
    draft: dict[str, Any] | None = None
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
    draft: Draft | None = None,
) -> CaseFile:
    """Build a case from a fresh plan: each side's channel starts at the paper's placement.

    ``draft``: the labels are an unverified draft (its record goes with the case).
    """
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
        draft=None if draft is None else draft.to_json(),
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
        "draft": case.draft,
    }
    images = {"labels.nii.gz": case.labels, "parts.nii.gz": case.parts}
    # The label maps are written beside the case first: one disk, so a full one is named right.
    with (
        atomic_output(path) as temporary,
        tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as folder,
        zipfile.ZipFile(temporary, "w") as archive,
    ):
        archive.writestr("case.json", json.dumps(document, indent=2))
        archive.writestr("plan.json", json.dumps(case.plan, indent=2))
        for name, image in images.items():
            if image is not None:
                written = Path(folder) / name
                write_image(image, written)
                archive.write(written, name, compress_type=zipfile.ZIP_STORED)
    case.saved = saved


def read_case(path: Path) -> CaseFile:
    """Read a ``.lumboplan`` file, checking every entry before it is used.

    Each entry is read with a cap (a ZIP bomb is refused before it inflates), the JSON is
    checked value by value, and the labels' declared size before they are read.

    Raises
    ------
    DamagedCaseError
        If the file is damaged or altered: an entry missing, too large, not valid JSON or
        holding values of the wrong kind, or a scan reference that names a device or a pipe.
    LoadError
        If the file is missing, not a regular file, unreadable, or from a newer LumboPlan.
    """
    from lumboplan_app.io import read_label_map

    name = shown_text(path.name)
    try:
        with _open_regular(path, name) as handle, zipfile.ZipFile(handle) as archive:
            document = _json_entry(archive, "case.json")
            plan = _json_entry(archive, "plan.json")
            fields = _case_fields(document, plan, name)
            limit = _label_bytes_limit(fields["scan"])
            with tempfile.TemporaryDirectory(prefix="lumboplan-case-") as folder:
                maps = {}
                for entry in ("labels.nii.gz", "parts.nii.gz"):
                    if entry in archive.namelist() or entry == "labels.nii.gz":
                        member = Path(folder) / entry
                        _extract(archive, entry, member, limit)
                        try:
                            maps[entry] = read_label_map(member)
                        except LoadError as error:
                            raise _Invalid(f"its {entry} is not a usable label map") from error
    except _Invalid as error:
        raise _damaged(name, str(error)) from error
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as error:
        raise _damaged(
            name, f"it is not an intact ZIP container ({type(error).__name__})"
        ) from error
    except OSError as error:
        raise LoadError(
            f"The case file '{name}' could not be read ({error.strerror or 'I/O error'})."
        ) from error
    return CaseFile(labels=maps["labels.nii.gz"], parts=maps.get("parts.nii.gz"), **fields)


class _Invalid(ValueError):
    """What is wrong with a case file's content, as a clause about it ("its plan.json is ...")."""


def _damaged(name: str, what: str) -> DamagedCaseError:
    return DamagedCaseError(
        f"'{name}' is not a readable LumboPlan case: {what}. Open an autosaved or earlier copy, "
        "or plan the scan again."
    )


def _open_regular(path: Path, name: str) -> IO[bytes]:
    """Open the case file ``path`` if it is a regular file (a pipe or a device never blocks)."""
    if not path.exists() and not path.is_symlink():
        raise LoadError(f"The case file '{name}' does not exist.")
    try:
        return open_regular(path)
    except NotAnImageError as error:
        raise LoadError(
            f"'{name}' is not a regular file (a folder, a pipe or a device); choose a saved "
            "case file."
        ) from error


def _entry_info(archive: zipfile.ZipFile, entry: str, limit: int) -> zipfile.ZipInfo:
    """Return an entry's record; refuse it if missing or declared larger than ``limit``."""
    try:
        info = archive.getinfo(entry)
    except KeyError:
        raise _Invalid(f"it has no {entry}") from None
    if info.file_size > limit:
        raise _Invalid(f"its {entry} would inflate to {info.file_size} bytes, far more than a case")
    return info


def _json_entry(archive: zipfile.ZipFile, entry: str) -> Any:
    """Return the JSON document of an entry, read with a cap of :data:`JSON_LIMIT_BYTES`."""
    with archive.open(_entry_info(archive, entry, JSON_LIMIT_BYTES)) as stream:
        data = stream.read(JSON_LIMIT_BYTES + 1)
    if len(data) > JSON_LIMIT_BYTES:
        raise _Invalid(f"its {entry} inflates to more than {JSON_LIMIT_BYTES} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise _Invalid(f"its {entry} is not UTF-8 text") from None
    except RecursionError:
        raise _Invalid(f"its {entry} is nested too deeply") from None
    except json.JSONDecodeError as error:
        raise _Invalid(
            f"its {entry} is not valid JSON ({error.msg}, line {error.lineno})"
        ) from None
    except ValueError:
        raise _Invalid(f"its {entry} is not valid JSON") from None


def _label_bytes_limit(scan: dict[str, Any]) -> int:
    """Return the most voxel bytes the labels may declare: 2 per voxel of the scan, if known."""
    from lumboplan_app.io.checks import MAX_VOXELS

    size = (scan.get("summary") or {}).get("size_xyz")
    return 2 * (math.prod(size) if size else MAX_VOXELS)


def _extract(archive: zipfile.ZipFile, entry: str, target: Path, limit: int) -> None:
    """Copy a label map entry to ``target`` after checking it, never inflating past a cap.

    The entry (a ``.nii.gz``) is checked first as it streams: its header must declare at most
    ``limit`` voxel bytes, and its gzip stream must hold exactly those (inflated in chunks).
    """
    stored_limit = limit + limit // 100 + 64 * 1024  # gzip of incompressible data, and header
    info = _entry_info(archive, entry, stored_limit)
    try:
        with archive.open(info) as stream:
            verify_stream(stream, entry, limit)
    except IncompleteFileError as error:
        raise _Invalid(f"its {entry} is not a complete label map ({error})") from None
    copied = 0
    with archive.open(info) as stream, target.open("wb") as output:
        while chunk := stream.read(_CHUNK):
            copied += len(chunk)
            if copied > stored_limit:
                raise _Invalid(f"its {entry} is larger than a label map of this scan")
            output.write(chunk)


def _case_fields(document: Any, plan: Any, name: str) -> dict[str, Any]:
    """Return the :class:`CaseFile` fields of case.json and plan.json, each value checked."""
    _object(document, "case.json")
    schema = document.get("schema")
    if not isinstance(schema, str):
        raise _Invalid("its case.json names no schema")
    if schema not in _KNOWN_SCHEMAS:
        raise LoadError(
            f"'{name}' was saved as '{shown_text(schema)}', which this LumboPlan ({__version__}) "
            "does not know. Open it with the LumboPlan version that saved it, or a newer one."
        )
    scan = _object(document.get("scan", {}), "scan")
    _reference(scan.get("reference"))
    _optional_text(scan.get("series_id"), "scan.series_id")
    summary = scan.get("summary")
    if summary is not None:
        _summary(_object(summary, "scan.summary"))
    patient = document.get("patient")
    if patient is not None:
        _object(patient, "patient")
        for key, value in patient.items():
            if key not in _PATIENT_KEYS or not isinstance(value, str):
                raise _Invalid("its patient entry is not names and dates")
    channels = _object(document.get("channels", {}), "channels")
    for side, entry in channels.items():
        if side not in _SIDES:
            raise _Invalid(f"its channels name a side '{shown_text(str(side))}'")
        if entry is not None:
            _channel(_object(entry, f"channels.{side}"), f"channels.{side}")
    model = document.get("model")
    if model is not None:
        _object(model, "model")
        for key in ("file", "sha256"):
            _optional_text(model.get(key, ""), f"model.{key}", none=False)
        _optional_text(model.get("training_data"), "model.training_data")
    draft = document.get("draft")
    if draft is not None:
        try:
            Draft.from_json(_object(draft, "draft"))
        except (ValueError, TypeError, AttributeError) as error:
            raise _Invalid("its draft entry is not a draft's record") from error
    saved = document.get("saved", "")
    _optional_text(saved, "saved", none=False)
    _plan(_object(plan, "plan.json"))
    return {
        "plan": plan,
        "scan": scan,
        "channels": channels,
        "patient": None if patient is None else PatientInfo(**patient),
        "landmark_edits": _object(document.get("landmark_edits", {}), "landmark_edits"),
        "model": model,
        "draft": draft,
        "saved": saved,
    }


_SIDES = tuple(side.value for side in Side)
_JSON_TYPES = {dict: "an object", list: "a list", str: "text", bool: "true or false"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return _JSON_TYPES.get(type(value), "a number")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"its {where} is {_kind(value)}, not an object")
    return value


def _optional_text(value: Any, where: str, none: bool = True) -> None:
    if not (isinstance(value, str) or (none and value is None)):
        raise _Invalid(f"its {where} is {_kind(value)}, not text")


def _number(value: Any, where: str, none: bool = False) -> None:
    if none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Invalid(f"its {where} is {_kind(value)}, not a number")
    if (isinstance(value, int) and abs(value) > 2**53) or not math.isfinite(value):
        raise _Invalid(f"its {where} is not a finite number")


def _numbers(value: Any, where: str, count: int | None = 3) -> list[Any]:
    if not isinstance(value, list) or (count is not None and len(value) != count):
        raise _Invalid(f"its {where} is not a list of {count or 'some'} numbers")
    for item in value:
        _number(item, where)
    return value


def _reference(reference: Any) -> None:
    """Check the scan reference: a path (or null) that names no device, pipe or system folder."""
    _optional_text(reference, "scan.reference")
    if reference is None:
        return
    if "\x00" in reference or len(reference) > 4096:
        raise _Invalid("its scan reference is not a path")
    try:
        mode = Path(reference).stat().st_mode
    except OSError:
        return  # not there (a moved scan): asked for when the case is opened
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise _Invalid("its scan reference names a device or a pipe, not a regular file")
    if os.name == "posix":
        resolved = Path(reference).resolve()
        if any(resolved == f or f in resolved.parents for f in _SYSTEM_FOLDERS):
            raise _Invalid("its scan reference names a system folder of devices, not a scan")


def _summary(summary: dict[str, Any]) -> None:
    for key in ("format", "modality", "series_description", "study_date", "case_key"):
        _optional_text(summary.get(key), f"scan.summary.{key}")
    _optional_text(summary.get("manufacturer"), "scan.summary.manufacturer")
    size = summary.get("size_xyz")
    if size is not None:
        _numbers(size, "scan.summary.size_xyz")
        if not all(isinstance(n, int) and 0 < n <= 2**20 for n in size):
            raise _Invalid("its scan.summary.size_xyz is not three voxel counts")
    if summary.get("spacing_xyz_mm") is not None:
        _numbers(summary["spacing_xyz_mm"], "scan.summary.spacing_xyz_mm")
    warnings = summary.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise _Invalid("its scan.summary.warnings is not a list of text")


def _channel(entry: dict[str, Any], where: str) -> None:
    _numbers(entry.get("tip_lps_mm"), f"{where}.tip_lps_mm")
    _numbers(entry.get("axis"), f"{where}.axis")
    for key in ("diameter_mm", "length_mm"):
        _number(entry.get(key), f"{where}.{key}")


def _plan(plan: dict[str, Any]) -> None:
    """Check a plan JSON as the report and the window read it (``{}``: not planned yet)."""
    if not plan:
        return
    if plan.get("schema") != PLAN_SCHEMA:
        raise _Invalid(f"its plan.json is not a {PLAN_SCHEMA} plan")
    channel = _object(plan.get("channel"), "plan.json channel")
    for key in ("diameter_mm", "length_mm"):
        _number(channel.get(key), f"plan.json channel.{key}")
    for plane_name, plane in _object(plan.get("planes", {}), "plan.json planes").items():
        for key, values in _object(plane, f"plan.json plane {plane_name}").items():
            _numbers(values, f"plan.json plane {shown_text(str(plane_name))}.{key}")
    sides = _object(plan.get("sides"), "plan.json sides")
    for side in _SIDES:
        _side_entry(_object(sides.get(side), f"plan.json {side} side"), f"plan.json {side} side")


def _side_entry(entry: dict[str, Any], where: str) -> None:
    if entry.get("group") not in _GROUPS:
        raise _Invalid(f"its {where} has no group A, B or not_assessable")
    reasons = entry.get("reasons")
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise _Invalid(f"its {where} reasons are not a list of text")
    for key in ("alpha_deg", "beta_deg", "line_a_mm", "line_b_mm"):
        _number(entry.get(key), f"{where} {key}", none=True)
    contacts = entry.get("contacts")
    if not isinstance(contacts, list):
        raise _Invalid(f"its {where} contacts are not a list")
    for contact in contacts:
        part = _object(contact, f"{where} contact").get("part")
        if not isinstance(part, str) or part.upper() not in Part.__members__:
            raise _Invalid(f"its {where} names a part LumboPlan does not know")
        _number(contact.get("clearance_mm"), f"{where} clearance_mm")
    points = _object(entry.get("points_lps_mm"), f"{where} points_lps_mm")
    for key, point in points.items():
        if point is not None:
            _numbers(point, f"{where} point {shown_text(str(key))}")
    best = entry.get("best_free")
    if best is not None:
        for key in ("alpha_deg", "beta_deg", "min_clearance_mm"):
            _number(_object(best, f"{where} best_free").get(key), f"{where} best_free {key}")
    found = entry.get("feasibility_map")
    if found:
        _object(found, f"{where} feasibility_map")
        _number(found.get("margin_mm", 0.0), f"{where} feasibility_map margin_mm")
        alphas = _numbers(found.get("alphas_deg"), f"{where} feasibility_map alphas", None)
        betas = _numbers(found.get("betas_deg"), f"{where} feasibility_map betas", None)
        rows = found.get("smallest_clearance_mm")
        if (
            len(alphas) < 2
            or len(betas) < 2
            or not isinstance(rows, list)
            or len(rows) != len(alphas)
        ):
            raise _Invalid(f"its {where} feasibility_map is not a grid of poses")
        for row in rows:
            _numbers(row, f"{where} feasibility_map clearances", len(betas))
        for key, poses in (("free", "free poses"), ("leaves_scan", "poses leaving the scan")):
            flags = found.get(key)
            if flags is not None and (
                not isinstance(flags, list)
                or len(flags) != len(alphas)
                or not all(
                    isinstance(row, list)
                    and len(row) == len(betas)
                    and all(isinstance(value, bool) for value in row)
                    for row in flags
                )
            ):
                raise _Invalid(f"its {where} feasibility_map {poses} are not a grid of true/false")
