"""The parts and landmarks of DESIGN.md derived from the seven segmented structures.

Everything is measured in the case's own anatomical frame, built from the two landmark planes:
origin on the mid-sagittal plane at the disc's centre, ``u`` toward the patient's left (mm),
``w`` along the disc mid-plane's cranial normal, ``v`` posterior (``u x v = w``). In that frame:

- **Reference levels** are measured on the bones, not assumed: the disc's posterior wall
  ``v_wall`` (the lower quartile of the disc's back edge over its central columns, so a
  herniation does not move it); the front of the L5 lamina behind the canal; and, in the slab
  just behind the L5 body (pedicles only: the transverse processes and facets lie farther back;
  a level where the slab's bone crosses the midline is the body's own back and is left out),
  each pedicle's medial and lateral border and its lower edge.
- **L5**: in front of the wall the body; behind it, medial of the pedicles the lamina (far back,
  the spinous process); lateral, at pedicle height, the pedicle then the transverse process
  beyond the pedicle's lateral border; above the body's top behind the canal the superior
  articular process; lateral bone below the pedicles is the inferior articular process. That
  last rule errs toward the IAP (a blocking part), never away from it: bone of L5 at the level
  of the foramen behind the disc is an IAP until shown otherwise.
- **S1**: the body in front of the wall within the disc's width, the ala lateral of it and
  behind it; behind the wall above the S1 endplate the superior articular process; behind the
  canal at the midline the posterior arch.
- **Nerves**: the dural sac is what survives a morphological opening with a 3.5 mm ball (a root
  is at most ~6 mm thick, the sac ~12-16 mm), then the remaining root voxels of each side are
  split between the exiting L5 root and the traversing S1 root by their geodesic distance to
  two seeds: the most lateral root voxel (the L5 root runs out through the foramen and over
  the ala) and the most caudal one within the disc's width (the S1 root runs down inside the
  canal).
- **Ilium**: split by side; the top 15 mm of each column is the crest.
- **Point b** per side: on the disc mid-plane, at the pedicle's medial border, on the disc's
  posterior wall. A side whose pedicle is not found, or whose medial border lies where no
  pedicle's does (:data:`PEDICLE_MEDIAL_MM`), has neither b nor a: its arch is not told apart
  (bone at the foramen's level is IAP, behind the arch's front lamina).
- **Point a**: the tip of the S1 SAP (its most cranial level) at the ventral end of the joint
  (the most anterior SAP voxel that lies within 3 mm of the IAP).

Lengths are in mm, points in LPS mm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import edt
import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Part, Side, Structure
from lumboplan_app.planning.assessment import sided
from lumboplan_app.planning.landmarks import disc_mid_plane, mid_sagittal_plane, plane_axes
from lumboplan_app.volume import LabelMap

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

#: Radius (mm) of the ball whose opening keeps the dural sac and drops the roots.
SAC_OPENING_RADIUS_MM = 3.5
#: Height (mm) of the iliac crest band at the top of each iliac wing (as the phantom's truth).
CREST_BAND_MM = 15.0
#: Tolerance (mm) around measured borders, about one voxel of a 1 mm scan.
_BORDER_MM = 1.5
#: How far (mm) behind the disc's wall the pedicle slab reaches.
_PEDICLE_SLAB_MM = (1.5, 5.0)
#: The pedicle's root in the slab is bone with bone this far (mm) behind the wall behind it.
_PEDICLE_ROD_MM = (6.0, 10.0)
#: How far (mm) across the rod's bone may lie from the slab's: the pedicles diverge backwards.
_PEDICLE_CONVERGENCE_MM = 3.0
#: Less slab bone than this (mm3) on a side is no pedicle: a sliver, a tenth of a real one.
_PEDICLE_MIN_MM3 = 50.0
#: Slab bone nearer than this (mm) to the mid-sagittal plane is not pedicle (the canal is there).
_MIDLINE_MM = 2.0
#: Where a pedicle's medial border lies (mm from the mid-sagittal plane): half the adult L5
#: interpedicular distance (about 24-30 mm; the phantoms' 22-29 mm), with 3-5 mm for the
#: plane's error. Nearer, the bone is the body's back beside the dural sac; farther, an
#: interpedicular distance of 40 mm, it is not a pedicle.
PEDICLE_MEDIAL_MM = (7.0, 20.0)
#: Levels within this distance (mm) of the fitted posterior wall line refine the fit.
_WALL_FIT_MM = 1.0
#: The spinous process starts this far (mm) behind the front of the lamina.
_SPINOUS_BEHIND_LAMINA_MM = 12.0
#: SAP voxels within this distance (mm) of the IAP form the facet joint.
_JOINT_MM = 3.0


@dataclass(frozen=True)
class AnatomicalFrame:
    """The case's frame: origin (LPS mm) and unit axes u (left), v (posterior), w (cranial)."""

    origin: FloatArray
    axes: FloatArray  # (3, 3): rows u, v, w

    def local(self, points_lps_mm: FloatArray) -> FloatArray:
        """Return (..., 3) LPS points as (u, v, w) mm."""
        return np.asarray((points_lps_mm - self.origin) @ self.axes.T)

    def lps(self, local_uvw_mm: npt.ArrayLike) -> FloatArray:
        """Return (u, v, w) mm points as LPS mm."""
        return np.asarray(local_uvw_mm, dtype=np.float64) @ self.axes + self.origin


