"""The report's figures, rendered off-screen as Pillow images (no window, no display needed).

- :func:`axial_figure`: the scan on the disc mid-plane (radiological: the patient's left on the
  right, anterior at the top) with the labels, both channels as 8 mm bands from point b, points
  a, b, c, d, the mid-sagittal line and Line B.
- :func:`sagittal_figure`: the sagittal plane through one foramen's point a (anterior on the
  left, superior at the top) with the labels and where the channel's axis crosses it.
- :func:`map_figure`: one side's feasibility map (alpha across, beta up), free poses green by
  clearance, blocked ones red, those whose path leaves the scan violet, the paper's placement
  and the best free pose marked.
- :func:`posterolateral_figure`: the structures in 3-D from behind and to the side, the channel
  as a cylinder and the touched parts in red (VTK off-screen).
- :func:`overview_figure`: for a plan without planes (no disc, L5 or S1 to place them), the
  sagittal slice through the middle of what was segmented, so the report still shows it.

Images are built in the anatomical frame of the plan's two planes (:func:`has_frame`), sampled
every 0.5 mm; a side that was not placed shows its points a and b without a channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from lumboplan_app.labels import SEGMENTED_STRUCTURES, Part, Side, Structure
from lumboplan_app.planning.landmarks import plane_axes
from lumboplan_app.volume import Grid, LabelMap, Volume

FloatArray = npt.NDArray[np.float64]

PIXEL_MM = 0.5
_OVERLAY_ALPHA = 0.35
_CHANNEL_COLOUR = {Side.LEFT: (64, 200, 255), Side.RIGHT: (255, 170, 40)}
_TOUCHED_COLOUR = (230, 40, 40)
#: The map's colour for poses that touch nothing in the scan but whose path leaves it (RGB).
MAP_LEAVES_SCAN_RGB = (118, 98, 168)
#: The posterolateral 3-D view shows the structures within this distance (mm) of the foramen's
#: focus, a sphere that fits its frame: a long real label (the nerves up the canal, a false
#: "iliac bone" in the back muscles) would otherwise run out of the picture.
POSTEROLATERAL_RADIUS_MM = 100.0


def has_frame(plan: Mapping[str, Any]) -> bool:
    """Return whether the plan holds both planes (not when the disc, L5 or S1 is missing)."""
    planes = plan.get("planes") or {}
    return "disc_mid" in planes and "mid_sagittal" in planes


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def sample_plane(
    array: npt.NDArray[Any],
    grid: Grid,
    centre: FloatArray,
    across: FloatArray,
    down: FloatArray,
    size_px: tuple[int, int],
    order: int,
) -> npt.NDArray[Any]:
    """Sample ``array`` on a plane: pixel (row, column) at ``centre + column*across + row*down``.

    ``across`` and ``down`` are LPS steps (mm) per pixel; the centre pixel is the image centre.
    Outside the volume: 0.
    """
    rows, columns = size_px
    r = np.arange(rows) - (rows - 1) / 2.0
    c = np.arange(columns) - (columns - 1) / 2.0
    points = centre + c[None, :, None] * across + r[:, None, None] * down
    index = grid.lps_to_index(points.reshape(-1, 3)).T
    values = ndimage.map_coordinates(array, index, order=order, mode="constant", cval=0)
    return values.reshape(rows, columns)


def _grey(values: npt.NDArray[Any], volume: Volume | None) -> npt.NDArray[np.uint8]:
    if volume is None:
        return np.full(values.shape, 40, dtype=np.uint8)
    sample = volume.array[:: max(1, volume.array.shape[0] // 32)]
    low, high = np.percentile(sample, (1, 99))
    scaled = (values - low) / max(float(high - low), 1e-6)
    return (np.clip(scaled, 0, 1) * 255).astype(np.uint8)


def _compose(grey: npt.NDArray[np.uint8], labels: npt.NDArray[Any]) -> Image.Image:
    rgb = np.repeat(grey[..., None], 3, axis=2).astype(np.float64)
    for structure in SEGMENTED_STRUCTURES:
        mask = labels == structure
        if mask.any():
            colour = np.asarray(structure.colour_rgb, dtype=np.float64)
            rgb[mask] = (1 - _OVERLAY_ALPHA) * rgb[mask] + _OVERLAY_ALPHA * colour
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


class _PlaneCanvas:
    """An image of a plane and the mapping of LPS points to its pixels."""

    def __init__(
        self,
        case_labels: LabelMap,
        volume: Volume | None,
        centre: FloatArray,
        across: FloatArray,
        down: FloatArray,
        size_px: tuple[int, int],
    ) -> None:
        self.centre, self.across, self.down = centre, across, down
        self.size_px = size_px
        grey = (
            sample_plane(volume.array, volume.grid, centre, across, down, size_px, 1)
            if volume is not None
            else np.zeros(size_px)
        )
        labels = sample_plane(case_labels.array, case_labels.grid, centre, across, down, size_px, 0)
        self.image = _compose(_grey(grey, volume), labels)
        self.draw = ImageDraw.Draw(self.image)

    def pixel(self, point_lps_mm: npt.ArrayLike) -> tuple[float, float]:
        """Return the (x, y) pixel of an LPS point projected on the plane."""
        offset = np.asarray(point_lps_mm, dtype=np.float64) - self.centre
        rows, columns = self.size_px
        x = offset @ self.across / (self.across @ self.across) + (columns - 1) / 2.0
        y = offset @ self.down / (self.down @ self.down) + (rows - 1) / 2.0
        return float(x), float(y)

    def marker(self, point: npt.ArrayLike | None, name: str, colour: tuple[int, int, int]) -> None:
        if point is None:
            return
        x, y = self.pixel(point)
        self.draw.ellipse((x - 4, y - 4, x + 4, y + 4), outline=colour, width=2)
        self.draw.text((x + 6, y - 14), name, fill=colour, font=_font(14))


def axial_figure(
    plan: Mapping[str, Any], labels: LabelMap, volume: Volume | None, half_extent_mm: float = 130.0
) -> Image.Image:
    """Render the disc mid-plane with both channels, points a-d, the midline and Line B."""
    origin, u, v, _ = plane_axes(plan)
    size = int(2 * half_extent_mm / PIXEL_MM)
    centre = origin + 40.0 * v  # the posterior half holds the foramina and the approach
    canvas = _PlaneCanvas(labels, volume, centre, u * PIXEL_MM, v * PIXEL_MM, (size, size))
    top, bottom = canvas.pixel(origin - 400 * v), canvas.pixel(origin + 400 * v)
    canvas.draw.line((*top, *bottom), fill=(255, 255, 255), width=1)
    for side in Side:
        entry = plan["sides"].get(side.value)
        if entry is None:
            continue
        points = entry["points_lps_mm"]
        if entry["alpha_deg"] is None or points.get("b") is None:
            for name in ("a", "b"):  # not placed: where it would start, without a channel
                canvas.marker(points.get(name), name, (255, 255, 255))
            continue
        colour = _CHANNEL_COLOUR[side]
        b = np.asarray(points["b"], dtype=np.float64)
        axis = _axis_of(entry, plan, side)
        end = b + plan["channel"]["length_mm"] * axis
        width_px = max(2, round(plan["channel"]["diameter_mm"] / PIXEL_MM))
        canvas.draw.line((*canvas.pixel(b), *canvas.pixel(end)), fill=colour, width=width_px)
        for name in ("a", "b", "c", "d"):
            canvas.marker(points.get(name), name, (255, 255, 255))
        d = points.get("d")
        if d is not None and entry["line_b_mm"] is not None:
            foot = np.asarray(d) - ((np.asarray(d) - origin) @ u) * u
            canvas.draw.line((*canvas.pixel(foot), *canvas.pixel(d)), fill=(255, 255, 0), width=2)
            x, y = canvas.pixel((foot + np.asarray(d)) / 2)
            canvas.draw.text(
                (x - 40, y + 6),
                f"Line B {entry['line_b_mm']:.1f} mm",
                fill=(255, 255, 0),
                font=_font(15),
            )
    _letters(canvas.draw, size, size, ("A", "P", "R", "L"))
    return canvas.image


def sagittal_figure(
    plan: Mapping[str, Any],
    labels: LabelMap,
    volume: Volume | None,
    side: Side,
    half_extent_mm: float = 60.0,
) -> Image.Image:
    """Render the sagittal plane through the side's point a (or b) with the channel's crossing."""
    origin, u, v, w = plane_axes(plan)
    entry = plan["sides"][side.value]
    points = entry["points_lps_mm"]
    through = points.get("a") or points.get("b")
    centre = origin + 10.0 * v + 5.0 * w
    if through is not None:
        centre = centre + (np.asarray(through) - centre) @ u * u
    size = int(2 * half_extent_mm / PIXEL_MM)
    canvas = _PlaneCanvas(labels, volume, centre, v * PIXEL_MM, -w * PIXEL_MM, (size, size))
    for name in ("a", "b"):
        canvas.marker(points.get(name), name, (255, 255, 255))
    if entry["alpha_deg"] is not None and points.get("b") is not None:
        b = np.asarray(points["b"], dtype=np.float64)
        axis = _axis_of(entry, plan, side)
        along = (centre - b) @ u / (axis @ u) if abs(axis @ u) > 1e-6 else None
        if along is not None and 0 <= along <= plan["channel"]["length_mm"]:
            x, y = canvas.pixel(b + along * axis)
            radius = plan["channel"]["diameter_mm"] / 2 / PIXEL_MM
            canvas.draw.ellipse(
                (x - radius, y - radius, x + radius, y + radius),
                outline=_CHANNEL_COLOUR[side],
                width=3,
            )
    _letters(canvas.draw, size, size, ("S", "I", "A", "P"))
    return canvas.image


def overview_figure(
    labels: LabelMap, volume: Volume | None, half_extent_mm: float = 110.0
) -> Image.Image:
    """Render the sagittal slice through the middle of the segmented spine (no frame needed).

    Anterior on the left, superior at the top, in the patient's axes; centred on the labelled
    L5, disc, S1 and nerves (on the scan's centre when none is labelled).
    """
    spine = np.isin(labels.array, [Structure.L5, Structure.DISC, Structure.S1, Structure.NERVES])
    index = (
        np.argwhere(spine).mean(axis=0)
        if spine.any()
        else (np.asarray(labels.array.shape, dtype=np.float64) - 1) / 2
    )
    centre = labels.grid.index_to_lps(index)
    size = int(2 * half_extent_mm / PIXEL_MM)
    posterior, inferior = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0])
    canvas = _PlaneCanvas(
        labels, volume, centre, posterior * PIXEL_MM, inferior * PIXEL_MM, (size, size)
    )
    _letters(canvas.draw, size, size, ("S", "I", "A", "P"))
    return canvas.image


def _axis_of(entry: Mapping[str, Any], plan: Mapping[str, Any], side: Side) -> FloatArray:
    """Return the placed channel's unit axis (from its alpha and beta)."""
    from lumboplan_app.planning.channel import direction_for_pose

    return direction_for_pose(
        entry["alpha_deg"], entry["beta_deg"] or 0.0, plan["planes"]["disc_mid"]["normal"], side
    )


def _letters(draw: ImageDraw.ImageDraw, width: int, height: int, letters: tuple[str, ...]) -> None:
    """Orientation letters: top, bottom, left, right."""
    top, bottom, left, right = letters
    font = _font(18)
    draw.text((width / 2 - 6, 4), top, fill=(255, 255, 255), font=font)
    draw.text((width / 2 - 6, height - 24), bottom, fill=(255, 255, 255), font=font)
    draw.text((6, height / 2 - 10), left, fill=(255, 255, 255), font=font)
    draw.text((width - 20, height / 2 - 10), right, fill=(255, 255, 255), font=font)


def map_figure(entry: Mapping[str, Any], scale: int = 4) -> Image.Image | None:
    """Render one side's feasibility map (alpha across, beta up); None without a map."""
    found = entry.get("feasibility_map")
    if not found:
        return None
    clearance = np.asarray(found["smallest_clearance_mm"], dtype=np.float64).T  # (beta, alpha)
    alphas = np.asarray(found["alphas_deg"])
    betas = np.asarray(found["betas_deg"])
    rgb = np.zeros((*clearance.shape, 3), dtype=np.uint8)
    # Plans written before the map held its free poses: free where the smallest clearance
    # reaches the margin (every mapped part then counted as touched within it).
    free = (
        np.asarray(found["free"], dtype=bool).T
        if "free" in found
        else clearance >= found.get("margin_mm", 0.0)
    )
    strength = np.clip(clearance / 5.0, 0, 1)
    rgb[free] = (np.array([40, 120, 40]) + strength[free, None] * np.array([40, 120, 40])).astype(
        np.uint8
    )
    rgb[~free] = (150, 40, 40)
    if "leaves_scan" in found:
        rgb[np.asarray(found["leaves_scan"], dtype=bool).T] = MAP_LEAVES_SCAN_RGB
    rgb[clearance <= -99] = (60, 60, 60)
    image = Image.fromarray(rgb[::-1], "RGB").resize(
        (clearance.shape[1] * scale, clearance.shape[0] * scale), Image.Resampling.NEAREST
    )
    left, top, bottom = 50, 10, 44
    framed = Image.new("RGB", (image.width + left + 12, image.height + top + bottom), "white")
    framed.paste(image, (left, top))
    draw = ImageDraw.Draw(framed)
    font = _font(13)

    def pixel(alpha: float, beta: float) -> tuple[float, float]:
        x = (alpha - alphas[0]) / (alphas[-1] - alphas[0]) * (image.width - scale) + scale / 2
        y = (betas[-1] - beta) / (betas[-1] - betas[0]) * (image.height - scale) + scale / 2
        return left + x, top + y

    for alpha in range(0, 91, 15):
        x, _ = pixel(alpha, betas[0])
        draw.text((x - 8, top + image.height + 4), f"{alpha}", fill="black", font=font)
    for beta in range(int(betas[0]), int(betas[-1]) + 1, 15):
        _, y = pixel(alphas[0], beta)
        draw.text((8, y - 7), f"{beta:+d}", fill="black", font=font)
    draw.text(
        (left, top + image.height + 22),
        "alpha (deg) across, beta (deg) up",
        fill="black",
        font=font,
    )
    if entry.get("alpha_deg") is not None:
        x, y = pixel(entry["alpha_deg"], entry.get("beta_deg") or 0.0)
        draw.ellipse((x - 6, y - 6, x + 6, y + 6), outline="white", width=3)
    best = entry.get("best_free")
    if best is not None:
        x, y = pixel(best["alpha_deg"], best["beta_deg"])
        draw.line((x - 7, y - 7, x + 7, y + 7), fill="yellow", width=3)
        draw.line((x - 7, y + 7, x + 7, y - 7), fill="yellow", width=3)
    return framed


def report_meshes(labels: LabelMap) -> dict[Structure, Any]:
    """Return the meshes the 3-D figures show (bones, disc, nerves, ilium; not the skin)."""
    from lumboplan_app.reconstruction.meshes import structure_meshes

    shown = (Structure.L5, Structure.S1, Structure.DISC, Structure.NERVES, Structure.ILIUM)
    return structure_meshes(labels, shown)


def _within(mesh: Any, centre: FloatArray, radius_mm: float) -> Any | None:
    """Return the part of ``mesh`` within ``radius_mm`` of ``centre`` (LPS mm); None if empty."""
    near = mesh.copy(deep=False)
    near.point_data["distance_mm"] = np.linalg.norm(np.asarray(mesh.points) - centre, axis=1)
    near = near.clip_scalar(scalars="distance_mm", invert=True, value=radius_mm)
    return near if near.n_points else None


def posterolateral_figure(
    plan: Mapping[str, Any],
    meshes: Mapping[Structure, Any],
    parts: LabelMap | None,
    side: Side,
    size_px: tuple[int, int] = (800, 700),
) -> Image.Image:
    """Render the structures near the side's foramen from behind it, the channel, touched parts.

    Of the structures and touched parts, only what lies within :data:`POSTEROLATERAL_RADIUS_MM`
    of the foramen is drawn; the channel is drawn whole.
    """
    import pyvista

    origin, u, v, w = plane_axes(plan)
    focus = origin + 25.0 * v + 10.0 * side.lps_sign * u
    plotter = pyvista.Plotter(off_screen=True, window_size=list(size_px))
    plotter.set_background((1.0, 1.0, 1.0))  # type: ignore[arg-type]  # pyvista decorator typing
    for structure, mesh in meshes.items():
        near = _within(mesh, focus, POSTEROLATERAL_RADIUS_MM)
        if near is None:
            continue
        opacity = 0.35 if structure is Structure.ILIUM else 1.0
        colour = [c / 255 for c in structure.colour_rgb]
        plotter.add_mesh(near, color=colour, opacity=opacity, smooth_shading=True)
    entry = plan["sides"][side.value]
    touched = [
        Part[contact["part"].upper()]
        for contact in entry["contacts"]
        if contact["clearance_mm"] < 0
    ]
    if parts is not None and touched:
        from lumboplan_app.reconstruction.meshes import mask_surface

        surface = mask_surface(np.isin(parts.array, [int(p) for p in touched]), parts.grid)
        near = None if surface is None else _within(surface, focus, POSTEROLATERAL_RADIUS_MM)
        if near is not None:
            plotter.add_mesh(near, color=[c / 255 for c in _TOUCHED_COLOUR])
    if entry["alpha_deg"] is not None:
        b = np.asarray(entry["points_lps_mm"]["b"], dtype=np.float64)
        axis = _axis_of(entry, plan, side)
        length = plan["channel"]["length_mm"]
        cylinder = pyvista.Cylinder(
            center=b + axis * length / 2,
            direction=axis,
            radius=plan["channel"]["diameter_mm"] / 2,
            height=length,
        )
        plotter.add_mesh(cylinder, color=[c / 255 for c in _CHANNEL_COLOUR[side]], opacity=0.8)
    eye = focus + 420.0 * (0.75 * v + 0.55 * side.lps_sign * u + 0.35 * w)
    plotter.camera_position = [tuple(eye), tuple(focus), tuple(w)]
    image = plotter.screenshot(return_img=True)
    plotter.close()
    return Image.fromarray(np.asarray(image), "RGB")
