"""The structures' surfaces in the 3-D pane: built in the background, rebuilt after edits.

:class:`SurfacesController` builds the surfaces of the labels shown with
:func:`~lumboplan_app.gui.workers.mesh_job` in the task runner's ``meshes`` slot. One build
runs at a time; surfaces of labels no longer shown are never shown nor announced; edits come in
strokes, so after an edit the surfaces are rebuilt once the edits pause
(:data:`MESH_REBUILD_DELAY_MS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from lumboplan_app.errors import Cancelled
from lumboplan_app.gui.tasks import log_unexpected
from lumboplan_app.gui.workers import mesh_job

if TYPE_CHECKING:
    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.gui.tasks import TaskRunner
    from lumboplan_app.gui.views.view3d import View3D

#: Milliseconds after the last label edit before the 3-D surfaces are rebuilt.
MESH_REBUILD_DELAY_MS = 600


class SurfacesController(QObject):
    """Keeps the 3-D pane's surfaces those of the labels shown.

    Parameters
    ----------
    session : CaseSession
        The case (its labels, plan and view state).
    tasks : TaskRunner
        Runs the builds (slot ``meshes``).
    view3d : View3D
        The 3-D pane.
    show_channel : callable
        Draws the channels again (the scene is new once its surfaces are shown).
    status : callable
        ``status(message, timeout_ms)`` shows a message in the status bar.
    parent : QObject, optional
        The Qt parent (the window).

    Signals
    -------
    shown(object)
        The 3-D pane shows the surfaces of the labels shown (a dict of Structure to mesh).
    """

    shown = Signal(object)

    def __init__(
        self,
        session: CaseSession,
        tasks: TaskRunner,
        view3d: View3D,
        show_channel: Callable[[], None],
        status: Callable[[str, int], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.tasks = tasks
        self.view3d = view3d
        self._show_channel = show_channel
        self._status = status
        #: The structures' surfaces shown in 3-D (None until built for the labels shown).
        self.meshes: dict | None = None
        self._worker_generation = 0
        self._outdated = False
        #: Counts the label maps shown and their edits: surfaces of older ones are dropped.
        self._labels_generation = 0
        #: Whether the labels shown have had surfaces (the camera is set once per label map).
        self._shown_once = False
        self._stopped = False
        #: Edits come in strokes: the surfaces are rebuilt once the edits pause.
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(MESH_REBUILD_DELAY_MS)
        self.timer.timeout.connect(self.build)

    def new_scan(self) -> None:
        """Forget the surfaces: a new scan is shown (a build of its old labels is cancelled)."""
        self.tasks.cancel("meshes")
        self.meshes = None
        self._shown_once = False
        self._labels_generation += 1
        if self.view3d.view.has_scene:
            self.view3d.view.scene.set_plan_frame(None, None)
            self.view3d.view.scene.set_meshes({})
            self.view3d.view.request_render()

    def new_labels(self) -> None:
        """Build the surfaces of new labels (segmented or opened) now."""
        self._labels_generation += 1
        self.meshes = None
        self._shown_once = False
        self.build()

    def labels_edited(self) -> None:
        """Rebuild the surfaces once the edits pause.

        Surfaces being built are of the labels before this edit: that build is stopped now, not
        when the rebuild timer fires, and its surfaces are never shown.
        """
        self._labels_generation += 1
        self.tasks.cancel("meshes")
        self.timer.start()

    def stop(self) -> None:
        """Build nothing more (the window closes)."""
        self._stopped = True
        self.timer.stop()

    def build(self) -> None:
        """Build the surfaces of the labels shown in the background (the 3-D pane shows them).

        One build runs at a time: asked again while one runs (the labels were replaced), the
        running build is cancelled (it stops before its next structure is meshed or decimated)
        and a new one starts when it has stopped; an edit cancels it at once and rebuilds when
        the edits pause. Surfaces of labels no longer shown are never shown nor announced.
        """
        labels = self.session.labels
        if labels is None or self._stopped:
            return
        if self.tasks.cancel("meshes"):
            self._outdated = True
            return
        self._outdated = False
        self._worker_generation = self._labels_generation
        self.view3d.view.start_opengl_check()  # answered while the surfaces are built
        self.tasks.start("meshes", mesh_job(labels), self._on_built, self._on_failed)

    def _on_built(self, meshes: dict) -> None:
        current = self._worker_generation == self._labels_generation
        if current:
            first = self.meshes is None and not self._shown_once
            self.meshes = meshes
            self._shown_once = True
            plan = self.session.plan
            if plan is not None and self.view3d.view.available:
                self.view3d.view.scene.set_plan_frame(plan.landmarks, plan.parts)
            self.view3d.show_structures(meshes, reset_camera=first)
            self.sync_visibility()
            self._show_channel()
        if self._outdated or (not current and not self.timer.isActive()):
            self.build()  # else the rebuild timer, running after an edit, starts it
        elif current:
            self.shown.emit(meshes)

    def _on_failed(self, error: BaseException) -> None:
        if self._outdated:
            self.build()
            return
        if not isinstance(error, Cancelled):
            log_unexpected(error, "building the 3-D surfaces")
            self._status(
                "The 3-D view could not be built; the slice views and the plan are unaffected.",
                8000,
            )

    def sync_visibility(self) -> None:
        """Show in 3-D the structures shown in the slice views."""
        state = self.session.view
        if state is None or not self.view3d.view.has_scene:
            return
        scene = self.view3d.view.scene
        for structure in scene.structures:
            scene.set_structure_visible(structure, state.is_structure_visible(structure))
        self.view3d.view.request_render()