@dataclass(frozen=True)
class DerivedAnatomy:
    """The part map and the landmarks (``truth.json``'s form) derived from the structures."""

    parts: LabelMap
    landmarks: dict[str, Any]
    frame: AnatomicalFrame


def anatomical_frame(labels: LabelMap) -> AnatomicalFrame:
    """Build the frame from the disc mid-plane and the mid-sagittal plane.

    Raises
    ------
    PlanningError
        If the disc, L5 or S1 is missing.
    """
    disc_point, cranial = disc_mid_plane(labels)
    mid_point, left = mid_sagittal_plane(labels)
    planes = {
        "disc_mid": {"point": disc_point, "normal": cranial},
        "mid_sagittal": {"point": mid_point, "normal": left},
    }
    origin, u, v, w = plane_axes({"planes": planes})
    return AnatomicalFrame(origin, np.vstack([u, v, w]))


def derive_anatomy(labels: LabelMap) -> DerivedAnatomy:
    """Derive the part map, points a and b and the planes from a structure label map.

    Raises
    ------
    PlanningError
        If the disc, L5 or S1 is missing (no frame can be built).
    """
    frame = anatomical_frame(labels)
    array = labels.array
    local = _LocalCoordinates(labels, frame)
    parts = np.zeros(array.shape, dtype=np.uint8)
    parts[array == Structure.DISC] = Part.DISC
    parts[array == Structure.SKIN] = Part.SKIN
    levels = _measure_levels(local)
    _split_l5(local, levels, parts)
    _split_s1(local, levels, parts)
    _split_nerves(labels, local, levels, parts)
    _split_ilium(labels, local, parts)
    part_map = LabelMap(parts, labels.grid)
    landmarks = _landmarks(frame, local, levels, parts)
    return DerivedAnatomy(part_map, landmarks, frame)


class _LocalCoordinates:
    """(u, v, w) of every voxel of one structure, computed once and kept.

    Each structure is looked for only inside its bounding box (one pass over the label map for
    all boxes), not over the whole scan.
    """

    def __init__(self, labels: LabelMap, frame: AnatomicalFrame) -> None:
        self.labels = labels
        self.frame = frame
        self._cache: dict[int, tuple[npt.NDArray[np.intp], FloatArray]] = {}
        self._boxes = ndimage.find_objects(labels.array)

    def box(self, structure: Structure) -> tuple[slice, slice, slice] | None:
        """Return the (Z, Y, X) bounding box of ``structure`` (None when it is absent)."""
        found = self._boxes[structure - 1] if structure <= len(self._boxes) else None
        return None if found is None else (found[0], found[1], found[2])

    def half_voxel_mm(self) -> tuple[float, float, float]:
        """Return half a voxel's extent along u, v and w (mm)."""
        grid = self.labels.grid
        steps = np.asarray(grid.direction) * np.asarray(grid.spacing_xyz_mm)[None, :]
        extent = np.abs(self.frame.axes @ steps).sum(axis=1) / 2.0
        return float(extent[0]), float(extent[1]), float(extent[2])

    def of(self, structure: Structure) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """Return (voxel indices (N, 3) zyx, local coordinates (N, 3)) of ``structure``."""
        if structure not in self._cache:
            box = self.box(structure)
            if box is None:
                index = np.zeros((0, 3), dtype=np.intp)
            else:
                index = np.argwhere(self.labels.array[box] == structure)
                index += np.array([part.start for part in box], dtype=np.intp)
            points = self.labels.grid.index_to_lps(index.astype(np.float64))
            self._cache[structure] = (index, self.frame.local(points))
        return self._cache[structure]


