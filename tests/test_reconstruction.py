"""Surface meshes against analytic shapes, on oblique and anisotropic grids."""

from pathlib import Path

import numpy as np
import pytest
import pyvista
from scipy.spatial.transform import Rotation

from lumboplan_app.cli import main
from lumboplan_app.errors import Cancelled, LumboPlanError
from lumboplan_app.io import write_image
from lumboplan_app.labels import Side, Structure
from lumboplan_app.reconstruction.meshes import structure_meshes, write_meshes
from lumboplan_app.reconstruction.scene import (
    DISPLAY_TRIANGLES,
    PlanScene,
    _segment_matrix,
    display_meshes,
)
from lumboplan_app.volume import Grid, LabelMap

RADIUS_MM = 18.0


def sphere_labels(spacing, direction, structure=Structure.DISC) -> tuple[LabelMap, np.ndarray]:
    grid = Grid((70, 80, 90), spacing, (12.0, -30.0, 40.0), direction)
    index = np.indices(grid.shape_zyx).transpose(1, 2, 3, 0)
    centre = grid.index_to_lps(np.array(grid.shape_zyx) / 2)
    inside = np.linalg.norm(grid.index_to_lps(index) - centre, axis=-1) < RADIUS_MM
    return LabelMap(inside.astype(np.uint8) * int(structure), grid), centre


@pytest.mark.parametrize(
    ("spacing", "angles"),
    [((0.6, 0.6, 0.6), (0, 0, 0)), ((0.7, 0.9, 1.5), (12, 25, -8)), ((1.0, 0.5, 2.0), (40, 0, 10))],
)
def test_sphere_mesh_is_in_lps_and_keeps_its_size(spacing, angles) -> None:
    direction = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    labels, centre = sphere_labels(spacing, direction)
    mesh = structure_meshes(labels)[Structure.DISC]
    assert mesh.is_all_triangles
    assert mesh.is_manifold
    np.testing.assert_allclose(mesh.center, centre, atol=0.3)
    volume = 4.0 / 3.0 * np.pi * RADIUS_MM**3
    assert mesh.volume == pytest.approx(volume, rel=0.05)  # smoothed, not shrunk
    distances = np.linalg.norm(mesh.points - centre, axis=1)
    assert np.abs(distances - RADIUS_MM).max() < max(spacing)


def test_one_mesh_per_present_structure_and_files_in_each_format(tmp_path: Path) -> None:
    labels, _ = sphere_labels((1.0, 1.0, 1.0), np.eye(3), Structure.L5)
    array = labels.array.copy()
    array[:, :, :10] = Structure.SKIN
    labels = LabelMap(array, labels.grid)
    meshes = structure_meshes(labels)
    assert set(meshes) == {Structure.L5, Structure.SKIN}
    for file_format in ("stl", "ply", "obj", "vtp"):
        paths = write_meshes(meshes, tmp_path / file_format, file_format)
        assert sorted(p.name for p in paths) == [f"l5.{file_format}", f"skin.{file_format}"]
        assert all(p.stat().st_size > 0 for p in paths)
    with pytest.raises(LumboPlanError, match="Unknown mesh format"):
        write_meshes(meshes, tmp_path, "dxf")


def test_mesh_command_writes_stl(tmp_path: Path, capsys) -> None:
    labels, _ = sphere_labels((1.0, 1.0, 1.0), np.eye(3))
    write_image(labels, tmp_path / "labels.nii.gz")
    assert main(["mesh", str(tmp_path / "labels.nii.gz"), "-o", str(tmp_path / "out")]) == 0
    assert "disc.stl" in capsys.readouterr().out
    import pyvista

    mesh = pyvista.read(tmp_path / "out" / "disc.stl")
    assert mesh.volume == pytest.approx(4.0 / 3.0 * np.pi * RADIUS_MM**3, rel=0.05)


def three_boxes() -> LabelMap:
    """L5, the disc and S1 as small boxes: three structures, each meshed quickly."""
    array = np.zeros((12, 14, 16), np.uint8)
    array[2:5, 3:10, 3:12] = Structure.L5
    array[5:7, 3:10, 3:12] = Structure.DISC
    array[7:10, 3:10, 3:12] = Structure.S1
    return LabelMap(array, Grid(array.shape, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)))


