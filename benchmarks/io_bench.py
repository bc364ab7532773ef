"""I/O budgets (DESIGN.md): a 300-slice 320x320 MR series to a canonical volume (< 3 s) and the
window shown after start (< 3 s); writing and reading a case file of that size (no budget: the
window reads it in a worker). Run: `python benchmarks/io_bench.py [--quick]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_header, measure, table

from lumboplan_app.io import read_scan, read_scan_isolated, write_image
from lumboplan_app.io.dicom_export import write_dicom_series
from lumboplan_app.session import CaseFile, read_case, write_case
from lumboplan_app.volume import Grid, LabelMap, Volume

#: A sagittal 3-D T2 of a lumbar spine as scanners export it: 300 slices of 320 x 320.
SAGITTAL = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def synthetic_series(folder: Path) -> None:
    """Write a 300 x 320 x 320 sagittal MR series with scanner-like 12-bit noisy content."""
    grid = Grid((300, 320, 320), (0.8, 0.8, 1.0), (-150.0, -120.0, 100.0), SAGITTAL)
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[:300, :320, :320]
    body = ((y - 160) ** 2 + (x - 160) ** 2 < 140**2) * 900.0 + (z % 40 < 20) * 300.0
    array = (body + rng.normal(0, 40, grid.shape_zyx)).clip(0, 4095).round().astype(np.float32)
    write_dicom_series(Volume(array, grid), folder)


def large_case(grid: Grid) -> CaseFile:
    """A case whose labels and parts fill the grid as a segmented lumbar scan's do."""
    z, y, x = np.ogrid[: grid.shape_zyx[0], : grid.shape_zyx[1], : grid.shape_zyx[2]]
    labels = np.zeros(grid.shape_zyx, np.uint8)
    labels[((y - 160) ** 2 + (x - 160) ** 2 < 140**2) & (z > 10)] = 6  # the body: skin
    labels[100:200, 120:220, 100:220] = 1  # a vertebra
    labels[120:180, 150:200, 220:240] = 4  # nerves
    return CaseFile(labels=LabelMap(labels, grid), plan={}, parts=LabelMap(labels.copy(), grid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    arguments = parser.parse_args()
    repeats = 2 if arguments.quick else 5
    timings = []
    with tempfile.TemporaryDirectory() as work:
        series = Path(work) / "series"
        synthetic_series(series)
        timings.append(
            measure(
                "DICOM 300x320x320 -> canonical volume", lambda: read_scan(series), repeats, 3000
            )
        )
        timings.append(
            measure(
                "same, in a child process (window, batch)",
                lambda: read_scan_isolated(series),
                repeats,
                3000,
            )
        )
        nifti = Path(work) / "scan.nii.gz"
        write_image(read_scan(series), nifti)
        timings.append(
            measure("NIfTI .nii.gz 300x320x320 -> volume", lambda: read_scan(nifti), repeats)
        )
        case_grid = Grid((300, 512, 512), (0.6, 0.6, 1.0), (0.0, 0.0, 0.0))
        case, case_path = large_case(case_grid), Path(work) / "case.lumboplan"
        timings.append(
            measure(
                "case file 300x512x512 (labels, parts): write",
                lambda: write_case(case, case_path),
                repeats,
            )
        )
        timings.append(
            measure("same: read (in a worker in the window)", lambda: read_case(case_path), repeats)
        )
    environment = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    command = [sys.executable, "-m", "lumboplan_app.gui.app", "--exit-when-shown"]
    timings.append(
        measure(
            "window shown after start (new process)",
            lambda: subprocess.run(command, check=True, env=environment),
            repeats,
            3000,
        )
    )
    print(machine_header())
    print(table(timings))


if __name__ == "__main__":
    main()
