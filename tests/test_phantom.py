"""Synthetic phantoms: anatomy within ranges, ground truth where DESIGN.md defines it."""

import json
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.cli import main
from lumboplan_app.io import list_series, read_label_map, read_scan
from lumboplan_app.labels import Part, Side, Structure, structure_lookup_table
from lumboplan_app.phantom.anatomy import build_anatomy, render
from lumboplan_app.phantom.case import generate_case
from lumboplan_app.phantom.mr import Acquisition, default_contrast
from lumboplan_app.phantom.parameters import (
    PhantomParameters,
    sample_parameters,
    surely_group_a,
    surely_group_b,
    symmetric_parameters,
)
from lumboplan_app.phantom.shapes import Canvas, Ellipsoid, Frame, RoundedBox, Tube
from lumboplan_app.phantom.truth_plan import plan_truth

LOOKUP = np.asarray(structure_lookup_table(), dtype=np.uint8)
#: A small, coarse scan: fast enough for tests, still holding L5, S1, the foramina and crests.
SMALL_SCAN = Acquisition(
    plane="sagittal",
    in_plane_mm=1.5,
    slice_mm=1.5,
    fov_half_mm=(95.0, 70.0, 60.0),
    fov_centre_mm=(0.0, 10.0, 5.0),
)
VOXEL_MM = 0.5


@pytest.fixture(scope="module")
def rendered() -> tuple[Canvas, np.ndarray, dict]:
    """The default anatomy painted at 0.5 mm around the spine, with its landmarks."""
    anatomy = build_anatomy(PhantomParameters())
    canvas = Canvas((-90.0, -60.0, -70.0), (90.0, 100.0, 80.0), VOXEL_MM)
    _, parts = render(anatomy, canvas)
    return canvas, parts, anatomy.landmarks


def voxel_lps(canvas: Canvas, index_zyx: np.ndarray) -> np.ndarray:
    return canvas.low + VOXEL_MM * index_zyx[..., ::-1]


def test_shapes_have_exact_distances_where_they_should() -> None:
    frame = Frame.at((1.0, 2.0, 3.0))
    sphere = Ellipsoid(frame, (5.0, 5.0, 5.0))
    assert sphere.distance(np.array(1.0), np.array(2.0), np.array(11.0)) == pytest.approx(3.0)
    box = RoundedBox(frame, (4.0, 3.0, 2.0))
    assert box.distance(np.array(1.0), np.array(2.0), np.array(3.0)) == pytest.approx(-2.0)
    assert box.distance(np.array(8.0), np.array(2.0), np.array(3.0)) == pytest.approx(3.0)
    tube = Tube(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 10.0]]), np.array([1.0, 3.0]))
    assert tube.distance(np.array(5.0), np.array(0.0), np.array(5.0)) == pytest.approx(3.0)


def test_parts_make_the_structures_and_lie_inside_the_body(rendered) -> None:
    canvas, parts, _ = rendered
    labels = LOOKUP[parts]
    for structure in Structure:
        if structure is not Structure.BACKGROUND:
            assert (labels == structure).any(), structure
    anatomy = build_anatomy(PhantomParameters())
    contour = next(p.shape for p in anatomy.pieces if p.part is Part.SKIN).shape
    inside = np.argwhere(labels > 0)[::97]
    points = voxel_lps(canvas, inside)
    assert np.all(contour.distance(points[:, 0], points[:, 1], points[:, 2]) <= 0.6)


def test_structure_volumes_are_anatomical(rendered) -> None:
    _, parts, _ = rendered
    labels = LOOKUP[parts]
    cm3 = VOXEL_MM**3 / 1000.0
    # L5 vertebra 45..90 cm3 (body alone about 30..45, Panjabi 1992); L5/S1 disc 9..25 cm3.
    assert 45.0 < (labels == Structure.L5).sum() * cm3 < 90.0
    assert 9.0 < (labels == Structure.DISC).sum() * cm3 < 25.0
    assert 25.0 < (parts == Part.L5_BODY).sum() * cm3 < 50.0
    assert 1.0 < (parts == Part.L5_PEDICLE_LEFT).sum() * cm3 < 6.0


