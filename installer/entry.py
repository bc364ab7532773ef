"""The bundle's one entry point, behind both executables: ``lumboplan`` and ``lumboplan-gui``.

One analysis serves both (half the build time of two): the executable's name picks the command
line or the window. ``freeze_support`` comes first, so the isolated DICOM reader that
multiprocessing starts as this executable does its work and exits.

Before the window opens, the installed app checks once per version (and on every start in a
Windows Remote Desktop session) that OpenGL can draw the 3-D pane, and says plainly when it
cannot instead of crashing there (lumboplan_app/reconstruction/opengl.py); the window then
opens with the 3-D pane showing that message and the slice views working.
"""

import multiprocessing
import os
import sys
from pathlib import Path


def check_opengl() -> None:
    """Warn before the window opens if this machine's OpenGL is too old for the 3-D view."""
    import platformdirs

    from lumboplan_app import __version__
    from lumboplan_app.reconstruction.opengl import (
        OpenGLSupport,
        opengl_support,
        remember_opengl_support,
    )

    state = Path(platformdirs.user_state_dir("LumboPlan", appauthor=False))
    checked = state / f"opengl-ok-{__version__}"
    remote = os.environ.get("SESSIONNAME", "").upper().startswith("RDP-")
    if checked.exists() and not remote:  # it holds the renderer's name (the 3-D pane's choice)
        renderer = checked.read_text(encoding="utf-8", errors="replace")
        remember_opengl_support(OpenGLSupport(True, renderer=renderer))
        return
    support = opengl_support()
    remember_opengl_support(support)  # the window's 3-D pane takes this answer
    if support.supported:
        if not remote:
            state.mkdir(parents=True, exist_ok=True)
            checked.write_text(support.renderer, encoding="utf-8", errors="replace")
        return
    from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: TID251  (the window's own)

    if QApplication.instance() is None:
        QApplication(sys.argv[:1])
    QMessageBox.warning(None, "LumboPlan: no 3-D view on this computer", support.message())


def main() -> int:
    """Run the window if this executable is ``lumboplan-gui``, else the command line."""
    multiprocessing.freeze_support()
    if Path(sys.executable).stem.lower().endswith("-gui"):
        from lumboplan_app.gui.app import main as gui_main

        if "--version" not in sys.argv and "--help" not in sys.argv:
            check_opengl()
        return gui_main()
    from lumboplan_app.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
