"""Cohorts in worker processes: a worker killed mid-cohort stops it with a typed error."""

import os
import signal
from pathlib import Path

import pytest

from lumboplan_app.errors import LumboPlanError
from lumboplan_app.pipeline import DONE_FILE, run_cases


def killed_or_done(folder: Path, killed: bool) -> dict[str, float]:
    """A case's work (a :data:`pipeline.CaseWork`): its worker killed, as for memory, or done."""
    if killed:
        os.kill(os.getpid(), signal.SIGKILL)
    folder.mkdir(parents=True, exist_ok=True)
    return {"total": 0.0}


@pytest.mark.slow
def test_a_worker_killed_stops_the_cohort_with_a_typed_error_and_keeps_what_finished(
    tmp_path: Path,
) -> None:
    names = ["first", "killed", "last"]
    with pytest.raises(LumboPlanError, match=r"after 1 of 3 case\(s\).*again to go on"):
        run_cases([(name, (name == "killed",)) for name in names], killed_or_done, tmp_path)
    assert (tmp_path / "first" / DONE_FILE).is_file()
    assert not (tmp_path / "killed" / DONE_FILE).exists()
    rerun = run_cases([(name, (False,)) for name in names], killed_or_done, tmp_path)
    assert rerun.skipped == ["first"]
    assert sorted(rerun.ran) == ["killed", "last"]
