"""The planner on voxel maps against the phantom's exact-geometry truth: placement, planes."""

import numpy as np
import pytest

from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Part, Side, Structure
from lumboplan_app.phantom.case import generate_case
from lumboplan_app.phantom.generate import PLANNING_ACQUISITION
from lumboplan_app.phantom.mr import default_contrast
from lumboplan_app.phantom.parameters import surely_group_a, surely_group_b
from lumboplan_app.planning import parts as parts_module
from lumboplan_app.planning.landmarks import disc_mid_plane, mid_sagittal_plane
from lumboplan_app.planning.parts import anatomical_frame, derive_anatomy
from lumboplan_app.planning.plan import plan_from_labels, plan_from_parts
from lumboplan_app.volume import LabelMap

pytestmark = pytest.mark.slow

SCAN = PLANNING_ACQUISITION


@pytest.fixture(scope="module")
def cases():
    seeds = (0, 1, 2, 3, 4, 5)
    return [generate_case(seed, acquisition=SCAN, contrast=default_contrast()) for seed in seeds]


def test_voxel_plan_agrees_with_the_exact_truth(cases) -> None:
    agree, alpha_errors, line_b_errors = 0, [], []
    for case in cases:
        planned = plan_from_parts(case.parts, case.truth, with_maps=False)
        for side in (Side.LEFT, Side.RIGHT):
            truth = case.truth["plan"][side.value]
            plan = planned.sides[side]
            agree += plan.group == truth["group"]
            if plan.alpha_deg is not None and truth["alpha_deg"] is not None:
                alpha_errors.append(abs(plan.alpha_deg - truth["alpha_deg"]))
            if plan.line_b_mm is not None and truth["line_b_mm"] is not None:
                line_b_errors.append(abs(plan.line_b_mm - truth["line_b_mm"]))
    # Voxels at 1 mm move borderline contacts (a few tenths of a mm) across zero now and then.
    assert agree >= 10
    assert np.median(alpha_errors) < 2.0
    assert np.median(line_b_errors) < 3.0
    assert max(line_b_errors) < 10.0


def test_surely_a_and_surely_b_on_voxels() -> None:
    for parameters, group in ((surely_group_a(), "A"), (surely_group_b(), "B")):
        case = generate_case(
            7, parameters=parameters, acquisition=SCAN, contrast=default_contrast()
        )
        planned = plan_from_parts(case.parts, case.truth, with_maps=False)
        assert [planned.sides[side].group for side in (Side.LEFT, Side.RIGHT)] == [group, group]


def test_missing_nerves_or_ilium_make_a_side_not_assessable(cases) -> None:
    case = cases[0]
    array = case.parts.array.copy()
    array[np.isin(array, [Part.L5_ROOT_LEFT, Part.S1_ROOT_LEFT, Part.DURAL_SAC])] = 0
    array[np.isin(array, [Part.ILIAC_CREST_RIGHT, Part.ILIAC_WING_RIGHT])] = 0
    planned = plan_from_parts(LabelMap(array, case.parts.grid), case.truth, with_maps=False)
    assert planned.sides[Side.LEFT].group == "not_assessable"
    assert "nerve" in planned.sides[Side.LEFT].reasons[0]
    assert planned.sides[Side.RIGHT].group == "not_assessable"
    assert "iliac" in planned.sides[Side.RIGHT].reasons[0]


def angle_deg(a, b) -> float:
    cosine = abs(float(np.dot(a, b))) / float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.degrees(np.arccos(min(1.0, cosine))))


def test_planes_derived_from_the_structures_match_the_truth(cases) -> None:
    for case in cases:
        planes = case.truth["planes"]
        point, normal = disc_mid_plane(case.labels)
        assert angle_deg(normal, planes["disc_mid"]["normal"]) < 2.0
        assert abs((np.asarray(planes["disc_mid"]["point"]) - point) @ normal) < 0.5
        assert normal[2] > 0  # cranial
        point, normal = mid_sagittal_plane(case.labels)
        assert angle_deg(normal, planes["mid_sagittal"]["normal"]) < 2.0
        assert abs((np.asarray(planes["mid_sagittal"]["point"]) - point) @ normal) < 1.0


def test_planes_need_their_structures(cases) -> None:
    empty = LabelMap(np.zeros_like(cases[0].labels.array), cases[0].labels.grid)
    with pytest.raises(PlanningError, match="disc was not found"):
        disc_mid_plane(empty)
    with pytest.raises(PlanningError, match="L5 and S1 were not found"):
        mid_sagittal_plane(empty)


def dice(a, b) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int((a & b).sum()) / total


@pytest.fixture(scope="module")
def derived(cases):
    return [derive_anatomy(case.labels) for case in cases]


def test_points_a_and_b_from_the_structures_are_near_the_truth(cases, derived) -> None:
    b_errors, a_errors = [], []
    for case, anatomy in zip(cases, derived, strict=True):
        for side in ("left", "right"):
            truth = case.truth["points_lps_mm"][side]
            found = anatomy.landmarks["points_lps_mm"][side]
            b_errors.append(float(np.linalg.norm(np.subtract(found["b"], truth["b"]))))
            a_errors.append(float(np.linalg.norm(np.subtract(found["a"], truth["a"]))))
    assert max(b_errors) < 2.0
    assert max(a_errors) < 3.0


@pytest.fixture(scope="module")
def case_2025():
    # Validation phantom 2025: its L5 body's back, 1.5 mm behind a wall line drawn in front of
    # it by the endplates' rounded rims, was read as the pedicles: b came out 10 mm medial.
    return generate_case(2025, acquisition=SCAN, contrast=default_contrast())


