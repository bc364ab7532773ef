"""Which segmentation model the window uses: the shipped one, or one fine-tuned at the site.

The choice is a setting, ``settings.json`` in LumboPlan's settings folder
(:func:`~lumboplan_app.recovery.config_folder`)::

    {"schema": "lumboplan.settings/1", "segmentation_model": "/path/to/model.safetensors"}

(``null``: the shipped model), written atomically; keys it does not know are kept. A model is
taken only when it loads (:func:`load_model`): its card beside the weights, their SHA-256 as the
card says, LumboPlan's class ids, and a runtime here (its ONNX export, or PyTorch). Choosing a
model records where it is, nothing more: the shipped weights are never written or replaced. At
start (:func:`model_at_start`) a remembered model that no longer loads gives way to the shipped
one, with the reason to show: the window never changes model without saying so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.errors import LumboPlanError, ModelError
from lumboplan_app.segmentation.model_card import (
    ModelCard,
    card_summary,
    case_record,
    read_card,
)
from lumboplan_app.shipped import SHIPPED_WEIGHTS
from lumboplan_app.text import shown_text

logger = logging.getLogger(__name__)

SETTINGS_SCHEMA = "lumboplan.settings/1"
SETTINGS_FILE = "settings.json"
MODEL_KEY = "segmentation_model"
WEIGHTS_SUFFIX = ".safetensors"
_RUNTIMES = {
    "onnxruntime": "Runs on ONNX Runtime (its ONNX export, checked).",
    "torch": "Runs on PyTorch: the card records no matching ONNX export (make one with "
    "'lumboplan export-onnx' for installations without PyTorch).",
}


@dataclass(frozen=True)
class ChosenModel:
    """A model that loaded: its weights, their card, and the runtime it runs on here.

    Attributes
    ----------
    weights : Path
        The ``.safetensors`` file (its card ``.json`` beside it).
    card : ModelCard
        The card, checked against the weights.
    runtime : str
        ``"onnxruntime"`` or ``"torch"`` (see :func:`~lumboplan_app.segmentation.inference.
        runtime_for`).
    """

    weights: Path
    card: ModelCard
    runtime: str

    @property
    def shipped(self) -> bool:
        """Whether this is the model LumboPlan ships."""
        return self.weights.resolve() == SHIPPED_WEIGHTS.resolve()

    @property
    def name(self) -> str:
        """A short name: "shipped", or the fine-tuned weights' folder and file names."""
        if self.shipped:
            return "shipped"
        return f"fine-tuned, {shown_text(self.weights.parent.name)}/{shown_text(self.weights.name)}"

    def record(self) -> dict[str, str]:
        """Return what a case file records of this model (``case.json``'s ``model``)."""
        return case_record(self.weights, self.card)

    def description(self) -> str:
        """Return the model's card for the surgeon: which model, what and when, how good."""
        if self.shipped:
            first = "The shipped model."
        else:
            first = (
                f"A fine-tuned model: '{shown_text(self.weights.name)}' in the folder "
                f"'{shown_text(self.weights.parent.name)}'. The shipped model stays installed "
                "(Model > Use the shipped model)."
            )
        return f"{first}\n{card_summary(self.card)}\n{_RUNTIMES[self.runtime]}"


def load_model(weights: Path | None = None) -> ChosenModel:
    """Load and check the model of ``weights`` (None: the shipped one) without running it.

    Raises
    ------
    ModelError
        If the file is not a ``.safetensors`` file, the weights or their card are missing,
        damaged or do not match, the card is for other structures, or nothing here can run
        the model (no usable ONNX export and no PyTorch).
    """
    from lumboplan_app.segmentation.inference import runtime_for

    path = SHIPPED_WEIGHTS if weights is None else Path(weights)
    if path.suffix != WEIGHTS_SUFFIX:
        raise ModelError(
            f"'{shown_text(path.name)}' is not a model's weights: choose the .safetensors file "
            "that 'lumboplan train' wrote (its card .json beside it)."
        )
    card = read_card(path)
    return ChosenModel(path, card, runtime_for(path, card))


def settings_path() -> Path:
    """Return the settings file: ``settings.json`` in LumboPlan's settings folder."""
    from lumboplan_app.recovery import config_folder

    return config_folder() / SETTINGS_FILE


def _read_settings(path: Path) -> dict[str, Any]:
    """Return the settings in ``path`` ({} when there are none or they cannot be read)."""
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        logger.warning("the settings could not be read; LumboPlan starts with its defaults")
        return {}
    if not isinstance(settings, dict) or settings.get("schema", SETTINGS_SCHEMA) != SETTINGS_SCHEMA:
        logger.warning("the settings are not LumboPlan's; LumboPlan starts with its defaults")
        return {}
    return settings


def remembered_weights(path: Path | None = None) -> Path | None:
    """Return the weights the settings (``path``, else :func:`settings_path`) name, or None.

    None: the shipped model (nothing chosen, or settings that cannot be read).
    """
    chosen = _read_settings(path or settings_path()).get(MODEL_KEY)
    return Path(chosen) if isinstance(chosen, str) and chosen else None


def remember_model(model: ChosenModel, path: Path | None = None) -> None:
    """Record ``model`` as the window's model in the settings (``path``; atomic).

    The shipped model is recorded as null, so a new installation's shipped model is used.

    Raises
    ------
    WriteError
        If the settings cannot be written (the previous file is kept).
    """
    path = path or settings_path()
    settings = {**_read_settings(path), "schema": SETTINGS_SCHEMA}
    settings[MODEL_KEY] = None if model.shipped else str(model.weights.resolve())
    write_text_atomic(path, json.dumps(settings, indent=2) + "\n")


def model_at_start(path: Path | None = None) -> tuple[ChosenModel | None, str | None]:
    """Return the model the window starts with, and what to tell the surgeon about it.

    The model the settings (``path``) name if it loads; else the shipped one, with the reason
    the chosen one did not load. The model is None when not even the shipped one loads (a
    damaged installation: segmenting says what to do).
    """
    weights = remembered_weights(path)
    notice = None
    if weights is not None:
        try:
            return load_model(weights), None
        except LumboPlanError as error:
            logger.warning("the fine-tuned model chosen in the settings could not be loaded")
            notice = (
                f"The fine-tuned model chosen in the settings cannot be used: {error} LumboPlan "
                "segments with the shipped model until you choose again (Model > Use a "
                "fine-tuned model…)."
            )
    try:
        return load_model(None), notice
    except LumboPlanError:
        logger.warning("the shipped model could not be loaded")
        return None, notice
