"""Training batches: augmented patches, made in the training process or in worker processes.

Every patch is made from a case and a seed alone (:func:`make_patch`), and the cases and seeds
of step ``k`` come from a generator seeded with ``(seed, k)`` (:func:`batch_plan`). So a resumed
run draws exactly the patches the uninterrupted run would have, with no random state to keep
in the checkpoint, and the patches are the same whichever process makes them.

With ``workers`` > 0 the patches are made by that many worker processes, a few batches ahead
of the network (on a GPU the augmentation on one CPU core, not the network, limits a step: the
fifth fine-tuning, 2800 steps of 8 patches, took about seven minutes with 15 workers on an H200).
The workers are spawned, fresh interpreters: a forked child inherits the locks of the parent's
other threads (PyTorch's, Qt's, a test runner's) in whatever state they were. The loaded cases
are ``.npy`` files (:func:`mapped`) that the training process and every worker map into memory,
so the operating system keeps one copy of them however many workers there are (59 cases at
1.5 mm: 863 MiB). The workers write their patches to a folder of their own and send back only
the files' paths: a worker
killed while it sent a patch of several MB through the pool's pipe left half a message there,
and the pool waited for the rest for ever. Spawned workers import the script that started
training, so a script of one's own that trains with workers keeps its top level under
``if __name__ == "__main__":``, as for PyTorch's DataLoader workers (``lumboplan train`` does).
"""

from __future__ import annotations

import mmap
import multiprocessing
import multiprocessing.connection
import os
import shutil
import tempfile
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt

from lumboplan_app.errors import ModelError
from lumboplan_app.logs import configure_logging
from lumboplan_app.segmentation.augmentation import reseed, training_transform
from lumboplan_app.segmentation.model_card import ModelCard

if TYPE_CHECKING:
    import torch

#: Batches kept in flight by the workers while the network trains on the current one.
BATCHES_AHEAD = 2
#: One patch: the image (1, Z, Y, X) float32 and the allowed-class mask (1, Z, Y, X) uint8.
Patch = tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]

# A worker's loaded cases (mapped from the files the training process wrote), its transform,
# the folder it writes its patches to, and how many it wrote.
_worker_cases: list[dict[str, Any]] = []
_worker_transform: Any = None
_worker_folder = Path()
_worker_written = 0


class _StoredArray(NamedTuple):
    """An array the training process wrote to a ``.npy`` file for its workers."""

    path: str


