"""The alpha-beta chart of one foramen's feasibility map, where the surgeon picks a pose.

Alpha (0-90 degrees, lateral to posterior) runs across, beta (-30 to 30 degrees, caudal to
cranial) up, as in the report's figure (:func:`~lumboplan_app.report.figures.map_figure`), and
with the same colour meaning: free poses green (brighter: more room), blocked ones red (darker:
deeper), poses whose path leaves the scan violet (they touch nothing seen, but cannot be judged),
poses that do not exist grey. Marks show the pose being assessed, the paper's placement
and the best free trajectory. A left click or drag asks for a pose (:attr:`pose_chosen`); the
chart itself never moves its marks: whoever assesses the pose calls :meth:`set_marks`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QImage,
    QLinearGradient,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from lumboplan_app.planning.assessment import touch_limits_mm
from lumboplan_app.planning.feasibility import ALPHAS_DEG, BETAS_DEG, FeasibilityMap
from lumboplan_app.planning.placement import in_sentence

#: Colours of the map (RGB 0-255): free from dim to bright green over 0 to FULL_GREEN_MM of
#: clearance, blocked from red (at the margin) to dark red at FULL_RED_MM deep, impossible grey,
#: violet where the pose touches nothing but its path leaves the scan (cannot be judged).
FREE_DIM_RGB = (40, 120, 40)
FREE_BRIGHT_RGB = (80, 240, 80)
FULL_GREEN_MM = 5.0
BLOCKED_SHALLOW_RGB = (178, 52, 46)
BLOCKED_DEEP_RGB = (84, 22, 22)
FULL_RED_MM = 5.0
IMPOSSIBLE_RGB = (72, 74, 79)
LEAVES_SCAN_RGB = (118, 98, 168)

CURRENT_COLOUR = QColor("#ffffff")
PAPER_COLOUR = QColor("#6cb4ff")
BEST_COLOUR = QColor("#ffd84a")
HALO_COLOUR = QColor(0, 0, 0, 200)

EMPTY_TEXT = "No map: plan the case"

_ALPHA_TICKS_DEG = (0, 15, 30, 45, 60, 75, 90)
_BETA_TICKS_DEG = (-30, -15, 0, 15, 30)


def map_rgb(fmap: FeasibilityMap) -> npt.NDArray[np.uint8]:
    """Return the map's colours, (beta, alpha, 3) uint8 with the highest beta in row 0.

    Parameters
    ----------
    fmap : FeasibilityMap
        Clearances over (alpha, beta) in mm; its ``free`` separates free from blocked, its
        ``leaves_scan`` the poses that cannot be judged from the blocked ones.
    """
    smallest = fmap.smallest_clearance_mm.T[::-1]  # (beta, alpha), beta up
    possible = fmap.possible.T[::-1]
    free = fmap.free.T[::-1]
    finite = np.where(np.isfinite(smallest), smallest, 0.0)
    room = np.where(np.isposinf(smallest), 1.0, np.clip(finite / FULL_GREEN_MM, 0.0, 1.0))
    depth = np.clip(-finite / FULL_RED_MM, 0.0, 1.0)
    dim, bright = np.asarray(FREE_DIM_RGB, float), np.asarray(FREE_BRIGHT_RGB, float)
    shallow, deep = np.asarray(BLOCKED_SHALLOW_RGB, float), np.asarray(BLOCKED_DEEP_RGB, float)
    green = dim + room[..., None] * (bright - dim)
    red = shallow + depth[..., None] * (deep - shallow)
    rgb = np.where(free[..., None], green, red)
    if fmap.leaves_scan is not None:
        rgb[fmap.leaves_scan.T[::-1]] = LEAVES_SCAN_RGB
    rgb[~possible] = IMPOSSIBLE_RGB
    return np.ascontiguousarray(np.round(rgb).astype(np.uint8))


def _to_qimage(rgb: npt.NDArray[np.uint8]) -> QImage:
    """Return a QImage owning a copy of ``rgb`` (H, W, 3) uint8."""
    height, width = rgb.shape[:2]
    return QImage(rgb.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class FeasibilityChart(QWidget):
    """The feasibility map of one side: alpha (degrees) across, beta (degrees) up.

    Signals
    -------
    pose_chosen(float, float)
        The surgeon clicked or dragged with the left button: the pose under the pointer
        (alpha, beta in degrees, clamped to the chart's range). Only while a map is shown.
    """

    pose_chosen = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("feasibilityChart")
        self._map: FeasibilityMap | None = None
        self._image: QImage | None = None
        self._empty_text = EMPTY_TEXT
        self._alphas_deg = np.asarray(ALPHAS_DEG, dtype=np.float64)
        self._betas_deg = np.asarray(BETAS_DEG, dtype=np.float64)
        self._current: tuple[float, float] | None = None
        self._paper: tuple[float, float] | None = None
        self._best: tuple[float, float] | None = None
        self._dragging = False
        self._last_emitted: tuple[float, float] | None = None
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumSize(240, 210)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("")  # tooltips are made per pose in event()

    # -- model ---------------------------------------------------------------------------

    @property
    def feasibility_map(self) -> FeasibilityMap | None:
        """The map shown (None: the empty chart)."""
        return self._map

    @property
    def marks(
        self,
    ) -> tuple[tuple[float, float] | None, tuple[float, float] | None, tuple[float, float] | None]:
        """The current, paper and best poses shown (alpha, beta degrees; None: not shown)."""
        return self._current, self._paper, self._best

    def set_map(self, fmap: FeasibilityMap | None, empty_text: str = EMPTY_TEXT) -> None:
        """Show ``fmap`` (its image is built here, once); None shows ``empty_text`` instead.

        Parameters
        ----------
        fmap : FeasibilityMap or None
            One side's clearances over alpha (degrees, across) and beta (degrees, up).
        empty_text : str
            What the empty chart says.
        """
        self._map = fmap
        self._empty_text = empty_text
        self._dragging = False
        if fmap is None:
            self._image = None
            self._alphas_deg = np.asarray(ALPHAS_DEG, dtype=np.float64)
            self._betas_deg = np.asarray(BETAS_DEG, dtype=np.float64)
        else:
            self._alphas_deg = np.asarray(fmap.alphas_deg, dtype=np.float64)
            self._betas_deg = np.asarray(fmap.betas_deg, dtype=np.float64)
            self._image = _to_qimage(map_rgb(fmap))
        self.update()

    def set_marks(
        self,
        current: tuple[float, float] | None,
        paper: tuple[float, float] | None = None,
        best: tuple[float, float] | None = None,
    ) -> None:
        """Mark the current pose, the paper's placement and the best free trajectory.

        Parameters
        ----------
        current, paper, best : (alpha, beta) in degrees, or None
            None leaves that mark out.
        """
        self._current = None if current is None else (float(current[0]), float(current[1]))
        self._paper = None if paper is None else (float(paper[0]), float(paper[1]))
        self._best = None if best is None else (float(best[0]), float(best[1]))
        self.update()

    # -- geometry ------------------------------------------------------------------------

    def _font_metrics(self) -> tuple[QFont, QFontMetrics]:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.92))
        return font, QFontMetrics(font)

    def _margins(self) -> tuple[float, float, float, float]:
        """Left, top, right, bottom margins (px) around the plot: ticks, titles, legend."""
        _, metrics = self._font_metrics()
        line = metrics.height()
        ticks = max(metrics.horizontalAdvance(_beta_label(beta)) for beta in _BETA_TICKS_DEG)
        left = 2 + line + 6 + ticks + 6
        right = metrics.horizontalAdvance("90") / 2 + 4
        bottom = 4 + line + 2 + line + 6 + 3 * (line + 3)
        return left, metrics.ascent() / 2 + 3, right, bottom

    def plot_rect(self) -> QRectF:
        """Return the rectangle (widget px) the map's image fills."""
        left, top, right, bottom = self._margins()
        return QRectF(
            left,
            top,
            max(10.0, self.width() - left - right),
            max(10.0, self.height() - top - bottom),
        )

    def hasHeightForWidth(self) -> bool:
        """Keep the cells about square: the height follows the width."""
        return True

    def heightForWidth(self, width: int) -> int:
        """Return the height (px) whose plot has about square 1-degree cells at ``width``."""
        left, top, right, bottom = self._margins()
        plot_width = max(10.0, width - left - right)
        ratio = len(self._betas_deg) / max(1, len(self._alphas_deg))
        return max(self.minimumHeight(), round(top + bottom + plot_width * ratio))

    def sizeHint(self) -> QSize:
        """Return a size for a side panel about 260 px wide."""
        return QSize(270, self.heightForWidth(270))

    def minimumSizeHint(self) -> QSize:
        """Return the smallest size the ticks, titles and legend fit in."""
        return QSize(240, 225)

    def _cells(self) -> tuple[float, float, float, float]:
        """First alpha, alpha step, first beta, beta step (degrees) of the grid shown."""
        alphas, betas = self._alphas_deg, self._betas_deg
        alpha_step = float(alphas[1] - alphas[0]) if len(alphas) > 1 else 1.0
        beta_step = float(betas[1] - betas[0]) if len(betas) > 1 else 1.0
        return float(alphas[0]), alpha_step, float(betas[0]), beta_step

    def point_for_pose(self, alpha_deg: float, beta_deg: float) -> QPointF:
        """Return the widget point (px) at the centre of pose (``alpha_deg``, ``beta_deg``).

        Each grid pose is a cell of the image; a pose between grid poses lies between their
        centres.
        """
        rect = self.plot_rect()
        alpha0, alpha_step, beta0, beta_step = self._cells()
        column = (alpha_deg - alpha0) / alpha_step + 0.5
        row_from_bottom = (beta_deg - beta0) / beta_step + 0.5
        x = rect.left() + column / len(self._alphas_deg) * rect.width()
        y = rect.bottom() - row_from_bottom / len(self._betas_deg) * rect.height()
        return QPointF(x, y)

    def _pose_unclamped(self, point: QPointF) -> tuple[float, float]:
        rect = self.plot_rect()
        alpha0, alpha_step, beta0, beta_step = self._cells()
        column = (point.x() - rect.left()) / rect.width() * len(self._alphas_deg)
        row_from_bottom = (rect.bottom() - point.y()) / rect.height() * len(self._betas_deg)
        return alpha0 + (column - 0.5) * alpha_step, beta0 + (row_from_bottom - 0.5) * beta_step

    def _clamp(self, pose: tuple[float, float]) -> tuple[float, float]:
        alphas, betas = self._alphas_deg, self._betas_deg
        return (
            float(np.clip(pose[0], alphas[0], alphas[-1])),
            float(np.clip(pose[1], betas[0], betas[-1])),
        )

    def pose_at(self, point: QPointF) -> tuple[float, float] | None:
        """Return the pose (alpha, beta degrees) under a widget point; None outside the plot.

        Within the plot the pose is clamped to the map's range (the outer half cells).
        """
        if not self.plot_rect().contains(point):
            return None
        return self._clamp(self._pose_unclamped(point))

    def _grid_index(self, pose: tuple[float, float]) -> tuple[int, int]:
        alpha0, alpha_step, beta0, beta_step = self._cells()
        row = int(np.clip(round((pose[0] - alpha0) / alpha_step), 0, len(self._alphas_deg) - 1))
        column = int(np.clip(round((pose[1] - beta0) / beta_step), 0, len(self._betas_deg) - 1))
        return row, column

    # -- what a pose meets -------------------------------------------------------------------

    def describe_pose(self, alpha_deg: float, beta_deg: float) -> str:
        """Return the tooltip for the grid pose nearest (``alpha_deg``, ``beta_deg``).

        Its smallest clearance (mm) and the part it belongs to: "alpha 35, beta -4: 2.3 mm
        clear (nearest: ...)", or "blocked (0.4 mm into the ...)".
        """
        fmap = self._map
        if fmap is None:
            return ""
        row, column = self._grid_index((alpha_deg, beta_deg))
        head = f"alpha {fmap.alphas_deg[row]:g}, beta {fmap.betas_deg[column]:g}"
        if not fmap.possible[row, column]:
            return f"{head}: no channel has this pose (it would leave the disc plane's range)"
        if fmap.leaves_scan is not None and fmap.leaves_scan[row, column]:
            return (
                f"{head}: cannot be judged (it touches nothing in the scan, but its path "
                "leaves the scan before it leaves the body)"
            )
        if not fmap.clearance_mm:
            return f"{head}: clear (no part mapped)"
        limits = touch_limits_mm(fmap.side, fmap.margin_mm)
        values = {part: float(found[row, column]) for part, found in fmap.clearance_mm.items()}
        touched = {part: value for part, value in values.items() if value < limits[part]}
        shown = touched or values
        nearest = min(shown, key=lambda part: shown[part])
        clearance, part = shown[nearest], in_sentence(nearest)
        if not touched:
            return f"{head}: {clearance:.1f} mm clear (nearest: {part})"
        if clearance < 0:
            return f"{head}: blocked ({-clearance:.1f} mm into the {part})"
        return (
            f"{head}: blocked ({clearance:.1f} mm from the {part}, "
            f"closer than the {fmap.margin_mm:.1f} mm the scan resolves)"
        )

    # -- events ----------------------------------------------------------------------------

    def event(self, event: QEvent) -> bool:
        """Show the tooltip of the pose under the pointer."""
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            pose = self.pose_at(QPointF(event.pos()))
            text = "" if pose is None else self.describe_pose(*pose)
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)

    def _choose(self, point: QPointF) -> None:
        pose = self._clamp(self._pose_unclamped(point))
        if pose != self._last_emitted:
            self._last_emitted = pose
            self.pose_chosen.emit(*pose)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Start choosing a pose: a left press on the plot."""
        point = event.position()
        if (
            event.button() == Qt.MouseButton.LeftButton
            and self._map is not None
            and self.isEnabled()
            and self.pose_at(point) is not None
        ):
            self._dragging = True
            self._last_emitted = None
            self._choose(point)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Follow a left drag (past the plot's edges the pose stays at the range's edge)."""
        if self._dragging and event.buttons() & Qt.MouseButton.LeftButton:
            self._choose(event.position())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """End a drag."""
        if event.button() == Qt.MouseButton.LeftButton and self._dragging:
            self._dragging = False
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # -- painting --------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        """Paint the map, axes, marks and legend."""
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            font, metrics = self._font_metrics()
            painter.setFont(font)
            rect = self.plot_rect()
            text_colour = self.palette().windowText().color()
            if not self.isEnabled():
                text_colour = self.palette().color(
                    self.palette().ColorGroup.Disabled, self.palette().ColorRole.WindowText
                )
            if self._image is None:
                painter.fillRect(rect, self.palette().base())
                painter.setPen(QPen(text_colour))
                painter.drawText(
                    rect.adjusted(6, 6, -6, -6),
                    int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap),
                    self._empty_text,
                )
            else:
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
                painter.drawImage(rect, self._image)
                self._paint_reference_line(painter, rect)
            painter.setPen(QPen(text_colour.darker(130) if self._image is None else text_colour))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
            self._paint_axes(painter, rect, metrics, text_colour)
            if self._image is not None:
                self._paint_marks(painter, metrics)
                self._paint_legend(painter, rect, metrics, text_colour)
        finally:
            painter.end()

    def _paint_reference_line(self, painter: QPainter, rect: QRectF) -> None:
        """Draw a dotted line at beta = 0: the paper's plane."""
        if not self._betas_deg[0] <= 0.0 <= self._betas_deg[-1]:
            return
        y = self.point_for_pose(float(self._alphas_deg[0]), 0.0).y()
        pen = QPen(QColor(255, 255, 255, 90), 1.0, Qt.PenStyle.DotLine)
        painter.setPen(pen)
        painter.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))

    def _axis_titles(self, metrics: QFontMetrics) -> tuple[str, str]:
        if metrics.inFontUcs4(0x3B1) and metrics.inFontUcs4(0x3B2):
            return "\u03b1 alpha (deg)", "\u03b2 beta (deg)"
        return "alpha (deg)", "beta (deg)"

    def _paint_axes(
        self, painter: QPainter, rect: QRectF, metrics: QFontMetrics, colour: QColor
    ) -> None:
        painter.setPen(QPen(colour, 1.0))
        line = metrics.height()
        for alpha in _ALPHA_TICKS_DEG:
            x = self.point_for_pose(float(alpha), 0.0).x()
            painter.drawLine(QPointF(x, rect.bottom()), QPointF(x, rect.bottom() + 3))
            label = f"{alpha}"
            width = metrics.horizontalAdvance(label)
            painter.drawText(QPointF(x - width / 2, rect.bottom() + 4 + metrics.ascent()), label)
        for beta in _BETA_TICKS_DEG:
            y = self.point_for_pose(0.0, float(beta)).y()
            painter.drawLine(QPointF(rect.left() - 3, y), QPointF(rect.left(), y))
            label = _beta_label(beta)
            width = metrics.horizontalAdvance(label)
            painter.drawText(QPointF(rect.left() - 5 - width, y + metrics.ascent() / 2 - 1), label)
        alpha_title, beta_title = self._axis_titles(metrics)
        title_y = rect.bottom() + 4 + line + 2 + metrics.ascent()
        width = metrics.horizontalAdvance(alpha_title)
        painter.drawText(QPointF(rect.center().x() - width / 2, title_y), alpha_title)
        painter.save()
        painter.translate(2 + metrics.ascent(), rect.center().y())
        painter.rotate(-90)
        width = metrics.horizontalAdvance(beta_title)
        painter.drawText(QPointF(-width / 2, 0), beta_title)
        painter.restore()

    def _paint_marks(self, painter: QPainter, metrics: QFontMetrics) -> None:
        if self._paper is not None:
            centre = self.point_for_pose(*self._clamp(self._paper))
            _paper_marker(painter, centre)
            self._paint_paper_label(painter, metrics, centre)
        if self._best is not None:
            _best_marker(painter, self.point_for_pose(*self._clamp(self._best)))
        if self._current is not None:
            _current_marker(painter, self.point_for_pose(*self._clamp(self._current)))

    def _paint_paper_label(self, painter: QPainter, metrics: QFontMetrics, centre: QPointF) -> None:
        """Label the paper's mark where it hides neither the other marks nor leaves the plot."""
        label = "paper"
        width, height = metrics.horizontalAdvance(label), metrics.height()
        others = [
            QRectF(point.x() - 11, point.y() - 11, 22, 22)
            for pose in (self._best, self._current)
            if pose is not None
            for point in (self.point_for_pose(*self._clamp(pose)),)
        ]
        plot = self.plot_rect()
        candidates = [
            QRectF(centre.x() + 7, centre.y() - 6 - height, width, height),  # above right
            QRectF(centre.x() - 7 - width, centre.y() - 6 - height, width, height),
            QRectF(centre.x() + 7, centre.y() + 6, width, height),  # below right
            QRectF(centre.x() - 7 - width, centre.y() + 6, width, height),
            QRectF(centre.x() - width / 2, centre.y() - 8 - height, width, height),
            QRectF(centre.x() - width / 2, centre.y() + 8, width, height),
        ]

        def cost(box: QRectF) -> int:
            return 2 * sum(box.intersects(other) for other in others) + (
                0 if plot.contains(box) else 1
            )

        box = min(candidates, key=cost)  # the first of the least hidden places
        _halo_text(painter, QPointF(box.left(), box.top() + metrics.ascent()), label, PAPER_COLOUR)

    def _paint_legend(
        self, painter: QPainter, rect: QRectF, metrics: QFontMetrics, colour: QColor
    ) -> None:
        line = metrics.height()
        swatch = metrics.ascent() - 1
        first = rect.bottom() + 4 + line + 2 + line + 6
        second = first + line + 3
        third = second + line + 3
        painter.setPen(QPen(colour))

        def entry(x: float, y: float, text: str) -> float:
            painter.setPen(QPen(colour))
            painter.drawText(QPointF(x, y + metrics.ascent()), text)
            return x + metrics.horizontalAdvance(text) + 10

        x = rect.left()
        gradient = QLinearGradient(x, 0, x + 2 * swatch, 0)
        gradient.setColorAt(0.0, QColor(*FREE_DIM_RGB))
        gradient.setColorAt(1.0, QColor(*FREE_BRIGHT_RGB))
        box = QRectF(x, first + (line - swatch) / 2, 2 * swatch, swatch)
        painter.fillRect(box, QBrush(gradient))
        x = entry(x + 2 * swatch + 4, first, "free")
        gradient = QLinearGradient(x, 0, x + 2 * swatch, 0)
        gradient.setColorAt(0.0, QColor(*BLOCKED_SHALLOW_RGB))
        gradient.setColorAt(1.0, QColor(*BLOCKED_DEEP_RGB))
        box = QRectF(x, first + (line - swatch) / 2, 2 * swatch, swatch)
        painter.fillRect(box, QBrush(gradient))
        x = entry(x + 2 * swatch + 4, first, "blocked")
        box = QRectF(x, first + (line - swatch) / 2, swatch, swatch)
        painter.fillRect(box, QColor(*IMPOSSIBLE_RGB))
        entry(x + swatch + 4, first, "no pose")
        x = rect.left()
        box = QRectF(x, second + (line - swatch) / 2, 2 * swatch, swatch)
        painter.fillRect(box, QColor(*LEAVES_SCAN_RGB))
        entry(x + 2 * swatch + 4, second, "path leaves the scan")

        middle = third + line / 2
        x = rect.left() + 6
        _current_marker(painter, QPointF(x, middle), radius=5.0)
        x = entry(x + 13, third, "now")
        _paper_marker(painter, QPointF(x + 4, middle), half=4.0)
        x = entry(x + 12, third, "paper")
        _best_marker(painter, QPointF(x + 5, middle), half=5.5)
        entry(x + 14, third, "best free")


