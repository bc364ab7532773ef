"""One labelled case of the study: segment it, score the labels, plan on AI and true labels.

A case is a folder with ``image.nii.gz`` and its truth: ``labels.nii.gz`` (every structure
labelled: the phantom layout or a site's own NIfTI pairs) or ``truth.nii.gz`` /
``partial_labels.nii.gz`` (partial labels, :mod:`~lumboplan_app.segmentation.partial_labels`).
:func:`compare_case` writes ``ai_labels.nii.gz`` and ``comparison.json`` into the case's output
folder. Plans are compared only on fully labelled cases: a plan needs every structure, and a
partial truth cannot give one. Where the case is a phantom whose ``truth.json`` holds the plan
made on its exact shapes (``lumboplan phantom``), each side also records that exact group, so a
disagreement can be told apart into an error of the voxel reference (the plan on the true
labels) and an error of the AI. A case segmented here also records each structure's confidence
(the agreement of the model's direct and mirrored passes) for the study of whether low
confidence foretells a low Dice or a wrong group.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.errors import LoadError, ModelError
from lumboplan_app.volume import LabelMap, Volume

logger = logging.getLogger(__name__)

COMPARISON_FILE = "comparison.json"
AI_LABELS_FILE = "ai_labels.nii.gz"
_FULL_TRUTH = "labels.nii.gz"
_PARTIAL_TRUTH = ("truth.nii.gz", "partial_labels.nii.gz")
_FINAL_WEIGHTS = "lumboplan_unet.safetensors"


@dataclass(frozen=True)
class StudyCase:
    """A labelled case: its image, its truth and whether the truth is partial."""

    name: str
    image: Path
    truth: Path
    partial: bool


@dataclass(frozen=True)
class LabelSource:
    """Where the AI labels come from, in this order of precedence.

    ``predictions``: a folder of labels made elsewhere (``<case>.nii.gz`` or
    ``<case>/labels.nii.gz``); ``folds_from``: a ``lumboplan train`` model folder, each case
    segmented by the fold model that did not train on it; else ``weights`` (None: the shipped
    model) on ``device``.
    """

    weights: Path | None = None
    device: str = "auto"
    folds_from: Path | None = None
    predictions: Path | None = None


def find_study_cases(data_dir: Path) -> list[StudyCase]:
    """Return the labelled cases in ``data_dir``, by name.

    Raises
    ------
    LoadError
        If the folder holds no labelled case.
    """
    cases = []
    if data_dir.is_dir():
        for folder in sorted(p for p in data_dir.iterdir() if p.is_dir()):
            image = folder / "image.nii.gz"
            if not image.is_file():
                continue
            if (folder / _FULL_TRUTH).is_file():
                cases.append(StudyCase(folder.name, image, folder / _FULL_TRUTH, False))
                continue
            partial = [folder / n for n in _PARTIAL_TRUTH if (folder / n).is_file()]
            if partial:
                cases.append(StudyCase(folder.name, image, partial[0], True))
    if not cases:
        raise LoadError(
            f"No labelled case found in '{data_dir.name}': the study needs one folder per case "
            f"holding image.nii.gz and {_FULL_TRUTH} (or the partial labels "
            f"{' or '.join(_PARTIAL_TRUTH)})."
        )
    return cases


def fold_weights(model_dir: Path, case: str, data_dir: str) -> Path:
    """Return the weights of the fold of ``model_dir`` that held ``case`` out of its training.

    ``data_dir`` is the name of the case's data folder: where two training folders held a case
    of one name, the card names each ``DATA_DIR/NAME`` (``find_cases``), and that name is looked
    for first.

    Raises
    ------
    ModelError
        If the folder is not a ``lumboplan train`` output, or no fold held the case out.
    """
    from lumboplan_app.segmentation.model_card import read_card

    final = model_dir / _FINAL_WEIGHTS
    if not final.is_file():
        raise ModelError(
            f"'{model_dir.name}' holds no {_FINAL_WEIGHTS}: --folds-from needs the folder "
            "'lumboplan train' wrote."
        )
    folds = read_card(final).extra.get("folds", {})
    for name in (f"{data_dir}/{case}", case):
        for fold, names in folds.items():
            if name in names:
                return model_dir / f"fold_{fold}" / "model.safetensors"
    raise ModelError(
        f"No fold of '{model_dir.name}' held out the case '{case}': cross-validation needs the "
        "cases the model was trained on; use --weights for other data."
    )


def ai_labels(
    case: StudyCase, volume: Volume, source: LabelSource
) -> tuple[LabelMap, str, dict[str, float]]:
    """Return the AI labels of ``case`` on the volume's grid, the verdict and the confidence.

    The verdict is "" when the plausibility check accepts the segmentation, else its reason;
    a refused segmentation is still scored and planned (as the benchmarks do). The confidence
    is each structure's mirror agreement (:meth:`Segmenter.predict_with_confidence`), by
    structure name; empty for labels made elsewhere.
    """
    from lumboplan_app.io import read_label_map
    from lumboplan_app.segmentation.inference import Segmenter, check_plausible
    from lumboplan_app.segmentation.postprocess import keep_main_components

    if source.predictions is not None:
        candidates = [
            source.predictions / f"{case.name}.nii.gz",
            source.predictions / case.name / "labels.nii.gz",
        ]
        found = [p for p in candidates if p.is_file()]
        if not found:
            raise LoadError(
                f"No prediction for the case '{case.name}' in '{source.predictions.name}': "
                f"put it at {case.name}.nii.gz or {case.name}/labels.nii.gz."
            )
        labels = read_label_map(found[0], reference=volume.grid)
        confidence: dict[str, float] = {}
    else:
        weights = source.weights
        if source.folds_from is not None:
            weights = fold_weights(source.folds_from, case.name, case.image.parent.parent.name)
        segmenter = Segmenter(weights, device=source.device)
        raw, agreement = segmenter.predict_with_confidence(volume)
        labels = LabelMap(keep_main_components(raw.array), raw.grid)
        confidence = {s.name: value for s, value in agreement.items()}
    try:
        check_plausible(labels)
    except ModelError as error:
        return labels, str(error), confidence
    return labels, "", confidence


def compare_case(folder: Path, case: StudyCase, source: LabelSource) -> dict[str, float]:
    """Compare one case; write its AI labels and ``comparison.json``; return seconds per stage.

    Raises
    ------
    LumboPlanError
        For an image or truth that cannot be read, a missing prediction or model.
    """
    from lumboplan_app.io import read_label_map, read_scan, write_image
    from lumboplan_app.segmentation.metrics import structure_scores

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    volume = read_scan(case.image)
    truth = read_label_map(case.truth, reference=volume.grid)
    labels, refusal, confidence = ai_labels(case, volume, source)
    seconds["segment"] = time.perf_counter() - start
    folder.mkdir(parents=True, exist_ok=True)
    write_image(labels, folder / AI_LABELS_FILE)
    start = time.perf_counter()
    spacing_zyx = tuple(float(s) for s in volume.grid.spacing_xyz_mm[::-1])
    scores = structure_scores(labels.array, truth.array, spacing_zyx, case.partial)  # type: ignore[arg-type]
    seconds["score"] = time.perf_counter() - start
    result: dict[str, Any] = {
        "case": case.name,
        "labels": "partial" if case.partial else "full",
        "model_accepted": not refusal,
        "model_refusal": refusal,
        "segmentation": [
            {
                "structure": s.structure.name,
                "dice": s.dice,
                "precision": s.precision,
                "recall": s.recall,
                "hd95_mm": s.hd95_mm,
                "predicted_ml": s.predicted_ml,
                "true_ml": s.true_ml,
                "mirror_agreement": confidence.get(s.structure.name),
            }
            for s in scores
        ],
        "mirror_agreement": confidence,
        "plans": None,
    }
    if not case.partial:
        start = time.perf_counter()
        result["plans"] = compare_plans(truth, labels, exact_groups(case))
        seconds["plan"] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    result["seconds"] = seconds
    write_text_atomic(folder / COMPARISON_FILE, json.dumps(_no_nan(result), indent=2) + "\n")
    return seconds


def exact_groups(case: StudyCase) -> dict[str, str]:
    """Return each side's group planned on the phantom's exact shapes, by side; {} if unknown.

    Read from the ``truth.json`` beside the case's image (``plan.<side>.group``, written by
    ``lumboplan phantom``); a site's own cases have none.
    """
    path = case.image.parent / "truth.json"
    if not path.is_file():
        return {}
    try:
        plan = json.loads(path.read_text(encoding="utf-8")).get("plan") or {}
        return {side: str(entry["group"]) for side, entry in plan.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        logger.warning("The exact plan of a case could not be read; it is left out.")
        return {}


def compare_plans(
    truth: LabelMap, labels: LabelMap, exact: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Plan both sides on the true and on the AI labels (paper placement, no maps).

    Returns per side: each plan's group, Line A (mm), alpha (degrees), Line B (mm), the
    distance between the two plans' points b (mm, LPS), and the group of the plan on the
    phantom's exact shapes (``group_exact``, from ``exact``; None where it is not known); None
    where a plan has no value.
    """
    from lumboplan_app.planning.plan import plan_from_labels

    gt = plan_from_labels(truth, with_maps=False).to_json()["sides"]
    ai = plan_from_labels(labels, with_maps=False).to_json()["sides"]
    sides = {}
    for side in gt:
        entry: dict[str, Any] = {}
        for key, plan in (("gt", gt[side]), ("ai", ai[side])):
            entry[f"group_{key}"] = plan["group"]
            entry[f"line_a_{key}_mm"] = plan["line_a_mm"]
            entry[f"alpha_{key}_deg"] = plan["alpha_deg"]
            entry[f"line_b_{key}_mm"] = plan["line_b_mm"]
        b_gt, b_ai = gt[side]["points_lps_mm"]["b"], ai[side]["points_lps_mm"]["b"]
        entry["point_b_distance_mm"] = (
            None if b_gt is None or b_ai is None else float(np.linalg.norm(np.subtract(b_gt, b_ai)))
        )
        entry["group_exact"] = (exact or {}).get(side)
        sides[side] = entry
    return sides


def _no_nan(value: Any) -> Any:
    """``value`` with NaN floats as None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    if isinstance(value, float) and np.isnan(value):
        return None
    return value
