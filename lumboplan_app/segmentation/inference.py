"""Inference: scan -> seven-structure label map on the scan's own grid.

The :class:`Segmenter` reads its preprocessing from the model card, runs the network over the
scan and its mirror image in blended sliding windows (MONAI), carries the class probabilities
back to the original grid, drops the pieces of each structure that cannot be it (both in
:mod:`~lumboplan_app.segmentation.postprocess`), and refuses to hand the planner labels that
cannot be anatomy.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import itertools
import logging
import math
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from lumboplan_app.errors import Cancelled, ImplausibleSegmentationError, ModelError
from lumboplan_app.io.checks import require_segmentable
from lumboplan_app.labels import Structure
from lumboplan_app.progress import CancelCheck, ProgressCallback
from lumboplan_app.segmentation import SEGMENTER_DEVICES
from lumboplan_app.segmentation.model_card import (
    DEFAULT_WEIGHTS,
    ModelCard,
    onnx_path_for,
    read_card,
)
from lumboplan_app.segmentation.network import build_network
from lumboplan_app.segmentation.postprocess import (
    keep_main_components,
    mirror_agreement,
    most_probable_labels,
    softmax,
)
from lumboplan_app.segmentation.preprocess import transforms_for
from lumboplan_app.volume import LabelMap, Volume

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: Sliding-window overlap (fraction of the patch) of MONAI's grid, which the model was validated on.
WINDOW_OVERLAP = 0.25
#: The least overlap (fraction of the patch) of an evenly spread grid that needs fewer windows.
WINDOW_MIN_OVERLAP = 0.15
#: Smallest plausible volume (cm3) of the structures the plan cannot do without.
_MINIMUM_CM3 = {Structure.L5: 15.0, Structure.S1: 15.0, Structure.DISC: 3.0}
#: Largest plausible volumes (cm3): an adult L5 is 40-90 cm3 with its arch, the L5/S1 disc
#: 8-25 cm3. A labelled "L5" of 190 cm3 (the model on an abdominal MR) is not an L5.
_MAXIMUM_CM3 = {Structure.L5: 130.0, Structure.DISC: 40.0}
_NEIGHBOURS = (Structure.L5, Structure.S1)
_NEAR_MM = 3.0


def choose_device(request: str = "auto") -> torch.device:
    """Pick the device: CUDA, then Apple MPS, then CPU for ``"auto"``; else the one asked for.

    Raises
    ------
    ModelError
        If the requested device is not available here.
    """
    import torch

    if request == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if request == "cuda" and not torch.cuda.is_available():
        raise ModelError("No CUDA GPU is available here; use --device cpu or auto.")
    if request == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise ModelError("Apple MPS is not available here; use --device cpu or auto.")
    if request not in ("cpu", "cuda", "mps"):
        raise ModelError(f"Unknown device {request!r}: use auto, cpu, cuda or mps.")
    return torch.device(request)


def cpu_has_native_bfloat16() -> bool:
    """Return True if this CPU computes bfloat16 in hardware (AVX-512 BF16 or AMX tiles)."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def inference_dtype(device: torch.device) -> torch.dtype | None:
    """Return the reduced precision to run the network in on ``device``, or None for float32.

    GPUs (CUDA, MPS) use float16. A CPU uses bfloat16 only where it computes it natively: on
    others (AVX2 only: most AMD and desktop Intel CPUs) PyTorch emulates it, and one 64^3 window
    of the shipped network took 27.8 s instead of 0.54 s in float32.
    """
    import torch

    if device.type in ("cuda", "mps"):
        return torch.float16
    return torch.bfloat16 if cpu_has_native_bfloat16() else None


