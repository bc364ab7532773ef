"""Parametric lumbosacral anatomy in LPS mm: L4 to S2, the discs, nerves, ilia and the body.

The origin is the centre of the L5/S1 disc. The spine follows the lordosis: each segment has a
frame tilted about the x axis (left), so that local z runs along the spine and local y toward
the back. The sacrum hangs from the S1 endplate at the sacral slope; the discs are wedges between
endplate planes. Posterior elements (pedicles, lamina, articular processes, transverse and
spinous processes) hang from the L5 body frame; the L5/S1 facet joint is a column split by the
joint plane into the S1 superior articular process (ventrolateral) and the L5 inferior one
(dorsomedial). Roots run as tubes along anatomical paths: the L5 root leaves through the upper
foramen under the L5 pedicle, the S1 root traverses in the lateral recess to the S1 foramen.

Each :class:`Piece` is painted in order (later wins) with a tissue (for the MR appearance) and a
part (the ground truth; the structure follows from the part). :func:`render` paints them on a
:class:`~lumboplan_app.phantom.shapes.Canvas`. The landmarks of DESIGN.md (points a and b, the
planes, the pedicles' medial lines) are computed from the same geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import Part, Side
from lumboplan_app.phantom.parameters import PhantomParameters
from lumboplan_app.phantom.shapes import (
    Canvas,
    Ellipsoid,
    EllipticCylinder,
    FloatArray,
    Frame,
    HalfSpace,
    RoundedBox,
    Shape,
    Shell,
    Tube,
    Union,
    rotation_x,
    rotation_z,
)

#: Thickness of cortical bone (mm) around marrow.
CORTEX_MM = 1.2
#: Thickness of the skin (mm).
SKIN_MM = 2.5
#: How far below the crest's top the "iliac crest" part reaches (mm).
CREST_BAND_MM = 15.0
#: How far the L5 pedicle's top lies below the L5 superior endplate (mm).
PEDICLE_BELOW_ENDPLATE_MM = 3.0
#: Gap of the facet joint (mm), filled with cartilage and fluid.
FACET_GAP_MM = 1.5
#: Half the length of the facet joint line in axial section (mm).
_FACET_HALF_LENGTH_MM = 8.0


class Tissue(IntEnum):
    """Tissue classes that decide the MR appearance (not the ground-truth labels)."""

    AIR = 0
    FAT = 1
    SKIN = 2
    MUSCLE = 3
    VISCERA = 4
    VESSEL = 5
    CORTICAL_BONE = 6
    MARROW = 7
    ANNULUS = 8
    NUCLEUS = 9
    CSF = 10
    NERVE = 11
    LIGAMENT = 12
    CARTILAGE = 13


#: A piece with this tissue is bone: cortex around marrow.
BONE = None


@dataclass(frozen=True)
class Piece:
    """One shape painted with a tissue (or as bone) and a ground-truth part."""

    shape: Shape
    tissue: Tissue | None
    part: Part = Part.BACKGROUND


@dataclass
class Anatomy:
    """A phantom's geometry: pieces in painting order, landmarks, and its regions."""

    parameters: PhantomParameters
    pieces: list[Piece] = field(default_factory=list)
    landmarks: dict[str, Any] = field(default_factory=dict)
    body_low_lps_mm: FloatArray = field(default_factory=lambda: np.zeros(3))
    body_high_lps_mm: FloatArray = field(default_factory=lambda: np.zeros(3))

    def add(self, shape: Shape, tissue: Tissue | None, part: Part = Part.BACKGROUND) -> None:
        """Append a piece (painted after the ones before).

        A tube is added one segment per piece: the same union, but each segment is evaluated
        only within its own small bounding box instead of the whole tube's.
        """
        if isinstance(shape, Tube):
            for segment in shape.segments():
                self.pieces.append(Piece(segment, tissue, part))
        else:
            self.pieces.append(Piece(shape, tissue, part))


@dataclass(frozen=True, eq=False)
class BodyContour(Shape):
    """The body: a vertical super-ellipse cylinder, flatter at the back, with a midline groove.

    Distances are the implicit function divided by its gradient: exact on the surface and close
    to it, which is what the skin shell and the fat layer need.
    """

    half_width_mm: float
    posterior_mm: float
    anterior_mm: float
    center_y_mm: float
    exponent: float
    z_low: float
    z_high: float

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        dy = y - self.center_y_mm
        depth = np.where(dy > 0, self.posterior_mm, self.anterior_mm)
        p = self.exponent
        u = np.abs(x) / self.half_width_mm + 1e-9
        v = np.abs(dy) / depth + 1e-9
        f = (u**p + v**p) ** (1.0 / p)
        # Gradient of f with respect to (x, y), for a distance in mm.
        common = f ** (1.0 - p)
        gx = common * u ** (p - 1) / self.half_width_mm
        gy = common * v ** (p - 1) / depth
        radial = (f - 1.0) / np.sqrt(gx**2 + gy**2)
        return np.maximum(radial, np.maximum(self.z_low - z, z - self.z_high) + 0.0 * x)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return (
            np.array([-self.half_width_mm, self.center_y_mm - self.anterior_mm, self.z_low]),
            np.array([self.half_width_mm, self.center_y_mm + self.posterior_mm, self.z_high]),
        )


