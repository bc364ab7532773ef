"""One channel assessment: what a channel touches, for the placement, the drag and the map.

The paper's placement (:mod:`~lumboplan_app.planning.placement`), the dragged channel
(:mod:`~lumboplan_app.planning.interactive`) and the feasibility map
(:mod:`~lumboplan_app.planning.feasibility`) all ask the same question of a channel: how near
it comes to each part, and which of the parts a free path must clear it touches. The answer
is written here once:

- The parts checked are the blocking ones (L5 IAP and transverse process, the exiting and
  traversing roots, the dural sac: DESIGN.md, "Classification"), their reported neighbours
  (S1 SAP, ala, L5 pedicle, lamina) and the side's ilium (crest and wing).
- A free path must clear the blocking parts, the ilium, the sacral ala and the L5 pedicle.
- A blocking part counts as touched nearer than the contact margin (half a voxel on voxel
  labels: "closer than the scan resolves"); the ilium, ala and pedicle count as touched only
  when the channel reaches into them (clearance below 0), as the paper's crest sweep turns the
  channel "until the cylinder no longer intersects the iliac bone": the placement, tangent to
  the crest, is not called blocked by it.
- Contacts are the checked parts nearer than :data:`REPORT_WITHIN_MM`, nearest (deepest)
  first.

Clearances of one channel are measured on its surface (:meth:`Channel.surface_points`); the map
measures the same cylinder on 5,551 poses by a faster sampling and applies the same limits
(:func:`touch_limits_mm`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import Part, Side
from lumboplan_app.planning.channel import Channel

FloatArray = npt.NDArray[np.float64]

#: Parts nearer than this (mm) to a channel are reported with their clearance.
REPORT_WITHIN_MM = 3.0


class DistanceSource(Protocol):
    """Anything that gives signed distances (mm, negative inside) at LPS points."""

    @property
    def present(self) -> bool:
        """Whether the set exists at all (an absent part is "not found", never "cleared")."""

    def sample(self, points_lps_mm: npt.ArrayLike) -> FloatArray:
        """Return the signed distance at points ``(..., 3)``."""

    def covers(self, points_lps_mm: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Return whether each point lies where the source knows the set (inside the scan)."""


def sided(side: Side, left: Part, right: Part) -> Part:
    """Return ``left`` or ``right`` for ``side``."""
    return left if side is Side.LEFT else right


def blocking_parts(side: Side) -> tuple[Part, ...]:
    """Return the parts whose contact makes a foramen Group B (DESIGN.md, "Classification")."""
    return (
        sided(side, Part.L5_IAP_LEFT, Part.L5_IAP_RIGHT),
        sided(side, Part.L5_TRANSVERSE_PROCESS_LEFT, Part.L5_TRANSVERSE_PROCESS_RIGHT),
        sided(side, Part.L5_ROOT_LEFT, Part.L5_ROOT_RIGHT),
        sided(side, Part.S1_ROOT_LEFT, Part.S1_ROOT_RIGHT),
        Part.DURAL_SAC,
    )


def reported_parts(side: Side) -> tuple[Part, ...]:
    """Return the parts whose clearance the plan reports: the blocking ones and their neighbours."""
    return (
        *blocking_parts(side),
        sided(side, Part.S1_SAP_LEFT, Part.S1_SAP_RIGHT),
        sided(side, Part.S1_ALA_LEFT, Part.S1_ALA_RIGHT),
        sided(side, Part.L5_PEDICLE_LEFT, Part.L5_PEDICLE_RIGHT),
        Part.L5_LAMINA,
    )


def ilium_parts(side: Side) -> tuple[Part, ...]:
    """Return the iliac parts of one side (crest and wing)."""
    return (
        sided(side, Part.ILIAC_CREST_LEFT, Part.ILIAC_CREST_RIGHT),
        sided(side, Part.ILIAC_WING_LEFT, Part.ILIAC_WING_RIGHT),
    )


