"""Training batches: each step's patches depend on the seed and the step alone, wherever made."""

import errno
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lumboplan_app.errors import ModelError
from lumboplan_app.segmentation.batches import BATCHES_AHEAD, BatchMaker, batch_plan
from lumboplan_app.segmentation.model_card import ModelCard
from lumboplan_app.segmentation.training import _load_cases, find_cases
from tests.conftest import TINY


def test_a_steps_plan_depends_on_the_seed_and_the_step_and_follows_the_weights() -> None:
    weights = np.array([0.0, 0.25, 0.75])
    assert batch_plan(3, 10, weights, 4) == batch_plan(3, 10, weights, 4)
    assert batch_plan(3, 10, weights, 4) != batch_plan(3, 11, weights, 4)
    assert batch_plan(3, 10, weights, 4) != batch_plan(4, 10, weights, 4)
    drawn = [case for step in range(400) for case, _ in batch_plan(0, step, weights, 2)]
    assert 0 not in drawn
    assert np.mean(np.asarray(drawn) == 2) == pytest.approx(0.75, abs=0.05)


CARD = ModelCard(features=TINY.features, spacing_mm=TINY.spacing_mm, patch_size=TINY.patch_size)


@pytest.fixture(scope="module")
def loaded(phantoms, tmp_path_factory) -> list[dict]:
    """The phantoms as training loads them: mapped from files in a folder of their own."""
    return _load_cases(find_cases([phantoms]), CARD, tmp_path_factory.mktemp("loaded"))


def in_memory(cases: list[dict]) -> list[dict]:
    """Copies of loaded cases held in memory, not mapped from files."""
    return [
        {
            "image": np.array(case["image"]),
            "mask": np.array(case["mask"]),
            "indices": [np.array(indices) for indices in case["indices"]],
        }
        for case in cases
    ]


def test_loaded_cases_are_mapped_from_their_files_not_held_in_memory(loaded) -> None:
    for case in loaded:
        for array in (case["image"], case["mask"], *case["indices"]):
            assert isinstance(array, np.memmap)
            assert Path(array.filename).parent == Path(loaded[0]["image"].filename).parent


