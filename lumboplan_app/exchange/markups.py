"""The plan as 3D Slicer markups (``.markups.json``, Slicer's markups schema v1.0.3).

One file holds, per side:

- a point list ``<Side> plan points`` with points a, b, c, d of the plan (the paper's placement,
  as the plan JSON gives them; a point the plan has not found is left out);
- a line ``<Side> Line A`` from point a to the nearest voxel of the exiting L5 root, with the
  plan's Line A (mm) as a measurement;
- a line ``<Side> Line B`` from point d to its foot on the mid-sagittal plane, in the axial
  plane through d (as Line B is measured), with the plan's Line B (mm);
- a line ``<Side> channel`` from the channel's tip (point b) to its outer end, as the surgeon
  left it in the case, with its diameter and length as measurements and in its description.

Every position is in LPS millimetres (``"coordinateSystem": "LPS"``), the frame of the scan and
of the ``.seg.nrrd`` labels, so Slicer shows the plan on both. Slicer computes its own length of
each line; the measurements here carry LumboPlan's values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from lumboplan_app.atomic import write_text_atomic
from lumboplan_app.errors import PlanningError
from lumboplan_app.labels import Side
from lumboplan_app.planning.channel import axial_offset_mm
from lumboplan_app.planning.interactive import line_a_segment
from lumboplan_app.session import CaseFile

MARKUPS_SCHEMA_URL = (
    "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/"
    "Resources/Schema/markups-schema-v1.0.3.json#"
)
MARKUPS_SUFFIX = ".markups.json"
#: Display colours (RGB 0-1): points and lines of the left side, then of the right side.
_SIDE_COLOURS = {Side.LEFT: [0.2, 0.6, 1.0], Side.RIGHT: [1.0, 0.5, 0.1]}
_CHANNEL_COLOUR = [0.1, 0.9, 0.3]


def plan_markups(case: CaseFile) -> dict[str, Any]:
    """Return the plan of ``case`` as a Slicer markups document (LPS mm).

    Raises
    ------
    PlanningError
        If the case holds no plan (saved before planning).
    """
    sides = (case.plan or {}).get("sides")
    if not sides:
        raise PlanningError(
            "This case has no plan yet (it was saved before planning): plan it and save it, "
            "then export the plan."
        )
    markups: list[dict[str, Any]] = []
    planes = case.plan.get("planes", {})
    for side in Side:
        entry = sides[side.value]
        title = side.value.title()
        colour = _SIDE_COLOURS[side]
        points = entry.get("points_lps_mm", {})
        found = [(name, points.get(name)) for name in ("a", "b", "c", "d")]
        markups.append(
            _markup(
                "Fiducial",
                f"{title} plan points",
                [_point(name, position) for name, position in found if position is not None],
                colour,
            )
        )
        segment = line_a_segment(points.get("a"), case.parts, side)
        if segment is not None:
            markups.append(
                _line(f"{title} Line A", segment, colour, [_mm("Line A", entry.get("line_a_mm"))])
            )
        mid_sagittal = planes.get("mid_sagittal")
        point_d = points.get("d")
        if point_d is not None and mid_sagittal is not None:
            d = np.asarray(point_d, dtype=np.float64)
            distance, direction = axial_offset_mm(d, mid_sagittal["point"], mid_sagittal["normal"])
            markups.append(
                _line(
                    f"{title} Line B",
                    (d, d - distance * direction),
                    colour,
                    [_mm("Line B", entry.get("line_b_mm"))],
                )
            )
        channel = (case.channels or {}).get(side.value)
        if channel is not None:
            tip = np.asarray(channel["tip_lps_mm"], dtype=np.float64)
            end = tip + np.asarray(channel["axis"], dtype=np.float64) * channel["length_mm"]
            line = _line(
                f"{title} channel",
                (tip, end),
                _CHANNEL_COLOUR,
                [_mm("diameter", channel["diameter_mm"]), _mm("length", channel["length_mm"])],
            )
            line["description"] = (
                f"Working channel, diameter {channel['diameter_mm']:g} mm, length "
                f"{channel['length_mm']:g} mm, from point b (tip) outward"
            )
            line["controlPoints"][0]["label"] = "tip (b)"
            line["controlPoints"][1]["label"] = "outer end"
            markups.append(line)
    return {"@schema": MARKUPS_SCHEMA_URL, "markups": markups}


def write_markups(case: CaseFile, path: Path) -> None:
    """Write :func:`plan_markups` of ``case`` to ``path`` (JSON, atomically)."""
    write_text_atomic(path, json.dumps(plan_markups(case), indent=2) + "\n")


def _markup(
    kind: str, name: str, points: list[dict[str, Any]], colour: list[float]
) -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "coordinateSystem": "LPS",
        "coordinateUnits": "mm",
        "locked": True,
        "labelFormat": "%N-%d",
        "controlPoints": points,
        "measurements": [],
        "display": {
            "visibility": True,
            "color": colour,
            "selectedColor": colour,
            "pointLabelsVisibility": True,
            "propertiesLabelVisibility": True,
        },
    }


def _line(
    name: str,
    ends: tuple[np.ndarray, np.ndarray],
    colour: list[float],
    measurements: list[dict[str, Any]],
) -> dict[str, Any]:
    markup = _markup("Line", name, [_point(str(i + 1), ends[i]) for i in range(2)], colour)
    markup["measurements"] = [m for m in measurements if m]
    return markup


def _point(label: str, position: Any) -> dict[str, Any]:
    return {
        "id": label,
        "label": label,
        "position": [round(float(v), 3) for v in position],
        "locked": True,
        "visibility": True,
        "positionStatus": "defined",
    }


def _mm(name: str, value: float | None) -> dict[str, Any]:
    """Return a measurement in millimetres; empty (dropped) when the plan has no value."""
    if value is None:
        return {}
    return {
        "name": name,
        "enabled": False,
        "value": float(value),
        "units": "mm",
        "printFormat": "%-#4.4g %s",
    }
