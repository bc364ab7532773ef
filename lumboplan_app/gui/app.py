"""Entry point of the window: ``lumboplan-gui [SCAN]``.

Startup is kept short (DESIGN budget: window shown < 3 s): this module imports Qt and the
window; the readers (pydicom, SimpleITK) are imported when a scan is opened, and torch, vtk and
pyvista nowhere on this path. ``--exit-when-shown`` quits as soon as the window has been painted
once, printing nothing, so a benchmark can time the start.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
from importlib import resources
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QMessageLogContext, QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from lumboplan_app import __version__
from lumboplan_app.gui.main_window import MainWindow
from lumboplan_app.gui.tasks import failure_message
from lumboplan_app.gui.views.view3d import install_opengl_format
from lumboplan_app.logs import configure_logging

logger = logging.getLogger(__name__)
_qt_logger = logging.getLogger("lumboplan_app.gui.qt")

#: The style sheet, shipped inside the package (``lumboplan_app/gui/ui/``).
STYLE_SHEET = "lumboplan.qss"


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of ``lumboplan-gui``."""
    parser = argparse.ArgumentParser(
        prog="lumboplan-gui",
        description="LumboPlan's window: review a lumbar MR and plan PELD at L5/S1.",
    )
    parser.add_argument(
        "scan",
        nargs="?",
        type=Path,
        help="a DICOM folder or file, a NIfTI/NRRD/MetaImage file or a .lumboplan case, to open",
    )
    parser.add_argument(
        "--exit-when-shown",
        action="store_true",
        help="quit as soon as the window has been shown and painted (for start-up benchmarks)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="log what happens on stderr too (no patient data); it always goes to the log file",
    )
    parser.add_argument("--version", action="version", version=f"LumboPlan {__version__}")
    return parser


def load_style_sheet() -> str:
    """Return the window's style sheet (empty if the file is missing from an install)."""
    try:
        return (
            resources.files("lumboplan_app.gui")
            .joinpath("ui")
            .joinpath(STYLE_SHEET)
            .read_text(encoding="utf-8")
        )
    except (FileNotFoundError, OSError):
        logger.warning("the style sheet %s is missing; using Qt's default look", STYLE_SHEET)
        return ""


def dark_palette() -> QPalette:
    """Return the palette behind the style sheet (dialogs and native parts follow it)."""
    palette = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#1f2125",
        QPalette.ColorRole.WindowText: "#d8dbe0",
        QPalette.ColorRole.Base: "#17191c",
        QPalette.ColorRole.AlternateBase: "#23262b",
        QPalette.ColorRole.ToolTipBase: "#2b2f35",
        QPalette.ColorRole.ToolTipText: "#e4e6ea",
        QPalette.ColorRole.Text: "#d8dbe0",
        QPalette.ColorRole.Button: "#2a2d33",
        QPalette.ColorRole.ButtonText: "#d8dbe0",
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: "#3b7cc4",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6aa8e8",
        QPalette.ColorRole.PlaceholderText: "#7d838c",
    }
    for role, colour in colours.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7078"))
    return palette


def create_application() -> QApplication:
    """Return the QApplication (created if needed) with LumboPlan's look."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        install_opengl_format()  # before any window: the native 3-D pane's OpenGL surface
        app = QApplication(sys.argv[:1])
    app.setApplicationName("LumboPlan")
    app.setApplicationVersion(__version__)
    app.setOrganizationName("LumboPlan")
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(load_style_sheet())
    return app


def create_window(scan: Path | None = None, offer_recovery: bool = False) -> MainWindow:
    """Create and show the main window; offer work a crash left, and open ``scan`` if given.

    ``scan`` (a scan or a case file) opens unless the surgeon recovers work, or once that
    work could not be recovered.
    """
    window = MainWindow()
    window.show()

    def open_given() -> None:
        from lumboplan_app.session import CASE_SUFFIX

        if scan is None:
            return
        if scan.suffix == CASE_SUFFIX:
            window.cases.open_case(scan)
        else:
            window.open_path(scan)

    def after_recovery(opened: bool) -> None:
        window.cases.recovery_ended.disconnect(after_recovery)
        if not opened:
            open_given()

    def start() -> None:
        if offer_recovery and window.offer_recovery():
            # The recovered work comes first; what was given opens if it could not be recovered.
            window.cases.recovery_ended.connect(after_recovery)
        else:
            open_given()

    QTimer.singleShot(0, start)
    return window


def _route_qt_messages(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Send Qt's own messages to logging (developer detail, shown with ``--verbose``)."""
    if mode in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg):
        _qt_logger.error("%s", message)
    elif mode == QtMsgType.QtDebugMsg:
        _qt_logger.debug("%s", message)
    else:
        _qt_logger.info("%s", message)


#: The dialog's title and what is left when an error escapes a slot of the window.
UNFINISHED = "LumboPlan could not finish what you were doing"
CHECK_THE_CASE = "Check the case shown before you go on."


def install_excepthook(window: MainWindow) -> None:
    """Show an error that escaped a slot the way a failed task's is shown, and log it.

    The same message as the task runner's failure path (:func:`.tasks.failure_message`): a
    LumboPlan error's own message, or the error's type only (no text that may hold a patient's
    name), with its type and code location in the log.
    """

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        window.show_error(
            failure_message(error.with_traceback(trace), UNFINISHED, CHECK_THE_CASE), UNFINISHED
        )

    sys.excepthook = hook


def main(argv: list[str] | None = None) -> int:
    """Run the window; return its exit status."""
    # A frozen installer's executable is also what multiprocessing starts for the isolated
    # reader: there, this call runs the child's work and exits instead of opening a window.
    multiprocessing.freeze_support()
    args = build_parser().parse_args(argv)
    configure_logging(1 if args.verbose else 0)
    qInstallMessageHandler(_route_qt_messages)
    app = create_application()
    window = create_window(
        None if args.exit_when_shown else args.scan, offer_recovery=not args.exit_when_shown
    )
    install_excepthook(window)
    if args.exit_when_shown:
        window.first_painted.connect(lambda: QTimer.singleShot(0, window.close))
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
