"""Pseudo-labels: a model's sure voxels of a structure added to partially labelled training scans.

A partial label map (``partial_labels.nii.gz``, :mod:`lumboplan_app.segmentation.partial_labels`)
says where its drawn structures are and where some others are *not*, never where an undrawn
structure *is*. Fine-tuned on such maps, a network is only ever told "not here" for that
structure and wears it down: on the real lumbar scans (issue 17) S1, which none of them draws,
came apart on scans framed a little differently, and the plausibility check refused them.
``lumboplan pseudo-label`` writes a copy of each partially labelled case whose map also holds
the model's own segmentation of the chosen structures where it is sure of them (self-training,
Lee 2013; nnU-Net's and MONAI Label's practice with a model's accepted output):

- only scans the model segments and whose segmentation the plausibility check accepts (any other
  is copied as it is, and listed);
- only the structure's inner voxels, one voxel in from its surface (its uncertain boundary stays
  "not labelled");
- only voxels the map leaves "not labelled" and where its drawn structures allow the structure
  (:func:`~lumboplan_app.segmentation.partial_labels.allowed_classes`): a drawn voxel, another
  level or an anatomical exclusion always wins.

Only structures a partial map gives no special meaning can be added
(:data:`PSEUDO_LABEL_STRUCTURES`): a partial map's L5 is the drawn vertebral *body* and its disc
the whole drawn disc, so the model's L5 arch or a disc without its uncertain rim would turn
those rules against the anatomy they describe.

Each output case is ``OUTPUT/<case>/image.nii.gz`` and ``partial_labels.nii.gz`` (canonical LPS
order) and ``pseudo_labels.json`` (what was added, by which model), written last. A case that
cannot be read is listed and the others go on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.errors import (
    ImplausibleSegmentationError,
    LoadError,
    LumboPlanError,
    UnsuitableScanError,
)
from lumboplan_app.io import read_label_map, read_scan, write_image
from lumboplan_app.labels import Structure
from lumboplan_app.progress import ProgressCallback
from lumboplan_app.segmentation.partial_labels import UNLABELLED, allowed_classes, bit
from lumboplan_app.segmentation.training import PARTIAL_LABELS, find_cases
from lumboplan_app.volume import LabelMap, Volume

logger = logging.getLogger(__name__)

PSEUDO_LABEL_SCHEMA = "lumboplan.pseudo-labels/1"
#: What may be added: not L5 (a partial map's L5 is the body) nor the disc (drawn whole).
PSEUDO_LABEL_STRUCTURES = (Structure.S1, Structure.NERVES, Structure.ILIUM, Structure.SKIN)


@dataclass
class PseudoLabelResult:
    """Per case: the cm3 added per structure name, why none was added, or why it was not written."""

    added_cm3: dict[str, dict[str, float]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def sure_voxels(partial: LabelMap, segmentation: LabelMap, structure: Structure) -> np.ndarray:
    """Return where ``structure`` may be added to ``partial`` from ``segmentation`` (bool Z, Y, X).

    The segmentation's ``structure`` one voxel in from its surface, where ``partial`` is not
    labelled and its drawn structures allow ``structure``.
    """
    if not partial.grid.matches(segmentation.grid, tolerance_mm=1e-2):
        raise ValueError("the segmentation does not lie on the partial map's grid")
    inner = ndimage.binary_erosion(segmentation.array == structure)
    x_mm, y_mm, z_mm = partial.grid.spacing_xyz_mm
    allowed = allowed_classes(partial.array, (z_mm, y_mm, x_mm), partial=True) & bit(structure) > 0
    return inner & (partial.array == UNLABELLED) & allowed


def pseudo_label_cases(
    data_dir: Path,
    output: Path,
    structures: Sequence[Structure],
    segment: Callable[[Volume], LabelMap],
    model: str,
    progress: ProgressCallback | None = None,
) -> PseudoLabelResult:
    """Write each partially labelled case of ``data_dir`` into ``output`` with pseudo-labels.

    ``segment`` labels a scan or raises :class:`ImplausibleSegmentationError` or
    :class:`UnsuitableScanError` (a :class:`~lumboplan_app.segmentation.inference.Segmenter`'s
    ``segment``): such a scan is copied without pseudo-labels and listed; ``model`` names it
    in each case's ``pseudo_labels.json`` (the weights' SHA-256). Fully labelled cases are not
    copied: they need no pseudo-labels.

    Raises
    ------
    LoadError
        If ``data_dir`` holds no partially labelled case, or ``output`` is ``data_dir``.
    ValueError
        For a structure outside :data:`PSEUDO_LABEL_STRUCTURES`.
    """
    if any(structure not in PSEUDO_LABEL_STRUCTURES for structure in structures):
        raise ValueError("pseudo-labels are added for S1, the nerves, the ilium and the skin only")
    if output.resolve() == data_dir.resolve():
        raise LoadError("Write the pseudo-labelled cases into another folder than the input.")
    cases = [case for case in find_cases([data_dir], at_least=1) if case.partial]
    if not cases:
        raise LoadError(
            f"No case in '{data_dir.name}' has {PARTIAL_LABELS}: pseudo-labels are added to "
            "partially labelled scans only."
        )
    result = PseudoLabelResult()
    for index, case in enumerate(cases):
        if progress is not None:
            progress(index / len(cases), f"Case {index + 1}/{len(cases)}")
        try:
            volume = read_scan(case.image).to_canonical()
            partial = read_label_map(case.labels, reference=volume.grid)
        except LumboPlanError as error:
            result.failed[case.name] = str(error)
            continue
        labels = partial.array.copy()
        added: dict[str, float] = {}
        try:
            segmentation = segment(volume)
        except ImplausibleSegmentationError as error:
            result.refused[case.name] = error.reason
        except UnsuitableScanError as error:
            result.refused[case.name] = str(error)
        else:
            voxel_cm3 = float(np.prod(volume.grid.spacing_xyz_mm)) / 1000.0
            for structure in structures:
                sure = sure_voxels(partial, segmentation, structure)
                labels[sure] = structure
                added[structure.name.lower()] = round(float(sure.sum()) * voxel_cm3, 2)
            result.added_cm3[case.name] = added
        folder = output / case.name
        folder.mkdir(parents=True, exist_ok=True)
        write_image(volume, folder / "image.nii.gz")
        write_image(LabelMap(labels, partial.grid), folder / PARTIAL_LABELS)
        record = {
            "schema": PSEUDO_LABEL_SCHEMA,
            "model": model,
            "added_cm3": added,
            "refused": result.refused.get(case.name, ""),
        }
        write_text_atomic(folder / "pseudo_labels.json", json.dumps(record, indent=2) + "\n")
        logger.info("pseudo-labels for a training case: %s", added or "none (refused)")
    if progress is not None:
        progress(1.0, "Pseudo-labels written")
    return result
