"""The model card: everything needed to use a set of weights, and the weights' own checks.

Weights are ``.safetensors`` only (no pickle: loading them cannot run code). Beside each file a
card (JSON, schema ``lumboplan.model/1``) states the architecture and its hyper-parameters, the
class ids, the input spacing and patch size, the intensity normalisation, the training data,
the cross-validation metrics and the SHA-256 of the weights. Preprocessing is read from the card,
never hard-coded at inference (nnU-Net's rule). Loading refuses weights whose hash or class ids
do not match.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lumboplan_app.atomic import atomic_output, write_text_atomic
from lumboplan_app.errors import ModelError
from lumboplan_app.labels import Structure
from lumboplan_app.shipped import SHIPPED_WEIGHTS

CARD_SCHEMA = "lumboplan.model/1"
#: The shipped weights (in the installed package, or ``model_weights/`` in a checkout).
DEFAULT_WEIGHTS = SHIPPED_WEIGHTS


@dataclass(frozen=True)
class ModelCard:
    """What a set of weights is and how to use it.

    Parameters
    ----------
    architecture : str
        ``"BasicUNet"`` (MONAI): a 3-D U-Net, 3x3x3 convolutions, trilinear upsampling.
    features : tuple of int
        Channels per level (5 encoder levels and the last decoder level), MONAI's ``features``.
    class_ids : dict of str to int
        Output channel of each structure (DESIGN.md's ids).
    spacing_mm : float
        Isotropic voxel size the model works at; scans are resampled to it.
    patch_size : tuple of int
        Sliding-window and training patch, (z, y, x) voxels.
    normalisation : dict
        ``{"kind": "percentile_zscore", "low": 0.5, "high": 99.5}``: clip to the percentiles,
        then subtract the mean and divide by the standard deviation of the clipped values.
    training_data : str
        What the model was trained on, truthfully.
    metrics : dict
        Measured results (cross-validation and held-out), per structure.
    sha256 : str
        Hash of the weights file.
    onnx : dict
        The weights exported to ONNX (``lumboplan export-onnx``), empty when not exported:
        ``file`` (name, beside the weights), ``sha256`` (of that file), ``weights_sha256``
        (of the weights it was exported from), ``opset``, ``exporter``.
    extra : dict
        Provenance: seeds, library versions, git commit, training arguments.
    """

    architecture: str = "BasicUNet"
    features: tuple[int, ...] = (16, 32, 64, 128, 256, 16)
    class_ids: dict[str, int] = field(
        default_factory=lambda: {s.name.lower(): int(s) for s in Structure}
    )
    spacing_mm: float = 1.5
    patch_size: tuple[int, int, int] = (96, 96, 96)
    normalisation: dict[str, Any] = field(
        default_factory=lambda: {"kind": "percentile_zscore", "low": 0.5, "high": 99.5}
    )
    training_data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""
    onnx: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def class_count(self) -> int:
        """Number of output channels."""
        return len(self.class_ids)

    def to_json(self) -> dict[str, Any]:
        """Return the card as a JSON-ready dict."""
        return {"schema": CARD_SCHEMA, **asdict(self)}

    @staticmethod
    def from_json(data: dict[str, Any]) -> ModelCard:
        """Read a card; raise ModelError when it is not one LumboPlan understands."""
        if data.get("schema") != CARD_SCHEMA:
            raise ModelError(
                f"The model card has schema {data.get('schema')!r}, not {CARD_SCHEMA!r}: these "
                "weights were made for another version of LumboPlan."
            )
        fields = {k: v for k, v in data.items() if k != "schema"}
        fields["features"] = tuple(fields.get("features", ()))
        fields["patch_size"] = tuple(fields.get("patch_size", ()))
        return ModelCard(**fields)


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def card_path_for(weights: Path) -> Path:
    """Return the card path of a weights file: ``model.safetensors`` -> ``model.json``."""
    return weights.with_suffix(".json")


def read_card(weights: Path) -> ModelCard:
    """Read and check the card of ``weights``: present, readable, hash and class ids match.

    Raises
    ------
    ModelError
        If the weights or the card are missing, the card is unreadable, the weights' SHA-256
        differs from the card's (damaged or tampered file), or the class ids are not DESIGN.md's.
    """
    if not weights.is_file():
        raise ModelError(
            f"The model weights '{weights.name}' are missing. Reinstall LumboPlan, or give "
            "--weights with a trained model."
        )
    card_path = card_path_for(weights)
    try:
        card = ModelCard.from_json(json.loads(card_path.read_text(encoding="utf-8")))
    except FileNotFoundError as error:
        raise ModelError(
            f"The model card '{card_path.name}' is missing beside the weights; weights without "
            "their card cannot be used safely."
        ) from error
    except (OSError, ValueError, TypeError, AttributeError) as error:
        # Not JSON, not UTF-8, not an object, values of the wrong kind, or not a readable file.
        raise ModelError(
            f"The model card '{card_path.name}' is damaged or is no LumboPlan model card."
        ) from error
    actual = file_sha256(weights)
    if actual != card.sha256:
        raise ModelError(
            f"The weights '{weights.name}' do not match their model card (SHA-256 differs): the "
            "file is damaged or was changed. Reinstall LumboPlan or retrain."
        )
    expected = {s.name.lower(): int(s) for s in Structure}
    if card.class_ids != expected:
        raise ModelError(
            "These weights label other structures than LumboPlan's seven "
            f"({sorted(card.class_ids)}); they cannot be used for planning."
        )
    return card


def onnx_path_for(weights: Path, card: ModelCard) -> Path:
    """Return the ONNX export of ``weights`` its card records, checked.

    Raises
    ------
    ModelError
        If the card records no export, the export is of other weights, or the ``.onnx`` file
        is missing or its SHA-256 differs from the card's (damaged or changed).
    """
    if not card.onnx:
        raise ModelError(
            f"The model card of '{weights.name}' records no ONNX export; run "
            "'lumboplan export-onnx' where PyTorch is installed."
        )
    path = weights.parent / Path(str(card.onnx.get("file", ""))).name  # beside, never elsewhere
    if card.onnx.get("weights_sha256") != card.sha256:
        raise ModelError(
            f"The ONNX model '{path.name}' was exported from other weights than "
            f"'{weights.name}'; run 'lumboplan export-onnx' again."
        )
    if not path.is_file():
        raise ModelError(f"The ONNX model '{path.name}' is missing. Reinstall LumboPlan.")
    if file_sha256(path) != card.onnx.get("sha256"):
        raise ModelError(
            f"The ONNX model '{path.name}' does not match its model card (SHA-256 differs): the "
            "file is damaged or was changed. Reinstall LumboPlan."
        )
    return path


def write_model(state: dict[str, Any], card: ModelCard, weights: Path) -> ModelCard:
    """Write ``state`` (name -> tensor) as safetensors and its card with the hash; atomic.

    Returns the card as written (with ``sha256`` filled in).
    """
    from safetensors.torch import save_file

    with atomic_output(weights) as temporary:
        save_file({k: v.detach().cpu().contiguous() for k, v in state.items()}, str(temporary))
        # New weights: an ONNX export of other weights no longer describes them.
        written = ModelCard(**{**asdict(card), "sha256": file_sha256(temporary), "onnx": {}})
        write_text_atomic(card_path_for(weights), json.dumps(written.to_json(), indent=2))
    return written


def case_record(weights: Path, card: ModelCard) -> dict[str, str]:
    """Return what a case file records of the model that segmented it (``case.json``'s model)."""
    return {"file": weights.name, "sha256": card.sha256, "training_data": card.training_data}


def card_summary(card: ModelCard) -> str:
    """Return the card in a few lines for the window: what, trained on what and when, how good.

    The card's free-form entries (``metrics``, ``extra``) are read with care: what is missing
    or malformed is said to be missing, never an error.
    """
    extra = card.extra if isinstance(card.extra, dict) else {}
    metrics = card.metrics if isinstance(card.metrics, dict) else {}
    lines = [
        f"{card.architecture}, features {'-'.join(str(n) for n in card.features)}, "
        f"{card.spacing_mm:g} mm voxels, {'x'.join(str(n) for n in card.patch_size)} patches.",
        f"Trained on: {card.training_data or 'not stated'}.",
        f"Trained: {extra.get('trained') or 'date not recorded'}.",
    ]
    start = extra.get("fine_tuned_from")
    if isinstance(start, dict) and start.get("sha256"):
        named = f" ('{start['file']}')" if start.get("file") else ""
        digest = str(start["sha256"])[:16]
        lines.append(f"Fine-tuned from the weights{named} with SHA-256 {digest}….")
    held_out = metrics.get("held_out")
    scores = _dice_scores(held_out.get("per_structure") if isinstance(held_out, dict) else None)
    if scores and isinstance(held_out, dict):
        mean = _finite(held_out.get("mean_dice"))
        lines.append(
            f"Dice on {held_out.get('cases', '?')} held-out phantoms: {scores}"
            + (f"; mean {mean:.2f}." if mean is not None else ".")
        )
    cross = metrics.get("cross_validation_dice")
    scores = _dice_scores(cross)
    if scores:
        lines.append(f"Cross-validation Dice (mean over folds): {scores}.")
    if not any(line.startswith(("Dice on", "Cross-validation")) for line in lines):
        lines.append("No measured metrics in the card.")
    lines.append(f"Weights SHA-256 {card.sha256} (checked on load).")
    return "\n".join(lines)


def _finite(value: Any) -> float | None:
    """Return ``value`` as a float if it is a finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _dice_scores(per_structure: Any) -> str:
    """Return "l5 0.95, disc 0.94, ..." of a card's per-structure table ('' if none).

    Each entry is ``{"dice": x}`` (held-out) or ``{"mean": x, ...}`` (cross-validation).
    """
    if not isinstance(per_structure, dict):
        return ""
    scores = []
    for name, values in per_structure.items():
        if isinstance(values, dict):
            value = _finite(values.get("dice", values.get("mean")))
            if value is not None:
                scores.append(f"{name} {value:.2f}")
    return ", ".join(scores)
