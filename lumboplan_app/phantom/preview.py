"""A PNG montage of a case, for looking at it.

Axial in the L5/S1 disc plane, sagittal through the left foramen, coronal through the pedicles;
plain on top, with the label overlay below.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from lumboplan_app.labels import Structure
from lumboplan_app.volume import Grid, LabelMap, Volume, resample_labels, resample_volume

_PANEL_MM = 220.0
_PIXEL_MM = 0.6
_OVERLAY_ALPHA = 0.45


def oblique_slice(
    image: Volume | LabelMap,
    centre_lps_mm: npt.ArrayLike,
    right_lps: npt.ArrayLike,
    down_lps: npt.ArrayLike,
    size_mm: float = _PANEL_MM,
    pixel_mm: float = _PIXEL_MM,
) -> npt.NDArray[np.float32]:
    """Sample a square plane: rows along ``down_lps``, columns along ``right_lps`` (unit LPS).

    Images are sampled linearly, label maps by nearest label; outside the image is 0. Returns
    (rows, columns) float32.
    """
    count = int(size_mm / pixel_mm)
    right = np.asarray(right_lps, dtype=np.float64)
    down = np.asarray(down_lps, dtype=np.float64)
    direction = np.column_stack([right, down, np.cross(right, down)])
    corner = np.asarray(centre_lps_mm, dtype=np.float64) - (right + down) * pixel_mm * count / 2
    plane = Grid((1, count, count), (pixel_mm, pixel_mm, pixel_mm), tuple(corner), direction)
    if isinstance(image, LabelMap):
        return resample_labels(image, plane, "nearest").array[0].astype(np.float32)
    return resample_volume(image, plane).array[0]


def montage(image: Volume, labels: LabelMap, truth: dict[str, Any]) -> Image.Image:
    """Build the 2 x 3 montage (plain and overlaid) of a phantom case."""
    normal = np.asarray(truth["planes"]["disc_mid"]["normal"], dtype=np.float64)
    centre = np.asarray(truth["planes"]["disc_mid"]["point"], dtype=np.float64)
    b_left = np.asarray(truth["points_lps_mm"]["left"]["b"], dtype=np.float64)
    # In the disc plane: columns toward the patient's right->left is +x; rows anterior->posterior.
    posterior_in_plane = np.array([0.0, 1.0, 0.0]) - normal * normal[1]
    posterior_in_plane /= np.linalg.norm(posterior_in_plane)
    views = [
        (
            "axial, L5/S1 disc plane",
            centre,
            np.array([1.0, 0, 0]),
            posterior_in_plane,
        ),
        (
            "sagittal, left foramen",
            np.array([b_left[0] + 8.0, 10.0, 5.0]),
            np.array([0.0, 1.0, 0.0]),
            np.array([0.0, 0.0, -1.0]),
        ),
        (
            "coronal, pedicles",
            np.array([0.0, 28.0, 10.0]),
            np.array([1.0, 0.0, 0.0]),
            np.array([0.0, 0.0, -1.0]),
        ),
    ]
    scale = float(np.percentile(image.array, 99.5)) or 1.0
    palette = np.zeros((256, 3), dtype=np.float32)
    for structure in Structure:
        palette[int(structure)] = structure.colour_rgb
    tiles = []
    for title, point, right, down in views:
        grey = np.clip(oblique_slice(image, point, right, down) / scale, 0.0, 1.0)
        ids = oblique_slice(labels, point, right, down).astype(np.uint8)
        plain = np.repeat((grey * 255)[..., None], 3, axis=-1)
        overlay = plain.copy()
        mask = ids > 0
        overlay[mask] = (1 - _OVERLAY_ALPHA) * plain[mask] + _OVERLAY_ALPHA * palette[ids[mask]]
        tiles.append((title, plain.astype(np.uint8), overlay.astype(np.uint8)))
    size = tiles[0][1].shape[0]
    sheet = Image.new("RGB", (3 * size + 40, 2 * size + 60), (20, 20, 24))
    draw = ImageDraw.Draw(sheet)
    for column, (title, plain, overlay) in enumerate(tiles):
        x = 10 + column * (size + 10)
        sheet.paste(Image.fromarray(plain), (x, 30))
        sheet.paste(Image.fromarray(overlay), (x, 40 + size))
        draw.text((x, 10), title, fill=(230, 230, 230))
    draw.text((10, 2 * size + 45), f"seed {truth.get('seed')}", fill=(180, 180, 180))
    return sheet
