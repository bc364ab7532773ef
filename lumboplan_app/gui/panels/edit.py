"""The label-correction tools: review, paint, erase or seed with a brush; undo and redo.

Painting replaces other structures under the brush unless "Paint over other structures" is
unchecked: then it fills unlabelled voxels only; "Only intensities" limits it (and erasing) to
voxels whose scan value lies in a range. The "Seed" brush paints the strokes of grow from seeds;
the other tools are in :class:`~lumboplan_app.gui.panels.correction.CorrectionTools` below.
Labels that are an unverified draft show :class:`~lumboplan_app.gui.panels.draft.DraftPanel`
above the tools.

The panel only chooses the tool; the slice views take the strokes and the brush controller
applies them with :class:`~lumboplan_app.editing.LabelEditor`.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QToolButton,
    QWidget,
)

from lumboplan_app.editing import RADIUS_RANGE_MM
from lumboplan_app.gui.panels.correction import CorrectionTools
from lumboplan_app.gui.panels.draft import DraftPanel
from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure

#: The panel's tools: look only, paint the structure, erase it, stroke seeds for growing.
TOOLS = ("review", "paint", "erase", "seed")
DEFAULT_RADIUS_MM = 3.0


class EditPanel(QGroupBox):
    """Tool (review, paint, erase), structure, brush radius (mm), overwriting, undo and redo.

    Signals
    -------
    tool_changed(str)
        One of :data:`TOOLS`.
    undo_requested(), redo_requested()
        The buttons were clicked.
    """

    tool_changed = Signal(str)
    undo_requested = Signal()
    redo_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Correct the labels", parent)
        self.setObjectName("editPanel")
        layout = QGridLayout(self)
        self.draft_panel = DraftPanel(self)
        layout.addWidget(self.draft_panel, 0, 0, 1, len(TOOLS))
        self.tool_buttons: dict[str, QToolButton] = {}
        group = QButtonGroup(self)
        group.setExclusive(True)
        tips = {
            "review": "Click and drag to move the cursor; the labels are not changed",
            "paint": "Drag in a slice view to paint the structure",
            "erase": "Drag in a slice view to erase the structure (other labels stay)",
            "seed": "Drag in a slice view to mark strokes for grow from seeds (see below)",
        }
        for column, tool in enumerate(TOOLS):
            button = QToolButton(self)
            button.setText(tool.title())
            button.setCheckable(True)
            button.setToolTip(tips[tool])
            button.setObjectName(f"{tool}ToolButton")
            group.addButton(button)
            layout.addWidget(button, 1, column)
            self.tool_buttons[tool] = button
            button.toggled.connect(self._on_tool_toggled)
        self.structure_combo = QComboBox(self)
        self.structure_combo.setObjectName("brushStructureCombo")
        for structure in SEGMENTED_STRUCTURES:
            self.structure_combo.addItem(structure.display_name, int(structure))
        layout.addWidget(QLabel("Structure", self), 2, 0)
        layout.addWidget(self.structure_combo, 2, 1, 1, 2)
        self.radius_spin = QDoubleSpinBox(self)
        self.radius_spin.setObjectName("brushRadiusSpin")
        self.radius_spin.setRange(*RADIUS_RANGE_MM)
        self.radius_spin.setSingleStep(0.5)
        self.radius_spin.setDecimals(1)
        self.radius_spin.setSuffix(" mm")
        self.radius_spin.setValue(DEFAULT_RADIUS_MM)
        self.radius_spin.setToolTip("Brush radius in the slice")
        layout.addWidget(QLabel("Brush radius", self), 3, 0)
        layout.addWidget(self.radius_spin, 3, 1, 1, 2)
        self.overwrite_check = QCheckBox("Paint over other structures", self)
        self.overwrite_check.setObjectName("brushOverwriteCheck")
        self.overwrite_check.setChecked(True)
        self.overwrite_check.setToolTip(
            "Checked: the brush replaces whatever lies under it. Unchecked: it paints only "
            "voxels no structure holds, so a gap can be filled without eating into a neighbour."
        )
        layout.addWidget(self.overwrite_check, 4, 0, 1, 3)
        self.tool_buttons["review"].setChecked(True)
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.setToolTip("Undo the last stroke (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo_requested)
        self.redo_button = QPushButton("Redo", self)
        self.redo_button.setToolTip("Redo the stroke undone (Ctrl+Shift+Z)")
        self.redo_button.clicked.connect(self.redo_requested)
        self.range_check = QCheckBox("Only intensities", self)
        self.range_check.setObjectName("brushRangeCheck")
        self.range_check.setToolTip(
            "Paint or erase only voxels whose scan value lies between these two (e.g. the "
            "bright disc beside dark bone)"
        )
        self.range_spins = (QDoubleSpinBox(self), QDoubleSpinBox(self))
        for name, spin in zip(("brushRangeLow", "brushRangeHigh"), self.range_spins, strict=True):
            spin.setObjectName(name)
            spin.setRange(-99999.0, 99999.0)
            spin.setDecimals(0)
        self.range_spins[1].setValue(1000.0)
        layout.addWidget(self.range_check, 5, 0)
        layout.addWidget(self.range_spins[0], 5, 1)
        layout.addWidget(self.range_spins[1], 5, 2)
        layout.addWidget(self.undo_button, 6, 0)
        layout.addWidget(self.redo_button, 6, 1)
        self.tools = CorrectionTools(self)
        layout.addWidget(self.tools, 7, 0, 1, len(TOOLS))
        self.set_history(False, False)
        self.setEnabled(False)

    def _on_tool_toggled(self, checked: bool) -> None:
        if checked:
            self.overwrite_check.setEnabled(self.tool == "paint")  # erasing never overwrites
            self.tool_changed.emit(self.tool)

    @property
    def tool(self) -> str:
        """The chosen tool (one of :data:`TOOLS`)."""
        return next(name for name, button in self.tool_buttons.items() if button.isChecked())

    def set_tool(self, tool: str) -> None:
        """Choose a tool of :data:`TOOLS`."""
        self.tool_buttons[tool].setChecked(True)

    @property
    def structure(self) -> Structure:
        """The structure the brush paints or erases."""
        return Structure(int(self.structure_combo.currentData()))

    def set_structure(self, structure: Structure) -> None:
        """Choose the structure the brush paints or erases."""
        self.structure_combo.setCurrentIndex(self.structure_combo.findData(int(structure)))

    @property
    def radius_mm(self) -> float:
        """The brush radius (mm)."""
        return float(self.radius_spin.value())

    @property
    def intensity_range(self) -> tuple[float, float] | None:
        """The scan values the brush may change (low, high), or None for any."""
        if not self.range_check.isChecked():
            return None
        low, high = (float(spin.value()) for spin in self.range_spins)
        return low, high

    @property
    def seed_structure(self) -> Structure:
        """What a seed stroke marks: the structure chosen, or the background."""
        return Structure.BACKGROUND if self.tools.background_check.isChecked() else self.structure

    @property
    def overwrite(self) -> bool:
        """Whether painting replaces other structures (False: unlabelled voxels only)."""
        return self.overwrite_check.isChecked()

    def set_history(self, can_undo: bool, can_redo: bool) -> None:
        """Enable undo and redo as the editor's history allows."""
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)
