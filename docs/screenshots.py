"""Drive the window through the workflow on the demo case and save a screenshot of each step.

Run under a display (a real one, or Xvfb: ``xvfb-run -a -s "-screen 0 1600x1000x24" python
docs/screenshots.py docs/images``); the PNGs are what the README shows. Steps: the scan opened,
the labels over it with the 3-D surfaces, the plan (the paper's placement; the left foramen is
Group A), the right foramen's channel (Group B) moved to its best free trajectory, a label
correction with the brush at the right facet, the left foramen, the 3-D view maximised on the
right foramen.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEventLoop, QTimer

from lumboplan_app.gui.app import create_application
from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.labels import Part, Side, Structure

DEMO = Path(__file__).resolve().parents[1] / "resources/demo/case_00057"


def wait_for(signal, timeout_ms: int = 300_000) -> None:
    """Run the event loop until ``signal`` fires."""
    loop = QEventLoop()
    signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def settle(window: MainWindow, milliseconds: int = 400) -> None:
    """Let the window repaint and the 3-D pane draw its frame."""
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec()
    if window.view3d.view.has_scene:
        window.view3d.view.render_now()
    window.repaint()


def shoot(window: MainWindow, folder: Path, name: str) -> None:
    settle(window)
    path = folder / f"{name}.png"
    window.grab().save(str(path))
    print(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, help="where the PNGs go")
    arguments = parser.parse_args()
    folder: Path = arguments.folder
    folder.mkdir(parents=True, exist_ok=True)
    app = create_application()
    window = MainWindow()
    window.resize(1600, 1000)
    window.show()
    window.open_path(DEMO / "dicom")
    wait_for(window.volume_loaded)
    shoot(window, folder, "1_scan")
    window.load_labels(DEMO / "labels.nii.gz")
    wait_for(window.meshes_shown)
    shoot(window, folder, "2_labels")
    window.plan()
    wait_for(window.planned)
    shoot(window, folder, "3_planned")
    window.channel.set_active_side(Side.RIGHT)
    window.channel.snap_to_best()
    shoot(window, folder, "4_best_free")
    window.channel.reset()
    iap = np.argwhere(window.session.plan.parts.array == Part.L5_IAP_RIGHT)
    window.state.set_cursor(window.state.clamp_index(iap.mean(axis=0)))
    window.side_tabs.setCurrentWidget(window.review_tab)
    window.edit_panel.set_tool("paint")
    window.edit_panel.set_structure(Structure.NERVES)
    shoot(window, folder, "5_correct_labels")
    window.edit_panel.set_tool("review")
    window.side_tabs.setCurrentWidget(window.foramen_tab)
    window.channel.set_active_side(Side.LEFT)
    shoot(window, folder, "6_left_foramen")
    window.channel.set_active_side(Side.RIGHT)
    window.grid.toggle_maximise(window.view3d)
    window.view3d.set_camera("posterolateral")
    shoot(window, folder, "7_3d_maximised")
    window.cases.set_modified(False)
    window.close()
    app.quit()
    sys.exit(0)


if __name__ == "__main__":
    main()