def _store(value: Any, folder: Path, name: str) -> Any:
    """Return ``value`` with each of its arrays written to ``folder`` and replaced by its file.

    An array mapped whole from a ``.npy`` file (:func:`mapped`) is not written again: its file
    is the one given.
    """
    if isinstance(value, np.memmap) and isinstance(value.base, mmap.mmap) and value.filename:
        return _StoredArray(str(value.filename))
    if isinstance(value, np.ndarray):
        path = folder / f"{name}.npy"
        np.save(path, value)
        return _StoredArray(str(path))
    if isinstance(value, dict):
        return {key: _store(item, folder, f"{name}-{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_store(item, folder, f"{name}-{i}") for i, item in enumerate(value))
    return value


def _open(value: Any) -> Any:
    """Return what :func:`_store` was given, each array mapped copy-on-write from its file."""
    if isinstance(value, _StoredArray):
        return np.load(value.path, mmap_mode="c")
    if isinstance(value, dict):
        return {key: _open(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_open(item) for item in value)
    return value


def mapped(case: dict[str, Any], folder: Path, name: str) -> dict[str, Any]:
    """Return a loaded case with its arrays written to ``folder`` and mapped back from there.

    Mapped, the arrays take no memory of the process's own: the operating system keeps one copy
    of the files, which the training process and its workers share (:class:`BatchMaker` hands
    the workers these files, not copies).
    """
    return cast("dict[str, Any]", _open(_store(case, folder, name)))


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


def _start_worker(card: ModelCard, stored_cases: list[dict[str, Any]], folder: Path) -> None:
    import torch

    global _worker_cases, _worker_transform, _worker_folder
    configure_logging()  # a spawned worker starts bare: library warnings to the log, not stderr
    parent = multiprocessing.parent_process()
    if parent is not None:  # a training process killed outright must not leave workers behind
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()
    torch.set_num_threads(1)  # as PyTorch's DataLoader workers: one thread each
    _worker_cases = _open(stored_cases)
    _worker_transform = training_transform(card, 0)
    _worker_folder = folder


def _exit_with(parent_sentinel: int) -> None:
    """End this worker as soon as the process that started it has ended."""
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(1)


def _worker_patch(case: int, seed: int) -> str:
    """Make one patch, write it to the workers' folder and return its file's path.

    Only the path goes back through the pool's pipe: a message that short is written at once, so
    a worker killed at any moment cannot leave half a message there, which the pool would wait
    for the rest of for ever (a patch of several MB is written in many pieces).
    """
    global _worker_written
    image, mask = make_patch(_worker_transform, _worker_cases[case], seed)
    _worker_written += 1
    path = _worker_folder / f"patch-{os.getpid()}-{_worker_written}.npz"
    np.savez(path, image=image, mask=mask)
    return str(path)


def _remove_dropped_patch(future: Future[str]) -> None:
    """Remove the file of a patch asked for ahead and no longer wanted (a jump), once made."""
    if not future.cancelled() and future.exception() is None:
        Path(future.result()).unlink(missing_ok=True)


def _read_patch(path: str) -> Patch:
    """Return the patch a worker wrote to ``path``, and remove the file."""
    with np.load(path) as stored:
        patch = stored["image"], stored["mask"]
    Path(path).unlink()
    return patch


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
    files : Path, optional
        The folder of the workers' files (the cases, the patches), this batch maker's alone:
        made, replacing what a killed run left there, and removed by :meth:`close`; a new
        temporary folder if not given.

    Raises
    ------
    ModelError
        If the workers' files cannot be written (a full disk, most likely).
    """

    def __init__(
        self,
        cases: list[dict[str, Any]],
        weights: npt.NDArray[np.float64],
        card: ModelCard,
        size: int,
        seed: int,
        workers: int = 0,
        files: Path | None = None,
    ) -> None:
        self.cases, self.weights, self.size, self.seed = cases, weights, size, seed
        self._transform = training_transform(card, seed)
        self._pool: ProcessPoolExecutor | None = None
        self._pending: deque[tuple[int, list[Future[str]]]] = deque()
        self._folder: Path | None = None
        if workers > 0:
            try:
                if files is None:
                    self._folder = Path(tempfile.mkdtemp(prefix="lumboplan-worker-files-"))
                else:
                    self._folder = files
                    shutil.rmtree(files, ignore_errors=True)
                    files.mkdir(parents=True)
                stored = _store(cases, self._folder, "case")
            except OSError as error:
                self.close()
                raise ModelError(
                    f"The training cases could not be written for the worker processes into "
                    f"'{(self._folder or Path(tempfile.gettempdir())).name}' "
                    f"({error.strerror or error}). Check that it can be written and has room, "
                    f"or run with --workers 0."
                ) from error
            self._pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(card, stored, self._folder),
            )

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Return step ``step``'s images (B, 1, ...) float32 and masks (B, 1, ...) uint8.

        Raises
        ------
        ModelError
            If a worker process died (killed for memory, most likely, or unable to start).
        """
        import torch

        if self._pool is None:
            patches = [
                make_patch(self._transform, self.cases[case], seed)
                for case, seed in batch_plan(self.seed, step, self.weights, self.size)
            ]
        else:
            try:
                paths = self._from_workers(step)
            except BrokenProcessPool as error:
                raise ModelError(
                    "A process making training patches stopped: killed (out of memory, most "
                    "likely) or unable to start (the log file says why). Run the same command "
                    "again, with fewer --workers if memory ran out: it resumes from the last "
                    "checkpoint."
                ) from error
            patches = [_read_patch(path) for path in paths]
        images = torch.stack([torch.from_numpy(image) for image, _ in patches])
        masks = torch.stack([torch.from_numpy(mask) for _, mask in patches])
        return images, masks

    def _from_workers(self, step: int) -> list[str]:
        """Return the files of step ``step``'s patches, the next steps' asked for ahead."""
        assert self._pool is not None
        while self._pending and self._pending[0][0] != step:  # a jump: drop what was ahead
            for future in self._pending.popleft()[1]:
                if not future.cancel():
                    future.add_done_callback(_remove_dropped_patch)
        ahead = self._pending[-1][0] + 1 if self._pending else step
        for planned in range(ahead, step + BATCHES_AHEAD + 1):
            jobs = batch_plan(self.seed, planned, self.weights, self.size)
            futures = [self._pool.submit(_worker_patch, case, seed) for case, seed in jobs]
            self._pending.append((planned, futures))
        return [future.result() for future in self._pending.popleft()[1]]

    def close(self) -> None:
        """Stop the workers (patches still in flight are dropped) and remove their files."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pending.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
