"""Qt-free state of the slice views: the shared cursor, window/level and the three planes.

The window's axial, coronal and sagittal views are thin painters of a :class:`ViewState`: it
owns the cursor (an integer voxel index ``(z, y, x)`` of the canonical LPS volume, always inside
the volume), the intensity window, the presets, and the mapping between a plane's display pixels
and volume indices. Views subscribe to its changes (plain Python callbacks), write the user's
edits back to it, and unsubscribe when closed. The CLI, the report's figures and the tests use
the same model without Qt.

Display convention (radiological, as PACS viewers show lumbar MR), for a canonical volume whose
array axes run z: inferior -> superior, y: anterior -> posterior, x: right -> left:

- axial ``array[z]``: rows = y (anterior at the top), columns = x (the patient's right on the
  screen's left);
- coronal ``array[:, y, :]`` with rows flipped: superior at the top, the patient's right on the
  screen's left;
- sagittal ``array[:, :, x]`` with rows flipped: superior at the top, anterior on the left.

A display position ``(row, column)`` is continuous, with pixel centres at whole numbers (pixel
``(0, 0)`` covers ``[-0.5, 0.5)`` on both axes), the same convention as volume indices.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from lumboplan_app.labels import SEGMENTED_STRUCTURES, Structure
from lumboplan_app.observable import Observable

if TYPE_CHECKING:
    from lumboplan_app.volume import LabelMap, Volume

logger = logging.getLogger(__name__)

Plane = Literal["axial", "coronal", "sagittal"]
#: Colour of background strokes for grow from seeds (RGB): magenta, no structure's colour.
BACKGROUND_STROKE_RGB = (255, 0, 255)
#: The three planes, in the order the window lays them out.
PLANES: tuple[Plane, ...] = ("axial", "coronal", "sagittal")
#: Array axis (0 = z, 1 = y, 2 = x) normal to each plane: the axis its slice index runs along.
PLANE_AXIS: dict[Plane, int] = {"axial": 0, "coronal": 1, "sagittal": 2}
#: The 3-D pane's camera presets, looking at the disc from behind, the side, behind and to the
#: side, and from above (:meth:`lumboplan_app.reconstruction.scene.PlanScene.camera_preset`).
CAMERA_PRESETS = ("posterior", "lateral", "posterolateral", "axial")
#: The presets that look from the side whose channel is moved (switching side re-aims them).
SIDED_CAMERA_PRESETS = ("lateral", "posterolateral")

#: What changed, as observers are told (:class:`~lumboplan_app.observable.Observable`).
Change = Literal["cursor", "window", "labels"]

#: Opacity of the label overlay when labels are first shown (0 transparent, 1 opaque).
DEFAULT_LABEL_OPACITY = 0.45

#: Name of the preset that is applied when a volume is shown.
DEFAULT_PRESET = "Auto (1-99 %)"
#: Largest number of voxels the intensity percentiles are computed on (a regular subsample).
_PERCENTILE_SAMPLE_VOXELS = 2_000_000
#: Width of the window when a volume holds a single value (nothing to stretch).
_DEGENERATE_WIDTH = 1.0
#: Dragging across this many screen pixels changes the window by the first preset's width.
_DRAG_PIXELS_PER_SPAN = 400.0
#: Narrowest window a drag can make, as a fraction of the first preset's width.
_MIN_DRAG_WIDTH_FRACTION = 1e-3


@dataclass(frozen=True, slots=True)
class EdgeLetters:
    """Patient directions at the four edges of a displayed plane (``"A"``, ``"R"``, ...)."""

    top: str
    bottom: str
    left: str
    right: str


#: Orientation letters of each plane in the display convention of this module.
EDGE_LETTERS: dict[Plane, EdgeLetters] = {
    "axial": EdgeLetters(top="A", bottom="P", left="R", right="L"),
    "coronal": EdgeLetters(top="S", bottom="I", left="R", right="L"),
    "sagittal": EdgeLetters(top="S", bottom="I", left="A", right="P"),
}


@dataclass(frozen=True, slots=True)
class WindowLevel:
    """An intensity window: values ``level - width/2`` and below are black, above white.

    Parameters
    ----------
    width : float
        Range of intensities spread from black to white, in the volume's units, > 0.
    level : float
        Intensity shown as mid-grey, in the volume's units.

    Raises
    ------
    ValueError
        If ``width`` is not a positive finite number or ``level`` is not finite.
    """

    width: float
    level: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.width) and self.width > 0):
            raise ValueError(f"window width must be positive and finite, got {self.width}")
        if not math.isfinite(self.level):
            raise ValueError(f"window level must be finite, got {self.level}")

    @property
    def lower(self) -> float:
        """Intensity shown black (and everything below it)."""
        return self.level - self.width / 2

    @property
    def upper(self) -> float:
        """Intensity shown white (and everything above it)."""
        return self.level + self.width / 2

    @staticmethod
    def from_range(lower: float, upper: float) -> WindowLevel:
        """Return the window from ``lower`` (black) to ``upper`` (white).

        When ``upper <= lower`` (a constant image), the window is centred on ``lower`` with a
        width of 1.
        """
        if upper > lower:
            return WindowLevel(width=float(upper - lower), level=float(lower + upper) / 2)
        return WindowLevel(width=_DEGENERATE_WIDTH, level=float(lower))


@dataclass(frozen=True, slots=True)
class WindowPreset:
    """A named window offered to the user, e.g. ``"Full range"``."""

    name: str
    window: WindowLevel


@dataclass(frozen=True, slots=True)
class PlaneImage:
    """One slice of the volume, oriented for display.

    Parameters
    ----------
    plane : {"axial", "coronal", "sagittal"}
        Which plane.
    slice_index : int
        Index of the slice along the plane's normal axis (see :data:`PLANE_AXIS`).
    pixels : ndarray, shape (rows, columns), float32
        The voxel values in display orientation (row 0 at the top, column 0 on the left). A
        read-only view into the volume: copy before changing it.
    row_spacing_mm : float
        Distance between the centres of two rows (the pixel height), in mm.
    column_spacing_mm : float
        Distance between the centres of two columns (the pixel width), in mm.
    letters : EdgeLetters
        Patient directions at the image's edges.
    """

    plane: Plane
    slice_index: int
    pixels: npt.NDArray[np.float32]
    row_spacing_mm: float
    column_spacing_mm: float
    letters: EdgeLetters

    @property
    def pixel_aspect(self) -> float:
        """Height over width of one pixel on screen (1 for square pixels)."""
        return self.row_spacing_mm / self.column_spacing_mm


#: Array axes (z=0, y=1, x=2) along a plane's display rows and columns.
_DISPLAY_AXES: dict[str, tuple[int, int]] = {"axial": (1, 2), "coronal": (0, 2), "sagittal": (0, 1)}


def plane_shape(shape_zyx: Sequence[int], plane: Plane) -> tuple[int, int]:
    """Return ``(rows, columns)`` of ``plane``'s display image for a volume of ``shape_zyx``."""
    rows, columns = _DISPLAY_AXES[plane]
    return int(shape_zyx[rows]), int(shape_zyx[columns])


