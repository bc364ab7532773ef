"""The midline profile of a vertebra (posterior wall, front of the arch) on analytic point sets."""

import numpy as np

from lumboplan_app.planning.parts import _profile

#: The disc's posterior wall in the anatomical frame (v, mm), as on a real scan.
V_WALL = 17.0


def midline_points(levels: range, v_values: np.ndarray) -> np.ndarray:
    """Points (u, v, w) at the midline (u = 0), one per v value at each level (mm)."""
    w, v = np.meshgrid(np.array(levels, dtype=float), v_values, indexing="ij")
    return np.column_stack([np.zeros(w.size), v.ravel(), w.ravel()])


def body_with_concave_lower_endplate() -> np.ndarray:
    """A body from 5 to 35 mm high, v -17..16 mm; its lowest level only the two rims."""
    body = midline_points(range(6, 36), np.arange(-17.0, 16.5, 1.0))
    rims = midline_points(range(5, 6), np.concatenate([np.arange(-17.0, -3.5, 1.0), [5.0, 6.0]]))
    return np.vstack([rims, body])


def test_the_hollow_of_a_concave_endplate_is_not_the_canal() -> None:
    # The shipped model draws L5 on real scans as its body, no arch at the midline; the hollow
    # between the rims of the lowest level (8.6 mm, in front of the disc's wall) was read as
    # the canal, and its far rim as the arch's front at every level: the back of the body
    # became "lamina" on 17 of the 39 real scans.
    profile = _profile(body_with_concave_lower_endplate(), V_WALL, "L5")
    assert np.all(np.isinf(profile.arch_at(np.arange(5.0, 36.0))))
    assert abs(profile.wall_at(20.0) - 16.0) < 0.5


def test_the_canal_behind_a_concave_endplate_is_still_found() -> None:
    arch = midline_points(range(5, 36), np.arange(30.0, 40.5, 1.0))
    profile = _profile(np.vstack([body_with_concave_lower_endplate(), arch]), V_WALL, "L5")
    assert np.allclose(profile.arch_at(np.arange(5.0, 36.0)), 30.0)
    assert abs(profile.wall_at(20.0) - 16.0) < 0.5