@dataclass(frozen=True, eq=False)
class IliacWing(Shape):
    """One iliac wing: a flaring plate from the posterior to the anterior superior iliac spine.

    The plate runs from the PSIS to the ASIS below a crest whose height varies along it.

    In axial section the wing's mid-surface lies at lateral distance ``X(y)`` from the midline:
    ``lateral_mm`` at ``y = 20`` (where it meets the sacral ala at the sacroiliac joint), 20 mm
    more medial at the PSIS (``y = 75``) and 60 mm more lateral at the ASIS (``y = -60``), a
    quadratic through these. It leans outward by ``flare`` mm per mm above ``crest_posterior_z``.
    The crest rises from ``crest_posterior_z`` at the PSIS to ``crest_peak_z`` at 55 % of the way
    and falls by 30 mm to the ASIS. Thickness: 22 mm at the PSIS, 8 mm in the fossa, a rim of
    +6 mm along the crest.
    """

    side_sign: float
    lateral_mm: float
    flare: float
    crest_posterior_z: float
    crest_peak_z: float
    bottom_z: float

    posterior_y: float = 75.0
    anterior_y: float = -60.0

    def fraction(self, y: FloatArray) -> FloatArray:
        """Fraction along the wing from the PSIS (0) to the ASIS (1)."""
        return (self.posterior_y - y) / (self.posterior_y - self.anterior_y)

    def mid_surface_x(self, y: FloatArray, z: FloatArray) -> FloatArray:
        """Lateral distance of the mid-surface from the midline at (y, z), mm."""
        u = 20.0 - y
        return (
            self.lateral_mm + 0.521 * u + 0.00286 * u**2 + self.flare * (z - self.crest_posterior_z)
        )

    def crest_z(self, s: FloatArray) -> FloatArray:
        """Height of the crest at fraction ``s`` along the wing (LPS z, mm)."""
        s = np.clip(s, 0.0, 1.0)
        rising = self.crest_posterior_z + (self.crest_peak_z - self.crest_posterior_z) * np.sin(
            np.pi / 2 * np.clip(s / 0.55, 0.0, 1.0)
        )
        falling = self.crest_peak_z - 30.0 * np.clip((s - 0.55) / 0.45, 0.0, 1.0) ** 2
        return np.where(s <= 0.55, rising, falling)

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        s = self.fraction(y)
        crest = self.crest_z(s)
        slope = 0.521 + 2 * 0.00286 * (20.0 - y)  # |dX/dy|: converts x offsets to normal ones
        across = np.abs(self.side_sign * x - self.mid_surface_x(y, z)) / np.sqrt(1.0 + slope**2)
        thickness = 8.0 + 14.0 * np.clip(1.0 - s / 0.3, 0.0, 1.0) ** 2
        thickness = thickness + 6.0 * np.clip(1.0 - (crest - z) / 12.0, 0.0, 1.0)
        ends = np.maximum(y - self.posterior_y, self.anterior_y - y)
        return np.maximum(
            np.maximum(across - thickness / 2, ends), np.maximum(z - crest, self.bottom_z - z)
        )

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        reach = self.lateral_mm + 0.521 * 80 + 0.00286 * 80**2 + 40.0
        inner = self.lateral_mm - 35.0
        xs = sorted([self.side_sign * inner, self.side_sign * reach])
        return (
            np.array([xs[0], self.anterior_y, self.bottom_z]),
            np.array([xs[1], self.posterior_y, self.crest_peak_z + 1.0]),
        )


def _slab(frame: Frame, below: float, above: float, extent: float = 200.0) -> Shape:
    """Return the region between local z = ``below`` and ``above`` of ``frame``."""
    low_point = frame.to_world((0.0, 0.0, below))
    high_point = frame.to_world((0.0, 0.0, above))
    normal = frame.rotation[:, 2]
    box = (frame.origin - extent, frame.origin + extent)
    return HalfSpace(low_point, -normal, box) & HalfSpace(high_point, normal, box)


@dataclass(frozen=True, eq=False)
class Rounded(Shape):
    """``shape`` grown by ``radius_mm``, which rounds the edges of a shrunk shape.

    Build it from a shape shrunk by the same amount: the edges come out rounded (exactly for
    exact distances, closely for intersections).
    """

    shape: Shape
    radius_mm: float

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        return self.shape.distance(x, y, z) - self.radius_mm

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        low, high = self.shape.bounds()
        return low - self.radius_mm, high + self.radius_mm


def _vertebral_body(frame: Frame, half_width: float, half_depth: float, height: float) -> Shape:
    """Return a body: elliptic footprint, flattened back, rounded rims, ``height`` tall."""
    rim = 2.5
    footprint = EllipticCylinder(frame, (half_width - rim, half_depth - rim), height)
    back = HalfSpace(
        frame.to_world((0.0, 0.85 * half_depth - rim, 0.0)),
        frame.rotation[:, 1],
        footprint.bounds(),
    )
    return Rounded(footprint & back & _slab(frame, -height / 2 + rim, height / 2 - rim), rim)


