import numpy as np
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from lumboplan_app.errors import LoadError
from lumboplan_app.volume import (
    Grid,
    LabelMap,
    Volume,
    resample_labels,
    resample_volume,
)
from tests.conftest import SAGITTAL_DIRECTION, ramp_index, ramp_volume


def oblique_grid(seed: int, shape=(5, 6, 7)) -> Grid:
    rng = np.random.default_rng(seed)
    return Grid(
        shape_zyx=shape,
        spacing_xyz_mm=tuple(rng.uniform(0.4, 3.0, 3)),
        origin_lps_mm=tuple(rng.normal(0, 80, 3)),
        direction=Rotation.random(random_state=seed).as_matrix(),
    )


def test_index_to_lps_is_origin_plus_direction_times_spacing() -> None:
    grid = Grid((4, 5, 6), (0.5, 2.0, 3.0), (10.0, -20.0, 30.0), SAGITTAL_DIRECTION)
    # index (z=2, y=1, x=3): x axis points +P, y axis +S... columns of SAGITTAL_DIRECTION.
    expected = (
        np.array([10.0, -20.0, 30.0])
        + 3 * 0.5 * SAGITTAL_DIRECTION[:, 0]
        + 1 * 2.0 * SAGITTAL_DIRECTION[:, 1]
        + 2 * 3.0 * SAGITTAL_DIRECTION[:, 2]
    )
    np.testing.assert_allclose(grid.index_to_lps([2, 1, 3]), expected)


@pytest.mark.parametrize("seed", range(5))
def test_lps_index_round_trip(seed: int) -> None:
    grid = oblique_grid(seed)
    index = np.random.default_rng(seed).uniform(0, 5, (50, 3))
    np.testing.assert_allclose(grid.lps_to_index(grid.index_to_lps(index)), index, atol=1e-9)


def test_index_to_lps_agrees_with_simpleitk() -> None:
    grid = oblique_grid(3)
    image = grid.to_sitk_reference()
    for index_zyx in [(0, 0, 0), (4, 5, 6), (1, 2, 3)]:
        expected = image.TransformContinuousIndexToPhysicalPoint(
            [float(i) for i in index_zyx[::-1]]
        )
        np.testing.assert_allclose(grid.index_to_lps(index_zyx), expected, atol=1e-9)