def plane_spacing_mm(spacing_xyz_mm: Sequence[float], plane: Plane) -> tuple[float, float]:
    """Return ``(row spacing, column spacing)`` in mm of ``plane``'s display pixels.

    ``spacing_xyz_mm`` is ordered x, y, z, as :attr:`Grid.spacing_xyz_mm`.
    """
    spacing_zyx = [float(s) for s in spacing_xyz_mm][::-1]
    rows, columns = _DISPLAY_AXES[plane]
    return spacing_zyx[rows], spacing_zyx[columns]


def display_to_index(
    plane: Plane, row: float, column: float, slice_index: float, shape_zyx: Sequence[int]
) -> tuple[float, float, float]:
    """Map a display position of ``plane`` to a continuous volume index ``(z, y, x)``.

    Parameters
    ----------
    plane : {"axial", "coronal", "sagittal"}
        The displayed plane.
    row, column : float
        Display position, pixel centres at whole numbers; may lie outside the image.
    slice_index : float
        Position of the plane along its normal axis.
    shape_zyx : sequence of int
        Volume shape.

    Returns
    -------
    tuple of float
        The index ``(z, y, x)``, not clamped (it lies outside the volume when the position
        lies outside the image).
    """
    top_z = float(shape_zyx[0] - 1)
    if plane == "axial":
        return float(slice_index), float(row), float(column)
    if plane == "coronal":
        return top_z - row, float(slice_index), float(column)
    return top_z - row, float(column), float(slice_index)