def build_anatomy(parameters: PhantomParameters) -> Anatomy:
    """Build the geometry, parts, tissues and landmarks of one phantom."""
    p = parameters
    anatomy = Anatomy(parameters=p)
    origin = np.zeros(3)
    mid_tilt = p.sacral_slope_deg - p.l5s1_disc_angle_deg / 2
    disc = Frame(origin, rotation_x(mid_tilt))
    half_width = p.l5_body_width_mm / 2
    half_depth = p.l5_body_depth_mm / 2
    body_back = 0.85 * half_depth  # flat posterior wall of bodies and discs (local y)

    # Endplates and bodies, from the sacrum up.
    s1_top = Frame(
        disc.to_world((0, 0, -p.l5s1_disc_height_mm / 2)), rotation_x(p.sacral_slope_deg)
    )
    l5_bottom = Frame(
        disc.to_world((0, 0, p.l5s1_disc_height_mm / 2)),
        rotation_x(p.sacral_slope_deg - p.l5s1_disc_angle_deg),
    )
    l5 = l5_bottom.compose((0, 0, p.l5_body_height_mm / 2), rotation_x(-p.l5_wedge_deg / 2))
    l5_top = l5_bottom.compose((0, 0, p.l5_body_height_mm), rotation_x(-p.l5_wedge_deg))
    l45 = l5_top.compose((0, 0, p.l45_disc_height_mm / 2), rotation_x(-p.l45_disc_angle_deg / 2))
    l4_bottom = l5_top.compose((0, 0, p.l45_disc_height_mm), rotation_x(-p.l45_disc_angle_deg))
    l4_height = p.l5_body_height_mm - 1.0
    l4 = l4_bottom.compose((0, 0, l4_height / 2), rotation_x(-2.0))
    l4_top = l4_bottom.compose((0, 0, l4_height), rotation_x(-4.0))
    l34 = l4_top.compose((0, 0, 5.0), rotation_x(-3.0))
    l3_bottom = l4_top.compose((0, 0, 10.0), rotation_x(-6.0))
    l3 = l3_bottom.compose((0, 0, l4_height / 2), rotation_x(-2.0))
    s1 = s1_top.compose((0, 0, -13.0))
    s2 = s1_top.compose((0, 0, -30.0), rotation_x(14.0))

    # The spine's segments from the bottom up, each (frame, local z of its centre line point).
    segments = [
        (s2, -10.0),
        (s1, -6.0),
        (disc, 0.0),
        (l5, 0.0),
        (l45, 0.0),
        (l4, 0.0),
        (l34, 0.0),
        (l3, 0.0),
        (l3, l4_height / 2 + 25.0),
    ]
    body_shapes = _body(anatomy, p, half_depth)
    _muscles(anatomy, p, l5, s1, half_width, half_depth, body_shapes)
    _canal_fat(anatomy, p, disc, segments, body_back)
    _ilia(anatomy, p, disc)
    _sacrum(anatomy, p, s1, s2, half_width, half_depth)
    _upper_lumbar(anatomy, p, l4, l45, half_width, half_depth, l4_height, p.l45_disc_height_mm)
    _upper_lumbar(anatomy, p, l3, l34, half_width * 0.97, half_depth * 0.97, l4_height, 10.0)
    _discs(anatomy, p, disc, half_width, half_depth, body_back)
    _l5(anatomy, p, l5, half_width, half_depth, body_back)
    _facets(anatomy, p, disc, body_back)
    _nerves(anatomy, p, disc, s1, segments, body_back, half_width, half_depth)
    _landmarks(anatomy, p, disc, body_back)

    return anatomy


