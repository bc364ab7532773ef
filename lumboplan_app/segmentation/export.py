"""Export a model to ONNX, so that the shipped app segments without PyTorch.

``lumboplan export-onnx [WEIGHTS]`` writes ``<name>.onnx`` beside ``<name>.safetensors`` (the
TorchScript exporter, opset 17, batch and spatial axes dynamic), checks that ONNX Runtime gives
what PyTorch gives on a window, and records the file in the model card (``onnx``: its name,
its SHA-256 and the SHA-256 of the weights it came from); nothing else in the card changes.
Run it whenever weights are shipped. Needs PyTorch, MONAI and ``onnx`` (the 'train' extra).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np

from lumboplan_app.atomic import atomic_output, write_text_atomic
from lumboplan_app.errors import ModelError
from lumboplan_app.segmentation.model_card import (
    DEFAULT_WEIGHTS,
    card_path_for,
    file_sha256,
    read_card,
)

logger = logging.getLogger(__name__)

#: The ONNX operator set exported to (ONNX Runtime 1.14 and later run it).
OPSET = 17
#: Largest difference of logits allowed between ONNX Runtime and PyTorch (float32) on a window.
LOGIT_TOLERANCE = 1e-3


def export_onnx(weights: Path | None = None) -> tuple[Path, float]:
    """Export ``weights`` (the shipped model by default) to ONNX and record it in their card.

    Returns
    -------
    tuple of (Path, float)
        The ``.onnx`` file, and the largest difference between its logits and PyTorch's on a
        random window.

    Raises
    ------
    ModelError
        Weights or card missing or not matching, the export's logits differ from PyTorch's by
        more than :data:`LOGIT_TOLERANCE`, or PyTorch or ``onnx`` are not installed.
    """
    try:
        import torch

        from lumboplan_app.segmentation.inference import OnnxNetwork, TorchNetwork
    except ImportError as error:
        raise ModelError(
            "Exporting to ONNX needs PyTorch and MONAI: install LumboPlan with its 'train' extra."
        ) from error
    weights = weights or DEFAULT_WEIGHTS
    card = read_card(weights)
    network = TorchNetwork(weights, card, torch.device("cpu"))
    network.dtype = None  # exported in float32, whatever this CPU would compute in
    onnx_path = weights.with_suffix(".onnx")
    window = np.random.default_rng(0).standard_normal((1, 1, *card.patch_size), dtype=np.float32)
    spatial = {0: "batch", 2: "z", 3: "y", 4: "x"}
    with atomic_output(onnx_path) as temporary, warnings.catch_warnings():
        # The exporter warns about instance norm's training flag (MONAI's has no running
        # statistics: train and eval compute the same) and about constant folding.
        warnings.simplefilter("ignore", UserWarning)
        # The TorchScript exporter is deprecated in favour of torch.export's, which needs
        # onnxscript; this one exports BasicUNet exactly (checked below) and is kept.
        warnings.filterwarnings("ignore", "You are using the legacy", DeprecationWarning)
        try:
            torch.onnx.export(
                network.module,
                (torch.from_numpy(window),),
                str(temporary),
                dynamo=False,  # the TorchScript exporter: no onnxscript needed
                opset_version=OPSET,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": spatial, "logits": spatial},
            )
        except torch.onnx.OnnxExporterError as error:
            raise ModelError(
                f"The ONNX export failed ({error}); install the 'onnx' package (the 'train' extra)."
            ) from error
        difference = float(np.abs(OnnxNetwork(temporary)(window) - network(window)).max())
        if difference > LOGIT_TOLERANCE:
            raise ModelError(
                f"The ONNX export computes other logits than PyTorch (up to {difference:.2g} "
                "apart); it was not kept."
            )
    _record(weights, card.sha256, onnx_path, torch.__version__)
    logger.info("exported %s, logits within %.2g of torch", onnx_path.name, difference)
    return onnx_path, difference


def _record(weights: Path, weights_sha256: str, onnx_path: Path, torch_version: str) -> None:
    """Write the ``onnx`` entry into the card of ``weights``, right after ``sha256``."""
    card_path = card_path_for(weights)
    data = json.loads(card_path.read_text(encoding="utf-8"))
    entry = {
        "file": onnx_path.name,
        "sha256": file_sha256(onnx_path),
        "weights_sha256": weights_sha256,
        "opset": OPSET,
        "exporter": f"torch.onnx TorchScript exporter, torch {torch_version}",
    }
    updated = {}
    for key, value in data.items():
        if key != "onnx":
            updated[key] = value
        if key == "sha256":
            updated["onnx"] = entry
    write_text_atomic(card_path, json.dumps(updated, indent=2) + "\n")
