"""Correcting the labels by hand: the brush in the slice views, one undoable step per stroke.

:class:`BrushController` gives the slice views the edit panel's brush, paints and erases through
the session's :class:`~lumboplan_app.editing.LabelEditor` (within the panel's intensity range
when one is set), and undoes and redoes strokes. The "Seed" tool's strokes go to its
:class:`~lumboplan_app.gui.controllers.correction.CorrectionController` (:attr:`correction`),
which applies the other tools; its
:class:`~lumboplan_app.gui.controllers.draft.DraftController` (:attr:`drafts`) offers a refused
segmentation as an unverified draft. After each finished stroke, tool, undo or redo it tells the
session (:meth:`CaseSession.labels_edited`, which drops a plan of the old labels and tells the
session's observers: the surfaces and the structures panel follow).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from lumboplan_app.editing import IntensityRange
from lumboplan_app.gui.controllers.correction import CorrectionController
from lumboplan_app.gui.controllers.draft import DraftController
from lumboplan_app.gui.views.slice_view import SliceView

if TYPE_CHECKING:
    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.gui.panels.edit import EditPanel
    from lumboplan_app.labels import Structure
    from lumboplan_app.viewing import Plane


class BrushController(QObject):
    """Paints the labels shown with the edit panel's brush, through the session's editor.

    Parameters
    ----------
    session : CaseSession
        The case (its editor and view state).
    views : mapping of Plane to SliceView
        The slice views the brush is used in.
    panel : EditPanel
        The tool, structure, radius and overwrite choice; undo and redo.
    is_busy : callable
        Whether the window is busy (no edits then: a plan or a segmentation reads the labels).
    parent : QObject, optional
        The Qt parent (the window).
    """

    def __init__(
        self,
        session: CaseSession,
        views: Mapping[Plane, SliceView],
        panel: EditPanel,
        is_busy: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.views = views
        self.panel = panel
        self._is_busy = is_busy
        #: The correction tools beyond the brush (grow from seeds, fill, islands, smooth).
        self.correction = CorrectionController(session, panel, is_busy, self)
        self.correction.edited.connect(self._edited)
        #: A refused segmentation offered as a draft, and the confirmations of its structures.
        self.drafts = DraftController(session, panel.draft_panel, self)
        panel.tool_changed.connect(self._on_tool_changed)
        panel.radius_spin.valueChanged.connect(self._on_tool_changed)
        panel.undo_requested.connect(self.undo)
        panel.redo_requested.connect(self.redo)
        for view in views.values():
            view.brush_pressed.connect(self._on_brush_pressed)
            view.brush_moved.connect(self._on_brush_moved)
            view.brush_released.connect(self._on_brush_released)

    def _on_tool_changed(self) -> None:
        tool = self.panel.tool
        radius = None if tool == "review" else self.panel.radius_mm
        for view in self.views.values():
            view.set_brush(radius)

    def _on_brush_pressed(self, index_zyx: tuple[float, float, float]) -> None:
        editor = self.session.editor
        if editor is None or self._is_busy():
            return
        if self.panel.tool != "seed":
            editor.begin_stroke()
        self._brush_dab(index_zyx)

    def _on_brush_moved(self, index_zyx: tuple[float, float, float]) -> None:
        self._brush_dab(index_zyx)

    def _brush_dab(self, index_zyx: tuple[float, float, float]) -> None:
        view, editor, state = self.sender(), self.session.editor, self.session.view
        if not isinstance(view, SliceView) or editor is None or state is None:
            return
        if self.panel.tool == "seed":
            self.correction.paint_seeds(index_zyx, view.plane)
            return
        if not editor.in_stroke:
            return
        limits = self.panel.intensity_range
        before = editor.revision
        editor.paint(
            self.panel.structure,
            index_zyx,
            view.plane,
            self.panel.radius_mm,
            erase=self.panel.tool == "erase",
            overwrite=self.panel.overwrite,
            intensity=None if limits is None else IntensityRange(state.volume.array, *limits),
        )
        if editor.revision != before:
            state.set_labels(state.labels)  # the views redraw the overlay

    def _on_brush_released(self) -> None:
        editor = self.session.editor
        if self.panel.tool == "seed":
            self.correction.stroke_finished()
        elif editor is not None and editor.end_stroke() is not None:
            self._edited()

    def undo(self) -> bool:
        """Undo the last label stroke; False if there is none."""
        editor = self.session.editor
        if editor is None or self._is_busy() or editor.in_stroke or editor.undo() is None:
            return False
        self._edited()
        return True

    def redo(self) -> bool:
        """Redo the last undone label stroke; False if there is none."""
        editor = self.session.editor
        if editor is None or self._is_busy() or editor.in_stroke or editor.redo() is None:
            return False
        self._edited()
        return True

    def paint(
        self,
        structure: Structure,
        centre_index_zyx: tuple[float, float, float],
        plane: Plane,
        radius_mm: float,
        erase: bool = False,
        overwrite: bool = True,
    ) -> bool:
        """Paint (or erase) one brush dab as one undoable step; the headless brush of tests.

        ``overwrite`` False paints unlabelled voxels only.
        """
        editor = self.session.editor
        if editor is None or self._is_busy() or editor.in_stroke:
            return False
        if editor.paint(structure, centre_index_zyx, plane, radius_mm, erase, overwrite) is None:
            return False
        self._edited()
        return True

    def _edited(self) -> None:
        if self.session.view is None:
            return
        self.session.labels_edited()  # drops the plan, if any: it is of the old labels
