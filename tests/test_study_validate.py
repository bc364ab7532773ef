"""`lumboplan validate` on three tiny phantoms, one partially labelled case and a broken one."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.cli import main
from lumboplan_app.io import read_label_map, write_image
from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure
from lumboplan_app.segmentation.partial_labels import OTHER_LEVEL
from lumboplan_app.study.summary import PLAN_COLUMNS, SEGMENTATION_COLUMNS
from lumboplan_app.volume import LabelMap
from tests.conftest import TINY


def _write_partial_case(phantom: Path, case: Path) -> None:
    """Copy ``phantom`` to ``case`` partially labelled: L5 and the disc, S1 as another level."""
    case.mkdir()
    shutil.copy(phantom / "image.nii.gz", case / "image.nii.gz")
    full = read_label_map(phantom / "labels.nii.gz")
    truth = np.zeros_like(full.array)
    truth[full.array == Structure.L5] = Structure.L5
    truth[full.array == Structure.DISC] = Structure.DISC
    truth[full.array == Structure.S1] = OTHER_LEVEL
    write_image(LabelMap(truth, full.grid), case / "truth.nii.gz")


@pytest.fixture(scope="module")
def study(phantoms: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Validate the phantoms (AI labels: the truth, one disc cut in half), then rerun.

    Returns the output folder and the comparison files' modification times after the first run.
    """
    root = tmp_path_factory.mktemp("study")
    data, predictions, out = root / "data", root / "predictions", root / "out"
    shutil.copytree(phantoms, data)
    predictions.mkdir()
    for case in ("case_21", "case_22", "case_23"):
        labels = read_label_map(data / case / "labels.nii.gz")
        array = labels.array.copy()
        if case == "case_21":
            disc = np.argwhere(array == Structure.DISC)
            half = disc[disc[:, 2] > np.median(disc[:, 2])]
            array[tuple(half.T)] = 0
        write_image(LabelMap(array, labels.grid), predictions / f"{case}.nii.gz")
    _write_partial_case(data / "case_22", data / "case_partial")
    shutil.copy(predictions / "case_22.nii.gz", predictions / "case_partial.nii.gz")
    broken = data / "case_broken"
    broken.mkdir()
    (broken / "image.nii.gz").write_bytes(b"\x1f\x8b truncated")
    shutil.copy(data / "case_23" / "labels.nii.gz", broken / "labels.nii.gz")
    args = ["validate", str(data), "-o", str(out), "--predictions", str(predictions)]
    status = main([*args, "--workers", "2"])
    assert status == 1  # the broken case is reported in the status
    first = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/comparison.json")}
    assert main(args) == 1
    return out, first


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_validate_writes_every_table_with_its_columns(study) -> None:
    out = study[0]
    segmentation = _rows(out / "segmentation.csv")
    assert tuple(segmentation[0]) == SEGMENTATION_COLUMNS
    plans = _rows(out / "plans.csv")
    assert tuple(plans[0]) == PLAN_COLUMNS
    assert sorted({(r["case"], r["side"]) for r in plans}) == [
        (case, side) for case in ("case_21", "case_22", "case_23") for side in ("left", "right")
    ]
    same = [r for r in plans if r["case"] == "case_22"]
    assert all(r["group_gt"] == r["group_ai"] for r in same)  # identical labels, identical plans
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cases"] == 5
    assert summary["cases_compared"] == 4
    assert set(summary["plans"]["measures"]) == {"line_a_mm", "alpha_deg", "line_b_mm"}
    assert summary["plans"]["foramina"] == 6


def test_plans_are_also_held_to_the_exact_plan_of_the_phantoms(study, phantoms: Path) -> None:
    out = study[0]
    plans = _rows(out / "plans.csv")
    for row in plans:
        truth = json.loads((phantoms / row["case"] / "truth.json").read_text())
        assert row["group_exact"] == truth["plan"][row["side"]]["group"]
    exact = json.loads((out / "summary.json").read_text())["plans"]["exact"]
    assert exact["foramina"] == 6
    for key in ("gt_vs_exact", "ai_vs_exact"):
        assert sum(sum(row.values()) for row in exact[key]["table"].values()) == 6
    false_a = {(f["case"], f["side"]) for f in exact["false_group_a"]}
    assert false_a == {
        (r["case"], r["side"]) for r in plans if r["group_ai"] == "A" and r["group_exact"] != "A"
    }


