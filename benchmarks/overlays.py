"""Overlay pictures of a segmentation on a real scan: three planes side by side, one PNG.

Sagittal through the spine (the labelled body's or disc's middle), axial through the L5/S1 disc
(the predicted disc, else just under the labelled L5 body), coronal through the foramina (8 mm
behind the labelled body's back). All seven structures in their colours; the expert's label
(L5 body or L5/S1 disc) outlined in white, other labelled levels in grey.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure
from lumboplan_app.segmentation.partial_labels import OTHER_LEVEL
from lumboplan_app.volume import LabelMap, Volume

_ALPHA = 0.45
_HEIGHT = 300


def _grey(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, [1, 99.5])
    return np.clip((image - low) / max(high - low, 1e-6), 0, 1)


def _panel(image: np.ndarray, labels: np.ndarray, truth: np.ndarray) -> Image.Image:
    """One plane: rows top to bottom, columns left to right, as shown."""
    rgb = np.repeat(_grey(image)[..., None], 3, axis=2) * 255
    for structure in SEGMENTED_STRUCTURES:
        where = labels == structure
        rgb[where] = (1 - _ALPHA) * rgb[where] + _ALPHA * np.array(structure.colour_rgb)
    for value, colour in (
        (OTHER_LEVEL, (150, 150, 150)),
        (1, (255, 255, 255)),
        (2, (255, 255, 255)),
    ):
        region = truth == value
        rgb[region & ~ndimage.binary_erosion(region)] = colour
    picture = Image.fromarray(rgb.astype(np.uint8))
    width = max(1, round(picture.width * _HEIGHT / picture.height))
    return picture.resize((width, _HEIGHT), Image.Resampling.NEAREST)


def _centre(mask: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0) if mask.any() else fallback


def write_overlay(volume: Volume, labels: LabelMap, truth: np.ndarray, path: Path) -> None:
    """Write the three-plane overlay of ``labels`` (and the expert ``truth``) on ``volume``."""
    image, predicted = volume.array, labels.array
    middle = np.array(image.shape) / 2
    expert = (truth == Structure.L5) | (truth == Structure.DISC)
    spine = _centre(expert, middle)
    body = truth == Structure.L5
    below_body = np.array(
        [np.argwhere(body)[:, 0].min() - 5, spine[1], spine[2]] if body.any() else spine
    )
    disc_centre = _centre(predicted == Structure.DISC, _centre(truth == Structure.DISC, below_body))
    behind_mm = 8.0 / volume.grid.spacing_xyz_mm[1]
    back = np.argwhere(expert)[:, 1].max() + behind_mm if expert.any() else middle[1]
    x = int(np.clip(round(spine[2]), 0, image.shape[2] - 1))
    z = int(np.clip(round(disc_centre[0]), 0, image.shape[0] - 1))
    y = int(np.clip(round(back), 0, image.shape[1] - 1))
    # Superior up in the sagittal and coronal planes (array z grows superiorly).
    panels = [
        _panel(image[::-1, :, x], predicted[::-1, :, x], truth[::-1, :, x]),
        _panel(image[z], predicted[z], truth[z]),
        _panel(image[::-1, y, :], predicted[::-1, y, :], truth[::-1, y, :]),
    ]
    legend_height = 18
    width = max(sum(p.width for p in panels) + 10 * len(panels), 560)
    canvas = Image.new("RGB", (width, _HEIGHT + 3 * legend_height))
    draw = ImageDraw.Draw(canvas)
    left = 0
    for title, panel in zip((path.stem, "axial", "coronal"), panels, strict=True):
        canvas.paste(panel, (left, legend_height))
        draw.text((left + 4, 3), title, fill=(255, 255, 255))
        left += panel.width + 10
    for index, structure in enumerate(SEGMENTED_STRUCTURES):
        row, column = divmod(index, 3)
        position = (4 + 180 * column, _HEIGHT + legend_height * (row + 1) + 3)
        draw.text(position, structure.display_name, fill=structure.colour_rgb)
    canvas.quantize(colors=128).save(path, optimize=True)
