"""The structures panel: segment, and show or hide each structure of the label overlay.

One row per structure (its colour, its name, a visibility check box), an opacity slider, and
the "Segment" button. It writes to the window's :class:`~lumboplan_app.viewing.ViewState`
and asks the window to segment; it never runs the model itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure
from lumboplan_app.planning.advice import group_headline
from lumboplan_app.viewing import ViewState

if TYPE_CHECKING:
    from lumboplan_app.draft import Draft
    from lumboplan_app.planning.plan import CasePlan


#: How long the "Not found" line waits after an edit before it looks at the labels again (ms):
#: counting the labels of a large scan takes a few hundred ms, too long for every brush stroke.
MISSING_RECOUNT_DELAY_MS = 400


def _swatch(structure: Structure) -> QIcon:
    pixmap = QPixmap(14, 14)
    pixmap.fill(QColor(*structure.colour_rgb))
    return QIcon(pixmap)


class StructuresPanel(QGroupBox):
    """Segment button, per-structure visibility and the overlay's opacity.

    Signals
    -------
    segment_requested()
        The user asked to segment the scan shown.
    """

    segment_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Structures", parent)
        self.setObjectName("structuresPanel")
        self._state: ViewState | None = None
        self._draft: Draft | None = None
        layout = QVBoxLayout(self)
        self.segment_button = QPushButton("Segment", self)
        self.segment_button.setObjectName("segmentButton")
        self.segment_button.setToolTip(
            "Label L5, the L5/S1 disc, S1, the nerves, the iliac bone and the skin with the "
            "3-D U-Net (Ctrl+G)"
        )
        self.segment_button.setEnabled(False)
        self.segment_button.clicked.connect(self.segment_requested)
        layout.addWidget(self.segment_button)
        self.status_label = QLabel("No labels yet: segment the scan or load labels.", self)
        self.status_label.setObjectName("structuresStatus")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        self.checks: dict[Structure, QCheckBox] = {}
        for structure in SEGMENTED_STRUCTURES:
            check = QCheckBox(structure.display_name, self)
            check.setObjectName(f"show_{structure.name.lower()}")
            check.setIcon(_swatch(structure))
            check.setChecked(True)
            check.setEnabled(False)
            check.toggled.connect(
                lambda shown, s=structure: (
                    self._state and self._state.set_structure_visible(s, shown)
                )
            )
            self.checks[structure] = check
            layout.addWidget(check)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(QLabel("Opacity", self))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, self)
        self.opacity_slider.setObjectName("opacitySlider")
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setEnabled(False)
        self.opacity_slider.valueChanged.connect(
            lambda value: self._state and self._state.set_label_opacity(value / 100.0)
        )
        opacity_row.addWidget(self.opacity_slider)
        layout.addLayout(opacity_row)
        self.plan_label = QLabel("", self)
        self.plan_label.setObjectName("planSummary")
        self.plan_label.setWordWrap(True)
        self.plan_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.plan_label)
        layout.addStretch(1)
        self._recount_timer = QTimer(self)
        self._recount_timer.setSingleShot(True)
        self._recount_timer.setInterval(MISSING_RECOUNT_DELAY_MS)
        self._recount_timer.timeout.connect(self.refresh)

    def show_plan(self, plan: CasePlan | None, stale: bool = False) -> None:
        """Show each foramen's group in one line (None: nothing planned).

        ``stale``: with no plan, say that the labels changed after planning and to plan again.
        The reasons, measurements and map are the foramen panel's.
        """
        if plan is None:
            self.plan_label.setText(
                "The labels or their confirmations changed after planning: plan again "
                "(Ctrl+P) to update the foramina and the report."
                if stale
                else ""
            )
            return
        lines = []
        for side, assessment in plan.sides.items():
            lines.append(f"{side.value.title()} foramen: {group_headline(assessment.group)}")
        self.plan_label.setText("\n".join(lines))

    def set_draft(self, draft: Draft | None) -> None:
        """Say whether the labels are an unverified draft (None: they are not)."""
        self._draft = draft
        self.refresh()

    def set_state(self, state: ViewState | None) -> None:
        """Follow ``state`` (the scan shown); None empties the panel."""
        self._state = state
        self.show_plan(None)
        self.segment_button.setEnabled(state is not None)
        self.refresh()

    def labels_edited(self) -> None:
        """Say again which structures are missing once the edits pause."""
        self._recount_timer.start()

    def refresh(self) -> None:
        """Show the state's labels, visibility and opacity."""
        self._recount_timer.stop()
        state = self._state
        has_labels = state is not None and state.labels is not None
        for structure, check in self.checks.items():
            check.setEnabled(has_labels)
            if state is not None:
                check.blockSignals(True)
                check.setChecked(state.is_structure_visible(structure))
                check.blockSignals(False)
        self.opacity_slider.setEnabled(has_labels)
        if state is not None:
            self.opacity_slider.blockSignals(True)
            self.opacity_slider.setValue(round(state.label_opacity * 100))
            self.opacity_slider.blockSignals(False)
        if state is not None and state.labels is not None:
            present = set(state.labels.present_ids())
            missing = [s.display_name for s in SEGMENTED_STRUCTURES if int(s) not in present]
            found = (
                "All six structures labelled."
                if not missing
                else "Not found: " + ", ".join(missing) + "."
            )
            if self._draft is not None:
                found += (
                    " The labels are an unverified draft: confirm each structure under "
                    "'Unverified draft' below."
                )
            self.status_label.setText(found)
        else:
            self.status_label.setText("No labels yet: segment the scan or load labels.")