def test_disc_height_canal_and_foramen_match_the_parameters(rendered) -> None:
    canvas, parts, landmarks = rendered
    p = PhantomParameters()
    normal = np.asarray(landmarks["planes"]["disc_mid"]["normal"])
    along = np.arange(-20.0, 20.0, 0.1)
    line = along[:, None] * normal[None, :]
    index = np.round((line - canvas.low) / VOXEL_MM).astype(int)[:, ::-1]
    on_disc = parts[index[:, 0], index[:, 1], index[:, 2]] == Part.DISC
    assert on_disc.sum() * 0.1 == pytest.approx(p.l5s1_disc_height_mm, abs=1.2)
    # Interpedicular distance: between the pedicles' medial borders in an AP projection.
    columns_left = np.flatnonzero((parts == Part.L5_PEDICLE_LEFT).any(axis=(0, 1)))
    columns_right = np.flatnonzero((parts == Part.L5_PEDICLE_RIGHT).any(axis=(0, 1)))
    x_left = canvas.axes[0][columns_left.min()]
    x_right = canvas.axes[0][columns_right.max()]
    assert x_left - x_right == pytest.approx(p.interpedicular_mm, abs=1.0)
    # Canal depth at L5 mid-height, from the body's back to the lamina's front (Panjabi 1992:
    # about 15-20 mm at L5); the lamina slopes back, so it is a little over the parameter.
    from lumboplan_app.phantom.shapes import rotation_x

    l5_tilt = p.sacral_slope_deg - p.l5s1_disc_angle_deg - p.l5_wedge_deg / 2
    l5_centre = rotation_x(p.sacral_slope_deg - p.l5s1_disc_angle_deg / 2) @ np.array(
        [0.0, 0.0, p.l5s1_disc_height_mm / 2]
    ) + rotation_x(p.sacral_slope_deg - p.l5s1_disc_angle_deg) @ np.array(
        [0.0, 0.0, p.l5_body_height_mm / 2]
    )
    backward = np.arange(0.0, 60.0, 0.25)
    ray = l5_centre + backward[:, None] * rotation_x(l5_tilt)[:, 1]
    ray_index = np.round((ray - canvas.low) / VOXEL_MM).astype(int)[:, ::-1]
    on_ray = parts[ray_index[:, 0], ray_index[:, 1], ray_index[:, 2]]
    body_back = backward[on_ray == Part.L5_BODY].max()
    lamina_front = backward[(backward > body_back) & (on_ray == Part.L5_LAMINA)].min()
    assert lamina_front - body_back == pytest.approx(p.canal_depth_mm, abs=2.0)
    # Foraminal height, along the spine's axis just behind the disc, in the middle of the
    # foramen: from the sacrum (superior notch) up to the L5 pedicle. Hasegawa et al. 1995
    # report about 15-23 mm at L5/S1.
    posterior = np.cross(normal, [1.0, 0.0, 0.0])
    posterior = posterior if posterior[1] > 0 else -posterior
    back = 0.85 * p.l5_body_depth_mm / 2
    middle = np.array([p.interpedicular_mm / 2 + p.pedicle_width_mm / 2, 0.0, 0.0])
    heights = np.arange(-30.0, 40.0, 0.25)
    line = middle + (back + 5.0) * posterior + heights[:, None] * normal
    index = np.round((line - canvas.low) / VOXEL_MM).astype(int)[:, ::-1]
    along = parts[index[:, 0], index[:, 1], index[:, 2]]
    pedicle_bottom = heights[np.argmax(along == Part.L5_PEDICLE_LEFT)]
    below = heights[(heights < pedicle_bottom) & (along == Part.S1_ALA_LEFT)]
    assert 15.0 < pedicle_bottom - below.max() < 23.0
    # Nothing but the exiting root (and fat) lies between them: the foramen is open.
    between = along[(heights > below.max()) & (heights < pedicle_bottom)]
    assert set(np.unique(between)) <= {Part.BACKGROUND, Part.L5_ROOT_LEFT}


