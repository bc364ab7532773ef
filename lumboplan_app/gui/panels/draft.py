"""The unverified draft: why the segmentation was refused, and a confirmation per structure.

Shown at the top of the edit panel while the labels are a draft
(:class:`~lumboplan_app.draft.Draft`); hidden otherwise. Structures that failed the
plausibility check are marked. The check boxes say what the surgeon confirmed; the
:class:`~lumboplan_app.gui.controllers.draft.DraftController` writes them to the session.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QGroupBox, QLabel, QScrollArea, QVBoxLayout, QWidget

from lumboplan_app.draft import PLAN_RESTS_ON
from lumboplan_app.labels import Structure

if TYPE_CHECKING:
    from lumboplan_app.draft import Draft


class DraftPanel(QGroupBox):
    """The draft's reason and one "confirmed" check box per structure the plan rests on.

    Signals
    -------
    confirmation_changed(object, bool)
        The surgeon checked or unchecked a structure (a :class:`Structure`).
    """

    confirmation_changed = Signal(object, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Unverified draft", parent)
        self.setObjectName("draftPanel")
        layout = QVBoxLayout(self)
        self.reason_label = QLabel("", self)
        self.reason_label.setObjectName("draftReason")
        self.reason_label.setWordWrap(True)
        layout.addWidget(self.reason_label)
        hint = QLabel(
            "The plan assesses no foramen until each structure below is confirmed: correct "
            "it where needed, then check it.",
            self,
        )
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.checks: dict[Structure, QCheckBox] = {}
        for structure in PLAN_RESTS_ON:
            check = QCheckBox(structure.display_name, self)
            check.setObjectName(f"confirm{structure.name.title()}Check")
            check.toggled.connect(
                lambda on, s=structure: self.confirmation_changed.emit(s, bool(on))
            )
            layout.addWidget(check)
            self.checks[structure] = check
        self.setVisible(False)

    def show_draft(self, draft: Draft | None) -> None:
        """Show ``draft`` (its reason, what failed, what is confirmed); None hides the panel.

        A draft newly shown is scrolled into view: it sits below the structures in its tab.
        """
        newly_shown = draft is not None and self.isHidden()
        self.setVisible(draft is not None)
        if draft is None:
            return
        if newly_shown:
            QTimer.singleShot(0, self._scroll_into_view)  # once the layout has placed it
        self.reason_label.setText(f"Refused: {draft.reason}")
        for structure, check in self.checks.items():
            failed = structure in draft.failed
            corrected = structure in draft.corrected
            check.setText(
                structure.display_name
                + (" (failed the check)" if failed else "")
                + (" (corrected)" if corrected else "")
            )
            check.setStyleSheet("color: #c0392b;" if failed else "")
            check.blockSignals(True)
            check.setChecked(structure in draft.confirmed)
            check.blockSignals(False)

    def _scroll_into_view(self) -> None:
        """Scroll the scroll area holding the panel, if any, so that the panel shows."""
        holder = self.parentWidget()
        while holder is not None and not isinstance(holder, QScrollArea):
            holder = holder.parentWidget()
        if holder is not None and self.isVisible():
            holder.ensureWidgetVisible(self, 0, 8)
