"""Training batches: each step's patches depend on the seed and the step alone, wherever made."""

import errno

import numpy as np
import pytest
import torch

from lumboplan_app.errors import ModelError
from lumboplan_app.segmentation.batches import WORKER_CASES, BatchMaker, batch_plan
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
def loaded(phantoms) -> list[dict]:
    return _load_cases(find_cases([phantoms]), CARD)


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

        with pytest.raises(ModelError, match="fewer --workers: it resumes"):
            draw_more()
    finally:
        maker.close()


@pytest.mark.slow
def test_the_workers_share_the_cases_as_files_removed_when_done(loaded, tmp_path) -> None:
    weights = np.full(len(loaded), 1.0 / len(loaded))
    (tmp_path / WORKER_CASES).mkdir()
    (tmp_path / WORKER_CASES / "left-by-a-killed-run.npy").write_bytes(b"x" * 10**6)
    maker = BatchMaker(loaded, weights, CARD, 2, seed=7, workers=2, scratch=tmp_path)
    try:
        written = list((tmp_path / WORKER_CASES).iterdir())
        assert "left-by-a-killed-run.npy" not in {path.name for path in written}
        images = sum(case["image"].nbytes for case in loaded)
        # Each case once, whatever the number of workers: images, masks and patch centres.
        assert images < sum(path.stat().st_size for path in written) < 3 * images
        here = BatchMaker(loaded, weights, CARD, 2, seed=7)
        assert torch.equal(maker.batch(0)[0], here.batch(0)[0])
    finally:
        maker.close()
    assert list(tmp_path.iterdir()) == []


def test_cases_that_cannot_be_written_for_the_workers_are_a_typed_error(
    loaded, tmp_path, monkeypatch
) -> None:
    weights = np.full(len(loaded), 1.0 / len(loaded))

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)
    with pytest.raises(ModelError, match=r"No space left on device.*--workers 0"):
        BatchMaker(loaded, weights, CARD, 2, seed=7, workers=2, scratch=tmp_path)
    assert list(tmp_path.iterdir()) == []  # the half-written folder is removed
    monkeypatch.undo()
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(ModelError, match="--workers 0"):
        BatchMaker(loaded, weights, CARD, 2, seed=7, workers=2, scratch=not_a_folder)
