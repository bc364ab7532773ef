"""``lumboplan --selftest``: the installation check (issue 20, item 4)."""

import json
import os
import tempfile
from pathlib import Path

import pytest

from lumboplan_app import selftest
from lumboplan_app.cli import main
from lumboplan_app.errors import LumboPlanError


@pytest.fixture
def own_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary folder of the test's own, and a working folder that must stay empty."""
    temp = tmp_path / "tmp"
    work = tmp_path / "work"
    temp.mkdir()
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(work)
    return tmp_path


@pytest.mark.slow
def test_selftest_passes_and_leaves_nothing_behind(
    own_temp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--selftest"])
    output = capsys.readouterr()
    summary = json.loads(output.out)
    assert status == 0, output.err
    assert output.err == ""
    assert summary["schema"] == selftest.SELFTEST_SCHEMA
    assert summary["ok"] is True
    assert [check["name"] for check in summary["checks"]] == [n for n, _ in selftest.CHECKS]
    for check in summary["checks"]:
        assert check["ok"] is True, check
        assert check["seconds"] >= 0
        assert check["message"]
    # The report went into a temporary folder that is gone; nothing else was written here.
    assert list((own_temp / "tmp").iterdir()) == []
    assert list((own_temp / "work").iterdir()) == []
    home = Path(os.environ["LUMBOPLAN_HOME"])
    assert {path.name for path in home.iterdir()} <= {"logs"}


def _raises(error: Exception) -> selftest.CheckFunction:
    def check(state: object) -> str:
        raise error

    return check


def test_a_failing_check_exits_1_with_its_message(
    own_temp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "The shipped model is missing from the installation. Reinstall LumboPlan."
    monkeypatch.setattr(
        selftest,
        "CHECKS",
        (("imports", lambda state: "fine"), ("segment", _raises(LumboPlanError(message)))),
    )
    status = main(["--selftest"])
    output = capsys.readouterr()
    assert status == 1
    assert output.err == f"lumboplan: error: self-test failed at segment: {message}\n"
    summary = json.loads(output.out)
    assert summary["ok"] is False
    assert [(c["name"], c["ok"]) for c in summary["checks"]] == [
        ("imports", True),
        ("segment", False),
    ]
    assert summary["checks"][1]["message"] == message
    assert list((own_temp / "tmp").iterdir()) == []


def test_an_unexpected_error_is_one_line_without_traceback(
    own_temp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        selftest, "CHECKS", (("render_3d", _raises(RuntimeError("no EGL display\nmore"))),)
    )
    status = main(["--selftest"])
    output = capsys.readouterr()
    assert status == 1
    assert output.err.count("\n") == 1
    assert "Traceback" not in output.err + output.out
    assert output.err.startswith("lumboplan: error: self-test failed at render_3d: ")
    assert "RuntimeError: no EGL display" in output.err


def test_later_checks_say_not_run_when_their_input_is_missing(
    own_temp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        selftest,
        "CHECKS",
        (
            ("segment", _raises(LumboPlanError("broken"))),
            ("plan", selftest.check_plan),
            ("report", selftest.check_report),
        ),
    )
    result = selftest.run_selftest()
    assert [check.ok for check in result.checks] == [False, False, False]
    assert result.first_failure() is result.checks[0]
    assert result.checks[1].message.startswith("not run")
    assert result.checks[2].message.startswith("not run")


def test_the_command_still_needs_a_command_or_selftest(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    assert "--selftest" in capsys.readouterr().err
