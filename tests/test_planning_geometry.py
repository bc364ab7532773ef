"""Channel geometry and distance fields against closed forms (analytic sphere, slab, tube)."""

import numpy as np
import pytest
from scipy import ndimage

from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Part, Side
from lumboplan_app.phantom.shapes import rotation_x
from lumboplan_app.planning.assessment import channel_clearances
from lumboplan_app.planning.channel import (
    Channel,
    direction_for_pose,
    line_b_mm,
    measure_pose,
)
from lumboplan_app.planning.distance import DistanceField, _trilinear, fields_of_labels
from lumboplan_app.planning.feasibility import feasibility_map, pose_directions
from lumboplan_app.planning.parts import _opened
from lumboplan_app.volume import Grid, LabelMap

SPACINGS = [(0.5, 0.5, 0.5), (1.0, 1.0, 1.0), (0.7, 0.9, 1.5), (1.2, 1.2, 3.0)]
RADIUS_MM = 12.0


def clearance_mm(channel: Channel, field: DistanceField) -> float:
    """The channel's clearance (mm) to one field's set, by the planner's one measurement."""
    return channel_clearances(channel, {Part.DURAL_SAC: field}, [Part.DURAL_SAC])[
        Part.DURAL_SAC
    ].clearance_mm


def labelled(inside, spacing) -> LabelMap:
    shape = tuple(int(70 / s) for s in spacing[::-1])
    grid = Grid(shape, spacing, (-35.0, -35.0, -35.0))
    points = grid.index_to_lps(np.indices(grid.shape_zyx).transpose(1, 2, 3, 0))
    return LabelMap(inside(points).astype(np.uint8), grid)


@pytest.mark.parametrize("side", [Side.LEFT, Side.RIGHT])
@pytest.mark.parametrize("tilt_deg", [20.0, 34.0, 45.0])
def test_pose_from_angles_measures_back_exactly(side: Side, tilt_deg: float) -> None:
    normal = rotation_x(tilt_deg)[:, 2]
    for alpha in (0.0, 17.5, 40.65, 75.0, 90.0):
        for beta in (-20.0, 0.0, 12.0):
            direction = direction_for_pose(alpha, beta, normal, side)
            assert np.linalg.norm(direction) == pytest.approx(1.0)
            assert measure_pose(direction, normal, side) == pytest.approx((alpha, beta), abs=1e-9)
            assert np.sign(direction[0]) * side.lps_sign >= 0  # outward, on its own side


def test_beta_zero_lies_in_the_disc_plane_and_alpha_zero_is_lateral() -> None:
    normal = rotation_x(30.0)[:, 2]
    direction = direction_for_pose(0.0, 0.0, normal, Side.LEFT)
    assert direction @ normal == pytest.approx(0.0, abs=1e-12)
    assert direction[1] == pytest.approx(0.0, abs=1e-12)
    assert direction[0] > 0
    with pytest.raises(PlanningError):
        # Straight lateral on a disc tilted 80 deg, the axis can rise at most 10 deg off its plane.
        direction_for_pose(0.0, 30.0, rotation_x(80.0)[:, 2], Side.LEFT)


