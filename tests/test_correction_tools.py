"""The correction tools on small synthetic scans: each gets the structure right and undoes."""

import numpy as np
import pytest

from lumboplan_app.editing import (
    IntensityRange,
    LabelEditor,
    SeedGrower,
    fill_between_slices,
    remove_small_islands,
    smooth_structure,
)
from lumboplan_app.errors import CorrectionError
from lumboplan_app.labels import Structure
from lumboplan_app.volume import Grid, LabelMap, Volume


def ball_scene(shape=(30, 40, 40), spacing=(1.0, 1.0, 1.2)):
    """A bright ball (the disc) touching a dark block (L5); truth labels and a noisy scan."""
    grid = Grid(shape, spacing, (0.0, 0.0, 0.0))
    z, y, x = np.indices(shape)
    ball = (z - 15) ** 2 * 1.44 + (y - 20) ** 2 + (x - 20) ** 2 <= 8**2
    block = (y >= 28) & (y < 36) & (x >= 8) & (x < 32) & (z >= 5) & (z < 25)
    truth = np.zeros(shape, np.uint8)
    truth[block] = Structure.L5
    truth[ball] = Structure.DISC
    rng = np.random.default_rng(0)
    image = 100.0 + 300.0 * ball - 60.0 * block + rng.normal(0, 10, shape)
    volume = Volume(image.astype(np.float32), grid)
    return volume, LabelMap(truth.copy(), grid), truth


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_grow_from_seeds_restores_a_removed_structure_and_undoes_in_one_step() -> None:
    volume, labels, truth = ball_scene()
    labels.array[labels.array == Structure.DISC] = 0
    damaged = labels.array.copy()
    editor = LabelEditor(labels)
    grower = SeedGrower(volume, labels)
    grower.paint(Structure.DISC, (15, 20, 20), "axial", 3.0)
    with pytest.raises(CorrectionError, match="background"):
        grower.update(editor)
    grower.paint(Structure.BACKGROUND, (15, 5, 5), "axial", 2.0)
    first = grower.update(editor)
    grower.paint(Structure.BACKGROUND, (15, 20, 36), "axial", 2.0)
    second = grower.update(editor)
    assert first is not None
    assert second is not None
    assert dice(labels.array == Structure.DISC, truth == Structure.DISC) > 0.9
    assert np.array_equal(labels.array == Structure.L5, truth == Structure.L5)  # a wall
    assert grower.seeded == (Structure.BACKGROUND, Structure.DISC)
    assert editor.undo() is second
    assert np.array_equal(labels.array, damaged)  # both updates undone in one step
    assert not editor.can_undo


def test_grow_from_seeds_reuses_its_gradient_while_strokes_stay_inside() -> None:
    volume, labels, _ = ball_scene()
    grower = SeedGrower(volume, labels)
    grower.paint(Structure.DISC, (15, 20, 20), "axial", 2.0)
    grower.paint(Structure.BACKGROUND, (15, 8, 8), "axial", 2.0)
    grower.grow()
    kept = grower._gradient
    grower.paint(Structure.BACKGROUND, (15, 8, 30), "axial", 2.0)
    grower.grow()
    assert grower._gradient is kept


def test_painting_within_an_intensity_range_spares_other_tissue() -> None:
    volume, labels, truth = ball_scene()
    labels.array[labels.array == Structure.DISC] = 0
    editor = LabelEditor(labels)
    bright = IntensityRange(volume.array, 300.0, 500.0)
    editor.paint(Structure.DISC, (15, 20, 20), "axial", 12.0, intensity=bright)
    painted = labels.array[15] == Structure.DISC
    assert np.array_equal(painted, truth[15] == Structure.DISC)
    with pytest.raises(ValueError, match="empty"):
        IntensityRange(volume.array, 2.0, 1.0)


@pytest.mark.parametrize("plane", ["axial", "sagittal"])
def test_fill_between_slices_interpolates_a_ball_from_a_few_slices(plane) -> None:
    _volume, labels, truth = ball_scene()
    disc = truth == Structure.DISC
    labels.array[disc] = 0
    axis = {"axial": 0, "sagittal": 2}[plane]
    drawn = [int(k) for k in np.flatnonzero(disc.any(axis=tuple(a for a in range(3) if a != axis)))]
    keep = [*drawn[::3], drawn[-1]]
    slicer = [slice(None)] * 3
    for k in keep:
        slicer[axis] = k
        labels.array[tuple(slicer)][disc[tuple(slicer)]] = Structure.DISC
    editor = LabelEditor(labels)
    before = labels.array.copy()
    assert fill_between_slices(editor, Structure.DISC, plane) is not None
    assert dice(labels.array == Structure.DISC, disc) > 0.9
    assert np.array_equal(labels.array == Structure.L5, truth == Structure.L5)
    editor.undo()
    assert np.array_equal(labels.array, before)


