"""Finding the training cases: layouts, and names that tell cases of two folders apart."""

from pathlib import Path

import pytest

from lumboplan_app.errors import LoadError
from lumboplan_app.segmentation.training import PARTIAL_LABELS, find_cases


def case_folder(parent: Path, name: str, labels: str = "labels.nii.gz") -> None:
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "image.nii.gz").write_bytes(b"")
    (folder / labels).write_bytes(b"")


def test_cases_of_two_folders_sharing_a_name_are_named_by_their_folder(tmp_path: Path) -> None:
    # Phantoms of one seed made twice, with another contrast: both are kept, told apart.
    for folder in ("t2", "random"):
        case_folder(tmp_path / folder, "case_01000")
    case_folder(tmp_path / "random", "case_01001")
    case_folder(tmp_path / "real", "VBs_VB3_23", PARTIAL_LABELS)
    found = find_cases([tmp_path / "t2", tmp_path / "random", tmp_path / "real"])
    assert [case.name for case in found] == [
        "t2/case_01000",
        "random/case_01000",
        "case_01001",
        "VBs_VB3_23",
    ]
    assert found[0].image == tmp_path / "t2" / "case_01000" / "image.nii.gz"
    assert [case.partial for case in found] == [False, False, False, True]


def test_a_folder_given_twice_is_refused(tmp_path: Path) -> None:
    for name in ("case_1", "case_2"):
        case_folder(tmp_path / "data", name)
    with pytest.raises(LoadError, match="give each data folder once"):
        find_cases([tmp_path / "data", tmp_path / "data"])


def test_two_data_folders_of_one_name_with_a_case_of_one_name_are_refused(tmp_path: Path) -> None:
    for site in ("site_a", "site_b"):
        case_folder(tmp_path / site / "data", "case_1")
    with pytest.raises(LoadError, match="rename one of two data folders"):
        find_cases([tmp_path / "site_a" / "data", tmp_path / "site_b" / "data"])


def test_fewer_than_two_cases_are_refused_with_the_layouts_it_reads(tmp_path: Path) -> None:
    case_folder(tmp_path / "data", "case_1")
    (tmp_path / "data" / "notes").mkdir()
    with pytest.raises(LoadError, match=r"Found 1 labelled case.*imagesTr"):
        find_cases([tmp_path / "data"])
