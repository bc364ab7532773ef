"""One slice view (axial, coronal or sagittal) of the shared :class:`ViewState`.

The view paints the model's current slice with its true pixel aspect (anatomy is never
stretched), the crosshair through the cursor, the orientation letters and the slice position.
It writes the user's edits back to the model (click: cursor; wheel and arrow keys: slice;
right drag: window/level) and repaints when the model tells it something changed.

Mouse and keys:

- left click or drag: moves the cursor there (all three views follow);
- wheel, Up/Down, Page Up/Page Down: next or previous slice of this view;
- right drag: horizontal changes the window width, vertical the level;
- with a brush chosen (paint or erase): left drag paints or erases in this slice;
- left drag on the channel's handle (the ring where its axis leaves the scan, or its outer end):
  moves the channel, which pivots about point b.

The planned channel is drawn as its projection on the view: an 8 mm band from point b outward,
green when its path is clear and red when it touches a part it must clear.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QContextMenuEvent,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from lumboplan_app.viewing import (
    EDGE_LETTERS,
    Change,
    Plane,
    ViewState,
    WindowLevel,
    apply_window,
    index_to_display,
    plane_shape,
    plane_spacing_mm,
)

#: Colour of each plane (3D Slicer's convention: red axial, green coronal, yellow sagittal).
PLANE_COLOURS: dict[Plane, str] = {
    "axial": "#e8604c",
    "coronal": "#6eb04b",
    "sagittal": "#e3c84a",
}
#: In each view, the plane drawn by the crosshair's vertical and horizontal line.
_CROSSHAIR_PLANES: dict[Plane, tuple[Plane, Plane]] = {
    "axial": ("sagittal", "coronal"),
    "coronal": ("sagittal", "axial"),
    "sagittal": ("coronal", "axial"),
}
#: Patient-axis letters of the slice position shown in each view's title (negative, positive).
_POSITION_LETTERS: dict[Plane, tuple[str, str, int]] = {
    "axial": ("I", "S", 2),
    "coronal": ("A", "P", 1),
    "sagittal": ("R", "L", 0),
}
_MARGIN_PX = 6
_TITLE_HEIGHT_PX = 22
_CROSSHAIR_GAP_PX = 7
_WHEEL_STEP = 120
#: How near (pixels) to the channel's handle a press grabs it.
GRAB_RADIUS_PX = 12.0
_CHANNEL_CLEAR = QColor(64, 216, 115)
_CHANNEL_TOUCHING = QColor(235, 56, 56)


class SliceView(QWidget):
    """A 2-D view of one plane of the volume.

    Parameters
    ----------
    plane : {"axial", "coronal", "sagittal"}
        The plane shown.
    parent : QWidget, optional
        Parent widget.

    Signals
    -------
    hovered(object)
        ``(plane, (z, y, x))`` with the continuous index under the mouse, or None when the
        mouse leaves the image.
    channel_dragged(object)
        The channel's handle was dragged: ``(plane, point)``, the point under the mouse on this
        view's slice (LPS mm, ndarray (3,)).
    channel_drag_finished()
        The mouse let go of the channel's handle.
    maximise_requested()
        The view was double-clicked (give it the whole grid, or the room back).
    brush_pressed(object), brush_moved(object)
        With a brush: a stroke starts, or goes on, at this voxel index (z, y, x).
    brush_released()
        With a brush: the stroke ends.
    """

    hovered = Signal(object)
    channel_dragged = Signal(object)
    channel_drag_finished = Signal()
    maximise_requested = Signal()
    brush_pressed = Signal(object)
    brush_moved = Signal(object)
    brush_released = Signal()

    def __init__(self, plane: Plane, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plane: Plane = plane
        self.setObjectName(f"{plane}View")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.WheelFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._state: ViewState | None = None
        self._image: QImage | None = None
        self._image_key: tuple[int, WindowLevel] | None = None
        self._overlay: QImage | None = None
        self._overlay_slice: int | None = None
        self._drag_start: QPointF | None = None
        self._drag_start_window: WindowLevel | None = None
        self._cursor_drag = False
        self._wheel_remainder = 0
        self._channel: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float, bool] | None
        self._channel = None
        self._channel_drag = False
        self._brush_radius_mm: float | None = None
        self._brushing = False
        self._mouse: QPointF | None = None

    # -- model ------------------------------------------------------------------------------

    @property
    def state(self) -> ViewState | None:
        """The model shown, or None."""
        return self._state

    def set_state(self, state: ViewState | None) -> None:
        """Show ``state`` (unsubscribes from the previous model)."""
        if self._state is not None:
            self._state.unsubscribe(self._on_state_changed)
        self._state = state
        self._image = None
        self._image_key = None
        self._overlay = None
        self._overlay_slice = None
        if state is not None:
            state.subscribe(self._on_state_changed)
        self.update()

    def set_channel(
        self,
        tip_lps_mm: npt.ArrayLike | None,
        outer_end_lps_mm: npt.ArrayLike | None = None,
        diameter_mm: float = 8.0,
        clear: bool = True,
    ) -> None:
        """Draw the channel from point b to its outer end (None: no channel)."""
        if tip_lps_mm is None or outer_end_lps_mm is None:
            self._channel = None
        else:
            self._channel = (
                np.asarray(tip_lps_mm, dtype=np.float64),
                np.asarray(outer_end_lps_mm, dtype=np.float64),
                float(diameter_mm),
                bool(clear),
            )
        self.update()

    def set_brush(self, radius_mm: float | None) -> None:
        """Take strokes with a brush of this radius (mm); None: the mouse moves the cursor."""
        self._brush_radius_mm = radius_mm
        self._brushing = False
        self.setCursor(Qt.CursorShape.CrossCursor if radius_mm else Qt.CursorShape.ArrowCursor)
        self.update()

    def channel_handle_index(self) -> tuple[float, float, float] | None:
        """Return the voxel index (z, y, x) of the channel's handle; None without a channel.

        The handle is the channel's outer end, or the last point of its axis inside the scan
        when the end lies outside it.
        """
        if self._channel is None or self._state is None:
            return None
        tip, end, _, _ = self._channel
        grid = self._state.volume.grid
        along = np.linspace(0.0, 1.0, 301)[:, None]
        indices = grid.lps_to_index(tip + along * (end - tip))
        inside = np.all((indices > -0.5) & (indices < np.asarray(self._state.shape_zyx) - 0.5), 1)
        if not inside.any():
            return None
        z, y, x = (float(v) for v in indices[int(np.flatnonzero(inside)[-1])])
        return z, y, x

    def channel_handle_position(self) -> QPointF | None:
        """Return where the channel's handle is drawn in this view, or None."""
        index = self.channel_handle_index()
        return None if index is None else self.index_to_widget(index)

    def _on_state_changed(self, change: Change) -> None:
        if change == "labels":
            self._overlay_slice = None
        self.update()

    # -- geometry -----------------------------------------------------------------------------

    def image_rect(self) -> QRectF:
        """Widget rectangle the slice is drawn into (true aspect, centred); empty without one."""
        if self._state is None:
            return QRectF()
        rows, columns = plane_shape(self._state.shape_zyx, self.plane)
        row_mm, column_mm = plane_spacing_mm(self._state.volume.grid.spacing_xyz_mm, self.plane)
        height_mm, width_mm = rows * row_mm, columns * column_mm
        available = self._available_rect()
        if available.width() <= 0 or available.height() <= 0:
            return QRectF()
        pixels_per_mm = min(available.width() / width_mm, available.height() / height_mm)
        width, height = width_mm * pixels_per_mm, height_mm * pixels_per_mm
        return QRectF(
            available.center().x() - width / 2, available.center().y() - height / 2, width, height
        )

    def _available_rect(self) -> QRectF:
        """Return the part of the widget the image may fill (below the title, inside margins)."""
        return QRectF(self.rect()).adjusted(
            _MARGIN_PX, _MARGIN_PX + _TITLE_HEIGHT_PX, -_MARGIN_PX, -_MARGIN_PX
        )

    def _plane_shape(self) -> tuple[int, int]:
        if self._state is None:
            return 1, 1
        return plane_shape(self._state.shape_zyx, self.plane)

    def widget_to_display(self, point: QPointF) -> tuple[float, float] | None:
        """Map a widget position to a continuous display ``(row, column)``; None without image."""
        rect = self.image_rect()
        if rect.isEmpty():
            return None
        rows, columns = self._plane_shape()
        column = (point.x() - rect.left()) / rect.width() * columns - 0.5
        row = (point.y() - rect.top()) / rect.height() * rows - 0.5
        return row, column

    def display_to_widget(self, row: float, column: float) -> QPointF:
        """Map a display ``(row, column)`` (pixel centres at whole numbers) to the widget."""
        rect = self.image_rect()
        rows, columns = self._plane_shape()
        return QPointF(
            rect.left() + (column + 0.5) * rect.width() / columns,
            rect.top() + (row + 0.5) * rect.height() / rows,
        )

    def index_to_widget(self, index_zyx: tuple[float, float, float]) -> QPointF:
        """Return where the voxel index ``(z, y, x)`` appears in this view (its slice aside)."""
        row, column = index_to_display(self.plane, index_zyx, self._plane_shape_zyx())
        return self.display_to_widget(row, column)

    def _plane_shape_zyx(self) -> tuple[int, int, int]:
        return self._state.shape_zyx if self._state is not None else (1, 1, 1)

    def widget_to_index(self, point: QPointF) -> tuple[float, float, float] | None:
        """Return the continuous index ``(z, y, x)`` under a widget position, or None."""
        display = self.widget_to_display(point)
        if display is None or self._state is None:
            return None
        return self._state.display_to_index(self.plane, *display)

    # -- painting ---------------------------------------------------------------------------

    def _slice_image(self, state: ViewState) -> QImage:
        key = (state.slice_index(self.plane), state.window)
        if self._image is None or self._image_key != key:
            plane_image = state.plane_image(self.plane)
            grey = apply_window(plane_image.pixels, state.window)
            rows, columns = grey.shape
            self._image = QImage(
                grey.data, columns, rows, grey.strides[0], QImage.Format.Format_Grayscale8
            ).copy()
            self._image_key = key
        return self._image

    def _overlay_image(self, state: ViewState) -> QImage | None:
        """Return the current slice's label overlay (cached until the slice or labels change)."""
        slice_index = state.slice_index(self.plane)
        if self._overlay_slice != slice_index:
            rgba = state.overlay_rgba(self.plane)
            if rgba is None:
                self._overlay = None
            else:
                rows, columns, _ = rgba.shape
                self._overlay = QImage(
                    rgba.data, columns, rows, rgba.strides[0], QImage.Format.Format_RGBA8888
                ).copy()
            self._overlay_slice = slice_index
        return self._overlay

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint the slice, the label overlay, crosshair, letters and title."""
        painter = QPainter(self)
        try:
            painter.fillRect(self.rect(), QColor("#000000"))
            self._paint_frame(painter)
            state = self._state
            rect = self.image_rect()
            if state is None or rect.isEmpty():
                return
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawImage(rect, self._slice_image(state))
            overlay = self._overlay_image(state)
            if overlay is not None:  # labels stay crisp: no smoothing between voxels
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
                painter.drawImage(rect, overlay)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            self._paint_channel(painter, state, rect)
            self._paint_crosshair(painter, state, rect)
            self._paint_brush(painter, state, rect)
            self._paint_letters(painter, rect)
            self._paint_title(painter, state)
        finally:
            painter.end()

    def _paint_channel(self, painter: QPainter, state: ViewState, rect: QRectF) -> None:
        handle_index = self.channel_handle_index()
        if self._channel is None or handle_index is None:
            return
        tip, _, diameter_mm, clear = self._channel
        tip_index = state.volume.grid.lps_to_index(tip)
        start = self.index_to_widget((tip_index[0], tip_index[1], tip_index[2]))
        handle = self.index_to_widget(handle_index)
        rows, columns = self._plane_shape()
        row_mm, column_mm = plane_spacing_mm(state.volume.grid.spacing_xyz_mm, self.plane)
        pixels_per_mm = min(rect.height() / rows / row_mm, rect.width() / columns / column_mm)
        colour = QColor(_CHANNEL_CLEAR if clear else _CHANNEL_TOUCHING)
        colour.setAlpha(110)
        band = QPen(colour, max(2.0, diameter_mm * pixels_per_mm))
        band.setCapStyle(Qt.PenCapStyle.FlatCap)
        painter.setPen(band)
        painter.drawLine(start, handle)
        colour.setAlpha(255)
        painter.setPen(QPen(colour, 1.5))
        painter.drawLine(start, handle)
        painter.setBrush(QColor(255, 255, 255))
        painter.drawEllipse(start, 3.0, 3.0)
        painter.setBrush(QColor(255, 255, 255, 140 if self._channel_drag else 50))
        painter.setPen(QPen(QColor(255, 255, 255), 2.0))
        painter.drawEllipse(handle, 8.0, 8.0)
        painter.setBrush(Qt.BrushStyle.NoBrush)

    def _paint_brush(self, painter: QPainter, state: ViewState, rect: QRectF) -> None:
        if self._brush_radius_mm is None or self._mouse is None:
            return
        rows, columns = self._plane_shape()
        row_mm, column_mm = plane_spacing_mm(state.volume.grid.spacing_xyz_mm, self.plane)
        radius_x = self._brush_radius_mm * rect.width() / columns / column_mm
        radius_y = self._brush_radius_mm * rect.height() / rows / row_mm
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(QColor(255, 255, 255, 200), 1.0))
        painter.drawEllipse(self._mouse, radius_x, radius_y)

    def _paint_frame(self, painter: QPainter) -> None:
        colour = QColor(PLANE_COLOURS[self.plane])
        if not self.hasFocus():
            colour.setAlpha(90)
        painter.fillRect(QRectF(0, 0, self.width(), 3), colour)
        if self.hasFocus():
            pen = QPen(colour, 1)
            painter.setPen(pen)
            painter.drawRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1))

    def _paint_crosshair(self, painter: QPainter, state: ViewState, rect: QRectF) -> None:
        row, column = state.cursor_display(self.plane)
        centre = self.display_to_widget(row, column)
        vertical_plane, horizontal_plane = _CROSSHAIR_PLANES[self.plane]
        gap = _CROSSHAIR_GAP_PX
        pen = QPen(QColor(PLANE_COLOURS[vertical_plane]), 1)
        painter.setPen(pen)
        painter.drawLine(QPointF(centre.x(), rect.top()), QPointF(centre.x(), centre.y() - gap))
        painter.drawLine(QPointF(centre.x(), centre.y() + gap), QPointF(centre.x(), rect.bottom()))
        pen = QPen(QColor(PLANE_COLOURS[horizontal_plane]), 1)
        painter.setPen(pen)
        painter.drawLine(QPointF(rect.left(), centre.y()), QPointF(centre.x() - gap, centre.y()))
        painter.drawLine(QPointF(centre.x() + gap, centre.y()), QPointF(rect.right(), centre.y()))

    def _paint_letters(self, painter: QPainter, rect: QRectF) -> None:
        letters = EDGE_LETTERS[self.plane]
        font = QFont(self.font())
        font.setBold(True)
        font.setPointSizeF(max(9.0, font.pointSizeF() * 1.1))
        painter.setFont(font)
        size = float(painter.fontMetrics().height())
        pad = 4.0
        area = self._available_rect()
        # Each letter sits just outside its edge of the image where the view has room for it
        # (a narrow slab, a wide view), else just inside the edge.
        centre = rect.center()
        room = size + pad
        outside_top = rect.top() - area.top() >= room
        outside_bottom = area.bottom() - rect.bottom() >= room
        outside_left = rect.left() - area.left() >= room
        outside_right = area.right() - rect.right() >= room
        top = rect.top() - room if outside_top else rect.top() + pad
        bottom = rect.bottom() + pad if outside_bottom else rect.bottom() - room
        left = rect.left() - room if outside_left else rect.left() + pad
        right = rect.right() + pad if outside_right else rect.right() - room
        boxes = {
            letters.top: QRectF(centre.x() - size, top, 2 * size, size),
            letters.bottom: QRectF(centre.x() - size, bottom, 2 * size, size),
            letters.left: QRectF(left, centre.y() - size / 2, size, size),
            letters.right: QRectF(right, centre.y() - size / 2, size, size),
        }
        for letter, box in boxes.items():
            _draw_text_with_shadow(
                painter, box, Qt.AlignmentFlag.AlignCenter, letter, QColor("#f0f0f0")
            )

    def _paint_title(self, painter: QPainter, state: ViewState) -> None:
        negative, positive, lps_axis = _POSITION_LETTERS[self.plane]
        position_mm = float(state.cursor_lps_mm()[lps_axis])
        letter = positive if position_mm >= 0 else negative
        index = state.slice_index(self.plane)
        count = state.slice_count(self.plane)
        title = f"{self.plane.capitalize()}   {letter} {abs(position_mm):.1f} mm   "
        title += f"slice {index + 1}/{count}"
        font = QFont(self.font())
        painter.setFont(font)
        box = QRectF(_MARGIN_PX + 2, 4, self.width() - 2 * _MARGIN_PX, _TITLE_HEIGHT_PX - 4)
        _draw_text_with_shadow(
            painter,
            box,
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            title,
            QColor(PLANE_COLOURS[self.plane]),
        )

    # -- input --------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Left: move the cursor here; right: start a window/level drag."""
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if self._state is None:
            return
        if event.button() == Qt.MouseButton.LeftButton and self._brush_radius_mm is not None:
            index = self.widget_to_index(event.position())
            if index is not None and self._state.contains(index):
                self._brushing = True
                self.brush_pressed.emit(index)
            event.accept()
            return
        handle = self.channel_handle_position()
        if event.button() == Qt.MouseButton.LeftButton and handle is not None:
            delta = handle - event.position()
            if np.hypot(delta.x(), delta.y()) <= GRAB_RADIUS_PX:
                self._channel_drag = True
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
                event.accept()
                return
        if event.button() == Qt.MouseButton.LeftButton:
            self._cursor_drag = True
            self._move_cursor_to(event.position())
        elif event.button() == Qt.MouseButton.RightButton:
            self._drag_start = event.position()
            self._drag_start_window = self._state.window
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Report what is under the mouse; follow a cursor or window/level drag."""
        if self._state is None:
            return
        if self._brush_radius_mm is not None:
            self._mouse = event.position()
            self.update()
        if self._brushing:
            index = self.widget_to_index(event.position())
            if index is not None and self._state.contains(index):
                self.brush_moved.emit(index)
        elif self._channel_drag:
            index = self.widget_to_index(event.position())
            if index is not None:
                point = self._state.volume.grid.index_to_lps(index)
                self.channel_dragged.emit((self.plane, point))
        elif self._cursor_drag:
            self._move_cursor_to(event.position())
        elif self._drag_start is not None:
            self._apply_window_drag(event.position())
        self._report_hover(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """End a drag."""
        if self._state is None:
            return
        if event.button() == Qt.MouseButton.LeftButton and self._brushing:
            self._brushing = False
            self.brush_released.emit()
        elif event.button() == Qt.MouseButton.LeftButton and self._channel_drag:
            self._channel_drag = False
            self.unsetCursor()
            self.channel_drag_finished.emit()
            self.update()
        elif event.button() == Qt.MouseButton.LeftButton:
            self._cursor_drag = False
        elif event.button() == Qt.MouseButton.RightButton and self._drag_start is not None:
            self._apply_window_drag(event.position())
            self._drag_start = None
            self._drag_start_window = None
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """Ask to maximise the view (or give the room back)."""
        self.maximise_requested.emit()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """Right button is window/level: no context menu."""

    def leaveEvent(self, event: QEvent) -> None:
        """Report that nothing is under the mouse any more."""
        self.hovered.emit(None)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """One wheel notch: one slice (up: toward S, P or L)."""
        if self._state is None:
            return
        self._wheel_remainder += event.angleDelta().y()
        steps = int(self._wheel_remainder / _WHEEL_STEP)
        if steps:
            self._wheel_remainder -= steps * _WHEEL_STEP
            self._state.step_slice(self.plane, steps)
            self._report_hover(event.position())
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Up/Page Up: next slice; Down/Page Down: previous slice."""
        if self._state is None:
            super().keyPressEvent(event)
            return
        step = {
            Qt.Key.Key_Up: 1,
            Qt.Key.Key_PageUp: 1,
            Qt.Key.Key_Down: -1,
            Qt.Key.Key_PageDown: -1,
        }.get(Qt.Key(event.key()))
        if step is None:
            super().keyPressEvent(event)
            return
        self._state.step_slice(self.plane, step)
        event.accept()

    def _move_cursor_to(self, point: QPointF) -> None:
        index = self.widget_to_index(point)
        if index is not None and self._state is not None:
            self._state.set_cursor(index)

    def _apply_window_drag(self, point: QPointF) -> None:
        if self._state is None or self._drag_start is None or self._drag_start_window is None:
            return
        delta = point - self._drag_start
        self._state.set_window(
            self._state.dragged_window(self._drag_start_window, delta.x(), delta.y())
        )

    def _report_hover(self, point: QPointF) -> None:
        index = self.widget_to_index(point)
        if index is None or self._state is None or not self._state.contains(index):
            self.hovered.emit(None)
        else:
            self.hovered.emit((self.plane, index))

    def detach(self) -> None:
        """Stop following the model (called when the window closes)."""
        self.set_state(None)


def _draw_text_with_shadow(
    painter: QPainter, box: QRectF, flags: Qt.AlignmentFlag, text: str, colour: QColor
) -> None:
    painter.setPen(QColor(0, 0, 0, 200))
    painter.drawText(box.translated(1, 1), int(flags), text)
    painter.setPen(colour)
    painter.drawText(box, int(flags), text)
