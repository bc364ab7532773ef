"""The foramen panel: the paper's result for one foramen and the channel's pose being assessed.

It shows what it is given (:meth:`ForamenPanel.show_foramen`): the side, the paper's group and
its reasons, the current pose's alpha, beta, Line A and Line B, what the channel touches, and
the side's feasibility map; it asks for changes through signals (another side, a pose from the
chart, back to the paper's placement, the best free trajectory) and never assesses a pose
itself: the window's :class:`~lumboplan_app.planning.interactive.ChannelPlanner` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from lumboplan_app.gui.panels.feasibility_chart import FeasibilityChart
from lumboplan_app.labels import Side
from lumboplan_app.planning.advice import GROUP_NAME, group_advice
from lumboplan_app.planning.placement import in_sentence

if TYPE_CHECKING:
    from lumboplan_app.planning.assessment import PartContact
    from lumboplan_app.planning.feasibility import FeasibilityMap
    from lumboplan_app.planning.interactive import PoseAssessment
    from lumboplan_app.planning.placement import SidePlan

NO_PLAN_HINT = "Plan the case (Ctrl+P) to see the foramina."
NO_VALUE = "\u2014"

#: Contacts table rows: a part the pose is blocked by, and a part it reaches into that does
#: not block a transforaminal path (the S1 superior articular process, the lamina).
TOUCHING_BACKGROUND = QColor("#5c2020")
TOUCHING_FOREGROUND = QColor("#ffd9d4")
INSIDE_BACKGROUND = QColor("#4a3914")
INSIDE_FOREGROUND = QColor("#f2d7a0")
#: Item data role holding a row's state: "touching", "inside" or "near".
CONTACT_STATE_ROLE = int(Qt.ItemDataRole.UserRole) + 1


def _repolish(widget: QWidget) -> None:
    """Apply the style sheet again after a dynamic property changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def _degrees(value: float | None) -> str:
    return NO_VALUE if value is None else f"{round(value, 1) + 0.0:.1f}\u00b0"  # no "-0.0"


def _millimetres(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.1f} mm"


