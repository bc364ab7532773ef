"""A refused segmentation kept as an unverified draft: what failed, confirmations, the plan."""

import numpy as np
import pytest

from lumboplan_app.case_session import CaseSession
from lumboplan_app.draft import PLAN_RESTS_ON, Draft, restrict_plan
from lumboplan_app.errors import ImplausibleSegmentationError, ModelError
from lumboplan_app.labels import Side, Structure
from lumboplan_app.planning.placement import SidePlan
from lumboplan_app.planning.plan import CasePlan
from lumboplan_app.segmentation.inference import check_plausible
from lumboplan_app.viewing import ViewState
from lumboplan_app.volume import Grid, LabelMap, Volume


def small_case() -> tuple[Volume, LabelMap]:
    grid = Grid((10, 12, 14), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    labels = np.zeros(grid.shape_zyx, np.uint8)
    labels[2:4] = Structure.S1
    labels[4:6] = Structure.DISC
    labels[6:9] = Structure.L5
    return Volume(np.zeros(grid.shape_zyx, np.float32), grid), LabelMap(labels, grid)


def group_a_plan() -> CasePlan:
    side = SidePlan("A", ("clear",), alpha_deg=40.0, beta_deg=0.0, line_a_mm=13.5)
    return CasePlan({Side.LEFT: side, Side.RIGHT: side})


def test_the_refusal_names_the_structures_that_failed() -> None:
    _, labels = small_case()
    with pytest.raises(ImplausibleSegmentationError) as caught:
        check_plausible(labels)  # a few voxels each: far too small to be anatomy
    assert isinstance(caught.value, ModelError)  # old except clauses still catch it
    assert set(caught.value.failed) == {Structure.L5, Structure.DISC, Structure.S1}
    assert caught.value.labels is None
    assert caught.value.reason.startswith("No plausible L5 vertebra")


def test_a_draft_is_recorded_by_structure_name_and_read_back() -> None:
    draft = Draft("No plausible L5 found", (Structure.L5,), {Structure.DISC}, {Structure.L5})
    data = draft.to_json()
    assert data == {
        "reason": "No plausible L5 found",
        "failed": ["l5"],
        "confirmed": ["disc"],
        "corrected": ["l5"],
    }
    assert Draft.from_json(data) == draft
    with pytest.raises(ValueError, match="unknown structure"):
        Draft.from_json({"reason": "", "failed": ["l6"]})


def test_a_plan_on_unconfirmed_structures_assesses_no_side() -> None:
    plan = group_a_plan()
    draft = Draft("refused", (Structure.L5,), set(PLAN_RESTS_ON) - {Structure.SKIN})
    restricted = restrict_plan(plan, draft)
    for side in Side:
        assert restricted.sides[side].group == "not_assessable"
        assert "Skin" in restricted.sides[side].reasons[0]
        assert restricted.sides[side].line_a_mm == 13.5  # what a not-assessable side keeps
        assert restricted.sides[side].alpha_deg is None
    draft.confirmed.add(Structure.SKIN)
    assert restrict_plan(plan, draft) is plan


def test_the_session_records_corrections_and_confirmations_of_a_draft() -> None:
    volume, labels = small_case()
    session = CaseSession()
    session.show_volume(ViewState(volume))
    changes = []
    session.subscribe(changes.append)
    session.set_labels(labels)
    session.mark_draft(Draft("refused", (Structure.DISC,)))
    session.set_plan(group_a_plan())
    assert session.plan.sides[Side.LEFT].group == "not_assessable"
    assert session.editor.assign([0], Structure.DISC) is not None
    session.labels_edited()
    assert session.draft.corrected == {Structure.DISC}
    assert session.plan is None  # the edit dropped it
    session.set_plan(group_a_plan())
    session.confirm(Structure.L5)
    assert session.plan is None
    assert session.plan_stale
    assert changes[-2:] == ["plan", "draft"]
    record = session.case_file().draft
    assert record["confirmed"] == ["l5"]
    assert record["corrected"] == ["disc"]
    session.set_labels(LabelMap(labels.array.copy(), labels.grid))
    assert session.draft is None


def test_the_report_case_carries_the_draft_and_the_report_lists_it() -> None:
    from lumboplan_app.report.pdf import _case_rows

    volume, labels = small_case()
    session = CaseSession()
    session.show_volume(ViewState(volume))
    session.set_labels(labels)
    assert session.report_case() is None  # no plan
    session.mark_draft(Draft("No plausible L5/S1 disc found", (Structure.DISC,)))
    session.confirm(Structure.L5)
    session.set_plan(group_a_plan())
    case = session.report_case()
    assert case.draft["confirmed"] == ["l5"]
    assert case.plan["sides"]["left"]["group"] == "not_assessable"
    rows = dict(_case_rows(case, deidentify=True))
    assert rows["Labels"].endswith("No plausible L5/S1 disc found")
    assert rows["Confirmed by hand"] == "L5 vertebra"
    assert rows["Corrected by hand"] == "none"