def _body(anatomy: Anatomy, p: PhantomParameters, half_depth: float) -> dict[str, Shape]:
    """Body contour, skin, subcutaneous fat, abdominal wall and viscera, sized by BMI."""
    bmi = p.bmi
    fat_mm = 6.0 + 2.2 * (bmi - 18.0)  # subcutaneous fat at the back: 6..39 mm
    posterior_skin_y = 70.0 + fat_mm
    body_depth = 165.0 + 6.0 * (bmi - 18.0)  # antero-posterior: 165..255 mm
    half_width = 125.0 + 3.6 * (bmi - 18.0)  # left-right half: 125..179 mm
    center_y = posterior_skin_y - 0.55 * body_depth
    z_low, z_high = -110.0, 110.0
    contour = BodyContour(
        half_width_mm=half_width,
        posterior_mm=posterior_skin_y - center_y,
        anterior_mm=body_depth - (posterior_skin_y - center_y),
        center_y_mm=center_y,
        exponent=2.2,
        z_low=z_low,
        z_high=z_high,
    )
    inner = BodyContour(
        half_width_mm=half_width - fat_mm - SKIN_MM,
        posterior_mm=contour.posterior_mm - fat_mm - SKIN_MM,
        anterior_mm=contour.anterior_mm - 0.7 * fat_mm - SKIN_MM,
        center_y_mm=center_y,
        exponent=2.2,
        z_low=z_low,
        z_high=z_high,
    )
    viscera = BodyContour(
        half_width_mm=inner.half_width_mm - 12.0,
        posterior_mm=inner.posterior_mm - 12.0,
        anterior_mm=inner.anterior_mm - 12.0,
        center_y_mm=center_y,
        exponent=2.2,
        z_low=z_low,
        z_high=z_high,
    )
    anatomy.add(contour, Tissue.FAT)
    anatomy.add(inner, Tissue.MUSCLE)  # walls, quadratus, obliques: the muscular trunk
    in_front_of_spine = HalfSpace(
        np.array([0.0, -12.0, 0.0]), np.array([0.0, 1.0, 0.0]), viscera.bounds()
    )
    anatomy.add(viscera & in_front_of_spine, Tissue.VISCERA)
    anatomy.add(Shell(contour, SKIN_MM), Tissue.SKIN, Part.SKIN)
    anatomy.body_low_lps_mm, anatomy.body_high_lps_mm = contour.bounds()
    anatomy.landmarks["posterior_skin_y_mm"] = posterior_skin_y
    anatomy.landmarks["body_half_width_mm"] = half_width
    return {"contour": contour, "inner": inner}


def _muscles(
    anatomy: Anatomy,
    p: PhantomParameters,
    l5: Frame,
    s1: Frame,
    half_width: float,
    half_depth: float,
    body: dict[str, Shape],
) -> None:
    """Add the muscles (paraspinal, psoas, quadratus, gluteal), iliac vessels, psoas fat."""
    inner = body["inner"]
    for sign in (1.0, -1.0):
        paraspinal = EllipticCylinder(Frame.at((sign * 36.0, 62.0, 0.0)), (32.0, 30.0), 110.0)
        anatomy.add(paraspinal & inner, Tissue.MUSCLE)
        quadratus = EllipticCylinder(Frame.at((sign * 72.0, 22.0, 60.0)), (18.0, 12.0), 40.0)
        anatomy.add(quadratus & inner, Tissue.MUSCLE)
        gluteal = EllipticCylinder(Frame.at((sign * 105.0, 55.0, -70.0)), (45.0, 38.0), 45.0)
        anatomy.add(gluteal & inner, Tissue.MUSCLE)
        psoas = Tube(
            np.array(
                [
                    [sign * (half_width + 10.0), -0.2 * half_depth, 110.0],
                    [sign * (half_width + 13.0), -0.3 * half_depth, 20.0],
                    [sign * (half_width + 30.0), -1.2 * half_depth, -50.0],
                    [sign * (half_width + 45.0), -2.2 * half_depth, -110.0],
                ]
            ),
            np.array([11.0, 15.0, 17.0, 18.0]),
        )
        anatomy.add(Tube(psoas.points, psoas.radii + 3.0), Tissue.FAT)  # retroperitoneal fat
        anatomy.add(psoas, Tissue.MUSCLE)
        for offset, radius in ((6.0, 5.0), (16.0, 7.0)):  # common iliac artery, then vein
            vessel = Tube(
                np.array(
                    [
                        [sign * 4.0, -half_depth - 8.0 + offset * 0.2, 90.0],
                        [sign * (12.0 + offset * 0.3), -half_depth - 10.0, 20.0],
                        [sign * (40.0 + offset), -1.4 * half_depth, -60.0],
                    ]
                ),
                np.array([radius, radius, radius]),
            )
            anatomy.add(vessel, Tissue.VESSEL)


def _along_spine(segments: list[tuple[Frame, float]], offset_y: float) -> FloatArray:
    """Points (N, 3) along the spine, ``offset_y`` mm behind the bodies' centres, bottom up."""
    return np.array([frame.to_world((0.0, offset_y, z)) for frame, z in segments])


def _canal_fat(
    anatomy: Anatomy,
    p: PhantomParameters,
    disc: Frame,
    segments: list[tuple[Frame, float]],
    body_back: float,
) -> None:
    """Epidural and foraminal fat: the space bones and nerves are later carved from."""
    points = _along_spine(segments, body_back + p.canal_depth_mm / 2)
    anatomy.add(Tube(points, np.full(len(points), p.canal_depth_mm / 2 + 1.0)), Tissue.FAT)
    for sign in (1.0, -1.0):  # lateral recesses
        recess = points + np.array([sign * p.interpedicular_mm / 4, 0.0, 0.0])
        anatomy.add(Tube(recess, np.full(len(points), p.canal_depth_mm / 2 - 1.0)), Tissue.FAT)
    for sign in (1.0, -1.0):
        foramen = Ellipsoid(
            disc.compose(
                (sign * (p.interpedicular_mm / 2 + p.pedicle_width_mm / 2), body_back + 6, 8.0)
            ),
            (14.0, 8.0, 14.0),
        )
        anatomy.add(foramen, Tissue.FAT)


