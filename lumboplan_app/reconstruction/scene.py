"""The 3-D scene of a planned case (the window's 3-D pane and the report's figures; no Qt here).

The structures' meshes, each side's working channel as a cylinder (green when its path is
clear, red when it touches a part it must clear), points a, b, c, d, Line A (point a to the
exiting root) and Line B (point d to the mid-sagittal plane, in the axial plane), the parts
the channel touches drawn in red over the bone or nerve they belong to, and the handle that
grabs the moved channel. Camera presets look from the case's own anatomical frame (posterior,
lateral, posterolateral, axial from above).

The scene draws into a pyvista plotter: by default VTK's off-screen window (EGL or OSMesa where
there is no display; the GPU where there is one), whose frames come back as images (the
report, and the pane where Qt has no OpenGL widgets, as on the ``offscreen`` platform of the
tests); or a plotter it is given, such as the pane's native pyvistaqt ``QtInteractor``, which
draws on screen itself. Mouse handling is the Qt widget's; this class gives it the projections
it needs (:meth:`PlanScene.to_display`, :meth:`PlanScene.from_display`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import Part, Side, Structure
from lumboplan_app.planning.channel import Channel
from lumboplan_app.planning.landmarks import plane_axes
from lumboplan_app.progress import CancelCheck
from lumboplan_app.reconstruction.meshes import stop_if_cancelled
from lumboplan_app.viewing import CAMERA_PRESETS
from lumboplan_app.volume import LabelMap

if TYPE_CHECKING:
    import pyvista

FloatArray = npt.NDArray[np.float64]

BACKGROUND_RGB = (0.07, 0.08, 0.10)
CLEAR_RGB = (0.25, 0.85, 0.45)
TOUCHING_RGB = (0.92, 0.22, 0.22)
INACTIVE_RGB = (0.55, 0.58, 0.62)
POINT_RGB = {"a": (1.0, 0.85, 0.2), "b": (1.0, 1.0, 1.0), "c": (1.0, 0.55, 0.1), "d": (0.4, 0.8, 1)}
LINE_RGB = {"line_a": (1.0, 0.85, 0.2), "line_b": (0.4, 0.8, 1.0)}
#: Opacity of the structures that would hide the spine (the skin and the iliac bone).
SEE_THROUGH = {Structure.SKIN: 0.12, Structure.ILIUM: 0.35}
#: How far the camera stands from the disc's centre (mm).
_CAMERA_DISTANCE_MM = 400.0
_POINT_RADIUS_MM = 1.6
_LINE_RADIUS_MM = 0.6
#: The grab handle: a white sphere around the moved channel's outer end (radius mm, opacity
#: at rest and while grabbed).
_HANDLE_RADIUS_MM = 6.0
_HANDLE_OPACITY = (0.45, 0.8)
#: Triangles per structure drawn in the pane: with software OpenGL a frame of the full
#: surfaces (170 000 triangles on the demo) takes 140-170 ms, of these 90 ms.
DISPLAY_TRIANGLES = 15_000


def display_meshes(
    meshes: Mapping[Structure, pyvista.PolyData],
    should_cancel: CancelCheck | None = None,
) -> dict[Structure, pyvista.PolyData]:
    """Return the surfaces decimated to about :data:`DISPLAY_TRIANGLES` triangles at most.

    For the pane only: measurements never use them. ``should_cancel`` is polled before each
    structure (:class:`~lumboplan_app.errors.Cancelled`, nothing returned).
    """
    shown = {}
    for structure, mesh in meshes.items():
        stop_if_cancelled(should_cancel)
        if mesh.n_cells > DISPLAY_TRIANGLES:
            mesh = mesh.triangulate().decimate_pro(1.0 - DISPLAY_TRIANGLES / mesh.n_cells)
        shown[structure] = mesh
    return shown


class PlanScene:
    """A planned case in 3-D, rendered to an RGB image of ``size_px`` (width, height).

    With ``plotter`` (a pyvista plotter that draws on screen, e.g. pyvistaqt's
    ``QtInteractor``), the scene draws there instead and its size is the widget's.
    """

    def __init__(
        self, size_px: tuple[int, int] = (640, 520), plotter: pyvista.BasePlotter | None = None
    ) -> None:
        import pyvista

        self.plotter = (
            pyvista.Plotter(off_screen=True, window_size=list(size_px))
            if plotter is None
            else plotter
        )
        self.plotter.set_background(BACKGROUND_RGB)  # type: ignore[arg-type]  # pyvista typing
        self._structures: dict[Structure, Any] = {}
        self._channels: dict[Side, Any] = {}
        self._markers: dict[tuple[Side, str], Any] = {}
        self._touched: dict[Part, Any] = {}
        self._handle: Any = None
        self._parts: LabelMap | None = None
        self._frame: tuple[FloatArray, FloatArray, FloatArray, FloatArray] | None = None
        self._unit_cylinder = pyvista.Cylinder(
            center=(0.0, 0.0, 0.5), direction=(0.0, 0.0, 1.0), radius=1.0, height=1.0, resolution=40
        )
        self._unit_sphere = pyvista.Sphere(radius=1.0, theta_resolution=16, phi_resolution=16)

    # -- content ------------------------------------------------------------------------------

    def set_size(self, size_px: tuple[int, int]) -> None:
        """Resize the rendered image (width, height in pixels)."""
        self.plotter.window_size = [max(16, int(size_px[0])), max(16, int(size_px[1]))]

    @property
    def size_px(self) -> tuple[int, int]:
        """The rendered image's (width, height) in pixels."""
        width, height = self.plotter.window_size
        return int(width), int(height)

    def set_meshes(self, meshes: Mapping[Structure, pyvista.PolyData]) -> None:
        """Show these structures' surfaces (LPS mm), replacing any shown before."""
        for actor in self._structures.values():
            self.plotter.remove_actor(actor, render=False)
        self._structures = {
            structure: self.plotter.add_mesh(
                mesh,
                color=[c / 255 for c in structure.colour_rgb],
                opacity=SEE_THROUGH.get(structure, 1.0),
                smooth_shading=True,
                name=f"structure-{structure.name}",
                render=False,
            )
            for structure, mesh in meshes.items()
        }

    @property
    def structures(self) -> tuple[Structure, ...]:
        """The structures with a surface in the scene."""
        return tuple(self._structures)

    def set_structure_visible(self, structure: Structure, visible: bool) -> None:
        """Show or hide one structure's surface."""
        actor = self._structures.get(structure)
        if actor is not None:
            actor.SetVisibility(visible)

    def structure_visible(self, structure: Structure) -> bool:
        """Whether the structure's surface is shown (False when it has none)."""
        actor = self._structures.get(structure)
        return actor is not None and bool(actor.GetVisibility())

    def set_plan_frame(self, landmarks: Mapping[str, Any] | None, parts: LabelMap | None) -> None:
        """Take the plan's planes (for the camera presets) and part map (for highlights)."""
        self._frame = (
            None if landmarks is None or "planes" not in landmarks else plane_axes(landmarks)
        )
        self._parts = parts
        for actor in self._touched.values():
            self.plotter.remove_actor(actor, render=False)
        self._touched = {}

    def set_channel(self, side: Side, channel: Channel | None, clear: bool, active: bool) -> None:
        """Draw ``side``'s channel (None: remove it); green when clear, red when touching.

        The side not being moved (``active`` False) is drawn grey and half transparent.
        """
        actor = self._channels.get(side)
        if channel is None:
            if actor is not None:
                actor.SetVisibility(False)
            return
        if actor is None:
            actor = self.plotter.add_mesh(
                self._unit_cylinder, name=f"channel-{side.value}", render=False
            )
            self._channels[side] = actor
        actor.SetVisibility(True)
        actor.user_matrix = _cylinder_matrix(channel)
        prop = actor.GetProperty()
        prop.SetColor(*(CLEAR_RGB if clear else TOUCHING_RGB) if active else INACTIVE_RGB)
        prop.SetOpacity(0.85 if active else 0.35)

    def channel_visible(self, side: Side) -> bool:
        """Whether ``side``'s channel is drawn."""
        actor = self._channels.get(side)
        return actor is not None and bool(actor.GetVisibility())

    def set_markers(
        self,
        side: Side,
        points: Mapping[str, npt.ArrayLike | None],
        lines: Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike] | None],
    ) -> None:
        """Draw ``side``'s points (a, b, c, d) as small spheres and its lines (line_a, line_b).

        A None point or line removes it; points and lines are in LPS mm. Each marker is one
        actor, moved by its matrix: a drag moves the markers without building meshes.
        """
        for name, point in points.items():
            matrix = None if point is None else _sphere_matrix(point, _POINT_RADIUS_MM)
            self._set_marker(side, name, self._unit_sphere, matrix)
        for name, line in lines.items():
            matrix = None if line is None else _segment_matrix(*line, radius_mm=_LINE_RADIUS_MM)
            self._set_marker(side, name, self._unit_cylinder, matrix)

    def markers(self, side: Side) -> tuple[str, ...]:
        """Return the names of the points and lines shown for ``side``."""
        return tuple(
            name
            for (owner, name), actor in self._markers.items()
            if owner is side and actor.GetVisibility()
        )

    def set_touched(self, parts: Iterable[Part]) -> None:
        """Highlight these parts in red (their surfaces from the plan's part map)."""
        wanted = set(parts)
        for part in wanted - set(self._touched):
            surface = self._part_surface(part)
            if surface is not None:
                self._touched[part] = self.plotter.add_mesh(
                    surface,
                    color=TOUCHING_RGB,
                    smooth_shading=True,
                    name=f"touched-{part.name}",
                    render=False,
                )
        for part, actor in self._touched.items():
            actor.SetVisibility(part in wanted)

    @property
    def touched(self) -> tuple[Part, ...]:
        """The parts highlighted as touched."""
        return tuple(part for part, actor in self._touched.items() if actor.GetVisibility())

    def set_handle(self, point_lps_mm: npt.ArrayLike | None, grabbed: bool = False) -> None:
        """Draw the grab handle around this point (LPS mm; None: no handle), brighter if grabbed."""
        if point_lps_mm is None:
            if self._handle is not None:
                self._handle.SetVisibility(False)
            return
        if self._handle is None:
            self._handle = self.plotter.add_mesh(
                self._unit_sphere, color=(1.0, 1.0, 1.0), name="handle", render=False
            )
        self._handle.user_matrix = _sphere_matrix(point_lps_mm, _HANDLE_RADIUS_MM)
        self._handle.SetVisibility(True)
        self._handle.GetProperty().SetOpacity(_HANDLE_OPACITY[int(grabbed)])

    def handle_radius_px(self, point_lps_mm: npt.ArrayLike) -> float:
        """Return how large (pixels) the handle around ``point_lps_mm`` is drawn now."""
        point = np.asarray(point_lps_mm, dtype=np.float64)
        up = np.asarray(self.plotter.camera.GetViewUp(), dtype=np.float64)
        edge = point + _HANDLE_RADIUS_MM * up / np.linalg.norm(up)
        return float(np.hypot(*np.subtract(self.to_display(edge), self.to_display(point))))

    @property
    def handle_visible(self) -> bool:
        """Whether the grab handle is drawn."""
        return self._handle is not None and bool(self._handle.GetVisibility())

    # -- camera ---------------------------------------------------------------------------------

    def camera_preset(self, name: str, side: Side = Side.LEFT) -> None:
        """Look from ``name`` (one of :data:`CAMERA_PRESETS`) at the disc; lateral from ``side``.

        Without a plan the frame is the scanner's (LPS): posterior is +y, cranial +z.

        Raises
        ------
        ValueError
            For an unknown preset name.
        """
        if name not in CAMERA_PRESETS:
            raise ValueError(f"unknown camera preset {name!r}; use one of {CAMERA_PRESETS}")
        if self._frame is not None:
            focus, u, v, w = self._frame
        else:
            focus = self._scene_centre()
            u, v, w = np.eye(3)
        sign = float(side.lps_sign)
        look_from = {
            "posterior": v,
            "lateral": sign * u,
            "posterolateral": 0.75 * v + 0.6 * sign * u + 0.25 * w,
            "axial": w + 0.02 * v,
        }[name]
        up = -v if name == "axial" else w
        look_from = look_from / np.linalg.norm(look_from)
        eye = focus + _CAMERA_DISTANCE_MM * look_from
        self.plotter.camera_position = [tuple(eye), tuple(focus), tuple(up)]
        self.plotter.reset_camera_clipping_range()

    def orbit(self, azimuth_deg: float, elevation_deg: float) -> None:
        """Turn the camera about its focal point (degrees across and up)."""
        camera = self.plotter.camera
        camera.Azimuth(azimuth_deg)
        camera.Elevation(elevation_deg)
        camera.OrthogonalizeViewUp()
        self.plotter.reset_camera_clipping_range()

    def zoom(self, factor: float) -> None:
        """Zoom in (factor > 1) or out (< 1)."""
        self.plotter.camera.Zoom(factor)
        self.plotter.reset_camera_clipping_range()

    # -- rendering and picking ------------------------------------------------------------------

    def render(self) -> npt.NDArray[np.uint8]:
        """Render and return the image, (height, width, 3) RGB."""
        self.plotter.render()
        return np.asarray(self.plotter.screenshot(return_img=True), dtype=np.uint8)

    def to_display(self, point_lps_mm: npt.ArrayLike) -> tuple[float, float]:
        """Return where a point (LPS mm) appears in the image: (x, y) pixels from the top left."""
        renderer = self.plotter.renderer
        x, y, z = (float(v) for v in np.asarray(point_lps_mm, dtype=np.float64))
        renderer.SetWorldPoint(x, y, z, 1.0)
        renderer.WorldToDisplay()
        display_x, display_y, _ = renderer.GetDisplayPoint()
        return float(display_x), float(self.size_px[1] - display_y)

    def from_display(self, x: float, y: float, through_lps_mm: npt.ArrayLike) -> FloatArray:
        """Return the point (LPS mm) under pixel (x, y) on the view-parallel plane through a point.

        Dragging a point keeps its depth: the mouse moves it within that plane.
        """
        renderer = self.plotter.renderer
        flipped = self.size_px[1] - float(y)
        ends = []
        for depth in (0.0, 1.0):
            renderer.SetDisplayPoint(float(x), flipped, depth)
            renderer.DisplayToWorld()
            world = np.asarray(renderer.GetWorldPoint(), dtype=np.float64)
            ends.append(world[:3] / world[3])
        near, far = ends
        ray = far - near
        normal = np.asarray(self.plotter.camera.GetDirectionOfProjection(), dtype=np.float64)
        through = np.asarray(through_lps_mm, dtype=np.float64)
        along = float((through - near) @ normal) / float(ray @ normal)
        return near + along * ray

    def close(self) -> None:
        """Release the render window."""
        self.plotter.close()

    # -- helpers ----------------------------------------------------------------------------------

    def _set_marker(
        self, side: Side, name: str, shape: pyvista.PolyData, matrix: FloatArray | None
    ) -> None:
        """Show ``shape`` placed by ``matrix`` as ``side``'s marker ``name`` (None: hide it)."""
        key = (side, name)
        actor = self._markers.get(key)
        if matrix is None:
            if actor is not None:
                actor.SetVisibility(False)
            return
        if actor is None:
            colour = POINT_RGB.get(name) or LINE_RGB.get(name) or (1.0, 1.0, 1.0)
            actor = self._markers[key] = self.plotter.add_mesh(
                shape, color=colour, name=f"marker-{side.value}-{name}", render=False
            )
        actor.user_matrix = matrix
        actor.SetVisibility(True)

    def _part_surface(self, part: Part) -> pyvista.PolyData | None:
        if self._parts is None:
            return None
        from lumboplan_app.reconstruction.meshes import mask_surface

        return mask_surface(self._parts.array == part, self._parts.grid)

    def _scene_centre(self) -> FloatArray:
        bounds = np.asarray(self.plotter.bounds, dtype=np.float64)
        if not np.all(np.isfinite(bounds)):
            return np.zeros(3)
        return np.array([bounds[0] + bounds[1], bounds[2] + bounds[3], bounds[4] + bounds[5]]) / 2


