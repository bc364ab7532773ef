"""The one channel assessment shared by the placement, the drag and the map: analytic cases."""

import numpy as np
import pytest

from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.advice import GROUP_NAME, group_advice, group_headline
from lumboplan_app.planning.assessment import (
    REPORT_WITHIN_MM,
    assess_channel,
    channel_clearances,
    checked_parts,
    sided,
    touch_limits_mm,
)
from lumboplan_app.planning.channel import Channel
from lumboplan_app.planning.feasibility import FeasibilityMap
from lumboplan_app.planning.placement import paper_placement

MARGIN_MM = 0.5
#: A channel along +x at z = 0 (radius 4 mm): its lowest surface line lies at z = -4.
CHANNEL = Channel((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), 8.0, 60.0)


class Below:
    """Exact signed distance (mm) to the half-space below ``top_z_mm`` (negative inside)."""

    present = True

    def __init__(self, top_z_mm: float) -> None:
        self.top_z_mm = top_z_mm

    def sample(self, points_lps_mm):
        return np.asarray(points_lps_mm, dtype=np.float64)[..., 2] - self.top_z_mm

    def covers(self, points_lps_mm):
        return np.ones(np.asarray(points_lps_mm).shape[:-1], dtype=bool)


def below_channel(clearance_mm: float) -> Below:
    """A half-space whose top lies ``clearance_mm`` under the channel's lowest surface line."""
    return Below(-4.0 - clearance_mm)


class Absent(Below):
    present = False


def test_the_clearance_is_the_surface_distance_with_its_closest_point() -> None:
    found = channel_clearances(CHANNEL, {Part.DURAL_SAC: below_channel(1.25)}, [Part.DURAL_SAC])
    contact = found[Part.DURAL_SAC]
    assert contact.clearance_mm == pytest.approx(1.25, abs=1e-9)
    assert contact.closest_point_lps_mm[2] == pytest.approx(-4.0, abs=1e-9)


def test_a_blocking_part_within_the_margin_is_touched_the_ilium_only_when_entered() -> None:
    # The same 0.3 mm clearance: closer than the scan resolves for the IAP (Group B), clear of
    # the crest, as the paper's sweep leaves the channel tangent to it.
    sources = {
        Part.L5_IAP_LEFT: below_channel(0.3),
        Part.ILIAC_CREST_LEFT: below_channel(0.3),
        Part.S1_ALA_LEFT: below_channel(-0.2),
    }
    found = assess_channel(CHANNEL, Side.LEFT, sources, MARGIN_MM)
    assert {c.part for c in found.touching} == {Part.L5_IAP_LEFT, Part.S1_ALA_LEFT}
    assert [c.part for c in found.blocking] == [Part.L5_IAP_LEFT]
    assert {c.part for c in found.contacts} == set(sources)
    entered = assess_channel(
        CHANNEL, Side.LEFT, {Part.ILIAC_CREST_LEFT: below_channel(-0.1)}, MARGIN_MM
    )
    assert [c.part for c in entered.touching] == [Part.ILIAC_CREST_LEFT]
    assert entered.blocking == ()


def test_contacts_are_the_checked_parts_within_3_mm_nearest_first() -> None:
    clearances = {
        Part.DURAL_SAC: 2.0,
        Part.L5_ROOT_LEFT: -1.0,
        Part.S1_SAP_LEFT: 0.7,
        Part.L5_LAMINA: REPORT_WITHIN_MM + 2.0,
        Part.L5_IAP_RIGHT: -3.0,  # the other side's part is not checked on the left
    }
    sources = {part: below_channel(value) for part, value in clearances.items()}
    sources[Part.S1_ROOT_LEFT] = Absent(0.0)  # absent: neither touched nor cleared
    found = assess_channel(CHANNEL, Side.LEFT, sources, MARGIN_MM)
    assert [c.part for c in found.contacts] == [
        Part.L5_ROOT_LEFT,
        Part.S1_SAP_LEFT,
        Part.DURAL_SAC,
    ]
    assert [c.clearance_mm for c in found.contacts] == pytest.approx([-1.0, 0.7, 2.0])
    # The S1 SAP is reported, not mapped: foraminoplasty removes it.
    assert [c.part for c in found.touching] == [Part.L5_ROOT_LEFT]


