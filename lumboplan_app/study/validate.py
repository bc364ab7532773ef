"""``lumboplan validate``: every case of a labelled folder compared, then the tables and report.

The cases run through :func:`lumboplan_app.pipeline.run_cases` (worker processes, resumable
through each case's ``done.json``, a failing case recorded in ``failures.csv`` while the rest go
on); the tables, ``summary.json``, ``report.pdf`` and ``report.html`` are rebuilt from every
finished case. A rerun into the same folder keeps the finished cases: use a new folder for
another model.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lumboplan_app import __version__
from lumboplan_app.pipeline import BatchSummary, run_cases
from lumboplan_app.progress import ProgressCallback
from lumboplan_app.study.cases import LabelSource, compare_case, find_study_cases
from lumboplan_app.study.summary import write_summary

logger = logging.getLogger(__name__)

REPORT_PDF = "report.pdf"
REPORT_HTML = "report.html"


@dataclass
class ValidationResult:
    """What ``validate`` ran (the batch's outcome) and the summary it wrote."""

    batch: BatchSummary
    summary: dict[str, Any]


def _model_description(source: LabelSource) -> dict[str, Any]:
    """Name the AI labels' origin for the summary (file names, never paths)."""
    if source.predictions is not None:
        return {"kind": "predictions", "folder": source.predictions.name}
    if source.folds_from is not None:
        return {"kind": "cross-validation folds", "folder": source.folds_from.name}
    from lumboplan_app.segmentation.inference import DEFAULT_WEIGHTS
    from lumboplan_app.segmentation.model_card import read_card

    weights = source.weights or DEFAULT_WEIGHTS
    card = read_card(weights)
    return {
        "kind": "shipped model" if source.weights is None else "weights",
        "file": weights.name,
        "sha256": card.sha256,
        "training_data": card.training_data,
        "device": source.device,
    }


def validate(
    data_dir: Path,
    output: Path,
    source: LabelSource | None = None,
    workers: int = 1,
    progress: ProgressCallback | None = None,
) -> ValidationResult:
    """Compare every case of ``data_dir`` into ``output/<case>``; write the tables and report.

    Raises
    ------
    LoadError
        If ``data_dir`` holds no labelled case.
    ModelError
        If the model cannot be read.
    StudyDependencyError
        If pingouin (the ``study`` extra) is not installed.
    """
    from lumboplan_app.study.report import report_blocks, write_study_html, write_study_report

    source = source or LabelSource()
    cases = find_study_cases(data_dir)
    about = {
        "lumboplan": __version__,
        "data": data_dir.name,
        "ai_labels": _model_description(source),
        "workers": workers,
    }
    batch = run_cases(
        [(case.name, (case, source)) for case in cases], compare_case, output, workers, progress
    )
    summary = write_summary(output, [case.name for case in cases], about)
    blocks = report_blocks(summary, output)
    write_study_report(blocks, output / REPORT_PDF)
    write_study_html(blocks, output / REPORT_HTML)
    return ValidationResult(batch, summary)
