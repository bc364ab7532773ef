"""The correction tools of the edit panel: seed strokes, grow from seeds, fill, islands, smooth.

:class:`CorrectionController` applies the tools of
:class:`~lumboplan_app.gui.panels.correction.CorrectionTools` through the session: seed strokes
go to :meth:`CaseSession.seed_grower` (they do not change the labels), every other tool writes
through the session's :class:`~lumboplan_app.editing.LabelEditor` as one undoable step. A
tool that cannot do what was asked (:class:`~lumboplan_app.errors.CorrectionError`) says why
under the tools and changes nothing. The brush controller creates it and routes the "Seed"
tool's strokes here; its ``edited`` signal is the brush's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from lumboplan_app import editing
from lumboplan_app.errors import CorrectionError

if TYPE_CHECKING:
    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.editing import Edit, LabelEditor
    from lumboplan_app.gui.panels.edit import EditPanel
    from lumboplan_app.viewing import Plane


class CorrectionController(QObject):
    """Applies the edit panel's correction tools to the session's labels.

    Parameters
    ----------
    session : CaseSession
        The case (its editor, seed grower and view state).
    panel : EditPanel
        The structure, brush radius and the tools' settings (``panel.tools``).
    is_busy : callable
        Whether the window is busy (no edits then).
    parent : QObject, optional
        The Qt parent.

    Signals
    -------
    edited()
        A tool changed the labels (the brush controller tells the session).
    """

    edited = Signal()

    def __init__(
        self,
        session: CaseSession,
        panel: EditPanel,
        is_busy: Callable[[], bool],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.panel = panel
        self._is_busy = is_busy
        tools = panel.tools
        tools.grow_button.clicked.connect(self.grow)
        tools.clear_seeds_button.clicked.connect(self.finish_growing)
        tools.fill_button.clicked.connect(lambda: self.fill_between_slices(tools.fill_plane))
        tools.islands_button.clicked.connect(self.remove_small_islands)
        tools.smooth_button.clicked.connect(self.smooth)

    # -- grow from seeds ----------------------------------------------------------------------

    def paint_seeds(self, index_zyx: tuple[float, float, float], plane: Plane) -> None:
        """Add a seed dab of the panel's seed kind (structure or background) at ``index_zyx``."""
        grower, state = self.session.seed_grower(), self.session.view
        if grower is None or state is None or self._is_busy():
            return
        grower.paint(self.panel.seed_structure, index_zyx, plane, self.panel.radius_mm)
        state.set_strokes(grower.seeds)  # the views draw the strokes over the labels

    def stroke_finished(self) -> None:
        """Show the strokes' kinds; grow when the panel asks for an update after each stroke."""
        grower = self.session.grower
        if grower is None:
            return
        self.panel.tools.show_seeds([s.display_name for s in grower.seeded])
        if self.panel.tools.auto_check.isChecked() and len(grower.seeded) > 1:
            self.grow()

    def grow(self) -> bool:
        """Grow the strokes into the labels (one undoable step with earlier updates).

        False when nothing changed or growing is not possible yet (the status bar says why).
        """
        grower = self.session.grower
        editor = self.session.editor
        if grower is None or editor is None:
            self.panel.tools.show_message("Choose Seed and stroke in the slices first.")
            return False
        changed = self._apply(lambda _editor: grower.update(editor))
        if changed:
            self.panel.tools.show_message(f"Grown in {grower.last_seconds:.2f} s.")
        return changed

    def finish_growing(self) -> None:
        """Keep the labels as grown and forget the strokes."""
        self.session.finish_growing()
        self.panel.tools.show_seeds([])
        self.panel.tools.show_message("")

    # -- one-click tools ------------------------------------------------------------------------

    def fill_between_slices(self, plane: Plane) -> bool:
        """Interpolate the panel's structure between the ``plane`` slices it is drawn on."""
        structure, overwrite = self.panel.structure, self.panel.overwrite
        return self._apply(lambda e: editing.fill_between_slices(e, structure, plane, overwrite))

    def remove_small_islands(self) -> bool:
        """Give every piece of any structure under the panel's volume to its surroundings."""
        volume_mm3 = float(self.panel.tools.island_spin.value())
        return self._apply(lambda e: editing.remove_small_islands(e, min_volume_mm3=volume_mm3))

    def smooth(self) -> bool:
        """Smooth the panel's structure with the panel's method and radius."""
        tools = self.panel.tools
        structure, method = self.panel.structure, tools.smooth_method
        radius = float(tools.smooth_spin.value())
        overwrite = self.panel.overwrite
        return self._apply(
            lambda e: editing.smooth_structure(e, structure, radius, method, overwrite)
        )

    def _apply(self, tool: Callable[[LabelEditor], Edit | None]) -> bool:
        """Run ``tool`` on the editor; True (and ``edited``) when it changed the labels."""
        editor = self.session.editor
        if editor is None or self._is_busy() or editor.in_stroke:
            return False
        before = editor.revision
        try:
            tool(editor)
        except CorrectionError as error:
            self.panel.tools.show_message(str(error))
            return False
        self.panel.tools.show_message("" if editor.revision != before else "Nothing to change.")
        if editor.revision == before:
            return False
        self.edited.emit()
        return True