def test_cases_that_cannot_be_loaded_to_disk_are_a_typed_error(phantoms, tmp_path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(ModelError, match=r"could not be written into the model folder .*has room"):
        _load_cases(find_cases([phantoms]), CARD, not_a_folder / "loaded")


@pytest.mark.slow
def test_workers_make_the_same_batches_as_the_training_process(loaded) -> None:
    card = CARD
    weights = np.full(len(loaded), 1.0 / len(loaded))
    here = BatchMaker(loaded, weights, card, 2, seed=7)
    ahead = BatchMaker(loaded, weights, card, 2, seed=7, workers=2)
    try:
        for step in (0, 1, 2, 6, 7):  # 6: a jump, as a resumed run makes
            images, masks = here.batch(step)
            assert images.shape == (2, 1, *TINY.patch_size)
            assert images.dtype == torch.float32
            assert masks.dtype == torch.uint8
            from_workers = ahead.batch(step)
            assert torch.equal(images, from_workers[0])
            assert torch.equal(masks, from_workers[1])
        assert torch.equal(here.batch(3)[0], here.batch(3)[0])
        assert not torch.equal(here.batch(3)[0], here.batch(4)[0])
    finally:
        ahead.close()
        here.close()


@pytest.mark.slow
def test_each_batch_maker_s_workers_use_its_own_cases(loaded) -> None:
    weights = np.full(len(loaded), 1.0 / len(loaded))
    flat = [{**case, "image": np.full_like(case["image"], 5.0)} for case in loaded]
    first = BatchMaker(loaded, weights, CARD, 2, seed=7, workers=1)
    second = BatchMaker(flat, weights, CARD, 2, seed=7, workers=1)  # made before first's workers
    try:
        for cases, maker in ((loaded, first), (flat, second)):
            here = BatchMaker(cases, weights, CARD, 2, seed=7)
            assert torch.equal(maker.batch(0)[0], here.batch(0)[0])
        assert not torch.equal(first.batch(1)[0], second.batch(1)[0])
    finally:
        first.close()
        second.close()


@pytest.mark.slow
def test_a_worker_that_dies_is_a_typed_error_that_says_to_resume(loaded) -> None:
    import os
    import signal

    weights = np.full(len(loaded), 1.0 / len(loaded))
    maker = BatchMaker(loaded, weights, CARD, 2, seed=7, workers=1)
    try:
        maker.batch(0)
        for pid in list(maker._pool._processes):  # type: ignore[union-attr]
            os.kill(pid, signal.SIGKILL)

        def draw_more() -> None:  # the death shows once the batches made before it are used
            for step in range(1, 6):
                maker.batch(step)

        with pytest.raises(ModelError, match="fewer --workers if memory ran out: it resumes"):
            draw_more()
    finally:
        maker.close()


@pytest.mark.slow
def test_the_workers_map_the_training_process_s_files_without_copies(loaded, tmp_path) -> None:
    weights = np.full(len(loaded), 1.0 / len(loaded))
    files = tmp_path / "worker-files"
    maker = BatchMaker(loaded, weights, CARD, 2, seed=7, workers=2, files=files)
    try:
        assert list(files.iterdir()) == []  # the cases' own files, not copies
        here = BatchMaker(in_memory(loaded), weights, CARD, 2, seed=7)
        assert torch.equal(maker.batch(0)[0], here.batch(0)[0])
    finally:
        maker.close()


@pytest.mark.slow
def test_cases_in_memory_reach_the_workers_as_files_removed_when_done(loaded, tmp_path) -> None:
    cases = in_memory(loaded)
    weights = np.full(len(cases), 1.0 / len(cases))
    files = tmp_path / "worker-files"
    files.mkdir()
    (files / "left-by-a-killed-run.npy").write_bytes(b"x" * 10**6)
    maker = BatchMaker(cases, weights, CARD, 2, seed=7, workers=2, files=files)
    try:
        written = list(files.iterdir())
        assert "left-by-a-killed-run.npy" not in {path.name for path in written}
        images = sum(case["image"].nbytes for case in cases)
        # Each case once, whatever the number of workers: images, masks and patch centres.
        assert images < sum(path.stat().st_size for path in written) < 3 * images
        here = BatchMaker(cases, weights, CARD, 2, seed=7)
        assert torch.equal(maker.batch(0)[0], here.batch(0)[0])
        maker.batch(6)  # a jump: the patches made ahead for steps 1 and 2 are removed
        time.sleep(1.0)
        patches = sorted(path.name for path in files.glob("patch-*"))
        assert len(patches) <= 2 * BATCHES_AHEAD, patches  # steps 7 and 8 only
    finally:
        maker.close()
    assert not files.exists()


@pytest.mark.slow
def test_two_batch_makers_with_their_own_files_do_not_disturb_each_other(loaded, tmp_path) -> None:
    weights = np.full(len(loaded), 1.0 / len(loaded))
    first = BatchMaker(loaded, weights, CARD, 2, seed=7, workers=1, files=tmp_path / "rank-0")
    second = BatchMaker(loaded, weights, CARD, 2, seed=8, workers=1, files=tmp_path / "rank-1")
    try:
        first.batch(0)
        second.close()  # one rank ends first: the other goes on
        here = BatchMaker(loaded, weights, CARD, 2, seed=7)
        assert torch.equal(first.batch(1)[0], here.batch(1)[0])
    finally:
        first.close()
        second.close()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="reads Linux's /proc")
def test_a_killed_training_process_leaves_no_worker_behind(phantoms, tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text(
        "import sys, time\n"
        "import numpy as np\n"
        "from lumboplan_app.segmentation.batches import BatchMaker\n"
        "from lumboplan_app.segmentation.model_card import ModelCard\n"
        "from lumboplan_app.segmentation.training import _load_cases, find_cases\n"
        "from pathlib import Path\n"
        "if __name__ == '__main__':\n"
        "    card = ModelCard(features=(4, 4, 8, 8, 16, 4), spacing_mm=4.0, patch_size=(32,) * 3)\n"
        "    folder = Path(sys.argv[2])\n"
        "    cases = _load_cases(find_cases([Path(sys.argv[1])]), card, folder / 'loaded')\n"
        "    weights = np.full(len(cases), 1.0 / len(cases))\n"
        "    maker = BatchMaker(cases, weights, card, 2, 0, 2, files=folder / 'files')\n"
        "    maker.batch(0)\n"
        "    print(' '.join(str(p) for p in maker._pool._processes), flush=True)\n"
        "    time.sleep(60)\n"
    )
    training = subprocess.Popen(
        [sys.executable, str(script), str(phantoms), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    workers = [int(pid) for pid in training.stdout.readline().split()]
    assert len(workers) == 2
    training.kill()
    training.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    training.stdout.close()


def test_cases_that_cannot_be_written_for_the_workers_are_a_typed_error(
    loaded, tmp_path, monkeypatch
) -> None:
    loaded = in_memory(loaded)
    weights = np.full(len(loaded), 1.0 / len(loaded))

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(ModelError, match=r"No space left on device.*--workers 0"):
        BatchMaker(loaded, weights, CARD, 2, seed=7, workers=2, files=tmp_path / "files")
    assert list(tmp_path.iterdir()) == []  # the half-written folder is removed
    monkeypatch.undo()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(ModelError, match="--workers 0"):
        BatchMaker(loaded, weights, CARD, 2, seed=7, workers=2, files=not_a_folder / "files")
