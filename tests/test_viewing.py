"""The Qt-free view model: plane orientation, display <-> index mapping, cursor, window."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from lumboplan_app.viewing import (
    DEFAULT_PRESET,
    EDGE_LETTERS,
    PLANES,
    ViewState,
    WindowLevel,
    WindowPreset,
    apply_window,
    display_to_index,
    extract_plane,
    index_to_display,
    intensity_sample,
    plane_shape,
    window_presets,
)
from lumboplan_app.volume import Grid, ScanMeta, Volume
from tests.conftest import ramp_index, ramp_volume

SHAPE_ZYX = (6, 5, 4)


def ramp(shape_zyx=SHAPE_ZYX, spacing_xyz_mm=(0.7, 0.9, 3.0), modality="MR") -> Volume:
    grid = Grid(shape_zyx=shape_zyx, spacing_xyz_mm=spacing_xyz_mm, origin_lps_mm=(10, -20, 30))
    return ramp_volume(grid, modality)


def decode(value: float, shape_zyx=SHAPE_ZYX) -> tuple[int, int, int]:
    """Index (z, y, x) of the voxel a ramp value came from."""
    grid = Grid(shape_zyx=shape_zyx, spacing_xyz_mm=(1, 1, 1), origin_lps_mm=(0, 0, 0))
    return tuple(int(i) for i in ramp_index(np.asarray(value), grid))


def encode(index_zyx, shape_zyx=SHAPE_ZYX) -> float:
    """The ramp value of a voxel."""
    return float(np.ravel_multi_index(index_zyx, shape_zyx))


@pytest.fixture
def state() -> ViewState:
    return ViewState(ramp())


def test_cursor_starts_at_the_centre_voxel(state):
    assert state.cursor_zyx == (2, 2, 1)
    assert state.slice_index("axial") == 2
    assert state.slice_index("coronal") == 2
    assert state.slice_index("sagittal") == 1
    assert [state.slice_count(p) for p in PLANES] == [6, 5, 4]


def test_axial_is_the_array_slice_as_is(state):
    state.set_cursor((3, 0, 0))
    image = state.plane_image("axial")
    assert image.pixels.shape == (5, 4)
    # row = y (anterior at the top), column = x (patient's right on the left)
    assert decode(image.pixels[0, 0]) == (3, 0, 0)
    assert decode(image.pixels[4, 0]) == (3, 4, 0)
    assert decode(image.pixels[0, 3]) == (3, 0, 3)
    assert (image.row_spacing_mm, image.column_spacing_mm) == (0.9, 0.7)
    assert image.letters == EDGE_LETTERS["axial"]
    assert (image.letters.top, image.letters.left) == ("A", "R")


def test_coronal_has_superior_at_the_top(state):
    state.set_cursor((0, 1, 0))
    image = state.plane_image("coronal")
    assert image.pixels.shape == (6, 4)
    assert decode(image.pixels[0, 0]) == (5, 1, 0)  # top row is the most superior slice
    assert decode(image.pixels[5, 0]) == (0, 1, 0)
    assert decode(image.pixels[0, 3]) == (5, 1, 3)  # patient's left on the screen's right
    assert (image.row_spacing_mm, image.column_spacing_mm) == (3.0, 0.7)
    assert (image.letters.top, image.letters.bottom) == ("S", "I")
    assert (image.letters.left, image.letters.right) == ("R", "L")


def test_sagittal_has_superior_at_the_top_and_anterior_on_the_left(state):
    state.set_cursor((0, 0, 2))
    image = state.plane_image("sagittal")
    assert image.pixels.shape == (6, 5)
    assert decode(image.pixels[0, 0]) == (5, 0, 2)
    assert decode(image.pixels[0, 4]) == (5, 4, 2)  # posterior on the right
    assert decode(image.pixels[5, 0]) == (0, 0, 2)
    assert (image.row_spacing_mm, image.column_spacing_mm) == (3.0, 0.9)
    assert image.pixel_aspect == pytest.approx(3.0 / 0.9)
    assert (image.letters.left, image.letters.right) == ("A", "P")


def test_plane_pixels_are_a_read_only_view(state):
    image = state.plane_image("coronal")
    assert np.shares_memory(image.pixels, state.volume.array)
    with pytest.raises(ValueError, match="read-only"):
        image.pixels[0, 0] = 1.0


@pytest.mark.parametrize("plane", PLANES)
def test_every_display_pixel_maps_to_the_voxel_it_shows(state, plane):
    image = state.plane_image(plane)
    rows, columns = plane_shape(state.shape_zyx, plane)
    assert image.pixels.shape == (rows, columns)
    for row in range(rows):
        for column in range(columns):
            index = state.display_to_index(plane, row, column)
            assert decode(image.pixels[row, column]) == index
            assert index_to_display(plane, index, state.shape_zyx) == (row, column)


@pytest.mark.parametrize("plane", PLANES)
def test_continuous_display_positions_round_trip(plane):
    rng = np.random.default_rng(3)
    for row, column, slice_index in rng.uniform(-3, 9, size=(50, 3)):
        index = display_to_index(plane, row, column, slice_index, SHAPE_ZYX)
        assert index_to_display(plane, index, SHAPE_ZYX) == pytest.approx((row, column))


def test_extract_plane_refuses_a_slice_outside_the_volume():
    array = ramp().array
    with pytest.raises(IndexError, match="sagittal slice 4"):
        extract_plane(array, "sagittal", 4)


def test_cursor_is_rounded_and_clamped_into_the_volume(state):
    state.set_cursor((2.6, -4.0, 99.0))
    assert state.cursor_zyx == (3, 0, 3)
    state.set_cursor((-0.4, 1.49, 1.5))
    assert state.cursor_zyx == (0, 1, 2)
    with pytest.raises(ValueError, match="finite"):
        state.set_cursor((np.nan, 0, 0))
    with pytest.raises(ValueError, match="three components"):
        state.set_cursor((1, 2))


def test_slices_step_and_clamp(state):
    state.step_slice("axial", 2)
    assert state.cursor_zyx == (4, 2, 1)
    state.step_slice("axial", 10)
    assert state.slice_index("axial") == 5
    state.step_slice("sagittal", -7)
    assert state.cursor_zyx == (5, 2, 0)
    state.set_slice("coronal", 3)
    assert state.cursor_zyx == (5, 3, 0)


def test_cursor_position_and_values(state):
    state.set_cursor((1, 2, 3))
    expected = state.volume.grid.index_to_lps((1, 2, 3))
    np.testing.assert_allclose(state.cursor_lps_mm(), expected)
    np.testing.assert_allclose(state.cursor_lps_mm(), (10 + 3 * 0.7, -20 + 2 * 0.9, 30 + 3.0))
    assert state.cursor_value() == encode((1, 2, 3))
    assert state.value_at((4.2, 0.4, 2.6)) == encode((4, 0, 3))
    assert state.value_at((-0.6, 0, 0)) is None
    assert state.value_at((0, 0, 3.5)) is None
    assert state.contains((5.49, 4.49, 3.49))


def test_window_level_bounds_and_validation():
    window = WindowLevel(width=200.0, level=100.0)
    assert (window.lower, window.upper) == (0.0, 200.0)
    assert WindowLevel.from_range(-10.0, 30.0) == WindowLevel(width=40.0, level=10.0)
    assert WindowLevel.from_range(5.0, 5.0) == WindowLevel(width=1.0, level=5.0)
    with pytest.raises(ValueError, match="positive"):
        WindowLevel(width=0.0, level=1.0)
    with pytest.raises(ValueError, match="finite"):
        WindowLevel(width=1.0, level=float("inf"))


def test_apply_window_maps_the_window_to_0_255():
    window = WindowLevel.from_range(100.0, 200.0)
    grey = apply_window(np.array([[50.0, 100.0, 150.0, 200.0, 900.0]]), window)
    assert grey.dtype == np.uint8
    assert grey.flags.c_contiguous
    assert grey.tolist() == [[0, 0, 128, 255, 255]]


def test_apply_window_on_a_flipped_view_is_contiguous(state):
    grey = apply_window(state.plane_image("sagittal").pixels, state.window)
    assert grey.flags.c_contiguous
    assert grey.shape == (6, 5)


def test_presets_come_from_the_intensity_percentiles():
    volume = ramp(shape_zyx=(20, 20, 20))
    values = volume.array
    presets = {preset.name: preset.window for preset in window_presets(volume)}
    assert list(presets) == [DEFAULT_PRESET, "Full range", "T2 soft tissue"]
    auto = presets[DEFAULT_PRESET]
    assert auto.lower == pytest.approx(np.percentile(values, 1), rel=1e-4)
    assert auto.upper == pytest.approx(np.percentile(values, 99), rel=1e-4)
    assert (presets["Full range"].lower, presets["Full range"].upper) == (0.0, 20**3 - 1)
    soft = presets["T2 soft tissue"]
    assert auto.lower < soft.lower < soft.upper <= presets["Full range"].upper


def test_ct_gets_bone_and_soft_tissue_presets():
    volume = ramp(shape_zyx=(8, 8, 8), modality="CT")
    names = [preset.name for preset in window_presets(volume)]
    assert names[-2:] == ["CT bone", "CT soft tissue"]
    bone = {preset.name: preset.window for preset in window_presets(volume)}["CT bone"]
    assert (bone.width, bone.level) == (1800.0, 400.0)


def test_presets_of_a_constant_volume_have_a_positive_width():
    grid = Grid(shape_zyx=(3, 3, 3), spacing_xyz_mm=(1, 1, 1), origin_lps_mm=(0, 0, 0))
    volume = Volume(np.full((3, 3, 3), 7.0), grid, ScanMeta(modality="MR"))
    for preset in window_presets(volume):
        assert preset.window.width > 0
        assert preset.window.lower <= 7.0 <= preset.window.upper


def test_intensity_sample_is_bounded_and_finite():
    values = np.arange(5_000_000, dtype=np.float32)
    values[0] = np.nan
    sample = intensity_sample(values)
    assert sample.size <= 2_000_000
    assert np.isfinite(sample).all()


def test_presets_are_applied_and_a_manual_window_is_custom(state):
    assert state.preset_name == DEFAULT_PRESET
    state.apply_preset("Full range")
    assert state.window == state.preset("Full range").window
    assert state.preset_name == "Full range"
    state.set_window(WindowLevel(width=10.0, level=5.0))
    assert state.preset_name is None
    with pytest.raises(KeyError):
        state.apply_preset("No such preset")


def test_given_presets_replace_the_computed_ones():
    presets = [WindowPreset("Mine", WindowLevel(width=3.0, level=1.0))]
    state = ViewState(ramp(), presets=presets)
    assert state.presets == tuple(presets)
    assert state.window == WindowLevel(width=3.0, level=1.0)
    with pytest.raises(ValueError, match="preset"):
        ViewState(ramp(), presets=[])


def test_window_drag_widens_to_the_right_and_raises_the_level_downward(state):
    start = state.window
    span = state.preset(DEFAULT_PRESET).window.width
    dragged = state.dragged_window(start, dx_px=40.0, dy_px=-20.0)
    assert dragged.width == pytest.approx(start.width + span * 40 / 400)
    assert dragged.level == pytest.approx(start.level - span * 20 / 400)
    narrowest = state.dragged_window(start, dx_px=-1e6, dy_px=0.0)
    assert 0 < narrowest.width < start.width


def test_observers_hear_each_change_once_and_only_real_changes(state):
    heard: list[str] = []
    state.subscribe(heard.append)
    state.subscribe(heard.append)  # subscribing twice does not double the calls
    assert state.observer_count == 1
    state.set_cursor((0, 0, 0))
    state.set_cursor((0, 0, 0))  # no change: nobody is called
    state.step_slice("axial", -1)  # already at the first slice: no change
    state.apply_preset("Full range")
    state.apply_preset("Full range")
    state.set_window(WindowLevel(width=2.0, level=1.0))
    assert heard == ["cursor", "window", "window"]
    state.unsubscribe(heard.append)
    state.unsubscribe(heard.append)  # unknown observers are ignored
    state.set_cursor((1, 1, 1))
    assert heard == ["cursor", "window", "window"]
    assert state.observer_count == 0


def test_observers_see_the_new_state_and_may_unsubscribe_while_notified(state):
    seen = []

    def first(change):
        seen.append(("first", state.cursor_zyx))
        state.unsubscribe(first)

    def second(change):
        seen.append(("second", state.cursor_zyx))

    state.subscribe(first)
    state.subscribe(second)
    state.set_cursor((1, 1, 1))
    state.set_cursor((2, 2, 2))
    assert seen == [("first", (1, 1, 1)), ("second", (1, 1, 1)), ("second", (2, 2, 2))]


def test_the_view_model_does_not_import_qt():
    code = (
        "import sys\n"
        "import lumboplan_app.viewing\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'torch', 'vtk', 'pyvista'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


def test_label_overlay_colours_visibility_and_opacity() -> None:
    from lumboplan_app.labels import Structure
    from lumboplan_app.volume import LabelMap

    volume = ramp()
    state = ViewState(volume)
    assert state.overlay_rgba("axial") is None
    ids = np.zeros(volume.array.shape, np.uint8)
    ids[:, :, :2] = Structure.L5
    ids[:, :, 2] = Structure.NERVES
    changes: list[str] = []
    state.subscribe(changes.append)
    state.set_labels(LabelMap(ids, volume.grid))
    overlay = state.overlay_rgba("axial")
    assert overlay.shape == (*extract_plane(volume.array, "axial", 0).shape, 4)
    assert tuple(overlay[0, 0, :3]) == Structure.L5.colour_rgb
    assert tuple(overlay[0, 2, :3]) == Structure.NERVES.colour_rgb
    assert overlay[0, 3, 3] == 0  # background stays transparent
    state.set_structure_visible(Structure.L5, False)
    assert state.overlay_rgba("axial")[0, 0, 3] == 0
    state.set_label_opacity(3.0)  # clamped
    assert state.label_opacity == 1.0
    assert state.overlay_rgba("coronal")[..., 3].max() == 255  # the nerves, L5 hidden
    assert changes == ["labels", "labels", "labels"]
    other = LabelMap(np.zeros((2, 2, 2), np.uint8), Grid((2, 2, 2), (1.0, 1.0, 1.0), (0, 0, 0)))
    with pytest.raises(ValueError, match="grid"):
        state.set_labels(other)