def test_grid_rejects_bad_geometry() -> None:
    with pytest.raises(ValueError, match="spacing"):
        Grid((2, 2, 2), (1.0, 0.0, 1.0), (0, 0, 0))
    with pytest.raises(ValueError, match="orthonormal"):
        Grid((2, 2, 2), (1.0, 1.0, 1.0), (0, 0, 0), np.diag([1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        Grid((0, 2, 2), (1.0, 1.0, 1.0), (0, 0, 0))


def test_volume_checks_shape_against_grid() -> None:
    with pytest.raises(ValueError, match="differs"):
        Volume(np.zeros((2, 3, 4)), Grid((2, 3, 5), (1.0, 1.0, 1.0), (0, 0, 0)))


@pytest.mark.parametrize("seed", range(40))
def test_canonical_reorientation_matches_dicomorient(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rotation = Rotation.random(random_state=seed).as_matrix()
    if seed % 2:  # close to an axis permutation with flips, as scanners write
        permutation = np.eye(3)[rng.permutation(3)] * rng.choice([-1, 1], 3)
        rotation = permutation @ Rotation.from_euler("xyz", rng.normal(0, 8, 3), True).as_matrix()
    grid = Grid(
        tuple(rng.integers(3, 8, 3)), tuple(rng.uniform(0.5, 3, 3)), (1.0, 2.0, 3.0), rotation
    )
    volume = ramp_volume(grid)
    expected = Volume.from_sitk(sitk.DICOMOrient(volume.to_sitk(), "LPS"))
    canonical = volume.to_canonical()
    assert canonical.grid.matches(expected.grid, tolerance_mm=1e-6)
    np.testing.assert_array_equal(canonical.array, expected.array)
    assert canonical.array.flags.c_contiguous


def test_canonical_volume_keeps_every_voxel_at_its_lps_position() -> None:
    grid = Grid((4, 5, 6), (0.7, 1.1, 2.5), (3.0, -4.0, 5.0), SAGITTAL_DIRECTION)
    volume = ramp_volume(grid)
    canonical = volume.to_canonical()
    assert canonical.grid.orientation_code() == "LPS"
    index = np.indices(canonical.grid.shape_zyx).transpose(1, 2, 3, 0)
    original = ramp_index(canonical.array, grid)
    np.testing.assert_allclose(
        canonical.grid.index_to_lps(index), grid.index_to_lps(original), atol=1e-9
    )


def test_sitk_round_trip_keeps_values_and_geometry() -> None:
    volume = ramp_volume(oblique_grid(7))
    again = Volume.from_sitk(volume.to_sitk())
    assert again.grid.matches(volume.grid)
    np.testing.assert_array_equal(again.array, volume.array)
    labels = LabelMap((volume.array % 7).astype(np.uint8), volume.grid)
    np.testing.assert_array_equal(LabelMap.from_sitk(labels.to_sitk()).array, labels.array)


def test_label_map_refuses_non_integer_values() -> None:
    image = sitk.GetImageFromArray(np.full((3, 3, 3), 0.5, dtype=np.float32))
    with pytest.raises(LoadError, match="not a label map"):
        LabelMap.from_sitk(image)
    grid = Grid((3, 3, 3), (1.0, 1.0, 1.0), (0, 0, 0))
    with pytest.raises(ValueError, match=r"0\.\.255"):
        LabelMap(np.full((3, 3, 3), 300), grid)
    with pytest.raises(ValueError, match="whole numbers"):
        LabelMap(np.full((3, 3, 3), 2.5), grid)


def test_resampling_onto_own_grid_is_identity() -> None:
    volume = ramp_volume(oblique_grid(2))
    same = resample_volume(volume, volume.grid)
    np.testing.assert_allclose(same.array, volume.array, atol=1e-3)


def test_resampling_linear_field_is_exact_at_half_spacing() -> None:
    grid = Grid((6, 7, 8), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    z, y, x = np.meshgrid(*(np.arange(n) for n in grid.shape_zyx), indexing="ij")
    volume = Volume((3 * x + 5 * y + 7 * z).astype(np.float32), grid)
    fine = grid.with_spacing((1.0, 1.0, 1.0))
    assert fine.shape_zyx == (11, 13, 15)
    resampled = resample_volume(volume, fine)
    points = fine.index_to_lps(np.argwhere(np.ones(fine.shape_zyx)))
    expected = (3 * points[:, 0] + 5 * points[:, 1] + 7 * points[:, 2]) / 2.0
    np.testing.assert_allclose(resampled.array.ravel(), expected, atol=1e-3)


def test_label_resampling_keeps_ids() -> None:
    grid = Grid((10, 10, 10), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    array = np.zeros(grid.shape_zyx, np.uint8)
    array[2:8, 2:8, 2:5] = 3
    array[2:8, 2:8, 5:8] = 6
    coarse = resample_labels(LabelMap(array, grid), grid.with_spacing((2.0, 2.0, 2.0)), "nearest")
    assert set(np.unique(coarse.array)) == {0, 3, 6}


def test_pyvista_image_points_lie_at_lps_positions() -> None:
    grid = oblique_grid(4, shape=(3, 4, 5))
    volume = ramp_volume(grid)
    image = volume.to_pyvista()
    index = (2, 3, 1)
    point_id = np.ravel_multi_index(index, grid.shape_zyx)
    np.testing.assert_allclose(image.points[point_id], grid.index_to_lps(index), atol=1e-6)
    assert image.point_data["values"][point_id] == volume.array[index]


def test_field_of_view_follows_the_image_axes_of_a_tilted_slab() -> None:
    tilt = Rotation.from_euler("xyz", [20.0, 15.0, 0.0], degrees=True).as_matrix()
    slab = Grid((4, 64, 64), (2.0, 2.0, 4.0), (0.0, 0.0, 0.0), tilt)  # 4 slices of 4 mm
    assert slab.field_of_view_xyz_mm == pytest.approx((128.0, 128.0, 16.0))
    corners = slab.index_to_lps([[z, y, x] for z in (0, 3) for y in (0, 63) for x in (0, 63)])
    assert np.ptp(corners, axis=0).min() > 40.0  # its patient-axis bounding box is far thicker