@dataclass(frozen=True)
class _Profile:
    """A body's posterior wall (a line in w) and the front of its posterior arch by level (mm).

    ``levels`` are w values 1 mm apart and ``arch`` the v of the arch's front at each, filled
    from the nearest measured level; the wall is ``wall_offset + wall_slope * w``.
    """

    wall_offset: float
    wall_slope: float
    levels: FloatArray
    arch: FloatArray

    def wall_at(self, w: FloatArray) -> FloatArray:
        """Return the body's posterior wall (v, mm) at heights ``w``."""
        return self.wall_offset + self.wall_slope * np.asarray(w)

    def arch_at(self, w: FloatArray) -> FloatArray:
        """Return the front of the posterior arch (v, mm) at heights ``w``."""
        return np.interp(w, self.levels, self.arch)


@dataclass(frozen=True)
class _Pedicle:
    """One L5 pedicle's borders (mm): medial and lateral across the midline, its lowest w."""

    medial: float
    lateral: float
    bottom: float


@dataclass(frozen=True)
class _Levels:
    """Reference positions measured on the bones (mm, in the anatomical frame)."""

    v_wall: float
    disc_half_width: float
    l5: _Profile
    s1: _Profile
    l5_top: float
    s1_top: float
    #: The L5 pedicles found where a pedicle lies; a side without one is absent.
    pedicles: dict[Side, _Pedicle]

    def medial_of(self, side: Side) -> float:
        """Return the side's pedicle medial border (mm from the midline) for splitting parts.

        Without a pedicle, the nearest a pedicle's border lies (the canal is medial of it): the
        dural sac and S1's posterior arch keep their midline, on a side that is not planned.
        """
        found = self.pedicles.get(side)
        return PEDICLE_MEDIAL_MM[0] if found is None else found.medial


def _measure_levels(local: _LocalCoordinates) -> _Levels:
    _, disc = local.of(Structure.DISC)
    _, l5 = local.of(Structure.L5)
    _, s1 = local.of(Structure.S1)
    if len(l5) == 0 or len(s1) == 0:
        raise PlanningError("L5 or S1 was not found: the foramina cannot be described.")
    disc_half_width = float(np.percentile(np.abs(disc[:, 0]), 98))
    # Voxel centres lie half a voxel inside a surface: the pedicle's borders measured on them
    # are moved out by the voxel's half extent (a 1 mm bias of b flipped a borderline contact).
    half_u, _, half_w = local.half_voxel_mm()
    v_wall = _posterior_wall(disc, disc_half_width)
    l5_profile = _profile(l5, v_wall, "L5")
    s1_profile = _profile(s1, v_wall, "S1")
    body = l5[:, 1] <= l5_profile.wall_at(l5[:, 2]) + _BORDER_MM
    l5_top = float(np.percentile(l5[body, 2], 99))
    s1_body = s1[:, 1] <= s1_profile.wall_at(s1[:, 2]) + _BORDER_MM
    s1_top = float(np.percentile(s1[s1_body, 2], 99))
    pedicles = {}
    behind_body = l5[:, 1] - l5_profile.wall_at(l5[:, 2])
    slab = (behind_body > _PEDICLE_SLAB_MM[0]) & (behind_body < _PEDICLE_SLAB_MM[1])
    slab &= ~_levels_crossing_the_midline(l5, slab)
    rod = (behind_body > _PEDICLE_ROD_MM[0]) & (behind_body < _PEDICLE_ROD_MM[1])
    voxel_mm3 = float(np.prod(local.labels.grid.spacing_xyz_mm))
    reach = (max(_PEDICLE_CONVERGENCE_MM, 2.0 * half_u), max(1.0, 2.0 * half_w))
    for side in Side:
        across = side.lps_sign * l5[:, 0]
        on_side = across > _MIDLINE_MM
        pedicle = slab & on_side
        if pedicle.any() and across[pedicle].min() - half_u < PEDICLE_MEDIAL_MM[0]:
            # Medial of where a pedicle lies: the body's own back beside the pedicle's root.
            rooted = _leading_back(l5, pedicle, rod & on_side, reach)
            if rooted.sum() * voxel_mm3 >= _PEDICLE_MIN_MM3:
                pedicle = rooted
        if pedicle.sum() * voxel_mm3 < _PEDICLE_MIN_MM3:
            logger.info("the %s L5 pedicle was not found behind the body", side.value)
            continue
        found = _Pedicle(
            float(across[pedicle].min()) - half_u,
            float(across[pedicle].max()) + half_u,
            float(l5[pedicle, 2].min()) - half_w,
        )
        if not PEDICLE_MEDIAL_MM[0] <= found.medial <= PEDICLE_MEDIAL_MM[1]:
            logger.info(
                "the bone behind the body on the %s is no pedicle: its medial border lies "
                "%.1f mm from the midline",
                side.value,
                found.medial,
            )
            continue
        pedicles[side] = found
    return _Levels(v_wall, disc_half_width, l5_profile, s1_profile, l5_top, s1_top, pedicles)


