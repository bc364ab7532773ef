"""Plan both foramina of a case from its part map and landmarks (voxel distance fields).

The landmarks (points a and b, the disc mid-plane, the mid-sagittal plane) come in as
``truth.json`` gives them; deriving them and the parts from the seven segmented structures is
the next step of the planning issue.
"""

from __future__ import annotations

from typing import Any

from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.distance import DistanceField
from lumboplan_app.planning.placement import (
    SidePlan,
    ilium_parts,
    paper_placement,
    reported_parts,
)
from lumboplan_app.volume import LabelMap


def plan_from_parts(parts: LabelMap, landmarks: dict[str, Any]) -> dict[Side, SidePlan]:
    """Place the channel by the paper's protocol on each side of a part map.

    Parameters
    ----------
    parts : LabelMap
        Part ids (``lumboplan_app.labels.Part``).
    landmarks : dict
        ``points_lps_mm`` ({left, right}: {a, b}) and ``planes`` ({mid_sagittal, disc_mid}:
        {point, normal}), in LPS mm, as in a phantom's ``truth.json``.
    """
    planes = landmarks["planes"]
    needed = {
        part
        for side in (Side.LEFT, Side.RIGHT)
        for part in (*reported_parts(side), *ilium_parts(side))
    }
    fields = {part: DistanceField.from_labels(parts, [part]) for part in needed}
    skin = DistanceField.from_labels(parts, [Part.SKIN])
    result = {}
    for side in (Side.LEFT, Side.RIGHT):
        points = landmarks["points_lps_mm"][side.value]
        result[side] = paper_placement(
            side,
            points["b"],
            planes["disc_mid"]["normal"],
            fields,
            skin,
            (planes["mid_sagittal"]["point"], planes["mid_sagittal"]["normal"]),
            point_a=points["a"],
        )
    return result
