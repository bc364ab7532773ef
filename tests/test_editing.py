"""Painting and erasing structures with a round brush, undo and redo, on analytic grids."""

import numpy as np
import pytest

from lumboplan_app.editing import LabelEditor
from lumboplan_app.labels import Structure
from lumboplan_app.volume import Grid, LabelMap


def empty_labels(spacing_xyz=(1.0, 1.0, 1.0), shape_zyx=(40, 50, 60)) -> LabelMap:
    return LabelMap(np.zeros(shape_zyx, np.uint8), Grid(shape_zyx, spacing_xyz, (0.0, 0.0, 0.0)))


def disc_count(radius_mm: float, spacing_a: float, spacing_b: float) -> int:
    """Voxel centres within radius of a voxel centre, on a grid of these two spacings."""
    reach_a, reach_b = (int(np.floor(radius_mm / s + 1e-9)) for s in (spacing_a, spacing_b))
    a, b = np.meshgrid(
        np.arange(-reach_a, reach_a + 1) * spacing_a,
        np.arange(-reach_b, reach_b + 1) * spacing_b,
        indexing="ij",
    )
    return int(np.count_nonzero(a**2 + b**2 <= radius_mm**2 + 1e-9))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.6, 0.8, 2.5)])
@pytest.mark.parametrize(
    ("plane", "axes"), [("axial", (1, 2)), ("coronal", (0, 2)), ("sagittal", (0, 1))]
)
def test_a_dab_is_a_round_disc_in_mm_in_its_slice(spacing, plane, axes) -> None:
    labels = empty_labels(spacing)
    editor = LabelEditor(labels)
    centre = (20, 25, 30)
    edit = editor.paint(Structure.DISC, centre, plane, 4.0)
    spacing_zyx = spacing[::-1]
    expected = disc_count(4.0, spacing_zyx[axes[0]], spacing_zyx[axes[1]])
    assert edit is not None
    assert len(edit.indices) == expected
    assert np.count_nonzero(labels.array == Structure.DISC) == expected
    # All of it in the slice through the centre, along the plane's normal.
    normal = ({0, 1, 2} - set(axes)).pop()
    painted = np.argwhere(labels.array == Structure.DISC)
    assert set(painted[:, normal]) == {centre[normal]}
    low, high = edit.bounds_zyx()
    assert low[normal] == high[normal] == centre[normal]


def test_erase_removes_only_the_chosen_structure_and_paint_overwrites() -> None:
    labels = empty_labels()
    labels.array[20, 20:30, 25:35] = Structure.L5
    labels.array[20, 30:40, 25:35] = Structure.DISC
    editor = LabelEditor(labels)
    editor.paint(Structure.DISC, (20, 30, 30), "axial", 6.0, erase=True)
    assert np.count_nonzero(labels.array[20, 30:40] == Structure.DISC) < 100
    assert np.count_nonzero(labels.array == Structure.L5) == 100  # bone untouched
    assert editor.paint(Structure.NERVES, (20, 10, 10), "axial", 2.0, erase=True) is None
    editor.paint(Structure.NERVES, (20, 25, 30), "axial", 2.0)
    assert labels.array[20, 25, 30] == Structure.NERVES


def test_painting_without_overwrite_fills_only_unlabelled_voxels() -> None:
    labels = empty_labels()
    labels.array[20, 20:30, 20:40] = Structure.S1  # bone beside the gap
    editor = LabelEditor(labels)
    edit = editor.paint(Structure.NERVES, (20, 30, 30), "axial", 4.0, overwrite=False)
    # The disc's rows at and below its centre (y >= 30) are unlabelled; the rows above are bone.
    unlabelled = sum(dy * dy + dx * dx <= 16 for dy in range(0, 5) for dx in range(-4, 5))
    assert edit is not None
    assert np.count_nonzero(labels.array == Structure.S1) == 200  # the bone is intact
    assert np.count_nonzero(labels.array == Structure.NERVES) == unlabelled
    assert set(edit.before.tolist()) == {Structure.BACKGROUND}
    # Over bone only, nothing changes; with overwrite the same dab takes the bone.
    assert editor.paint(Structure.NERVES, (20, 22, 30), "axial", 1.0, overwrite=False) is None
    assert editor.paint(Structure.NERVES, (20, 22, 30), "axial", 1.0) is not None
    assert labels.array[20, 22, 30] == Structure.NERVES