def _leading_back(
    l5: FloatArray,
    slab: npt.NDArray[np.bool_],
    rod: npt.NDArray[np.bool_],
    reach_mm: tuple[float, float],
) -> npt.NDArray[np.bool_]:
    """Return the L5 voxels of ``slab`` with bone of ``rod`` behind them: the pedicle's root.

    A pedicle runs back from the body to the arch; the body's own posterolateral back, which
    lies behind the midline wall on a real body (its back is concave, its endplates' rims stand
    out), ends within a few mm. A slab voxel is kept where a ``rod`` voxel (bone farther back)
    lies within ``reach_mm`` (across u, along w; mm) of it.
    """
    if not rod.any():
        return np.zeros(len(l5), dtype=bool)
    across, along = reach_mm
    scale = np.array([1.0, across / along])  # a box of across x along becomes a square
    behind = cKDTree(l5[rod][:, [0, 2]] * scale)
    distance, _ = behind.query(
        l5[slab][:, [0, 2]] * scale, p=np.inf, distance_upper_bound=across + 1e-6
    )
    kept = np.zeros(len(l5), dtype=bool)
    kept[np.flatnonzero(slab)[np.isfinite(distance)]] = True
    return kept


def _levels_crossing_the_midline(
    l5: FloatArray, slab: npt.NDArray[np.bool_]
) -> npt.NDArray[np.bool_]:
    """Return the L5 voxels on the levels where the slab's bone crosses the midline.

    Levels are 1 mm apart in w; the ones beside a crossing level go with it (a voxel row is
    tilted against the frame). The canal lies between the pedicles: bone of the slab at the
    midline is the body's own back, caught where the wall line runs in front of it (a voxel
    step, a rim). Read as a pedicle, it put the pedicles' medial border, and point b, at the
    midline (10 mm off).
    """
    level = np.round(l5[:, 2]).astype(int)
    crossing = np.unique(level[slab & (np.abs(l5[:, 0]) < _MIDLINE_MM)])
    return np.isin(level, np.concatenate([crossing - 1, crossing, crossing + 1]))


