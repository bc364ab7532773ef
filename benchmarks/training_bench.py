"""Training patches with and without workers: the wait for the first batch, the seconds per batch
after it, and the memory of the training process and its children together (PSS, Linux). The
shipped card's grid and patch (1.5 mm, 64 voxels), batches of 2, on phantoms made here or on the
case folders given. Run: `python benchmarks/training_bench.py [--quick] [--data DIR ...]
[--workers 0 1 2] [--batches 30]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Timing, machine_header, table

from lumboplan_app.phantom.case import generate_case, write_case
from lumboplan_app.segmentation.batches import BatchMaker
from lumboplan_app.segmentation.inference import DEFAULT_WEIGHTS
from lumboplan_app.segmentation.model_card import read_card
from lumboplan_app.segmentation.training import _load_cases, find_cases


def pss_mib(pid: int) -> float:
    """Proportional set size of process ``pid`` in MiB (shared pages split among their users)."""
    try:
        with Path(f"/proc/{pid}/smaps_rollup").open(encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc; none elsewhere)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii").rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="3 phantoms, 0 and 1 worker, 5 batches"
    )
    parser.add_argument("--data", nargs="*", type=Path, default=[], help="case folders' parents")
    parser.add_argument("--workers", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--batches", type=int, default=30, help="timed after the first (30)")
    arguments = parser.parse_args()
    workers = [0, 1] if arguments.quick else arguments.workers
    batches = 5 if arguments.quick else arguments.batches
    card = read_card(DEFAULT_WEIGHTS)
    with tempfile.TemporaryDirectory(prefix="training-bench-") as scratch:
        folders = arguments.data
        if not folders:
            folders = [Path(scratch) / "phantoms"]
            for seed in range(1000, 1003 if arguments.quick else 1006):
                write_case(generate_case(seed), folders[0] / f"case_{seed}")
        cases = _load_cases(find_cases(folders), card, Path(scratch) / "loaded")
        megabytes = (
            sum(
                sum(np.asarray(value).nbytes for value in (case["image"], case["mask"]))
                + sum(indices.nbytes for indices in case["indices"])
                for case in cases
            )
            / 2**20
        )
        timings, memory = [], []
        for count in workers:
            weights = np.full(len(cases), 1.0 / len(cases))
            start = time.perf_counter()
            maker = BatchMaker(cases, weights, card, 2, 0, count, files=Path(scratch) / "files")
            try:
                maker.batch(0)
                first = (time.perf_counter() - start) * 1000.0
                samples = []
                for step in range(1, batches + 1):
                    start = time.perf_counter()
                    maker.batch(step)
                    samples.append((time.perf_counter() - start) * 1000.0)
                own = os.getpid()
                memory.append(pss_mib(own) + sum(pss_mib(pid) for pid in children(own)))
            finally:
                maker.close()
            label = f"{count} worker(s)"
            timings.append(Timing(f"{label}: first batch (workers start)", (first,), None))
            timings.append(Timing(f"{label}: each batch after it", tuple(samples), None))
    print(machine_header())
    print(f"{len(cases)} cases loaded ({megabytes:.0f} MiB on the model grid), batches of 2\n")
    print(table(timings))
    print("\n| workers | memory, process and its children (PSS, MiB) |\n|---|---|")
    for count, mib in zip(workers, memory, strict=True):
        print(f"| {count} | {mib:.0f} |")


if __name__ == "__main__":
    main()