def test_symmetric_case_is_mirror_symmetric() -> None:
    anatomy = build_anatomy(symmetric_parameters(sample_parameters(np.random.default_rng(4))))
    canvas = Canvas((-80.0, -50.0, -50.0), (80.0, 90.0, 60.0), 1.0)
    _, parts = render(anatomy, canvas)
    swap = np.arange(256, dtype=np.uint8)
    for part in Part:
        if part.name.endswith("_LEFT"):
            twin = Part[part.name.replace("_LEFT", "_RIGHT")]
            swap[int(part)], swap[int(twin)] = int(twin), int(part)
    mirrored = swap[parts[:, :, ::-1]]
    assert np.mean(mirrored == parts) > 0.999


def test_point_b_is_at_the_pedicle_line_on_the_disc_back(rendered) -> None:
    canvas, parts, landmarks = rendered
    normal = np.asarray(landmarks["planes"]["disc_mid"]["normal"])
    for side in (Side.LEFT, Side.RIGHT):
        b = np.asarray(landmarks["points_lps_mm"][side.value]["b"])
        assert abs(b @ normal) < 1e-6  # on the disc mid-plane (through the origin)
        pedicle = Part.L5_PEDICLE_LEFT if side is Side.LEFT else Part.L5_PEDICLE_RIGHT
        columns = np.flatnonzero((parts == pedicle).any(axis=(0, 1)))
        medial = np.min(np.abs(canvas.axes[0][columns]))
        assert abs(b[0]) == pytest.approx(medial, abs=VOXEL_MM)
        # Disc just in front of b, not just behind: b is on the disc's posterior margin.
        posterior = np.cross(normal, [1.0, 0.0, 0.0])
        posterior = posterior if posterior[1] > 0 else -posterior
        for offset, expected in ((-1.0, True), (1.0, False)):
            point = b + offset * posterior
            index = tuple(np.round((point - canvas.low) / VOXEL_MM).astype(int)[::-1])
            assert (parts[index] == Part.DISC) == expected


def test_point_a_is_where_sap_and_iap_meet(rendered) -> None:
    canvas, parts, landmarks = rendered
    for side in (Side.LEFT, Side.RIGHT):
        a = np.asarray(landmarks["points_lps_mm"][side.value]["a"])
        left = side is Side.LEFT
        for part in (
            Part.S1_SAP_LEFT if left else Part.S1_SAP_RIGHT,
            Part.L5_IAP_LEFT if left else Part.L5_IAP_RIGHT,
        ):
            points = voxel_lps(canvas, np.argwhere(parts == part))
            assert np.min(np.linalg.norm(points - a, axis=1)) < 2.0, part


def test_surely_group_a_and_b_come_out_so() -> None:
    assert [s["group"] for s in plan_truth(build_anatomy(surely_group_a())).values()] == ["A", "A"]
    blocked = plan_truth(build_anatomy(surely_group_b()))
    assert [s["group"] for s in blocked.values()] == ["B", "B"]
    assert any("inferior articular process" in reason for reason in blocked["left"]["reasons"])


def test_true_placement_measures_are_where_the_definitions_put_them() -> None:
    anatomy = build_anatomy(symmetric_parameters(PhantomParameters()))
    plan = plan_truth(anatomy)
    assert plan["left"]["alpha_deg"] == pytest.approx(plan["right"]["alpha_deg"])
    contour = next(p.shape for p in anatomy.pieces if p.part is Part.SKIN).shape
    for side in (Side.LEFT, Side.RIGHT):
        result = plan[side.value]
        assert 30.0 <= result["alpha_deg"] <= 90.0  # never below the literature's lower bound
        d = np.asarray(result["points_lps_mm"]["d"])
        assert abs(float(contour.distance(*[np.array(v) for v in d]))) < 0.5  # on the skin
        assert result["line_b_mm"] == pytest.approx(abs(d[0]), abs=0.01)
        assert np.sign(d[0]) == side.lps_sign  # on the side's own flank
        assert 0.0 < result["line_a_mm"] < 30.0