class ForamenPanel(QGroupBox):
    """The selected foramen: the paper's group, the current pose, its contacts and map.

    Signals
    -------
    side_changed(object)
        The surgeon chose the other foramen (a :class:`~lumboplan_app.labels.Side`).
    pose_chosen(float, float)
        A pose picked on the feasibility chart (alpha, beta in degrees).
    reset_requested()
        Back to the paper's placement.
    snap_requested()
        To the best free trajectory.
    """

    side_changed = Signal(object)
    pose_chosen = Signal(float, float)
    reset_requested = Signal()
    snap_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Foramen", parent)
        self.setObjectName("foramenPanel")
        self._side = Side.LEFT
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)

        side_row = QHBoxLayout()
        side_row.setSpacing(0)
        self.side_buttons: dict[Side, QPushButton] = {}
        self._side_group = QButtonGroup(self)
        self._side_group.setExclusive(True)
        for side in Side:
            button = QPushButton(side.value.title(), self)
            button.setObjectName(f"side{side.value.title()}Button")
            button.setCheckable(True)
            button.setToolTip(f"Show the patient's {side.value} L5/S1 foramen")
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            self._side_group.addButton(button)
            self.side_buttons[side] = button
            side_row.addWidget(button)
        self.side_buttons[Side.LEFT].setChecked(True)
        self._side_group.buttonToggled.connect(self._side_toggled)
        side_row.addSpacing(8)
        self.switch_button = QPushButton("Switch side", self)
        self.switch_button.setObjectName("switchSideButton")
        self.switch_button.setToolTip("Show the other foramen")
        self.switch_button.clicked.connect(self.switch_side)
        side_row.addWidget(self.switch_button)
        layout.addLayout(side_row)

        self.hint_label = QLabel(NO_PLAN_HINT, self)
        self.hint_label.setObjectName("foramenHint")
        self.hint_label.setWordWrap(True)
        layout.addWidget(self.hint_label)

        layout.addWidget(self._heading("Paper's placement"))
        group_row = QHBoxLayout()
        self.group_chip = QLabel("", self)
        self.group_chip.setObjectName("groupChip")
        self.group_chip.setProperty("group", "")
        self.group_chip.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        group_row.addWidget(self.group_chip)
        self.advice_label = QLabel("", self)
        self.advice_label.setObjectName("groupAdvice")
        self.advice_label.setWordWrap(True)
        group_row.addWidget(self.advice_label, 1)
        layout.addLayout(group_row)
        self.reasons_label = QLabel("", self)
        self.reasons_label.setObjectName("groupReasons")
        self.reasons_label.setWordWrap(True)
        self.reasons_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.reasons_label)

        layout.addWidget(self._heading("Channel pose"))
        values = QGridLayout()
        values.setHorizontalSpacing(8)
        values.setVerticalSpacing(2)
        self.alpha_value = self._value(
            values, 0, 0, "Alpha", "Axial angle from straight lateral (0) to posterior (90)"
        )
        self.beta_value = self._value(
            values, 0, 2, "Beta", "Cranio-caudal tilt, positive when the outer end is cranial"
        )
        self.line_a_value = self._value(
            values, 1, 0, "Line A", "Point a (facet crossing) to the exiting root (paper's)"
        )
        self.line_b_value = self._value(
            values, 1, 2, "Line B", "Mid-sagittal line to point d, the skin entry (axial plane)"
        )
        values.setColumnStretch(1, 1)
        values.setColumnStretch(3, 1)
        layout.addLayout(values)
        self.status_label = QLabel("", self)
        self.status_label.setObjectName("poseStatus")
        self.status_label.setProperty("state", "")
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.status_label)

        self.contacts_table = QTableWidget(0, 2, self)
        self.contacts_table.setObjectName("contactsTable")
        self.contacts_table.setHorizontalHeaderLabels(["Part within 3 mm", "mm"])
        header_item = self.contacts_table.horizontalHeaderItem(1)
        if header_item is not None:
            header_item.setToolTip("Clearance in mm; negative: how deep the channel reaches in")
        header = self.contacts_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.contacts_table.verticalHeader().setVisible(False)
        self.contacts_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.contacts_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.contacts_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.contacts_table.setWordWrap(False)
        self.contacts_table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.contacts_table.setShowGrid(False)
        rows = self.contacts_table.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.contacts_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.contacts_table)
        self.no_contacts_label = QLabel("No part within 3 mm of the channel.", self)
        self.no_contacts_label.setObjectName("controlsHint")
        layout.addWidget(self.no_contacts_label)

        layout.addWidget(self._heading("Feasibility map"))
        self.chart = FeasibilityChart(self)
        self.chart.setToolTip("")
        self.chart.pose_chosen.connect(self.pose_chosen)
        layout.addWidget(self.chart)

        buttons = QHBoxLayout()
        self.reset_button = QPushButton("Reset to paper", self)
        self.reset_button.setObjectName("resetPoseButton")
        self.reset_button.setToolTip("Put the channel back on the paper's placement")
        self.reset_button.clicked.connect(self.reset_requested)
        buttons.addWidget(self.reset_button)
        self.snap_button = QPushButton("Snap to best free", self)
        self.snap_button.setObjectName("snapPoseButton")
        self.snap_button.setToolTip("Move the channel to the free pose with the most clearance")
        self.snap_button.clicked.connect(self.snap_requested)
        buttons.addWidget(self.snap_button)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self.clear()

    def _heading(self, text: str) -> QLabel:
        label = QLabel(text, self)
        label.setObjectName("panelHeading")
        return label

    def _value(self, grid: QGridLayout, row: int, column: int, name: str, tip: str) -> QLabel:
        label = QLabel(name, self)
        label.setObjectName("infoLabel")
        label.setToolTip(tip)
        value = QLabel(NO_VALUE, self)
        value.setObjectName("infoValue")
        value.setToolTip(tip)
        value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(label, row, column)
        grid.addWidget(value, row, column + 1)
        return value

    # -- side --------------------------------------------------------------------------------

    @property
    def side(self) -> Side:
        """The foramen selected."""
        return self._side

    def _select(self, side: Side) -> None:
        """Check ``side``'s button without emitting :attr:`side_changed`."""
        self._side = side
        button = self.side_buttons[side]
        if not button.isChecked():
            self._side_group.blockSignals(True)
            button.setChecked(True)
            self._side_group.blockSignals(False)

    def _side_toggled(self, button: QPushButton, checked: bool) -> None:
        if not checked:
            return
        side = next(s for s, b in self.side_buttons.items() if b is button)
        if side is not self._side:
            self._side = side
            self.side_changed.emit(side)

    def switch_side(self) -> None:
        """Select the other foramen and emit :attr:`side_changed`."""
        other = Side.RIGHT if self._side is Side.LEFT else Side.LEFT
        self._select(other)
        self.side_changed.emit(other)

    # -- content -----------------------------------------------------------------------------

    def show_foramen(
        self,
        side: Side,
        side_plan: SidePlan | None,
        assessment: PoseAssessment | None,
        fmap: FeasibilityMap | None,
        paper: tuple[float, float] | None,
        best: tuple[float, float] | None,
    ) -> None:
        """Show one foramen: the paper's result, the assessed pose and the side's map.

        Parameters
        ----------
        side : Side
            The foramen; its button is checked (no :attr:`side_changed`).
        side_plan : SidePlan or None
            The paper's placement: group, reasons, Line A (mm).
        assessment : PoseAssessment or None
            The pose shown (alpha, beta in degrees; Line B in mm; contacts); None shows the
            paper's pose and measurements.
        fmap : FeasibilityMap or None
            The side's map; the chart rebuilds its image only when this is another map.
        paper, best : (alpha, beta) in degrees, or None
            The paper's placement and the best free trajectory, marked on the chart; without
            them their buttons are disabled.
        """
        self._select(side)
        self.hint_label.setVisible(False)
        for button in (*self.side_buttons.values(), self.switch_button):
            button.setEnabled(True)
        self._show_group(side_plan)
        alpha: float | None = None
        beta: float | None = None
        line_b: float | None = None
        if assessment is not None:
            alpha, beta, line_b = assessment.alpha_deg, assessment.beta_deg, assessment.line_b_mm
        elif side_plan is not None:
            alpha, beta, line_b = side_plan.alpha_deg, side_plan.beta_deg, side_plan.line_b_mm
        current = None if alpha is None or beta is None else (alpha, beta)
        self.alpha_value.setText(_degrees(alpha))
        self.beta_value.setText(_degrees(beta))
        self.line_a_value.setText(_millimetres(None if side_plan is None else side_plan.line_a_mm))
        self.line_b_value.setText(_millimetres(line_b))
        self.line_b_value.setToolTip(
            "Mid-sagittal line to point d, the skin entry (axial plane)"
            if line_b is not None or current is None
            else "Point d, where the axis leaves the skin, is outside the scan."
        )
        self._show_status(side_plan, assessment)
        self._show_contacts(assessment)
        if fmap is not self.chart.feasibility_map or fmap is None:
            self.chart.set_map(fmap, self._empty_map_text(side_plan))
        self.chart.setEnabled(fmap is not None)
        self.chart.set_marks(current, paper, best)
        self.reset_button.setEnabled(paper is not None)
        self.snap_button.setEnabled(best is not None)
        self.snap_button.setToolTip(_snap_tip(best is not None, fmap))

    def clear(self) -> None:
        """Show no plan: everything disabled, and the hint to plan the case."""
        self.hint_label.setVisible(True)
        for button in (*self.side_buttons.values(), self.switch_button):
            button.setEnabled(False)
        self._show_group(None)
        for value in (self.alpha_value, self.beta_value, self.line_a_value, self.line_b_value):
            value.setText(NO_VALUE)
        self._set_status("", "")
        self._show_contacts(None)
        self.chart.set_map(None)
        self.chart.set_marks(None)
        self.chart.setEnabled(False)
        self.reset_button.setEnabled(False)
        self.snap_button.setEnabled(False)

    def _show_group(self, side_plan: SidePlan | None) -> None:
        group = "" if side_plan is None else side_plan.group
        self.group_chip.setText(GROUP_NAME.get(group, ""))
        self.group_chip.setVisible(bool(group))
        self.group_chip.setProperty("group", group)
        _repolish(self.group_chip)
        self.advice_label.setText(group_advice(group) if group else "")
        reasons = () if side_plan is None else side_plan.reasons
        if side_plan is not None and not reasons and group == "A":
            reasons = ("The channel touches no L5 IAP, transverse process or nerve.",)
        self.reasons_label.setText("\n".join(f"\u2022 {reason}" for reason in reasons))
        self.reasons_label.setVisible(bool(reasons))

    def _set_status(self, text: str, state: str) -> None:
        self.status_label.setText(text)
        self.status_label.setProperty("state", state)
        self.status_label.setVisible(bool(text))
        _repolish(self.status_label)

    def _show_status(self, side_plan: SidePlan | None, assessment: PoseAssessment | None) -> None:
        if assessment is not None:
            self._set_status(assessment.summary(), "clear" if assessment.clear else "blocked")
        elif side_plan is not None and side_plan.channel is None:
            self._set_status("No channel: this foramen cannot be assessed.", "")
        else:
            self._set_status("", "")

    def _show_contacts(self, assessment: PoseAssessment | None) -> None:
        table = self.contacts_table
        contacts: tuple[PartContact, ...] = ()
        blocked: set[object] = set()
        if assessment is not None:
            contacts = assessment.contacts
            blocked = {contact.part for contact in assessment.blocked_by}
        table.setRowCount(len(contacts))
        for row, contact in enumerate(contacts):
            name = QTableWidgetItem(in_sentence(contact.part))
            clearance = QTableWidgetItem(f"{contact.clearance_mm:.1f}")
            clearance.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if contact.part in blocked:
                state, tip = "touching", "Touching: the channel is blocked by this part."
                colours: tuple[QColor, QColor] | None = (
                    TOUCHING_BACKGROUND,
                    TOUCHING_FOREGROUND,
                )
            elif contact.clearance_mm < 0:
                state = "inside"
                tip = "The channel reaches into it; it does not block a transforaminal path."
                colours = (INSIDE_BACKGROUND, INSIDE_FOREGROUND)
            else:
                state, tip, colours = "near", "Near, not touching.", None
            name.setToolTip(f"{contact.part.display_name}: {tip[0].lower()}{tip[1:]}")
            clearance.setToolTip(tip)
            for item in (name, clearance):
                item.setData(CONTACT_STATE_ROLE, state)
                if colours is not None:
                    item.setBackground(QBrush(colours[0]))
                    item.setForeground(QBrush(colours[1]))
            table.setItem(row, 0, name)
            table.setItem(row, 1, clearance)
        shown = max(1, min(len(contacts), 6))
        height = table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth()
        table.setFixedHeight(height + shown * table.verticalHeader().defaultSectionSize())
        table.setVisible(bool(contacts))
        self.no_contacts_label.setVisible(assessment is not None and not contacts)
        self.contacts_table.setEnabled(assessment is not None)

    def _empty_map_text(self, side_plan: SidePlan | None) -> str:
        if side_plan is None:
            return "No map: plan the case"
        if side_plan.group == "not_assessable":
            return "No map: this foramen is not assessable"
        return "No map for this foramen"


def _snap_tip(has_best: bool, fmap: FeasibilityMap | None) -> str:
    """Return the snap button's tooltip: why there is no best free pose, when there is none."""
    if has_best:
        return "Move the channel to the free pose with the most clearance"
    unseen = 0 if fmap is None or fmap.leaves_scan is None else int(fmap.leaves_scan.sum())
    if unseen == 1:
        return (
            "No free pose on this side's map: 1 pose touches nothing in the scan, but its path "
            "leaves the scan, so it cannot be judged"
        )
    if unseen:
        return (
            f"No free pose on this side's map: {unseen} poses touch nothing in the scan, but "
            "their path leaves the scan, so they cannot be judged"
        )
    return "No free pose on this side's map"
