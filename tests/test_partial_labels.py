"""Partial labels: what a partially labelled scan allows, the partial-label loss, the scores."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from lumboplan_app.labels import Part, Structure
from lumboplan_app.phantom.case import generate_case
from lumboplan_app.phantom.mr import Acquisition, default_contrast
from lumboplan_app.segmentation import inference
from lumboplan_app.segmentation.losses import class_bits, masked_dice, partial_label_loss
from lumboplan_app.segmentation.partial_labels import (
    ALL_CLASSES,
    OTHER_LEVEL,
    allowed_classes,
    bit,
    disc_dice,
    l5_body_dice,
    wrong_level_share,
)
from lumboplan_app.segmentation.training import case_weights

CLASSES = len(Structure)


def _one_hot_masks(labels: torch.Tensor) -> torch.Tensor:
    return (1 << labels).to(torch.uint8)


def test_on_full_labels_the_loss_is_monais_dice_plus_cross_entropy() -> None:
    from monai.losses import DiceCELoss

    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(2, CLASSES, 6, 5, 4, generator=generator)
    labels = torch.randint(0, CLASSES, (2, 1, 6, 5, 4), generator=generator)
    expected = DiceCELoss(to_onehot_y=True, softmax=True)(logits, labels)
    assert float(partial_label_loss(logits, _one_hot_masks(labels))) == pytest.approx(
        float(expected), rel=1e-5
    )


def test_the_marginal_cross_entropy_sums_the_allowed_classes() -> None:
    # One voxel; classes 1 and 2 allowed: the cross-entropy is -log(p1 + p2).
    logits = torch.tensor([0.0, 1.0, 2.0, 0.5, -1.0, 0.0, 0.3]).view(1, CLASSES, 1, 1, 1)
    mask = torch.tensor(bit(Structure.L5) | bit(Structure.DISC), dtype=torch.uint8)
    probabilities = torch.softmax(logits.flatten(), dim=0)
    marginal = -torch.log(probabilities[1] + probabilities[2])
    # Neither class is known alone on that voxel, and classes 0, 3-6 are known absent: their
    # soft Dice is (0 + e) / (p + e) each, the rest 1.
    smooth = 1e-5
    known_absent = [0, 3, 4, 5, 6]
    dice = sum(smooth / (float(probabilities[c]) + smooth) for c in known_absent) + 2
    expected = float(marginal) + 1 - dice / CLASSES
    loss = partial_label_loss(logits, mask.view(1, 1, 1, 1, 1))
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_an_unlabelled_voxel_is_not_held_to_any_class() -> None:
    # Two voxels labelled L5 and background; a third unlabelled voxel (every class allowed)
    # must not change the loss whatever the network says there.
    base = torch.zeros(1, CLASSES, 1, 1, 3)
    base[0, Structure.L5, 0, 0, 0] = 4.0
    base[0, Structure.BACKGROUND, 0, 0, 1] = 4.0
    mask = torch.tensor([bit(Structure.L5), bit(Structure.BACKGROUND), ALL_CLASSES])
    mask = mask.to(torch.uint8).view(1, 1, 1, 1, 3)
    losses = []
    for favoured in (Structure.L5, Structure.SKIN, Structure.BACKGROUND):
        logits = base.clone()
        logits[0, favoured, 0, 0, 2] = 9.0
        losses.append(float(partial_label_loss(logits, mask)))
    assert losses == pytest.approx([losses[0]] * 3, rel=1e-6)


def test_padding_carries_no_loss() -> None:
    logits = torch.randn(1, CLASSES, 2, 2, 2)
    mask = torch.zeros(1, 1, 2, 2, 2, dtype=torch.uint8)
    mask[0, 0, 0, 0, 0] = bit(Structure.S1)
    padded_logits = logits.clone()
    padded_logits[0, :, 1] = torch.randn(CLASSES, 2, 2) * 10
    assert float(partial_label_loss(padded_logits, mask)) == pytest.approx(
        float(partial_label_loss(logits, mask)), rel=1e-6
    )


def _vertebral_column() -> np.ndarray:
    """A 1 mm partial map: L5 body (1) at z 40-64, the L4 body above it (255)."""
    labels = np.zeros((120, 160, 120), dtype=np.uint8)
    labels[40:65, 30:65, 40:80] = Structure.L5
    labels[75:100, 30:65, 40:80] = OTHER_LEVEL
    return labels


def test_a_partial_map_allows_what_anatomy_does_not_rule_out() -> None:
    labels = _vertebral_column()
    mask = allowed_classes(labels, (1.0, 1.0, 1.0), partial=True)
    allowed = class_bits(torch.from_numpy(mask)[None, None], CLASSES)[0].numpy()
    assert (mask[labels == Structure.L5] == bit(Structure.L5)).all()
    assert not allowed[Structure.L5][labels == OTHER_LEVEL].any()
    assert not allowed[Structure.S1][labels == OTHER_LEVEL].any()
    assert allowed[Structure.BACKGROUND][labels == OTHER_LEVEL].all()
    assert allowed[Structure.L5, 52, 110, 60]  # 45 mm behind the body: the spinous process
    assert not allowed[Structure.L5, 10, 50, 60]  # 30 mm below the body: S1, not L5
    assert not allowed[Structure.L5, 52, 10, 60]  # 20 mm in front: the abdomen
    assert allowed[Structure.DISC, 35, 50, 60]  # just under the body
    assert not allowed[Structure.DISC, 70, 50, 60]  # above its middle
    assert not allowed[Structure.S1, 58, 40, 60]  # in the body's upper half
    assert allowed[Structure.S1, 58, 75, 60]  # behind it: the S1 superior articular process
    assert not allowed[Structure.S1, 70, 110, 60]  # above the body's top
    assert allowed[Structure.L5, 90, 80, 60]  # 25 mm above it, behind: L5's superior process
    assert allowed[Structure.NERVES, 70, 110, 60]  # the canal above the body
    assert not allowed[Structure.L5, 52, 27, 60]  # 3 mm in front of the body
    assert not allowed[Structure.L5, 52, 50, 30]  # 10 mm beside it: the psoas
    assert not allowed[Structure.L5, 30, 50, 60]  # 10 mm under it: the L5/S1 disc
    assert allowed[Structure.L5, 58, 68, 45]  # just behind its back: a pedicle
    assert not allowed[Structure.L5, 52, 70, 60]  # 6 mm behind it, in the middle: the canal
    assert allowed[Structure.L5, 52, 75, 60]  # 11 mm behind it: the lamina may lie there
    assert not allowed[Structure.NERVES, 32, 50, 60]  # the L5/S1 disc, in front of the canal
    assert allowed[Structure.NERVES, 32, 75, 60]  # behind the body's back: the canal


def test_every_structure_drawn_on_a_partial_map_is_supervised() -> None:
    labels = _vertebral_column()
    labels[10:20, 100:110, 55:65] = Structure.NERVES
    mask = allowed_classes(labels, (1.0, 1.0, 1.0), partial=True)
    assert (mask[labels == Structure.NERVES] == bit(Structure.NERVES)).all()


def test_a_drawn_disc_is_the_disc_everywhere() -> None:
    labels = np.zeros((100, 80, 60), dtype=np.uint8)
    labels[40:48, 20:50, 15:45] = Structure.DISC
    labels[60:70, 20:50, 15:45] = OTHER_LEVEL
    mask = allowed_classes(labels, (1.0, 1.0, 1.0), partial=True)
    allowed = class_bits(torch.from_numpy(mask)[None, None], CLASSES)[0].numpy()
    assert not allowed[Structure.DISC][labels == 0].any()
    assert allowed[Structure.L5, 55, 30, 30]  # above the disc
    assert not allowed[Structure.L5, 30, 30, 30]  # under it, where it lies: S1
    assert allowed[Structure.L5, 30, 60, 30]  # under it, behind it: the L5 inferior processes
    assert not allowed[Structure.S1, 85, 30, 30]  # far above it


def test_a_full_map_allows_one_class_per_voxel() -> None:
    labels = np.array([[[0, 1, 2, 3, 4, 5, 6]]], dtype=np.uint8)
    mask = allowed_classes(labels, (1.0, 1.0, 1.0), partial=False)
    assert mask.tolist() == [[[1, 2, 4, 8, 16, 32, 64]]]


def test_masked_dice_scores_only_what_a_partial_map_knows() -> None:
    labels = _vertebral_column()
    mask = torch.from_numpy(allowed_classes(labels, (1.0, 1.0, 1.0), partial=True))
    predicted = np.zeros_like(labels)
    predicted[labels == Structure.L5] = Structure.L5
    predicted[40:65, 75:110, 55:65] = Structure.L5  # the arch, behind the canal: not labelled
    predicted[0:20, 100:120, 50:70] = Structure.NERVES  # not labelled: not scored
    scores = masked_dice(torch.from_numpy(predicted), mask, CLASSES)
    assert scores[Structure.L5] == pytest.approx(1.0)
    assert Structure.NERVES not in scores
    padded = mask.clone()
    padded[:, :, :5] = 0  # padding: whatever is predicted there is not scored
    in_padding = predicted.copy()
    in_padding[:, :, :5] = Structure.L5
    assert masked_dice(torch.from_numpy(in_padding), padded, CLASSES)[Structure.L5] == 1.0
    predicted[75:100, 30:65, 40:80] = Structure.L5  # L4 called L5: a wrong level
    scores = masked_dice(torch.from_numpy(predicted), mask, CLASSES)
    assert scores[Structure.L5] == pytest.approx(2 / 3)  # as many wrong voxels as right: 2B/3B


def test_the_l5_body_dice_ignores_the_arch_and_counts_wrong_levels() -> None:
    truth = _vertebral_column()
    predicted = np.zeros_like(truth)
    predicted[truth == Structure.L5] = Structure.L5
    predicted[40:65, 65:110, 55:65] = Structure.L5  # pedicles and arch behind the body
    assert l5_body_dice(predicted, truth, (1.0, 1.0, 1.0)) == pytest.approx(1.0)
    assert wrong_level_share(predicted, truth, Structure.L5) == 0.0
    predicted[40:52] = 0  # the lower half of the body missed
    assert l5_body_dice(predicted, truth, (1.0, 1.0, 1.0)) == pytest.approx(2 * 13 / (13 + 25))
    predicted[75:100, 30:65, 40:80] = Structure.L5
    share = wrong_level_share(predicted, truth, Structure.L5)
    assert share == pytest.approx(25 * 35 * 40 / (predicted == Structure.L5).sum())
    assert np.isnan(disc_dice(predicted, truth))


def test_reduced_precision_follows_the_cpu(monkeypatch) -> None:
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        monkeypatch.setattr(torch.cpu, name, lambda: False, raising=False)
    assert not inference.cpu_has_native_bfloat16()
    assert inference.inference_dtype(torch.device("cpu")) is None  # float32: bf16 is emulated
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert inference.inference_dtype(torch.device("cpu")) is torch.bfloat16
    assert inference.inference_dtype(torch.device("cuda")) is torch.float16


def test_the_l5_body_dice_follows_a_tilted_body_s_posterior_face() -> None:
    """A body leaning back (lordosis): its rearmost voxel, high up, lies behind the pedicles
    low down. They are the arch, not an error: a plane at the rearmost voxel would count them."""
    truth = np.zeros((80, 120, 100), dtype=np.uint8)
    for z in range(20, 50):
        front = 20 + (z - 20) // 2  # the body moves back 1 mm every 2 mm up: 15 mm in all
        truth[z, front : front + 30, 30:70] = Structure.L5
    predicted = truth.copy()
    for z in range(20, 35):
        back = 20 + (z - 20) // 2 + 30
        predicted[z, back : back + 12, 30:36] = Structure.L5  # left pedicle
        predicted[z, back : back + 12, 64:70] = Structure.L5  # right pedicle
    assert l5_body_dice(predicted, truth, (1.0, 1.0, 1.0)) == pytest.approx(1.0)
    predicted[40:50, 26:29, 40:60] = Structure.L5  # 3 mm too far forward at the top: an error
    body, wrong = 30 * 30 * 40, 10 * 3 * 20
    assert l5_body_dice(predicted, truth, (1.0, 1.0, 1.0)) == pytest.approx(
        2 * body / (2 * body + wrong)
    )


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_no_true_voxel_of_a_phantom_is_ruled_out_by_its_l5_body(seed: int) -> None:
    """The anatomical exclusions, checked on phantoms with every part known: drawn the L5 body
    alone (as on the real scans), no voxel of any structure loses its true class, and the true
    L5 scores as the body it holds."""
    scan = Acquisition(
        plane="sagittal",
        in_plane_mm=1.2,
        slice_mm=1.5,
        fov_half_mm=(45.0, 70.0, 70.0),
        fov_centre_mm=(0.0, 10.0, 5.0),
    )
    case = generate_case(seed, acquisition=scan, contrast=default_contrast())
    partial = np.where(case.parts.array == Part.L5_BODY, Structure.L5, 0).astype(np.uint8)
    spacing = tuple(float(s) for s in case.labels.grid.spacing_xyz_mm[::-1])
    mask = allowed_classes(partial, spacing, partial=True)
    truth = case.labels.array
    true_class_allowed = (mask >> truth) & 1
    assert true_class_allowed.all()
    # ... and the exclusions bite: L5 and the nerves are ruled out somewhere near the body.
    near_body = ndimage.binary_dilation(partial > 0, iterations=4) & (partial == 0)
    assert not ((mask[near_body] >> Structure.L5) & 1).all()
    assert not ((mask >> Structure.NERVES) & 1).all()
    # A perfect L5, arch and all, scores (nearly) 1 against the body alone.
    assert l5_body_dice(truth, partial, spacing) > 0.98


def test_partial_cases_make_the_share_of_draws_asked_for() -> None:
    weights = case_weights([True, False, False, False], 0.5)
    assert weights.tolist() == pytest.approx([0.5, 1 / 6, 1 / 6, 1 / 6])
    assert case_weights([True, False], None).tolist() == [0.5, 0.5]
    assert case_weights([False, False], 0.9).tolist() == [0.5, 0.5]  # one kind: the share is moot
