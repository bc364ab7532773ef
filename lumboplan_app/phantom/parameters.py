"""Named parameters of a synthetic lumbosacral phantom, their ranges and how they are drawn.

Every length is in mm, every angle in degrees. The ranges are adult anatomy; the sources are
listed per parameter in ``docs/phantom.md`` (Panjabi 1992 for vertebral bodies, Zindrick 1987
for pedicles, Legaye 1998 for sacral slope, Hasegawa 1995 for foramina, and others).
:func:`sample_parameters` draws a case from a seeded generator; :func:`symmetric_parameters`,
:func:`surely_group_a` and :func:`surely_group_b` build the cases tests rely on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from lumboplan_app.labels import Side


@dataclass(frozen=True)
class SideParameters:
    """What differs between the left and the right foramen.

    Parameters
    ----------
    crest_height_mm : float
        Height of the iliac crest's highest point above the L5/S1 disc centre (LPS z).
        Range -5..55: the intercrestal line lies near L4/L5, higher in some patients.
    crest_posterior_drop_mm : float
        How much lower the crest is at its posterior end (PSIS) than at its peak, 15..35.
    iliac_lateral_mm : float
        Distance of the iliac wing from the mid-sagittal plane where it meets the sacrum, 52..70.
    transverse_process_length_mm : float
        Lateral reach of the L5 transverse process tip from the midline, 38..52.
    iap_length_mm : float
        How far the L5 inferior articular process reaches below the disc mid-plane, 2..14.
    sap_height_mm : float
        Height of the S1 superior articular process tip above the disc mid-plane, 2..16.
    facet_angle_deg : float
        Angle of the L5/S1 facet joint to the sagittal plane, 35..60 (lumbosacral facets are
        more coronal than upper lumbar ones).
    l5_root_diameter_mm : float
        Diameter of the exiting L5 root with its ganglion in the foramen, 5..8.
    s1_root_medial_offset_mm : float
        How far medial of the pedicle's medial line the traversing S1 root runs at the disc, 2..7.
    herniation_mm : float
        Posterolateral disc herniation depth on this side, 0 (none) to 7.
    """

    crest_height_mm: float = 25.0
    crest_posterior_drop_mm: float = 25.0
    iliac_lateral_mm: float = 60.0
    transverse_process_length_mm: float = 44.0
    iap_length_mm: float = 8.0
    sap_height_mm: float = 9.0
    facet_angle_deg: float = 45.0
    l5_root_diameter_mm: float = 6.0
    s1_root_medial_offset_mm: float = 4.5
    herniation_mm: float = 0.0


@dataclass(frozen=True)
class PhantomParameters:
    """The anatomy and body habitus of one phantom (see the module docstring for units).

    Parameters
    ----------
    sacral_slope_deg : float
        Angle of the S1 endplate to the horizontal, 28..44 supine (Legaye 1998: 41 +/- 8
        standing; lying supine flattens the lordosis by a few degrees).
    l5s1_disc_angle_deg : float
        Lordotic wedge angle of the L5/S1 disc, 6..18.
    l5s1_disc_height_mm : float
        Height of the L5/S1 disc at its centre, 7..14.
    l45_disc_height_mm, l45_disc_angle_deg : float
        The same for L4/L5 (9..13 mm, 6..12 degrees).
    l5_body_height_mm, l5_body_width_mm, l5_body_depth_mm : float
        L5 vertebral body (Panjabi 1992): height 24..30, width 44..56, depth 31..39.
    l5_wedge_deg : float
        Wedge angle of the L5 body, 0..7.
    pedicle_width_mm, pedicle_height_mm : float
        L5 pedicle transverse width 13..20 and height 12..17 (Zindrick 1987).
    interpedicular_mm : float
        Distance between the L5 pedicles' medial borders, 22..30.
    canal_depth_mm : float
        Antero-posterior depth of the canal at L5, 13..20.
    dural_sac_diameter_mm : float
        Diameter of the dural sac at L5/S1, 12..17.
    bmi : float
        Body mass index, 18..33 (the paper's cohort); sets body size and fat.
    left, right : SideParameters
        What differs per side.
    """

    sacral_slope_deg: float = 36.0
    l5s1_disc_angle_deg: float = 12.0
    l5s1_disc_height_mm: float = 11.0
    l45_disc_height_mm: float = 11.0
    l45_disc_angle_deg: float = 9.0
    l5_body_height_mm: float = 27.0
    l5_body_width_mm: float = 50.0
    l5_body_depth_mm: float = 35.0
    l5_wedge_deg: float = 4.0
    pedicle_width_mm: float = 17.0
    pedicle_height_mm: float = 14.0
    interpedicular_mm: float = 26.0
    canal_depth_mm: float = 17.0
    dural_sac_diameter_mm: float = 15.0
    bmi: float = 24.0
    left: SideParameters = field(default_factory=SideParameters)
    right: SideParameters = field(default_factory=SideParameters)

    def side(self, side: Side) -> SideParameters:
        """Return the parameters of one side."""
        return self.left if side is Side.LEFT else self.right

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``truth.json``'s ``parameters``)."""
        return asdict(self)

    @staticmethod
    def from_json(data: dict[str, Any]) -> PhantomParameters:
        """Rebuild parameters from :meth:`to_json` output."""
        sides = {name: SideParameters(**data[name]) for name in ("left", "right")}
        return PhantomParameters(**{**data, **sides})


# name: (low, high) of the uniform draw; sources in docs/phantom.md.
_GLOBAL_RANGES: dict[str, tuple[float, float]] = {
    "sacral_slope_deg": (28.0, 44.0),
    "l5s1_disc_angle_deg": (7.0, 16.0),
    "l5s1_disc_height_mm": (8.0, 13.5),
    "l45_disc_height_mm": (9.0, 13.0),
    "l45_disc_angle_deg": (6.0, 12.0),
    "l5_body_height_mm": (24.0, 30.0),
    "l5_body_width_mm": (45.0, 55.0),
    "l5_body_depth_mm": (32.0, 38.0),
    "l5_wedge_deg": (1.0, 6.0),
    "pedicle_width_mm": (14.0, 19.0),
    "pedicle_height_mm": (12.0, 16.0),
    "interpedicular_mm": (22.0, 29.0),
    "canal_depth_mm": (14.0, 19.0),
    "dural_sac_diameter_mm": (12.5, 16.5),
    "bmi": (18.0, 33.0),
}
_SIDE_RANGES: dict[str, tuple[float, float]] = {
    "crest_height_mm": (-5.0, 50.0),
    "crest_posterior_drop_mm": (15.0, 35.0),
    "iliac_lateral_mm": (54.0, 68.0),
    "transverse_process_length_mm": (38.0, 50.0),
    "iap_length_mm": (2.0, 13.0),
    "sap_height_mm": (2.0, 12.0),
    "facet_angle_deg": (35.0, 58.0),
    "l5_root_diameter_mm": (5.0, 7.5),
    "s1_root_medial_offset_mm": (3.5, 8.5),
    "herniation_mm": (0.0, 6.0),
}
#: Largest left-right difference drawn for each side parameter (a fraction of its range).
_ASYMMETRY = 0.25
#: Share of cases with a disc herniation (on one side).
_HERNIATION_SHARE = 0.3


def sample_parameters(rng: np.random.Generator) -> PhantomParameters:
    """Draw one case's anatomy: uniform within the ranges, sides correlated but not equal."""
    values = {name: float(rng.uniform(low, high)) for name, (low, high) in _GLOBAL_RANGES.items()}
    shared = {name: float(rng.uniform(low, high)) for name, (low, high) in _SIDE_RANGES.items()}
    sides = []
    herniated_side = int(rng.integers(2)) if rng.random() < _HERNIATION_SHARE else -1
    for index in range(2):
        side = {}
        for name, (low, high) in _SIDE_RANGES.items():
            jitter = rng.uniform(-_ASYMMETRY, _ASYMMETRY) * (high - low) / 2
            side[name] = float(np.clip(shared[name] + jitter, low, high))
        side["herniation_mm"] = shared["herniation_mm"] + 1.0 if index == herniated_side else 0.0
        sides.append(SideParameters(**side))
    return PhantomParameters(**values, left=sides[0], right=sides[1])


def symmetric_parameters(parameters: PhantomParameters | None = None) -> PhantomParameters:
    """Return the same anatomy with the right side mirroring the left."""
    parameters = parameters or PhantomParameters()
    return replace(parameters, right=parameters.left)


def surely_group_a() -> PhantomParameters:
    """Return a case whose foramina are open to the paper's placement on both sides.

    Low iliac crest (the ilium does not constrain the channel), small facets, a short transverse
    process and a traversing root well medial: the channel touches none of the IAP, the
    transverse process or the nerves.
    """
    side = SideParameters(
        crest_height_mm=-5.0,
        crest_posterior_drop_mm=30.0,
        iliac_lateral_mm=64.0,
        transverse_process_length_mm=38.0,
        iap_length_mm=2.0,
        sap_height_mm=3.0,
        facet_angle_deg=50.0,
        l5_root_diameter_mm=5.0,
        s1_root_medial_offset_mm=7.0,
    )
    return PhantomParameters(interpedicular_mm=27.0, left=side, right=side)


def surely_group_b() -> PhantomParameters:
    """Return a case whose foramina are blocked: high iliac crest, large L5 IAP, both sides."""
    side = SideParameters(
        crest_height_mm=50.0,
        crest_posterior_drop_mm=15.0,
        iliac_lateral_mm=54.0,
        transverse_process_length_mm=50.0,
        iap_length_mm=13.0,
        sap_height_mm=15.0,
        facet_angle_deg=38.0,
        l5_root_diameter_mm=7.5,
        s1_root_medial_offset_mm=2.5,
    )
    return PhantomParameters(left=side, right=side)
