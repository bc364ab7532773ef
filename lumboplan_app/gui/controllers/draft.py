"""A refused segmentation offered as an unverified draft, and the surgeon's confirmations.

:class:`DraftController` turns a segmentation refused by the plausibility check
(:class:`~lumboplan_app.errors.ImplausibleSegmentationError` carrying its labels) into labels
shown as a :class:`~lumboplan_app.draft.Draft` instead of an error, and keeps the
:class:`~lumboplan_app.gui.panels.draft.DraftPanel` in step with the session (napari's rule:
the panel writes to the model; the model's changes redraw the panel).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from PySide6.QtCore import QObject

from lumboplan_app.draft import Draft
from lumboplan_app.errors import ImplausibleSegmentationError

if TYPE_CHECKING:
    from lumboplan_app.case_session import CaseSession, SessionChange
    from lumboplan_app.gui.panels.draft import DraftPanel
    from lumboplan_app.labels import Structure
    from lumboplan_app.volume import LabelMap


class DraftController(QObject):
    """Offers refused labels as a draft and records the confirmations in the session.

    Parameters
    ----------
    session : CaseSession
        The case (its draft).
    panel : DraftPanel
        The draft's reason and confirmations.
    parent : QObject, optional
        The Qt parent.
    """

    def __init__(
        self, session: CaseSession, panel: DraftPanel, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.panel = panel
        panel.confirmation_changed.connect(self._on_confirmation_changed)
        session.subscribe(self._on_session_changed)

    def offer(self, error: BaseException, show_labels: Callable[[LabelMap], None]) -> bool:
        """Show the labels of a refused segmentation as a draft; False for any other error."""
        if not isinstance(error, ImplausibleSegmentationError) or error.labels is None:
            return False
        labels = cast("LabelMap", error.labels)  # what the segmenter kept (errors.py says)
        show_labels(labels)
        if self.session.labels is not labels:
            return False
        self.session.mark_draft(Draft(error.reason, error.failed))
        return True

    def _on_confirmation_changed(self, structure: Structure, confirmed: bool) -> None:
        self.session.confirm(structure, confirmed)

    def _on_session_changed(self, change: SessionChange) -> None:
        if change in ("volume", "labels", "edit", "draft"):
            self.panel.show_draft(self.session.draft)
