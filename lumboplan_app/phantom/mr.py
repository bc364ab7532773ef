"""The MR appearance of a phantom: a 3-D T2 (SPACE-like) image on a per-case acquisition grid.

The anatomy is painted as tissue classes on a fine axis-aligned canvas covering the field of
view. Each tissue gets an intensity from the case's :class:`Contrast` (T2 weighting with
variations: fat suppression, degenerated discs, flow voids, a gamma curve) and a band-limited
texture. The scanner's point-spread function is a Gaussian per acquisition axis (partial volume,
much larger along thick slices); the blurred image is resampled onto the acquisition grid
(orientation, spacing, slight obliquity, cropped field of view), multiplied by a smooth receive
bias (strongest at the back, where the spine coil lies) and given Rician noise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lumboplan_app.phantom.anatomy import Anatomy, Tissue, render
from lumboplan_app.phantom.shapes import Canvas, rotation_x, rotation_y, rotation_z
from lumboplan_app.volume import Grid, LabelMap, Volume, resample_labels, resample_volume

#: Direction matrices (columns: x, y, z index axes in LPS) of the three acquisition planes, as
#: scanners write them: sagittal slices run right to left, rows anterior to posterior and
#: columns superior to inferior; axial slices run inferior to superior; coronal anterior to
#: posterior.
_PLANE_DIRECTIONS = {
    "sagittal": np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
    "axial": np.eye(3),
    "coronal": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}


#: Largest in-plane matrix, as on scanners: finer pixels come with a smaller field of view.
MAX_MATRIX = 384


@dataclass(frozen=True)
class Acquisition:
    """How the phantom is scanned.

    Parameters
    ----------
    plane : str
        ``"sagittal"``, ``"axial"`` or ``"coronal"``: the slice plane.
    in_plane_mm : float
        Pixel size in the slice plane, 0.5..1.2.
    slice_mm : float
        Slice spacing, 0.8..1.5 for 3-D protocols, 3..4 for thick-slice 2-D ones.
    two_d : bool
        A 2-D (thick-slice) protocol.
    tilt_deg : tuple of float
        Small rotations (about x, y, z, degrees) of the slice stack: oblique planning.
    fov_half_mm : tuple of float
        Half of the field of view along L, P, S around the L5/S1 disc (mm), before clipping to
        the body.
    fov_centre_mm : tuple of float
        Centre of the field of view in LPS mm.
    """

    plane: str = "sagittal"
    in_plane_mm: float = 0.9
    slice_mm: float = 1.0
    two_d: bool = False
    tilt_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    fov_half_mm: tuple[float, float, float] = (200.0, 160.0, 100.0)
    fov_centre_mm: tuple[float, float, float] = (0.0, -10.0, 5.0)

    def spacing_lps_mm(self) -> tuple[float, float, float]:
        """Voxel size along the patient's L, P, S axes (ignoring the small tilt)."""
        direction = _PLANE_DIRECTIONS[self.plane]
        spacing_xyz = np.array([self.in_plane_mm, self.in_plane_mm, self.slice_mm])
        return tuple(float(v) for v in np.abs(direction) @ spacing_xyz)  # type: ignore[return-value]


@dataclass(frozen=True)
class Contrast:
    """Relative intensities per tissue (0..1 before the gain) and the image's imperfections.

    ``weighting`` names the contrast in the series description: ``"T2"``, or ``"random"`` for
    :func:`sample_random_contrast`.
    """

    intensities: dict[str, float] = field(default_factory=dict)
    weighting: str = "T2"
    fat_suppressed: bool = False
    gamma: float = 1.0
    texture: float = 0.06
    noise: float = 0.025
    bias: float = 0.35
    gain: float = 1000.0


