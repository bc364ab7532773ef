"""Partially labelled scans: what their labels say, and how a prediction is scored on them.

Real scans rarely come with all seven structures drawn. A *partial label map* says only what its
annotator drew, in the structure ids where they are known, with two special values:

- ``0`` (:data:`UNLABELLED`): not labelled; the voxel may be any class, including a structure the
  map labels elsewhere (the L5 arch beside a labelled L5 body);
- ``255`` (:data:`OTHER_LEVEL`): another vertebral body or disc (L1-L4, a disc above L5/S1):
  background for this model, and L5, the L5/S1 disc or S1 there is a wrong-level error.

Training turns such a map into the set of classes each voxel may take (:func:`allowed_classes`,
a bit mask per voxel): a labelled voxel allows its class, another level allows no level-specific
structure, and an unlabelled voxel allows every class except those that anatomy rules out where
it lies (L5 far from the labelled L5 body, S1 above the L5/S1 disc, ...). The partial-label loss
(:mod:`lumboplan_app.segmentation.losses`) supervises only what the mask rules out.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lumboplan_app.labels import Structure

UNLABELLED = 0
OTHER_LEVEL = 255
#: Every class allowed (seven classes, one bit each).
ALL_CLASSES = (1 << len(Structure)) - 1
#: The structures tied to one spinal level: never on another level.
LEVEL_STRUCTURES = (Structure.L5, Structure.DISC, Structure.S1)
#: How far the L5 body's box is grown before the L5 Dice is scored (mm; DESIGN: issue 17).
BODY_BOX_MARGIN_MM = 5.0
#: How far around a drawn L5 body its front and sides are known not to be L5 (mm).
_AROUND_BODY_MM = 20.0
#: The spinal canal behind the body: how far either side of its centre, and how deep (mm).
_CANAL_HALF_WIDTH_MM = 8.0
_CANAL_DEPTH_MM = 8.0


def bit(structure: Structure) -> int:
    """Return the bit of ``structure`` in an allowed-classes mask."""
    return 1 << int(structure)


def allowed_classes(
    labels: npt.NDArray[np.integer],
    spacing_zyx_mm: tuple[float, float, float],
    partial: bool,
) -> npt.NDArray[np.uint8]:
    """Return the bit mask of the classes each voxel may take (array order z, y, x in LPS).

    A fully labelled map (``partial`` False) gives one bit per voxel. A partial map gives, for an
    unlabelled voxel, every class but those ruled out by the labelled L5 body or L5/S1 disc:

    - L5 lies from 20 mm below to 30 mm above the body, from its front to 75 mm behind its back,
      within 55 mm of its centre across (arch, facets, transverse and spinous processes);
    - the L5/S1 disc lies under L5: not above the body's middle, not 25 mm below its bottom, not
      10 mm in front of or behind it; with a labelled disc, nowhere else (a drawn disc is whole),
      and in the columns the drawn disc covers, nothing below it is L5 (that is S1);
    - S1 lies under the disc: not above the L5 body's middle in front of the body's back, nor
      above its top + 5 mm behind it, nor above the disc's top + 25 mm (its superior articular
      processes reach up behind the disc toward the L5 pedicles);
    - L5 does not reach beyond the drawn body except behind it: within 20 mm of the body, a voxel
      more than 2 mm in front of the back of the body's row it is nearest to is not L5 (the
      discs above and below, the psoas, the anterior ligament; the pedicles leave the back);
    - the spinal canal is not L5: between the pedicles (within 10 mm of the body's centre across
      and 14 mm in from its sides), up to 8 mm behind the back of each row of the body (the
      posterior wall is concave; the lamina lies 15 mm or more behind it);
    - the nerves lie behind the vertebral bodies: across the middle of the body (14 mm in from
      its sides), from 25 mm below the body to its middle, nothing more than 4 mm in front of
      the back of the body's lower half (its posterior-inferior corner) is a nerve (the L5/S1
      disc and the S1 endplate; the roots leave laterally).

    The margins are generous: a wrong exclusion would teach the network to miss anatomy.
    """
    labels = np.asarray(labels)
    if not partial:
        return (np.left_shift(1, labels.astype(np.uint8))).astype(np.uint8)
    mask = np.full(labels.shape, ALL_CLASSES, dtype=np.uint8)
    level_bits = sum(bit(s) for s in LEVEL_STRUCTURES)
    mask[labels == OTHER_LEVEL] = ALL_CLASSES & ~level_bits
    spacing = np.asarray(spacing_zyx_mm, dtype=float)
    unlabelled = labels == UNLABELLED
    body, disc = labels == Structure.L5, labels == Structure.DISC
    z = np.arange(labels.shape[0])[:, None, None] * spacing[0]
    y = np.arange(labels.shape[1])[None, :, None] * spacing[1]
    x = np.arange(labels.shape[2])[None, None, :] * spacing[2]
    if body.any():
        (z0, z1), (y0, y1), (x0, x1) = _extent_mm(body, spacing)
        near_l5 = ((z >= z0 - 20) & (z <= z1 + 30) & (y >= y0 - 3) & (y <= y1 + 75)) & (
            np.abs(x - (x0 + x1) / 2) <= 55
        )
        _forbid(mask, unlabelled & ~near_l5, Structure.L5)
        middle = (z0 + z1) / 2
        outside_disc_box = (z > middle) | (z < z0 - 25) | (y < y0 - 10) | (y > y1 + 10)
        _forbid(mask, unlabelled & outside_disc_box, Structure.DISC)
        # In front of the body's back S1 stays below its middle; behind it the S1 superior
        # articular processes rise toward the L5 pedicles, up to about the body's top.
        above_s1 = ((z > middle) & (y < y1 - 5)) | (z > z1 + 5)
        _forbid(mask, unlabelled & above_s1, Structure.S1)
        _forbid(mask, unlabelled & _around_body_in_front(body, spacing), Structure.L5)
        _forbid(mask, unlabelled & _canal_behind_body(body, spacing), Structure.L5)
        _forbid(mask, unlabelled & _in_front_of_body_column(body, spacing), Structure.NERVES)
    if disc.any():
        _forbid(mask, unlabelled, Structure.DISC)
        (z0, z1), (y0, y1), _ = _extent_mm(disc, spacing)
        _forbid(mask, unlabelled & (z > z1 + 25), Structure.S1)
        _forbid(mask, unlabelled & ((z < z0 - 25) | (z > z1 + 60)), Structure.L5)
        _forbid(mask, unlabelled & _below_disc_columns(disc), Structure.L5)
    for structure in Structure:
        if structure != Structure.BACKGROUND:
            mask[labels == structure] = bit(structure)
    return mask


def _body_backs(body: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Index of the body's most posterior voxel in each (z, x) row; -inf where the row is empty."""
    rows = body.any(axis=1)
    back = body.shape[1] - 1 - np.argmax(body[:, ::-1, :], axis=1)
    return np.where(rows, back, -np.inf).astype(float)


