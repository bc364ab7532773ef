"""Probabilities to labels: the separable resampler against SimpleITK, ties, other directions."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lumboplan_app.segmentation.postprocess import AlignedLinearResampler, most_probable_labels
from lumboplan_app.volume import Grid, Volume, resample_volume


def _rotation(seed: int) -> np.ndarray:
    if seed == 0:
        return np.eye(3)
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    rotated=st.booleans(),
    fill=st.sampled_from([0.0, 1.0]),
)
def test_the_separable_resampler_gives_what_simpleitk_gives(
    seed: int, rotated: bool, fill: float
) -> None:
    # Grids of one direction, any voxel sizes, shifted so the target reaches past the source on
    # some sides (the half-voxel edge and the fill beyond), single-voxel axes included.
    rng = np.random.default_rng(seed)
    direction = _rotation(seed + 1 if rotated else 0)
    source = Grid(
        tuple(int(n) for n in rng.integers(1, 12, 3)),
        tuple(float(s) for s in rng.uniform(0.5, 3.0, 3)),
        tuple(float(o) for o in rng.uniform(-5.0, 5.0, 3)),
        direction,
    )
    shift = direction @ rng.uniform(-6.0, 6.0, 3)
    target = Grid(
        tuple(int(n) for n in rng.integers(1, 25, 3)),
        tuple(float(s) for s in rng.uniform(0.3, 3.0, 3)),
        tuple(float(o) for o in np.add(source.origin_lps_mm, shift)),
        direction,
    )
    array = rng.random(source.shape_zyx).astype(np.float32)
    resampler = AlignedLinearResampler.between(source, target)
    assert resampler is not None
    expected = resample_volume(Volume(array, source), target, "linear", fill_value=fill).array
    np.testing.assert_allclose(resampler(array, fill), expected, atol=1e-6, rtol=0)


def test_grids_of_different_directions_are_not_aligned() -> None:
    source = Grid((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    turned = Grid((4, 4, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), _rotation(7))
    assert AlignedLinearResampler.between(source, turned) is None


def test_labels_on_a_turned_grid_match_the_aligned_path() -> None:
    # Where the grids are not aligned SimpleITK resamples; the labels are the same as on an
    # aligned target covering the same voxels (here: the target turned by a quarter about z).
    rng = np.random.default_rng(3)
    probabilities = rng.random((3, 6, 6, 6)).astype(np.float32)
    probabilities /= probabilities.sum(axis=0, keepdims=True)
    source = Grid((6, 6, 6), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    aligned = Grid((11, 11, 11), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    quarter = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    turned = Grid((11, 11, 11), (1.0, 1.0, 1.0), (10.0, 0.0, 0.0), quarter)
    straight = most_probable_labels(probabilities, source, aligned).array
    rotated = most_probable_labels(probabilities, source, turned).array
    # turned voxel (x, y, z) lies at LPS (10 - y, x, z), the aligned voxel (10 - y, x, z): in
    # array order rotated[z, y, x] = straight[z, x, 10 - y].
    np.testing.assert_array_equal(rotated, straight[:, :, ::-1].transpose(0, 2, 1))


def test_a_tie_goes_to_the_lower_class() -> None:
    probabilities = np.zeros((3, 2, 2, 2), dtype=np.float32)
    probabilities[0] = 0.2
    probabilities[1] = 0.4
    probabilities[2] = 0.4
    grid = Grid((2, 2, 2), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    assert (most_probable_labels(probabilities, grid, grid).array == 1).all()