def test_fill_between_slices_says_what_to_draw() -> None:
    _, labels, _ = ball_scene()
    labels.array[labels.array == Structure.DISC] = 0
    labels.array[15, 18:22, 18:22] = Structure.DISC
    with pytest.raises(CorrectionError, match="at least two axial slices"):
        fill_between_slices(LabelEditor(labels), Structure.DISC, "axial")


def test_small_islands_go_to_what_surrounds_them() -> None:
    _, labels, truth = ball_scene()
    labels.array[15, 20, 20] = Structure.L5  # a speck of bone in the disc
    labels.array[2, 2:4, 2:4] = Structure.DISC  # a stray blob in the background
    editor = LabelEditor(labels)
    edit = remove_small_islands(editor, min_volume_mm3=20.0)
    assert edit is not None
    assert np.array_equal(labels.array, truth)
    assert remove_small_islands(editor, min_volume_mm3=20.0) is None
    editor.undo()
    assert labels.array[15, 20, 20] == Structure.L5


def test_smoothing_cuts_spurs_and_fills_dents() -> None:
    _, labels, truth = ball_scene()
    labels.array[15, 20, 20:34] = np.where(
        labels.array[15, 20, 20:34] == 0, Structure.DISC, labels.array[15, 20, 20:34]
    )  # a one-voxel spur
    labels.array[10:13, 20, 14:16] = 0  # a dent
    editor = LabelEditor(labels)
    smooth_structure(editor, Structure.DISC, radius_mm=1.0, method="median")
    assert dice(labels.array == Structure.DISC, truth == Structure.DISC) > 0.97
    assert np.count_nonzero(labels.array[15, 20, 29:34] == Structure.DISC) == 0
    with pytest.raises(CorrectionError, match="No voxel holds Lumbosacral nerves"):
        smooth_structure(editor, Structure.NERVES)


def test_assign_is_one_step_and_refuses_inside_a_stroke() -> None:
    grid = Grid((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    labels = LabelMap(np.zeros((4, 4, 4), np.uint8), grid)
    editor = LabelEditor(labels)
    assert editor.assign([1, 2, 3], Structure.S1) is not None
    assert editor.assign([1, 2, 3], Structure.S1) is None
    editor.begin_stroke()
    with pytest.raises(ValueError, match="end the brush stroke"):
        editor.assign([4], Structure.S1)


def test_the_case_session_keeps_the_strokes_until_the_labels_change() -> None:
    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.viewing import ViewState

    volume, labels, _ = ball_scene()
    session = CaseSession()
    session.show_volume(ViewState(volume))
    assert session.seed_grower() is None  # no labels to grow in
    session.set_labels(labels)
    grower = session.seed_grower()
    assert grower is not None
    assert session.seed_grower() is grower
    grower.paint(Structure.DISC, (15, 20, 20), "axial", 2.0)
    session.finish_growing()
    assert session.grower is None
    assert session.seed_grower() is not grower
    session.set_labels(LabelMap(labels.array.copy(), labels.grid))
    assert session.grower is None


def test_strokes_are_drawn_opaque_over_the_labels_until_growing_ends() -> None:
    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.viewing import BACKGROUND_STROKE_RGB, ViewState

    volume, labels, _ = ball_scene()
    session = CaseSession()
    session.show_volume(ViewState(volume))
    session.set_labels(labels)
    grower = session.seed_grower()
    grower.paint(Structure.L5, (15, 20, 20), "axial", 1.0)  # over the disc
    grower.paint(Structure.BACKGROUND, (15, 5, 5), "axial", 1.0)
    session.view.set_strokes(grower.seeds)
    session.view.set_cursor((15, 20, 20))
    rgba = session.view.overlay_rgba("axial")
    assert tuple(rgba[20, 20]) == (*Structure.L5.colour_rgb, 255)
    assert tuple(rgba[5, 5]) == (*BACKGROUND_STROKE_RGB, 255)
    session.finish_growing()
    rgba = session.view.overlay_rgba("axial")
    assert tuple(rgba[20, 20][:3]) == Structure.DISC.colour_rgb
    assert rgba[5, 5, 3] == 0


def test_a_stroke_takes_its_voxels_even_from_a_structure_without_strokes() -> None:
    volume, labels, truth = ball_scene()
    editor = LabelEditor(labels)
    grower = SeedGrower(volume, labels)
    grower.paint(Structure.DISC, (15, 30, 20), "axial", 1.0)  # on L5, which has no strokes
    grower.paint(Structure.BACKGROUND, (15, 5, 5), "axial", 1.0)
    grower.update(editor)
    assert labels.array[15, 30, 20] == Structure.DISC
    assert np.count_nonzero((labels.array != truth) & (truth == Structure.L5)) == np.count_nonzero(
        grower.seeds[truth == Structure.L5]
    )  # L5 lost its stroked voxels only
