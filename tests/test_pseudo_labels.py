"""Pseudo-labels added to partially labelled training scans (`lumboplan pseudo-label`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.errors import ImplausibleSegmentationError, LoadError
from lumboplan_app.io import read_label_map, write_image
from lumboplan_app.labels import Structure
from lumboplan_app.learning.pseudo_labels import pseudo_label_cases, sure_voxels
from lumboplan_app.segmentation.partial_labels import OTHER_LEVEL
from lumboplan_app.segmentation.training import PARTIAL_LABELS, find_cases
from lumboplan_app.volume import Grid, LabelMap, Volume

GRID = Grid(shape_zyx=(40, 30, 20), spacing_xyz_mm=(1.0, 1.0, 1.0), origin_lps_mm=(0, 0, 0))


def _partial() -> np.ndarray:
    """An L5 body at z 20-29 (mm, superior up) and the level above it at z 32-35."""
    labels = np.zeros(GRID.shape_zyx, dtype=np.uint8)
    labels[20:30, 10:20, 5:15] = Structure.L5
    labels[32:36, 10:20, 5:15] = OTHER_LEVEL
    return labels


def _segmentation() -> np.ndarray:
    """S1 as a 10 mm cube under the body, on the level above, and unlabelled above the body."""
    labels = np.zeros(GRID.shape_zyx, dtype=np.uint8)
    labels[20:30, 10:20, 5:15] = Structure.L5
    labels[4:14, 10:20, 5:15] = Structure.S1  # under the body: its inner 8 mm cube is sure
    labels[31:36, 10:20, 5:15] = Structure.S1  # mostly on the drawn level above
    labels[36:40, 10:20, 5:15] = Structure.S1  # not labelled, but S1 never lies this high
    return labels


def test_only_the_inner_voxels_the_map_leaves_open_and_anatomy_allows_are_added() -> None:
    partial = LabelMap(_partial(), GRID)
    sure = sure_voxels(partial, LabelMap(_segmentation(), GRID), Structure.S1)
    expected = np.zeros(GRID.shape_zyx, dtype=bool)
    expected[5:13, 11:19, 6:14] = True  # one voxel in from the cube's faces
    assert np.array_equal(sure, expected)
    assert sure.sum() == 8 * 8 * 8


def _write_case(folder: Path, labels: np.ndarray, name: str = PARTIAL_LABELS) -> None:
    folder.mkdir(parents=True)
    image = np.random.default_rng(0).random(GRID.shape_zyx).astype(np.float32)
    write_image(Volume(image, GRID), folder / "image.nii.gz")
    write_image(LabelMap(labels, GRID), folder / name)


def test_cases_are_written_with_the_pseudo_labels_and_a_record(tmp_path: Path) -> None:
    data, output = tmp_path / "real", tmp_path / "real_pseudo"
    _write_case(data / "case_a", _partial())
    _write_case(data / "case_refused", _partial())
    _write_case(data / "phantom", _segmentation(), name="labels.nii.gz")
    seen: list[tuple[int, ...]] = []

    def segment(volume: Volume) -> LabelMap:
        seen.append(volume.grid.shape_zyx)
        if len(seen) == 2:
            raise ImplausibleSegmentationError("refused", "No plausible S1 found")
        return LabelMap(_segmentation(), volume.grid)

    result = pseudo_label_cases(data, output, [Structure.S1], segment, model="ab" * 32)

    assert len(seen) == 2  # the fully labelled case needs none and is not copied
    assert result.added_cm3 == {"case_a": {"s1": 0.51}}
    assert result.refused == {"case_refused": "No plausible S1 found"}
    written = read_label_map(output / "case_a" / PARTIAL_LABELS).array
    expected = _partial()
    expected[5:13, 11:19, 6:14] = Structure.S1
    assert np.array_equal(written, expected)
    unchanged = read_label_map(output / "case_refused" / PARTIAL_LABELS).array
    assert np.array_equal(unchanged, _partial())
    record = json.loads((output / "case_a" / "pseudo_labels.json").read_text())
    assert record["model"] == "ab" * 32
    assert record["added_cm3"] == {"s1": 0.51}
    assert [case.name for case in find_cases([output])] == ["case_a", "case_refused"]
    assert all(case.partial for case in find_cases([output]))


def test_the_input_folder_is_never_overwritten(tmp_path: Path) -> None:
    _write_case(tmp_path / "real" / "case_a", _partial())
    with pytest.raises(LoadError, match="another folder"):
        pseudo_label_cases(
            tmp_path / "real", tmp_path / "real", [Structure.S1], lambda v: v, model=""
        )


def test_a_folder_without_partial_labels_is_refused(tmp_path: Path) -> None:
    _write_case(tmp_path / "phantoms" / "one", _segmentation(), name="labels.nii.gz")
    _write_case(tmp_path / "phantoms" / "two", _segmentation(), name="labels.nii.gz")
    with pytest.raises(LoadError, match="partially labelled scans only"):
        pseudo_label_cases(
            tmp_path / "phantoms", tmp_path / "out", [Structure.S1], lambda v: v, model=""
        )


def test_the_command_copies_a_scan_the_model_cannot_segment(tmp_path: Path, capsys) -> None:
    from lumboplan_app.cli import main

    _write_case(tmp_path / "real" / "noise", _partial())  # 20 mm across: too thin to segment
    output = tmp_path / "pseudo"
    assert main(["pseudo-label", str(tmp_path / "real"), "-o", str(output)]) == 0
    printed = capsys.readouterr().out
    assert "noise: copied without pseudo-labels (This series covers only 20 mm" in printed
    assert np.array_equal(read_label_map(output / "noise" / PARTIAL_LABELS).array, _partial())


@pytest.mark.parametrize("name", ["l6", "l5", "disc"])
def test_the_command_names_the_structures_it_may_add(tmp_path: Path, capsys, name: str) -> None:
    from lumboplan_app.cli import main

    with pytest.raises(SystemExit):
        main(["pseudo-label", str(tmp_path), "-o", str(tmp_path / "o"), "--structures", name])
    assert "must be one of s1 nerves ilium skin" in capsys.readouterr().err


@pytest.mark.parametrize("structure", [Structure.L5, Structure.DISC])
def test_l5_and_the_disc_are_never_added(tmp_path: Path, structure: Structure) -> None:
    """A partial map's L5 is the drawn body and its disc is whole: adding either changes that."""
    _write_case(tmp_path / "real" / "case_a", _partial())
    with pytest.raises(ValueError, match="S1, the nerves, the ilium and the skin only"):
        pseudo_label_cases(tmp_path / "real", tmp_path / "out", [structure], lambda v: v, model="")


def test_a_case_that_cannot_be_read_is_listed_and_the_others_go_on(tmp_path: Path) -> None:
    data = tmp_path / "real"
    _write_case(data / "case_a", _partial())
    _write_case(data / "case_b", _partial())
    (data / "case_a" / PARTIAL_LABELS).write_bytes(b"not an image")

    result = pseudo_label_cases(
        data, tmp_path / "out", [Structure.S1], lambda v: LabelMap(_segmentation(), v.grid), ""
    )

    assert list(result.failed) == ["case_a"]
    assert result.added_cm3 == {"case_b": {"s1": 0.51}}
    assert not (tmp_path / "out" / "case_a").exists()
