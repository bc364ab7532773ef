"""Report budgets (DESIGN.md): the PDF report (< 5 s) and scan to report, headless (< 30 s).

On the demo case with its true labels (``run --labels``) and, when the shipped model exists,
with segmentation (``run``): the seconds of each stage.
Run: `python benchmarks/report_bench.py [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_header, measure, table

from lumboplan_app.io import read_scan
from lumboplan_app.pipeline import RunOptions, run_case
from lumboplan_app.report.pdf import write_report
from lumboplan_app.segmentation.inference import DEFAULT_WEIGHTS
from lumboplan_app.session import read_case

DEMO = Path(__file__).resolve().parents[1] / "resources/demo/case_00057"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    arguments = parser.parse_args()
    repeats = 1 if arguments.quick else 3
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        given = RunOptions(labels=DEMO / "labels.nii.gz")
        result = run_case(DEMO / "dicom", out / "given", given)
        case = read_case(out / "given" / "case.lumboplan")
        volume = read_scan(DEMO / "dicom")
        timings = [
            measure(
                "PDF report (figures included)",
                lambda: write_report(case, out / "report.pdf", volume),
                repeats,
                5000,
            ),
            measure(
                "scan to report, labels given",
                lambda: run_case(DEMO / "dicom", out / "given", given),
                repeats,
                30000,
            ),
        ]
        stages = {"labels given": result.seconds}
        if DEFAULT_WEIGHTS.is_file():
            timings.append(
                measure(
                    "scan to report, segmented by the model",
                    lambda: run_case(DEMO / "dicom", out / "model", RunOptions()),
                    repeats,
                    30000,
                )
            )
            stages["segmented"] = run_case(DEMO / "dicom", out / "model", RunOptions()).seconds
    print(machine_header())
    print(table(timings))
    print("\n| run | " + " | ".join(next(iter(stages.values()))) + " |")
    print("|---" * (1 + len(next(iter(stages.values())))) + "|")
    for name, seconds in stages.items():
        print(f"| {name} | " + " | ".join(f"{s:.1f} s" for s in seconds.values()) + " |")


if __name__ == "__main__":
    main()
