"""The series chooser: shown when a folder holds several series, so the surgeon picks one.

Series whose headers already say they cannot make a 3-D volume (a single slice, a screenshot,
a mosaic...) are listed greyed, with the reason, and cannot be chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from lumboplan_app.io.series import SeriesInfo

#: Table columns, in order.
COLUMNS = ("#", "Description", "Modality", "Orientation", "Size", "Slices", "Problem")


def _size_text(info: SeriesInfo) -> str:
    text = f"{info.columns} x {info.rows}"
    if info.pixel_spacing_mm is not None:
        row_mm, column_mm = info.pixel_spacing_mm
        text += f"  ({column_mm:.2f} x {row_mm:.2f} mm)"
    return text


class SeriesChooserDialog(QDialog):
    """Lists the series found under a path; emits the chosen one.

    Parameters
    ----------
    series : sequence of SeriesInfo
        The listing (from :func:`lumboplan_app.io.list_series` or a
        :class:`~lumboplan_app.errors.SeriesChoiceRequired`).
    parent : QWidget, optional
        The window the dialog belongs to.

    Signals
    -------
    series_chosen(object)
        The chosen :class:`SeriesInfo`, when the user presses Open or double-clicks a row.
    """

    series_chosen = Signal(object)

    def __init__(self, series: Sequence[SeriesInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("seriesChooser")
        self.setWindowTitle("Choose a series")
        self.setModal(True)
        self.series = list(series)
        loadable = sum(1 for info in self.series if info.loadable)
        intro = QLabel(
            f"This folder holds {len(self.series)} series. Choose the lumbar MR to plan on "
            "(a 3-D T2 series, usually sagittal)."
            if loadable
            else f"This folder holds {len(self.series)} series, and none of them can be opened "
            "as a 3-D scan (see Problem). Export the MR series again."
        )
        intro.setWordWrap(True)
        self.table = QTableWidget(len(self.series), len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        for row, info in enumerate(self.series):
            values = (
                str(info.index),
                info.description or "(no description)",
                info.modality,
                info.orientation,
                _size_text(info),
                str(info.slice_count),
                info.problem,
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                item.setToolTip(info.problem or info.summary())
                if not info.loadable:
                    item.setFlags(Qt.ItemFlag.NoItemFlags)
                self.table.setItem(row, column, item)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        self.table.resizeRowsToContents()
        buttons = QDialogButtonBox(self)
        self.open_button: QPushButton = buttons.addButton(
            "Open", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.cancel_button: QPushButton = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept_selected)
        buttons.rejected.connect(self.reject)
        self.table.itemSelectionChanged.connect(self._update_open_button)
        self.table.itemDoubleClicked.connect(self._accept_selected)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(860, 120 + 34 * min(len(self.series), 10))
        first_loadable = next((r for r, info in enumerate(self.series) if info.loadable), None)
        if first_loadable is not None:
            self.table.selectRow(first_loadable)
        self._update_open_button()

    def selected_series(self) -> SeriesInfo | None:
        """Return the selected series if it can be opened, else None."""
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        if len(rows) != 1:
            return None
        info = self.series[rows.pop()]
        return info if info.loadable else None

    def select_index(self, index: int) -> None:
        """Select the series whose listing index (1-based, the ``#`` column) is ``index``."""
        for row, info in enumerate(self.series):
            if info.index == index:
                self.table.selectRow(row)
                return
        raise KeyError(index)

    def _update_open_button(self) -> None:
        self.open_button.setEnabled(self.selected_series() is not None)

    def _accept_selected(self) -> None:
        info = self.selected_series()
        if info is None:
            return
        self.accept()
        self.series_chosen.emit(info)
