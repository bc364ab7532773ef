"""Corrected cases to training data (issue 22, item 4): ``lumboplan export-training``.

Small sagittal DICOM series (12 slices) whose headers name a patient, with block labels; the
end-to-end test fine-tunes the shipped network for one step on exported phantoms.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lumboplan_app.cli import main
from lumboplan_app.draft import PLAN_RESTS_ON, Draft
from lumboplan_app.io import read_label_map, read_scan
from lumboplan_app.labels import Structure
from lumboplan_app.learning.training_cases import (
    CONFIRMED_DRAFT,
    RECORD_FILE,
    REVIEWED,
    export_training_cases,
)
from lumboplan_app.segmentation.model_card import DEFAULT_WEIGHTS, file_sha256, read_card
from lumboplan_app.segmentation.training import find_cases
from lumboplan_app.session import CaseFile, scan_summary, write_case
from tests.test_exchange import BIRTH_DATE, IDENTIFIERS, NAME, PATIENT_ID, block_labels

MODEL = {"file": "lumboplan_unet.safetensors", "sha256": "ab" * 32, "training_data": "phantoms"}


def confirmed_draft(*unconfirmed: Structure) -> dict:
    """A refused segmentation's record, every structure confirmed but ``unconfirmed``."""
    confirmed = set(PLAN_RESTS_ON) - set(unconfirmed)
    return Draft("No plausible disc", (Structure.DISC,), confirmed, {Structure.DISC}).to_json()


@pytest.fixture
def make_case(make_series, tmp_path: Path):
    """Write a case file of a new DICOM series naming the patient; return its path."""
    count = 0

    def make(draft: dict | None = None, model: dict | None = None, name: str = "") -> Path:
        nonlocal count
        count += 1
        folder = make_series(
            folder=f"Identifiable_Jane_{count}",
            patient_name=NAME,
            patient_id=PATIENT_ID,
            patient_birth_date=BIRTH_DATE,
        )
        volume = read_scan(folder)
        case = CaseFile(
            labels=block_labels(volume.grid),
            plan={},
            scan={"reference": str(folder), "summary": scan_summary(volume)},
            patient=volume.meta.patient,
            model=model,
            draft=draft,
        )
        path = tmp_path / (name or f"Identifiable_Jane_{count}.lumboplan")
        write_case(case, path)
        return path

    return make


def test_confirmed_drafts_export_to_the_layout_train_reads_without_identifiers(
    make_case, tmp_path: Path
) -> None:
    cases = [make_case(confirmed_draft(), MODEL), make_case(confirmed_draft(), MODEL)]
    data = tmp_path / "data"
    result = export_training_cases(cases, data)
    assert result.failed == {}
    assert sorted(result.written) == sorted(path.name for path in cases)
    found = find_cases([data])
    assert len(found) == 2
    assert not any(case.partial for case in found)
    for case in found:
        assert case.name.startswith("site_")
        assert len(case.name) == len("site_") + 8
    for path, folder in result.written.items():
        scan = read_scan(tmp_path / path.replace(".lumboplan", ""))
        image = read_scan(data / folder / "image.nii.gz")
        labels = read_label_map(data / folder / "labels.nii.gz", reference=image.grid)
        assert image.grid.matches(scan.grid)
        np.testing.assert_array_equal(image.array, scan.array)
        np.testing.assert_array_equal(labels.array, block_labels(scan.grid).array)
        record = json.loads((data / folder / RECORD_FILE).read_text())
        assert record["labels_verified"] == CONFIRMED_DRAFT
        assert record["corrected_by_hand"] == ["disc"]
        assert record["segmented_by"] == MODEL
        assert record["structures"] == ["l5", "disc", "s1", "nerves", "ilium", "skin"]
    # No name, ID or birth date anywhere: folder names, records, NIfTI headers.
    for file in data.rglob("*"):
        assert "Identifiable" not in file.name
        if file.is_file():
            content = file.read_bytes()
            if file.name.endswith(".gz"):
                content = gzip.decompress(content)
            assert not any(identifier in content for identifier in IDENTIFIERS), file.name


def test_an_unconfirmed_draft_is_refused_even_with_reviewed(make_case, tmp_path: Path) -> None:
    path = make_case(confirmed_draft(Structure.SKIN, Structure.NERVES))
    data = tmp_path / "data"
    result = export_training_cases([path], data, reviewed=True)
    reason = result.failed[path.name]
    assert "unverified draft" in reason
    assert "(Lumbosacral nerves, Skin not confirmed)" in reason
    assert "Review tab" in reason
    assert not any(data.glob("site_*"))


