"""Training on a site's own labelled scans (or phantoms): k-fold, seeded, resumable.

Each ``DATA_DIR`` (one or more, mixed) holds one folder per case with ``image.nii.gz`` and
``labels.nii.gz`` (all seven structures: the phantom layout) or ``partial_labels.nii.gz`` (only
some structures drawn, 0 = not labelled, 255 = another vertebral level; see
:mod:`lumboplan_app.segmentation.partial_labels`), or nnU-Net's ``imagesTr/NAME_0000.nii.gz`` +
``labelsTr/NAME.nii.gz``. Cases are split into folds with a seeded generator. Each fold starts
from random weights or from given ones (``init_weights``: fine-tuning), trains on random patches
(centred on each class in turn, the nerves twice as often) with augmentation for many MR
protocols (:mod:`lumboplan_app.segmentation.augmentation`; each step's patches fixed by the seed
and the step, made here or by ``workers`` processes: :mod:`lumboplan_app.segmentation.batches`),
the partial-label loss (Dice +
cross-entropy on fully labelled cases; :mod:`lumboplan_app.segmentation.losses`) and Adam with
nnU-Net's polynomial learning-rate decay; every ``validate_every`` steps it measures the Dice of
each structure its validation cases label, writes a checkpoint (resume continues from it) and a
line to ``metrics.jsonl``; it stops early when the mean Dice has not improved for ``patience``
validations. The best state of each fold is written as ``fold_K/model.safetensors``
with its card; the fold with the best validation Dice
becomes ``lumboplan_unet.safetensors``, whose card holds the cross-validation metrics.

Multi-GPU: launch with ``torchrun --nproc_per_node=N -m lumboplan_app.cli train ...``; each
process trains on its own patches, gradients are averaged by DistributedDataParallel, and only
rank 0 validates and writes files.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import shutil
import subprocess
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from lumboplan_app.atomic import atomic_output, write_text_atomic
from lumboplan_app.errors import Cancelled, LoadError, ModelError
from lumboplan_app.io import read_label_map, read_scan
from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure
from lumboplan_app.progress import CancelCheck, ProgressCallback
from lumboplan_app.segmentation.augmentation import training_sample
from lumboplan_app.segmentation.batches import BatchMaker, mapped
from lumboplan_app.segmentation.losses import masked_dice, partial_label_loss
from lumboplan_app.segmentation.model_card import ModelCard, read_card, write_model
from lumboplan_app.segmentation.network import build_network
from lumboplan_app.segmentation.partial_labels import OTHER_LEVEL, allowed_classes
from lumboplan_app.segmentation.preprocess import transforms_for
from lumboplan_app.shipped import SHIPPED_WEIGHTS

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

FINAL_WEIGHTS = "lumboplan_unet.safetensors"
PARTIAL_LABELS = "partial_labels.nii.gz"


@dataclass(frozen=True)
class TrainingConfig:
    """Training settings (written into the model card's ``extra``)."""

    folds: int = 5
    fold: int | None = None
    max_steps: int = 3000
    batch_size: int = 2
    learning_rate: float = 1e-3
    validate_every: int = 100
    patience: int = 6
    seed: int = 0
    device: str = "auto"
    spacing_mm: float = 1.5
    patch_size: tuple[int, int, int] = (96, 96, 96)
    features: tuple[int, ...] = (16, 32, 64, 128, 256, 16)
    training_data: str = ""
    init_weights: str = ""
    #: Share of each batch's patches drawn from partially labelled cases (None: every case
    #: equally often, whatever its kind).
    partial_share: float | None = None
    #: Worker processes making the augmented patches ahead of the network (0: none).
    workers: int = 0


@dataclass
class _FoldState:
    """Where a fold's training stands (saved in its checkpoint)."""

    step: int = 0
    best: float = -1.0
    best_scores: dict[str, float] = field(default_factory=dict)
    stale: int = 0


@dataclass(frozen=True)
class TrainingCase:
    """One labelled scan on disk; ``partial`` when its labels use the partial coding."""

    name: str
    image: Path
    labels: Path
    partial: bool = False


def find_cases(data_dirs: Sequence[Path], at_least: int = 2) -> list[TrainingCase]:
    """Find the image/label pairs under each of ``data_dirs`` (phantom or nnU-Net layout).

    A case is named by its folder (nnU-Net: its file's stem). Where cases of two data folders
    share a name (phantoms of one seed made with another contrast or field of view), each of
    them is named ``DATA_DIR/NAME`` instead, so the card tells them apart.

    Raises
    ------
    LoadError
        If fewer than ``at_least`` pairs are found (training needs two), or two cases keep one
        name (a data folder given twice, or two data folders of one name).
    """
    found: list[tuple[Path, TrainingCase]] = []
    for data_dir in data_dirs:
        for folder in sorted(p for p in data_dir.iterdir() if p.is_dir()):
            image = folder / "image.nii.gz"
            for name, partial in (("labels.nii.gz", False), (PARTIAL_LABELS, True)):
                if image.is_file() and (folder / name).is_file():
                    found.append(
                        (data_dir, TrainingCase(folder.name, image, folder / name, partial))
                    )
                    break
        images, labels = data_dir / "imagesTr", data_dir / "labelsTr"
        if images.is_dir() and labels.is_dir():
            for image in sorted(images.glob("*_0000.nii.gz")):
                name = image.name[: -len("_0000.nii.gz")]
                if (labels / f"{name}.nii.gz").is_file():
                    found.append((data_dir, TrainingCase(name, image, labels / f"{name}.nii.gz")))
    counts = Counter(case.name for _, case in found)
    cases = [
        replace(case, name=f"{data_dir.name}/{case.name}") if counts[case.name] > 1 else case
        for data_dir, case in found
    ]
    names = Counter(case.name for case in cases)
    twice = sorted(name for name, count in names.items() if count > 1)
    if twice:
        raise LoadError(
            f"Two cases are both named {twice[0]!r}: give each data folder once, and rename one "
            "of two data folders that share a name."
        )
    if len(cases) < at_least:
        where = ", ".join(f"'{d.name}'" for d in data_dirs)
        raise LoadError(
            f"Found {len(cases)} labelled case(s) in {where}; this needs at least {at_least} "
            f"folders holding image.nii.gz and labels.nii.gz or {PARTIAL_LABELS} (or imagesTr/ "
            "and labelsTr/)."
        )
    return cases


def split_folds(count: int, folds: int, seed: int) -> list[list[int]]:
    """Return each fold's validation case indices: a seeded shuffle cut into ``folds`` parts."""
    if not 2 <= folds <= count:
        raise ValueError(f"folds must be between 2 and the number of cases ({count})")
    order = np.random.default_rng(seed).permutation(count)
    return [sorted(int(i) for i in part) for part in np.array_split(order, folds)]


def train(
    data_dirs: Sequence[Path],
    model_dir: Path,
    config: TrainingConfig,
    progress: ProgressCallback | None = None,
    should_cancel: CancelCheck | None = None,
) -> ModelCard:
    """Train the requested fold(s) and write the models; return the final model's card.

    With ``config.init_weights`` the network, its voxel size and its normalisation are those of
    the given weights (their card), and training starts from them.
    """
    import torch

    if (model_dir / FINAL_WEIGHTS).resolve() == SHIPPED_WEIGHTS.resolve():
        raise LoadError(
            f"'{model_dir.name}' holds the shipped model, which training would replace: write "
            "into another folder, and choose the new model in the window (Model > Use a "
            "fine-tuned model…) or give it with --weights."
        )
    cases = find_cases(data_dirs)
    folders = ", ".join(f"'{d.name}'" for d in data_dirs)
    card = ModelCard(
        features=tuple(config.features),
        spacing_mm=config.spacing_mm,
        patch_size=config.patch_size,
        training_data=config.training_data or f"{len(cases)} labelled scans from {folders}",
    )
    start = None
    if config.init_weights:
        start = read_card(Path(config.init_weights))
        card = replace(
            card,
            features=start.features,
            spacing_mm=start.spacing_mm,
            normalisation=start.normalisation,
        )
        config = replace(config, features=start.features, spacing_mm=start.spacing_mm)
    folds = split_folds(len(cases), config.folds, config.seed)
    chosen = range(config.folds) if config.fold is None else [config.fold]
    distributed = _setup_distributed()
    rank = torch.distributed.get_rank() if distributed else 0
    loaded_folder = model_dir / f"loaded-cases-{rank}"  # each rank its own, as its workers
    loaded: list[_Loaded] = []
    results: dict[int, dict[str, Any]] = {}
    try:
        loaded = _load_cases(cases, card, loaded_folder)
        for fold in chosen:
            validation = folds[fold]
            training = [i for i in range(len(cases)) if i not in validation]
            results[fold] = _train_fold(
                fold,
                [loaded[i] for i in training],
                case_weights([cases[i].partial for i in training], config.partial_share),
                [loaded[i] for i in validation],
                card,
                config,
                model_dir / f"fold_{fold}",
                distributed,
                progress,
                should_cancel,
            )
    finally:
        loaded.clear()  # unmapped first: Windows does not remove a mapped file
        shutil.rmtree(loaded_folder, ignore_errors=True)
    if distributed and torch.distributed.get_rank() != 0:
        return card
    return _write_final(model_dir, card, config, results, cases, folds, start)


#: A loaded case on the model's grid: ``image`` (1, Z, Y, X) float32, ``mask`` (1, Z, Y, X) uint8
#: (allowed-class bits) and ``indices`` (patch centres per class); see ``training_sample``.
_Loaded = dict[str, Any]


def _setup_distributed() -> bool:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return True


def _load_cases(cases: list[TrainingCase], card: ModelCard, folder: Path) -> list[_Loaded]:
    """Read, resample and normalise every case once (see :data:`_Loaded`), kept in ``folder``.

    Each case's arrays are written to ``folder`` as soon as it is loaded and mapped back from
    there (:func:`~lumboplan_app.segmentation.batches.mapped`), so the cases take disk, not the
    process's memory (59 cases at 1.5 mm: 863 MiB), and the patch workers share the same files.
    ``folder`` is made, replacing what a killed run left there; the caller removes it.

    Raises
    ------
    ModelError
        If ``folder`` cannot be written (a full disk, most likely).
    """
    resample, normalise = transforms_for(card)
    spacing = (card.spacing_mm,) * 3
    try:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    except OSError as error:
        raise _not_written(folder, error) from error
    loaded = []
    for index, case in enumerate(cases):
        volume = read_scan(case.image)
        labels = read_label_map(case.labels, reference=volume.grid)
        image = normalise(resample(volume).array)
        label_array = resample.labels(labels).array.astype(np.uint8)
        mask = allowed_classes(label_array, spacing, partial=case.partial)
        centre_classes = np.where(label_array == OTHER_LEVEL, 0, label_array).astype(np.uint8)
        sample = training_sample(image, mask, centre_classes, card.patch_size)
        try:
            loaded.append(mapped(sample, folder, f"case-{index}"))
        except OSError as error:
            raise _not_written(folder, error) from error
    return loaded


def _not_written(folder: Path, error: OSError) -> ModelError:
    return ModelError(
        f"The training cases could not be written into the model folder '{folder.parent.name}' "
        f"({error.strerror or error}). Check that it can be written and has room."
    )


def case_weights(partial: Sequence[bool], partial_share: float | None) -> npt.NDArray[np.float64]:
    """Probability of drawing each training case, so partial cases make ``partial_share`` of all.

    ``None``, or cases all of one kind: every case equally likely.
    """
    flags = np.asarray(partial, dtype=bool)
    weights = np.ones(flags.size)
    if partial_share is not None and flags.any() and not flags.all():
        weights[flags] = partial_share / flags.sum()
        weights[~flags] = (1.0 - partial_share) / (~flags).sum()
    return weights / weights.sum()


def poly_learning_rate(initial: float, step: int, max_steps: int) -> float:
    """nnU-Net's polynomial decay: ``initial * (1 - step / max_steps) ** 0.9``.

    Derived from the step alone, so a resumed run continues on the same schedule.
    """
    return initial * max(0.0, 1.0 - step / max_steps) ** 0.9


def _validate(
    network: torch.nn.Module, cases: list[_Loaded], card: ModelCard, device: torch.device
) -> dict[str, float]:
    """Dice of each structure, mean over the validation cases that label it; and their mean."""
    import torch
    from monai.inferers import sliding_window_inference

    network.eval()
    totals: dict[str, list[float]] = {}
    with torch.no_grad():
        for case in cases:
            image, mask = case["image"], case["mask"]
            tensor = torch.from_numpy(image)[None].to(device)
            logits = sliding_window_inference(tensor, card.patch_size, 1, network, overlap=0.25)
            predicted = cast("torch.Tensor", logits).argmax(dim=1)[0].cpu()
            case_scores = masked_dice(predicted, torch.from_numpy(mask[0]), len(Structure))
            for class_id, value in case_scores.items():
                if class_id != Structure.BACKGROUND:
                    totals.setdefault(Structure(class_id).name.lower(), []).append(value)
    network.train()
    scores = {name: float(np.mean(values)) for name, values in totals.items()}
    scores["mean"] = float(np.mean(list(scores.values())))
    return scores


def _read_checkpoint(path: Path, device: torch.device) -> dict[str, Any]:
    """Read a fold's checkpoint: tensors and plain values only (no code runs from the file).

    Raises
    ------
    ModelError
        If the file is damaged or holds anything else (the message says to delete it).
    """
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # a foreign file's pickle protocol: the error says it all
            warnings.simplefilter("ignore")
            saved = torch.load(path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise ModelError(
            f"The training checkpoint '{path.parent.name}/{path.name}' is damaged or not one "
            "LumboPlan wrote; delete it to train this fold from the start."
        ) from error
    if not isinstance(saved, dict) or not {"model", "optimizer", "state"} <= set(saved):
        raise ModelError(
            f"The training checkpoint '{path.parent.name}/{path.name}' is not one LumboPlan "
            "wrote; delete it to train this fold from the start."
        )
    return saved


def _train_fold(
    fold: int,
    training: list[_Loaded],
    weights: npt.NDArray[np.float64],
    validation: list[_Loaded],
    card: ModelCard,
    config: TrainingConfig,
    folder: Path,
    distributed: bool,
    progress: ProgressCallback | None,
    should_cancel: CancelCheck | None,
) -> dict[str, Any]:
    import torch
    from safetensors.torch import load_file

    from lumboplan_app.segmentation.inference import choose_device

    rank = torch.distributed.get_rank() if distributed else 0
    seed = config.seed * 1000 + fold * 10 + rank
    random.seed(seed)
    torch.manual_seed(seed)
    device = choose_device(config.device)
    network = build_network(card)
    if config.init_weights:
        try:
            network.load_state_dict(load_file(config.init_weights))
        except RuntimeError as error:
            raise ModelError(
                f"The weights '{Path(config.init_weights).name}' do not fit the network their "
                "card describes; give weights written by LumboPlan with their card."
            ) from error
    network.to(device)
    model: torch.nn.Module = network
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(network)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    state = _FoldState()
    checkpoint = folder / "checkpoint.pt"
    if checkpoint.is_file():
        saved = _read_checkpoint(checkpoint, device)
        network.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        state = _FoldState(**saved["state"])
        torch.set_rng_state(saved["torch_rng"].cpu())  # loaded onto the training device
        logger.info("fold %d resumed at step %d", fold, state.step)
    best_weights = folder / "model.safetensors"
    log = folder / "metrics.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    model.train()
    batches = BatchMaker(  # each rank's workers their own files
        training,
        weights,
        card,
        config.batch_size,
        seed,
        config.workers,
        files=folder / f"worker-files-{rank}",
    )
    try:
        recent_losses: list[float] = []
        while state.step < config.max_steps and state.stale < config.patience:
            if should_cancel is not None and should_cancel():
                raise Cancelled("Training stopped; the last checkpoint is kept and resumes.")
            images, masks = batches.batch(state.step)
            for group in optimizer.param_groups:
                group["lr"] = poly_learning_rate(config.learning_rate, state.step, config.max_steps)
            loss = partial_label_loss(model(images.to(device)), masks.to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            state.step += 1
            recent_losses.append(float(loss.item()))
            if progress is not None:
                progress(state.step / config.max_steps, f"fold {fold} loss {loss.item():.3f}")
            if state.step % config.validate_every and state.step < config.max_steps:
                continue
            stop = torch.zeros(1)
            if rank == 0:
                scores = _validate(network, validation, card, device)
                improved = scores["mean"] > state.best
                if improved:
                    state.best, state.best_scores, state.stale = scores["mean"], scores, 0
                    write_model(
                        network.state_dict(),
                        replace(card, metrics={"validation": scores}),
                        best_weights,
                    )
                else:
                    state.stale += 1
                line = {
                    "step": state.step,
                    "loss": float(np.mean(recent_losses)),
                    "validation": scores,
                }
                with log.open("a", encoding="utf-8") as stream:
                    stream.write(json.dumps(line) + "\n")
                recent_losses.clear()
                with atomic_output(checkpoint) as temporary:
                    torch.save(
                        {
                            "model": network.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "state": asdict(state),
                            "torch_rng": torch.get_rng_state(),
                        },
                        temporary,
                    )
                stop[0] = float(state.stale >= config.patience)
            if distributed:
                torch.distributed.broadcast(stop, src=0)
            if stop[0] > 0:
                break
    finally:
        batches.close()
    return {
        "fold": fold,
        "steps": state.step,
        "best_mean_dice": state.best,
        "validation": state.best_scores,
    }


def _write_final(
    model_dir: Path,
    card: ModelCard,
    config: TrainingConfig,
    results: dict[int, dict[str, Any]],
    cases: list[TrainingCase],
    folds: list[list[int]],
    start: ModelCard | None,
) -> ModelCard:
    """Write the best fold's weights as the final model, with the card's metrics and provenance.

    ``start``: the card of the weights training started from (fine-tuning), or None.
    """
    import monai
    import torch
    from safetensors.torch import load_file

    seen_before = [] if start is None else start.extra.get("real_training_cases", [])
    best_fold = max(results, key=lambda fold: results[fold]["best_mean_dice"])
    structures = [s.name.lower() for s in SEGMENTED_STRUCTURES] + ["mean"]
    cross_validation = {
        name: {
            "mean": float(np.mean([r["validation"].get(name, np.nan) for r in results.values()])),
            "std": float(np.std([r["validation"].get(name, np.nan) for r in results.values()])),
        }
        for name in structures
    }
    partial = [i for i, case in enumerate(cases) if case.partial]
    validated = set(folds[best_fold])
    extra = {
        "training": asdict(config),
        "folds": {str(f): [cases[i].name for i in folds[f]] for f in results},
        # Real (partially labelled) scans the weights have seen: benchmarks keep them apart.
        "real_training_cases": sorted(
            {cases[i].name for i in partial if i not in validated} | set(seen_before)
        ),
        "real_validation_cases": sorted(
            cases[i].name for i in partial if i in validated and cases[i].name not in seen_before
        ),
        "fold_results": {str(f): r for f, r in results.items()},
        "final_weights_from_fold": best_fold,
        "learning_curve": _learning_curve(model_dir / f"fold_{best_fold}" / "metrics.jsonl"),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "monai": monai.__version__,
            "numpy": np.__version__,
        },
        "git_commit": _git_commit(),
        "trained": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if start is not None:
        extra["fine_tuned_from"] = {
            "file": Path(config.init_weights).name,
            "sha256": start.sha256,
            "training_data": start.training_data,
        }
    final_card = replace(card, metrics={"cross_validation_dice": cross_validation}, extra=extra)
    state = load_file(str(model_dir / f"fold_{best_fold}" / "model.safetensors"))
    written = write_model(state, final_card, model_dir / FINAL_WEIGHTS)
    write_text_atomic(model_dir / "training_summary.json", json.dumps(written.to_json(), indent=2))
    return written


def _learning_curve(log: Path) -> list[dict[str, Any]]:
    """Return a fold's validation log (step, mean training loss, Dice per structure), rounded."""
    if not log.is_file():
        return []
    curve = []
    for line in log.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        curve.append(
            {
                "step": entry["step"],
                "mean_training_loss": round(float(entry["loss"]), 4),
                "validation_dice": {k: round(float(v), 4) for k, v in entry["validation"].items()},
            }
        )
    return curve


def _git_commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip() or "unknown"
