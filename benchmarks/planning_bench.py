"""Planning budgets (DESIGN.md): all meshes of a case (< 2 s). Run:
`python benchmarks/planning_bench.py [--quick]`. Measured on the demo case's true labels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_header, measure, table

from lumboplan_app.io import read_label_map
from lumboplan_app.reconstruction.meshes import structure_meshes

DEMO_LABELS = Path(__file__).resolve().parents[1] / "resources/demo/case_00009/labels.nii.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    arguments = parser.parse_args()
    repeats = 2 if arguments.quick else 5
    labels = read_label_map(DEMO_LABELS)
    timings = [
        measure(
            "all meshes (6 structures, demo case)", lambda: structure_meshes(labels), repeats, 2000
        )
    ]
    print(machine_header())
    print(table(timings))


if __name__ == "__main__":
    main()
