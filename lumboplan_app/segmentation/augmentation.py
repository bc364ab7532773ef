"""Training augmentation: patch sampling, geometry, and the variety of real MR protocols.

The intensity transforms are deliberately strong (the SynthSeg lesson, Billot et al. 2023): the
phantoms have one contrast and real scans many (T2 turbo spin echo, water-fat, 2-D sagittal
protocols with 3-6 mm slices), so the network must learn shape, not the phantom's grey values.
Each case is prepared once (:func:`training_sample`): ``image`` (1, Z, Y, X) float32 and ``mask``
(the allowed-class bits, see :mod:`lumboplan_app.segmentation.partial_labels`), padded to the
patch, and ``indices``, a sample of each class's voxels to centre patches on (computing them at
every step took half of the step's time).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.segmentation.model_card import ModelCard

#: How often a training patch is centred on each class (background, L5, disc, S1, nerves, ilium,
#: skin): every class alike, the thin nerves twice.
CROP_RATIOS = (1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0)
#: Patch centres kept per class and case (drawn evenly; enough for any number of steps).
_CENTRES_PER_CLASS = 20000


def training_sample(
    image: npt.NDArray[np.float32],
    mask: npt.NDArray[np.uint8],
    centre_classes: npt.NDArray[np.uint8],
    patch_size: tuple[int, int, int],
) -> dict[str, Any]:
    """Prepare one case (arrays Z, Y, X on the model grid) for :func:`training_transform`.

    ``centre_classes`` holds the class id each voxel counts as when patch centres are drawn
    (0 for unlabelled and other-level voxels). Volumes smaller than the patch are padded (image
    0, mask 0 = no target).
    """
    from monai.transforms.utils import map_classes_to_indices

    padding = [(0, 0)] + [
        ((p - n) // 2 if n < p else 0, (p - n + 1) // 2 if n < p else 0)
        for n, p in zip(image.shape, patch_size, strict=True)
    ]
    padded_classes = np.pad(centre_classes, padding[1:])
    indices = map_classes_to_indices(
        padded_classes[None], len(CROP_RATIOS), max_samples_per_class=_CENTRES_PER_CLASS
    )
    return {
        "image": np.pad(image[None], padding),
        "mask": np.pad(mask[None], padding),
        "indices": indices,
    }


class RandThickSlices:
    """Simulate a thick-slice acquisition: average along one random axis, then interpolate back.

    With probability ``prob`` the image is cut into slabs ``thickness`` model voxels thick (drawn
    uniformly from ``thickness_range``) along a random axis (each slab the mean of its voxels, as
    a thick slice integrates its signal), then linearly interpolated back to its shape. Labels are
    untouched: the anatomy is the same, only its picture is coarser.
    """

    def __init__(self, prob: float, thickness_range: tuple[float, float], seed: int) -> None:
        self.prob = prob
        self.thickness_range = thickness_range
        self.rng = np.random.default_rng(seed)

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Return ``sample`` with its ``image`` made thick-sliced (or as it was)."""
        import torch

        if self.rng.random() >= self.prob:
            return sample
        axis = int(self.rng.integers(3))
        thickness = float(self.rng.uniform(*self.thickness_range))
        image = torch.as_tensor(np.asarray(sample["image"]), dtype=torch.float32)[None]
        shape = list(image.shape[2:])
        coarse = list(shape)
        coarse[axis] = max(1, round(shape[axis] / thickness))
        low = torch.nn.functional.interpolate(image, size=coarse, mode="area")
        back = torch.nn.functional.interpolate(low, size=shape, mode="trilinear")
        return {**sample, "image": back[0]}


def training_transform(card: ModelCard, seed: int) -> Any:
    """MONAI's dictionary transforms: patch, geometry, then MR protocol and intensity variety."""
    from monai.transforms import (
        Compose,
        RandAdjustContrastd,
        RandAffined,
        RandBiasFieldd,
        RandCropByLabelClassesd,
        RandFlipd,
        RandGaussianNoised,
        RandGaussianSmoothd,
        RandHistogramShiftd,
        RandScaleIntensityd,
    )

    keys = ["image", "mask"]
    transform = Compose(
        [
            # Patches centred on each class in turn (background once, the thin nerves twice):
            # centred on any foreground voxel, patches held the big bones and skin and the
            # network had not begun to find the nerves after 1600 steps (Dice 0.04).
            RandCropByLabelClassesd(
                keys,
                "mask",  # only its shape: the centres come from the case's indices
                indices_key="indices",
                spatial_size=card.patch_size,
                ratios=list(CROP_RATIOS),
                num_classes=len(CROP_RATIOS),
                num_samples=1,
                warn=False,
            ),
            RandAffined(
                keys,
                prob=0.5,
                rotate_range=(0.17, 0.17, 0.26),  # wider about x: lordosis, sacral slope
                scale_range=(0.15, 0.15, 0.15),
                mode=("bilinear", "nearest"),
                padding_mode="border",
            ),
            RandFlipd(keys, prob=0.5, spatial_axis=2),  # left-right: the classes are unsided
            RandThickSlices(prob=0.3, thickness_range=(1.0, 4.0), seed=seed),
            RandGaussianSmoothd(
                "image", prob=0.2, sigma_x=(0.25, 1.0), sigma_y=(0.25, 1.0), sigma_z=(0.25, 1.0)
            ),
            RandBiasFieldd("image", prob=0.4, coeff_range=(0.0, 0.5)),
            # A monotone remapping of the grey values: tissues keep their order only roughly.
            RandHistogramShiftd("image", prob=0.4, num_control_points=(5, 12)),
            RandAdjustContrastd("image", prob=0.4, gamma=(0.5, 2.0)),
            RandScaleIntensityd("image", prob=0.3, factors=0.25),
            RandGaussianNoised("image", prob=0.3, std=0.15),
        ]
    )
    reseed(transform, seed)
    return transform


def reseed(transform: Any, seed: int) -> None:
    """Seed every random step of a :func:`training_transform` (MONAI's and ours) from ``seed``."""
    transform.set_random_state(seed=seed)
    for step in transform.transforms:
        if isinstance(step, RandThickSlices):
            step.rng = np.random.default_rng(seed)
