"""Real files from public corpora (../shared/realdata, see its PROVENANCE.md) through the loader.

Each row states what PROVENANCE.md says the loader should do with the file.
"""

from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.errors import (
    CorruptFileError,
    IncompleteSeriesError,
    NotAnImageError,
    SeriesChoiceRequired,
    UnsuitableScanError,
    UnsupportedImageError,
)
from lumboplan_app.io import list_series, read_label_map, read_scan
from lumboplan_app.io.checks import require_segmentable

pytestmark = pytest.mark.realdata

# path, canonical shape (z, y, x), spacing (x, y, z) mm, oblique
LOADS = [
    ("mr_series_siemens", (256, 256, 4), (1.0, 1.0, 1.0), False),
    ("mr_series_ge", (256, 256, 4), (1.0, 1.0, 1.0), True),
    ("mr_series_ge_implicit_vr", (256, 256, 4), (1.0, 1.0, 1.0), True),
    ("mr_series_philips", (240, 4, 240), (1.0417, 0.6, 1.0417), True),
    ("mr_series_hitachi_oblique", (64, 64, 4), (4.0, 2.3438, 2.3438), True),
    ("mr_series_non_isotropic", (4, 28, 64), (6.4, 4.0, 0.5), True),
    ("multiframe_mr/philips_enhanced_8frames.dcm", (256, 256, 8), (1.2, 1.0, 1.0), None),
    ("multiframe_mr/siemens_enhanced_8frames.dcm", (8, 256, 256), (0.9375, 0.9375, 0.9), None),
    ("multiframe_mr/hyperfine_enhanced_8frames.dcm", (8, 138, 112), (1.59, 1.61, 5.0), None),
    ("compressed/j2k", (256, 256, 4), (1.0, 1.0, 1.0), False),
    ("compressed/jpeg", (256, 256, 4), (1.0, 1.0, 1.0), False),
    ("compressed/jpegls", (256, 256, 4), (1.0, 1.0, 1.0), False),
    ("compressed/rle", (256, 256, 4), (1.0, 1.0, 1.0), False),
    ("nifti/sct_lumbar_t2/t2_lumbar.nii.gz", (201, 257, 38), (1.0, 1.0, 1.0), False),
    ("nifti/sct_spine_t2/t2.nii.gz", (55, 60, 52), (1.0, 1.0, 1.0), None),
    ("nifti/sct_spine_t1/t1w.nii.gz", None, (1.0, 1.0, 1.0), None),
    ("nifti/totalsegmentator_mr/example_mr_sm.nii.gz", (20, 91, 117), (3.0, 3.0, 3.0), None),
    ("nrrd_mha/t2_lumbar.nrrd", (201, 257, 38), (1.0, 1.0, 1.0), False),
    ("nrrd_mha/t2_lumbar.mha", (201, 257, 38), (1.0, 1.0, 1.0), False),
]

# path, error type, words the message must hold
REFUSES = [
    ("mr_missing_slice", IncompleteSeriesError, "unevenly spaced"),
    ("mr_4d_repeated_positions", UnsupportedImageError, "4-D"),
    ("mr_mosaic_siemens", UnsupportedImageError, "mosaic"),
    ("rgb_secondary_capture", UnsupportedImageError, "secondary capture"),
    ("single_2d/ge_single_slice.dcm", UnsupportedImageError, "single 2-D image"),
    ("single_2d/MR_small.dcm", UnsupportedImageError, "single 2-D image"),
    ("dicomdir_synthetic", UnsupportedImageError, "no pixel data"),
    ("dicomdir_synthetic/DICOMDIR", UnsupportedImageError, "no pixel data"),
    ("broken/MR_truncated.dcm", CorruptFileError, "truncated"),
    ("broken/not_dicom.dcm", NotAnImageError, "not a DICOM image"),
    ("two_series_one_folder", SeriesChoiceRequired, "2 series"),
]


@pytest.mark.parametrize(("name", "shape", "spacing", "oblique"), LOADS)
def test_loads(realdata: Path, name: str, shape, spacing, oblique) -> None:
    volume = read_scan(realdata / name)
    assert volume.grid.orientation_code() == "LPS"
    if shape is not None:
        assert volume.grid.shape_zyx == shape
    np.testing.assert_allclose(volume.grid.spacing_xyz_mm, spacing, atol=2e-3)
    if oblique is not None:
        assert volume.grid.is_oblique(tolerance_deg=0.5) == oblique
    assert np.isfinite(volume.array).all()
    assert volume.array.max() > volume.array.min()


@pytest.mark.parametrize(("name", "error", "words"), REFUSES)
def test_refuses_with_a_clear_error(realdata: Path, name: str, error, words: str) -> None:
    with pytest.raises(error, match=words):
        read_scan(realdata / name)