def _sphere_matrix(centre: npt.ArrayLike, radius_mm: float) -> FloatArray:
    """Return the 4x4 matrix taking the unit sphere onto the sphere at ``centre`` (LPS mm)."""
    matrix = np.diag([radius_mm] * 3 + [1.0])
    matrix[:3, 3] = np.asarray(centre, dtype=np.float64)
    return matrix


def _cylinder_matrix(channel: Channel) -> FloatArray:
    """Return the 4x4 matrix taking the unit cylinder (z from 0 to 1, radius 1) onto ``channel``."""
    end = channel.tip_lps_mm + channel.length_mm * channel.axis
    return _segment_matrix(channel.tip_lps_mm, end, radius_mm=channel.diameter_mm / 2)


def _segment_matrix(start: npt.ArrayLike, end: npt.ArrayLike, radius_mm: float) -> FloatArray:
    """Return the 4x4 matrix taking the unit cylinder onto the rod ``start`` -> ``end`` (LPS mm).

    A rod of no length is drawn as nothing (its matrix flattens the cylinder onto ``start``).
    """
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    along = end - start
    length = float(np.linalg.norm(along))
    matrix = np.eye(4)
    matrix[:3, 3] = start
    if length == 0.0:
        matrix[:3, :3] = 0.0
        return matrix
    axis = along / length
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    first = np.cross(axis, helper)
    first /= np.linalg.norm(first)
    second = np.cross(axis, first)
    matrix[:3, 0] = radius_mm * first
    matrix[:3, 1] = radius_mm * second
    matrix[:3, 2] = along
    return matrix
