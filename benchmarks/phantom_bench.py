"""Phantom generation speed and memory: seconds per case (random population), peak memory, and
what a training set of 200 cases costs on this machine. Run: `python benchmarks/phantom_bench.py
[--quick]`.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Timing, machine_header, table

from lumboplan_app.phantom.case import generate_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 cases instead of 10")
    arguments = parser.parse_args()
    seeds = range(1000, 1003 if arguments.quick else 1010)
    samples, voxels = [], []
    for seed in seeds:
        start = time.perf_counter()
        case = generate_case(seed)
        samples.append((time.perf_counter() - start) * 1000.0)
        voxels.append(case.image.grid.voxel_count)
    per_case = Timing("one phantom case (anatomy, MR, truth plan)", tuple(samples), None)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(machine_header())
    print(table([per_case]))
    print(
        f"\nScan sizes: median {np.median(voxels) / 1e6:.1f} M voxels. Peak memory (process): "
        f"{peak_mib:.0f} MiB. 200 cases: about {200 * np.mean(samples) / 60000:.0f} min on one "
        f"core, about {200 * np.mean(samples) / 120000:.0f} min with --workers 2."
    )


if __name__ == "__main__":
    main()