class WindowNetwork(Protocol):
    """The network, on one runtime: windows (N, 1, Z, Y, X) -> logits (N, classes, Z, Y, X).

    Both arrays are float32; the logits are before the softmax.
    """

    #: ``"onnxruntime"`` or ``"torch"``.
    runtime: str
    #: Where it runs: ``"cpu"``, ``"cuda"`` or ``"mps"``.
    device: str

    def __call__(self, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Return the logits of ``windows``."""


class OnnxNetwork:
    """The network exported to ONNX, run by ONNX Runtime on the CPU (float32; no torch).

    Raises
    ------
    ModelError
        If ONNX Runtime is not installed or cannot read the file.
    """

    runtime = "onnxruntime"
    device = "cpu"

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime
        except ImportError as error:
            raise ModelError("ONNX Runtime is not installed; reinstall LumboPlan.") from error
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # ONNX Runtime raises its own, untyped, exceptions
            raise ModelError(
                f"The ONNX model '{path.name}' cannot be read; reinstall LumboPlan."
            ) from error
        self._input = self.session.get_inputs()[0].name

    def __call__(self, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Return the logits of ``windows`` (see :class:`WindowNetwork`)."""
        (logits,) = self.session.run(None, {self._input: windows})
        return cast("npt.NDArray[np.float32]", logits)


class TorchNetwork:
    """The network in PyTorch on ``device``, in reduced precision where it is native there.

    Raises
    ------
    ModelError
        If the weights do not fit the architecture their card describes.
    """

    runtime = "torch"

    def __init__(self, weights: Path, card: ModelCard, device: torch.device) -> None:
        from safetensors.torch import load_file

        self.module = build_network(card)
        try:
            self.module.load_state_dict(load_file(str(weights)))
        except RuntimeError as error:
            raise ModelError(
                "The weights do not fit the architecture their card describes; the model files "
                "are inconsistent. Reinstall LumboPlan or retrain."
            ) from error
        self.module.to(device).eval()
        self.torch_device = device
        self.device = device.type
        self.dtype = inference_dtype(device)

    def __call__(self, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Return the logits of ``windows`` (see :class:`WindowNetwork`)."""
        import torch

        precision = (
            torch.autocast(self.device, dtype=self.dtype)
            if self.dtype is not None
            else contextlib.nullcontext()
        )
        with torch.no_grad(), precision:
            logits = self.module(torch.from_numpy(windows).to(self.torch_device))
        return cast("npt.NDArray[np.float32]", logits.float().cpu().numpy())


def _torch_installed() -> bool:
    """Whether PyTorch can be imported here (it is not imported)."""
    return importlib.util.find_spec("torch") is not None


def _gpu_may_be_present() -> bool:
    """Whether PyTorch is installed and a CUDA, ROCm or Apple MPS GPU may be here.

    Decided without importing torch (seconds, hundreds of MB), from the platform and the GPU
    driver's files; PyTorch confirms before a GPU is used.
    """
    if not _torch_installed():
        return False
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    if sys.platform == "win32":
        import ctypes.util

        return ctypes.util.find_library("nvcuda") is not None
    return Path("/proc/driver/nvidia/version").is_file() or Path("/dev/kfd").exists()


def runtime_for(weights: Path, card: ModelCard) -> str:
    """Return the runtime a :class:`Segmenter` of ``weights`` uses on the CPU, without loading it.

    ``"onnxruntime"`` where the card's ONNX export is beside the weights and matches them, else
    ``"torch"`` where PyTorch is installed.

    Raises
    ------
    ModelError
        If neither: no usable ONNX export and no PyTorch (the message says how to export).
    """
    try:
        onnx_path_for(weights, card)
    except ModelError:
        if not _torch_installed():
            raise
        return "torch"
    return "onnxruntime"


def load_network(weights: Path, card: ModelCard, device: str = "auto") -> WindowNetwork:
    """Load the network of ``weights`` on the runtime and device ``device`` asks for.

    ``"auto"``: PyTorch on a GPU when there is one, else ONNX Runtime on the CPU. ``"cpu"``:
    ONNX Runtime on the CPU. Where the card's ONNX export is missing or does not match, both
    fall back to PyTorch on the CPU if it is installed. ``"torch-cpu"``, ``"cuda"``, ``"mps"``:
    PyTorch on that device.

    Raises
    ------
    ModelError
        An unknown or unavailable device; PyTorch needed but not installed; no usable ONNX
        export and no PyTorch to fall back on; weights that do not fit their card.
    """
    if device not in SEGMENTER_DEVICES:
        raise ModelError(f"Unknown device {device!r}: use {', '.join(SEGMENTER_DEVICES)}.")
    if device == "auto" and _gpu_may_be_present():
        gpu = choose_device("auto")
        if gpu.type != "cpu":
            return TorchNetwork(weights, card, gpu)
    if device in ("auto", "cpu"):
        try:
            return OnnxNetwork(onnx_path_for(weights, card))
        except ModelError as error:
            if not _torch_installed():
                raise
            logger.warning("%s Running the model on PyTorch instead.", error)
    if not _torch_installed():
        raise ModelError(
            f"The device {device!r} needs PyTorch, which is not installed here; use --device "
            "cpu, or install LumboPlan with its 'train' extra."
        )
    return TorchNetwork(weights, card, choose_device("cpu" if device == "torch-cpu" else device))


def window_starts(size: int, patch: int) -> list[int]:
    """Return where windows of ``patch`` voxels start along an axis of ``size >= patch`` voxels.

    MONAI's grid (a step of ``patch * (1 - WINDOW_OVERLAP)`` voxels, the last window moved back
    to end at the edge, where it can overlap the one before almost wholly), unless fewer windows
    overlapping by at least :data:`WINDOW_MIN_OVERLAP` of the patch cover the axis: then those,
    spread evenly. On a large phantom (114 x 154 x 214 voxels at 1.5 mm) that is 24 windows a
    pass instead of 45; scans where MONAI's grid is already the fewest keep it unchanged.
    """
    if size <= patch:
        return [0]
    step = max(int(patch * (1 - WINDOW_OVERLAP)), 1)
    monai = [min(index * step, size - patch) for index in range(-(-(size - patch) // step) + 1)]
    longest_step = patch - math.ceil(WINDOW_MIN_OVERLAP * patch)
    fewest = -(-(size - patch) // longest_step) + 1
    if fewest >= len(monai):
        return monai
    return [round(index * (size - patch) / (fewest - 1)) for index in range(fewest)]


def gaussian_importance(
    patch: Sequence[int], sigma_scale: float = 0.125
) -> npt.NDArray[np.float32]:
    """Return the weight (Z, Y, X) float32 of each voxel of a window when windows are blended.

    A Gaussian of ``sigma_scale`` times the patch per axis, at least 1e-3 (MONAI's "gaussian"
    mode): a window's centre counts more than its edges.
    """
    weights = np.ones((), dtype=np.float32)
    for size in patch:
        offset = np.arange(size, dtype=np.float32) - np.float32((size - 1) / 2)
        axis = np.exp(offset**2 / np.float32(-2 * (sigma_scale * size) ** 2))
        weights = np.multiply.outer(weights, axis)
    return np.maximum(weights, max(float(weights.min()), 1e-3)).astype(np.float32)


def sliding_window_logits(
    image: npt.NDArray[np.float32],
    network: WindowNetwork,
    patch: Sequence[int],
    after_window: Callable[[int, int], None] | None = None,
) -> npt.NDArray[np.float32]:
    """Return the logits (classes, Z, Y, X) of ``image`` (Z, Y, X) from blended windows.

    MONAI's ``sliding_window_inference`` (mode "gaussian", one window at a time), on numpy so
    that every runtime shares it: an image smaller than ``patch`` is padded with zeros
    (centred), the windows lie on :func:`window_starts`' grid, each window's logits are weighted
    by :func:`gaussian_importance` and the weighted sum is divided by the summed weights.
    ``after_window(done, count)`` is called after each window (it may raise to stop).
    """
    short = [max(p - n, 0) for n, p in zip(image.shape, patch, strict=True)]
    padding = [(gap // 2, gap - gap // 2) for gap in short]
    padded = np.pad(image, padding)
    corners = list(
        itertools.product(*(window_starts(n, p) for n, p in zip(padded.shape, patch, strict=True)))
    )
    weights = gaussian_importance(patch)
    summed: npt.NDArray[np.float32] | None = None
    summed_weights = np.zeros(padded.shape, dtype=np.float32)
    for done, corner in enumerate(corners, start=1):
        box = tuple(slice(s, s + p) for s, p in zip(corner, patch, strict=True))
        logits = network(np.ascontiguousarray(padded[box])[None, None])[0]
        if summed is None:
            summed = np.zeros((logits.shape[0], *padded.shape), dtype=np.float32)
        summed[(slice(None), *box)] += logits * weights
        summed_weights[box] += weights
        if after_window is not None:
            after_window(done, len(corners))
    if summed is None:
        raise ValueError("an image without voxels has no windows")
    inside = tuple(
        slice(before, before + n) for (before, _), n in zip(padding, image.shape, strict=True)
    )
    return cast("npt.NDArray[np.float32]", summed[(slice(None), *inside)] / summed_weights[inside])


class Segmenter:
    """A loaded model, ready to segment scans.

    Parameters
    ----------
    weights : Path, optional
        ``.safetensors`` file with its card (and ONNX export) beside it; the shipped model by
        default.
    device : str
        One of ``SEGMENTER_DEVICES``; see :func:`load_network`. ``"auto"`` runs on ONNX Runtime on
        the CPU unless PyTorch finds a GPU.

    Raises
    ------
    ModelError
        Missing or tampered weights, a card for other classes, an unavailable device, no
        runtime to run the model on.
    """

    def __init__(self, weights: Path | None = None, device: str = "auto") -> None:
        self.weights = weights or DEFAULT_WEIGHTS
        self.card = read_card(self.weights)
        self.network = load_network(self.weights, self.card, device)
        self._resample, self._normalise = transforms_for(self.card)
        logger.info("model runs on %s (%s)", self.network.runtime, self.network.device)

    @property
    def runtime(self) -> str:
        """``"onnxruntime"`` or ``"torch"``."""
        return self.network.runtime

    @property
    def device(self) -> str:
        """Where the model runs: ``"cpu"``, ``"cuda"`` or ``"mps"``."""
        return self.network.device

    def segment(
        self,
        volume: Volume,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> LabelMap:
        """Label ``volume``; the result lies on the volume's own grid.

        Raises
        ------
        UnsuitableScanError
            For CT or another non-MR scan.
        ModelError
            When the result holds no plausible L5, S1 or disc (not a lumbosacral scan, or one
            outside what the model knows).
        Cancelled
            If ``should_cancel`` returns True between windows.
        """
        return self.segment_with_confidence(volume, progress, should_cancel)[0]

    def segment_with_confidence(
        self,
        volume: Volume,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> tuple[LabelMap, dict[Structure, float]]:
        """Return :meth:`segment`'s labels and each structure's mirror agreement.

        See :meth:`predict_with_confidence` for the agreement, :meth:`segment` for the errors.
        """
        raw, confidence = self.predict_with_confidence(volume, progress, should_cancel)
        result = LabelMap(keep_main_components(raw.array), raw.grid)
        try:
            check_plausible(result)
        except ImplausibleSegmentationError as error:
            error.labels = result  # the window may offer them as an unverified draft
            raise
        if progress is not None:
            progress(1.0, "Segmentation done")
        logger.info("case %s segmented", volume.meta.case_key)
        return result, confidence

    def predict_labels(
        self,
        volume: Volume,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> LabelMap:
        """Run the network: the raw labels on the volume's grid (no post-processing).

        The network sees the scan and its left-right mirror image (the structures are unsided,
        so the mirror is as valid an input); their class probabilities are averaged, carried
        back to the scan's grid by linear interpolation, and each voxel takes the most probable
        class. Interpolating probabilities rather than labels keeps boundaries finer than the
        model's 1.5 mm voxels: thin structures (the 2-3 mm skin, the nerve roots) lose less.

        Raises
        ------
        UnsuitableScanError
            For CT or another non-MR scan.
        """
        return self.predict_with_confidence(volume, progress, should_cancel)[0]

    def predict_with_confidence(
        self,
        volume: Volume,
        progress: ProgressCallback | None = None,
        should_cancel: CancelCheck | None = None,
    ) -> tuple[LabelMap, dict[Structure, float]]:
        """Return :meth:`predict_labels`'s labels and each structure's mirror agreement.

        The agreement of a structure is the Dice, on the model's grid, between the structure
        as the direct pass labels it and as the mirrored pass does (each pass's most probable
        class): 1 where both passes agree voxel for voxel, NaN where neither finds it. It
        costs nothing beyond the two passes the labels need.
        """
        require_segmentable(volume)
        resampled = self._resample(volume)
        passes = self._predict(self._normalise(resampled.array), progress, should_cancel)
        if progress is not None:
            progress(0.97, "Carrying the labels back to the scan's grid")
        probabilities = cast("npt.NDArray[np.float32]", (passes[0] + passes[1]) / 2)
        labels = most_probable_labels(probabilities, resampled.grid, volume.grid)
        return labels, mirror_agreement(passes[0], passes[1])

    def _predict(
        self,
        image: npt.NDArray[np.float32],
        progress: ProgressCallback | None,
        should_cancel: CancelCheck | None,
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Class probabilities (classes, Z, Y, X) of ``image`` and of its mirror image."""

        def after_window(done: int, count: int, passes_done: int) -> None:
            if should_cancel is not None and should_cancel():
                raise Cancelled()
            if progress is not None:
                done, count = passes_done * count + done, 2 * count
                progress(min(done / count, 0.96), f"Segmenting ({done}/{count} windows)")

        if should_cancel is not None and should_cancel():
            raise Cancelled()
        passes: list[npt.NDArray[np.float32]] = []
        for mirrored in (False, True):
            # (Z, Y, X): X, the last axis, is the one training mirrors (left-right, in LPS).
            source = image[..., ::-1] if mirrored else image
            logits = sliding_window_logits(
                source,
                self.network,
                self.card.patch_size,
                functools.partial(after_window, passes_done=len(passes)),
            )
            probabilities = softmax(logits)
            passes.append(probabilities[..., ::-1] if mirrored else probabilities)
        return passes[0], passes[1]


def _share_near(labels: LabelMap, structure: Structure, other: Structure) -> float:
    """Return the share of ``structure``'s voxels within 3 mm of ``other`` (on its box)."""
    mask = labels.array == structure
    spacing_zyx = np.asarray(labels.grid.spacing_xyz_mm[::-1])
    margin = np.ceil(_NEAR_MM / spacing_zyx).astype(int) + 1
    where = np.argwhere(mask)
    low = np.maximum(where.min(axis=0) - margin, 0)
    high = np.minimum(where.max(axis=0) + margin + 1, mask.shape)
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    distance = ndimage.distance_transform_edt(labels.array[box] != other, sampling=spacing_zyx)
    return float((distance[mask[box]] <= _NEAR_MM).mean())


def _disc_between(
    l5: npt.NDArray[np.float64], disc: npt.NDArray[np.float64], s1: npt.NDArray[np.float64]
) -> bool:
    """Whether L5 (LPS, mm) lies above S1 and the disc projects between them on their line."""
    axis = l5 - s1
    if axis[2] <= 0:
        return False
    position = float(np.dot(disc - s1, axis) / np.dot(axis, axis))
    return 0.0 < position < 1.0


def check_plausible(labels: LabelMap) -> None:
    """Raise if L5, S1 or the disc is missing, implausibly small or large, or out of order.

    The order: L5's centre lies above S1's (along the patient's superior axis) and the disc's
    centre lies between them along the line joining them (not along the superior axis alone: with
    a steep sacral slope S1 lies behind the disc as much as below it, and its centre may be level
    with the disc's), and at least 15 % of the disc lies within 3 mm of L5 and of S1 (the disc is
    held between the two endplates; on an abdominal MR the model's "disc" floated beside them).

    Raises
    ------
    ImplausibleSegmentationError
        Naming what was not found or what does not fit, with the structures that failed.
    """
    voxel_cm3 = float(np.prod(labels.grid.spacing_xyz_mm)) / 1000.0
    counts = np.bincount(labels.array.ravel(), minlength=len(Structure))
    missing = [s for s, minimum in _MINIMUM_CM3.items() if counts[s] * voxel_cm3 < minimum]
    oversized = [s for s, maximum in _MAXIMUM_CM3.items() if counts[s] * voxel_cm3 > maximum]
    problem, failed = "", tuple(missing or oversized)
    if missing:
        problem = f"No plausible {', '.join(s.display_name for s in missing)} found"
    elif oversized:
        problem = "Implausible " + ", ".join(
            f"{s.display_name} of {counts[s] * voxel_cm3:.0f} cm3" for s in oversized
        )
    else:
        centres = {
            structure: labels.grid.index_to_lps(np.argwhere(labels.array == structure).mean(axis=0))
            for structure in (Structure.L5, Structure.DISC, Structure.S1)
        }
        if not _disc_between(centres[Structure.L5], centres[Structure.DISC], centres[Structure.S1]):
            problem = "The L5/S1 disc was not found between L5 and S1"
            failed = (Structure.L5, Structure.DISC, Structure.S1)
        elif min(_share_near(labels, Structure.DISC, other) for other in _NEIGHBOURS) < 0.15:
            problem = "The L5/S1 disc does not lie on both L5 and S1"
            failed = (Structure.DISC,)
    if problem:
        raise ImplausibleSegmentationError(
            f"{problem}: this scan does not look like a lumbosacral MR the model knows (wrong "
            "region, too small a field of view, or an unusual protocol). The labels were not "
            "kept.",
            problem,
            failed,
        )