def test_exact_summary_tells_reference_errors_from_ai_errors() -> None:
    from lumboplan_app.study.summary import exact_summary

    rows = [  # GT agrees with the AI, both against the exact plan: a reference error too
        {"case": "c1", "side": "left", "group_gt": "A", "group_ai": "A", "group_exact": "B"},
        {"case": "c1", "side": "right", "group_gt": "B", "group_ai": "B", "group_exact": "B"},
        {"case": "c2", "side": "left", "group_gt": "B", "group_ai": "A", "group_exact": "A"},
        {"case": "c2", "side": "right", "group_gt": "A", "group_ai": "A", "group_exact": None},
    ]
    summary = exact_summary(rows)
    assert summary["foramina"] == 3
    assert summary["gt_vs_exact"]["agreement"] == pytest.approx(1 / 3)
    assert summary["ai_vs_exact"]["agreement"] == pytest.approx(2 / 3)
    assert summary["ai_vs_exact"]["table"]["B"]["A"] == 1
    assert summary["false_group_a"] == [{"case": "c1", "side": "left", "group_exact": "B"}]


def test_only_what_a_partial_case_labels_is_scored(study) -> None:
    out = study[0]
    rows = [r for r in _rows(out / "segmentation.csv") if r["case"] == "case_partial"]
    assert sorted(r["structure"] for r in rows) == ["DISC", "L5"]
    assert all(r["labels"] == "partial" for r in rows)
    disc = next(r for r in rows if r["structure"] == "DISC")
    assert float(disc["dice"]) == pytest.approx(1.0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cases_partial_labels"] == ["case_partial"]
    assert "not compared" in summary["plans_note"]


def test_scores_see_the_cut_disc(study) -> None:
    rows = _rows(study[0] / "segmentation.csv")
    cut = next(r for r in rows if r["case"] == "case_21" and r["structure"] == "DISC")
    assert 0.5 < float(cut["dice"]) < 0.8
    assert float(cut["precision"]) == pytest.approx(1.0)
    whole = next(r for r in rows if r["case"] == "case_23" and r["structure"] == "S1")
    assert float(whole["dice"]) == pytest.approx(1.0)
    assert float(whole["hd95_mm"]) == pytest.approx(0.0)


def test_a_failing_case_is_listed_and_a_rerun_resumes(study) -> None:
    out, first = study
    failures = _rows(out / "failures.csv")
    assert [f["case"] for f in failures] == ["case_broken"]
    assert failures[0]["reason"]
    summary = json.loads((out / "summary.json").read_text())
    assert [f["case"] for f in summary["failures"]] == ["case_broken"]
    assert sorted(first) == ["case_21", "case_22", "case_23", "case_partial"]
    for case, modified in first.items():  # the rerun kept the finished cases
        assert (out / case / "comparison.json").stat().st_mtime_ns == modified


def test_the_report_names_every_structure(study) -> None:
    from pypdf import PdfReader

    reader = PdfReader(study[0] / "report.pdf")
    text = " ".join(page.extract_text() for page in reader.pages)
    for structure in SEGMENTED_STRUCTURES:
        assert structure.paper_name in text
    headings = ("Table 1", "Table 2", "Table 3", "False Group A", "exact plan", "Bland-Altman")
    for heading in headings:
        assert heading in text
    assert "&lt;" not in text  # table cells are text, not markup


def test_a_study_of_partial_labels_only_leaves_out_the_empty_plan_tables(
    phantoms: Path, tmp_path: Path
) -> None:
    from pypdf import PdfReader

    data, predictions, out = tmp_path / "data", tmp_path / "predictions", tmp_path / "out"
    data.mkdir()
    predictions.mkdir()
    _write_partial_case(phantoms / "case_22", data / "case_partial")
    shutil.copy(phantoms / "case_22" / "labels.nii.gz", predictions / "case_partial.nii.gz")
    assert main(["validate", str(data), "-o", str(out), "--predictions", str(predictions)]) == 0
    reader = PdfReader(out / "report.pdf")
    text = " ".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) == 1
    assert "Table 1" in text
    assert "Table 2. Does the model's confidence" in text
    assert "No foramen was measured on both plans" in text
    for absent in ("Table 3", "Groups: GT", "Bland-Altman", "Wilcoxon"):
        assert absent not in text
    assert "Table 2. Measurements" not in (out / "report.html").read_text(encoding="utf-8")


