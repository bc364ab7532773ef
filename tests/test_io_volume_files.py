from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from lumboplan_app.errors import LoadError, NotAnImageError, UnsupportedImageError
from lumboplan_app.io import list_series, read_label_map, read_scan, write_image
from lumboplan_app.volume import Grid, LabelMap
from tests.conftest import SAGITTAL_DIRECTION, ramp_index, ramp_volume

GRID = Grid((6, 7, 8), (0.8, 0.9, 1.4), (4.0, -5.0, 6.0), SAGITTAL_DIRECTION)


@pytest.mark.parametrize("name", ["scan.nii.gz", "scan.nii", "scan.nrrd", "scan.mha"])
def test_volume_file_round_trip_is_canonical_and_exact(tmp_path: Path, name: str) -> None:
    volume = ramp_volume(GRID)
    write_image(volume, tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind
    loaded = read_scan(tmp_path / name)
    assert loaded.grid.orientation_code() == "LPS"
    index = np.indices(loaded.grid.shape_zyx).transpose(1, 2, 3, 0)
    np.testing.assert_allclose(
        loaded.grid.index_to_lps(index),
        GRID.index_to_lps(ramp_index(loaded.array, GRID)),
        atol=1e-4,
    )
    assert loaded.meta.source_format in ("NIfTI", "NRRD", "MetaImage")
    [info] = list_series(tmp_path / name)
    assert info.loadable
    assert info.orientation == "sagittal"


def test_label_map_must_lie_on_the_scan_grid(tmp_path: Path) -> None:
    labels = LabelMap((ramp_volume(GRID).array % 7).astype(np.uint8), GRID)
    write_image(labels, tmp_path / "labels.nii.gz")
    scan_grid = ramp_volume(GRID).to_canonical().grid
    loaded = read_label_map(tmp_path / "labels.nii.gz", reference=scan_grid)
    np.testing.assert_array_equal(loaded.array, labels.to_canonical().array)
    shifted = Grid(
        scan_grid.shape_zyx, scan_grid.spacing_xyz_mm, (0.0, 0.0, 0.0), scan_grid.direction
    )
    with pytest.raises(LoadError, match="does not lie on the scan's voxel grid"):
        read_label_map(tmp_path / "labels.nii.gz", reference=shifted)


def test_a_scan_is_not_a_label_map(tmp_path: Path) -> None:
    volume = ramp_volume(GRID).with_array(ramp_volume(GRID).array + 0.5)
    write_image(volume, tmp_path / "scan.nii.gz")
    with pytest.raises(LoadError, match="not a label map"):
        read_label_map(tmp_path / "scan.nii.gz")


def test_2d_4d_and_colour_files_are_refused(tmp_path: Path) -> None:
    sitk.WriteImage(sitk.Image(20, 20, sitk.sitkFloat32), str(tmp_path / "slice.nii.gz"))
    sitk.WriteImage(sitk.Image([8, 8, 8, 3], sitk.sitkFloat32), str(tmp_path / "dwi.nii.gz"))
    sitk.WriteImage(sitk.Image([8, 8, 8], sitk.sitkVectorUInt8, 3), str(tmp_path / "rgb.nrrd"))
    with pytest.raises(UnsupportedImageError, match="2-D image"):
        read_scan(tmp_path / "slice.nii.gz")
    with pytest.raises(UnsupportedImageError, match="4-D image"):
        read_scan(tmp_path / "dwi.nii.gz")
    with pytest.raises(UnsupportedImageError, match="colour"):
        read_scan(tmp_path / "rgb.nrrd")
    assert not list_series(tmp_path / "dwi.nii.gz")[0].loadable


def test_damaged_volume_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "broken.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(NotAnImageError, match="damaged"):
        read_scan(tmp_path / "broken.nii.gz")


def test_writing_needs_a_known_ending(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match=r"\.nii\.gz"):
        write_image(ramp_volume(GRID), tmp_path / "out.png")


def test_values_like_hounsfield_units_are_flagged_as_ct(tmp_path: Path) -> None:
    volume = ramp_volume(GRID).with_array(np.where(ramp_volume(GRID).array < 100, -1000.0, 40.0))
    write_image(volume, tmp_path / "ct.nii.gz")
    loaded = read_scan(tmp_path / "ct.nii.gz")
    assert any("CT" in warning for warning in loaded.meta.warnings)


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    import os

    write_image(ramp_volume(GRID), tmp_path / "scan.nii.gz")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "scan.nii.gz").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_truncated_compressed_volume_is_refused_not_zero_filled(tmp_path: Path) -> None:
    from lumboplan_app.errors import CorruptFileError

    path = tmp_path / "scan.nii.gz"
    write_image(ramp_volume(Grid((40, 30, 20), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))), path)
    path.write_bytes(path.read_bytes()[:2000])  # ITK alone loads this with zeros
    with pytest.raises(CorruptFileError, match="cut short"):
        read_scan(path)
