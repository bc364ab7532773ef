"""The study's statistics against published worked examples."""

from __future__ import annotations

import pytest

from lumboplan_app.study.statistics import agreement, bland_altman, icc_table, pearson, wilcoxon_p

#: Shrout and Fleiss (1979), Psychol Bull 86:420, Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]
#: Hollander and Wolfe (1973), p. 29 (the paired example of R's ``wilcox.test`` help page).
HOLLANDER_X = [1.83, 0.50, 1.62, 2.48, 1.68, 1.88, 1.55, 3.06, 1.30]
HOLLANDER_Y = [0.878, 0.647, 0.598, 2.05, 1.06, 1.29, 1.06, 3.14, 1.29]
#: Anscombe (1973), Am Stat 27:17, the first data set of the quartet.
ANSCOMBE_X = [10, 8, 13, 9, 11, 14, 6, 4, 12, 7, 5]
ANSCOMBE_Y = [8.04, 6.95, 7.58, 8.81, 8.33, 9.96, 7.24, 4.26, 10.84, 4.82, 5.68]


def test_icc_matches_shrout_and_fleiss() -> None:
    # Table 4 of the paper: ICC(2,1) = 0.29, ICC(3,1) = 0.71; the 95 % intervals as printed by
    # the example of R psych's ICC() on the same data: [0.019, 0.76] and [0.34, 0.95].
    iccs = icc_table(SHROUT_FLEISS)
    assert iccs is not None
    assert iccs["ICC2"].value == pytest.approx(0.29, abs=0.005)
    assert iccs["ICC3"].value == pytest.approx(0.71, abs=0.006)
    assert (iccs["ICC2"].low, iccs["ICC2"].high) == pytest.approx((0.02, 0.76), abs=0.01)
    assert (iccs["ICC3"].low, iccs["ICC3"].high) == pytest.approx((0.34, 0.95), abs=0.01)


def test_wilcoxon_matches_hollander_and_wolfe() -> None:
    # R: wilcox.test(x, y, paired = TRUE, alternative = "greater") gives V = 40, P = 0.01953;
    # the exact two-sided P is twice that.
    assert wilcoxon_p(HOLLANDER_X, HOLLANDER_Y) == pytest.approx(0.0390625, abs=1e-6)


def test_pearson_matches_anscombe() -> None:
    r = pearson(ANSCOMBE_X, ANSCOMBE_Y)
    assert r is not None
    assert r.value == pytest.approx(0.816, abs=0.0005)
    assert r.low < r.value < r.high


def test_bland_altman_of_a_constant_offset() -> None:
    bias, (low, high) = bland_altman([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) or (0.0, (0.0, 0.0))
    assert (bias, low, high) == pytest.approx((1.0, 1.0, 1.0))


def test_undefined_statistics_are_none_not_nan() -> None:
    same = agreement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same.wilcoxon_p is None  # no pair differs
    assert same.icc_2_1 is None  # fewer pairs than an ICC needs
    empty = agreement([], [])
    assert empty.pairs == 0
    assert empty.mean_gt is None
    assert empty.pearson_r is None
    assert empty.bias is None


def test_missing_pingouin_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from lumboplan_app.study.statistics import StudyDependencyError

    monkeypatch.setitem(sys.modules, "pingouin", None)
    with pytest.raises(StudyDependencyError, match=r"lumboplan\[study\]"):
        icc_table(SHROUT_FLEISS)