#: A typical 3-D T2 SPACE without fat suppression (bright CSF, fat and nucleus; dark cortex).
T2_DEFAULT: dict[Tissue, float] = {
    Tissue.AIR: 0.0,
    Tissue.FAT: 0.72,
    Tissue.SKIN: 0.4,
    Tissue.MUSCLE: 0.2,
    Tissue.VISCERA: 0.24,
    Tissue.VESSEL: 0.06,
    Tissue.CORTICAL_BONE: 0.05,
    Tissue.MARROW: 0.42,
    Tissue.ANNULUS: 0.13,
    Tissue.NUCLEUS: 0.72,
    Tissue.CSF: 1.0,
    Tissue.NERVE: 0.28,
    Tissue.LIGAMENT: 0.08,
    Tissue.CARTILAGE: 0.45,
}
#: How strongly each tissue is textured (relative to :attr:`Contrast.texture`).
_TEXTURE_WEIGHT = {
    Tissue.MARROW: 1.6,
    Tissue.VISCERA: 2.0,
    Tissue.MUSCLE: 1.0,
    Tissue.FAT: 0.7,
    Tissue.NUCLEUS: 0.8,
}


def sample_acquisition(rng: np.random.Generator) -> Acquisition:
    """Draw how a case is scanned: mostly sagittal 3-D, some axial, some thick-slice 2-D."""
    plane = str(rng.choice(["sagittal", "axial", "coronal"], p=[0.6, 0.3, 0.1]))
    two_d = bool(rng.random() < 0.12)
    in_plane = float(rng.triangular(0.5, 0.9, 1.2))
    slice_mm = float(rng.uniform(3.0, 4.0)) if two_d else float(rng.uniform(0.8, 1.5))
    tilt = tuple(float(v) for v in rng.normal(0.0, 3.0, 3).clip(-8.0, 8.0))
    # Half fields of view: wide enough for the posterolateral skin (point d, about 90 mm from the
    # midline), sometimes cropping the flanks and the anterior abdomen as real scans do.
    fov = (
        float(rng.uniform(115.0, 170.0)),
        float(rng.uniform(100.0, 140.0)),
        float(rng.uniform(70.0, 95.0)),
    )
    centre = (float(rng.normal(0, 4)), float(rng.normal(5, 8)), float(rng.normal(5, 6)))
    return Acquisition(plane, in_plane, slice_mm, two_d, tilt, fov, centre)  # type: ignore[arg-type]


def sample_contrast(rng: np.random.Generator) -> Contrast:
    """Draw a T2 contrast: jittered tissues, some fat suppression, degenerated discs, flow.

    Fat suppression in a fifth of the cases, darker (degenerated) nuclei, flow voids or bright
    slow flow, a gamma curve.
    """
    fat_suppressed = bool(rng.random() < 0.2)
    values = {
        tissue: value * float(rng.uniform(0.85, 1.15)) for tissue, value in T2_DEFAULT.items()
    }
    values[Tissue.CSF] = 1.0
    values[Tissue.AIR] = 0.0
    values[Tissue.NUCLEUS] = float(rng.uniform(0.25, 0.85))  # disc degeneration darkens it
    if fat_suppressed:
        values[Tissue.FAT] = float(rng.uniform(0.06, 0.14))
        values[Tissue.MARROW] = float(rng.uniform(0.12, 0.22))
        values[Tissue.SKIN] = float(rng.uniform(0.2, 0.3))
    if rng.random() < 0.15:
        values[Tissue.VESSEL] = float(rng.uniform(0.4, 0.7))  # slow flow
    return Contrast(
        intensities={tissue.name: float(v) for tissue, v in values.items()},
        fat_suppressed=fat_suppressed,
        gamma=float(rng.uniform(0.8, 1.25)),
        texture=float(rng.uniform(0.03, 0.09)),
        noise=float(rng.uniform(0.012, 0.04)),
        bias=float(rng.uniform(0.15, 0.5)),
        gain=float(rng.uniform(600.0, 3000.0)),
    )