@pytest.mark.parametrize("side", list(Side))
def test_the_map_frees_poses_by_the_same_limits(side: Side) -> None:
    limits = touch_limits_mm(side, MARGIN_MM)
    assert set(limits) <= set(checked_parts(side))
    crest = sided(side, Part.ILIAC_CREST_LEFT, Part.ILIAC_CREST_RIGHT)
    iap = sided(side, Part.L5_IAP_LEFT, Part.L5_IAP_RIGHT)
    assert (limits[crest], limits[iap]) == (0.0, MARGIN_MM)
    # Pose 0: 0.3 mm from both the crest and (far) the IAP; pose 1: 0.3 mm from the IAP.
    fmap = FeasibilityMap(
        side,
        np.array([0.0, 1.0]),
        np.array([0.0]),
        {crest: np.array([[0.3], [6.0]]), iap: np.array([[6.0], [0.3]])},
        np.ones((2, 1), dtype=bool),
        MARGIN_MM,
    )
    assert fmap.free.tolist() == [[True], [False]]
    best = fmap.best()
    assert best is not None
    assert (best.alpha_deg, best.min_clearance_mm) == (0.0, pytest.approx(0.3))
    assert fmap.to_json()["free"] == [[True], [False]]
    for pose, clearance in enumerate((0.3, 6.0)):
        sources = {crest: below_channel(clearance), iap: below_channel(6.3 - clearance)}
        assessed = assess_channel(CHANNEL, side, sources, MARGIN_MM)
        assert (not assessed.touching) == bool(fmap.free[pose, 0])


def test_the_group_advice_is_worded_once() -> None:
    assert group_headline("B") == (
        "Group B: interlaminar approach (IL-PELD) or open microdiscectomy advised"
    )
    assert group_headline("A").startswith(GROUP_NAME["A"])
    assert group_advice("A") == "Transforaminal approach (TF-PELD) advised"
    assert group_headline("not_assessable") == "Not assessable: no recommendation"


class Ball(Below):
    """Exact signed distance (mm) to a ball."""

    def __init__(self, centre, radius_mm: float) -> None:
        self.centre, self.radius_mm = np.asarray(centre, dtype=np.float64), radius_mm

    def sample(self, points_lps_mm):
        points = np.asarray(points_lps_mm, dtype=np.float64)
        return np.linalg.norm(points - self.centre, axis=-1) - self.radius_mm


@pytest.mark.parametrize("crest_alpha_deg", [None, 60.0])
def test_a_crest_met_only_beyond_the_placement_still_constrains(crest_alpha_deg) -> None:
    """The sweep stops at the first clear angle, yet looks further to tell a crest that meets
    the plane (posterior to the placement) from one that never does."""
    far = Below(-100.0)
    sources = dict.fromkeys(
        (Part.L5_ROOT_LEFT, Part.S1_ROOT_LEFT, Part.L5_IAP_LEFT, Part.L5_TRANSVERSE_PROCESS_LEFT),
        far,
    )
    if crest_alpha_deg is None:
        sources[Part.ILIAC_CREST_LEFT] = Ball([0.0, 0.0, 200.0], 5.0)  # never in the plane
    else:
        sources[Part.ILIAC_CREST_LEFT] = Ball(80.0 * direction(crest_alpha_deg), 10.0)
    placed = paper_placement(
        Side.LEFT, [0.0, 0.0, 0.0], [0.0, 0.0, 1.0], sources, None, ([0, 0, 0], [1, 0, 0])
    )
    assert placed.group == "A"
    assert placed.alpha_deg == pytest.approx(30.0)  # lateral is clear: the literature's bound
    says = "The iliac crest does not reach the channel's plane: it does not constrain."
    assert (says in placed.reasons) == (crest_alpha_deg is None)


def direction(alpha_deg: float) -> np.ndarray:
    """The left channel's axis at ``alpha_deg`` in the axial plane (LPS)."""
    alpha = np.deg2rad(alpha_deg)
    return np.array([np.cos(alpha), np.sin(alpha), 0.0])
