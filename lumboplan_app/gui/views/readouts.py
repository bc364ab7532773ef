"""What the scan shown reads out: the status bar's mouse, cursor and window, the preset combo.

Both read the session's :class:`~lumboplan_app.viewing.ViewState`; the window tells them when it
changed (its observer of the view state).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox, QLabel, QStatusBar, QWidget

if TYPE_CHECKING:
    from PySide6.QtGui import QFontMetrics

    from lumboplan_app.case_session import CaseSession
    from lumboplan_app.viewing import Plane

#: The combo's entry while the window is not one of the presets (after a right-drag).
CUSTOM_WINDOW = "Custom"


class PresetCombo(QComboBox):
    """The intensity window's presets of the scan shown; choosing one applies it."""

    def __init__(self, session: CaseSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("presetCombo")
        self.setToolTip(
            "Intensity window. Right-drag in a view: left/right changes the width, "
            "up/down the level."
        )
        self.setMinimumContentsLength(16)
        self.setEnabled(False)
        self.currentTextChanged.connect(self._on_chosen)

    def fill(self) -> None:
        """List the presets of the scan shown, its current one chosen."""
        state = self.session.view
        if state is None:
            return
        self.blockSignals(True)
        try:
            self.clear()
            self.addItems([preset.name for preset in state.presets])
            self.setCurrentText(state.preset_name or "")
            self.setEnabled(True)
        finally:
            self.blockSignals(False)

    def sync(self) -> None:
        """Show the view state's preset without echoing the change back."""
        state = self.session.view
        if state is None:
            return
        name = state.preset_name or CUSTOM_WINDOW
        self.blockSignals(True)
        try:
            custom_index = self.findText(CUSTOM_WINDOW)
            if name == CUSTOM_WINDOW and custom_index < 0:
                self.addItem(CUSTOM_WINDOW)
            elif name != CUSTOM_WINDOW and custom_index >= 0:
                self.removeItem(custom_index)
            self.setCurrentText(name)
        finally:
            self.blockSignals(False)

    def _on_chosen(self, name: str) -> None:
        state = self.session.view
        if state is None or not name or name == CUSTOM_WINDOW:
            return
        state.apply_preset(name)


class ScanReadouts:
    """The status bar's read-outs: the voxel under the mouse, the cursor, the window.

    Parameters
    ----------
    session : CaseSession
        The case (its view state).
    bar : QStatusBar
        The status bar; the three labels are added as its first permanent widgets.
    metrics : QFontMetrics
        The window's font metrics: the labels keep room for their longest text, so the status
        bar does not jump as the mouse moves.
    """

    def __init__(self, session: CaseSession, bar: QStatusBar, metrics: QFontMetrics) -> None:
        self.session = session
        self.hover_label = QLabel("", bar)
        self.hover_label.setObjectName("hoverLabel")
        self.cursor_label = QLabel("", bar)
        self.cursor_label.setObjectName("cursorLabel")
        self.window_label = QLabel("", bar)
        self.window_label.setObjectName("windowLabel")
        self.hover_label.setMinimumWidth(
            metrics.horizontalAdvance("Mouse LPS (-000.0, -000.0, -000.0) mm   value -0000")
        )
        self.cursor_label.setMinimumWidth(
            metrics.horizontalAdvance("Cursor LPS (-000.0, -000.0, -000.0) mm   value -0000")
        )
        for label in (self.hover_label, self.cursor_label, self.window_label):
            bar.addPermanentWidget(label)

    def show_cursor(self) -> None:
        """Show the cursor's position and value."""
        state = self.session.view
        if state is None:
            self.cursor_label.clear()
            return
        x, y, z = state.cursor_lps_mm()
        self.cursor_label.setText(
            f"Cursor LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm   value {state.cursor_value():.4g}"
        )

    def show_window(self) -> None:
        """Show the intensity window's width and level."""
        state = self.session.view
        if state is None:
            self.window_label.clear()
            return
        window = state.window
        self.window_label.setText(f"W {window.width:.4g}  L {window.level:.4g}")

    def show_hover(self, payload: tuple[Plane, tuple[float, float, float]] | None) -> None:
        """Show the voxel under the mouse (``payload``: a slice view's ``hovered``)."""
        state = self.session.view
        if payload is None or state is None:
            self.hover_label.clear()
            return
        _, index = payload
        value = state.value_at(index)
        x, y, z = state.index_to_lps_mm(index)
        value_text = "" if value is None else f"   value {value:.4g}"
        self.hover_label.setText(f"Mouse LPS ({x:.1f}, {y:.1f}, {z:.1f}) mm{value_text}")