def index_to_display(
    plane: Plane, index_zyx: Sequence[float], shape_zyx: Sequence[int]
) -> tuple[float, float]:
    """Return the display position ``(row, column)`` of a volume index in ``plane``.

    The inverse of :func:`display_to_index` (the index's component along the plane's normal
    is dropped).
    """
    z, y, x = (float(v) for v in index_zyx)
    top_z = float(shape_zyx[0] - 1)
    if plane == "axial":
        return y, x
    if plane == "coronal":
        return top_z - z, x
    return top_z - z, y


def extract_plane(array: npt.NDArray[Any], plane: Plane, slice_index: int) -> npt.NDArray[Any]:
    """Return slice ``slice_index`` of a ``(Z, Y, X)`` array along ``plane``, display-oriented.

    The result is a read-only view (no copy).

    Raises
    ------
    IndexError
        If ``slice_index`` lies outside the volume.
    """
    size = array.shape[PLANE_AXIS[plane]]
    if not 0 <= slice_index < size:
        raise IndexError(f"{plane} slice {slice_index} outside 0..{size - 1}")
    if plane == "axial":
        pixels = array[slice_index]
    elif plane == "coronal":
        pixels = array[::-1, slice_index, :]
    else:
        pixels = array[::-1, :, slice_index]
    view = pixels.view()
    view.setflags(write=False)
    return view


def apply_window(pixels: npt.ArrayLike, window: WindowLevel) -> npt.NDArray[np.uint8]:
    """Map intensities to grey levels 0..255 through ``window`` (values outside are clipped).

    Returns a C-contiguous uint8 array of the same shape.
    """
    values = np.asarray(pixels, dtype=np.float32)
    scaled = (values - np.float32(window.lower)) * np.float32(255.0 / window.width)
    grey = (np.clip(scaled, 0.0, 255.0) + np.float32(0.5)).astype(np.uint8)
    return np.ascontiguousarray(grey)


