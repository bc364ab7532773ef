"""Put a phantom's mid-sagittal slice beside the real sagittal lumbar T2 at the same scale.

Usage: python scripts/phantom_vs_real.py REAL_T2 OUT.png [--seeds 0 1 2]
REAL_T2 is ../shared/realdata/nifti/sct_lumbar_t2/t2_lumbar.nii.gz (see its PROVENANCE.md).
Each panel is 1 mm per pixel, windowed from 0 to its 99.5th percentile.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from lumboplan_app.io import read_scan
from lumboplan_app.phantom.case import generate_case
from lumboplan_app.phantom.mr import Acquisition
from lumboplan_app.phantom.preview import oblique_slice
from lumboplan_app.volume import Volume

HEIGHT_MM = 200.0


def sagittal_panel(volume: Volume, centre_lps: np.ndarray) -> np.ndarray:
    """A 1 mm sagittal panel (anterior left, superior up) around ``centre_lps``."""
    plane = oblique_slice(
        volume,
        centre_lps,
        np.array([0.0, 1.0, 0.0]),
        np.array([0.0, 0.0, -1.0]),
        size_mm=HEIGHT_MM,
        pixel_mm=1.0,
    )
    return np.clip(plane / max(float(np.percentile(plane, 99.5)), 1e-6), 0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("real", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    arguments = parser.parse_args()
    real = read_scan(arguments.real)
    centre = real.grid.index_to_lps(np.array(real.grid.shape_zyx) / 2 - 0.5)
    panels = [
        ("real T2 (SCT tutorial)", sagittal_panel(real, centre + np.array([0.0, 10.0, -20.0])))
    ]
    for seed in arguments.seeds:
        case = generate_case(seed, acquisition=Acquisition(plane="sagittal", in_plane_mm=1.0))
        panels.append((f"phantom {seed}", sagittal_panel(case.image, np.array([0.0, 20.0, 20.0]))))
    size = panels[0][1].shape[0]
    sheet = Image.new("L", (len(panels) * (size + 10) + 10, size + 30), 16)
    draw = ImageDraw.Draw(sheet)
    for number, (title, panel) in enumerate(panels):
        x = 10 + number * (size + 10)
        sheet.paste(Image.fromarray((panel * 255).astype(np.uint8)), (x, 25))
        draw.text((x, 6), title, fill=230)
    sheet.save(arguments.output)


if __name__ == "__main__":
    main()