def test_line_b_is_the_axial_distance_to_the_mid_sagittal_plane() -> None:
    assert line_b_mm([87.0, 60.0, 31.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]) == pytest.approx(87.0)
    tilted = np.array([1.0, 0.0, 0.2])  # a plane slightly off vertical: measured in the axial plane
    assert line_b_mm([-50.0, 3.0, 9.0], [2.0, 0.0, 0.0], tilted) == pytest.approx(52.0)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_clearance_to_a_sphere_a_slab_and_a_tube(spacing) -> None:
    """Clearance is to the voxelised structure's faces: within 0.75 of the coarsest voxel side of
    the analytic shape's (the sub-voxel target of 0.1 mm is not reached yet)."""
    tolerance = 0.75 * max(spacing)
    sphere = DistanceField.from_labels(
        labelled(lambda p: np.linalg.norm(p, axis=-1) < RADIUS_MM, spacing), [1]
    )
    slab = DistanceField.from_labels(labelled(lambda p: p[..., 2] < 0.3, spacing), [1])
    tube = DistanceField.from_labels(
        labelled(lambda p: np.hypot(p[..., 1], p[..., 2]) < 5.0, spacing), [1]
    )
    rng = np.random.default_rng(1)
    for _ in range(12):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        offset = np.cross(axis, rng.normal(size=3))
        offset /= np.linalg.norm(offset)
        distance = rng.uniform(RADIUS_MM + 4.5, RADIUS_MM + 12.0)
        channel = Channel(tuple(distance * offset - 40.0 * axis), tuple(axis), 8.0, 80.0)
        clearance = clearance_mm(channel, sphere)
        assert clearance == pytest.approx(distance - RADIUS_MM - 4.0, abs=tolerance)
    for gap in (2.0, 5.0, 9.1):
        clearance = clearance_mm(Channel((-30.0, 0.0, 0.3 + gap), (1.0, 0.2, 0.0)), slab)
        assert clearance == pytest.approx(gap - 4.0, abs=tolerance)
        assert (clearance < 0) == (gap < 4.0)
    channel = Channel((-3.0, -30.0, 11.0), (0.0, 1.0, 0.0), 8.0, 60.0)  # crosses the tube's axis
    clearance = clearance_mm(channel, tube)
    assert clearance == pytest.approx(11.0 - 5.0 - 4.0, abs=tolerance)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_clearance_is_exact_to_the_voxelised_surface(spacing) -> None:
    """A slab and a box whose faces lie on voxel faces are voxelised exactly: 0.1 mm."""
    labels = labelled(lambda p: np.zeros(p.shape[:-1], bool), spacing)
    grid = labels.grid
    face_z = grid.origin_lps_mm[2] + (int(30 / spacing[2]) + 0.5) * spacing[2]  # a voxel face
    points = grid.index_to_lps(np.indices(grid.shape_zyx).transpose(1, 2, 3, 0))
    slab = DistanceField.from_mask(points[..., 2] < face_z, grid)
    for gap in (4.5, 6.25, 9.0):
        channel = Channel((-20.0, -10.0, face_z + gap), (1.0, 0.3, 0.0), 8.0, 40.0)
        clearance = clearance_mm(channel, slab)
        assert clearance == pytest.approx(gap - 4.0, abs=0.1)
    box_low = np.array(grid.origin_lps_mm) + (np.array([20, 20, 20]) // spacing + 0.5) * spacing
    box_high = box_low + np.array([10, 10, 10]) // spacing * spacing
    inside = np.all((points > box_low) & (points < box_high), axis=-1)
    field = DistanceField.from_mask(inside, grid)
    centre = (box_low + box_high) / 2
    for gap in (4.7, 8.0):  # a channel along y above the box's top face, over its middle
        tip = (centre[0], box_low[1] - 20.0, box_high[2] + gap)
        clearance = clearance_mm(Channel(tip, (0.0, 1.0, 0.0), 8.0, 60.0), field)
        assert clearance == pytest.approx(gap - 4.0, abs=0.1)


def test_pose_directions_match_the_single_pose_formula() -> None:
    normal = rotation_x(35.0)[:, 2]
    alphas, betas = np.arange(0.0, 91.0, 15.0), np.arange(-30.0, 31.0, 10.0)
    for side in Side:
        directions, possible = pose_directions(alphas, betas, normal, side)
        assert possible.all()
        for i, alpha in enumerate(alphas):
            for j, beta in enumerate(betas):
                expected = direction_for_pose(alpha, beta, normal, side)
                assert directions[i, j] == pytest.approx(expected, abs=1e-12)


def test_feasibility_map_against_a_sphere_in_closed_form() -> None:
    # A ball of radius 6 mm, 22 mm out along alpha 30 deg, beta 0 from a tip at the origin.
    centre = 22.0 * direction_for_pose(30.0, 0.0, [0.0, 0.0, 1.0], Side.LEFT)
    ball = labelled(lambda p: np.linalg.norm(p - centre, axis=-1) <= 6.0, (0.5, 0.5, 0.5))
    field = DistanceField.from_labels(ball, [1])
    sources = {Part.L5_IAP_LEFT: field}  # any mapped part will do
    alphas, betas = np.arange(0.0, 61.0, 5.0), np.arange(-20.0, 21.0, 5.0)
    result = feasibility_map(
        Side.LEFT, [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], sources, 8.0, 30.0, alphas, betas
    )
    directions, _ = pose_directions(alphas, betas, [0.0, 0.0, 1.0], Side.LEFT)
    # Distance from the ball's centre to each axis segment, less both radii.
    along = np.clip(directions @ centre, 0.0, 30.0)
    nearest = along[..., None] * directions
    expected = np.linalg.norm(nearest - centre, axis=-1) - 6.0 - 4.0
    clearance = result.clearance_mm[Part.L5_IAP_LEFT]
    # Voxel faces (0.5 mm) and 1 mm axis steps: within half a voxel and a little sampling.
    assert np.abs(clearance - expected).max() < 0.5
    assert not result.free[alphas == 30.0, betas == 0.0][0]
    best = result.best()
    assert best is not None
    assert best.min_clearance_mm == pytest.approx(float(expected.max()), abs=0.5)
    assert result.to_json()["alphas_deg"][0] == 0.0


@pytest.mark.parametrize(
    "inside",
    [
        lambda p: p[..., 2] >= 6.5,  # a slab above the tip: the channel's side meets it
        # A ball behind the tip (medial to point b), 2 mm from the tip's face at alpha 40: a
        # capsule from the tip itself would bulge into it; the cylinder does not.
        lambda p: np.linalg.norm(p - np.array([-7.0, -5.0, 0.0]), axis=-1) <= 4.0,
    ],
)
def test_the_map_measures_the_cylinder(inside) -> None:
    field = DistanceField.from_labels(labelled(inside, (0.5, 0.5, 0.5)), [1])
    alphas, betas = np.arange(0.0, 91.0, 10.0), np.arange(-10.0, 11.0, 5.0)
    result = feasibility_map(
        Side.LEFT,
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 1.0],
        {Part.DURAL_SAC: field},
        8.0,
        30.0,
        alphas,
        betas,
    )
    mapped = result.clearance_mm[Part.DURAL_SAC]
    for i, alpha in enumerate(alphas):
        for j, beta in enumerate(betas):
            axis = direction_for_pose(alpha, beta, [0.0, 0.0, 1.0], Side.LEFT)
            cylinder = Channel((0.0, 0.0, 0.0), tuple(axis), 8.0, 30.0)
            # Both sample the surface (24 x 1 mm against 16 points and the axis): within 0.3 mm.
            assert mapped[i, j] == pytest.approx(clearance_mm(cylinder, field), abs=0.3)


