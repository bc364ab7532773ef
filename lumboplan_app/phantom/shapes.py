"""Signed-distance shapes in LPS mm, and a canvas that paints them onto a label grid.

A shape is negative inside, positive outside, zero on its surface; distances are exact or a
close under-estimate (ellipsoids), which is all painting needs. Shapes carry a world bounding
box so the canvas evaluates each only where it can be, which keeps a case's anatomy fast.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def rotation_x(angle_deg: float) -> FloatArray:
    """Rotation about the LPS x axis (left); positive tilts +y (posterior) toward +z (superior)."""
    angle = np.deg2rad(angle_deg)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_y(angle_deg: float) -> FloatArray:
    """Rotation about the LPS y axis (posterior)."""
    angle = np.deg2rad(angle_deg)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_z(angle_deg: float) -> FloatArray:
    """Rotation about the LPS z axis (superior); positive turns +x (left) toward +y (posterior)."""
    angle = np.deg2rad(angle_deg)
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class Frame:
    """A local frame: ``world = origin + rotation @ local`` (mm)."""

    origin: FloatArray
    rotation: FloatArray

    @staticmethod
    def at(origin: Sequence[float], rotation: FloatArray | None = None) -> Frame:
        """Frame at ``origin`` with ``rotation`` (identity when None)."""
        return Frame(
            np.asarray(origin, dtype=np.float64), np.eye(3) if rotation is None else rotation
        )

    def to_world(self, local: Sequence[float] | FloatArray) -> FloatArray:
        """Map local point(s) ``(..., 3)`` to world LPS mm."""
        return np.asarray(local, dtype=np.float64) @ self.rotation.T + self.origin

    def compose(self, offset: Sequence[float], rotation: FloatArray | None = None) -> Frame:
        """Return a child frame at local ``offset`` with an extra local ``rotation``."""
        child_rotation = self.rotation if rotation is None else self.rotation @ rotation
        return Frame(self.to_world(offset), child_rotation)


class Shape(ABC):
    """Base of all shapes: ``distance(x, y, z)`` on broadcastable LPS arrays, and bounds."""

    @abstractmethod
    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        """Signed distance in mm (negative inside)."""

    @abstractmethod
    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """World axis-aligned bounding box (low, high) in LPS mm."""

    def __or__(self, other: Shape) -> Shape:
        return Union((self, other))

    def __and__(self, other: Shape) -> Shape:
        return Intersection(self, other)


def _local(frame: Frame, x: FloatArray, y: FloatArray, z: FloatArray) -> tuple[FloatArray, ...]:
    dx, dy, dz = x - frame.origin[0], y - frame.origin[1], z - frame.origin[2]
    r = frame.rotation  # local = R^T (world - origin)
    return (
        r[0, 0] * dx + r[1, 0] * dy + r[2, 0] * dz,
        r[0, 1] * dx + r[1, 1] * dy + r[2, 1] * dz,
        r[0, 2] * dx + r[1, 2] * dy + r[2, 2] * dz,
    )


def _box_bounds(frame: Frame, half: FloatArray) -> tuple[FloatArray, FloatArray]:
    extent = np.abs(frame.rotation) @ half
    return frame.origin - extent, frame.origin + extent


@dataclass(frozen=True, eq=False)
class Ellipsoid(Shape):
    """Ellipsoid with semi-axes ``radii`` (mm) along the frame's axes."""

    frame: Frame
    radii: tuple[float, float, float]

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        lx, ly, lz = _local(self.frame, x, y, z)
        rx, ry, rz = self.radii
        k = np.sqrt((lx / rx) ** 2 + (ly / ry) ** 2 + (lz / rz) ** 2)
        return (k - 1.0) * min(self.radii)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return _box_bounds(self.frame, np.asarray(self.radii))


@dataclass(frozen=True, eq=False)
class RoundedBox(Shape):
    """Box of half-sizes ``half`` (mm) with edges rounded by ``rounding`` (mm)."""

    frame: Frame
    half: tuple[float, float, float]
    rounding: float = 0.0

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        lx, ly, lz = _local(self.frame, x, y, z)
        inner = np.asarray(self.half) - self.rounding
        qx, qy, qz = np.abs(lx) - inner[0], np.abs(ly) - inner[1], np.abs(lz) - inner[2]
        outside = np.sqrt(
            np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2 + np.maximum(qz, 0.0) ** 2
        )
        inside = np.minimum(np.maximum(qx, np.maximum(qy, qz)), 0.0)
        return outside + inside - self.rounding

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return _box_bounds(self.frame, np.asarray(self.half))


@dataclass(frozen=True, eq=False)
class EllipticCylinder(Shape):
    """Cylinder along the frame's z axis with elliptic cross-section, flat ends.

    ``radii`` are the semi-axes along local x and y; ``half_length`` along local z (mm).
    The cross-section distance is the ellipse under-estimate used by :class:`Ellipsoid`.
    """

    frame: Frame
    radii: tuple[float, float]
    half_length: float

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        lx, ly, lz = _local(self.frame, x, y, z)
        rx, ry = self.radii
        radial = (np.sqrt((lx / rx) ** 2 + (ly / ry) ** 2) - 1.0) * min(rx, ry)
        axial = np.abs(lz) - self.half_length
        outside = np.sqrt(np.maximum(radial, 0.0) ** 2 + np.maximum(axial, 0.0) ** 2)
        return outside + np.minimum(np.maximum(radial, axial), 0.0)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return _box_bounds(self.frame, np.array([*self.radii, self.half_length]))


