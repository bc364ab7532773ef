"""Timing harness shared by the benchmark scripts: warm-up, repeats, median/p95, one table.

Each script builds its cases, calls :func:`measure` per stage and prints :func:`table`, headed by
the machine. Benchmarks report; they never fail the build (budgets are in DESIGN.md).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Wall-clock timings of one stage, in milliseconds."""

    stage: str
    samples_ms: tuple[float, ...]
    budget_ms: float | None

    @property
    def median_ms(self) -> float:
        return float(np.median(self.samples_ms))

    @property
    def p95_ms(self) -> float:
        return float(np.percentile(self.samples_ms, 95))

    @property
    def within_budget(self) -> str:
        if self.budget_ms is None:
            return "-"
        return "yes" if self.median_ms <= self.budget_ms else "NO"


def measure(
    stage: str,
    function: Callable[[], object],
    repeats: int,
    budget_ms: float | None = None,
    warmup: int = 1,
) -> Timing:
    """Call ``function`` ``warmup`` times untimed, then ``repeats`` times timed."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000.0)
    return Timing(stage, tuple(samples), budget_ms)


def machine_header() -> str:
    """Describe the machine, the library versions and the CPU's load when the numbers were taken.

    Seconds mean little on a CPU that other work shares: the load average says whether it was quiet.
    """
    import pydicom
    import SimpleITK

    parts = [
        f"{platform.processor() or platform.machine()}",
        f"{os.cpu_count()} CPUs",
        f"Python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"SimpleITK {SimpleITK.Version.VersionString()}",
        f"pydicom {pydicom.__version__}",
    ]
    if hasattr(os, "getloadavg"):  # not on Windows
        parts.append(f"load average {os.getloadavg()[0]:.1f} over the last minute")
    return "Machine: " + ", ".join(parts)


def table(timings: list[Timing]) -> str:
    """Return the Markdown table of the timings."""
    lines = [
        "| stage | n | median ms | p95 ms | budget ms | within |",
        "|---|---|---|---|---|---|",
    ]
    for t in timings:
        budget = f"{t.budget_ms:.0f}" if t.budget_ms is not None else "-"
        lines.append(
            f"| {t.stage} | {len(t.samples_ms)} | {t.median_ms:.1f} | {t.p95_ms:.1f} | "
            f"{budget} | {t.within_budget} |"
        )
    return "\n".join(lines)