def sample_random_contrast(rng: np.random.Generator) -> Contrast:
    """Draw a contrast no scanner makes: every tissue's intensity uniform in 0..1 (SynthSeg).

    Billot et al. (SynthSeg, Medical Image Analysis 2023) trained on images whose tissues had
    random intensities and segmented scans of contrasts they never saw. Phantoms with such
    contrasts teach the network the shapes of L5, the disc and S1 rather than the T2 grey values
    (real water-fat, T1 and STIR scans order the tissues differently). Air stays dark, as in
    every MR image; the imperfections are drawn as for T2.
    """
    values = {tissue.name: float(rng.uniform(0.0, 1.0)) for tissue in Tissue}
    values[Tissue.AIR.name] = float(rng.uniform(0.0, 0.05))
    return Contrast(
        intensities=values,
        weighting="random",
        gamma=float(rng.uniform(0.8, 1.25)),
        texture=float(rng.uniform(0.03, 0.09)),
        noise=float(rng.uniform(0.012, 0.04)),
        bias=float(rng.uniform(0.15, 0.5)),
        gain=float(rng.uniform(600.0, 3000.0)),
    )


def default_contrast() -> Contrast:
    """Return the default T2 contrast (no jitter)."""
    return Contrast(intensities={tissue.name: value for tissue, value in T2_DEFAULT.items()})


def acquisition_grid(anatomy: Anatomy, acquisition: Acquisition) -> Grid:
    """Return the scan's voxel grid: the field of view, clipped to the body, in the slice plane."""
    direction = (
        rotation_x(acquisition.tilt_deg[0])
        @ rotation_y(acquisition.tilt_deg[1])
        @ rotation_z(acquisition.tilt_deg[2])
        @ _PLANE_DIRECTIONS[acquisition.plane]
    )
    centre = np.asarray(acquisition.fov_centre_mm)
    half = np.asarray(acquisition.fov_half_mm)
    low = np.maximum(centre - half, anatomy.body_low_lps_mm - 5.0)
    high = np.minimum(centre + half, anatomy.body_high_lps_mm + 5.0)
    centre, half = (low + high) / 2, (high - low) / 2
    # Extent of the box along each index axis (the stack is rotated, so use its projection).
    extent_index = np.abs(direction.T) @ half
    spacing = np.array([acquisition.in_plane_mm, acquisition.in_plane_mm, acquisition.slice_mm])
    counts = np.maximum(np.floor(2 * extent_index / spacing).astype(int) + 1, 3)
    counts[:2] = np.minimum(counts[:2], MAX_MATRIX)  # a finer pixel means a smaller field
    origin = centre - direction @ (spacing * (counts - 1) / 2)
    return Grid(
        shape_zyx=(int(counts[2]), int(counts[1]), int(counts[0])),
        spacing_xyz_mm=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
        origin_lps_mm=tuple(float(o) for o in origin),  # type: ignore[arg-type]
        direction=direction,
    )


def _canvas_for(grid: Grid, acquisition: Acquisition) -> Canvas:
    """Return an axis-aligned canvas covering ``grid`` with a margin, fine for partial volume."""
    corners = np.array(
        [
            [z, y, x]
            for z in (0, grid.shape_zyx[0] - 1)
            for y in (0, grid.shape_zyx[1] - 1)
            for x in (0, grid.shape_zyx[2] - 1)
        ],
        dtype=np.float64,
    )
    points = grid.index_to_lps(corners)
    fine_mm = 0.6 if acquisition.in_plane_mm < 0.8 else 0.75
    return Canvas(points.min(axis=0) - 4.0, points.max(axis=0) + 4.0, fine_mm)


