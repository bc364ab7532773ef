"""Corrected cases as training data: ``lumboplan export-training`` (the site's learning loop).

Each case file (``.lumboplan``) whose labels are known to be right becomes a case folder of the
layout ``lumboplan train`` reads (:func:`lumboplan_app.segmentation.training.find_cases`)::

    DATA_DIR/site_<case key>/image.nii.gz    the scan, canonical LPS order (float32)
    DATA_DIR/site_<case key>/labels.nii.gz   its structure ids (DESIGN.md), on the same grid
    DATA_DIR/site_<case key>/export.json     what was exported; written last

**Which labels are taught as truth.** A model must not learn from unverified labels:

- a draft (a refused segmentation, :mod:`lumboplan_app.draft`) is exported only once every
  structure is confirmed; with any unconfirmed it is refused
  (:class:`~lumboplan_app.errors.UnverifiedLabelsError`), whatever the options. Unconfirmed
  structures are not written as "not labelled" (``partial_labels.nii.gz``): that coding takes a
  drawn L5 for the vertebral *body* (:mod:`lumboplan_app.segmentation.partial_labels`), and its
  anatomical exclusions around a whole L5 vertebra would forbid the nerves in the spinal canal;
- any other case (the model's accepted segmentation, labels opened from a file) carries no
  record that a person checked it: it is exported only with ``reviewed`` (``--reviewed``), the
  researcher's statement that its labels were reviewed.

**No identifiers.** A folder is named by the case key (a hash of the series UID that the case
file records, else of the scan read now), never by the case file's or the patient's name;
``export.json`` holds no name or path; NIfTI headers carry no DICOM identifiers.

**One scan, one folder.** Two case files of one scan in one export are refused (the scan would
sit on both sides of a cross-validation split); a rerun skips a case exported with the same
labels and rewrites one corrected since (resumable, idempotent). Every file is written
atomically, ``export.json`` last, so a case cut short is written again by the next run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lumboplan_app import __version__
from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.draft import Draft
from lumboplan_app.errors import (
    Cancelled,
    ExportError,
    LoadError,
    LumboPlanError,
    UnverifiedLabelsError,
)
from lumboplan_app.labels import Structure
from lumboplan_app.progress import CancelCheck, ProgressCallback
from lumboplan_app.session import CaseFile, read_case
from lumboplan_app.text import shown_text
from lumboplan_app.volume import LabelMap

logger = logging.getLogger(__name__)

TRAINING_CASE_SCHEMA = "lumboplan.training-case/1"
RECORD_FILE = "export.json"
IMAGE_FILE = "image.nii.gz"
LABELS_FILE = "labels.nii.gz"
#: Folder names: this prefix and the case key (phantoms are ``case_NNNNN``: never the same).
FOLDER_PREFIX = "site_"
#: How the labels were verified, as ``export.json`` records it.
CONFIRMED_DRAFT = "every structure confirmed in the Review tab"
REVIEWED = "reviewed by hand (--reviewed)"


@dataclass
class TrainingExport:
    """What an export did, by case file name.

    ``written`` and ``updated`` (labels changed since the last export) give the folder name,
    ``unchanged`` the folder already holding the same labels, ``failed`` the reason.
    """

    written: dict[str, str] = field(default_factory=dict)
    updated: dict[str, str] = field(default_factory=dict)
    unchanged: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def labels_verification(case: CaseFile, name: str, reviewed: bool = False) -> str:
    """Return how ``case``'s labels were verified (:data:`CONFIRMED_DRAFT` or :data:`REVIEWED`).

    ``name`` is the case file's name, for the message; ``reviewed``: the researcher states that
    the labels of cases that are no draft were reviewed.

    Raises
    ------
    UnverifiedLabelsError
        If the labels are a draft with structures not confirmed, or no draft and not
        ``reviewed``.
    """
    if case.draft is not None:
        unconfirmed = Draft.from_json(case.draft).unconfirmed
        if not unconfirmed:
            return CONFIRMED_DRAFT
        names = ", ".join(s.display_name for s in unconfirmed)
        raise UnverifiedLabelsError(
            f"'{name}': its labels are an unverified draft ({names} not confirmed), and a "
            "model must not learn from unverified labels. Open the case, correct and confirm "
            "each structure in the Review tab, save it, and export again."
        )
    if not reviewed:
        raise UnverifiedLabelsError(
            f"'{name}': nothing records that a person checked its labels (only a draft's "
            "confirmations are recorded), and a model must not learn from unverified labels. "
            "If you reviewed them, export again with --reviewed."
        )
    return REVIEWED


def labels_digest(labels: LabelMap) -> str:
    """Return the SHA-256 of a label map's ids and shape (hex): equal for equal labels."""
    digest = hashlib.sha256(repr(labels.array.shape).encode("ascii"))
    digest.update(labels.array.tobytes(order="C"))
    return digest.hexdigest()