def test_compressed_series_decode_to_the_same_volume(realdata: Path) -> None:
    volumes = [read_scan(realdata / "compressed" / ts) for ts in ("j2k", "jpeg", "jpegls", "rle")]
    for other in volumes[1:]:
        np.testing.assert_array_equal(other.array, volumes[0].array)


def test_implicit_and_explicit_vr_give_the_same_geometry(realdata: Path) -> None:
    # PROVENANCE.md expects the same volume, but the two folders' files hold different pixel
    # values (pydicom's own pixel_array differs; the test data look randomised): the geometry
    # must agree, and each volume must hold exactly the pixels its files hold.
    import pydicom

    explicit = read_scan(realdata / "mr_series_ge")
    implicit = read_scan(realdata / "mr_series_ge_implicit_vr")
    assert explicit.grid.matches(implicit.grid)
    for volume, folder in ((explicit, "mr_series_ge"), (implicit, "mr_series_ge_implicit_vr")):
        first = sorted((realdata / folder).iterdir())[0]
        dataset = pydicom.dcmread(first)
        # Canonical x is the slice axis of this sagittal series: find the slice by position.
        position = np.asarray(dataset.ImagePositionPatient, dtype=float)
        x = round(volume.grid.lps_to_index(position)[2])
        # Rows of the DICOM image run along -S (canonical z reversed), columns along +P (y).
        plane = volume.array[::-1, :, x]
        np.testing.assert_array_equal(plane, dataset.pixel_array.astype(np.float32))


def test_oblique_hitachi_keeps_its_direction_matrix(realdata: Path) -> None:
    volume = read_scan(realdata / "mr_series_hitachi_oblique")
    # IOP 0.61,0.79,0.06 / -0.14,0.19,-0.97: its row cosine is one of the canonical axes.
    columns = {tuple(np.round(np.abs(c), 2)) for c in volume.grid.direction.T}
    assert (0.61, 0.79, 0.06) in columns


def test_two_stacks_in_one_folder_are_listed_separately(realdata: Path) -> None:
    listing = list_series(realdata / "two_series_one_folder")
    assert [i.series_number for i in listing] == [202, 501]
    assert {i.orientation for i in listing} == {"sagittal", "oblique axial"}
    assert listing[1].series_id.endswith("#2")


def test_ct_series_with_empty_uids_loads_for_viewing_only(realdata: Path) -> None:
    volume = read_scan(realdata / "ct_series")
    assert volume.meta.modality == "CT"
    assert volume.grid.shape_zyx == (20, 512, 512)
    with pytest.raises(UnsuitableScanError, match="CT"):
        require_segmentable(volume)


def test_nifti_ct_is_warned_about(realdata: Path) -> None:
    volume = read_scan(realdata / "nifti/totalsegmentator_ct/example_ct_sm.nii.gz")
    assert any("CT" in w for w in volume.meta.warnings)
    with pytest.raises(UnsuitableScanError):
        require_segmentable(volume)


def test_nrrd_and_mha_equal_the_nifti(realdata: Path) -> None:
    reference = read_scan(realdata / "nifti/sct_lumbar_t2/t2_lumbar.nii.gz")
    for name in ("t2_lumbar.nrrd", "t2_lumbar.mha"):
        other = read_scan(realdata / "nrrd_mha" / name)
        assert other.grid.matches(reference.grid)
        np.testing.assert_array_equal(other.array, reference.array)


@pytest.mark.parametrize(
    ("scan", "labels"),
    [
        ("nifti/sct_spine_t2/t2.nii.gz", "nifti/sct_spine_t2/t2_seg-manual.nii.gz"),
        ("nifti/sct_spine_t2/t2.nii.gz", "nifti/sct_spine_t2/t2_seg-manual_labeled.nii.gz"),
        ("nifti/sct_spine_t1/t1w.nii.gz", "nifti/sct_spine_t1/t1w_seg-manual.nii.gz"),
        (
            "nifti/totalsegmentator_mr/example_mr_sm.nii.gz",
            "nifti/totalsegmentator_mr/example_seg_mr.nii.gz",
        ),
        ("nifti/sct_spine_t2/t2.nii.gz", "nrrd_mha/sct_t2_cord_seg.nrrd"),
    ],
)
def test_label_maps_load_on_their_scan_grid(realdata: Path, scan: str, labels: str) -> None:
    volume = read_scan(realdata / scan)
    label_map = read_label_map(realdata / labels, reference=volume.grid)
    assert label_map.array.shape == volume.array.shape
    assert len(label_map.present_ids()) >= 2


def test_a_four_slice_series_is_not_segmented(realdata: Path) -> None:
    from lumboplan_app.errors import UnsuitableScanError
    from lumboplan_app.io.checks import require_segmentable

    with pytest.raises(UnsuitableScanError, match="covers only 16 mm"):
        require_segmentable(read_scan(realdata / "mr_series_hitachi_oblique"))