def mapped_parts(side: Side) -> tuple[Part, ...]:
    """Return the parts a free path must clear: blocking parts, ilium, ala and pedicle."""
    return (
        *blocking_parts(side),
        *ilium_parts(side),
        sided(side, Part.S1_ALA_LEFT, Part.S1_ALA_RIGHT),
        sided(side, Part.L5_PEDICLE_LEFT, Part.L5_PEDICLE_RIGHT),
    )


def checked_parts(side: Side) -> tuple[Part, ...]:
    """Return every part a channel on ``side`` is checked against (reported and mapped)."""
    return tuple(dict.fromkeys((*reported_parts(side), *mapped_parts(side))))


def touch_limits_mm(side: Side, contact_margin_mm: float) -> dict[Part, float]:
    """Return, per part a free path must clear, the clearance (mm) below which it is touched.

    The blocking parts get ``contact_margin_mm``; the ilium, ala and pedicle 0 (module
    docstring).
    """
    limits = dict.fromkeys(mapped_parts(side), 0.0)
    limits.update(dict.fromkeys(blocking_parts(side), contact_margin_mm))
    return limits


@dataclass(frozen=True)
class PartContact:
    """A channel's clearance to one part (mm, negative: depth) and its closest surface point.

    ``closest_point_lps_mm`` is None for a contact read back from a plan file.
    """

    part: Part
    clearance_mm: float
    closest_point_lps_mm: tuple[float, float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the JSON form: structure, part and clearance."""
        return {
            "structure": self.part.structure.name.lower(),
            "part": self.part.name.lower(),
            "clearance_mm": round(self.clearance_mm, 2),
        }


def channel_clearances(
    channel: Channel, sources: Mapping[Part, DistanceSource], parts: Iterable[Part]
) -> dict[Part, PartContact]:
    """Return the channel's clearance (mm) to each of ``parts`` and the point that has it.

    The channel's surface is sampled once; a part missing from ``sources`` or absent
    (``present`` False) is left out: it can be neither touched nor cleared.
    """
    points = channel.surface_points()
    result = {}
    for part in parts:
        source = sources.get(part)
        if source is None or not source.present:
            continue
        distances = source.sample(points)
        nearest = int(np.argmin(distances))
        x, y, z = (float(v) for v in points[nearest])
        result[part] = PartContact(part, float(distances[nearest]), (x, y, z))
    return result


@dataclass(frozen=True)
class ChannelAssessment:
    """What one channel on ``side`` meets.

    ``contacts``: every checked part nearer than :data:`REPORT_WITHIN_MM`; ``touching``: the
    parts a free path must clear that it touches (:func:`touch_limits_mm`); both nearest first.
    """

    side: Side
    contacts: tuple[PartContact, ...]
    touching: tuple[PartContact, ...]

    @property
    def blocking(self) -> tuple[PartContact, ...]:
        """The touched parts that make the foramen Group B (nearest first)."""
        parts = blocking_parts(self.side)
        return tuple(contact for contact in self.touching if contact.part in parts)


def assess_channel(
    channel: Channel,
    side: Side,
    sources: Mapping[Part, DistanceSource],
    contact_margin_mm: float = 0.0,
) -> ChannelAssessment:
    """Measure a channel of ``side`` against its checked parts and say what it touches.

    Parameters
    ----------
    channel : Channel
        The cylinder (LPS mm).
    side : Side
        The foramen it passes: which sided parts are checked.
    sources : mapping of Part to DistanceSource
        Signed distances per part; missing or absent parts are left out.
    contact_margin_mm : float
        A blocking part nearer than this (mm) counts as touched (0 on exact geometry).
    """
    clearances = channel_clearances(channel, sources, checked_parts(side))
    limits = touch_limits_mm(side, contact_margin_mm)
    nearest_first = sorted(clearances.values(), key=lambda contact: contact.clearance_mm)
    return ChannelAssessment(
        side,
        tuple(c for c in nearest_first if c.clearance_mm < REPORT_WITHIN_MM),
        tuple(c for c in nearest_first if c.part in limits and c.clearance_mm < limits[c.part]),
    )
