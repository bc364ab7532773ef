"""Preprocessing shared by training and inference; its parameters come from the model card.

Transforms are small callables (MONAI's style): configuration in ``__init__``, data in
``__call__``, an explicit output dtype and a guard for the degenerate case.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from lumboplan_app.segmentation.model_card import ModelCard
from lumboplan_app.volume import Grid, LabelMap, Volume, resample_labels, resample_volume


class ResampleToSpacing:
    """Resample a canonical volume onto an isotropic grid of ``spacing_mm`` over the same region."""

    def __init__(self, spacing_mm: float) -> None:
        if spacing_mm <= 0:
            raise ValueError("spacing_mm must be positive")
        self.spacing_mm = float(spacing_mm)

    def grid(self, grid: Grid) -> Grid:
        """Return the model grid for an image grid."""
        return grid.with_spacing((self.spacing_mm,) * 3)

    def __call__(self, volume: Volume) -> Volume:
        """Return the volume resampled (linear) onto the model grid."""
        return resample_volume(volume, self.grid(volume.grid), "linear")

    def labels(self, labels: LabelMap) -> LabelMap:
        """Resample a label map the same way (nearest label)."""
        return resample_labels(labels, self.grid(labels.grid), "nearest")


class PercentileZScore:
    """Clip to the ``low``..``high`` percentiles, then zero mean and unit variance (float32)."""

    def __init__(self, low: float = 0.5, high: float = 99.5) -> None:
        if not 0 <= low < high <= 100:
            raise ValueError("percentiles must satisfy 0 <= low < high <= 100")
        self.low, self.high = float(low), float(high)

    def __call__(self, array: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
        """Return the normalised array (float32; zeros for a constant image)."""
        low, high = np.percentile(array, [self.low, self.high])
        clipped = np.clip(array, low, high).astype(np.float32)
        spread = float(clipped.std())
        if spread == 0.0:  # a constant image carries no information: all zeros
            return np.zeros_like(clipped)
        return (clipped - float(clipped.mean())) / spread


def transforms_for(card: ModelCard) -> tuple[ResampleToSpacing, PercentileZScore]:
    """Return the resampling and the normalisation a card prescribes."""
    normalisation = card.normalisation
    if normalisation.get("kind") != "percentile_zscore":
        raise ValueError(f"unknown normalisation {normalisation.get('kind')!r}")
    return (
        ResampleToSpacing(card.spacing_mm),
        PercentileZScore(normalisation.get("low", 0.5), normalisation.get("high", 99.5)),
    )