def test_default_population_holds_both_groups() -> None:
    groups = [
        side["group"]
        for seed in range(12)
        for side in plan_truth(
            build_anatomy(sample_parameters(np.random.default_rng(seed)))
        ).values()
    ]
    assert 0.2 < groups.count("A") / len(groups) < 0.8


@pytest.fixture(scope="module")
def small_case():
    return generate_case(11, acquisition=SMALL_SCAN, contrast=default_contrast())


def test_case_arrays_share_one_canonical_grid(small_case) -> None:
    case = small_case
    assert case.image.grid.orientation_code() == "LPS"
    assert case.labels.grid.matches(case.image.grid)
    assert case.parts.grid.matches(case.image.grid)
    np.testing.assert_array_equal(case.labels.array, LOOKUP[case.parts.array])
    assert case.image.meta.modality == "MR"
    # T2: CSF (nerves label, dural sac) brighter than bone (L5) on average.
    image, labels = case.image.array, case.labels.array
    assert image[labels == Structure.NERVES].mean() > image[labels == Structure.L5].mean()


def test_same_seed_same_case_and_other_seeds_differ(small_case) -> None:
    again = generate_case(11, acquisition=SMALL_SCAN, contrast=default_contrast())
    np.testing.assert_array_equal(again.image.array, small_case.image.array)
    np.testing.assert_array_equal(again.parts.array, small_case.parts.array)
    assert json.dumps(again.truth, sort_keys=True) == json.dumps(small_case.truth, sort_keys=True)
    other = generate_case(12, acquisition=SMALL_SCAN, contrast=default_contrast())
    assert other.truth["parameters"] != small_case.truth["parameters"]


def test_cli_writes_resumable_cases_with_dicom_and_preview(tmp_path: Path, capsys) -> None:
    arguments = ["phantom", str(tmp_path), "--anatomy", "group-a", "--dicom", "--preview"]
    assert main([*arguments, "--seed", "3"]) == 0
    folder = tmp_path / "case_00003"
    for name in ("image.nii.gz", "labels.nii.gz", "parts.nii.gz", "truth.json", "preview.png"):
        assert (folder / name).is_file(), name
    truth = json.loads((folder / "truth.json").read_text())
    assert truth["seed"] == 3
    assert truth["plan"]["left"]["group"] == "A"
    assert set(truth["points_lps_mm"]["left"]) == {"a", "b"}
    image = read_scan(folder / "image.nii.gz")
    # The DICOM series keeps the scanner's slice order (sagittal slices for a sagittal scan).
    assert truth["acquisition"]["plane"] in list_series(folder / "dicom")[0].orientation
    from_dicom = read_scan(folder / "dicom")
    assert from_dicom.grid.matches(image.grid, tolerance_mm=1e-3)
    np.testing.assert_array_equal(from_dicom.array, image.array)
    labels = read_label_map(folder / "labels.nii.gz", reference=image.grid)
    assert set(labels.present_ids()) <= {int(s) for s in Structure}
    stamp = (folder / "truth.json").stat().st_mtime_ns
    dicom_bytes = {p.name: p.read_bytes() for p in (folder / "dicom").iterdir()}
    assert main([*arguments, "--seed", "3"]) == 0
    assert "already complete" in capsys.readouterr().out
    assert (folder / "truth.json").stat().st_mtime_ns == stamp
    # Asking for something else (another anatomy) makes the case again: the same seed's DICOM
    # comes out byte for byte the same when asked for the same anatomy once more.
    assert main(["phantom", str(tmp_path), "--anatomy", "group-b", "--seed", "3"]) == 0
    assert json.loads((folder / "truth.json").read_text())["request"]["anatomy"] == "group-b"
    assert main([*arguments, "--seed", "3"]) == 0
    assert {p.name: p.read_bytes() for p in (folder / "dicom").iterdir()} == dicom_bytes


