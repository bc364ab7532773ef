"""Planning against phantom ground truth, over a folder of phantom cases (issue 6's check).

For each case (``labels.nii.gz``, ``parts.nii.gz``, ``truth.json`` as ``lumboplan phantom``
writes them) it derives the parts and points a and b from the seven structures and plans both
foramina, plans again on the true parts with the true landmarks, and prints:

- point b and point a: distance to the truth (mean, max, mm);
- every derived part's Dice against the true part (mean, min);
- the group from the structures vs the group from the true parts, and vs the exact-geometry
  truth (``truth.json``'s plan), with the confusion of A/B;
- the population: share of Group A, means of Line A, alpha and Line B beside the paper's.

Run: ``python benchmarks/planning_validation.py [DATA_DIR] [--count 50] [--seed 2000]``: the
cases of DATA_DIR (``lumboplan phantom`` output), or, without it, phantoms generated in memory on
a 1 mm axial acquisition covering both foramina, the crests and the back's skin.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_header

from lumboplan_app.io import read_label_map
from lumboplan_app.labels import Part, Side
from lumboplan_app.phantom.case import generate_case
from lumboplan_app.phantom.generate import PLANNING_ACQUISITION
from lumboplan_app.phantom.mr import default_contrast
from lumboplan_app.planning.parts import derive_anatomy
from lumboplan_app.planning.plan import plan_from_parts

SCAN = PLANNING_ACQUISITION
PAPER = {"group_a_share": 0.49, "line_a_mm": 13.6, "alpha_deg": 40.65, "line_b_mm": 89.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, nargs="?", help="folder of phantom case folders")
    parser.add_argument("--count", type=int, default=50, help="cases to use (50)")
    parser.add_argument("--seed", type=int, default=2000, help="first seed when generating")
    arguments = parser.parse_args()
    if arguments.data is not None:
        folders = sorted(p for p in arguments.data.iterdir() if (p / "truth.json").is_file())
        sources = [_from_folder(folder) for folder in folders[: arguments.count]]
    else:
        sources = [
            _generated(seed) for seed in range(arguments.seed, arguments.seed + arguments.count)
        ]
    point_errors: dict[str, list[float]] = {"a": [], "b": []}
    dices: dict[Part, list[float]] = {}
    groups: list[tuple[str, str, str]] = []  # (from structures, from true parts, exact truth)
    measures: dict[str, list[float]] = {"line_a_mm": [], "alpha_deg": [], "line_b_mm": []}
    seconds = []
    for load in sources:
        name, labels, parts, truth = load()
        start = time.perf_counter()
        derived = derive_anatomy(labels)
        planned = plan_from_parts(derived.parts, derived.landmarks, with_maps=False)
        seconds.append(time.perf_counter() - start)
        reference = plan_from_parts(parts, truth, with_maps=False)
        for side in Side:
            for point in ("a", "b"):
                found = derived.landmarks["points_lps_mm"][side.value][point]
                true = truth["points_lps_mm"][side.value][point]
                error = np.inf if found is None else float(np.linalg.norm(np.subtract(found, true)))
                point_errors[point].append(error)
            plan = planned.sides[side]
            groups.append(
                (plan.group, reference.sides[side].group, truth["plan"][side.value]["group"])
            )
            for key in measures:
                value = getattr(plan, key)
                if value is not None:
                    measures[key].append(float(value))
        for part in Part:
            if part == Part.BACKGROUND:
                continue
            a, b = derived.parts.array == part, parts.array == part
            total = int(a.sum()) + int(b.sum())
            if total:
                dices.setdefault(part, []).append(2.0 * int((a & b).sum()) / total)
        recent = groups[-2:]
        print(
            f"{name}: {[g[0] for g in recent]} vs parts {[g[1] for g in recent]}"
            f" vs exact {[g[2] for g in recent]}",
            flush=True,
        )
    print(machine_header())
    print(
        f"\n{len(sources)} cases, {len(groups)} foramina; plan from the labels: "
        f"{np.median(seconds):.1f} s median per case (no maps)\n"
    )
    print("| point | mean mm | max mm | within |")
    print("|---|---|---|---|")
    for name, limit in (("b", 2.0), ("a", 3.0)):
        values = np.array(point_errors[name])
        print(
            f"| {name} | {values.mean():.2f} | {values.max():.2f} | "
            f"{(values <= limit).mean():.0%} within {limit:.0f} mm |"
        )
    print("\n| part | mean Dice | min Dice |")
    print("|---|---|---|")
    for part, values in sorted(dices.items()):
        print(f"| {part.name.lower()} | {np.mean(values):.3f} | {np.min(values):.3f} |")
    agree_parts = sum(g[0] == g[1] for g in groups)
    agree_exact = sum(g[0] == g[2] for g in groups)
    false_a = sum(g[0] == "A" and g[1] == "B" for g in groups)
    false_b = sum(g[0] == "B" and g[1] == "A" for g in groups)
    print(
        f"\nGroup from the structures = group from the true parts: {agree_parts}/{len(groups)} "
        f"(structures A where parts B: {false_a}; B where A: {false_b})"
    )
    exact_false_a = sum(g[0] == "A" and g[2] == "B" for g in groups)
    exact_false_b = sum(g[0] == "B" and g[2] == "A" for g in groups)
    print(
        f"Group from the structures = exact-geometry truth: {agree_exact}/{len(groups)} "
        f"(structures A where exact B: {exact_false_a}; B where A: {exact_false_b})"
    )
    share = np.mean([g[0] == "A" for g in groups])
    print("\n| population | LumboPlan (from structures) | paper |")
    print("|---|---|---|")
    print(f"| Group A | {share:.0%} | {PAPER['group_a_share']:.0%} |")
    for key in measures:
        values = measures[key]
        mean = f"{np.mean(values):.1f} (n={len(values)})" if values else "-"
        print(f"| {key} | {mean} | {PAPER[key]} |")


def _from_folder(folder: Path):
    def load():
        labels = read_label_map(folder / "labels.nii.gz")
        parts = read_label_map(folder / "parts.nii.gz")
        return folder.name, labels, parts, json.loads((folder / "truth.json").read_text())

    return load


def _generated(seed: int):
    def load():
        case = generate_case(seed, acquisition=SCAN, contrast=default_contrast())
        return f"seed {seed}", case.labels, case.parts, case.truth

    return load


if __name__ == "__main__":
    main()
