"""The network: MONAI's BasicUNet, the paper's family, sized by the model card.

A 3-D U-Net with 3x3x3 convolutions, trilinear upsampling and one output per class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lumboplan_app.errors import ModelError
from lumboplan_app.segmentation.model_card import ModelCard

if TYPE_CHECKING:
    import torch


def build_network(card: ModelCard) -> torch.nn.Module:
    """Build the untrained network a card describes."""
    from monai.networks.nets import BasicUNet

    if card.architecture != "BasicUNet":
        raise ModelError(f"Unknown architecture {card.architecture!r} in the model card.")
    if len(card.features) != 6:
        raise ModelError("The model card's 'features' must list 6 channel counts.")
    if any(size < 32 or size % 16 for size in card.patch_size):
        raise ModelError(
            f"The patch size {tuple(card.patch_size)} does not fit the U-Net: each side must be "
            "a multiple of 16 and at least 32 voxels (it halves the patch four times)."
        )
    return BasicUNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=card.class_count,
        features=card.features,
        upsample="nontrainable",  # trilinear interpolation, as in the paper
    )