def test_a_study_whose_every_case_failed_says_so(phantoms: Path, tmp_path: Path) -> None:
    data, out = tmp_path / "data", tmp_path / "out"
    broken = data / "case_broken"
    broken.mkdir(parents=True)
    (broken / "image.nii.gz").write_bytes(b"\x1f\x8b truncated")
    shutil.copy(phantoms / "case_23" / "labels.nii.gz", broken / "labels.nii.gz")
    assert main(["validate", str(data), "-o", str(out)]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cases_compared"] == 0
    assert summary["plans_note"] == "No case compared, so no plan either."


def test_the_html_report_holds_the_same_tables_and_its_plots(study) -> None:
    from html.parser import HTMLParser

    page = (study[0] / "report.html").read_text(encoding="utf-8")

    class Collector(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tables, self.images, self.text = 0, [], []

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.tables += tag == "table"
            if tag == "img":
                self.images.append(dict(attrs)["src"])

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    collector = Collector()
    collector.feed(page)
    text = " ".join(collector.text)
    assert collector.tables == 4
    assert len(collector.images) == 2
    assert all(src.startswith("data:image/png;base64,iVBOR") for src in collector.images)
    for structure in SEGMENTED_STRUCTURES:
        assert structure.paper_name in text
    for heading in ("Table 1", "Table 2", "Table 3", "Table 4", "False Group A", "exact plan"):
        assert heading in text


@pytest.mark.slow  # trains the tiny model (shared with the ONNX tests)
def test_cross_validation_takes_the_fold_that_held_the_case_out(trained: Path) -> None:
    from lumboplan_app.errors import ModelError
    from lumboplan_app.segmentation.model_card import read_card
    from lumboplan_app.study.cases import fold_weights

    folds = read_card(trained / "lumboplan_unet.safetensors").extra["folds"]
    for fold, names in folds.items():
        for name in names:
            weights = fold_weights(trained, name, "phantoms")
            assert weights == trained / f"fold_{fold}" / "model.safetensors"
    with pytest.raises(ModelError, match="held out"):
        fold_weights(trained, "case_never_seen", "phantoms")
    with pytest.raises(ModelError, match="lumboplan train"):
        fold_weights(trained / "fold_0", "case_21", "phantoms")


def test_a_case_named_by_its_folder_in_training_finds_its_own_fold(tmp_path: Path) -> None:
    # Two training folders held a case_1 each (find_cases named them t2/case_1, random/case_1).
    from lumboplan_app.segmentation.model_card import ModelCard, write_model
    from lumboplan_app.segmentation.network import build_network
    from lumboplan_app.study.cases import fold_weights

    card = ModelCard(features=TINY.features, spacing_mm=TINY.spacing_mm, patch_size=TINY.patch_size)
    folds = {"0": ["t2/case_1", "case_2"], "1": ["random/case_1", "case_3"]}
    state = build_network(card).state_dict()
    final = tmp_path / "lumboplan_unet.safetensors"
    write_model(state, replace(card, extra={"folds": folds}), final)
    assert fold_weights(tmp_path, "case_1", "t2") == tmp_path / "fold_0" / "model.safetensors"
    assert fold_weights(tmp_path, "case_1", "random") == tmp_path / "fold_1" / "model.safetensors"
    assert fold_weights(tmp_path, "case_3", "random") == tmp_path / "fold_1" / "model.safetensors"
