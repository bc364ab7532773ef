"""The training loss for fully and partially labelled scans alike.

Targets are bit masks of the classes each voxel may take (see
:func:`lumboplan_app.segmentation.partial_labels.allowed_classes`; ``0`` = no target, e.g. the
padding). On a fully labelled case each voxel allows one class and the loss is MONAI's
``DiceCELoss(softmax=True, to_onehot_y=True)``; on a partial case it follows Shi et al. (Medical
Image Analysis 2021): the *marginal* cross-entropy ``-log(sum of the allowed classes'
probabilities)`` supervises only what the labels rule out, and each class's soft Dice is taken
over the voxels whose membership of that class is known (labelled as it, or excluding it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: MONAI's Dice smoothing terms (``smooth_nr``, ``smooth_dr``), kept to match it exactly.
_SMOOTH = 1e-5


def class_bits(mask: torch.Tensor, classes: int) -> torch.Tensor:
    """Expand a bit-mask target (B, 1, ...) to booleans (B, classes, ...): class allowed."""
    import torch

    shifts = torch.arange(classes, device=mask.device).view(1, classes, *([1] * (mask.dim() - 2)))
    return ((mask.long() >> shifts) & 1).bool()


def partial_label_loss(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Marginal cross-entropy + masked soft Dice of ``logits`` (B, C, ...) against ``mask``.

    ``mask`` (B, 1, ...) holds each voxel's allowed classes as bits; voxels with no allowed
    class carry no loss.
    """
    import torch

    classes = logits.shape[1]
    allowed = class_bits(mask, classes)
    valid = allowed.any(dim=1)
    log_probabilities = torch.log_softmax(logits.float(), dim=1)
    marginal = torch.logsumexp(log_probabilities.masked_fill(~allowed, float("-inf")), dim=1)
    cross_entropy = -(marginal[valid]).sum() / valid.sum().clamp(min=1)
    probabilities = log_probabilities.exp()
    single = allowed.sum(dim=1, keepdim=True) == 1
    target = (allowed & single).float()
    known = (target.bool() | ~allowed) & valid.unsqueeze(1)
    known_f = known.float()
    spatial = tuple(range(2, logits.dim()))
    intersection = (probabilities * target * known_f).sum(dim=spatial)
    denominator = (probabilities * known_f).sum(dim=spatial) + (target * known_f).sum(dim=spatial)
    dice = (2.0 * intersection + _SMOOTH) / (denominator + _SMOOTH)
    return cross_entropy + (1.0 - dice).mean()


def masked_dice(predicted: torch.Tensor, mask: torch.Tensor, classes: int) -> dict[int, float]:
    """Dice of each class a target labels, over the voxels whose membership is known.

    ``predicted`` (...) holds class ids, ``mask`` (...) the allowed-class bits. A class is scored
    where the mask labels some voxel as it alone, or where the mask labels every voxel (a fully
    labelled case: an absent class predicted nowhere scores 1).
    """
    allowed = class_bits(mask[None, None], classes)[0]
    single = allowed.sum(dim=0) == 1
    fully_labelled = bool((single | (mask == 0)).all())
    scores = {}
    for class_id in range(classes):
        target = allowed[class_id] & single
        if not fully_labelled and not bool(target.any()):
            continue
        known = (target | ~allowed[class_id]) & (mask != 0)  # not the padding
        hit = predicted == class_id
        overlap = int((hit & target & known).sum())
        total = int((hit & known).sum()) + int((target & known).sum())
        scores[class_id] = 1.0 if total == 0 else 2.0 * overlap / total
    return scores
