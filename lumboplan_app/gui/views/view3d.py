"""The 3-D pane: the case as :class:`~lumboplan_app.reconstruction.scene.PlanScene` draws it.

Mouse: left drag on the channel's handle (the white sphere at its outer end) moves the channel,
which pivots about point b; left drag elsewhere orbits the camera; the wheel zooms; a double
click maximises the pane. The header's buttons set the camera presets; the lateral ones look
from the side being moved, also after switching sides.

Two ways to draw, chosen when the scene is first shown (:func:`native_pane_possible`):
- native: pyvistaqt's ``QtInteractor``, a real OpenGL widget that the graphics card draws;
  VTK's own trackball orbits and zooms. The handle is grabbed through an event filter on the
  widget, before VTK sees the press.
- image: the scene renders off-screen and the pane paints the frame, and orbits and zooms the
  camera itself: on Qt platforms without OpenGL widgets (the tests' ``offscreen``), where the
  CPU draws OpenGL (there it is the faster), or where ``LUMBOPLAN_3D_PANE=image``.
Rendering is coalesced: a drag asks for a frame and the frame is drawn when the event loop is
free, so the measurements follow the mouse even where a frame takes longer than a mouse move
(software OpenGL). Where this machine's OpenGL cannot draw the pane (Remote Desktop, old
drivers: :func:`~lumboplan_app.reconstruction.opengl.opengl_check`), the pane shows why and
what to do instead, and nothing in it is ever rendered.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QResizeEvent,
    QSurfaceFormat,
    QWheelEvent,
)
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QToolButton, QVBoxLayout, QWidget

from lumboplan_app.labels import Side, Structure
from lumboplan_app.reconstruction.opengl import OpenGLSupport, opengl_check
from lumboplan_app.viewing import CAMERA_PRESETS, SIDED_CAMERA_PRESETS

if TYPE_CHECKING:
    from lumboplan_app.reconstruction.scene import PlanScene

#: How near (pixels) to the handle's centre a press grabs the channel, at the least (a larger
#: handle on screen, zoomed in, is grabbed anywhere on it).
GRAB_RADIUS_PX = 14.0
#: How often (ms) the pane looks whether the OpenGL test has answered, until it has.
_OPENGL_POLL_MS = 250
#: Degrees of orbit per pixel of mouse travel.
_ORBIT_DEG_PER_PX = 0.4
#: Qt platforms whose windows can hold an OpenGL widget.
_NATIVE_PLATFORMS = frozenset({"xcb", "wayland", "wayland-egl", "windows", "cocoa"})
#: Environment variable that chooses the pane: "image" (e.g. where a driver misdraws the native
#: one) or "native" (also on a software renderer).
PANE_ENVIRONMENT = "LUMBOPLAN_3D_PANE"


def install_opengl_format() -> None:
    """Make Qt's default OpenGL surface the one VTK draws in (desktop OpenGL 3.2, core profile).

    Called before the window exists: pyvistaqt sets it again when the native pane is created,
    but on Wayland a widget whose context differs from its window's composites black, and on
    macOS the window's context is made once. The values are pyvistaqt's (``rwi._default_format``,
    private there), without importing VTK at the window's start. Windows without an OpenGL
    widget (the image pane) are not affected.
    """
    surface = QSurfaceFormat()
    surface.setRenderableType(QSurfaceFormat.RenderableType.OpenGL)
    surface.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    surface.setVersion(3, 2)
    surface.setSwapBehavior(QSurfaceFormat.SwapBehavior.DoubleBuffer)
    for set_size in (
        surface.setRedBufferSize,
        surface.setGreenBufferSize,
        surface.setBlueBufferSize,
        surface.setDepthBufferSize,
        surface.setAlphaBufferSize,
    ):
        set_size(8)
    surface.setStencilBufferSize(0)
    surface.setSamples(0)
    QSurfaceFormat.setDefaultFormat(surface)


def native_pane_possible(support: OpenGLSupport) -> bool:
    """Whether the pane should be a native OpenGL widget here.

    Where Qt's platform has real windows and a graphics card draws (``support``, the OpenGL
    test's answer; an unknown renderer counts as one). Where the CPU draws (Mesa's llvmpipe:
    virtual machines, Xvfb), a frame takes 80-90 ms either way, and VTK's trackball draws at
    every mouse move where the image pane draws once the moves pause: the image pane follows
    the hand better (docs/architecture.md, "The native 3-D pane").
    ``LUMBOPLAN_3D_PANE`` = ``image`` or ``native`` overrides the choice.
    """
    choice = os.environ.get(PANE_ENVIRONMENT, "").strip().lower()
    if choice == "image" or QGuiApplication.platformName() not in _NATIVE_PLATFORMS:
        return False
    return choice == "native" or not support.software


class SceneView(QWidget):
    """The rendered scene, with the mouse handling of the pane.

    Signals
    -------
    outer_end_dragged(object)
        The channel's handle was dragged to this point (LPS mm, ndarray (3,)).
    drag_finished()
        The mouse let go of the handle.
    maximise_requested()
        The view was double-clicked.
    """

    outer_end_dragged = Signal(object)
    drag_finished = Signal()
    maximise_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sceneView")
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(True)
        self._layout = QVBoxLayout(self)  # holds the native widget, when there is one
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._scene: PlanScene | None = None
        self._native: QWidget | None = None
        self._image: QImage | None = None
        self._handle_lps: npt.NDArray[np.float64] | None = None
        self._dragging = False
        self._orbit_from: QPointF | None = None
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self.render_now)
        #: Frames rendered (the tests see frames drawn when the event loop is free).
        self.frames_rendered = 0
        self._opengl: Future[OpenGLSupport] | None = None
        self._opengl_poll = QTimer(self)
        self._opengl_poll.setInterval(_OPENGL_POLL_MS)
        self._opengl_poll.timeout.connect(self._opengl_answered)

    def start_opengl_check(self) -> Future[OpenGLSupport]:
        """Start finding out whether OpenGL can draw the pane, in the background (once).

        Called when surfaces start being built, so that the test (a second or two) runs beside
        them; not at the window's start, which stays free of the readers the test loads.
        """
        if self._opengl is None:
            self._opengl = opengl_check()
            self._opengl_poll.start()
        return self._opengl

    @property
    def available(self) -> bool:
        """Whether OpenGL can draw the pane here (waits for the test, starting it if needed)."""
        return self.start_opengl_check().result().supported

    @property
    def unavailable_message(self) -> str:
        """What the pane says where it cannot draw; "" where it can or it is not known yet."""
        if self._opengl is None or not self._opengl.done() or self._opengl.result().supported:
            return ""
        return self._opengl.result().message()

    def _opengl_answered(self) -> None:
        if self._opengl is not None and self._opengl.done():
            self._opengl_poll.stop()
            self.update()

    @property
    def scene(self) -> PlanScene:
        """The scene (created on first use: the render window costs about a second).

        Only where :attr:`available`: callers ask that first.
        """
        if self._scene is None:
            from lumboplan_app.reconstruction.scene import PlanScene  # VTK: only when shown

            if native_pane_possible(self.start_opengl_check().result()):
                from pyvistaqt import QtInteractor

                interactor = QtInteractor(self, auto_update=False)
                interactor.setObjectName("sceneNative")
                interactor.setMouseTracking(True)
                # No keyboard focus: VTK's and pyvista's key bindings (w: wireframe, r: reset,
                # 3: stereo, Up/Down: zoom) must not take the keys the window uses.
                interactor.setFocusPolicy(Qt.FocusPolicy.NoFocus)
                interactor.installEventFilter(self)
                self._layout.addWidget(interactor)
                self._native = interactor
                self._scene = PlanScene(plotter=interactor)
            else:
                size = self.size()
                self._scene = PlanScene((max(size.width(), 160), max(size.height(), 120)))
            self._scene.set_handle(self._handle_lps, self._dragging)
        return self._scene

    @property
    def has_scene(self) -> bool:
        """Whether the scene exists (something was shown)."""
        return self._scene is not None

    @property
    def dragging(self) -> bool:
        """Whether the channel's handle is held."""
        return self._dragging

    @property
    def native(self) -> QWidget | None:
        """The native OpenGL widget that draws the scene, or None (the image pane, or no scene)."""
        return self._native

    def set_handle(self, point_lps_mm: npt.ArrayLike | None) -> None:
        """Put the grab handle on this point (the moved channel's outer end; None: no handle)."""
        self._handle_lps = None if point_lps_mm is None else np.asarray(point_lps_mm, float)
        if self._scene is not None:
            self._scene.set_handle(self._handle_lps, self._dragging)

    def handle_position(self) -> QPointF | None:
        """Return where the handle is drawn (widget pixels), or None without one."""
        if self._handle_lps is None or self._scene is None:
            return None
        x, y = self._scene.to_display(self._handle_lps)
        ratio = self._pixel_ratio()
        return QPointF(x / ratio, y / ratio)

    def request_render(self) -> None:
        """Draw a new frame when the event loop is free (several requests make one frame)."""
        if self._scene is not None:
            self._render_timer.start()

    def render_now(self) -> None:
        """Render the scene into the pane now (the native widget draws it on screen)."""
        if self._scene is None:
            return
        if self._native is not None:
            self._native.update()  # its paint draws the scene: rendering here too drew it twice
        else:
            pixels = np.ascontiguousarray(self._scene.render())
            height, width, _ = pixels.shape
            self._image = QImage(
                pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888
            ).copy()
        self.frames_rendered += 1
        self.update()

    def close_scene(self) -> None:
        """Release the render window (the pane is closing)."""
        self._render_timer.stop()
        if self._native is not None:
            self._native.removeEventFilter(self)
        if self._scene is not None:
            self._scene.close()  # the native widget, if any, closes with its plotter
            self._scene = None
        if self._native is not None:
            self._native.deleteLater()
            self._native = None

    def _pixel_ratio(self) -> float:
        """Scene pixels per widget pixel: the native widget draws at the screen's resolution."""
        return float(self._native.devicePixelRatioF()) if self._native is not None else 1.0

    # -- the handle, shared by both ways of drawing ---------------------------------------------

    def _on_handle(self, position: QPointF) -> bool:
        """Whether ``position`` (widget pixels) is on the handle as drawn (or near its centre)."""
        handle = self.handle_position()
        if handle is None or self._scene is None or self._handle_lps is None:
            return False
        drawn = self._scene.handle_radius_px(self._handle_lps) / self._pixel_ratio()
        return _distance(handle, position) <= max(GRAB_RADIUS_PX, drawn)

    def _grab(self, position: QPointF) -> bool:
        """Grab the channel if ``position`` (widget pixels) is on its handle."""
        if not self._on_handle(position):
            return False
        self._dragging = True
        self._cursor_widget().setCursor(Qt.CursorShape.ClosedHandCursor)
        self.set_handle(self._handle_lps)
        self.request_render()
        return True

    def _drag_to(self, position: QPointF) -> bool:
        """Move the grabbed handle under ``position``; False when nothing is grabbed."""
        if not self._dragging or self._handle_lps is None or self._scene is None:
            return False
        ratio = self._pixel_ratio()
        moved = self._scene.from_display(
            position.x() * ratio, position.y() * ratio, self._handle_lps
        )
        self.outer_end_dragged.emit(moved)
        return True

    def _let_go(self) -> bool:
        """Let go of the handle; False when nothing was grabbed."""
        if not self._dragging:
            return False
        self._dragging = False
        self._cursor_widget().setCursor(Qt.CursorShape.OpenHandCursor)
        self.set_handle(self._handle_lps)
        self.request_render()
        self.drag_finished.emit()
        return True

    def _hover(self, position: QPointF) -> None:
        """Show an open hand over the handle."""
        self._cursor_widget().setCursor(
            Qt.CursorShape.OpenHandCursor
            if self._on_handle(position)
            else Qt.CursorShape.ArrowCursor
        )

    def _cursor_widget(self) -> QWidget:
        return self._native if self._native is not None else self

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """On the native widget: the handle's presses, moves and releases, and double clicks.

        Other mouse events (orbit, zoom) go on to VTK's trackball; keys never reach VTK.
        """
        if watched is not self._native:
            return super().eventFilter(watched, event)
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return True
        if not isinstance(event, QMouseEvent):
            return False
        kind = event.type()
        left = event.button() == Qt.MouseButton.LeftButton
        if kind == QEvent.Type.MouseButtonDblClick:
            self.maximise_requested.emit()
            return True
        if kind == QEvent.Type.MouseButtonPress and left:
            return self._grab(event.position())
        if kind == QEvent.Type.MouseMove:
            if self._drag_to(event.position()):
                return True
            if event.buttons() == Qt.MouseButton.NoButton:
                self._hover(event.position())
            return False
        if kind == QEvent.Type.MouseButtonRelease and left:
            return self._let_go()
        return False

    # -- Qt events ------------------------------------------------------------------------------

    def sizeHint(self) -> QSize:
        """Prefer room for a useful 3-D view."""
        return QSize(480, 400)

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Render at the new size (one scene pixel per widget pixel)."""
        if self._scene is not None and self._native is None:
            self._scene.set_size((event.size().width(), event.size().height()))
            self.request_render()
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint the last frame (the image pane), or the pane's message."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(18, 20, 26))
        message = self.unavailable_message
        if self._image is None or message:
            painter.setPen(QColor(150, 156, 168))
            painter.drawText(
                QRectF(self.rect()).adjusted(16, 16, -16, -16),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                message or "3-D view\nSegment or open labels to see the structures",
            )
            return
        painter.drawImage(QPointF(0, 0), self._image)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Image pane: left on the handle grabs the channel; left elsewhere starts orbiting."""
        if event.button() != Qt.MouseButton.LeftButton or self._scene is None:
            return
        if not self._grab(event.position()):
            self._orbit_from = event.position()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Image pane: drag the channel's handle or orbit; show a hand over the handle."""
        position = event.position()
        if self._drag_to(position):
            return
        if self._orbit_from is not None and self._scene is not None:
            delta = position - self._orbit_from
            self._orbit_from = position
            self._scene.orbit(-delta.x() * _ORBIT_DEG_PER_PX, delta.y() * _ORBIT_DEG_PER_PX)
            self.request_render()
            return
        self._hover(position)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """Image pane: let go of the handle or end the orbit."""
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._let_go()
        self._orbit_from = None

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """Ask to maximise the pane (or give the room back)."""
        self.maximise_requested.emit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom: 10 % a notch."""
        if self._scene is None:
            return
        steps = event.angleDelta().y() / 120.0
        self._scene.zoom(1.1**steps)
        self.request_render()


class View3D(QWidget):
    """The 3-D pane: a header with the camera presets and the maximise toggle over the scene.

    Signals
    -------
    maximise_toggled()
        The user asked to maximise the pane or give the room back.
    """

    maximise_toggled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("view3d")
        self.view = SceneView(self)
        self.side = Side.LEFT
        header = QWidget(self)
        header.setObjectName("view3dHeader")
        row = QHBoxLayout(header)
        row.setContentsMargins(6, 2, 6, 2)
        row.setSpacing(4)
        title = QLabel("3-D", header)
        title.setObjectName("view3dTitle")
        row.addWidget(title)
        row.addStretch(1)
        self.preset_buttons: dict[str, QToolButton] = {}
        for name in CAMERA_PRESETS:
            button = QToolButton(header)
            button.setText(name.title())
            button.setToolTip(f"Look at the disc from the {name} view")
            button.setObjectName(f"camera{name.title()}Button")
            button.clicked.connect(lambda _=False, preset=name: self.set_camera(preset))
            row.addWidget(button)
            self.preset_buttons[name] = button
        self.maximise_button = QToolButton(header)
        self.maximise_button.setText("Maximise")
        self.maximise_button.setCheckable(True)
        self.maximise_button.setToolTip("Give the 3-D view the whole grid (double click)")
        self.maximise_button.clicked.connect(self.maximise_toggled)
        self.view.maximise_requested.connect(self.maximise_toggled)
        row.addWidget(self.maximise_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(header)
        layout.addWidget(self.view, 1)
        self.camera = "posterolateral"

    def show_side(self, side: Side) -> None:
        """Make ``side`` the side being moved; a sided preset then looks from that side."""
        turned, self.side = side is not self.side, side
        if turned and self.camera in SIDED_CAMERA_PRESETS:
            self.set_camera(self.camera)

    def set_camera(self, preset: str) -> None:
        """Look from a preset of :data:`CAMERA_PRESETS` (lateral from the side being moved)."""
        self.camera = preset
        if not self.view.available:
            return
        self.view.scene.camera_preset(preset, self.side)
        self.view.request_render()

    def show_structures(self, meshes: Mapping[Structure, object], reset_camera: bool) -> None:
        """Show these structures' surfaces; look from the current preset if ``reset_camera``.

        Surfaces rebuilt after an edit keep the surgeon's camera. Where OpenGL cannot draw the
        pane, nothing is shown (the pane says why).
        """
        if not self.view.available:
            self.view.update()
            return
        scene = self.view.scene
        scene.set_meshes(meshes)  # type: ignore[arg-type]  # pyvista meshes
        if reset_camera:
            scene.camera_preset(self.camera, self.side)
        self.view.request_render()


def _distance(first: QPointF, second: QPointF) -> float:
    return float(np.hypot(first.x() - second.x(), first.y() - second.y()))