def _ilia(anatomy: Anatomy, p: PhantomParameters, disc: Frame) -> None:
    """Both iliac wings, crest band and wing as separate parts."""
    for side in (Side.LEFT, Side.RIGHT):
        sp = p.side(side)
        sign = float(side.lps_sign)
        crest_peak = sp.crest_height_mm
        wing = IliacWing(
            side_sign=sign,
            lateral_mm=sp.iliac_lateral_mm,
            flare=0.25,
            crest_posterior_z=crest_peak - sp.crest_posterior_drop_mm,
            crest_peak_z=crest_peak,
            bottom_z=-110.0,
        )
        crest_part = Part.ILIAC_CREST_LEFT if side is Side.LEFT else Part.ILIAC_CREST_RIGHT
        wing_part = Part.ILIAC_WING_LEFT if side is Side.LEFT else Part.ILIAC_WING_RIGHT
        anatomy.add(wing, BONE, wing_part)
        anatomy.add(_CrestBand(wing), BONE, crest_part)
        anatomy.landmarks[f"iliac_wing_{side.value}"] = wing


@dataclass(frozen=True, eq=False)
class _CrestBand(Shape):
    """The top :data:`CREST_BAND_MM` of an iliac wing: the iliac crest part."""

    wing: IliacWing

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        below_band = self.wing.crest_z(self.wing.fraction(y)) - CREST_BAND_MM - z
        return np.maximum(self.wing.distance(x, y, z), below_band)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        low, high = self.wing.bounds()
        lowest_crest = min(self.wing.crest_posterior_z, self.wing.crest_peak_z - 30.0)
        low = low.copy()
        low[2] = max(low[2], lowest_crest - CREST_BAND_MM - 1.0)
        return low, high


def _sacrum(
    anatomy: Anatomy,
    p: PhantomParameters,
    s1: Frame,
    s2: Frame,
    half_width: float,
    half_depth: float,
) -> None:
    """S1 and S2 bodies, alae (lateral masses), the posterior arch."""
    s1_body = _vertebral_body(s1, half_width * 1.02, half_depth * 0.97, 26.0)
    s2_body = _vertebral_body(s2, half_width * 0.8, half_depth * 0.8, 20.0)
    anatomy.add(s1_body | s2_body, BONE, Part.S1_BODY)
    back = 0.85 * half_depth
    canal = p.canal_depth_mm
    for side in (Side.LEFT, Side.RIGHT):
        sign = float(side.lps_sign)
        sp = p.side(side)
        lateral_reach = sp.iliac_lateral_mm - half_width * 1.02 + 6.0
        ala = RoundedBox(
            s1.compose((sign * (half_width + lateral_reach / 2 - 4.0), 0.35 * half_depth, 1.0)),
            (lateral_reach / 2 + 4.0, half_depth * 0.75, 12.0),
            6.0,
        )
        dorsal = RoundedBox(
            s1.compose((sign * (p.interpedicular_mm / 2 + 10.0), back + canal * 0.55, -5.0)),
            (11.0, canal * 0.55 + 3.0, 15.0),
            4.0,
        )
        lower = RoundedBox(
            s2.compose((sign * (half_width * 0.8 + 6.0), 0.3 * half_depth, 0.0)),
            (14.0, half_depth * 0.6, 12.0),
            5.0,
        )
        part = Part.S1_ALA_LEFT if side is Side.LEFT else Part.S1_ALA_RIGHT
        anatomy.add(ala | dorsal | lower, BONE, part)
    arch = RoundedBox(
        s1.compose((0.0, back + canal + 4.0, -10.0)),
        (p.interpedicular_mm / 2 + 10.0, 4.0, 16.0),
        2.0,
    )
    crest = RoundedBox(s1.compose((0.0, back + canal + 12.0, -14.0)), (4.0, 8.0, 14.0), 3.0)
    s2_arch = RoundedBox(
        s2.compose((0.0, 0.8 * back + canal * 0.8 + 4.0, 0.0)),
        (p.interpedicular_mm / 2 + 6.0, 4.0, 12.0),
        2.0,
    )
    anatomy.add(arch | crest | s2_arch, BONE, Part.S1_POSTERIOR_ARCH)


