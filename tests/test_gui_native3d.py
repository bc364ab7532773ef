"""The native 3-D pane (pyvistaqt's QtInteractor) in a real window, under Xvfb's OpenGL.

The rest of the GUI suite runs on Qt's offscreen platform, which has no OpenGL widgets, and so
sees the image pane; so does a window where the CPU draws OpenGL, unless asked. This test runs
a surgeon's session (tests/native_pane_session.py) in a child process on the X display that
`make test` provides, and checks what it reports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

SESSION = Path(__file__).resolve().parent / "native_pane_session.py"


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> dict:
    if not os.environ.get("DISPLAY"):
        pytest.skip("no X display (make test runs the suite under xvfb-run)")
    out = tmp_path_factory.mktemp("native")
    # Mesa's llvmpipe draws here, where the window would choose the image pane: ask for the
    # native one, as a workstation's graphics card gets it.
    environment = dict(os.environ, QT_QPA_PLATFORM="xcb", LUMBOPLAN_3D_PANE="native")
    finished = subprocess.run(
        [sys.executable, str(SESSION), str(out)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads((out / "session.json").read_text())


def test_on_a_real_display_the_pane_is_a_native_opengl_widget(session) -> None:
    assert session["platform"] == "xcb"
    assert session["native"] == "QtInteractor"
    assert session["plotter_is_widget"]
    assert session["planned_frame"]["drawn_share"] > 0.05  # the structures, not a blank pane


def test_the_native_pane_orbits_with_vtk_trackball(session) -> None:
    assert session["orbit_moved_eye_mm"] > 1.0
    assert session["orbit_moved_focus_mm"] < 1e-6  # about the same focal point


def test_the_native_pane_drags_the_channel_by_its_handle(session) -> None:
    assert session["handle_visible"]
    assert session["grabbed"]
    for target, reached in session["drag_poses"]:
        assert abs(reached[0] - target[0]) < 2.0
        assert abs(reached[1] - target[1]) < 2.0
    assert session["drag_clear"] == [True, False]  # the best free pose, then the paper's
    assert "L5_IAP_RIGHT" in session["touched_after_drag"]
    assert session["let_go"]


def test_keys_never_reach_vtk_in_the_native_pane(session) -> None:
    assert session["focus_policy_none"]
    assert not session["wireframe_after_w"]


def test_the_native_pane_maximises_and_closes_cleanly(session) -> None:
    assert session["maximised"]
    assert session["closed"]