def _profile(bone: FloatArray, v_wall: float, name: str) -> _Profile:
    """Measure a vertebra's posterior wall and arch front along its midline (|u| < 4 mm).

    At each 1 mm level the midline voxels' v values split at their widest gap whose far side
    lies behind the disc's wall (the canal, wider than 5 mm): the body in front, the arch
    behind. A gap in front of the wall is inside the body: a real endplate is concave, and its
    lowest level is two rims with the hollow between (read as the canal, it put the "arch" of
    25 of the 39 real scans inside the body). A level without a gap is body when it lies
    within 8 mm of the disc's wall, arch otherwise. The wall is a line fitted to the levels on
    it, without the rounded rims of the endplates that fall short of it (``_wall_line``): the
    body is tilted against the disc by the lordosis, and the line carries the tilt to the
    levels of the posterior elements.
    """
    midline = bone[np.abs(bone[:, 0]) < 4.0]
    if len(midline) == 0:
        raise PlanningError(f"{name} was not found at the midline: its parts cannot be told apart.")
    rounded = np.round(midline[:, 2]).astype(int)
    levels, walls, arches = [], [], []
    for level in np.unique(rounded):
        values = np.sort(midline[rounded == level, 1])
        gaps = np.where(values[1:] > v_wall, np.diff(values), 0.0)
        widest = int(np.argmax(gaps)) if len(gaps) else 0
        if len(gaps) and gaps[widest] > 5.0:
            wall, arch = values[widest], values[widest + 1]
        elif values[0] < v_wall + 8.0:
            wall, arch = values[-1], np.nan
        else:
            wall, arch = np.nan, values[0]
        levels.append(float(level))
        walls.append(wall)
        arches.append(arch)
    wall_levels, wall_values = np.array(levels), np.array(walls)
    slope, offset = _wall_line(wall_levels, wall_values, v_wall)
    return _Profile(float(offset), float(slope), wall_levels, _filled(np.array(arches)))


def _wall_line(levels: FloatArray, walls: FloatArray, v_wall: float) -> tuple[float, float]:
    """Fit the posterior wall ``v = offset + slope * w`` to its per-level values (NaN: none).

    The rounded rims of the endplates fall short of the wall by up to their radius (~2.5 mm):
    kept in the fit, they flattened its slope and drew it up to 1.5 mm in front of the real wall
    at the ends of the body, where the body's back then entered the pedicle slab. So the first
    line (the levels within 2 mm of the median) is fitted again to the levels within
    ``_WALL_FIT_MM`` of it (the rims drop out, the wall's voxel steps stay) until they no longer
    change.
    """
    known = np.isfinite(walls)
    used = known & (walls > np.median(walls[known]) - 2.0) if known.any() else known
    if used.sum() < 3:
        return 0.0, v_wall
    for _ in range(10):
        slope, offset = np.polyfit(levels[used], walls[used], 1)
        within = known & (np.abs(walls - (offset + slope * levels)) <= _WALL_FIT_MM)
        if within.sum() < 3 or np.array_equal(within, used):
            break
        used = within
    return float(slope), float(offset)


def _filled(values: FloatArray) -> FloatArray:
    """Fill NaN entries from the nearest measured one (all NaN: +inf, nothing is behind)."""
    known = np.flatnonzero(np.isfinite(values))
    if len(known) == 0:
        return np.full(len(values), np.inf)
    nearest = known[np.abs(np.arange(len(values))[:, None] - known[None, :]).argmin(axis=1)]
    return values[nearest]


def _posterior_wall(disc: FloatArray, half_width: float) -> float:
    """Return the disc's posterior wall (v, mm): lower quartile of its central columns' backs."""
    central = (np.abs(disc[:, 0]) < 0.5 * half_width) & (np.abs(disc[:, 2]) < 3.0)
    columns = np.round(disc[central, 0]).astype(int)
    backs = [float(disc[central, 1][columns == c].max()) for c in np.unique(columns)]
    if not backs:
        raise PlanningError("The L5/S1 disc's posterior wall was not found.")
    return float(np.percentile(backs, 25))


