"""The shipped model on REAL MR (../shared/realdata; skipped where absent).

Real lumbar scans that show L5/S1 are accepted; cervical, abdominal and thoracolumbar scans whose
L5/S1 is out of view are refused, each with its reason; a real scan goes from scan to report.
The quality of the labels is measured by benchmarks/realmr_bench.py, not asserted here.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.cli import main
from lumboplan_app.errors import ModelError
from lumboplan_app.io import read_label_map, read_scan
from lumboplan_app.labels import Part, Structure
from lumboplan_app.planning.parts import derive_anatomy
from lumboplan_app.segmentation.inference import DEFAULT_WEIGHTS, Segmenter
from lumboplan_app.segmentation.partial_labels import l5_body_dice
from lumboplan_app.volume import Grid, LabelMap, Volume

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

#: A real sagittal T2 lumbar slab (76 mm wide) the shipped weights were neither trained nor
#: validated on, which they segment and the plausibility check accepts.
HELD_OUT_T2 = "labelled_t2/VBs_VB2_10"


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    if not DEFAULT_WEIGHTS.is_file():
        pytest.skip("no shipped model weights")
    return Segmenter(device="cpu")


@pytest.fixture(scope="module")
def held_out_t2(realdata: Path, segmenter) -> tuple[LabelMap, np.ndarray]:
    """The held-out T2 slab's labels (the plausibility check raises if it refuses them), truth."""
    folder = realdata / HELD_OUT_T2
    assert folder.name not in segmenter.card.extra.get("real_training_cases", [])
    volume = read_scan(folder / "image.nii.gz")
    labels = segmenter.segment(volume)
    return labels, read_label_map(folder / "truth.nii.gz", reference=volume.grid).array


def test_a_real_lumbar_scan_showing_l5_s1_is_accepted(held_out_t2) -> None:
    labels, truth = held_out_t2
    assert l5_body_dice(labels.array, truth, (1.0, 1.0, 1.0)) > 0.5  # L5 on the right level


def test_the_real_body_is_derived_as_the_body(held_out_t2) -> None:
    # Its concave lower endplate leaves a hollow between two rims at the midline; read as the
    # canal, it made the back of the body "lamina" (23 % of the drawn body it labels L5).
    labels, truth = held_out_t2
    parts = derive_anatomy(labels).parts.array
    body = (truth == Structure.L5) & (labels.array == Structure.L5)
    assert np.mean(parts[body] == Part.L5_BODY) > 0.95


def _above_l5(volume: Volume, truth: np.ndarray) -> Volume:
    """The scan cut 15 mm above the L5 body: a thoracolumbar field whose L5/S1 is out of view."""
    top = int(np.argwhere(truth == Structure.L5)[:, 0].max()) + 15
    grid = volume.grid
    origin = grid.index_to_lps((top, 0, 0))
    shape = (grid.shape_zyx[0] - top, *grid.shape_zyx[1:])
    cut = Grid(shape, grid.spacing_xyz_mm, tuple(float(v) for v in origin), grid.direction)
    return Volume(volume.array[top:], cut, volume.meta)


def test_a_thoracolumbar_field_without_l5_s1_is_refused(realdata: Path, segmenter) -> None:
    folder = realdata / HELD_OUT_T2
    volume = read_scan(folder / "image.nii.gz")
    truth = read_label_map(folder / "truth.nii.gz", reference=volume.grid).array
    with pytest.raises(ModelError, match="does not look like a lumbosacral MR"):
        segmenter.segment(_above_l5(volume, truth))


@pytest.mark.parametrize(
    "scan",
    [
        "nifti/sct_lumbar_t2/t2_lumbar.nii.gz",  # lower thoracic and upper lumbar: no sacrum
        "nifti/totalsegmentator_mr/example_mr_sm.nii.gz",  # abdomen at 3 mm
        "nifti/sct_spine_t2/t2.nii.gz",  # cervical T2
        "nifti/sct_spine_t1/t1w.nii.gz",  # cervical T1
    ],
)
def test_scans_of_other_regions_are_refused_with_a_reason(
    realdata: Path, segmenter, scan: str
) -> None:
    with pytest.raises(ModelError, match="does not look like a lumbosacral MR") as refusal:
        segmenter.segment(read_scan(realdata / scan))
    assert str(refusal.value).split(":")[0]  # what was missing or implausible comes first


def test_scan_to_report_on_a_real_slab(realdata: Path, tmp_path: Path, segmenter) -> None:
    # A 76 mm sagittal slab: the iliac crests lie outside it, so neither side may be Group A;
    # L5, the disc, point b and Line A are still there, and the report says why.
    output = tmp_path / "run"
    assert main(["run", str(realdata / HELD_OUT_T2 / "image.nii.gz"), "-o", str(output)]) == 0
    plan = json.loads((output / "plan.json").read_text())
    for side in ("left", "right"):
        foramen = plan["sides"][side]
        assert foramen["group"] != "A"
        if foramen["group"] == "not_assessable":
            assert foramen["reasons"]
    assert (output / "report.pdf").stat().st_size > 10_000
    labels = read_label_map(output / "labels.nii.gz")
    present = set(labels.present_ids())
    assert {Structure.L5, Structure.DISC, Structure.S1} <= present