def test_meshing_stops_between_structures_when_cancelled() -> None:
    labels = three_boxes()
    polls = []

    def cancel_after_first() -> bool:
        polls.append(len(polls))
        return len(polls) > 1

    with pytest.raises(Cancelled):
        structure_meshes(labels, should_cancel=cancel_after_first)
    assert len(polls) == 2  # polled before the first and the second structure, not after

    with pytest.raises(Cancelled):
        structure_meshes(labels, should_cancel=lambda: True)  # nothing is meshed at all

    polls.clear()
    meshes = structure_meshes(labels, should_cancel=lambda: polls.append(1) or False)
    assert set(meshes) == {Structure.L5, Structure.DISC, Structure.S1}
    assert len(polls) == 3


def test_display_surfaces_are_capped_in_triangles_and_stop_when_cancelled(monkeypatch) -> None:
    labels, centre = sphere_labels((0.5, 0.5, 0.5), np.eye(3))
    full = structure_meshes(labels)
    assert full[Structure.DISC].n_cells > DISPLAY_TRIANGLES  # the cap has work to do

    shown = display_meshes(full)[Structure.DISC]
    assert DISPLAY_TRIANGLES * 0.8 < shown.n_cells <= DISPLAY_TRIANGLES * 1.05
    radii = np.linalg.norm(np.asarray(shown.points) - centre, axis=1)
    assert np.abs(radii - RADIUS_MM).max() < 1.0  # still the same sphere, in LPS mm

    polls: list[int] = []
    display_meshes(structure_meshes(three_boxes()), lambda: polls.append(1) or False)
    assert len(polls) == 3  # once before each structure

    decimated = []
    decimate = pyvista.PolyData.decimate_pro

    def counted_decimate(mesh, *args, **kwargs):
        decimated.append(mesh.n_cells)
        return decimate(mesh, *args, **kwargs)

    monkeypatch.setattr(pyvista.PolyData, "decimate_pro", counted_decimate)
    two_large = {Structure.DISC: full[Structure.DISC], Structure.S1: full[Structure.DISC]}
    with pytest.raises(Cancelled):  # a cancel after the first decimation stops the second
        display_meshes(two_large, should_cancel=lambda: bool(decimated))
    assert len(decimated) == 1


def test_a_rod_matrix_puts_the_unit_cylinder_between_its_ends() -> None:
    start, end = np.array([10.0, -5.0, 3.0]), np.array([-20.0, 15.0, 40.0])
    matrix = _segment_matrix(start, end, radius_mm=0.6)
    rod = pyvista.Cylinder(center=(0, 0, 0.5), direction=(0, 0, 1), radius=1.0, height=1.0)
    points = rod.transform(matrix, inplace=False).points
    along = (points - start) @ (end - start) / np.linalg.norm(end - start) ** 2
    assert along.min() == pytest.approx(0.0, abs=1e-6)  # float32 points
    assert along.max() == pytest.approx(1.0, abs=1e-6)
    off_axis = points - start - np.outer(along, end - start)
    assert np.linalg.norm(off_axis, axis=1).max() == pytest.approx(0.6, abs=1e-5)
    assert not _segment_matrix(start, start, radius_mm=0.6)[:3, :3].any()  # no length: nothing


def test_markers_move_without_new_actors_and_hide() -> None:
    scene = PlanScene((64, 64))
    try:
        scene.set_markers(Side.LEFT, {"b": (1.0, 2.0, 3.0)}, {"line_a": ((0, 0, 0), (0, 0, 10))})
        actors = dict(scene._markers)
        scene.set_markers(Side.LEFT, {"b": (11.0, 2.0, 3.0)}, {"line_a": ((0, 0, 0), (10, 0, 0))})
        assert scene._markers == actors  # the same actors, moved
        bounds = np.reshape(actors[(Side.LEFT, "b")].GetBounds(), (3, 2)).mean(axis=1)
        assert bounds == pytest.approx([11.0, 2.0, 3.0], abs=1e-6)
        line = np.reshape(actors[(Side.LEFT, "line_a")].GetBounds(), (3, 2))
        assert line[0] == pytest.approx([0.0, 10.0], abs=1e-6)
        assert scene.markers(Side.LEFT) == ("b", "line_a")
        scene.set_markers(Side.LEFT, {"b": None}, {"line_a": None})
        assert scene.markers(Side.LEFT) == ()
    finally:
        scene.close()