def test_a_fill_only_stroke_undoes_and_redoes_exactly() -> None:
    labels = empty_labels()
    labels.array[20, 20:30, 20:40] = Structure.S1
    original = labels.array.copy()
    editor = LabelEditor(labels)
    editor.begin_stroke()
    for x in range(15, 45, 3):  # along the bone's edge, half on it
        editor.paint(Structure.NERVES, (20, 29, x), "axial", 3.0, overwrite=False)
    assert editor.end_stroke() is not None
    painted = labels.array.copy()
    assert np.array_equal(painted == Structure.S1, original == Structure.S1)
    editor.undo()
    assert np.array_equal(labels.array, original)
    editor.redo()
    assert np.array_equal(labels.array, painted)


def test_a_stroke_is_one_step_and_undo_redo_restore_exactly() -> None:
    labels = empty_labels()
    labels.array[10:30, 10:40, 10:50] = Structure.S1
    original = labels.array.copy()
    editor = LabelEditor(labels)
    editor.begin_stroke()
    for x in range(15, 45, 2):
        assert editor.paint(Structure.NERVES, (20, 25, x), "axial", 3.0) is None
    stroke = editor.end_stroke()
    assert stroke is not None
    painted = labels.array.copy()
    assert editor.can_undo
    assert not editor.can_redo
    revision = editor.revision
    editor.undo()
    assert np.array_equal(labels.array, original)
    assert not editor.can_undo
    assert editor.revision > revision
    editor.redo()
    assert np.array_equal(labels.array, painted)
    editor.undo()
    editor.paint(Structure.L5, (5, 5, 5), "sagittal", 2.0)  # a new edit drops the redo
    assert not editor.can_redo
    assert editor.end_stroke() is None  # no stroke open


def test_a_stroke_that_paints_then_erases_the_same_voxels_records_nothing() -> None:
    labels = empty_labels()
    editor = LabelEditor(labels)
    editor.begin_stroke()
    editor.paint(Structure.DISC, (20, 25, 30), "axial", 3.0)
    editor.paint(Structure.DISC, (20, 25, 30), "axial", 3.0, erase=True)
    assert editor.end_stroke() is None
    assert not editor.can_undo


def test_the_history_drops_its_oldest_steps_beyond_its_memory() -> None:
    labels = empty_labels()
    editor = LabelEditor(labels, history_bytes=2000)
    for x in range(10, 50, 10):
        editor.paint(Structure.L5, (20, 25, x), "axial", 3.0)  # 29 voxels, 377 bytes a step
    undone = 0
    while editor.undo() is not None:
        undone += 1
    assert undone == 4
    for x in range(10, 60, 5):
        editor.paint(Structure.L5, (20, 25, x), "axial", 3.0)
    undone = 0
    while editor.undo() is not None:
        undone += 1
    assert 1 <= undone < 10
    # What could not be undone stays painted.
    assert np.count_nonzero(labels.array == Structure.L5) > 0


def test_a_brush_at_the_edge_is_clipped_and_bad_input_refused() -> None:
    labels = empty_labels()
    editor = LabelEditor(labels)
    edit = editor.paint(Structure.SKIN, (0, 0, 0), "axial", 3.0)
    assert edit is not None
    assert len(edit.indices) == disc_count(3.0, 1.0, 1.0) // 4 + 3 + 1  # a quarter disc
    edit = editor.paint(Structure.SKIN, (-7.0, 80.0, 80.0), "axial", 2.0)
    assert edit is not None  # centred on the nearest voxel, the corner
    with pytest.raises(ValueError, match="not the background"):
        editor.paint(Structure.BACKGROUND, (5, 5, 5), "axial", 3.0)
    with pytest.raises(ValueError, match="radius"):
        editor.paint(Structure.L5, (5, 5, 5), "axial", 100.0)
