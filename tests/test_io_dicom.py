import logging
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from scipy.spatial.transform import Rotation

from lumboplan_app.errors import (
    Cancelled,
    CorruptFileError,
    IncompleteSeriesError,
    NotAnImageError,
    SeriesChoiceRequired,
    UnsuitableScanError,
    UnsupportedImageError,
    VolumeSizeError,
)
from lumboplan_app.io import list_series, read_scan, read_scan_isolated
from lumboplan_app.io.checks import require_segmentable
from lumboplan_app.io.isolated import run_isolated
from lumboplan_app.volume import Grid, Volume
from tests.conftest import SAGITTAL_DIRECTION, ramp_index

PATIENT = {"patient_name": "Doe^Jane", "patient_id": "PID-734911", "patient_birth_date": "19610203"}


def assert_same_voxels_at_same_positions(loaded: Volume, written_grid: Grid) -> None:
    """Every loaded voxel holds the ramp value of the written voxel at the same LPS position."""
    index_written = ramp_index(loaded.array, written_grid)
    index_loaded = np.indices(loaded.grid.shape_zyx).transpose(1, 2, 3, 0)
    np.testing.assert_allclose(
        loaded.grid.index_to_lps(index_loaded),
        written_grid.index_to_lps(index_written),
        atol=1e-3,
    )


def test_sagittal_series_loads_in_lps_with_known_geometry(make_series) -> None:
    grid = Grid((12, 16, 20), (0.8, 0.9, 1.5), (-9.0, -20.0, 30.0), SAGITTAL_DIRECTION)
    folder = make_series(grid=grid, series_description="T2 SPACE sag", **PATIENT)
    volume = read_scan(folder)
    assert volume.grid.orientation_code() == "LPS"
    # Sagittal slices run right->left, so x (L) has the slice spacing, y (P) the row one...
    assert volume.grid.shape_zyx == (16, 20, 12)
    np.testing.assert_allclose(volume.grid.spacing_xyz_mm, (1.5, 0.8, 0.9), atol=1e-5)
    assert_same_voxels_at_same_positions(volume, grid)
    assert volume.meta.modality == "MR"
    assert volume.meta.series_description == "T2 SPACE sag"
    assert volume.meta.acquisition_type == "3D"
    assert volume.meta.patient.name == "Doe^Jane"
    assert "Doe" not in repr(volume.meta)
    assert len(volume.meta.case_key) == 8


@pytest.mark.parametrize("angle_deg", [12.0, 35.0])
def test_oblique_series_keeps_its_direction(make_series, angle_deg: float) -> None:
    tilt = Rotation.from_euler("zx", [angle_deg, angle_deg / 2], degrees=True).as_matrix()
    grid = Grid((10, 14, 18), (0.7, 0.7, 1.2), (5.0, 6.0, -7.0), tilt @ SAGITTAL_DIRECTION)
    volume = read_scan(make_series(grid=grid))
    assert volume.grid.is_oblique()
    assert_same_voxels_at_same_positions(volume, grid)


def test_file_order_and_names_do_not_matter(make_series, tmp_path: Path) -> None:
    grid = Grid((8, 10, 12), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0))
    folder = make_series(grid=grid)
    nested = tmp_path / "CD" / "DICOM" / "S0001"
    nested.mkdir(parents=True)
    for number, path in enumerate(sorted(folder.iterdir(), reverse=True)):
        shutil.move(path, nested / f"{number:08X}")  # no extension, reversed order
    (tmp_path / "CD" / "README.TXT").write_text("viewer readme")
    (tmp_path / "CD" / "AUTORUN.INF").write_text("[autorun]")
    volume = read_scan(tmp_path / "CD")
    assert_same_voxels_at_same_positions(volume, grid)


def test_dicomdir_is_followed(make_series, tmp_path: Path) -> None:
    from pydicom.fileset import FileSet

    folder = make_series(grid=Grid((6, 8, 9), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)), patient_id="A1")
    file_set = FileSet()
    for path in sorted(folder.iterdir()):
        file_set.add(pydicom.dcmread(path))
    export = tmp_path / "export"
    file_set.write(export)
    dicomdir = export / "DICOMDIR"
    assert dicomdir.is_file()
    assert read_scan(dicomdir).grid.shape_zyx == (6, 8, 9)
    assert read_scan(export).grid.shape_zyx == (6, 8, 9)


