"""Scan to report in one call, and cohorts of scans: ``lumboplan run`` and ``lumboplan batch``.

:func:`run_case` reads the scan, takes the given labels or segments it, writes the labels (and,
when segmented, each structure's confidence, ``confidence.json``), one mesh per structure, the
case file, the plan JSON and the PDF report into one folder, and returns what each stage took.
:func:`run_batch` does that for every case of a cohort folder in worker
processes: a case whose ``done.json`` exists is skipped (a rerun resumes), a case that fails
leaves ``error.txt`` with the reason and the batch goes on, and ``foramina.csv`` (one row per
foramen) and ``failures.csv`` are rebuilt from the case folders at the end. A worker process
killed from outside (out of memory) breaks the pool: the cohort stops with a typed error that
says how many cases finished, and a rerun resumes. :func:`run_cases` is that machinery for
any per-case work (``lumboplan validate`` uses it too).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.errors import LumboPlanError
from lumboplan_app.labels import Structure
from lumboplan_app.logs import configure_logging
from lumboplan_app.progress import ProgressCallback

logger = logging.getLogger(__name__)

DONE_FILE = "done.json"
#: Beside the labels the model made: each structure's mirror agreement (0-1).
CONFIDENCE_FILE = "confidence.json"
ERROR_FILE = "error.txt"
FORAMINA_CSV = "foramina.csv"
FAILURES_CSV = "failures.csv"
_SCAN_NAMES = ("image.nii.gz", "image.nii", "image.nrrd", "image.mha")
FORAMEN_COLUMNS = (
    "case",
    "side",
    "group",
    "reasons",
    "alpha_deg",
    "beta_deg",
    "line_a_mm",
    "line_b_mm",
    "best_free_alpha_deg",
    "best_free_beta_deg",
    "best_free_clearance_mm",
    "clearances",
)


@dataclass(frozen=True)
class RunOptions:
    """How a case is run: given labels or the model, de-identified report or not."""

    labels: Path | None = None
    weights: Path | None = None
    device: str = "auto"
    series: str | None = None
    deidentify: bool = False
    mesh_format: str = "stl"


@dataclass
class RunResult:
    """What a run wrote and how long each stage took (seconds)."""

    folder: Path
    plan: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def run_case(
    scan: Path,
    output: Path,
    options: RunOptions = RunOptions(),
    progress: ProgressCallback | None = None,
) -> RunResult:
    """Run one scan to its report; write everything into ``output``.

    Raises
    ------
    LumboPlanError
        For a scan that cannot be read or segmented, labels that do not fit it, a missing model.
    """
    from lumboplan_app.io import read_label_map, read_scan, write_image
    from lumboplan_app.planning.plan import plan_from_labels
    from lumboplan_app.reconstruction.meshes import structure_meshes, write_meshes
    from lumboplan_app.report.pdf import write_report
    from lumboplan_app.session import case_from_plan, write_case

    seconds: dict[str, float] = {}

    def stage(name: str, fraction: float) -> Callable[[], None]:
        start = time.perf_counter()
        if progress is not None:
            progress(fraction, name)

        def done() -> None:
            seconds[name] = time.perf_counter() - start

        return done

    finished = stage("read", 0.0)
    volume = read_scan(scan, series=options.series)
    finished()
    finished = stage("segment", 0.1)
    model = None
    if options.labels is not None:
        labels = read_label_map(options.labels, reference=volume.grid)
    else:
        from lumboplan_app.segmentation.inference import Segmenter
        from lumboplan_app.segmentation.model_card import case_record

        segmenter = Segmenter(options.weights, device=options.device)
        labels, confidence = segmenter.segment_with_confidence(volume)
        model = case_record(segmenter.weights, segmenter.card)
        output.mkdir(parents=True, exist_ok=True)
        write_text_atomic(output / CONFIDENCE_FILE, confidence_json(confidence))
    output.mkdir(parents=True, exist_ok=True)
    write_image(labels, output / "labels.nii.gz")
    finished()
    finished = stage("mesh", 0.4)
    write_meshes(structure_meshes(labels), output / "meshes", options.mesh_format)
    finished()
    finished = stage("plan", 0.5)
    plan = plan_from_labels(labels)
    case = case_from_plan(plan, labels, volume, str(scan), model)
    write_case(case, output / "case.lumboplan")
    write_text_atomic(output / "plan.json", json.dumps(case.plan, indent=2) + "\n")
    finished()
    finished = stage("report", 0.8)
    write_report(case, output / "report.pdf", volume, deidentify=options.deidentify)
    finished()
    seconds["total"] = sum(seconds.values())
    if progress is not None:
        progress(1.0, "Done")
    return RunResult(output, case.plan, seconds)


def confidence_json(confidence: dict[Structure, float]) -> str:
    """Return the text of ``confidence.json``: structure name -> mirror agreement (or null)."""
    values = {s.name: None if math.isnan(v) else round(v, 4) for s, v in confidence.items()}
    return json.dumps({"mirror_agreement": values}, indent=2) + "\n"


def cohort_cases(cohort: Path, labels_name: str | None) -> list[tuple[str, Path, Path | None]]:
    """List a cohort's cases: (name, scan, labels or None), by name.

    A case is a subfolder (a DICOM series, or a folder with ``image.nii.gz`` and optionally the
    labels ``labels_name``) or a volume file directly in ``cohort``.
    """
    from lumboplan_app.io import volume_format

    cases = []
    for entry in sorted(cohort.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            images = [entry / name for name in _SCAN_NAMES if (entry / name).is_file()]
            scan = images[0] if images else entry
            labels = entry / labels_name if labels_name else None
            cases.append((entry.name, scan, labels if labels and labels.is_file() else None))
        elif volume_format(entry) is not None:
            stem = entry.name.split(".")[0]
            cases.append((stem, entry, None))
    return cases


#: What a batch runs for one case: ``work(folder, *arguments)`` writes the case's files into
#: ``folder`` and returns the seconds each stage took. It must be a module-level function (the
#: workers are spawned processes).
CaseWork = Callable[..., dict[str, float]]


def _run_one(
    work: CaseWork, name: str, folder: Path, arguments: tuple[Any, ...]
) -> tuple[str, str | None, float]:
    """Run one case in a worker; return (name, error or None, seconds)."""
    start = time.perf_counter()
    try:
        seconds = work(folder, *arguments)
    except LumboPlanError as error:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / ERROR_FILE, f"{error}\n")
        return name, str(error), time.perf_counter() - start
    except Exception as error:  # an unexpected fault in one case must not stop the cohort
        logger.debug("internal error in a batch case", exc_info=True)
        message = f"Internal error ({type(error).__name__}); run this case alone with -v."
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / ERROR_FILE, message + "\n")
        return name, message, time.perf_counter() - start
    (folder / ERROR_FILE).unlink(missing_ok=True)
    write_text_atomic(folder / DONE_FILE, json.dumps({"seconds": seconds}, indent=2))
    return name, None, time.perf_counter() - start


@dataclass
class BatchSummary:
    """A batch's outcome: cases run now, skipped as finished, and failed (name: reason).

    ``seconds`` holds each case run now: its wall time in its worker (s).
    """

    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def run_cases(
    cases: list[tuple[str, tuple[Any, ...]]],
    work: CaseWork,
    output: Path,
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> BatchSummary:
    """Run ``work(output/name, *arguments)`` for each (name, arguments) in worker processes.

    A case whose ``done.json`` exists is skipped (a rerun resumes); a case that raises leaves
    ``error.txt`` with the reason and the others go on.

    Raises
    ------
    LumboPlanError
        If a worker process was killed (out of memory, most likely): the pool cannot go on, the
        finished cases are kept for a rerun.
    """
    summary = BatchSummary()
    pending = []
    for name, arguments in cases:
        if (output / name / DONE_FILE).is_file():
            summary.skipped.append(name)
        else:
            pending.append((name, arguments))
    output.mkdir(parents=True, exist_ok=True)
    done = 0
    context = multiprocessing.get_context("spawn")  # no forked copies of torch or VTK state
    with ProcessPoolExecutor(
        max_workers=max(1, workers), mp_context=context, initializer=configure_logging
    ) as pool:
        futures = [
            pool.submit(_run_one, work, name, output / name, arguments)
            for name, arguments in pending
        ]
        try:
            for future in as_completed(futures):
                name, error, seconds = future.result()
                done += 1
                summary.seconds[name] = seconds
                if error is None:
                    summary.ran.append(name)
                else:
                    summary.failed[name] = error
                if progress is not None:
                    progress(done / max(1, len(pending)), name)
        except BrokenProcessPool as error:
            raise LumboPlanError(
                f"A worker process was killed (out of memory, most likely) after {done} of "
                f"{len(pending)} case(s). The finished cases are kept: run the same command "
                "again to go on, with fewer --workers if memory ran out."
            ) from error
    return summary


def _run_case_work(folder: Path, scan: Path, options: RunOptions) -> dict[str, float]:
    """One cohort case of ``lumboplan batch`` (a :data:`CaseWork`)."""
    return run_case(scan, folder, options).seconds


def run_batch(
    cohort: Path,
    output: Path,
    workers: int = 1,
    options: RunOptions = RunOptions(),
    labels_name: str | None = None,
    progress: ProgressCallback | None = None,
) -> BatchSummary:
    """Run every case of ``cohort`` into ``output/<case>``; resumable, failures recorded."""
    cases = cohort_cases(cohort, labels_name)
    if not cases:
        raise LumboPlanError(
            f"No case found in '{cohort.name}': put one DICOM folder, case folder or volume file "
            "per case in it."
        )
    tasks: list[tuple[str, tuple[Any, ...]]] = [
        (name, (scan, RunOptions(**{**options.__dict__, "labels": labels})))
        for name, scan, labels in cases
    ]
    summary = run_cases(tasks, _run_case_work, output, workers, progress)
    write_tables(output, [name for name, _, _ in cases])
    return summary


def write_tables(output: Path, names: list[str]) -> None:
    """Rebuild ``foramina.csv`` and ``failures.csv`` from the case folders (atomically)."""
    rows = []
    for name in finished_cases(output, names):
        plan = json.loads((output / name / "plan.json").read_text(encoding="utf-8"))
        rows += [foramen_row(name, side, entry) for side, entry in plan["sides"].items()]
    write_text_atomic(output / FORAMINA_CSV, csv_text(FORAMEN_COLUMNS, rows))
    write_failures(output, names)


def finished_cases(output: Path, names: list[str]) -> list[str]:
    """Return the cases of ``names`` whose folder in ``output`` holds ``done.json``."""
    return [name for name in names if (output / name / DONE_FILE).is_file()]


def write_failures(output: Path, names: list[str]) -> list[dict[str, str]]:
    """Write ``failures.csv`` (case, reason) from the unfinished case folders; return its rows."""
    failures = [
        {"case": name, "reason": (output / name / ERROR_FILE).read_text().strip()}
        for name in names
        if not (output / name / DONE_FILE).is_file() and (output / name / ERROR_FILE).is_file()
    ]
    write_text_atomic(output / FAILURES_CSV, csv_text(("case", "reason"), failures))
    return failures


def foramen_row(case: str, side: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Return one foramen's CSV row from its plan JSON entry."""
    best = entry.get("best_free") or {}
    clearances = "; ".join(f"{c['part']} {c['clearance_mm']:.2f}" for c in entry["contacts"])
    return {
        "case": case,
        "side": side,
        "group": entry["group"],
        "reasons": " | ".join(entry["reasons"]),
        "alpha_deg": entry["alpha_deg"],
        "beta_deg": entry["beta_deg"],
        "line_a_mm": entry["line_a_mm"],
        "line_b_mm": entry["line_b_mm"],
        "best_free_alpha_deg": best.get("alpha_deg"),
        "best_free_beta_deg": best.get("beta_deg"),
        "best_free_clearance_mm": best.get("min_clearance_mm"),
        "clearances": clearances,
    }


def csv_text(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    """Return ``rows`` as CSV text with the header ``columns``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