def _upper_lumbar(
    anatomy: Anatomy,
    p: PhantomParameters,
    l4: Frame,
    l45: Frame,
    half_width: float,
    half_depth: float,
    height: float,
    disc_height: float,
) -> None:
    """Add a vertebra above L5 and the disc below it: anatomy in view, not labelled."""
    anatomy.add(_vertebral_body(l4, half_width * 0.97, half_depth * 0.97, height), BONE)
    back = 0.85 * half_depth
    canal = p.canal_depth_mm
    posterior: list[Shape] = [
        RoundedBox(
            l4.compose((0.0, back + canal + 4.0, -2.0), rotation_x(-25.0)),
            (p.interpedicular_mm / 2 + 9.0, 4.0, 11.0),
            2.0,
        ),
        RoundedBox(
            l4.compose((0.0, back + canal + 24.0, -8.0), rotation_x(-15.0)), (4.0, 18.0, 11.0), 3.0
        ),
    ]
    for sign in (1.0, -1.0):
        posterior.append(
            EllipticCylinder(
                l4.compose(
                    (sign * (p.interpedicular_mm / 2 + 8.0), back + canal / 2, 5.0),
                    rotation_x(90.0),
                ),
                (7.5, 7.0),
                canal / 2 + 4.0,
            )
        )
        posterior.append(
            RoundedBox(l4.compose((sign * 38.0, back + canal * 0.7, 5.0)), (20.0, 5.0, 5.0), 3.0)
        )
    anatomy.add(Union(tuple(posterior)), BONE)
    footprint = EllipticCylinder(l45, (half_width + 1.0, half_depth + 1.0), 30.0)
    back_wall = HalfSpace(l45.to_world((0, back + 1.0, 0)), l45.rotation[:, 1], footprint.bounds())
    between = _slab(l45, -disc_height / 2 - 1.5, disc_height / 2 + 1.5)
    anatomy.add(footprint & back_wall & between, Tissue.ANNULUS)
    anatomy.add(
        Ellipsoid(
            l45.compose((0, 1.0, 0)),
            (half_width * 0.55, half_depth * 0.5, p.l45_disc_height_mm * 0.32),
        ),
        Tissue.NUCLEUS,
    )


def _discs(
    anatomy: Anatomy,
    p: PhantomParameters,
    disc: Frame,
    half_width: float,
    half_depth: float,
    back: float,
) -> None:
    """Add the L5/S1 disc: annulus, nucleus, optional posterolateral herniation (DISC)."""
    footprint = EllipticCylinder(disc, (half_width + 1.0, half_depth + 1.0), 30.0)
    back_wall = HalfSpace(
        disc.to_world((0, back + 1.0, 0)), disc.rotation[:, 1], footprint.bounds()
    )
    s1_plane = Frame(
        disc.to_world((0, 0, -p.l5s1_disc_height_mm / 2)), rotation_x(p.sacral_slope_deg)
    )
    l5_plane = Frame(
        disc.to_world((0, 0, p.l5s1_disc_height_mm / 2)),
        rotation_x(p.sacral_slope_deg - p.l5s1_disc_angle_deg),
    )
    extent = (disc.origin - 200.0, disc.origin + 200.0)
    above_s1 = HalfSpace(s1_plane.origin, -s1_plane.rotation[:, 2], extent)
    below_l5 = HalfSpace(l5_plane.origin, l5_plane.rotation[:, 2], extent)
    anatomy.add(footprint & back_wall & above_s1 & below_l5, Tissue.ANNULUS, Part.DISC)
    nucleus = Ellipsoid(
        disc.compose((0.0, 1.5, 0.0)),
        (half_width * 0.55, half_depth * 0.5, max(1.5, p.l5s1_disc_height_mm * 0.32)),
    )
    anatomy.add(nucleus, Tissue.NUCLEUS, Part.DISC)
    for side in (Side.LEFT, Side.RIGHT):
        depth = p.side(side).herniation_mm
        if depth <= 0.5:
            continue
        sign = float(side.lps_sign)
        hernia = Ellipsoid(
            disc.compose((sign * 0.3 * half_width, back + depth / 2, -0.5)),
            (6.0 + depth * 0.5, depth / 2 + 1.5, p.l5s1_disc_height_mm * 0.35),
        )
        anatomy.add(hernia, Tissue.NUCLEUS, Part.DISC)


def _l5(
    anatomy: Anatomy,
    p: PhantomParameters,
    l5: Frame,
    half_width: float,
    half_depth: float,
    back: float,
) -> None:
    """L5: body, pedicles, lamina, spinous, transverse and superior articular processes."""
    height = p.l5_body_height_mm
    body = _vertebral_body(l5, half_width, half_depth, height)
    anatomy.add(body, BONE, Part.L5_BODY)
    canal = p.canal_depth_mm
    lamina_front = back + canal
    anatomy.add(
        RoundedBox(
            l5.compose((0.0, lamina_front + 4.5, -3.0), rotation_x(-25.0)),
            (p.interpedicular_mm / 2 + 9.0, 4.5, 11.0),
            2.0,
        ),
        BONE,
        Part.L5_LAMINA,
    )
    anatomy.add(
        RoundedBox(
            l5.compose((0.0, lamina_front + 24.0, -10.0), rotation_x(-20.0)), (4.0, 19.0, 11.0), 3.0
        ),
        BONE,
        Part.L5_SPINOUS_PROCESS,
    )
    pedicle_z = height / 2 - p.pedicle_height_mm / 2 - PEDICLE_BELOW_ENDPLATE_MM
    for side in (Side.LEFT, Side.RIGHT):
        sign = float(side.lps_sign)
        sp = p.side(side)
        centre_x = sign * (p.interpedicular_mm / 2 + p.pedicle_width_mm / 2)
        pedicle = EllipticCylinder(
            l5.compose((centre_x, back + canal / 2, pedicle_z), rotation_x(90.0)),
            (p.pedicle_width_mm / 2, p.pedicle_height_mm / 2),
            canal / 2 + 1.0,
        )
        anatomy.add(
            pedicle, BONE, Part.L5_PEDICLE_LEFT if side is Side.LEFT else Part.L5_PEDICLE_RIGHT
        )
        tp_inner = p.interpedicular_mm / 2 + p.pedicle_width_mm - 3.0
        tp_length = sp.transverse_process_length_mm - tp_inner
        transverse = RoundedBox(
            l5.compose(
                (sign * (tp_inner + tp_length / 2), back + canal * 0.75, pedicle_z + 1.0),
                rotation_z(-8.0 * sign),
            ),
            (tp_length / 2, 5.5, 6.5),
            3.5,
        )
        anatomy.add(
            transverse,
            BONE,
            Part.L5_TRANSVERSE_PROCESS_LEFT
            if side is Side.LEFT
            else Part.L5_TRANSVERSE_PROCESS_RIGHT,
        )
        superior = RoundedBox(
            l5.compose((centre_x + sign * 2.0, lamina_front + 2.0, height / 2 + 2.0)),
            (5.5, 6.0, 9.0),
            3.0,
        )
        anatomy.add(superior, BONE, Part.L5_SAP_LEFT if side is Side.LEFT else Part.L5_SAP_RIGHT)