def test_a_dicomdir_copied_without_its_files_says_so(make_series, tmp_path: Path) -> None:
    from pydicom.fileset import FileSet

    folder = make_series(grid=Grid((4, 5, 6), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)), patient_id="A1")
    file_set = FileSet()
    for path in sorted(folder.iterdir()):
        file_set.add(pydicom.dcmread(path))
    file_set.write(tmp_path / "export")
    copied = tmp_path / "copied"
    copied.mkdir()
    shutil.copy(tmp_path / "export" / "DICOMDIR", copied / "DICOMDIR")
    with pytest.raises(NotAnImageError, match="lists 4 files, but none of them is in its folder"):
        read_scan(copied / "DICOMDIR")
    # The folder chosen instead of the file (a disc's index named in lower case) says the same.
    (copied / "DICOMDIR").rename(copied / "dicomdir")
    with pytest.raises(NotAnImageError, match="lists 4 files, but none of them is in its folder"):
        read_scan(copied)


def test_missing_slice_is_refused_with_its_positions(make_series) -> None:
    grid = Grid((8, 10, 12), (1.0, 1.0, 2.0), (0.0, 0.0, 10.0))
    folder = make_series(grid=grid)
    (folder / "IM00004.dcm").unlink()
    with pytest.raises(
        IncompleteSeriesError, match=r"4\.00 mm between 14\.00 and 18\.00 mm"
    ) as error:
        read_scan(folder)
    assert "1 slice(s) missing" in str(error.value)
    assert error.value.positions_mm == (10.0, 12.0, 14.0, 18.0, 20.0, 22.0, 24.0)


def test_two_series_are_listed_and_chosen(make_series, tmp_path: Path) -> None:
    make_series(folder="cd/t2", series_description="T2 sag", series_number=3)
    axial = Grid((9, 11, 13), (0.9, 0.9, 3.0), (0.0, 0.0, 0.0))
    make_series(grid=axial, folder="cd/t1", series_description="T1 ax", series_number=7)
    listing = list_series(tmp_path / "cd")
    assert [(i.index, i.description, i.orientation) for i in listing] == [
        (1, "T2 sag", "sagittal"),
        (2, "T1 ax", "axial"),
    ]
    assert listing[1].slice_count == 9
    assert listing[1].loadable
    with pytest.raises(SeriesChoiceRequired) as error:
        read_scan(tmp_path / "cd")
    assert [i.series_id for i in error.value.series] == [i.series_id for i in listing]
    assert read_scan(tmp_path / "cd", series=2).grid.shape_zyx == (9, 11, 13)
    assert read_scan(tmp_path / "cd", series=listing[1].series_id).grid.shape_zyx == (9, 11, 13)
    with pytest.raises(NotAnImageError, match="no series '5'"):
        read_scan(tmp_path / "cd", series=5)
    # An id from elsewhere (a moved case's series) lists what is here to choose from.
    elsewhere = "1.2.826.0.1.3680043.8.498.1"
    with pytest.raises(SeriesChoiceRequired, match=f"'{elsewhere}' is not in this folder") as moved:
        read_scan(tmp_path / "cd", series=elsewhere)
    assert [i.series_id for i in moved.value.series] == [i.series_id for i in listing]
    carried = pickle.loads(pickle.dumps(moved.value))  # as it comes back from the child reader
    assert str(carried) == str(moved.value)
    assert carried.series == moved.value.series


def test_a_scan_source_lists_and_reads_with_each_header_read_once(
    make_series, tmp_path: Path, monkeypatch
) -> None:
    from lumboplan_app.io import ScanSource
    from lumboplan_app.io import series as series_module

    make_series(folder="cd/t2", series_description="T2 sag", series_number=3)
    axial = Grid((9, 11, 13), (0.9, 0.9, 3.0), (0.0, 0.0, 0.0))
    make_series(grid=axial, folder="cd/t1", series_description="T1 ax", series_number=7)
    files = [path for path in (tmp_path / "cd").rglob("*") if path.is_file()]
    headers_read = []
    read_header = series_module._read_header
    monkeypatch.setattr(
        series_module, "_read_header", lambda path: headers_read.append(path) or read_header(path)
    )
    source = ScanSource(tmp_path / "cd")
    assert [info.description for info in source.series] == ["T2 sag", "T1 ax"]
    assert source.read(2).grid.shape_zyx == (9, 11, 13)
    with pytest.raises(SeriesChoiceRequired):
        source.read()
    assert sorted(headers_read) == sorted(files)  # discovery only; reading went to the pixels


