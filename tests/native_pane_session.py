"""A surgeon's session with the native 3-D pane, in a real window (run by test_gui_native3d.py).

Run in its own process on a Qt platform with real windows and OpenGL (Xvfb with Mesa here):
``QT_QPA_PLATFORM=xcb python tests/native_pane_session.py OUT_FOLDER``. It opens the demo
scan, its labels and the plan, then orbits, drags the channel's handle to the best and the
paper's pose, double clicks the pane, and writes what it saw to ``OUT_FOLDER/session.json``
and the pane's frames to PNG files there. pytest's own Qt application runs on the offscreen
platform, which has no OpenGL widgets: hence a child process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QEventLoop, QPointF, Qt, QTimer
from PySide6.QtGui import QImage, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

DEMO = Path(__file__).resolve().parents[1] / "resources" / "demo" / "case_00057"
WAIT_MS = 240_000


def wait_for(signal: object) -> None:
    """Run the event loop until ``signal`` fires (or a generous timeout)."""
    loop = QEventLoop()
    signal.connect(loop.quit)  # type: ignore[attr-defined]
    QTimer.singleShot(WAIT_MS, loop.quit)
    loop.exec()


def settle(milliseconds: int = 200) -> None:
    """Let the event loop draw what is pending."""
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()


def mouse(widget: QWidget, kind: QEvent.Type, position: QPointF, held: bool) -> None:
    """Send ``widget`` one left-button mouse event at ``position`` (widget pixels)."""
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    buttons = Qt.MouseButton.LeftButton if held else Qt.MouseButton.NoButton
    event = QMouseEvent(
        kind,
        position,
        widget.mapToGlobal(position),
        button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def frame_summary(image: QImage, path: Path) -> dict[str, float]:
    """Save a frame and say how much of it is not the background."""
    image.save(str(path))
    converted = image.convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(converted.constBits(), np.uint8)
    pixels = pixels.reshape(converted.height(), converted.bytesPerLine())[
        :, : 3 * converted.width()
    ]
    rgb = pixels.reshape(converted.height(), converted.width(), 3).astype(int)
    background = np.median(rgb.reshape(-1, 3), axis=0)
    drawn = np.abs(rgb - background).sum(axis=2) > 30
    green = (rgb[..., 1] > 150) & (rgb[..., 0] < 120) & (rgb[..., 2] < 150)
    return {"drawn_share": float(drawn.mean()), "green_pixels": int(green.sum())}


def main(out: Path) -> None:
    from lumboplan_app.gui.app import create_application
    from lumboplan_app.gui.main_window import MainWindow
    from lumboplan_app.labels import Side
    from lumboplan_app.planning.channel import direction_for_pose

    out.mkdir(parents=True, exist_ok=True)
    app = create_application()
    report: dict[str, object] = {"platform": app.platformName()}
    window = MainWindow()
    window.resize(1400, 900)
    window.show()
    window.open_path(DEMO / "dicom")
    wait_for(window.volume_loaded)
    window.load_labels(DEMO / "labels.nii.gz")
    wait_for(window.meshes_shown)
    window.plan()
    wait_for(window.planned)
    settle()
    view = window.view3d.view
    native = view.native
    report["native"] = type(native).__name__ if native is not None else None
    report["plotter_is_widget"] = native is not None and view.scene.plotter is native
    assert native is not None
    view.render_now()
    settle()
    report["planned_frame"] = frame_summary(native.grabFramebuffer(), out / "planned.png")
    window.grab().save(str(out / "window.png"))

    camera = view.scene.plotter.camera_position
    mouse(native, QEvent.Type.MouseButtonPress, QPointF(30, 30), True)
    for step in range(1, 6):
        mouse(native, QEvent.Type.MouseMove, QPointF(30 + 20 * step, 30 + 4 * step), True)
    mouse(native, QEvent.Type.MouseButtonRelease, QPointF(130, 50), False)
    orbited = view.scene.plotter.camera_position
    report["orbit_moved_eye_mm"] = float(np.linalg.norm(np.subtract(orbited[0], camera[0])))
    report["orbit_moved_focus_mm"] = float(np.linalg.norm(np.subtract(orbited[1], camera[1])))
    view.render_now()
    settle()
    report["orbited_frame"] = frame_summary(native.grabFramebuffer(), out / "orbited.png")

    # The demo's blocked side (Group B): drag its channel.
    window.channel.set_active_side(Side.RIGHT)
    view.render_now()
    settle()
    planner = window.session.planner
    normal = planner.plan.landmarks["planes"]["disc_mid"]["normal"]

    def end_of(alpha: float, beta: float) -> np.ndarray:
        axis = direction_for_pose(alpha, beta, normal, Side.RIGHT)
        return planner.point_b(Side.RIGHT) + planner.plan.channel.length_mm * axis

    poses, clear, frame_ms = [], [], []
    handle = view.handle_position()
    report["handle_visible"] = handle is not None and view.scene.handle_visible
    assert handle is not None
    mouse(native, QEvent.Type.MouseButtonPress, handle, True)
    report["grabbed"] = view.dragging
    for target in (planner.best_pose(Side.RIGHT), planner.paper_pose(Side.RIGHT)):
        for _ in range(8):
            x, y = view.scene.to_display(end_of(*target))
            ratio = native.devicePixelRatioF()
            mouse(native, QEvent.Type.MouseMove, QPointF(x / ratio, y / ratio), True)
            start = time.perf_counter()
            view.render_now()
            QApplication.processEvents()
            frame_ms.append(1000.0 * (time.perf_counter() - start))
        poses.append([list(target), list(window.session.poses[Side.RIGHT])])
        clear.append(bool(window.session.assessments[Side.RIGHT].clear))
    mouse(native, QEvent.Type.MouseButtonRelease, QPointF(0, 0), False)
    report["let_go"] = not view.dragging
    report["drag_poses"] = poses
    report["drag_clear"] = clear
    report["drag_frame_ms_median"] = float(np.median(frame_ms))
    report["touched_after_drag"] = [part.name for part in view.scene.touched]
    settle()
    report["dragged_frame"] = frame_summary(native.grabFramebuffer(), out / "dragged.png")

    key = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_W, Qt.KeyboardModifier.NoModifier, "w")
    QApplication.sendEvent(native, key)  # VTK's "w" would turn the surfaces to wireframe
    report["wireframe_after_w"] = any(
        actor.GetProperty().GetRepresentation() == 1
        for actor in view.scene.plotter.renderer.GetActors()
    )
    report["focus_policy_none"] = native.focusPolicy() == Qt.FocusPolicy.NoFocus

    double = QMouseEvent(
        QEvent.Type.MouseButtonDblClick,
        QPointF(40, 40),
        native.mapToGlobal(QPointF(40, 40)),
        Qt.MouseButton.LeftButton,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(native, double)
    report["maximised"] = window.grid.maximised_view() is window.view3d
    window.grid.toggle_maximise(window.view3d)

    window.ask_unsaved_changes = lambda: QMessageBox.StandardButton.Discard  # the drag moved it
    window.close()
    settle()
    report["closed"] = not window.isVisible() and view.native is None
    (out / "session.json").write_text(json.dumps(report, indent=2))
    app.quit()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
