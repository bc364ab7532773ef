"""Smoke test of an installed LumboPlan (run by `make wheel-check` outside the source tree).

Writes a small DICOM series with the installed package, runs `lumboplan info` and `lumboplan
convert` on it as a user would, checks that the shipped model and demo case lie inside the
installed package, runs the demo from scan to report with PyTorch made unimportable (the shipped
app segments on ONNX Runtime), and builds the main window offscreen: fails if a module or a
package data file is missing from the wheel.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import lumboplan_app
from lumboplan_app.io import read_scan
from lumboplan_app.io.dicom_export import write_dicom_series
from lumboplan_app.shipped import DEMO_SCAN, SHIPPED_WEIGHTS
from lumboplan_app.volume import Grid, Volume

source_tree = Path(__file__).resolve().parents[1] / "lumboplan_app"
if Path(lumboplan_app.__file__).resolve().is_relative_to(source_tree):
    sys.exit("smoke test imported the source tree, not the installed package")

bin_dir = Path(sys.executable).parent
with tempfile.TemporaryDirectory() as work:
    grid = Grid((10, 12, 14), (1.0, 1.0, 1.5), (0.0, 0.0, 0.0))
    volume = Volume(np.arange(grid.voxel_count, dtype=np.float32).reshape(grid.shape_zyx), grid)
    write_dicom_series(volume, Path(work) / "series")
    info = subprocess.run(
        [bin_dir / "lumboplan", "info", Path(work) / "series", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(info.stdout)["volume"]["size_xyz"] == [14, 12, 10]
    subprocess.run(
        [bin_dir / "lumboplan", "convert", Path(work) / "series", Path(work) / "scan.nii.gz"],
        check=True,
        capture_output=True,
    )
    assert read_scan(Path(work) / "scan.nii.gz").grid.shape_zyx == (10, 12, 14)

package = Path(lumboplan_app.__file__).resolve().parent
for shipped in (SHIPPED_WEIGHTS, DEMO_SCAN):
    if not (shipped.exists() and shipped.resolve().is_relative_to(package)):
        sys.exit(f"{shipped.name} is not shipped inside the installed package")
without_torch = (
    "import sys; sys.modules['torch'] = None; from lumboplan_app.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)
with tempfile.TemporaryDirectory() as work:
    demo = subprocess.run(
        [sys.executable, "-c", without_torch, "run", DEMO_SCAN, "-o", Path(work) / "demo"],
        capture_output=True,
        text=True,
    )
    if demo.returncode != 0 or not (Path(work) / "demo" / "report.pdf").is_file():
        sys.exit(f"lumboplan run on the demo failed without PyTorch:\n{demo.stderr}")

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from lumboplan_app.gui.app import create_application, create_window, load_style_sheet  # noqa: E402

application = create_application()
if not load_style_sheet():
    sys.exit("the window's style sheet is missing from the installed package")
window = create_window(None)
application.processEvents()
window.close()
print("installed package OK:", lumboplan_app.__version__)
