"""Training batches: augmented patches, made in the training process or in worker processes.

Every patch is made from a case and a seed alone (:func:`make_patch`), and the cases and seeds
of step ``k`` come from a generator seeded with ``(seed, k)`` (:func:`batch_plan`). So a resumed
run draws exactly the patches the uninterrupted run would have, with no random state to keep
in the checkpoint, and the patches are the same whichever process makes them.

With ``workers`` > 0 the patches are made by that many forked worker processes, a few batches
ahead of the network (on a GPU the augmentation on one CPU core, not the network, limits a
step: the fifth fine-tuning, 2800 steps of 8 patches, took about seven minutes with 15 workers
on an H200). Workers inherit the loaded cases from the training process
copy-on-write, so they need the ``fork`` start method, safe on Linux only (macOS's system
libraries are not fork-safe, Windows has no fork); elsewhere the patches are made in the training
process, as with ``workers`` 0.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.errors import ModelError
from lumboplan_app.segmentation.augmentation import reseed, training_transform
from lumboplan_app.segmentation.model_card import ModelCard

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

#: Batches kept in flight by the workers while the network trains on the current one.
BATCHES_AHEAD = 2
#: One patch: the image (1, Z, Y, X) float32 and the allowed-class mask (1, Z, Y, X) uint8.
Patch = tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]

# A worker's loaded cases (inherited through fork, not copied) and its own transform.
_worker_cases: list[dict[str, Any]] = []
_worker_transform: Any = None


def make_patch(transform: Any, case: dict[str, Any], seed: int) -> Patch:
    """Return one augmented patch of a loaded ``case``, determined by ``seed`` alone."""
    reseed(transform, seed)
    sample = transform(case)[0]
    image = np.asarray(sample["image"], dtype=np.float32)
    mask = np.asarray(sample["mask"]).round().astype(np.uint8)
    return image, mask


def batch_plan(
    seed: int, step: int, weights: npt.NDArray[np.float64], size: int
) -> list[tuple[int, int]]:
    """Return step ``step``'s patches as (case index, patch seed), cases drawn by ``weights``."""
    rng = np.random.default_rng((seed, step))
    cases = rng.choice(len(weights), size=size, p=weights)
    seeds = rng.integers(0, 2**31 - 1, size=size)
    return [(int(case), int(patch_seed)) for case, patch_seed in zip(cases, seeds, strict=True)]


def _start_worker(card: ModelCard, cases: list[dict[str, Any]]) -> None:
    import torch

    global _worker_cases, _worker_transform
    torch.set_num_threads(1)  # as PyTorch's DataLoader workers: one thread each
    _worker_cases = cases
    _worker_transform = training_transform(card, 0)


def _worker_patch(case: int, seed: int) -> Patch:
    return make_patch(_worker_transform, _worker_cases[case], seed)


class BatchMaker:
    """Make the training batches of one fold, step by step (see the module's docstring).

    Parameters
    ----------
    cases : list of dict
        The fold's loaded training cases (``training._load_cases``).
    weights : array
        Probability of drawing each case.
    card : ModelCard
        The model's card (patch size and augmentation).
    size : int
        Patches per batch.
    seed : int
        The fold's seed; step ``k``'s batch depends on it and ``k`` only.
    workers : int
        Worker processes making patches ahead (0: made here, one at a time).
    """

    def __init__(
        self,
        cases: list[dict[str, Any]],
        weights: npt.NDArray[np.float64],
        card: ModelCard,
        size: int,
        seed: int,
        workers: int = 0,
    ) -> None:
        self.cases, self.weights, self.size, self.seed = cases, weights, size, seed
        self._transform = training_transform(card, seed)
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[tuple[int, list[Future[Patch]]]] = deque()
        if workers > 0:
            if sys.platform.startswith("linux"):  # fork; on macOS it is unsafe, Windows lacks it
                self._pool = ProcessPoolExecutor(
                    workers,
                    mp_context=multiprocessing.get_context("fork"),
                    initializer=_start_worker,
                    initargs=(card, cases),  # forked: inherited, not pickled
                )
            else:
                logger.warning("workers need Linux: the patches are made in this process")

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return step ``step``'s images (B, 1, ...) float32 and masks (B, 1, ...) uint8.

        Raises
        ------
        ModelError
            If a worker process died (killed for memory, most likely).
        """
        import torch

        if self._pool is None:
            patches = [
                make_patch(self._transform, self.cases[case], seed)
                for case, seed in batch_plan(self.seed, step, self.weights, self.size)
            ]
        else:
            while self._pending and self._pending[0][0] != step:  # a jump: drop what was ahead
                for future in self._pending.popleft()[1]:
                    future.cancel()
            ahead = self._pending[-1][0] + 1 if self._pending else step
            for planned in range(ahead, step + BATCHES_AHEAD + 1):
                jobs = batch_plan(self.seed, planned, self.weights, self.size)
                futures = [self._pool.submit(_worker_patch, case, seed) for case, seed in jobs]
                self._pending.append((planned, futures))
            try:
                patches = [future.result() for future in self._pending.popleft()[1]]
            except BrokenProcessPool as error:
                raise ModelError(
                    "A process making training patches stopped (out of memory?). Run the same "
                    "command again with fewer --workers: it resumes from the last checkpoint."
                ) from error
        images = torch.stack([torch.from_numpy(image) for image, _ in patches])
        masks = torch.stack([torch.from_numpy(mask) for _, mask in patches])
        return images, masks

    def close(self) -> None:
        """Stop the workers (patches still in flight are dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()
