"""Where the scan ends: a placement that rests on what lies outside the scan is not assessable.

A synthetic anatomy on a 2 mm grid (fast): the disc plane axial, the midline at x = 0, points b
10 mm either side, the nerves, L5's facets and transverse processes clear of the channels, a low
iliac wing on each side (its top 10 mm
below the channel's plane: a crest that does not constrain) and a body whose skin lies 110 mm
to either side and 40 mm behind the disc. Cropped to a sagittal slab, the same anatomy must never
give Group A. The demo case cropped the same way checks the planner on a phantom.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.channel import Channel
from lumboplan_app.planning.distance import DistanceField
from lumboplan_app.planning.field_of_view import FieldOfView, touched_faces
from lumboplan_app.planning.interactive import ChannelPlanner
from lumboplan_app.planning.placement import skin_entry
from lumboplan_app.planning.plan import plan_from_labels, plan_from_parts
from lumboplan_app.volume import Grid, LabelMap

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"
SPACING_MM = 2.0
#: The body's box (LPS mm): skin 110 mm to either side, 50 mm in front of and 40 mm behind b.
BODY_X_MM, BODY_Y_MM = 110.0, (-50.0, 40.0)
SKIN_MM = 4.0
LANDMARKS = {
    "points_lps_mm": {
        "left": {"a": [14.0, 8.0, 6.0], "b": [10.0, 0.0, 0.0]},
        "right": {"a": [-14.0, 8.0, 6.0], "b": [-10.0, 0.0, 0.0]},
    },
    "planes": {
        "disc_mid": {"point": [0.0, 0.0, 0.0], "normal": [0.0, 0.0, 1.0]},
        "mid_sagittal": {"point": [0.0, 0.0, 0.0], "normal": [1.0, 0.0, 0.0]},
    },
}


def anatomy(
    half_width_mm: float = 120.0, wing_x_mm: tuple[float, float] = (35.0, 100.0)
) -> LabelMap:
    """Return the synthetic part map on a grid ``half_width_mm`` to either side of the midline."""
    low = np.array([-half_width_mm, -60.0, -60.0])
    high = np.array([half_width_mm, 50.0, 40.0])
    shape_xyz = np.floor((high - low) / SPACING_MM).astype(int) + 1
    grid = Grid(tuple(int(n) for n in shape_xyz[::-1]), (SPACING_MM,) * 3, tuple(low))
    z, y, x = (low[::-1][i] + np.arange(n) * SPACING_MM for i, n in enumerate(grid.shape_zyx))
    z, y, x = np.meshgrid(z, y, x, indexing="ij")
    parts = np.zeros(grid.shape_zyx, dtype=np.uint8)
    body = (np.abs(x) <= BODY_X_MM) & (y >= BODY_Y_MM[0]) & (y <= BODY_Y_MM[1])
    inner = (
        (np.abs(x) <= BODY_X_MM - SKIN_MM)
        & (y >= BODY_Y_MM[0] + SKIN_MM)
        & (y <= BODY_Y_MM[1] - SKIN_MM)
    )
    parts[body & ~inner] = Part.SKIN
    for sign, side in ((1, Side.LEFT), (-1, Side.RIGHT)):
        lateral = sign * x
        wing = (lateral >= wing_x_mm[0]) & (lateral <= wing_x_mm[1])
        wing &= (y >= -20.0) & (y <= 30.0) & (z >= -50.0) & (z <= -14.0)
        parts[wing] = Part.ILIAC_WING_LEFT if side is Side.LEFT else Part.ILIAC_WING_RIGHT
        # Roots clear of the channel: the exiting one above its plane, the traversing one below.
        exiting = (lateral - 22.0) ** 2 + (y + 6.0) ** 2 + (z - 14.0) ** 2 <= 9.0
        parts[exiting] = Part.L5_ROOT_LEFT if side is Side.LEFT else Part.L5_ROOT_RIGHT
        traversing = (lateral - 8.0) ** 2 + (y - 4.0) ** 2 + (z + 16.0) ** 2 <= 9.0
        parts[traversing] = Part.S1_ROOT_LEFT if side is Side.LEFT else Part.S1_ROOT_RIGHT
        # L5's facet and transverse process, well above the channel's plane.
        facet = (lateral - 18.0) ** 2 + (y - 14.0) ** 2 + (z - 24.0) ** 2 <= 16.0
        parts[facet] = Part.L5_IAP_LEFT if side is Side.LEFT else Part.L5_IAP_RIGHT
        process = (lateral - 26.0) ** 2 + (y - 4.0) ** 2 + (z - 24.0) ** 2 <= 9.0
        parts[process] = (
            Part.L5_TRANSVERSE_PROCESS_LEFT
            if side is Side.LEFT
            else Part.L5_TRANSVERSE_PROCESS_RIGHT
        )
    parts[x**2 + (y - 6.0) ** 2 + (z + 22.0) ** 2 <= 25.0] = Part.DURAL_SAC
    return LabelMap(parts, grid)


def plan(parts: LabelMap) -> dict[Side, object]:
    return plan_from_parts(parts, LANDMARKS, with_maps=False).sides


def test_with_the_whole_body_in_the_scan_the_low_crest_gives_group_a() -> None:
    sides = plan(anatomy())
    for side in Side:
        assert sides[side].group == "A"
        assert sides[side].alpha_deg == pytest.approx(30.0)
        assert sides[side].reasons == (
            "The iliac crest does not reach the channel's plane: it does not constrain.",
        )


def test_a_slab_that_cuts_the_channels_path_is_not_assessable_never_group_a() -> None:
    sides = plan(anatomy(half_width_mm=40.0))  # the wings cut at 40 mm
    for side in Side:
        found = sides[side]
        assert found.group == "not_assessable"
        (reason,) = found.reasons
        where = re.match(rf"The scan ends (\d+) mm from the midline on the {side.value}: ", reason)
        assert where is not None, reason
        assert 40 <= int(where.group(1)) <= 44  # the slab's edge, 41 mm out
        assert "still inside the body" in reason
        assert "iliac crest" in reason
        # What does not need the crest is kept: Line A (point a to the exiting root).
        assert found.line_a_mm == pytest.approx(np.sqrt(8**2 + 14**2 + 8**2) - 3.0, abs=2.0)
        assert found.channel is None
        assert found.alpha_deg is None


def test_a_slab_without_iliac_bone_says_where_the_scan_ends() -> None:
    sides = plan(anatomy(half_width_mm=30.0))  # the wings start 35 mm out: none in the scan
    for side in Side:
        assert sides[side].group == "not_assessable"
        (reason,) = sides[side].reasons
        assert f"from the midline on the {side.value} and shows no iliac bone" in reason


def test_a_crest_cut_where_the_lateral_channel_leaves_the_scan_is_not_assessable() -> None:
    # 85 mm a side: the placed channel leaves the skin behind (at x = 74 mm) inside the scan, but
    # straight lateral the scan ends inside the body, where it cuts the wing (35-100 mm).
    sides = plan(anatomy(half_width_mm=85.0))
    for side in Side:
        assert sides[side].group == "not_assessable"
        (reason,) = sides[side].reasons
        assert "cuts the iliac bone there" in reason
    # A wing the scan shows whole (35-80 mm) does not rise outside it: the low crest holds.
    sides = plan(anatomy(half_width_mm=85.0, wing_x_mm=(35.0, 80.0)))
    assert [sides[side].group for side in Side] == ["A", "A"]


def test_the_path_inside_the_body_ends_at_the_skin() -> None:
    parts = anatomy(half_width_mm=85.0)
    view = FieldOfView.of_label_map(parts, {Side.LEFT: [Part.ILIAC_WING_LEFT]})
    assert view.ilium_faces[Side.LEFT] == {(2, 1)}  # the wing is cut by the left edge only
    skin = DistanceField.from_labels(parts, [Part.SKIN])
    lateral = Channel((10.0, 0.0, 0.0), (1.0, 0.0, 0.0))
    assert view.body_end_mm(lateral, skin) == 150.0  # never leaves the skin in the scan
    unseen = view.unseen_path(lateral, skin)
    assert unseen is not None
    assert unseen.faces == {(2, 1)}
    assert 76.0 < unseen.along_mm <= 77.0  # the scan's last voxel ends at x = 86 mm
    backwards = Channel((10.0, 0.0, 0.0), (0.0, 1.0, 0.0))
    assert view.body_end_mm(backwards, skin) == pytest.approx(BODY_Y_MM[1] + 1.0, abs=1.5)
    assert view.unseen_path(backwards, skin) is None
    assert view.body_end_mm(backwards, None) == 150.0  # no skin: the whole channel
    assert view.unseen_path(backwards, None) is not None


def test_touched_faces() -> None:
    mask = np.zeros((3, 4, 5), dtype=bool)
    assert touched_faces(mask) == frozenset()
    mask[1, 0, 4] = True
    assert touched_faces(mask) == {(1, 0), (2, 1)}


def slab(labels: LabelMap, half_width_mm: float) -> LabelMap:
    """Return the labels cut to a sagittal slab ``half_width_mm`` either side of x = 0."""
    grid = labels.grid
    assert np.allclose(grid.direction, np.eye(3))  # the demo's labels are axis-aligned
    x = grid.origin_lps_mm[0] + np.arange(grid.shape_zyx[2]) * grid.spacing_xyz_mm[0]
    kept = np.flatnonzero(np.abs(x) <= half_width_mm)
    array = np.ascontiguousarray(labels.array[:, :, kept[0] : kept[-1] + 1])
    origin = (float(x[kept[0]]), *grid.origin_lps_mm[1:])
    return LabelMap(array, Grid(array.shape, grid.spacing_xyz_mm, origin, grid.direction))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("half_width_mm", "says"), [(38.0, "still inside the body"), (21.0, "no iliac bone")]
)
def test_the_demo_cut_to_a_sagittal_slab_is_not_assessable(half_width_mm, says) -> None:
    from lumboplan_app.io import read_label_map

    # The whole demo is open on the left (tests/test_plan_cli.py); a 77 mm slab (as the real
    # VBs_VB2_09) cuts the wings, a 43 mm one leaves none (its ilium starts 24 mm out).
    planned = plan_from_labels(slab(read_label_map(DEMO / "labels.nii.gz"), half_width_mm))
    assert planned.maps == {}
    for side in Side:
        found = planned.sides[side]
        assert found.group == "not_assessable"
        assert f"mm from the midline on the {side.value}" in found.reasons[0]
        assert says in found.reasons[0]
        assert found.line_a_mm is not None  # point a and the exiting root are in the slab
        assert planned.landmarks["points_lps_mm"][side.value]["b"] is not None


def test_point_d_is_found_however_far_the_skin_lies_beyond_its_fields_margin() -> None:
    """The skin's field covers its box and a few mm around it (plan.SKIN_FIELD_MARGIN_MM); a
    channel that starts farther from it than that still starts inside the scan, and finds the
    skin. A scan showing only the posterior skin, 76 mm behind point b, 5 mm margin."""
    grid = Grid((20, 60, 20), (2.0, 2.0, 2.0), (-20.0, -30.0, -20.0))
    y = grid.origin_lps_mm[1] + 2.0 * np.arange(60)
    skin = np.zeros(grid.shape_zyx, dtype=bool)
    skin[:, (y >= 76.0) & (y <= 80.0), :] = True
    field = DistanceField.from_mask(skin, grid, margin_mm=5.0)
    start = np.array([0.0, 0.0, 0.0])
    assert field.grid.origin_lps_mm[1] > 60.0  # the field's own box starts far behind b ...
    assert field.covers(start)  # ... but in the scan
    backwards = Channel(tuple(start), (0.0, 1.0, 0.0))
    point_d = skin_entry(backwards, field)
    assert point_d is not None
    assert point_d[1] == pytest.approx(81.0, abs=1.0)  # the skin's outer face, 81 mm back


def test_a_dragged_channel_whose_path_leaves_the_scan_is_never_clear() -> None:
    # 85 mm a side, the wings whole (Group A): the paper's pose leaves the skin behind inside the
    # scan; dragged straight lateral the path runs out of the scan at x = 86 mm, inside the body.
    planner = ChannelPlanner(
        plan_from_parts(anatomy(85.0, wing_x_mm=(35.0, 80.0)), LANDMARKS, with_maps=False)
    )
    for side in Side:
        paper = planner.assess(side, *planner.paper_pose(side))
        assert paper.clear
        assert paper.unseen_from_mm is None
        lateral = planner.assess(side, 0.0, 0.0)
        assert lateral.blocked_by == ()
        assert not lateral.clear
        assert 76.0 < lateral.unseen_from_mm <= 77.0
        assert lateral.summary().startswith("Cannot be judged: the path leaves the scan 7")
        assert lateral.to_json()["unseen_from_mm"] == pytest.approx(lateral.unseen_from_mm, 0.1)
    # The whole body in the scan: the same lateral pose leaves the skin first, and is clear.
    whole = ChannelPlanner(plan_from_parts(anatomy(), LANDMARKS, with_maps=False))
    assert whole.assess(Side.LEFT, 0.0, 0.0).clear


def test_the_map_frees_no_pose_whose_path_leaves_the_scan() -> None:
    # The same slab as above: a pose the map calls free is one the drag can judge, and the best
    # free pose is one the drag calls clear.
    cut = plan_from_parts(anatomy(85.0, wing_x_mm=(35.0, 80.0)), LANDMARKS)
    planner = ChannelPlanner(cut)
    for side in Side:
        fmap = cut.maps[side]
        assert fmap.leaves_scan is not None
        assert fmap.leaves_scan.any()  # near lateral, the path leaves the scan
        assert not (fmap.free & fmap.leaves_scan).any()
        assert fmap.to_json()["leaves_scan"] == fmap.leaves_scan.tolist()
        rows, columns = np.nonzero(fmap.free)
        picked = np.random.default_rng(0).choice(len(rows), size=min(40, len(rows)), replace=False)
        for row, column in zip(rows[picked], columns[picked], strict=True):
            dragged = planner.assess(side, fmap.alphas_deg[row], fmap.betas_deg[column])
            assert dragged.unseen_from_mm is None
        # The map checks the whole circle of the mantle, the drag points on it: nearly the same.
        agree = [
            planner.assess(side, fmap.alphas_deg[row], fmap.betas_deg[column]).unseen_from_mm
            is not None
            for row, column in zip(*np.nonzero(fmap.leaves_scan), strict=True)
        ]
        assert np.mean(agree) >= 0.95, np.mean(agree)
        best = fmap.best()
        assert best is not None
        assert planner.assess(side, best.alpha_deg, best.beta_deg).clear
    # The whole body's width in the scan: no pose in the disc's plane leaves it (steep tilts
    # still leave it through its top or bottom before the skin).
    whole = plan_from_parts(anatomy(), LANDMARKS)
    flat = list(whole.maps[Side.LEFT].betas_deg).index(0.0)
    assert not any(whole.maps[side].leaves_scan[:, flat].any() for side in Side)


@pytest.mark.parametrize("missing", [Part.L5_IAP_LEFT, Part.L5_TRANSVERSE_PROCESS_LEFT])
def test_a_side_whose_blocking_bone_was_not_segmented_is_not_assessable(missing: Part) -> None:
    # The whole anatomy gives Group A on both sides; without the left facet (or transverse
    # process), as when a model draws L5's body without its arch, nothing could block the
    # channel there: that is no evidence of a free path.
    parts = anatomy()
    array = parts.array.copy()
    array[array == missing] = 0
    sides = plan(LabelMap(array, parts.grid))
    assert sides[Side.RIGHT].group == "A"
    left = sides[Side.LEFT]
    assert left.group == "not_assessable"
    assert left.reasons == (
        f"No {missing.display_name} found in the L5 labels: the channel cannot be checked "
        "against it. Check L5's arch in the labels (Review tab).",
    )
    assert left.line_a_mm is not None  # what does not need the bone is kept
