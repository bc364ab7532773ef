import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.cli import INFO_SCHEMA, main
from lumboplan_app.io import read_scan
from lumboplan_app.volume import Grid
from tests.conftest import SAGITTAL_DIRECTION

PATIENT = {
    "patient_name": "Roe^Richard",
    "patient_id": "MRN-559211",
    "patient_birth_date": "19550101",
}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lumboplan_app.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_info_describes_one_series(make_series, capsys: pytest.CaptureFixture[str]) -> None:
    grid = Grid((24, 40, 40), (0.8, 0.9, 1.5), (0.0, 0.0, 0.0), SAGITTAL_DIRECTION)
    folder = make_series(grid=grid, series_description="T2 SPACE", **PATIENT)
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "T2 SPACE" in out
    assert "Size (x, y, z):    24 x 40 x 40 voxels" in out
    assert "Spacing (x, y, z): 1.5 x 0.8 x 0.9 mm" in out
    assert "Orientation:       LPS" in out
    assert "Segmentable:       yes" in out


def test_info_json_is_stable_and_holds_no_identifier(make_series, capsys) -> None:
    folder = make_series(grid=Grid((24, 40, 40), (0.8, 0.9, 1.5), (0.0, 0.0, 0.0)), **PATIENT)
    assert main(["info", str(folder), "--json"]) == 0
    text = capsys.readouterr().out
    info = json.loads(text)
    assert info["schema"] == INFO_SCHEMA
    assert info["series"][0]["loadable"] is True
    volume = info["volume"]
    assert volume["modality"] == "MR"
    assert volume["orientation"] == "LPS"
    assert volume["size_xyz"] == [40, 40, 24]
    assert volume["segmentable"] is True
    assert volume["segmentation_refusal"] is None
    for identifier in ("Roe", "Richard", "559211", "19550101"):
        assert identifier not in text


def test_info_says_why_a_thin_series_is_not_segmentable(make_series, capsys) -> None:
    folder = make_series(grid=Grid((4, 64, 64), (1.0, 1.0, 5.0), (0.0, 0.0, 0.0)))
    assert main(["info", str(folder), "--json"]) == 0
    volume = json.loads(capsys.readouterr().out)["volume"]
    assert volume["segmentable"] is False
    assert "covers only 20 mm" in volume["segmentation_refusal"]


def test_info_lists_several_series_and_takes_series(make_series, tmp_path, capsys) -> None:
    make_series(folder="cd/a", series_description="T2 sag", series_number=2)
    make_series(folder="cd/b", series_description="STIR", modality="CT", series_number=5)
    assert main(["info", str(tmp_path / "cd")]) == 0
    out = capsys.readouterr().out
    assert "2 series:" in out
    assert "1: T2 sag" in out
    assert "2: STIR" in out
    assert "--series" in out
    assert main(["info", str(tmp_path / "cd"), "--series", "2"]) == 0
    out = capsys.readouterr().out
    assert "Modality:          CT" in out
    assert "Segmentable:       no - This is a CT scan" in out


def test_convert_writes_the_canonical_volume(make_series, tmp_path: Path, capsys) -> None:
    folder = make_series()
    output = tmp_path / "out" / "scan.nii.gz"
    assert main(["convert", str(folder), str(output)]) == 0
    assert "Wrote scan.nii.gz" in capsys.readouterr().out
    converted, original = read_scan(output), read_scan(folder)
    assert converted.grid.matches(original.grid, tolerance_mm=1e-4)
    np.testing.assert_array_equal(converted.array, original.array)


def test_bad_input_exits_1_with_one_actionable_line(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_text("not dicom")
    assert main(["convert", str(junk), str(tmp_path / "x.nii.gz")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("lumboplan: error: 'junk.dcm' is not a DICOM image")
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.nii.gz").exists()


def test_several_series_without_choice_lists_them(make_series, tmp_path, capsys) -> None:
    make_series(folder="cd/a")
    make_series(folder="cd/b")
    assert main(["convert", str(tmp_path / "cd"), str(tmp_path / "x.nii.gz")]) == 1
    err = capsys.readouterr().err
    assert "holds 2 series" in err
    assert "  1: " in err
    assert "  2: " in err
    # A series id that is not there: said with the id, the series listed once.
    assert main(["info", str(tmp_path / "cd"), "--series", "1.2.3.4"]) == 1
    out, err = capsys.readouterr()
    assert "The series '1.2.3.4' is not in this folder, which holds 2." in err
    assert err.count("  1: ") == 1
    assert out == ""


def test_missing_slice_names_the_gap(make_series, capsys) -> None:
    folder = make_series()
    (folder / "IM00006.dcm").unlink()
    assert main(["info", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "1 slice(s) missing" in captured.err


def test_command_line_entry_point_runs_as_a_process(make_series, tmp_path: Path) -> None:
    usage = run_cli()
    assert usage.returncode == 2
    assert "usage: lumboplan" in usage.stderr
    folder = make_series(**PATIENT)
    result = run_cli("-v", "info", folder, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["volume"]["size_xyz"] == [12, 20, 16]
    for identifier in ("Roe", "559211", str(folder)):
        assert identifier not in result.stderr  # -v logs, but no identifier nor input path
    assert run_cli("info", tmp_path / "nothing").returncode == 1