def intensity_sample(array: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Return a regular subsample of at most 2 million finite values of ``array`` (flattened)."""
    flat = np.asarray(array).reshape(-1)
    stride = max(1, math.ceil(flat.size / _PERCENTILE_SAMPLE_VOXELS))
    sample = np.asarray(flat[::stride], dtype=np.float32)
    return sample[np.isfinite(sample)]


def window_presets(volume: Volume) -> tuple[WindowPreset, ...]:
    """Return the windows offered for ``volume``, computed from its intensity percentiles.

    Always: ``"Auto (1-99 %)"`` (1st to 99th percentile), ``"Full range"`` (minimum to
    maximum) and ``"T2 soft tissue"`` (2nd to 98th percentile of the voxels brighter than a
    tenth of the 1-99 % span, so the dark background does not set the contrast). For CT (or
    values that look like Hounsfield units) also ``"CT bone"`` (W 1800, L 400) and
    ``"CT soft tissue"`` (W 400, L 40).
    """
    from lumboplan_app.io.checks import looks_like_ct

    sample = intensity_sample(volume.array)
    if sample.size == 0:
        flat = WindowLevel.from_range(0.0, 0.0)
        return (
            WindowPreset(DEFAULT_PRESET, flat),
            WindowPreset("Full range", flat),
            WindowPreset("T2 soft tissue", flat),
        )
    low, p1, p99, high = (float(v) for v in np.percentile(sample, [0, 1, 99, 100]))
    threshold = p1 + 0.1 * (p99 - p1)
    foreground = sample[sample > threshold]
    if foreground.size:
        soft_low, soft_high = (float(v) for v in np.percentile(foreground, [2, 98]))
    else:
        soft_low, soft_high = p1, p99
    presets = [
        WindowPreset(DEFAULT_PRESET, WindowLevel.from_range(p1, p99)),
        WindowPreset("Full range", WindowLevel.from_range(low, high)),
        WindowPreset("T2 soft tissue", WindowLevel.from_range(soft_low, soft_high)),
    ]
    if looks_like_ct(volume):
        presets += [
            WindowPreset("CT bone", WindowLevel(width=1800.0, level=400.0)),
            WindowPreset("CT soft tissue", WindowLevel(width=400.0, level=40.0)),
        ]
    return tuple(presets)


class ViewState(Observable[Change]):
    """The state the three slice views share: cursor, window, presets, and change callbacks.

    Parameters
    ----------
    volume : Volume
        A canonical LPS volume (see :meth:`Volume.to_canonical`).
    presets : sequence of WindowPreset, optional
        The windows offered; by default :func:`window_presets` of ``volume``. The first is
        applied.

    Notes
    -----
    The cursor starts at the centre voxel. Observers are called synchronously, in the order
    they subscribed, after the state has changed, with ``"cursor"``, ``"window"`` or
    ``"labels"``; a change that leaves the state as it was calls nobody.
    """

    def __init__(self, volume: Volume, presets: Sequence[WindowPreset] | None = None) -> None:
        super().__init__()
        self._volume = volume
        self._shape_zyx: tuple[int, int, int] = tuple(  # type: ignore[assignment]
            int(n) for n in volume.array.shape
        )
        self._presets = tuple(presets) if presets is not None else window_presets(volume)
        if not self._presets:
            raise ValueError("at least one window preset is needed")
        self._window = self._presets[0].window
        self._preset_name: str | None = self._presets[0].name
        # Window drags scale with the first preset's width (the 1-99 % span by default).
        self._drag_span = self._presets[0].window.width
        self._cursor_zyx: tuple[int, int, int] = tuple(  # type: ignore[assignment]
            (n - 1) // 2 for n in self._shape_zyx
        )
        self._labels: LabelMap | None = None
        self._strokes: npt.NDArray[np.uint8] | None = None
        self._visible: dict[Structure, bool] = dict.fromkeys(SEGMENTED_STRUCTURES, True)
        self._label_opacity = DEFAULT_LABEL_OPACITY

    # -- what is shown ------------------------------------------------------------------------

    @property
    def volume(self) -> Volume:
        """The volume shown."""
        return self._volume

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        """Shape of the volume's array."""
        return self._shape_zyx

    @property
    def presets(self) -> tuple[WindowPreset, ...]:
        """The windows offered for this volume."""
        return self._presets

    def preset(self, name: str) -> WindowPreset:
        """Return the preset called ``name``.

        Raises
        ------
        KeyError
            If there is no such preset.
        """
        for preset in self._presets:
            if preset.name == name:
                return preset
        raise KeyError(name)

    # -- cursor -------------------------------------------------------------------------------

    @property
    def cursor_zyx(self) -> tuple[int, int, int]:
        """The cursor: the voxel index ``(z, y, x)`` all three views pass through."""
        return self._cursor_zyx

    def clamp_index(self, index_zyx: Sequence[float]) -> tuple[int, int, int]:
        """Round a continuous index to the nearest voxel inside the volume."""
        if len(index_zyx) != 3:
            raise ValueError(f"an index has three components (z, y, x), got {len(index_zyx)}")
        rounded = []
        for value, size in zip(index_zyx, self._shape_zyx, strict=True):
            if not math.isfinite(value):
                raise ValueError(f"index components must be finite, got {tuple(index_zyx)}")
            rounded.append(min(max(math.floor(float(value) + 0.5), 0), size - 1))
        return rounded[0], rounded[1], rounded[2]

    def set_cursor(self, index_zyx: Sequence[float]) -> None:
        """Move the cursor to the voxel nearest ``index_zyx`` (clamped into the volume)."""
        cursor = self.clamp_index(index_zyx)
        if cursor != self._cursor_zyx:
            self._cursor_zyx = cursor
            self._notify("cursor")

    def cursor_lps_mm(self) -> npt.NDArray[np.float64]:
        """Return the cursor's position in patient LPS mm, shape (3,)."""
        return np.asarray(self._volume.grid.index_to_lps(self._cursor_zyx), dtype=np.float64)

    def cursor_value(self) -> float:
        """Return the intensity of the voxel under the cursor."""
        return float(self._volume.array[self._cursor_zyx])

    # -- slices -------------------------------------------------------------------------------

    def slice_index(self, plane: Plane) -> int:
        """Return the index of the slice ``plane`` shows (the cursor's component on its axis)."""
        return self._cursor_zyx[PLANE_AXIS[plane]]

    def slice_count(self, plane: Plane) -> int:
        """Return the number of slices along ``plane``'s normal."""
        return self._shape_zyx[PLANE_AXIS[plane]]

    def set_slice(self, plane: Plane, slice_index: int) -> None:
        """Show slice ``slice_index`` in ``plane`` (clamped): moves the cursor along its axis."""
        cursor = list(self._cursor_zyx)
        cursor[PLANE_AXIS[plane]] = int(slice_index)
        self.set_cursor(cursor)

    def step_slice(self, plane: Plane, steps: int) -> None:
        """Move ``plane`` by ``steps`` slices (positive: toward S, P or L; clamped)."""
        self.set_slice(plane, self.slice_index(plane) + int(steps))

    def plane_image(self, plane: Plane) -> PlaneImage:
        """Return the slice ``plane`` shows, display-oriented, with its pixel spacing."""
        slice_index = self.slice_index(plane)
        row_mm, column_mm = plane_spacing_mm(self._volume.grid.spacing_xyz_mm, plane)
        return PlaneImage(
            plane=plane,
            slice_index=slice_index,
            pixels=extract_plane(self._volume.array, plane, slice_index),
            row_spacing_mm=row_mm,
            column_spacing_mm=column_mm,
            letters=EDGE_LETTERS[plane],
        )

    # -- labels -------------------------------------------------------------------------------

    @property
    def labels(self) -> LabelMap | None:
        """The structure labels shown over the volume, or None."""
        return self._labels

    def set_labels(self, labels: LabelMap | None) -> None:
        """Show ``labels`` (structure ids on the volume's grid) over the volume; None hides them.

        Raises
        ------
        ValueError
            If the labels do not lie on the volume's grid.
        """
        if labels is not None and not labels.grid.matches(self._volume.grid, tolerance_mm=1e-2):
            raise ValueError("the labels do not lie on the volume's voxel grid")
        self._labels = labels
        self._notify("labels")

    def set_strokes(self, strokes: npt.NDArray[np.uint8] | None) -> None:
        """Draw grow-from-seeds strokes over the labels (None: none); redrawn on each call.

        ``strokes`` (on the volume's grid): 0 where none, a structure id (drawn opaque in the
        structure's colour), any other value a background stroke (:data:`BACKGROUND_STROKE_RGB`).
        """
        self._strokes = strokes
        self._notify("labels")

    def is_structure_visible(self, structure: Structure) -> bool:
        """Whether ``structure`` is drawn in the overlay."""
        return self._visible[structure]

    def set_structure_visible(self, structure: Structure, visible: bool) -> None:
        """Show or hide one structure of the overlay."""
        if self._visible[structure] != bool(visible):
            self._visible[structure] = bool(visible)
            self._notify("labels")

    @property
    def label_opacity(self) -> float:
        """Opacity of the overlay, 0 (transparent) to 1 (opaque)."""
        return self._label_opacity

    def set_label_opacity(self, opacity: float) -> None:
        """Set the overlay's opacity (clamped to 0..1)."""
        opacity = min(max(float(opacity), 0.0), 1.0)
        if opacity != self._label_opacity:
            self._label_opacity = opacity
            self._notify("labels")

    def overlay_rgba(self, plane: Plane) -> npt.NDArray[np.uint8] | None:
        """Return the label overlay of the slice ``plane`` shows: (rows, columns, 4) RGBA.

        Each visible structure in its colour (``labels.Structure.colour_rgb``) at the overlay's
        opacity, the strokes of :meth:`set_strokes` opaque over them; None when no labels are
        shown.
        """
        if self._labels is None:
            return None
        ids = extract_plane(self._labels.array, plane, self.slice_index(plane))
        table = np.zeros((256, 4), dtype=np.uint8)
        alpha = round(255 * self._label_opacity)
        for structure in SEGMENTED_STRUCTURES:
            if self._visible[structure]:
                table[int(structure)] = (*structure.colour_rgb, alpha)
        rgba = table[ids]
        if self._strokes is not None:
            strokes = extract_plane(self._strokes, plane, self.slice_index(plane))
            stroke_table = np.full((256, 4), (*BACKGROUND_STROKE_RGB, 255), dtype=np.uint8)
            for structure in SEGMENTED_STRUCTURES:
                stroke_table[int(structure)] = (*structure.colour_rgb, 255)
            rgba[strokes != 0] = stroke_table[strokes[strokes != 0]]
        return np.ascontiguousarray(rgba)

    def display_to_index(
        self, plane: Plane, row: float, column: float
    ) -> tuple[float, float, float]:
        """Map a display position of ``plane`` (current slice) to a continuous index (z, y, x).

        Not clamped: see :meth:`contains` and :meth:`clamp_index`.
        """
        return display_to_index(plane, row, column, self.slice_index(plane), self._shape_zyx)

    def cursor_display(self, plane: Plane) -> tuple[float, float]:
        """Return the display position ``(row, column)`` of the cursor in ``plane``."""
        return index_to_display(plane, self._cursor_zyx, self._shape_zyx)

    def contains(self, index_zyx: Sequence[float]) -> bool:
        """Whether a continuous index lies within the volume's voxels (half a voxel margin)."""
        return all(
            -0.5 <= float(value) < size - 0.5
            for value, size in zip(index_zyx, self._shape_zyx, strict=True)
        )

    def value_at(self, index_zyx: Sequence[float]) -> float | None:
        """Return the intensity of the voxel nearest ``index_zyx``, or None outside the volume."""
        if not self.contains(index_zyx):
            return None
        return float(self._volume.array[self.clamp_index(index_zyx)])

    def index_to_lps_mm(self, index_zyx: Sequence[float]) -> npt.NDArray[np.float64]:
        """Return the LPS position in mm of a continuous index ``(z, y, x)``, shape (3,)."""
        return np.asarray(self._volume.grid.index_to_lps(index_zyx), dtype=np.float64)

    # -- window -------------------------------------------------------------------------------

    @property
    def window(self) -> WindowLevel:
        """The intensity window of all three views."""
        return self._window

    @property
    def preset_name(self) -> str | None:
        """Name of the preset the window equals, or None after a manual change."""
        return self._preset_name

    def set_window(self, window: WindowLevel) -> None:
        """Use ``window`` (a manual change: :attr:`preset_name` becomes None)."""
        self._set_window(window, None)

    def apply_preset(self, name: str) -> None:
        """Use the preset called ``name``.

        Raises
        ------
        KeyError
            If there is no such preset.
        """
        self._set_window(self.preset(name).window, name)

    def _set_window(self, window: WindowLevel, preset_name: str | None) -> None:
        if window == self._window and preset_name == self._preset_name:
            return
        self._window = window
        self._preset_name = preset_name
        self._notify("window")

    def dragged_window(self, start: WindowLevel, dx_px: float, dy_px: float) -> WindowLevel:
        """Return the window after a drag of ``(dx_px, dy_px)`` screen pixels from ``start``.

        Dragging right widens the window (less contrast), dragging down raises the level (a
        darker image); 400 pixels change either by the width of the first preset (the volume's
        1-99 % intensity span by default). The width never drops below a thousandth of it.
        """
        step = self._drag_span / _DRAG_PIXELS_PER_SPAN
        width = max(start.width + dx_px * step, self._drag_span * _MIN_DRAG_WIDTH_FRACTION)
        return WindowLevel(width=width, level=start.level + dy_px * step)