def _beta_label(beta: int) -> str:
    """Return a beta tick's label: signed, "0" at the paper's plane."""
    return f"{beta:+d}" if beta else "0"


def _current_marker(painter: QPainter, centre: QPointF, radius: float = 7.0) -> None:
    """Draw the current pose: a white ring with a cross, on a dark halo."""
    painter.save()
    painter.setBrush(Qt.BrushStyle.NoBrush)
    for pen in (QPen(HALO_COLOUR, 4.0), QPen(CURRENT_COLOUR, 1.8)):
        painter.setPen(pen)
        painter.drawEllipse(centre, radius, radius)
        reach = radius + 3
        painter.drawLine(centre - QPointF(reach, 0), centre - QPointF(radius - 3, 0))
        painter.drawLine(centre + QPointF(radius - 3, 0), centre + QPointF(reach, 0))
        painter.drawLine(centre - QPointF(0, reach), centre - QPointF(0, radius - 3))
        painter.drawLine(centre + QPointF(0, radius - 3), centre + QPointF(0, reach))
    painter.restore()


def _paper_marker(painter: QPainter, centre: QPointF, half: float = 4.5) -> None:
    """Draw the paper's placement: a blue square."""
    painter.save()
    painter.setPen(QPen(HALO_COLOUR, 1.5))
    painter.setBrush(PAPER_COLOUR)
    painter.drawRect(QRectF(centre.x() - half, centre.y() - half, 2 * half, 2 * half))
    painter.restore()


def _best_marker(painter: QPainter, centre: QPointF, half: float = 6.5) -> None:
    """Draw the best free trajectory: a yellow diamond."""
    painter.save()
    painter.setPen(QPen(HALO_COLOUR, 1.5))
    painter.setBrush(BEST_COLOUR)
    painter.drawPolygon(
        QPolygonF(
            [
                centre + QPointF(0, -half),
                centre + QPointF(half, 0),
                centre + QPointF(0, half),
                centre + QPointF(-half, 0),
            ]
        )
    )
    painter.restore()


def _halo_text(painter: QPainter, baseline: QPointF, text: str, colour: QColor) -> None:
    """Draw ``text`` legible on any map colour: a dark outline under the coloured letters."""
    painter.save()
    painter.setPen(HALO_COLOUR)
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)):
        painter.drawText(baseline + QPointF(dx, dy), text)
    painter.setPen(colour)
    painter.drawText(baseline, text)
    painter.restore()
