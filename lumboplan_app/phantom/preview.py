"""A PNG montage of a case, for looking at it.

Axial in the L5/S1 disc plane, sagittal through the left foramen, coronal through the pedicles;
plain on top, with the label overlay below.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw
from scipy import ndimage

from lumboplan_app.labels import Structure
from lumboplan_app.volume import LabelMap, Volume

_PANEL_MM = 220.0
_PIXEL_MM = 0.6
_OVERLAY_ALPHA = 0.45


def oblique_slice(
    volume_array: npt.NDArray[Any],
    grid_volume: Volume | LabelMap,
    centre_lps_mm: npt.ArrayLike,
    right_lps: npt.ArrayLike,
    down_lps: npt.ArrayLike,
    size_mm: float = _PANEL_MM,
    pixel_mm: float = _PIXEL_MM,
    order: int = 1,
) -> npt.NDArray[np.float32]:
    """Sample a square plane of the volume: rows along ``down_lps``, columns along ``right_lps``.

    Parameters
    ----------
    volume_array : ndarray (Z, Y, X)
        Values to sample (image or label ids).
    grid_volume : Volume or LabelMap
        Whose grid maps LPS to index.
    centre_lps_mm : (3,)
        Centre of the plane, LPS mm.
    right_lps, down_lps : (3,)
        Unit directions of the image's columns and rows.
    order : int
        1 for images (linear), 0 for labels (nearest).
    """
    count = int(size_mm / pixel_mm)
    offsets = (np.arange(count) - count / 2) * pixel_mm
    right = np.asarray(right_lps, dtype=np.float64)
    down = np.asarray(down_lps, dtype=np.float64)
    points = (
        np.asarray(centre_lps_mm, dtype=np.float64)[None, None, :]
        + offsets[:, None, None] * down[None, None, :]
        + offsets[None, :, None] * right[None, None, :]
    )
    index = grid_volume.grid.lps_to_index(points)
    sampled = ndimage.map_coordinates(
        volume_array, np.moveaxis(index, -1, 0), order=order, mode="constant", cval=0.0
    )
    return sampled.astype(np.float32)


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
            centre + np.array([0, 25.0, 0]) * 0,
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
        grey = np.clip(oblique_slice(image.array, image, point, right, down) / scale, 0.0, 1.0)
        ids = oblique_slice(labels.array, labels, point, right, down, order=0).astype(np.uint8)
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