def _facet_frame(
    p: PhantomParameters, disc: Frame, side: Side, back: float
) -> tuple[Frame, FloatArray]:
    """Frame of the L5/S1 facet column (local x along the joint line) and the joint normal."""
    sp = p.side(side)
    sign = float(side.lps_sign)
    centre = (
        sign * (p.interpedicular_mm / 2 + p.pedicle_width_mm / 2 + 1.0),
        back + p.canal_depth_mm + 3.0,
        0.0,
    )
    # The joint line runs from antero-medial to postero-lateral at facet_angle from sagittal.
    angle = 90.0 - sp.facet_angle_deg
    frame = disc.compose(centre, rotation_z(sign * angle))
    # Joint normal (minus local y of the frame) points toward the SAP: antero-lateral.
    return frame, -frame.rotation[:, 1]


def _facets(anatomy: Anatomy, p: PhantomParameters, disc: Frame, back: float) -> None:
    """Add the L5/S1 facets: S1 SAP ventrolateral, L5 IAP dorsomedial of the joint plane."""
    for side in (Side.LEFT, Side.RIGHT):
        sp = p.side(side)
        frame, normal = _facet_frame(p, disc, side, back)
        column = EllipticCylinder(frame, (_FACET_HALF_LENGTH_MM, 7.0), 40.0)
        bounds = column.bounds()
        ventral = HalfSpace(frame.origin - normal * FACET_GAP_MM / 2, -normal, bounds)
        dorsal = HalfSpace(frame.origin + normal * FACET_GAP_MM / 2, normal, bounds)
        sap = column & ventral & _slab(frame, -28.0, sp.sap_height_mm)
        iap = column & dorsal & _slab(frame, -sp.iap_length_mm, 22.0)
        anatomy.add(column & _slab(frame, -sp.iap_length_mm, sp.sap_height_mm), Tissue.CARTILAGE)
        anatomy.add(sap, BONE, Part.S1_SAP_LEFT if side is Side.LEFT else Part.S1_SAP_RIGHT)
        anatomy.add(iap, BONE, Part.L5_IAP_LEFT if side is Side.LEFT else Part.L5_IAP_RIGHT)