def _around_body_in_front(
    body: npt.NDArray[np.bool_], spacing: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Voxels within 20 mm of the body and over 2 mm in front of the back of their nearest row."""
    margin = np.ceil(_AROUND_BODY_MM / spacing).astype(int) + 1
    where = np.argwhere(body)
    low = np.maximum(where.min(axis=0) - margin, 0)
    high = np.minimum(where.max(axis=0) + margin + 1, body.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    local = body[box]
    distance, nearest = ndimage.distance_transform_edt(
        ~local, sampling=spacing, return_indices=True
    )
    back = _body_backs(local)[nearest[0], nearest[2]]
    y = np.arange(local.shape[1])[None, :, None]
    result = np.zeros(body.shape, dtype=bool)
    result[box] = (distance > 0) & (distance <= _AROUND_BODY_MM) & ((back - y) * spacing[1] > 2.0)
    return result


def _canal_behind_body(
    body: npt.NDArray[np.bool_], spacing: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Voxels up to 8 mm behind each row's back, between the pedicles: the spinal canal."""
    columns = np.flatnonzero(body.any(axis=(0, 1)))
    centre = (columns[0] + columns[-1]) / 2 * spacing[2]
    x = np.arange(body.shape[2]) * spacing[2]
    middle = (np.abs(x - centre) <= _CANAL_HALF_WIDTH_MM) & (
        (x >= columns[0] * spacing[2] + 14.0) & (x <= columns[-1] * spacing[2] - 14.0)
    )
    backs = _body_backs(body)
    depth = (np.arange(body.shape[1])[None, :, None] - backs[:, None, :]) * spacing[1]
    return (depth > 0) & (depth <= _CANAL_DEPTH_MM) & middle[None, None, :]


def _in_front_of_body_column(
    body: npt.NDArray[np.bool_], spacing: npt.NDArray[np.float64]
) -> npt.NDArray[np.bool_]:
    """Voxels over 4 mm in front of the body's lower back, across its middle, below its middle."""
    columns = np.flatnonzero(body.any(axis=(0, 1)))
    inset = int(np.ceil(14.0 / spacing[2]))
    middle = np.zeros(body.shape[2], dtype=bool)
    middle[columns[0] + inset : columns[-1] - inset + 1] = True
    backs = _body_backs(body)[:, middle]
    rows = np.flatnonzero(np.isfinite(backs).any(axis=1))
    if rows.size == 0:
        return np.zeros(body.shape, dtype=bool)
    # The back of the body's lower half (its posterior-inferior corner): each column's most
    # posterior point there, then the most anterior of those across the middle.
    lower_half = backs[rows[0] : (rows[0] + rows[-1]) // 2 + 1].max(axis=0)
    reference = lower_half[np.isfinite(lower_half)].min()
    z = np.arange(body.shape[0])
    beside_disc = (z >= rows[0] - 25.0 / spacing[0]) & (z <= (rows[0] + rows[-1]) / 2)
    in_front = (reference - np.arange(body.shape[1])) * spacing[1] > 4.0
    return beside_disc[:, None, None] & in_front[None, :, None] & middle[None, None, :]


def _below_disc_columns(disc: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Voxels below a drawn disc in the (y, x) columns it covers: S1's side, not L5's."""
    z = np.arange(disc.shape[0])[:, None, None]
    covered: npt.NDArray[np.bool_] = np.any(disc, axis=0)
    return (z < np.argmax(disc, axis=0)[None]) & covered[None]


def _forbid(
    mask: npt.NDArray[np.uint8], where: npt.NDArray[np.bool_], structure: Structure
) -> None:
    mask[where] &= np.uint8(ALL_CLASSES & ~bit(structure))


def _extent_mm(
    region: npt.NDArray[np.bool_], spacing_zyx_mm: npt.NDArray[np.float64]
) -> list[tuple[float, float]]:
    """(low, high) position in mm of ``region`` along z, y and x (voxel centres)."""
    where = np.argwhere(region)
    low, high = where.min(axis=0) * spacing_zyx_mm, where.max(axis=0) * spacing_zyx_mm
    return [(float(a), float(b)) for a, b in zip(low, high, strict=True)]


def l5_body_masks(
    predicted: npt.NDArray[np.integer],
    truth: npt.NDArray[np.integer],
    spacing_zyx_mm: tuple[float, float, float],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]] | None:
    """Return the predicted L5 and the labelled body where L5 is scored (None: no body drawn).

    The truth holds the body only, so a predicted L5 is scored in the body's bounding box grown
    by 5 mm, and there only in front of the body's posterior face (+y in LPS is behind it): the
    arch is not scored, but for a few voxels of the pedicles' roots. The face follows the body's
    tilt: in each axial slice (array index z) it lies at the body's rearmost voxel of that slice;
    a slice without body (above or below it, or a gap in a body drawn in pieces) takes the
    nearest slice's. A prediction reaching behind the face (into the canal) is not scored
    either. Both masks are on the box.
    """
    body = truth == Structure.L5
    if not body.any():
        return None
    margin = np.ceil(BODY_BOX_MARGIN_MM / np.asarray(spacing_zyx_mm)).astype(int)
    where = np.argwhere(body)
    low = np.maximum(where.min(axis=0) - margin, 0)
    high = np.minimum(where.max(axis=0) + margin + 1, body.shape)
    z, y, x = (slice(int(a), int(b)) for a, b in zip(low, high, strict=True))
    in_box = body[z, y, x]
    in_slice = in_box.any(axis=2)  # (z, y): the body's extent front to back in each slice
    has_body = in_slice.any(axis=1)
    rearmost = in_slice.shape[1] - 1 - np.argmax(in_slice[:, ::-1], axis=1)
    nearest = ndimage.distance_transform_edt(
        ~has_body, return_distances=False, return_indices=True
    )[0]
    face = rearmost[nearest]
    in_front = np.arange(in_box.shape[1])[None, :, None] <= face[:, None, None]
    return (predicted[z, y, x] == Structure.L5) & in_front, in_box


def l5_body_dice(
    predicted: npt.NDArray[np.integer],
    truth: npt.NDArray[np.integer],
    spacing_zyx_mm: tuple[float, float, float],
) -> float:
    """Dice of the predicted L5 against a labelled body (truth ``1``), in :func:`l5_body_masks`."""
    masks = l5_body_masks(predicted, truth, spacing_zyx_mm)
    return float("nan") if masks is None else _dice(*masks)


def disc_dice(predicted: npt.NDArray[np.integer], truth: npt.NDArray[np.integer]) -> float:
    """Dice of the predicted L5/S1 disc against a labelled one (truth ``2``) over the scan."""
    disc = truth == Structure.DISC
    if not disc.any():
        return float("nan")
    return _dice(predicted == Structure.DISC, disc)


def wrong_level_share(
    predicted: npt.NDArray[np.integer], truth: npt.NDArray[np.integer], structure: Structure
) -> float:
    """Share of the predicted ``structure`` lying on another labelled level (truth ``255``)."""
    mask = predicted == structure
    count = int(mask.sum())
    if count == 0:
        return 0.0
    return float((mask & (truth == OTHER_LEVEL)).sum()) / count


def _dice(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total
