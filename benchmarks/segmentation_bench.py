"""Segmentation quality and speed on held-out phantoms (seeds never used for training).

For each structure: Dice, precision, recall and HD95 (mm), mean over the cases, beside the
paper's test Dice; then seconds per case on this machine (the whole ``Segmenter.segment``:
resampling, the network, labels back on the scan's grid, cleanup). Run:
`python benchmarks/segmentation_bench.py [--weights FILE] [--cases 20] [--device auto]
[--write-card]`; ``--write-card`` stores the table in the model card's ``metrics.held_out``.
Held-out seeds start at 900000; `lumboplan train` data should use other seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Timing, machine_header, table

from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.errors import ModelError
from lumboplan_app.phantom.case import generate_case
from lumboplan_app.segmentation.inference import DEFAULT_WEIGHTS, Segmenter
from lumboplan_app.segmentation.metrics import structure_scores
from lumboplan_app.segmentation.model_card import card_path_for, read_card
from lumboplan_app.volume import LabelMap

HELD_OUT_SEED = 900_000
#: Test Dice reported by Zhu et al. 2024 (Pain Physician 27:E245).
PAPER_DICE = {
    "l5": 0.921,
    "s1": 0.924,
    "disc": 0.885,
    "nerves": 0.808,
    "ilium": 0.886,
    "skin": 0.816,
}


def scores(predicted: np.ndarray, truth: np.ndarray, spacing_xyz: tuple[float, ...]) -> dict:
    spacing_zyx = (float(spacing_xyz[2]), float(spacing_xyz[1]), float(spacing_xyz[0]))
    return {
        s.structure.name.lower(): (s.dice, s.precision, s.recall, s.hd95_mm)
        for s in structure_scores(predicted, truth, spacing_zyx)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--write-card", action="store_true", help="store the table in the card")
    arguments = parser.parse_args()
    segmenter = Segmenter(arguments.weights, device=arguments.device)
    per_case, seconds = [], []
    for seed in range(HELD_OUT_SEED, HELD_OUT_SEED + arguments.cases):
        case = generate_case(seed)
        start = time.perf_counter()
        try:
            labels = segmenter.segment(case.image)
        except ModelError as error:  # counted, with empty labels: a refusal is a miss here
            print(f"seed {seed}: refused ({error})", flush=True)
            labels = LabelMap(np.zeros_like(case.labels.array), case.labels.grid)
        seconds.append((time.perf_counter() - start) * 1000.0)
        per_case.append(scores(labels.array, case.labels.array, case.image.grid.spacing_xyz_mm))
    print(machine_header() + f", device {segmenter.device}, model {arguments.weights.name}")
    print("\n| structure | Dice | precision | recall | HD95 mm | paper Dice |")
    print("|---|---|---|---|---|---|")
    dices = []
    held_out: dict[str, dict[str, float]] = {}
    for name in per_case[0]:
        values = np.array([case[name] for case in per_case], dtype=float)
        dice, precision, recall, hd95 = np.nanmean(values, axis=0)
        dices.append(dice)
        held_out[name] = {
            "dice": round(float(dice), 4),
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "hd95_mm": round(float(hd95), 2),
        }
        print(
            f"| {name} | {dice:.3f} | {precision:.3f} | {recall:.3f} | {hd95:.1f} | "
            f"{PAPER_DICE.get(name, float('nan')):.3f} |"
        )
    print(f"| mean | {np.mean(dices):.3f} | | | | |\n")
    timing = Timing("segmentation of one case (Segmenter.segment)", tuple(seconds), 20000)
    print(table([timing]))
    if arguments.write_card:
        card = read_card(arguments.weights)
        metrics = dict(card.metrics)
        metrics["held_out"] = {
            "cases": arguments.cases,
            "seeds": f"{HELD_OUT_SEED}-{HELD_OUT_SEED + arguments.cases - 1} (never trained on)",
            "data": "lumboplan phantom, default population and acquisitions",
            "pipeline": (
                "Segmenter.segment: the scan and its left-right mirror, class probabilities "
                "averaged and resampled linearly to the scan's grid, small pieces dropped; "
                "scored on the scan's own grid against the phantom's true labels"
            ),
            "per_structure": held_out,
            "mean_dice": round(float(np.mean(dices)), 4),
            "seconds_per_case_median": round(float(np.median(seconds)) / 1000.0, 2),
            "machine": machine_header(),
        }
        updated = replace(card, metrics=metrics)
        write_text_atomic(
            card_path_for(arguments.weights), json.dumps(updated.to_json(), indent=2) + "\n"
        )
        print(f"Stored in {card_path_for(arguments.weights).name}")


if __name__ == "__main__":
    main()
