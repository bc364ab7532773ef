"""The window's layout: the empty state, the grid of views, the case's panels docked at the right.

:class:`EmptyState` is what the window shows before a scan is open; :class:`ViewGrid` holds the
three slice views and the 3-D pane in a 2 x 2 grid, any of which may be given the whole grid;
:class:`SideTabs` puts the workflow's panels in tabs docked at the right, so the grid keeps its
shape. They hold widgets only: the window connects them to its actions and controllers.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDockWidget,
    QGridLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from lumboplan_app.gui.views.slice_view import SliceView
from lumboplan_app.gui.views.view3d import View3D
from lumboplan_app.viewing import PLANES, Plane

EMPTY_STATE_TEXT = "Open a DICOM folder or image file: File > Open…"
#: Grid cell of each slice view; the fourth cell (1, 1) holds the 3-D pane.
VIEW_CELLS: dict[Plane, tuple[int, int]] = {
    "sagittal": (0, 0),
    "axial": (0, 1),
    "coronal": (1, 0),
}


class EmptyState(QWidget):
    """What to do first: open a DICOM folder or an image file (buttons that trigger the actions).

    Attributes
    ----------
    label : QLabel
        The invitation, :data:`EMPTY_STATE_TEXT`.
    """

    def __init__(self, open_folder: QAction, open_file: QAction, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.label = QLabel(EMPTY_STATE_TEXT, self)
        self.label.setObjectName("emptyStateText")
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel(
            "Ctrl+O: a DICOM folder (CD or PACS export)   ·   "
            "Ctrl+Shift+O: a NIfTI, NRRD or MetaImage file   ·   or drop it here",
            self,
        )
        hint.setObjectName("emptyStateHint")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        open_folder_button = QPushButton("Open DICOM folder…", self)
        open_folder_button.setObjectName("primaryButton")
        open_folder_button.clicked.connect(open_folder.trigger)
        open_file_button = QPushButton("Open image file…", self)
        open_file_button.clicked.connect(open_file.trigger)
        buttons = QWidget(self)
        buttons_layout = QGridLayout(buttons)
        buttons_layout.addWidget(open_folder_button, 0, 0)
        buttons_layout.addWidget(open_file_button, 0, 1)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(self.label)
        layout.addWidget(hint)
        layout.addWidget(buttons, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(3)


class ViewGrid(QWidget):
    """The three linked slice views and the 3-D pane, two by two; one may take the whole grid.

    Attributes
    ----------
    views : dict of Plane to SliceView
        The three slice views, at :data:`VIEW_CELLS`.
    view3d : View3D
        The 3-D pane, in the fourth cell.
    """

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("viewerGrid")
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(2, 2, 2, 2)
        self._grid.setSpacing(2)
        self.views: dict[Plane, SliceView] = {}
        for plane in PLANES:
            view = SliceView(plane, self)
            view.maximise_requested.connect(self._toggle_maximise_view)
            self.views[plane] = view
            self._grid.addWidget(view, *VIEW_CELLS[plane])
        self.view3d = View3D(self)
        self._grid.addWidget(self.view3d, 1, 1)
        self.view3d.maximise_toggled.connect(self.toggle_maximise_3d)
        for index in (0, 1):
            self._grid.setRowStretch(index, 1)
            self._grid.setColumnStretch(index, 1)
        self._maximised: QWidget | None = None

    def maximised_view(self) -> QWidget | None:
        """Return the view given the whole grid, or None when all four share it."""
        return self._maximised

    def toggle_maximise(self, widget: QWidget) -> None:
        """Give ``widget`` (a slice view or the 3-D pane) the whole grid, or the room back."""
        cells = [*self.views.values(), self.view3d]
        maximise = self._maximised is not widget
        for cell in cells:
            cell.setVisible(not maximise or cell is widget)
        # Empty rows and columns keep their stretch: give the room to the maximised cell's.
        row, column = VIEW_CELLS[widget.plane] if isinstance(widget, SliceView) else (1, 1)
        for index in (0, 1):
            self._grid.setRowStretch(index, 1 if not maximise or index == row else 0)
            self._grid.setColumnStretch(index, 1 if not maximise or index == column else 0)
        self._maximised = widget if maximise else None
        self.view3d.maximise_button.setChecked(self._maximised is self.view3d)

    def toggle_maximise_3d(self) -> None:
        """Give the 3-D pane the whole grid, or the room back."""
        self.toggle_maximise(self.view3d)

    def _toggle_maximise_view(self) -> None:
        view = self.sender()
        if isinstance(view, QWidget):
            self.toggle_maximise(view)


def _scrolling(panels: tuple[QWidget, ...], parent: QWidget) -> QScrollArea:
    """Return a scroll area holding ``panels`` one under the other."""
    holder = QWidget(parent)
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(4, 4, 4, 4)
    for panel in panels:
        layout.addWidget(panel)
    layout.addStretch(1)
    scroll = QScrollArea(parent)
    scroll.setWidgetResizable(True)
    scroll.setWidget(holder)
    return scroll


class SideTabs(QTabWidget):
    """The case's panels in the workflow's order: review the labels, plan the foramina, the scan.

    Created in a dock at the right of ``window``; the review and foramen tabs scroll.

    Attributes
    ----------
    review_tab, foramen_tab : QScrollArea
        The structures and edit panels; the foramen panel.
    """

    def __init__(
        self,
        window: QMainWindow,
        structures: QWidget,
        edit: QWidget,
        foramen: QWidget,
        info: QWidget,
    ) -> None:
        super().__init__(window)
        self.setObjectName("sideTabs")
        self.review_tab = _scrolling((structures, edit), window)
        self.foramen_tab = _scrolling((foramen,), window)
        self.addTab(self.review_tab, "Review")
        self.addTab(self.foramen_tab, "Foramen")
        self.addTab(info, "Scan")
        dock = QDockWidget("Case", window)
        dock.setObjectName("caseDock")
        dock.setFeatures(QDockWidget.DockWidgetFeature.NoDockWidgetFeatures)
        dock.setWidget(self)
        dock.setMinimumWidth(300)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
