"""Planning budgets (DESIGN.md) on the demo case's true labels: all meshes (< 2 s), parts and
landmarks derived from the structures, distance fields (one part, and every part the plan
samples with the skin), one pose's collisions against the Group-B parts and the ilium (< 5 ms),
the feasibility map of one side (< 1 s), and the whole plan of both sides from the labels (the
surgeon waits on it after every label edit: issue 19 asks < 2 s).
Run: `python benchmarks/planning_bench.py [--quick]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine_header, measure, table

from lumboplan_app.io import read_label_map
from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.assessment import channel_clearances
from lumboplan_app.planning.channel import Channel
from lumboplan_app.planning.distance import DistanceField
from lumboplan_app.planning.feasibility import feasibility_map
from lumboplan_app.planning.field_of_view import FieldOfView
from lumboplan_app.planning.parts import derive_anatomy
from lumboplan_app.planning.plan import plan_fields, plan_from_labels
from lumboplan_app.reconstruction.meshes import structure_meshes

DEMO = Path(__file__).resolve().parents[1] / "resources/demo/case_00057"
LEFT_PARTS = (
    Part.L5_IAP_LEFT,
    Part.L5_TRANSVERSE_PROCESS_LEFT,
    Part.L5_ROOT_LEFT,
    Part.S1_ROOT_LEFT,
    Part.DURAL_SAC,
    Part.ILIAC_CREST_LEFT,
    Part.ILIAC_WING_LEFT,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    arguments = parser.parse_args()
    repeats = 2 if arguments.quick else 5
    labels = read_label_map(DEMO / "labels.nii.gz")
    parts = read_label_map(DEMO / "parts.nii.gz")
    timings = [
        measure("all meshes (6 structures)", lambda: structure_meshes(labels), repeats, 2000),
        measure(
            "distance field of one part (L5 IAP, 40 mm margin)",
            lambda: DistanceField.from_labels(parts, [Part.L5_IAP_LEFT]),
            repeats,
        ),
    ]
    fields = {part: DistanceField.from_labels(parts, [part]) for part in LEFT_PARTS}
    channel = Channel((13.0, 13.0, 9.0), (0.7, 0.6, 0.3))
    timings.append(
        measure(
            "one pose: collisions with 7 parts",
            lambda: channel_clearances(channel, fields, LEFT_PARTS),
            20 * repeats,
            5,
        )
    )
    derived = derive_anatomy(labels)
    timings.append(
        measure(
            "parts and landmarks from the 7 structures", lambda: derive_anatomy(labels), repeats
        )
    )
    timings.append(
        measure(
            "distance fields of the plan's 20 parts and the skin",
            lambda: plan_fields(derived.parts),
            repeats,
        )
    )
    derived_fields, skin = plan_fields(derived.parts)
    view = FieldOfView.of_label_map(derived.parts, {})
    point_b = derived.landmarks["points_lps_mm"]["left"]["b"]
    normal = derived.landmarks["planes"]["disc_mid"]["normal"]
    timings.append(
        measure(
            "feasibility map, one side (91 x 61 poses, field of view)",
            lambda: feasibility_map(
                Side.LEFT, point_b, normal, derived_fields, field_of_view=view, skin=skin
            ),
            repeats,
            1000,
        )
    )
    timings.append(
        measure(
            "whole plan from the labels (both sides, maps)",
            lambda: plan_from_labels(labels),
            max(1, repeats // 2),
            2000,
        )
    )
    print(machine_header())
    print(table(timings))


if __name__ == "__main__":
    main()
