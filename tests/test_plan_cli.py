"""`lumboplan plan` end to end on the demo case, and the .lumboplan case file."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.cli import main
from lumboplan_app.errors import CorruptFileError, LoadError
from lumboplan_app.io import read_label_map
from lumboplan_app.labels import Side
from lumboplan_app.session import channel_from_json, read_case, write_case

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"


@pytest.fixture(scope="module")
def planned(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("plan")
    case, plan = folder / "demo.lumboplan", folder / "plan.json"
    args = ["plan", str(DEMO / "dicom"), "--labels", str(DEMO / "labels.nii.gz")]
    status = main([*args, "-o", str(case), "--json", str(plan)])
    assert status == 0
    return case, plan


def test_plan_writes_the_case_and_the_json_with_the_truths_groups(planned) -> None:
    _case_path, plan_path = planned
    document = json.loads(plan_path.read_text())
    truth = json.loads((DEMO / "truth.json").read_text())["plan"]
    assert document["schema"] == "lumboplan.plan/1"
    for side in ("left", "right"):
        entry = document["sides"][side]
        # The demo is open on the left and blocked on the right, in its exact geometry and on
        # its 1 x 1 x 1.2 mm labels alike (docs/phantom.md).
        assert entry["group"] == truth[side]["group"]
        assert abs(entry["alpha_deg"] - truth[side]["alpha_deg"]) < 3.0
        assert set(entry) >= {
            "group",
            "reasons",
            "alpha_deg",
            "beta_deg",
            "line_a_mm",
            "line_b_mm",
            "points_lps_mm",
            "contacts",
            "best_free",
        }
        assert set(entry["points_lps_mm"]) == {"a", "b", "c", "d"}
        assert entry["points_lps_mm"]["b"] is not None
    assert [document["sides"][side]["group"] for side in ("left", "right")] == ["A", "B"]
    right = document["sides"]["right"]
    assert "L5 inferior articular process (right)" in right["reasons"][0]
    blocking = [c for c in right["contacts"] if c["part"] == "l5_iap_right"]
    assert blocking
    assert blocking[0]["clearance_mm"] < 0


def test_the_case_file_holds_labels_plan_and_channels(planned) -> None:
    case_path, plan_path = planned
    case = read_case(case_path)
    labels = read_label_map(DEMO / "labels.nii.gz")
    assert np.array_equal(case.labels.array, labels.array)
    assert case.labels.grid.matches(labels.grid)
    assert case.plan == json.loads(plan_path.read_text())
    for side in Side:
        channel = channel_from_json(case.channels[side.value])
        assert channel is not None
        assert channel.diameter_mm == 8.0
        assert np.allclose(
            channel.tip_lps_mm, case.plan["sides"][side.value]["points_lps_mm"]["b"], atol=0.01
        )
    assert case.scan["summary"]["modality"] == "MR"
    assert case.saved
    with zipfile.ZipFile(case_path) as archive:
        assert sorted(archive.namelist()) == [
            "case.json",
            "labels.nii.gz",
            "parts.nii.gz",
            "plan.json",
        ]
        assert json.loads(archive.read("case.json"))["schema"] == "lumboplan.case/1"


def test_a_case_file_round_trips_and_a_damaged_one_is_refused(planned, tmp_path: Path) -> None:
    case = read_case(planned[0])
    case.landmark_edits = {"left_b": [1.0, 2.0, 3.0]}
    copy = tmp_path / "copy.lumboplan"
    write_case(case, copy)
    again = read_case(copy)
    assert again.landmark_edits == case.landmark_edits
    assert again.channels == case.channels
    damaged = tmp_path / "damaged.lumboplan"
    damaged.write_bytes(copy.read_bytes()[:500])
    with pytest.raises(CorruptFileError, match="not a readable LumboPlan case"):
        read_case(damaged)
    newer = tmp_path / "newer.lumboplan"
    with zipfile.ZipFile(copy) as source, zipfile.ZipFile(newer, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "case.json":
                document = json.loads(data)
                document["schema"] = "lumboplan.case/9"
                data = json.dumps(document).encode()
            target.writestr(name, data)
    with pytest.raises(LoadError, match=r"lumboplan\.case/9"):
        read_case(newer)


def test_plan_refuses_a_wrong_ending_and_missing_weights(tmp_path: Path, capsys) -> None:
    args = ["plan", str(DEMO / "dicom")]
    assert (
        main([*args, "--labels", str(DEMO / "labels.nii.gz"), "-o", str(tmp_path / "x.pdf")]) == 1
    )
    assert ".lumboplan" in capsys.readouterr().err
    missing = tmp_path / "none.safetensors"
    assert main([*args, "--weights", str(missing), "-o", str(tmp_path / "x.lumboplan")]) == 1
    assert "none.safetensors" in capsys.readouterr().err
    assert not (tmp_path / "x.lumboplan").exists()


def test_pose_tells_what_a_channel_at_any_pose_meets(capsys) -> None:
    labels = str(DEMO / "labels.nii.gz")
    assert main(["pose", labels, "--side", "right", "--alpha", "29", "--beta", "14", "--json"]) == 0
    free = json.loads(capsys.readouterr().out)
    assert free["clear"] is True
    assert free["blocked_by"] == []
    # The paper's placement on the demo's right foramen runs into the IAP (Group B).
    assert main(["pose", labels, "--side", "right", "--alpha", "48.5"]) == 0
    text = capsys.readouterr().out
    assert "Touches the L5 inferior articular process (right)" in text
    assert "L5 inferior articular process (right): -1.1 mm" in text