def test_one_uid_with_two_orientations_is_two_stacks(make_series, tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    make_series(folder="mixed/a", series_instance_uid=uid)
    make_series(
        grid=Grid((5, 6, 7), (1.0, 1.0, 1.0), (0, 0, 0)), folder="mixed/b", series_instance_uid=uid
    )
    listing = list_series(tmp_path / "mixed")
    assert [i.series_id for i in listing] == [uid, f"{uid}#2"]
    assert read_scan(tmp_path / "mixed", series=f"{uid}#2").grid.shape_zyx == (5, 6, 7)


def test_repeated_positions_are_a_4d_series(make_series, tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    make_series(folder="dwi/b0", series_instance_uid=uid)
    make_series(folder="dwi/b1000", series_instance_uid=uid)
    with pytest.raises(UnsupportedImageError, match="4-D"):
        read_scan(tmp_path / "dwi")


def test_ct_loads_for_viewing_but_is_refused_for_segmentation(make_series) -> None:
    volume = read_scan(make_series(modality="CT", body_part="LSPINE"))
    assert volume.meta.modality == "CT"
    assert any("CT" in warning for warning in volume.meta.warnings)
    with pytest.raises(UnsuitableScanError, match="trained on MR"):
        require_segmentable(volume)


def test_single_2d_image_is_refused(make_series) -> None:
    folder = make_series(grid=Grid((1, 8, 8), (1.0, 1.0, 1.0), (0, 0, 0)))
    assert "single 2-D image" in list_series(folder)[0].problem
    with pytest.raises(UnsupportedImageError, match="single 2-D image"):
        read_scan(folder)


def test_junk_and_empty_folders_are_not_images(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_text("this is a text file, not DICOM\n" * 20)
    with pytest.raises(NotAnImageError, match="not a DICOM image"):
        read_scan(junk)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotAnImageError, match="No DICOM image"):
        read_scan(empty)
    with pytest.raises(NotAnImageError, match="does not exist"):
        read_scan(tmp_path / "nowhere")


def test_truncated_pixel_data_names_the_file(make_series) -> None:
    folder = make_series()
    victim = folder / "IM00005.dcm"
    victim.write_bytes(victim.read_bytes()[:-200])
    with pytest.raises(CorruptFileError, match=r"IM00005\.dcm"):
        read_scan(folder)


def test_compressed_series_decode_like_the_uncompressed_one(make_series) -> None:
    grid = Grid((6, 40, 44), (1.0, 1.0, 1.0), (0, 0, 0), SAGITTAL_DIRECTION)
    plain = read_scan(make_series(grid=grid, folder="plain"))
    for compression, syntax in (
        ("rle", pydicom.uid.RLELossless),
        ("jpeg2000", pydicom.uid.JPEG2000Lossless),  # the encoder needs 32 px or more
    ):
        folder = make_series(grid=grid, folder=compression, compression=compression)
        header = pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True)
        assert header.file_meta.TransferSyntaxUID == syntax
        np.testing.assert_array_equal(read_scan(folder).array, plain.array)


def test_constant_volume_is_empty(make_series) -> None:
    grid = Grid((5, 6, 7), (1.0, 1.0, 1.0), (0, 0, 0))
    flat = Volume(np.full(grid.shape_zyx, 7.0, np.float32), grid)
    with pytest.raises(VolumeSizeError, match="empty"):
        read_scan(make_series(grid=grid, volume=flat))


def test_huge_series_is_refused_before_decoding(
    make_series, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lumboplan_app.io.dicom as dicom_module

    folder = make_series()
    monkeypatch.setattr(dicom_module, "MAX_VOXELS", 1000)
    monkeypatch.setattr(dicom_module, "_decode_frames", pytest.fail)
    with pytest.raises(VolumeSizeError, match="million voxels"):
        read_scan(folder)


def test_thick_2d_protocol_loads_with_a_warning(make_series) -> None:
    grid = Grid((9, 40, 40), (0.6, 0.6, 4.0), (0, 0, 0), SAGITTAL_DIRECTION)
    volume = read_scan(make_series(grid=grid, mr_acquisition_type="2D"))
    assert any("2-D protocol with 4.0 mm slices" in w for w in volume.meta.warnings)


def test_progress_is_reported_and_cancel_is_honoured(make_series) -> None:
    folder = make_series()
    reports: list[float] = []
    read_scan(folder, progress=lambda fraction, text: reports.append(fraction))
    assert reports == sorted(reports)
    assert reports[-1] == 1.0
    assert len(reports) > 2
    with pytest.raises(Cancelled):
        read_scan(folder, should_cancel=lambda: True)


def test_no_patient_identifier_reaches_logs_or_errors(
    make_series, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    folder = make_series(folder="Doe_Jane_734911", **PATIENT)
    read_scan(folder)
    list_series(folder)
    (folder / "IM00003.dcm").unlink()
    with pytest.raises(IncompleteSeriesError) as error:
        read_scan(folder)
    text = caplog.text + str(error.value)
    for identifier in ("Doe", "Jane", "734911", "19610203"):
        assert identifier not in text


def test_isolated_read_gives_the_same_volume_and_relays_progress(make_series) -> None:
    folder = make_series()
    reports: list[float] = []
    isolated = read_scan_isolated(folder, progress=lambda f, text: reports.append(f))
    direct = read_scan(folder)
    np.testing.assert_array_equal(isolated.array, direct.array)
    assert isolated.grid.matches(direct.grid)
    assert reports
    assert reports[-1] == 1.0


def test_isolated_read_passes_typed_errors_through(make_series, tmp_path: Path) -> None:
    make_series(folder="two/a")
    make_series(folder="two/b")
    with pytest.raises(SeriesChoiceRequired) as error:
        read_scan_isolated(tmp_path / "two")
    assert len(error.value.series) == 2


def test_a_crashing_reader_becomes_a_corrupt_file_error() -> None:
    # os.abort kills the child as a segfault in native decoding code would.
    with pytest.raises(CorruptFileError, match="stopped unexpectedly"):
        run_isolated(os.abort)


def test_first_of_two_stacks_sharing_a_uid_opens_by_its_id(make_series, tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    make_series(folder="mixed/a", series_instance_uid=uid)
    make_series(
        grid=Grid((5, 6, 7), (1.0, 1.0, 1.0), (0, 0, 0)), folder="mixed/b", series_instance_uid=uid
    )
    first, second = list_series(tmp_path / "mixed")
    assert read_scan(tmp_path / "mixed", series=first.series_id).grid.shape_zyx == (16, 20, 12)
    assert read_scan(tmp_path / "mixed", series=second.series_id).grid.shape_zyx == (5, 6, 7)
    two_stacks = pydicom.uid.generate_uid()
    make_series(folder="other/a", series_instance_uid=two_stacks, series_number=1)
    make_series(folder="other/b", series_instance_uid=two_stacks, series_number=2)
    listing = list_series(tmp_path / "other")
    assert [info.series_id for info in listing] == [two_stacks, f"{two_stacks}#2"]
    assert read_scan(tmp_path / "other", series=two_stacks).grid.shape_zyx == (16, 20, 12)


def test_a_cut_off_slice_is_reported(make_series) -> None:
    folder = make_series()
    last = folder / "IM00012.dcm"
    last.write_bytes(last.read_bytes()[:400])
    volume = read_scan(folder)
    assert volume.grid.shape_zyx[2] == 11
    assert any("damaged DICOM header" in warning for warning in volume.meta.warnings)


def test_rounded_orientation_is_accepted_and_a_broken_one_refused(make_series) -> None:
    folder = make_series()
    for path in folder.iterdir():
        dataset = pydicom.dcmread(path)
        dataset.ImageOrientationPatient = [0.0, 1.0, 0.003, 0.0, 0.002, -1.0]
        dataset.save_as(path)
    assert read_scan(folder).grid.shape_zyx == (16, 20, 12)
    for path in folder.iterdir():
        dataset = pydicom.dcmread(path)
        dataset.ImageOrientationPatient = [0.0, 1.0, 0.0, 0.0, 0.5, -0.8]
        dataset.save_as(path)
    with pytest.raises(UnsupportedImageError, match="perpendicular"):
        read_scan(folder)


@pytest.mark.parametrize(
    ("body_part", "warned"),
    [("LSPINE", False), ("L-SPINE", False), ("CSPINE", True), ("TSPINE", True), ("KNEE", True)],
)
def test_other_body_regions_are_flagged(make_series, body_part: str, warned: bool) -> None:
    volume = read_scan(make_series(body_part=body_part))
    assert any("body part" in warning for warning in volume.meta.warnings) == warned


def test_a_missing_path_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(NotAnImageError) as error:
        read_scan(tmp_path / "Doe^Jane 1961")
    assert "Doe" not in str(error.value)
