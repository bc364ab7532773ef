"""One sliding window of the shipped network in float32 and in bfloat16, on this CPU.

Tells whether bfloat16 is native here (AVX-512 BF16 or AMX) and which precision the Segmenter
therefore uses. Where bfloat16 is emulated (AVX2-only CPUs) it is many times slower than
float32, which is why inference uses it only where it is native. Run:
`python benchmarks/precision_bench.py [--repeats 5] [--quick]`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_header, measure, table

from lumboplan_app.segmentation.inference import (
    Segmenter,
    TorchNetwork,
    cpu_has_native_bfloat16,
    inference_dtype,
)


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one repeat")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.repeats = 1
    segmenter = Segmenter(device="torch-cpu")
    assert isinstance(segmenter.network, TorchNetwork)
    window = torch.randn(1, 1, *segmenter.card.patch_size)

    def run(dtype: torch.dtype | None) -> None:
        precision = (
            torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
        )
        with torch.no_grad(), precision:
            segmenter.network.module(window)

    timings = [measure("one window, float32", lambda: run(None), arguments.repeats)]
    timings.append(
        measure("one window, bfloat16 autocast", lambda: run(torch.bfloat16), arguments.repeats)
    )
    print(machine_header() + f", torch {torch.__version__}")
    print(
        f"bfloat16 native on this CPU: {cpu_has_native_bfloat16()}; the Segmenter uses "
        f"{inference_dtype(torch.device('cpu')) or 'float32'}\n"
    )
    print(table(timings))


if __name__ == "__main__":
    main()