def b_errors_mm(case, anatomy) -> list[float]:
    return [
        float(
            np.linalg.norm(
                np.subtract(
                    anatomy.landmarks["points_lps_mm"][side]["b"],
                    case.truth["points_lps_mm"][side]["b"],
                )
            )
        )
        for side in ("left", "right")
    ]


def test_point_b_where_the_body_back_steps_behind_its_wall_line(case_2025) -> None:
    anatomy = derive_anatomy(case_2025.labels)
    assert max(b_errors_mm(case_2025, anatomy)) < 2.0
    # The fitted wall leaves the whole true body out of the pedicle slab.
    local = parts_module._LocalCoordinates(case_2025.labels, anatomy.frame)
    index, coordinates = local.of(Structure.L5)
    body = case_2025.parts.array[tuple(index.T)] == Part.L5_BODY
    disc = local.of(Structure.DISC)[1]
    v_wall = parts_module._posterior_wall(disc, float(np.percentile(np.abs(disc[:, 0]), 98)))
    wall = parts_module._profile(coordinates, v_wall, "L5").wall_at(coordinates[body, 2])
    assert (coordinates[body, 1] - wall).max() < parts_module._PEDICLE_SLAB_MM[0]


def test_point_b_when_the_body_back_enters_the_pedicle_slab(case_2025, monkeypatch) -> None:
    def rims_kept(levels, walls, v_wall):  # the fit before the rims were dropped
        known = np.isfinite(walls) & (walls > np.nanmedian(walls) - 2.0)
        slope, offset = np.polyfit(levels[known], walls[known], 1)
        return float(slope), float(offset)

    monkeypatch.setattr(parts_module, "_wall_line", rims_kept)
    # The body's back in the slab crosses the midline, which no pedicle does: not a pedicle.
    assert max(b_errors_mm(case_2025, derive_anatomy(case_2025.labels))) < 2.0


def test_derived_parts_overlap_the_true_parts(cases, derived) -> None:
    # Floors a little under what 6 cases give (benchmarks/planning_validation.py has the table).
    floors = {
        Part.L5_BODY: 0.95,
        Part.DISC: 0.99,
        Part.DURAL_SAC: 0.85,
        Part.L5_ROOT_LEFT: 0.85,
        Part.S1_ROOT_RIGHT: 0.65,
        Part.L5_IAP_LEFT: 0.55,
        Part.L5_TRANSVERSE_PROCESS_RIGHT: 0.75,
        Part.L5_PEDICLE_LEFT: 0.6,
        Part.S1_ALA_RIGHT: 0.75,
        Part.ILIAC_WING_LEFT: 0.75,
    }
    for case, anatomy in zip(cases, derived, strict=True):
        for part, floor in floors.items():
            assert dice(anatomy.parts.array == part, case.parts.array == part) > floor, part


def test_groups_from_the_structures_never_claim_a_false_group_a(cases, derived) -> None:
    pairs = []
    for case, anatomy in zip(cases, derived, strict=True):
        from_labels = plan_from_parts(anatomy.parts, anatomy.landmarks, with_maps=False)
        from_truth = plan_from_parts(case.parts, case.truth, with_maps=False)
        pairs += [(from_labels.sides[s].group, from_truth.sides[s].group) for s in Side]
    assert ("A", "B") not in pairs  # the error that matters most
    # Contacts within the half-voxel margin may turn an A into a B; most agree.
    assert sum(a == b for a, b in pairs) >= len(pairs) - 2


def test_surely_a_and_surely_b_from_the_structures() -> None:
    for parameters, group in ((surely_group_a(), "A"), (surely_group_b(), "B")):
        case = generate_case(
            7, parameters=parameters, acquisition=SCAN, contrast=default_contrast()
        )
        planned = plan_from_labels(case.labels)
        assert [planned.sides[side].group for side in Side] == [group, group]
        for side in Side:
            best = planned.best_free(side)
            if best is not None:  # a free pose is free by the map's own measure
                assert best.min_clearance_mm >= 0.0


def test_missing_structures_make_foramina_not_assessable(cases) -> None:
    case = cases[1]
    frame = anatomical_frame(case.labels)
    points = case.labels.grid.index_to_lps(
        np.indices(case.labels.array.shape).transpose(1, 2, 3, 0).astype(float)
    )
    u = frame.local(points)[..., 0]
    array = case.labels.array.copy()
    array[(array == Structure.NERVES) & (u > 0)] = 0  # no nerve on the left
    array[(array == Structure.ILIUM) & (u < 0)] = 0  # no ilium on the right
    planned = plan_from_labels(LabelMap(array, case.labels.grid))
    assert planned.sides[Side.LEFT].group == "not_assessable"
    assert planned.sides[Side.RIGHT].group == "not_assessable"
    # No map either: without the nerves, poses through them would read as free.
    assert planned.maps == {}
    assert planned.to_json()["sides"]["left"]["best_free"] is None
    no_disc = case.labels.array.copy()
    no_disc[no_disc == Structure.DISC] = 0
    planned = plan_from_labels(LabelMap(no_disc, case.labels.grid))
    assert {plan.group for plan in planned.sides.values()} == {"not_assessable"}
    assert "disc" in planned.sides[Side.LEFT].reasons[0]
    document = planned.to_json()
    assert document["schema"] == "lumboplan.plan/1"
    assert document["sides"]["left"]["best_free"] is None