def _nerves(
    anatomy: Anatomy,
    p: PhantomParameters,
    disc: Frame,
    s1: Frame,
    segments: list[tuple[Frame, float]],
    back: float,
    half_width: float,
    half_depth: float,
) -> None:
    """Dural sac with CSF and cauda equina, exiting L5 and traversing S1 roots."""
    sac_radius = p.dural_sac_diameter_mm / 2
    sac_y = back + 1.0 + sac_radius
    path = _along_spine(segments[1:], sac_y)
    path[0] = s1.to_world((0.0, sac_y - 2.0, -30.0))  # the sac ends at S2
    radii = np.full(len(path), sac_radius)
    radii[0] = 2.0
    anatomy.add(Tube(path, radii), Tissue.CSF, Part.DURAL_SAC)
    rng = np.random.default_rng(7)
    for _ in range(10):  # cauda equina: rootlets settled in the dorsal half
        angle = rng.uniform(0.15, 0.85) * np.pi
        reach = rng.uniform(0.25, 0.75) * sac_radius
        offset = np.array([np.cos(angle) * reach, np.sin(angle) * reach * 0.8, 0.0])
        strand = path[1:] + offset @ disc.rotation.T
        anatomy.add(
            Tube(strand, np.full(len(strand), rng.uniform(0.7, 1.1))), Tissue.NERVE, Part.DURAL_SAC
        )
    pedicle_medial = p.interpedicular_mm / 2
    for side in (Side.LEFT, Side.RIGHT):
        sign = float(side.lps_sign)
        sp = p.side(side)
        r5 = sp.l5_root_diameter_mm / 2
        pedicle_bottom = (
            p.l5s1_disc_height_mm / 2
            + p.l5_body_height_mm
            - p.pedicle_height_mm
            - PEDICLE_BELOW_ENDPLATE_MM
        )
        exiting = np.array(
            [
                disc.to_world((sign * 4.0, sac_y, 40.0)),
                disc.to_world((sign * (pedicle_medial - 3.0), sac_y - 2.0, pedicle_bottom + 6.0)),
                disc.to_world(
                    (sign * (pedicle_medial + 3.0), back + 1.0, pedicle_bottom - r5 + 1.0)
                ),
                disc.to_world(
                    (
                        sign * (pedicle_medial + p.pedicle_width_mm),
                        back - 4.0,
                        pedicle_bottom - r5 - 1.0,
                    )
                ),
                disc.to_world((sign * (half_width + 8.0), 0.0, -8.0)),
                disc.to_world((sign * (half_width + 14.0), -0.6 * half_depth, -45.0)),
            ]
        )
        anatomy.add(
            Tube(exiting, np.array([2.0, 2.3, r5, r5, 3.0, 3.0])),
            Tissue.NERVE,
            Part.L5_ROOT_LEFT if side is Side.LEFT else Part.L5_ROOT_RIGHT,
        )
        r1 = 2.4
        recess_x = pedicle_medial - sp.s1_root_medial_offset_mm
        traversing = np.array(
            [
                disc.to_world((sign * 3.0, sac_y, 12.0)),
                disc.to_world((sign * recess_x, back + r1 + 0.8, 0.0)),
                s1.to_world((sign * (recess_x + 1.0), back + r1 + 1.0, -14.0)),
                s1.to_world((sign * (pedicle_medial + 2.0), back - 2.0, -24.0)),
                s1.to_world((sign * 0.7 * half_width, -0.5 * half_depth, -34.0)),
            ]
        )
        anatomy.add(
            Tube(traversing, np.full(len(traversing), r1)),
            Tissue.NERVE,
            Part.S1_ROOT_LEFT if side is Side.LEFT else Part.S1_ROOT_RIGHT,
        )
        anatomy.landmarks[f"s1_root_{side.value}"] = traversing
        anatomy.landmarks[f"l5_root_{side.value}"] = exiting


def _landmarks(anatomy: Anatomy, p: PhantomParameters, disc: Frame, back: float) -> None:
    """Points a and b, the planes and the pedicles' medial lines (DESIGN.md definitions)."""
    normal = disc.rotation[:, 2]
    planes = {
        "mid_sagittal": {"point": [0.0, 0.0, 0.0], "normal": [1.0, 0.0, 0.0]},
        "disc_mid": {"point": disc.origin.tolist(), "normal": normal.tolist()},
    }
    points: dict[str, dict[str, list[float]]] = {}
    medial_lines: dict[str, dict[str, Any]] = {}
    for side in (Side.LEFT, Side.RIGHT):
        sign = float(side.lps_sign)
        sp = p.side(side)
        # The pedicles run straight back, so their medial border (AP view) is at x = +/- ip/2.
        medial_x = p.interpedicular_mm / 2
        # Point b: on the disc mid-plane, at the medial pedicle line, on the disc's back wall.
        b = disc.to_world((sign * medial_x, back + 1.0, 0.0))
        frame, _ = _facet_frame(p, disc, side, back)
        # Point a: the ventral (antero-medial) end of the joint line, at the SAP's tip. Local x
        # of the facet frame runs postero-laterally on the left and antero-medially on the right.
        a = frame.to_world((-sign * _FACET_HALF_LENGTH_MM, 0.0, sp.sap_height_mm))
        points[side.value] = {"a": a.tolist(), "b": b.tolist()}
        medial_lines[side.value] = {
            "x_lps_mm": sign * medial_x,
            "point": b.tolist(),
            "direction": [0.0, 0.0, 1.0],
        }
    anatomy.landmarks["planes"] = planes
    anatomy.landmarks["points_lps_mm"] = points
    anatomy.landmarks["medial_pedicle_lines"] = medial_lines


def render(anatomy: Anatomy, canvas: Canvas) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Paint the anatomy on ``canvas``; return (tissue classes, part ids), each (Z, Y, X) uint8."""
    tissues = canvas.new_layer()
    parts = canvas.new_layer()
    for piece in anatomy.pieces:
        found = canvas.distances(piece.shape)
        if found is None:
            continue
        window, distance = found
        mask = distance < 0.0
        if not mask.any():
            continue
        tissue_view = tissues[window]
        part_view = parts[window]
        part_view[mask] = int(piece.part)
        if piece.tissue is BONE:
            tissue_view[mask] = int(Tissue.CORTICAL_BONE)
            tissue_view[distance < -CORTEX_MM] = int(Tissue.MARROW)
        else:
            tissue_view[mask] = int(piece.tissue)
    return tissues, parts
