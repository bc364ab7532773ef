"""Autosave and recovery, and the recent cases, in a private LUMBOPLAN_HOME."""

import json
import os
import time
from pathlib import Path

import numpy as np

from lumboplan_app.recovery import (
    ABANDONED_AFTER_S,
    RECENT_LIMIT,
    RecentCases,
    autosave_key,
    data_folder,
    discard_autosave,
    pending_autosaves,
    remove_abandoned_temporaries,
    write_autosave,
)
from lumboplan_app.session import CaseFile, read_case
from lumboplan_app.volume import Grid, LabelMap


def small_case() -> CaseFile:
    array = np.zeros((6, 7, 8), np.uint8)
    array[2:4, 2:5, 3:6] = 3
    labels = LabelMap(array, Grid((6, 7, 8), (1.0, 1.0, 2.0), (0.0, 0.0, 0.0)))
    return CaseFile(labels=labels, plan={}, scan={"reference": "/scans/case 12", "summary": None})


def test_the_home_folder_is_the_tests_own(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LUMBOPLAN_HOME", str(tmp_path))
    assert data_folder() == tmp_path


def test_an_autosave_is_listed_read_back_and_discarded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LUMBOPLAN_HOME", str(tmp_path))
    assert pending_autosaves() == []
    case = small_case()
    key = autosave_key("/cases/Doe John.lumboplan")
    assert "Doe" not in key
    written = write_autosave(case, key, Path("/cases/Doe John.lumboplan"))
    (listed,) = pending_autosaves()
    assert listed == written
    assert listed.scan_reference == "/scans/case 12"
    assert "Doe John.lumboplan, autosaved" in listed.description
    assert np.array_equal(read_case(listed.path).labels.array, case.labels.array)
    # Written again, the same key keeps one autosave.
    write_autosave(case, key)
    assert len(pending_autosaves()) == 1
    assert "an unsaved case" in pending_autosaves()[0].description
    discard_autosave(key)
    assert pending_autosaves() == []
    discard_autosave(key)  # twice is harmless


def test_an_autosave_without_a_readable_note_is_still_offered(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LUMBOPLAN_HOME", str(tmp_path))
    write_autosave(small_case(), "aaaa", Path("/cases/spine.lumboplan"))
    write_autosave(small_case(), "bbbb")
    write_autosave(small_case(), "cccc")
    (tmp_path / "autosave" / "aaaa.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "autosave" / "bbbb.json").unlink()  # a crash between the case and its note
    day_ago = time.time() - 86_400
    os.utime(tmp_path / "autosave" / "bbbb.lumboplan", (day_ago, day_ago))
    offered = {autosave.key: autosave for autosave in pending_autosaves()}
    assert set(offered) == {"aaaa", "bbbb", "cccc"}
    assert offered["aaaa"].case_path is None  # the note said; without it, no case file
    assert offered["aaaa"].description.startswith("an unsaved case, autosaved ")
    assert [autosave.key for autosave in pending_autosaves()][-1] == "bbbb"  # dated by its file
    assert read_case(offered["bbbb"].path).labels.array.any()  # the work is all there


def test_temporary_files_of_writes_cut_off_are_no_autosaves_and_go_when_old(
    tmp_path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("LUMBOPLAN_HOME", str(tmp_path))
    write_autosave(small_case(), "aaaa")
    # What atomic_output leaves when the process dies before its rename.
    (tmp_path / "autosave" / ".bbbb.lumboplan.x1y2z3.lumboplan").write_bytes(b"half a zip")
    with caplog.at_level("WARNING"):
        assert [autosave.key for autosave in pending_autosaves()] == ["aaaa"]
    assert caplog.records == []
    # Young, it may be another LumboPlan's write in progress: kept. A day old: removed.
    assert remove_abandoned_temporaries() == 0
    note = tmp_path / "autosave" / ".bbbb.json.a1b2c3.json"
    note.write_text("{", encoding="utf-8")
    day_ago = time.time() - ABANDONED_AFTER_S - 60
    os.utime(note, (day_ago, day_ago))
    assert remove_abandoned_temporaries() == 1
    assert not note.exists()
    assert (tmp_path / "autosave" / ".bbbb.lumboplan.x1y2z3.lumboplan").exists()
    assert [autosave.key for autosave in pending_autosaves()] == ["aaaa"]


def test_recent_cases_newest_first_once_capped_and_existing(tmp_path) -> None:
    recent = RecentCases(tmp_path / "settings" / "recent.json")
    assert recent.paths() == []
    files = []
    for number in range(RECENT_LIMIT + 3):
        path = tmp_path / f"case{number}.lumboplan"
        path.write_bytes(b"x")
        files.append(path)
        recent.add(path)
    assert recent.paths() == files[::-1][:RECENT_LIMIT]
    recent.add(files[5])
    assert recent.paths()[0] == files[5]
    assert len(recent.paths()) == RECENT_LIMIT
    files[12].unlink()
    assert files[12] not in recent.paths()
    recent.path.write_text("[broken", encoding="utf-8")
    assert recent.paths() == []
    recent.add(files[0])
    assert recent.paths() == [files[0]]
    recent.path.write_text(json.dumps({"not": "a list"}), encoding="utf-8")
    assert recent.paths() == []