def _split_l5(local: _LocalCoordinates, levels: _Levels, parts: npt.NDArray[np.uint8]) -> None:
    index, coordinates = local.of(Structure.L5)
    u, v, w = coordinates.T
    wall, arch = levels.l5.wall_at(w), levels.l5.arch_at(w)
    result = np.full(len(u), int(Part.L5_BODY), dtype=np.uint8)
    behind = v > wall + _BORDER_MM
    in_front = v < arch - _BORDER_MM
    for side in Side:
        across = side.lps_sign * u
        on_side = across >= 0
        pedicle_found = levels.pedicles.get(side)
        if pedicle_found is None:
            # Without a pedicle the arch's bone is not told apart: in front of the arch's front
            # (the foramen's level) it is an IAP, a blocking part; behind it, lamina.
            result[behind & on_side & in_front] = sided(side, Part.L5_IAP_LEFT, Part.L5_IAP_RIGHT)
            result[on_side & ~in_front] = Part.L5_LAMINA
            result[on_side & (v > arch + _SPINOUS_BEHIND_LAMINA_MM)] = Part.L5_SPINOUS_PROCESS
            continue
        medial = pedicle_found.medial - _BORDER_MM
        lateral_border = pedicle_found.lateral + _BORDER_MM
        low = pedicle_found.bottom - _BORDER_MM
        midline = on_side & (across < medial) & ~in_front
        result[midline] = Part.L5_LAMINA
        result[midline & (v > arch + _SPINOUS_BEHIND_LAMINA_MM)] = Part.L5_SPINOUS_PROCESS
        lateral = behind & on_side & (across >= medial)
        pedicle = lateral & (w >= low) & in_front & (across <= lateral_border)
        result[pedicle] = sided(side, Part.L5_PEDICLE_LEFT, Part.L5_PEDICLE_RIGHT)
        result[lateral & (w >= low) & ~in_front] = Part.L5_LAMINA
        result[lateral & (w >= low) & (across > lateral_border)] = sided(
            side, Part.L5_TRANSVERSE_PROCESS_LEFT, Part.L5_TRANSVERSE_PROCESS_RIGHT
        )
        superior = lateral & ~in_front & (w > levels.l5_top - 4.0)
        result[superior] = sided(side, Part.L5_SAP_LEFT, Part.L5_SAP_RIGHT)
        result[lateral & (w < low)] = sided(side, Part.L5_IAP_LEFT, Part.L5_IAP_RIGHT)
    parts[tuple(index.T)] = result


def _split_s1(local: _LocalCoordinates, levels: _Levels, parts: npt.NDArray[np.uint8]) -> None:
    index, coordinates = local.of(Structure.S1)
    u, v, w = coordinates.T
    wall, arch = levels.s1.wall_at(w), levels.s1.arch_at(w)
    result = np.full(len(u), int(Part.S1_BODY), dtype=np.uint8)
    behind = v > wall + _BORDER_MM
    for side in Side:
        across = side.lps_sign * u
        on_side = across >= 0
        ala = on_side & ((across > levels.disc_half_width) | behind)
        result[ala] = sided(side, Part.S1_ALA_LEFT, Part.S1_ALA_RIGHT)
        medial = levels.medial_of(side) - 3.0
        posterior_arch = on_side & (across < medial) & (v > arch - _BORDER_MM)
        result[posterior_arch] = Part.S1_POSTERIOR_ARCH
        facet_column = on_side & behind & (across >= medial) & (v > arch - 5.0)
        above_endplate = on_side & behind & (across >= medial) & (w > levels.s1_top - _BORDER_MM)
        result[facet_column | above_endplate] = sided(side, Part.S1_SAP_LEFT, Part.S1_SAP_RIGHT)
    parts[tuple(index.T)] = result


def _opened(
    mask: npt.NDArray[np.bool_], spacing_zyx: npt.NDArray[np.float64], radius_mm: float
) -> npt.NDArray[np.bool_]:
    """Return the opening of a (Z, Y, X) mask by a ball of ``radius_mm`` (mm, anisotropic).

    The same voxels as ``ndimage.binary_opening`` with the ball of the voxel offsets within
    the radius (outside the image counts as outside the mask), from two distance transforms
    over the mask's box grown by the ball: a voxel survives the erosion when no voxel outside
    the mask lies within the radius, and the opening keeps the voxels within it of a survivor.
    """
    boxes = ndimage.find_objects(mask.astype(np.uint8))
    opened = np.zeros(mask.shape, dtype=bool)
    if not boxes or boxes[0] is None:
        return opened
    reach = np.ceil(radius_mm / spacing_zyx).astype(int) + 1
    window = tuple(
        slice(max(int(part.start) - grow, 0), min(int(part.stop) + grow, size))
        for part, grow, size in zip(boxes[0], reach, mask.shape, strict=True)
    )
    # A layer outside the window: beyond the image's edge it is outside the mask, as the ball
    # erosion has it; elsewhere the window's own border is outside the mask already.
    padded = np.pad(mask[window], 1, constant_values=False)
    anisotropy = tuple(float(s) for s in spacing_zyx)  # C order: the axes as the array's
    eroded = edt.edtsq(padded, anisotropy=anisotropy) > radius_mm**2
    if not eroded.any():
        return opened
    near = edt.edtsq(~eroded, anisotropy=anisotropy) <= radius_mm**2
    opened[window] = near[1:-1, 1:-1, 1:-1]
    return opened


