"""Segmentation of the demo case with ONNX Runtime and with PyTorch, on this CPU.

Times the whole ``Segmenter.segment`` (resampling, both passes of sliding windows, labels back
on the scan's grid, cleanup) with the shipped model on ONNX Runtime (``device="cpu"``, float32)
and on PyTorch (``device="torch-cpu"``: bfloat16 where this CPU computes it natively, as the
Segmenter chooses, and float32), each in a fresh process so the other runtime's threads and
caches do not interfere. Then says how far PyTorch's results are from ONNX Runtime's: the labels
that differ and the largest difference of a class probability.
Run: `python benchmarks/inference_bench.py [--repeats 3] [--quick]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Timing, machine_header, table

#: Stage -> (device, force float32).
RUNTIMES = {
    "ONNX Runtime (cpu)": ("cpu", False),
    "PyTorch (torch-cpu, precision as chosen)": ("torch-cpu", False),
    "PyTorch (torch-cpu, float32)": ("torch-cpu", True),
}

#: Run in a child process: segment the demo ``repeats`` times after one warm-up, print the
#: timings (ms) and save the probabilities and labels to compare the runtimes.
CHILD = """
import json, sys, time
import numpy as np
from lumboplan_app.io import read_scan
from lumboplan_app.segmentation.inference import Segmenter
from lumboplan_app.shipped import DEMO_SCAN

device, float32, repeats, out = sys.argv[1], sys.argv[2] == "True", int(sys.argv[3]), sys.argv[4]
volume = read_scan(DEMO_SCAN)
segmenter = Segmenter(device=device)
if float32:
    segmenter.network.dtype = None
segmenter.segment(volume)
samples = []
for _ in range(repeats):
    start = time.perf_counter()
    labels = segmenter.segment(volume)
    samples.append((time.perf_counter() - start) * 1000.0)
resampled = segmenter._resample(volume)
probabilities = segmenter._predict(segmenter._normalise(resampled.array), None, None)
np.savez(out, labels=labels.array, probabilities=probabilities)
precision = str(getattr(segmenter.network, "dtype", None) or "float32")
report = {"samples": samples, "runtime": segmenter.runtime, "precision": precision}
report["torch"] = "torch" in sys.modules
print(json.dumps(report))
"""


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat")
    arguments = parser.parse_args()
    repeats = 1 if arguments.quick else arguments.repeats
    timings, results, notes = [], [], []
    out = Path(__file__).resolve().parents[1] / "build" / "inference_bench"
    out.mkdir(parents=True, exist_ok=True)
    for stage, (device, float32) in RUNTIMES.items():
        saved = out / f"{device}-{float32}.npz"
        child = subprocess.run(
            [sys.executable, "-c", CHILD, device, str(float32), str(repeats), str(saved)],
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(child.stdout.splitlines()[-1])
        timings.append(Timing(f"segment the demo, {stage}", tuple(report["samples"]), None))
        results.append(np.load(saved))
        notes.append(
            f"{stage}: ran on {report['runtime']} in {report['precision']}, torch imported: "
            f"{report['torch']}"
        )
    print(machine_header())
    print("\n".join(notes) + "\n")
    print(table(timings) + "\n")
    onnx = results[0]
    for stage, timing, other in zip(list(RUNTIMES)[1:], timings[1:], results[1:], strict=True):
        differing = int((onnx["labels"] != other["labels"]).sum())
        largest = float(np.abs(onnx["probabilities"] - other["probabilities"]).max())
        print(
            f"ONNX Runtime vs {stage}: {timing.median_ms / timings[0].median_ms:.2f} times as "
            f"fast; labels differing: {differing} of {onnx['labels'].size} voxels; largest "
            f"probability difference {largest:.2g}."
        )


if __name__ == "__main__":
    main()