def test_random_contrast_keeps_the_anatomy_and_changes_the_grey_values(tmp_path: Path) -> None:
    assert main(["phantom", str(tmp_path / "t2"), "--seed", "21"]) == 0
    assert main(["phantom", str(tmp_path / "random"), "--seed", "21", "--contrast", "random"]) == 0
    t2_folder, random_folder = tmp_path / "t2" / "case_00021", tmp_path / "random" / "case_00021"
    t2_labels = read_label_map(t2_folder / "labels.nii.gz")
    random_labels = read_label_map(random_folder / "labels.nii.gz")
    assert random_labels.grid.matches(t2_labels.grid)
    np.testing.assert_array_equal(random_labels.array, t2_labels.array)
    truth = json.loads((random_folder / "truth.json").read_text())
    assert truth["request"]["contrast"] == "random"
    assert truth["contrast"]["weighting"] == "random"
    assert truth["plan"] == json.loads((t2_folder / "truth.json").read_text())["plan"]
    # Brightness relative to the CSF around the nerves is not T2's (where bone and disc are dark).
    labels = t2_labels.array
    ratios = {}
    for name, folder in (("t2", t2_folder), ("random", random_folder)):
        image = read_scan(folder / "image.nii.gz").array
        csf = image[labels == Structure.NERVES].mean()
        ratios[name] = [image[labels == s].mean() / csf for s in (Structure.L5, Structure.DISC)]
    assert np.max(np.abs(np.subtract(ratios["t2"], ratios["random"]))) > 0.1, ratios


def test_a_slab_is_the_same_case_cut_to_a_clinics_sagittal_slab(tmp_path: Path) -> None:
    assert main(["phantom", str(tmp_path / "drawn"), "--seed", "21"]) == 0
    slab = ["phantom", str(tmp_path / "slab"), "--seed", "21", "--field-of-view", "slab"]
    assert main(slab) == 0
    drawn_folder, slab_folder = tmp_path / "drawn" / "case_00021", tmp_path / "slab" / "case_00021"
    truth = json.loads((slab_folder / "truth.json").read_text())
    drawn_truth = json.loads((drawn_folder / "truth.json").read_text())
    assert truth["request"]["field_of_view"] == "slab"
    assert "field_of_view" not in drawn_truth["request"]  # folders written before stay complete
    assert truth["parameters"] == drawn_truth["parameters"]  # the same anatomy and contrast
    assert truth["contrast"] == drawn_truth["contrast"]
    assert truth["acquisition"]["plane"] == "sagittal"
    assert 30.0 <= truth["acquisition"]["fov_half_mm"][0] <= 46.0
    labels = read_label_map(slab_folder / "labels.nii.gz")
    across_mm = labels.array.shape[2] * labels.grid.spacing_xyz_mm[0]  # L-R: the last array axis
    assert 60.0 <= across_mm <= 100.0  # a tilted slab's box is a little wider than the slab
    assert {int(Structure.L5), int(Structure.DISC), int(Structure.S1)} <= set(labels.present_ids())
    drawn_labels = read_label_map(drawn_folder / "labels.nii.gz")

    def ilium_ml(label_map) -> float:
        voxel_ml = float(np.prod(label_map.grid.spacing_xyz_mm)) / 1000.0
        return float((label_map.array == Structure.ILIUM).sum()) * voxel_ml

    assert ilium_ml(labels) < 0.5 * ilium_ml(drawn_labels)  # the crests lie outside the slab
    # The demo has its own scan: a slab is not silently dropped from what was asked.
    assert main(["phantom", str(tmp_path / "demo"), "--demo", "--field-of-view", "slab"]) == 2
    assert not (tmp_path / "demo").exists()