def _split_nerves(
    labels: LabelMap,
    local: _LocalCoordinates,
    levels: _Levels,
    parts: npt.NDArray[np.uint8],
) -> None:
    box = local.box(Structure.NERVES)
    if box is None:
        return
    # Within the nerves' box: the opening of the mask cannot reach past it.
    nerves = labels.array[box] == Structure.NERVES
    spacing_zyx = np.asarray(labels.grid.spacing_xyz_mm[::-1])
    sac = _opened(nerves, spacing_zyx, SAC_OPENING_RADIUS_MM)
    components, count = ndimage.label(sac)
    if count > 1:  # the sac is the largest thick piece; others (a swollen root) stay roots
        sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
        sac = components == 1 + int(np.argmax(sizes))
    index, coordinates = local.of(Structure.NERVES)
    corner = np.array([part.start for part in box], dtype=np.intp)
    in_sac = sac[tuple((index - corner).T)]
    result = np.full(len(index), int(Part.DURAL_SAC), dtype=np.uint8)
    for side in Side:
        across = side.lps_sign * coordinates[:, 0]
        root = ~in_sac & (across > 0)
        if not root.any():
            continue
        chosen = np.flatnonzero(root)
        l5_seed = chosen[int(np.argmax(across[chosen]))]
        within = chosen[across[chosen] < levels.disc_half_width]
        l5_part = int(sided(side, Part.L5_ROOT_LEFT, Part.L5_ROOT_RIGHT))
        if len(within) == 0:
            result[chosen] = l5_part
            continue
        s1_seed = within[int(np.argmin(coordinates[within, 2]))]
        to_l5, to_s1 = _geodesic(index[chosen], spacing_zyx, chosen, [l5_seed, s1_seed])
        s1_part = int(sided(side, Part.S1_ROOT_LEFT, Part.S1_ROOT_RIGHT))
        assigned = np.where(to_l5 <= to_s1, l5_part, s1_part)
        # Pieces joined to neither seed: a sliver of the sac's rim (medial) or a root.
        alone = ~np.isfinite(to_l5) & ~np.isfinite(to_s1)
        medial = across[chosen] < levels.medial_of(side)
        assigned[alone] = np.where(medial[alone], int(Part.DURAL_SAC), l5_part)
        result[chosen] = assigned
    parts[tuple(index.T)] = result


def _geodesic(
    voxels: npt.NDArray[np.intp],
    spacing_zyx: FloatArray,
    members: npt.NDArray[np.intp],
    seeds: list[int],
) -> tuple[FloatArray, FloatArray]:
    """Distances (mm) inside a voxel set, through its 26-neighbourhood, from two seed voxels.

    Voxels not connected to a seed are given an infinite distance to it.
    """
    low = voxels.min(axis=0)
    shifted = voxels - low + 1  # a border of one empty voxel around the set
    lookup = np.full(tuple(shifted.max(axis=0) + 2), -1, dtype=np.int64)
    lookup[tuple(shifted.T)] = np.arange(len(voxels))
    rows, columns, lengths = [], [], []
    for delta in np.array(list(np.ndindex(3, 3, 3))) - 1:
        if tuple(delta) <= (0, 0, 0):  # each neighbour pair once, no self-loops
            continue
        neighbour = lookup[tuple((shifted + delta).T)]
        linked = neighbour >= 0
        rows.append(np.flatnonzero(linked))
        columns.append(neighbour[linked])
        lengths.append(np.full(int(linked.sum()), float(np.linalg.norm(delta * spacing_zyx))))
    count = len(voxels)
    graph = coo_matrix(
        (np.concatenate(lengths), (np.concatenate(rows), np.concatenate(columns))),
        shape=(count, count),
    ).tocsr()
    where = {int(m): i for i, m in enumerate(members)}
    distances = dijkstra(graph, directed=False, indices=[where[s] for s in seeds])
    return distances[0], distances[1]


