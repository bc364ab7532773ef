"""Segmentation scores of a predicted label map against the truth, fully or partially labelled.

One scorer for the benchmarks and ``lumboplan validate``: per structure Dice, precision,
recall, HD95 (mm) and both volumes (mL). A fully labelled truth scores every segmented
structure over the whole scan. A partial truth (:mod:`~lumboplan_app.segmentation.partial_labels`:
``1`` the L5 body, ``2`` the L5/S1 disc, ``255`` another level, ``0`` unlabelled) scores only
what it labels: L5 in front of the body's posterior face within its box (the arch is not
labelled: :func:`~lumboplan_app.segmentation.partial_labels.l5_body_masks`), the disc over
the scan.
Arrays are (Z, Y, X) label ids; spacings are (z, y, x) mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure
from lumboplan_app.segmentation.partial_labels import l5_body_masks


@dataclass(frozen=True, slots=True)
class StructureScore:
    """One structure's agreement with the truth; NaN where a score is undefined."""

    structure: Structure
    dice: float
    precision: float
    recall: float
    hd95_mm: float
    predicted_ml: float
    true_ml: float


def hd95_mm(
    predicted: npt.NDArray[np.bool_],
    truth: npt.NDArray[np.bool_],
    spacing_zyx_mm: tuple[float, float, float],
) -> float:
    """Return the 95th percentile symmetric surface distance (mm); NaN if either mask is empty.

    Surfaces are the masks' boundary voxels; the 95th percentile of the distances from each
    surface to the other is taken and the larger of the two returned, as MONAI's
    ``compute_hausdorff_distance(percentile=95)`` does.
    """
    if not predicted.any() or not truth.any():
        return float("nan")
    # Every surface voxel lies in the box of the two masks, so distances there are exact.
    where = np.argwhere(predicted | truth)
    low, high = where.min(axis=0), where.max(axis=0) + 1
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    predicted, truth = np.pad(predicted[box], 1), np.pad(truth[box], 1)
    surface_p = predicted & ~ndimage.binary_erosion(predicted)
    surface_t = truth & ~ndimage.binary_erosion(truth)
    to_t = ndimage.distance_transform_edt(~surface_t, sampling=spacing_zyx_mm)[surface_p]
    to_p = ndimage.distance_transform_edt(~surface_p, sampling=spacing_zyx_mm)[surface_t]
    return float(max(np.percentile(to_t, 95), np.percentile(to_p, 95)))


def mask_score(
    structure: Structure,
    predicted: npt.NDArray[np.bool_],
    truth: npt.NDArray[np.bool_],
    spacing_zyx_mm: tuple[float, float, float],
) -> StructureScore:
    """Score one predicted mask against its true mask (same shape)."""
    overlap = int((predicted & truth).sum())
    count_p, count_t = int(predicted.sum()), int(truth.sum())
    voxel_ml = float(np.prod(spacing_zyx_mm)) / 1000.0
    return StructureScore(
        structure=structure,
        dice=2.0 * overlap / (count_p + count_t) if count_p + count_t else float("nan"),
        precision=overlap / count_p if count_p else float("nan"),
        recall=overlap / count_t if count_t else float("nan"),
        hd95_mm=hd95_mm(predicted, truth, spacing_zyx_mm),
        predicted_ml=count_p * voxel_ml,
        true_ml=count_t * voxel_ml,
    )


def structure_scores(
    predicted: npt.NDArray[np.integer],
    truth: npt.NDArray[np.integer],
    spacing_zyx_mm: tuple[float, float, float],
    partial: bool = False,
) -> list[StructureScore]:
    """Score each structure the truth labels.

    Parameters
    ----------
    predicted, truth : (Z, Y, X) integer arrays of Structure ids on the same grid
    spacing_zyx_mm : voxel size along z, y, x (mm)
    partial : whether ``truth`` is a partial label map (then only the L5 body, scored in front
        of its posterior face within its box, and the L5/S1 disc, each where labelled)
    """
    if predicted.shape != truth.shape:
        raise ValueError(f"shapes differ: predicted {predicted.shape}, truth {truth.shape}")
    if not partial:
        return [
            mask_score(s, predicted == s, truth == s, spacing_zyx_mm) for s in SEGMENTED_STRUCTURES
        ]
    scores = []
    l5_masks = l5_body_masks(predicted, truth, spacing_zyx_mm)
    if l5_masks is not None:
        scores.append(mask_score(Structure.L5, *l5_masks, spacing_zyx_mm))
    if (truth == Structure.DISC).any():
        scores.append(
            mask_score(
                Structure.DISC,
                predicted == Structure.DISC,
                truth == Structure.DISC,
                spacing_zyx_mm,
            )
        )
    return scores
