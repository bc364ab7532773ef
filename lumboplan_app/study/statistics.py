"""Paired statistics of a measurement made on the true labels (GT) and on the AI labels.

Library implementations, not hand-written formulas: the Wilcoxon signed-rank test and Pearson's
r (with its Fisher-z 95 % confidence interval) from SciPy; the intraclass correlations from
pingouin (the ``study`` extra), in Shrout and Fleiss's (1979) forms: ICC(2,1), two-way random
effects, absolute agreement, single measurement, and ICC(3,1), two-way mixed effects,
consistency, single measurement, each with its 95 % confidence interval. Bland-Altman bias and
limits of agreement are mean difference (AI - GT) +/- 1.96 standard deviations.

A statistic that is undefined for the data (too few pairs, no variation) is None, never NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from lumboplan_app.errors import LumboPlanError

#: The fewest pairs an ICC is computed on (pingouin's own minimum is 5 ratings).
MIN_PAIRS_ICC = 5
#: z of a two-sided 95 % interval (Bland and Altman's limits of agreement).
Z_95 = 1.96


class StudyDependencyError(LumboPlanError):
    """A package the validation study needs is not installed."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A statistic with its 95 % confidence interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Agreement:
    """How one measurement agrees between GT and AI over ``pairs`` paired values (units kept)."""

    pairs: int
    mean_gt: float | None
    mean_ai: float | None
    bias: float | None
    limits_of_agreement: tuple[float, float] | None
    wilcoxon_p: float | None
    pearson_r: Interval | None
    icc_2_1: Interval | None
    icc_3_1: Interval | None

    def to_json(self) -> dict[str, Any]:
        """Return the agreement as plain JSON values."""
        return asdict(self)


def wilcoxon_p(gt: Sequence[float], ai: Sequence[float]) -> float | None:
    """Two-sided P of the Wilcoxon signed-rank test (SciPy); None when no pair differs."""
    from scipy.stats import wilcoxon

    differences = np.asarray(ai, dtype=float) - np.asarray(gt, dtype=float)
    if np.count_nonzero(differences) == 0:
        return None
    return float(wilcoxon(gt, ai).pvalue)


def pearson(gt: Sequence[float], ai: Sequence[float]) -> Interval | None:
    """Pearson's r with its 95 % interval (SciPy); None under 3 pairs or for a constant side."""
    from scipy.stats import pearsonr

    if len(gt) < 3 or np.ptp(gt) == 0 or np.ptp(ai) == 0:
        return None
    result = pearsonr(gt, ai)
    interval = result.confidence_interval(0.95)
    return Interval(float(result.statistic), float(interval.low), float(interval.high))


def intraclass(gt: Sequence[float], ai: Sequence[float]) -> dict[str, Interval] | None:
    """ICC(2,1) and ICC(3,1) with 95 % intervals (pingouin), keys ``"ICC2"`` and ``"ICC3"``.

    None under :data:`MIN_PAIRS_ICC` pairs or without variation between the targets.

    Raises
    ------
    StudyDependencyError
        If pingouin is not installed.
    """
    return icc_table([[g, a] for g, a in zip(gt, ai, strict=True)])


def icc_table(ratings: Sequence[Sequence[float]]) -> dict[str, Interval] | None:
    """ICC(2,1) and ICC(3,1) of a targets x raters table (pingouin); see :func:`intraclass`."""
    try:
        import pandas as pd  # type: ignore[import-untyped]
        import pingouin  # type: ignore[import-untyped]
    except ImportError as error:
        raise StudyDependencyError(
            "The validation study's intraclass correlations need pingouin, which is not "
            "installed: install LumboPlan with its study extra (pip install 'lumboplan[study]')."
        ) from error
    table = np.asarray(ratings, dtype=float)
    if table.shape[0] < MIN_PAIRS_ICC or np.ptp(table.mean(axis=1)) == 0:
        return None
    frame = pd.DataFrame(
        {
            "target": np.repeat(np.arange(table.shape[0]), table.shape[1]),
            "rater": np.tile(np.arange(table.shape[1]), table.shape[0]),
            "rating": table.ravel(),
        }
    )
    result = pingouin.intraclass_corr(frame, targets="target", raters="rater", ratings="rating")
    rows = result.set_index("Type")
    interval = "CI95" if "CI95" in rows.columns else "CI95%"
    found = {}
    # pingouin >= 0.7 names the forms after McGraw and Wong (A: agreement, C: consistency).
    for kind, names in (("ICC2", ("ICC(A,1)", "ICC2")), ("ICC3", ("ICC(C,1)", "ICC3"))):
        name = next(n for n in names if n in rows.index)
        low, high = rows.loc[name, interval]
        found[kind] = Interval(float(rows.loc[name, "ICC"]), float(low), float(high))
    return found


def bland_altman(
    gt: Sequence[float], ai: Sequence[float]
) -> tuple[float, tuple[float, float]] | None:
    """Bias (mean of AI - GT) and the 95 % limits of agreement; None under 2 pairs."""
    if len(gt) < 2:
        return None
    differences = np.asarray(ai, dtype=float) - np.asarray(gt, dtype=float)
    bias = float(differences.mean())
    spread = Z_95 * float(differences.std(ddof=1))
    return bias, (bias - spread, bias + spread)


def agreement(gt: Sequence[float], ai: Sequence[float]) -> Agreement:
    """Return every statistic of the paired values ``gt`` and ``ai`` (same units, same order)."""
    if len(gt) != len(ai):
        raise ValueError(f"{len(gt)} GT values but {len(ai)} AI values")
    iccs = intraclass(gt, ai)
    limits = bland_altman(gt, ai)
    return Agreement(
        pairs=len(gt),
        mean_gt=float(np.mean(gt)) if len(gt) else None,
        mean_ai=float(np.mean(ai)) if len(ai) else None,
        bias=None if limits is None else limits[0],
        limits_of_agreement=None if limits is None else limits[1],
        wilcoxon_p=wilcoxon_p(gt, ai) if len(gt) else None,
        pearson_r=pearson(gt, ai),
        icc_2_1=None if iccs is None else iccs["ICC2"],
        icc_3_1=None if iccs is None else iccs["ICC3"],
    )