def _split_ilium(labels: LabelMap, local: _LocalCoordinates, parts: npt.NDArray[np.uint8]) -> None:
    index, coordinates = local.of(Structure.ILIUM)
    box = local.box(Structure.ILIUM)
    if box is None:
        return
    ilium = labels.array[box] == Structure.ILIUM
    # The canonical grid's first axis runs toward superior: the top of each column is its crest.
    top = np.where(ilium.any(axis=0), ilium.shape[0] - 1 - np.argmax(ilium[::-1], axis=0), -1)
    corner = np.array([part.start for part in box], dtype=np.intp)
    inside = index - corner
    depth_mm = (top[inside[:, 1], inside[:, 2]] - inside[:, 0]) * labels.grid.spacing_xyz_mm[2]
    crest = depth_mm < CREST_BAND_MM
    left = coordinates[:, 0] >= 0
    result = np.select(
        [left & crest, left & ~crest, ~left & crest],
        [int(Part.ILIAC_CREST_LEFT), int(Part.ILIAC_WING_LEFT), int(Part.ILIAC_CREST_RIGHT)],
        int(Part.ILIAC_WING_RIGHT),
    )
    parts[tuple(index.T)] = result.astype(np.uint8)


def _landmarks(
    frame: AnatomicalFrame,
    local: _LocalCoordinates,
    levels: _Levels,
    parts: npt.NDArray[np.uint8],
) -> dict[str, Any]:
    points: dict[str, dict[str, list[float] | None]] = {}
    lines: dict[str, dict[str, Any]] = {}
    for side in Side:
        pedicle = levels.pedicles.get(side)
        if pedicle is None:  # no pedicle: neither b nor the facet's parts, nor a, are known
            points[side.value] = {"a": None, "b": None}
            continue
        b = frame.lps([side.lps_sign * pedicle.medial, levels.v_wall, 0.0])
        points[side.value] = {"a": _point_a(local, parts, side), "b": b.tolist()}
        lines[side.value] = {"point": b.tolist(), "direction": frame.axes[2].tolist()}
    return {
        "planes": {
            "mid_sagittal": {"point": frame.origin.tolist(), "normal": frame.axes[0].tolist()},
            "disc_mid": {"point": frame.origin.tolist(), "normal": frame.axes[2].tolist()},
        },
        "points_lps_mm": points,
        "medial_pedicle_lines": lines,
    }


def _point_a(
    local: _LocalCoordinates, parts: npt.NDArray[np.uint8], side: Side
) -> list[float] | None:
    """Return the ventral end of the facet joint at the SAP's tip (LPS mm); None if not found."""
    s1_index, _ = local.of(Structure.S1)
    l5_index, _ = local.of(Structure.L5)
    sap_part = sided(side, Part.S1_SAP_LEFT, Part.S1_SAP_RIGHT)
    iap_part = sided(side, Part.L5_IAP_LEFT, Part.L5_IAP_RIGHT)
    sap = parts[tuple(s1_index.T)] == sap_part
    iap = parts[tuple(l5_index.T)] == iap_part
    if not sap.any() or not iap.any():
        return None
    grid = local.labels.grid
    iap_points = grid.index_to_lps(l5_index[iap].astype(np.float64))
    sap_points = grid.index_to_lps(s1_index[sap].astype(np.float64))
    near, nearest = cKDTree(iap_points).query(sap_points, distance_upper_bound=_JOINT_MM)
    touching = np.isfinite(near)
    if touching.sum() < 3:
        return None
    # The joint surface: midway between each SAP voxel near the IAP and its nearest IAP voxel.
    midway = local.frame.local((sap_points[touching] + iap_points[nearest[touching]]) / 2.0)
    spacing_w = float(np.abs(local.frame.axes[2] @ np.diag(grid.spacing_xyz_mm)).max())
    sap_tip = float(local.frame.local(sap_points[touching])[:, 2].max())
    tip = sap_tip + spacing_w / 2.0  # the top voxel's centre lies inside the process
    joint = midway[midway[:, 2] > tip - 8.0][:, :2]
    if len(joint) < 3:
        return None
    # The joint line in the axial plane: its principal direction, pointed anteriorly (-v).
    centre = joint.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((joint - centre).T))
    along = vectors[:, 1] if vectors[1, 1] < 0 else -vectors[:, 1]
    reach = float(np.percentile((joint - centre) @ along, 97))
    ventral = centre + reach * along
    return local.frame.lps([ventral[0], ventral[1], tip]).tolist()
