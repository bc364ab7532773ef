"""The scan summary beside the slice views: what was loaded, and what the surgeon must know.

The warnings of :attr:`ScanMeta.warnings` (thick slices, CT, a field of view too small...) are
shown first and prominently: they decide how far a plan built on this scan can be trusted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

if TYPE_CHECKING:
    from lumboplan_app.volume import Volume

#: How to work the slice views, shown under the summary.
CONTROLS_TEXT = (
    "Left click or drag: move the cursor (all views follow)\n"
    "Wheel, Up/Down, Page Up/Down: next or previous slice\n"
    "Right drag: window width (left/right) and level (up/down)"
)


def _format_mm(values: tuple[float, ...]) -> str:
    return " x ".join(f"{v:.2f}".rstrip("0").rstrip(".") for v in values) + " mm"


def scan_summary(volume: Volume) -> list[tuple[str, str]]:
    """Return the (label, value) rows of the summary of ``volume`` (empty values omitted)."""
    meta, grid = volume.meta, volume.grid
    size_x, size_y, size_z = grid.shape_zyx[::-1]
    orientation = grid.orientation_code()
    if grid.is_oblique():
        orientation += " (oblique: views follow the image axes, letters the nearest patient axis)"
    rows = [
        ("Series", meta.series_description or "(no description)"),
        ("Modality", meta.modality),
        ("Format", meta.source_format),
        ("Size", f"{size_x} x {size_y} x {size_z} voxels (x, y, z)"),
        ("Spacing", _format_mm(grid.spacing_xyz_mm)),
        ("Field of view", _format_mm(grid.field_of_view_xyz_mm)),
        ("Orientation", orientation),
        ("Acquisition", meta.acquisition_type),
        (
            "Slice thickness",
            "" if meta.slice_thickness_mm is None else f"{meta.slice_thickness_mm:.2f} mm",
        ),
        ("Body part", meta.body_part),
        ("Manufacturer", meta.manufacturer),
        ("Study date", _format_date(meta.study_date)),
        ("Patient", meta.patient.name.replace("^", " ").strip()),
        ("Patient ID", meta.patient.patient_id),
    ]
    return [(label, value) for label, value in rows if value]


def _format_date(dicom_date: str) -> str:
    if len(dicom_date) == 8 and dicom_date.isdigit():
        return f"{dicom_date[:4]}-{dicom_date[4:6]}-{dicom_date[6:]}"
    return dicom_date


class InfoPanel(QScrollArea):
    """Scan summary and warnings of the volume shown.

    Attributes
    ----------
    values : dict of str to str
        The summary rows shown (label to value).
    warnings : tuple of str
        The scan's warnings shown.
    warnings_label : QLabel
        The warnings, one per paragraph; hidden when there are none.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("infoPanel")
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        content = QWidget(self)
        content.setObjectName("infoPanelContent")
        layout = QVBoxLayout(content)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(10)
        heading = QLabel("Scan", content)
        heading.setObjectName("panelHeading")
        self.warnings_label = QLabel(content)
        self.warnings_label.setObjectName("scanWarnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setTextFormat(Qt.TextFormat.RichText)
        self.warnings_label.hide()
        self._form_widget = QWidget(content)
        self._form = QFormLayout(self._form_widget)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self._form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        controls_heading = QLabel("Controls", content)
        controls_heading.setObjectName("panelHeading")
        controls = QLabel(CONTROLS_TEXT, content)
        controls.setObjectName("controlsHint")
        controls.setWordWrap(True)
        layout.addWidget(heading)
        layout.addWidget(self.warnings_label)
        layout.addWidget(self._form_widget)
        layout.addSpacing(6)
        layout.addWidget(controls_heading)
        layout.addWidget(controls)
        layout.addStretch(1)
        self.setWidget(content)
        self.values: dict[str, str] = {}
        self.warnings: tuple[str, ...] = ()

    def show_volume(self, volume: Volume | None) -> None:
        """Show the summary of ``volume`` (or clear the panel)."""
        while self._form.rowCount():
            self._form.removeRow(0)
        self.values = dict(scan_summary(volume)) if volume is not None else {}
        for label, value in self.values.items():
            text = QLabel(value)
            text.setObjectName("infoValue")
            text.setWordWrap(True)
            text.setTextFormat(Qt.TextFormat.PlainText)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            name = QLabel(label)
            name.setObjectName("infoLabel")
            self._form.addRow(name, text)
        warnings = volume.meta.warnings if volume is not None else ()
        self.warnings = tuple(warnings)
        if warnings:
            from html import escape

            items = "".join(f"<p style='margin:0 0 6px 0'>{escape(w)}</p>" for w in warnings)
            self.warnings_label.setText(f"<b>Before you plan on this scan</b>{items}")
            self.warnings_label.show()
        else:
            self.warnings_label.clear()
            self.warnings_label.hide()