def test_a_map_without_any_free_pose_has_no_best() -> None:
    everything = labelled(lambda p: np.ones(p.shape[:-1], dtype=bool), (2.0, 2.0, 2.0))
    field = DistanceField.from_labels(everything, [1])
    result = feasibility_map(
        Side.RIGHT, [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], {Part.S1_ROOT_RIGHT: field}, 8.0, 20.0
    )
    assert not result.free.any()
    assert result.best() is None


def test_the_fields_of_a_label_map_in_one_pass_are_those_of_each_mask() -> None:
    rng = np.random.default_rng(3)
    grid = Grid((24, 30, 28), (0.8, 1.1, 2.0), (-10.0, -12.0, -20.0))
    array = np.zeros(grid.shape_zyx, dtype=np.uint8)
    array[3:9, 4:20, 2:7] = 1
    array[rng.random(grid.shape_zyx) > 0.995] = 2  # scattered voxels, some on the border
    array[:, :, -3:] = 3  # a set that touches the image's edge
    fields = fields_of_labels(LabelMap(array, grid), {1: 5.0, 2: 20.0, 3: 3.0, 4: 5.0})
    for label, margin in ((1, 5.0), (2, 20.0), (3, 3.0)):
        expected = DistanceField.from_mask(array == label, grid, margin)
        assert fields[label].grid.matches(expected.grid)
        assert np.array_equal(fields[label].values_mm, expected.values_mm)
    assert not fields[4].present


@pytest.mark.parametrize("seed", range(6))
def test_the_sac_opening_is_the_ball_opening(seed: int) -> None:
    """The dural sac's opening by distance transforms keeps the voxels a ball opening keeps."""
    rng = np.random.default_rng(seed)
    spacing = rng.uniform(0.5, 2.0, 3)
    radius = float(rng.uniform(1.0, 4.0))
    mask = ndimage.binary_dilation(rng.random(tuple(rng.integers(10, 26, 3))) > 0.95, iterations=2)
    reach = np.ceil(radius / spacing).astype(int)
    offsets = np.ogrid[tuple(slice(-r, r + 1) for r in reach)]
    ball = sum((o * s) ** 2 for o, s in zip(offsets, spacing, strict=True)) <= radius**2
    expected = ndimage.binary_opening(mask, structure=ball)
    assert np.array_equal(_opened(mask, spacing, radius), expected)


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 5, 7), (4, 1, 3), (2, 2, 2), (30, 40, 50)])
def test_the_field_sampler_is_scipys_trilinear_with_nearest_edges(shape) -> None:
    rng = np.random.default_rng(sum(shape))
    values = (20.0 * rng.normal(size=shape)).astype(np.float32)
    index = rng.uniform(-3.0, np.array(shape)[:, None] + 3.0, size=(3, 4000))
    index[:, :20] = np.floor(index[:, :20])  # on voxel centres, and beyond the edges
    expected = ndimage.map_coordinates(values, index, order=1, mode="nearest")
    assert _trilinear(values, index) == pytest.approx(expected, abs=1e-5)