def export_training_cases(
    cases: list[Path],
    output: Path,
    reviewed: bool = False,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> TrainingExport:
    """Export each case file of ``cases`` into ``output``/site_<case key>/ (see the module).

    A case that cannot be exported is listed in the result's ``failed`` with the reason, and
    the others go on.

    Parameters
    ----------
    cases : list of Path
        ``.lumboplan`` case files.
    output : Path
        The training data folder (``lumboplan train``'s DATA_DIR); created if needed.
    reviewed : bool
        The labels of cases that are no draft were reviewed by hand: export them too.
    progress, should_cancel : callable, optional
        Progress (fraction 0..1, text) and cooperative cancel, between cases.

    Raises
    ------
    ExportError
        If ``output`` exists and is not a folder.
    Cancelled
        If ``should_cancel`` returns True; the cases finished are kept.
    """
    if output.exists() and not output.is_dir():
        raise ExportError(
            f"'{shown_text(output.name)}' is a file: give a folder for the training cases."
        )
    result = TrainingExport()
    taken: dict[str, str] = {}  # case key -> the case file exported to it in this run
    for index, path in enumerate(cases):
        if should_cancel is not None and should_cancel():
            raise Cancelled("Export stopped; the cases exported so far are kept.")
        name = shown_text(path.name)
        if progress is not None:
            progress(index / len(cases), f"case {index + 1} of {len(cases)}")
        try:
            status, key = _export_case(path, name, output, reviewed, taken)
        except LumboPlanError as error:
            result.failed[name] = str(error)
            continue
        taken[key] = name
        getattr(result, status)[name] = FOLDER_PREFIX + key
    if progress is not None:
        progress(1.0, "Training cases exported")
    logger.info(
        "training cases: %d written, %d updated, %d unchanged, %d not exported",
        len(result.written),
        len(result.updated),
        len(result.unchanged),
        len(result.failed),
    )
    return result


def _export_case(
    path: Path, name: str, output: Path, reviewed: bool, taken: dict[str, str]
) -> tuple[str, str]:
    """Export one case file; return its status (written, updated, unchanged) and case key."""
    from lumboplan_app.io import read_scan, write_image

    case = read_case(path)
    verification = labels_verification(case, name, reviewed)
    highest = int(case.labels.array.max(initial=0))
    if highest > max(Structure):
        raise ExportError(
            f"'{name}': its labels hold the value {highest}, which is no structure; open the "
            "case, correct the labels and save it."
        )
    digest = labels_digest(case.labels)
    key = (case.scan.get("summary") or {}).get("case_key") or None
    if key is not None and _unchanged(name, output, key, digest, taken):
        return "unchanged", key
    reference = case.scan.get("reference")
    if not reference:
        raise ExportError(f"'{name}' names no scan; open it in the window with its scan and save.")
    try:
        volume = read_scan(Path(reference), series=case.scan.get("series_id"))
    except LoadError as error:
        raise ExportError(
            f"The scan of '{name}' could not be read ({error}); open the case in the window, "
            "show it where the scan is now, save it, and export again."
        ) from error
    if not case.labels.grid.matches(volume.grid, tolerance_mm=1e-2):
        raise ExportError(
            f"'{name}': its labels do not lie on the voxels of the scan it references; the "
            "scan there is not the one the case was made on."
        )
    if key is None:
        key = volume.meta.case_key
        if _unchanged(name, output, key, digest, taken):
            return "unchanged", key
    folder = output / (FOLDER_PREFIX + key)
    existed = (folder / RECORD_FILE).is_file()
    write_image(volume, folder / IMAGE_FILE)
    write_image(LabelMap(case.labels.array, volume.grid), folder / LABELS_FILE)
    record = {
        "schema": TRAINING_CASE_SCHEMA,
        "case_key": key,
        "labels_sha256": digest,
        "labels_verified": verification,
        "structures": [Structure(i).name.lower() for i in case.labels.present_ids() if i],
        "corrected_by_hand": None
        if case.draft is None
        else Draft.from_json(case.draft).to_json()["corrected"],
        "segmented_by": case.model,
        "case_saved": case.saved or None,
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "software": {"name": "LumboPlan", "version": __version__},
    }
    write_text_atomic(folder / RECORD_FILE, json.dumps(record, indent=2) + "\n")
    logger.info("case %s exported for training", key)
    return ("updated" if existed else "written"), key


def _unchanged(name: str, output: Path, key: str, digest: str, taken: dict[str, str]) -> bool:
    """Whether ``output``'s folder of ``key`` holds these labels already (a finished export).

    Raises
    ------
    ExportError
        If another case file of this run was exported to that folder (the same scan).
    """
    if key in taken:
        raise ExportError(
            f"'{name}' is a case of the same scan as '{taken[key]}' (case key {key}): export "
            "only one of them, the one whose labels are right, so that no scan is trained on "
            "twice."
        )
    folder = output / (FOLDER_PREFIX + key)
    return (
        _record(folder).get("labels_sha256") == digest
        and (folder / IMAGE_FILE).is_file()
        and (folder / LABELS_FILE).is_file()
    )


def _record(folder: Path) -> dict[str, Any]:
    """Return a case folder's ``export.json`` ({} when missing or unreadable: export again)."""
    try:
        record = json.loads((folder / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
