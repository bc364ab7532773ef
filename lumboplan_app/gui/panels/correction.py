"""The correction tools beyond the brush: grow from seeds, fill between slices, islands, smooth.

Part of the edit panel (:class:`~lumboplan_app.gui.panels.edit.EditPanel`), which keeps the
tool (the "Seed" brush paints the strokes of grow from seeds), the structure and the radius.
This panel holds each tool's own settings and its button; it computes nothing: the
:class:`~lumboplan_app.gui.controllers.correction.CorrectionController` applies the tools
through the case session's editor and its seed grower.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPushButton,
    QWidget,
)

from lumboplan_app.editing.islands import MIN_VOLUME_MM3
from lumboplan_app.editing.smooth import SMOOTH_METHODS, SmoothMethod
from lumboplan_app.viewing import Plane

#: The planes "fill between slices" interpolates across, as offered.
FILL_PLANES: tuple[Plane, ...] = ("axial", "sagittal", "coronal")


class CorrectionTools(QGroupBox):
    """Grow from seeds (background strokes, update, auto-update, clear) and the one-click tools."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("More tools", parent)
        self.setObjectName("correctionTools")
        layout = QGridLayout(self)
        grow = QLabel(
            "<b>Grow from seeds</b>: choose Seed, stroke inside the structure and "
            "around it; the fill follows the image's edges in 3-D.",
            self,
        )
        grow.setWordWrap(True)
        layout.addWidget(grow, 0, 0, 1, 3)
        self.background_check = QCheckBox("Seed strokes mark the background", self)
        self.background_check.setObjectName("seedBackgroundCheck")
        self.background_check.setToolTip(
            "Checked: Seed strokes mark what is none of the structures (fat, muscle) around the "
            "one to grow. Unchecked: they mark the structure chosen above."
        )
        layout.addWidget(self.background_check, 1, 0, 1, 3)
        self.auto_check = QCheckBox("Update after each stroke", self)
        self.auto_check.setObjectName("seedAutoUpdateCheck")
        self.auto_check.setChecked(True)
        layout.addWidget(self.auto_check, 2, 0, 1, 3)
        self.grow_button = QPushButton("Update", self)
        self.grow_button.setObjectName("growButton")
        self.grow_button.setToolTip(
            "Grow the strokes into the labels (Ctrl+U); one undo step however often it updates"
        )
        self.grow_button.setShortcut("Ctrl+U")
        self.clear_seeds_button = QPushButton("Finish", self)
        self.clear_seeds_button.setObjectName("clearSeedsButton")
        self.clear_seeds_button.setToolTip("Keep the labels as grown and forget the strokes")
        layout.addWidget(self.grow_button, 3, 0)
        layout.addWidget(self.clear_seeds_button, 3, 1)
        self.seeds_label = QLabel("No strokes.", self)
        self.seeds_label.setObjectName("seedsLabel")
        self.seeds_label.setWordWrap(True)
        layout.addWidget(self.seeds_label, 4, 0, 1, 3)

        self.fill_plane_combo = QComboBox(self)
        self.fill_plane_combo.setObjectName("fillPlaneCombo")
        for plane in FILL_PLANES:
            self.fill_plane_combo.addItem(f"{plane} slices", plane)
        self.fill_button = QPushButton("Fill between slices", self)
        self.fill_button.setObjectName("fillBetweenButton")
        self.fill_button.setToolTip(
            "Paint the structure on a few slices, then interpolate the slices between them"
        )
        layout.addWidget(self.fill_button, 5, 0, 1, 2)
        layout.addWidget(self.fill_plane_combo, 5, 2)

        self.island_spin = QDoubleSpinBox(self)
        self.island_spin.setObjectName("islandVolumeSpin")
        self.island_spin.setRange(1.0, 100000.0)
        self.island_spin.setDecimals(0)
        self.island_spin.setSuffix(" mm³")
        self.island_spin.setValue(MIN_VOLUME_MM3)
        self.island_spin.setToolTip(
            "Pieces of any structure smaller than this go to their surroundings"
        )
        self.islands_button = QPushButton("Remove small islands", self)
        self.islands_button.setObjectName("removeIslandsButton")
        layout.addWidget(self.islands_button, 6, 0, 1, 2)
        layout.addWidget(self.island_spin, 6, 2)

        self.smooth_combo = QComboBox(self)
        self.smooth_combo.setObjectName("smoothMethodCombo")
        for method in SMOOTH_METHODS:
            self.smooth_combo.addItem(method.title(), method)
        self.smooth_spin = QDoubleSpinBox(self)
        self.smooth_spin.setObjectName("smoothRadiusSpin")
        self.smooth_spin.setRange(0.5, 10.0)
        self.smooth_spin.setSingleStep(0.5)
        self.smooth_spin.setSuffix(" mm")
        self.smooth_spin.setValue(1.5)
        self.smooth_button = QPushButton("Smooth", self)
        self.smooth_button.setObjectName("smoothButton")
        self.smooth_button.setToolTip(
            "Median: both ways; opening: cut spurs; closing: fill dents and holes (the structure "
            "chosen above)"
        )
        layout.addWidget(self.smooth_button, 7, 0)
        layout.addWidget(self.smooth_combo, 7, 1)
        layout.addWidget(self.smooth_spin, 7, 2)
        self.message_label = QLabel("", self)
        self.message_label.setObjectName("correctionMessage")
        self.message_label.setWordWrap(True)
        layout.addWidget(self.message_label, 8, 0, 1, 3)

    @property
    def fill_plane(self) -> Plane:
        """The slices "fill between slices" interpolates across."""
        plane: Plane = self.fill_plane_combo.currentData()
        return plane

    @property
    def smooth_method(self) -> SmoothMethod:
        """The smoothing chosen (one of :data:`~lumboplan_app.editing.smooth.SMOOTH_METHODS`)."""
        method: SmoothMethod = self.smooth_combo.currentData()
        return method

    def show_message(self, text: str) -> None:
        """Show what the last tool did, or why it could not ("" clears it)."""
        self.message_label.setText(text)

    def show_seeds(self, names: list[str]) -> None:
        """Say which kinds have strokes (their display names)."""
        self.seeds_label.setText("Strokes: " + ", ".join(names) + "." if names else "No strokes.")
