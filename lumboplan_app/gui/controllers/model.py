"""The Model menu: which segmentation model "Segment" uses, and its card on show.

:class:`ModelController` starts with the model the settings name
(:func:`~lumboplan_app.learning.model_choice.model_at_start`; if it no longer loads, the shipped
one, and a box says why), lets the surgeon choose a fine-tuned model or go back to the shipped
one (each checked by :func:`~lumboplan_app.learning.model_choice.load_model` before it is taken,
then remembered), and keeps the model in use on show: a label in the status bar (its card as
the tooltip), the card in a box when a model is chosen, and in About. The model logic is the
core's; a model that does not load is refused and the one in use kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QMessageBox

from lumboplan_app.errors import LumboPlanError, WriteError
from lumboplan_app.gui import dialogs
from lumboplan_app.learning.model_choice import load_model, model_at_start, remember_model

if TYPE_CHECKING:
    from PySide6.QtWidgets import QStatusBar, QWidget

REFUSED_TITLE = "LumboPlan cannot use this model"
START_TITLE = "LumboPlan segments with the shipped model"


class ModelWindow(Protocol):
    """What the controller needs of the window: its error box (the boxes' parent)."""

    def show_error(self, message: str, title: str) -> Any:
        """Show an error box."""
        ...


class ModelController(QObject):
    """The model "Segment" uses: chosen, remembered and shown.

    Parameters
    ----------
    window : ModelWindow
        The window (the boxes' parent, its error box).
    status_bar : QStatusBar
        Where the model in use is named (a permanent label).

    Attributes
    ----------
    model : ChosenModel or None
        The model in use (None: not even the shipped model loads; segmenting says why).
    label : QLabel
        "Model: shipped" or "Model: fine-tuned, <folder>/<file>"; the card is its tooltip.
    card_box : QMessageBox or None
        The card shown when a model was chosen (or asked for).

    Signals
    -------
    changed(object)
        Another model is in use (the :class:`ChosenModel`).
    """

    changed = Signal(object)

    def __init__(self, window: ModelWindow, status_bar: QStatusBar) -> None:
        super().__init__(status_bar)
        self.window = window
        self.label = QLabel(status_bar)
        self.label.setObjectName("modelLabel")
        status_bar.addPermanentWidget(self.label)
        self.card_box: QMessageBox | None = None
        self.folder = Path.home()
        self.model, notice = model_at_start()
        self._show()
        if notice is not None:  # once the window is up: never a silent change of model
            QTimer.singleShot(0, lambda: self.window.show_error(notice, START_TITLE))

    @property
    def weights(self) -> Path | None:
        """The weights "Segment" uses (None: the shipped model's default path)."""
        return None if self.model is None else self.model.weights

    @property
    def sha256(self) -> str | None:
        """The SHA-256 of those weights, as their card (shown) says; None without a model."""
        return None if self.model is None else self.model.card.sha256

    @property
    def record(self) -> dict[str, str] | None:
        """What the case file records of the model in use (None without a model)."""
        return None if self.model is None else self.model.record()

    def card_text(self) -> str:
        """Return the card of the model in use, or why there is none (for About)."""
        if self.model is not None:
            return self.model.description()
        try:
            return load_model(None).description()
        except LumboPlanError as error:
            return f"Not available: {error}"

    def ask_and_choose(self) -> None:
        """Ask for a fine-tuned model's weights and use them (Model > Use a fine-tuned model…)."""
        path = dialogs.ask_model_file(cast("QWidget", self.window), self.folder)
        if path is not None:
            self.choose(path)

    def choose(self, weights: Path | None) -> bool:
        """Use the model of ``weights`` (None: the shipped one) from now on, and show its card.

        A model that does not load is refused in a box, and the model in use kept; False then.
        """
        try:
            model = load_model(weights)
        except LumboPlanError as error:
            kept = "none" if self.model is None else self.model.name
            self.window.show_error(f"{error}\n\nThe model in use is kept ({kept}).", REFUSED_TITLE)
            return False
        if weights is not None:
            self.folder = weights.parent
        note = ""
        try:
            remember_model(model)
        except WriteError as error:
            note = f"\n\nThe choice holds until LumboPlan closes: {error}"
        self.model = model
        self._show()
        self.show_card(note)
        self.changed.emit(model)
        return True

    def use_shipped(self) -> bool:
        """Go back to the shipped model (Model > Use the shipped model)."""
        return self.choose(None)

    def show_card(self, note: str = "") -> None:
        """Show the card of the model in use in a box (``note`` added under it)."""
        if self.card_box is not None:
            self.card_box.close()
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Segmentation model",
            f"{self.card_text()}{note}",
            QMessageBox.StandardButton.Ok,
            cast("QWidget", self.window),
        )
        box.setObjectName("modelCardBox")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.open()
        self.card_box = box

    def _show(self) -> None:
        """Name the model in use in the status bar, its card as the tooltip."""
        self.label.setText(f"Model: {'not available' if self.model is None else self.model.name}")
        self.label.setToolTip(self.card_text())