def test_labels_no_person_confirmed_are_exported_only_with_reviewed(
    make_case, tmp_path: Path
) -> None:
    path = make_case(model=MODEL)  # the model's accepted segmentation: no draft, no record
    data = tmp_path / "data"
    refused = export_training_cases([path], data)
    assert "--reviewed" in refused.failed[path.name]
    assert not any(data.glob("site_*"))
    folder = export_training_cases([path], data, reviewed=True).written[path.name]
    assert json.loads((data / folder / RECORD_FILE).read_text())["labels_verified"] == REVIEWED


def test_a_rerun_skips_unchanged_cases_and_rewrites_corrected_ones(
    make_case, tmp_path: Path
) -> None:
    path = make_case(confirmed_draft())
    data = tmp_path / "data"
    folder = data / export_training_cases([path], data).written[path.name]
    stamps = {file.name: file.stat().st_mtime_ns for file in folder.iterdir()}
    rerun = export_training_cases([path], data)
    assert rerun.unchanged == {path.name: folder.name}
    assert {file.name: file.stat().st_mtime_ns for file in folder.iterdir()} == stamps
    # The surgeon corrects the case further and saves it: the next export rewrites it.
    from lumboplan_app.session import read_case

    case = read_case(path)
    case.labels.array[0, 0, 0] = Structure.SKIN
    write_case(case, path)
    assert export_training_cases([path], data).updated == {path.name: folder.name}
    assert read_label_map(folder / "labels.nii.gz").array[0, 0, 0] == Structure.SKIN


def test_two_case_files_of_one_scan_are_not_both_exported(make_case, tmp_path: Path) -> None:
    first = make_case(confirmed_draft())
    second = tmp_path / "copy.lumboplan"
    shutil.copy(first, second)
    result = export_training_cases([first, second], tmp_path / "data")
    assert list(result.written) == [first.name]
    assert "same scan" in result.failed[second.name]


def test_the_command_lists_each_case_and_says_why_one_was_not_exported(
    make_case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = make_case(confirmed_draft())
    draft = make_case(confirmed_draft(Structure.ILIUM))
    moved = make_case(confirmed_draft())
    shutil.rmtree(tmp_path / "Identifiable_Jane_3")
    data = tmp_path / "data"
    assert main(["export-training", str(good), str(draft), str(moved), "-o", str(data)]) == 1
    out, err = capsys.readouterr()
    assert f"{good.name} -> site_" in out
    assert "1 case(s) written, 0 updated, 0 unchanged, 2 not exported" in out
    assert "lumboplan train" in out
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith("Not exported: ") for line in lines)
    assert "(Iliac bone not confirmed)" in err
    assert "show it where the scan is now" in err
    assert "Traceback" not in err
    assert PATIENT_ID not in out + err
    # Everything exported already: exit 0; a file as DATA_DIR and a missing case: one line.
    assert main(["export-training", str(good), "-o", str(data)]) == 0
    assert "(unchanged)" in capsys.readouterr().out
    assert main(["export-training", str(good), "-o", str(good)]) == 1
    assert "give a folder" in capsys.readouterr().err
    assert main(["export-training", str(tmp_path / "none.lumboplan"), "-o", str(data)]) == 1
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_exported_phantoms_fine_tune_the_shipped_network(phantoms: Path, tmp_path: Path) -> None:
    """export-training, then ``lumboplan train --init-weights`` on the result (one step)."""
    cases = []
    for folder in sorted(phantoms.iterdir())[:2]:
        volume = read_scan(folder / "image.nii.gz")
        path = tmp_path / f"{folder.name}.lumboplan"
        write_case(
            CaseFile(
                labels=read_label_map(folder / "labels.nii.gz", reference=volume.grid),
                plan={},
                scan={"reference": str(folder / "image.nii.gz"), "summary": scan_summary(volume)},
                draft=confirmed_draft(),
            ),
            path,
        )
        cases.append(str(path))
    data, model = tmp_path / "data", tmp_path / "model"
    assert main(["export-training", *cases, "-o", str(data)]) == 0
    shipped = file_sha256(DEFAULT_WEIGHTS)
    arguments = ["train", str(data), "-o", str(model), "--folds", "2", "--fold", "0"]
    arguments += ["--steps", "1", "--batch-size", "1", "--patch", "32", "--device", "cpu"]
    assert main([*arguments, "--init-weights", str(DEFAULT_WEIGHTS)]) == 0
    card = read_card(model / "lumboplan_unet.safetensors")
    assert card.features == read_card(DEFAULT_WEIGHTS).features
    assert card.extra["fine_tuned_from"]["sha256"] == shipped
    assert card.extra["trained"]
    assert file_sha256(DEFAULT_WEIGHTS) == shipped  # the shipped model is untouched


def test_training_refuses_to_write_over_the_shipped_model(tmp_path: Path) -> None:
    from lumboplan_app.errors import LoadError
    from lumboplan_app.segmentation.training import train
    from tests.conftest import TINY

    with pytest.raises(LoadError, match="shipped model"):
        train([tmp_path], DEFAULT_WEIGHTS.parent, TINY)
