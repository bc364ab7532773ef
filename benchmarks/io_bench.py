"""I/O budgets (DESIGN.md): a 300-slice 320x320 MR series to a canonical volume (< 3 s) and the
window shown after start (< 3 s). Run: `python benchmarks/io_bench.py [--quick]`.
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
from lumboplan_app.volume import Grid, Volume

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