@dataclass(frozen=True, eq=False)
class Tube(Shape):
    """A tube along a polyline (``points`` (N, 3) LPS mm) with radius varying per point."""

    points: FloatArray
    radii: FloatArray

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        segments = [
            self._segment(x, y, z, start, end, r0, r1)
            for start, end, r0, r1 in zip(
                self.points[:-1], self.points[1:], self.radii[:-1], self.radii[1:], strict=True
            )
        ]
        result = segments[0]
        for segment in segments[1:]:
            result = np.minimum(result, segment)
        return result

    def segments(self) -> list[Tube]:
        """Split into one two-point tube per segment (their union is this tube)."""
        return [
            Tube(self.points[i : i + 2], self.radii[i : i + 2]) for i in range(len(self.points) - 1)
        ]

    @staticmethod
    def _segment(
        x: FloatArray,
        y: FloatArray,
        z: FloatArray,
        start: FloatArray,
        end: FloatArray,
        r0: float,
        r1: float,
    ) -> FloatArray:
        axis = end - start
        t = (x - start[0]) * axis[0] + (y - start[1]) * axis[1] + (z - start[2]) * axis[2]
        t = np.clip(t / float(axis @ axis), 0.0, 1.0)
        px = x - (start[0] + t * axis[0])
        py = y - (start[1] + t * axis[1])
        pz = z - (start[2] + t * axis[2])
        return np.sqrt(px * px + py * py + pz * pz) - (r0 + t * (r1 - r0))

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        margin = float(np.max(self.radii))
        return self.points.min(axis=0) - margin, self.points.max(axis=0) + margin


@dataclass(frozen=True, eq=False)
class HalfSpace(Shape):
    """Points with ``normal . (p - point) > 0`` are outside; bounded by ``box`` for painting."""

    point: FloatArray
    normal: FloatArray
    box: tuple[FloatArray, FloatArray]

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        n = self.normal / np.linalg.norm(self.normal)
        return (x - self.point[0]) * n[0] + (y - self.point[1]) * n[1] + (z - self.point[2]) * n[2]

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return self.box


@dataclass(frozen=True, eq=False)
class Union(Shape):
    """Points inside any of ``shapes``."""

    shapes: tuple[Shape, ...]

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        result = self.shapes[0].distance(x, y, z)
        for shape in self.shapes[1:]:
            result = np.minimum(result, shape.distance(x, y, z))
        return result

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        lows, highs = zip(*(s.bounds() for s in self.shapes), strict=True)
        return np.min(lows, axis=0), np.max(highs, axis=0)


@dataclass(frozen=True, eq=False)
class Intersection(Shape):
    """Points inside both shapes."""

    first: Shape
    second: Shape

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        return np.maximum(self.first.distance(x, y, z), self.second.distance(x, y, z))

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        (low_a, high_a), (low_b, high_b) = self.first.bounds(), self.second.bounds()
        return np.maximum(low_a, low_b), np.minimum(high_a, high_b)


@dataclass(frozen=True, eq=False)
class Shell(Shape):
    """The layer of ``thickness`` mm just inside the surface of ``shape``."""

    shape: Shape
    thickness: float

    def distance(self, x: FloatArray, y: FloatArray, z: FloatArray) -> FloatArray:
        d = self.shape.distance(x, y, z)
        return np.maximum(d, -d - self.thickness)

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        return self.shape.bounds()


class Canvas:
    """An axis-aligned LPS grid on which shapes are painted as integer classes.

    Parameters
    ----------
    low_lps_mm, high_lps_mm : sequence of float
        Corners of the region (voxel centres span it).
    spacing_mm : float
        Isotropic voxel size.
    """

    def __init__(
        self, low_lps_mm: Sequence[float], high_lps_mm: Sequence[float], spacing_mm: float
    ) -> None:
        self.spacing_mm = float(spacing_mm)
        self.low = np.asarray(low_lps_mm, dtype=np.float64)
        counts = np.floor((np.asarray(high_lps_mm) - self.low) / self.spacing_mm).astype(int) + 1
        self.axes = [self.low[i] + self.spacing_mm * np.arange(counts[i]) for i in range(3)]
        self.shape_zyx = (int(counts[2]), int(counts[1]), int(counts[0]))

    def new_layer(self) -> npt.NDArray[np.uint8]:
        """Return a zero uint8 array over the canvas, (Z, Y, X)."""
        return np.zeros(self.shape_zyx, dtype=np.uint8)

    def window(self, shape: Shape, margin_mm: float = 0.0) -> tuple[slice, slice, slice] | None:
        """Return the (z, y, x) slices covering ``shape``'s bounds, or None if outside."""
        low, high = shape.bounds()
        result = []
        for axis in (2, 1, 0):
            start = int(np.floor((low[axis] - margin_mm - self.low[axis]) / self.spacing_mm))
            stop = int(np.ceil((high[axis] + margin_mm - self.low[axis]) / self.spacing_mm)) + 1
            start, stop = max(start, 0), min(stop, len(self.axes[axis]))
            if start >= stop:
                return None
            result.append(slice(start, stop))
        return result[0], result[1], result[2]

    def coordinates(
        self, window: tuple[slice, slice, slice]
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Open-grid LPS coordinates (x, y, z) of a window, broadcastable to its shape."""
        zs, ys, xs = window
        return (
            self.axes[0][xs][None, None, :],
            self.axes[1][ys][None, :, None],
            self.axes[2][zs][:, None, None],
        )

    def distances(
        self, shape: Shape
    ) -> tuple[tuple[slice, slice, slice], npt.NDArray[np.float64]] | None:
        """Return the window of ``shape`` and its signed distances there (None if outside)."""
        window = self.window(shape)
        if window is None:
            return None
        x, y, z = self.coordinates(window)
        size = tuple(s.stop - s.start for s in window)
        return window, np.broadcast_to(shape.distance(x, y, z), size)