def synthesize(
    anatomy: Anatomy, acquisition: Acquisition, contrast: Contrast, rng: np.random.Generator
) -> tuple[Volume, LabelMap]:
    """Render the MR image and the part map of ``anatomy`` on the acquisition grid.

    Returns
    -------
    image : Volume
        (Z, Y, X) float32 on the acquisition grid (not yet canonical), scanner-like values.
    parts : LabelMap
        The ground-truth part ids on the same grid (nearest neighbour of the fine canvas).
    """
    grid = acquisition_grid(anatomy, acquisition)
    canvas = _canvas_for(grid, acquisition)
    tissues, parts = render(anatomy, canvas)
    table = np.zeros(len(Tissue), dtype=np.float32)
    for name, value in contrast.intensities.items():
        table[Tissue[name]] = value
    weights = np.ones(len(Tissue), dtype=np.float32)
    for tissue, weight in _TEXTURE_WEIGHT.items():
        weights[tissue] = weight
    intensity = table[tissues]
    _blur_like_the_scanner(intensity, canvas, acquisition)
    canvas_grid = Grid(canvas.shape_zyx, (canvas.spacing_mm,) * 3, tuple(canvas.low))
    sampled = resample_volume(Volume(intensity, canvas_grid), grid).array
    texture_weight = resample_volume(Volume(weights[tissues], canvas_grid), grid).array
    part_ids = resample_labels(LabelMap(parts, canvas_grid), grid, "nearest").array
    grain = ndimage.gaussian_filter(rng.standard_normal(sampled.shape, dtype=np.float32), 1.0)
    grain *= contrast.texture / max(float(grain.std()), 1e-6)
    sampled *= 1.0 + grain * texture_weight
    np.clip(sampled, 0.0, None, out=sampled)
    if contrast.gamma != 1.0:
        sampled **= contrast.gamma
    sampled *= _receive_bias(grid, anatomy, contrast, rng)
    sigma = contrast.noise
    real = sampled + sigma * rng.standard_normal(sampled.shape, dtype=np.float32)
    imaginary = sigma * rng.standard_normal(sampled.shape, dtype=np.float32)
    values = np.round(np.hypot(real, imaginary) * contrast.gain).astype(np.float32)
    return Volume(values, grid), LabelMap(part_ids, grid)


def _blur_like_the_scanner(
    intensity: npt.NDArray[np.float32], canvas: Canvas, acquisition: Acquisition
) -> None:
    """Gaussian point-spread function per patient axis (FWHM about one acquisition voxel)."""
    spacing_lps = acquisition.spacing_lps_mm()
    for axis_lps, spacing in enumerate(spacing_lps):
        sigma_mm = np.sqrt(max((0.42 * spacing) ** 2 - (0.3 * canvas.spacing_mm) ** 2, 0.0))
        if sigma_mm > 0.2 * canvas.spacing_mm:
            ndimage.gaussian_filter1d(
                intensity,
                sigma_mm / canvas.spacing_mm,
                axis=2 - axis_lps,
                output=intensity,
                mode="nearest",
            )


def _receive_bias(
    grid: Grid, anatomy: Anatomy, contrast: Contrast, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    """Return a smooth multiplicative field in (0, 1]: coil fall-off and slow variation.

    The spine coil's sensitivity falls with depth from the back; a random slow variation runs
    along each axis.

    It is a product of one profile per index axis (each a function of that axis' LPS
    coordinate), so it costs three short vectors instead of a full-size computation.
    """
    profiles = []
    posterior_skin_y = anatomy.landmarks["posterior_skin_y_mm"]
    falloff_mm = float(rng.uniform(160.0, 320.0))
    for axis_xyz in range(3):
        count = grid.shape_zyx[2 - axis_xyz]
        direction = grid.direction[:, axis_xyz]
        positions = np.arange(count) * grid.spacing_xyz_mm[axis_xyz]
        # The LPS coordinate this axis mostly moves along, measured from the grid's centre.
        main = int(np.argmax(np.abs(direction)))
        coordinate = grid.origin_lps_mm[main] + direction[main] * positions
        profile = 1.0 + 0.3 * np.tanh(
            rng.normal(0.0, 1.0) * (coordinate - coordinate.mean()) / 150.0
        )
        if main == 1:  # antero-posterior: the coil lies under the patient's back
            depth = np.clip(posterior_skin_y - coordinate, 0.0, None)
            profile = profile * np.exp(-depth / falloff_mm)
        profiles.append(profile.astype(np.float32))
    field = profiles[2][:, None, None] * profiles[1][None, :, None] * profiles[0][None, None, :]
    field /= float(field.max())
    return (1.0 - contrast.bias) + contrast.bias * field


def acquisition_json(acquisition: Acquisition) -> dict[str, Any]:
    """Return a JSON-ready dict of the acquisition (for ``truth.json``)."""
    return asdict(acquisition)
