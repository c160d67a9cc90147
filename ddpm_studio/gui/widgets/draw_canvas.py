"""A square pyqtgraph canvas to draw 2-D points on: it reports where the left button presses and drags (in the
canvas's data units) and shows the points it is given and the brush's outline under the cursor.

It draws nothing by itself: the drawing dialog decides what a press means (a dab, or erasing) and hands back the
points, which are redrawn at most ~30 times a second (:class:`~ddpm_studio.gui.widgets.redraw.RedrawThrottle`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QGraphicsEllipseItem, QWidget

from ddpm_studio.core.data.drawn import CANVAS_EXTENT
from ddpm_studio.gui.style import SAMPLE_COLOR, pin_axes
from ddpm_studio.gui.widgets.axes import TidyAxisItem
from ddpm_studio.gui.widgets.redraw import RedrawThrottle


class DrawCanvas(pg.PlotWidget):
    """The drawing surface (objectName ``drawCanvas``).

    Signals:
        stroked(x, y, first): the left button is down at (x, y); ``first`` is True on the press, False while
            dragging. Positions off the canvas are not reported.
        strokeEnded(): the left button was released.
    """

    stroked = Signal(float, float, bool)
    strokeEnded = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, axisItems={side: TidyAxisItem(side) for side in ("left", "bottom")})
        self.setObjectName("drawCanvas")
        plot = self.getPlotItem()
        pin_axes(plot)
        plot.setMouseEnabled(False, False)  # a drag draws; it must not pan the view
        plot.hideButtons()
        plot.setMenuEnabled(False)
        plot.setRange(xRange=(-CANVAS_EXTENT, CANVAS_EXTENT), yRange=(-CANVAS_EXTENT, CANVAS_EXTENT), padding=0.02)
        plot.setAspectLocked(True)
        plot.showGrid(x=True, y=True, alpha=0.15)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setMouseTracking(True)
        self._scatter = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(*SAMPLE_COLOR, 170))
        plot.addItem(self._scatter)
        self._brush = QGraphicsEllipseItem()
        self._brush.setPen(pg.mkPen((120, 120, 120), width=1, style=Qt.PenStyle.DashLine, cosmetic=True))
        self._brush.setVisible(False)
        plot.addItem(self._brush, ignoreBounds=True)
        self._radius = 0.3
        self._points = np.empty((0, 2))
        self._redraw = RedrawThrottle(self._draw_points, self)
        self._pressed = False

    # ------------------------------------------------------------------ what it shows
    def set_points(self, points: np.ndarray) -> None:
        self._points = points
        self._redraw.request()

    def flush(self) -> None:
        self._redraw.flush()

    def set_brush_radius(self, radius: float) -> None:
        self._radius = radius
        centre = self._brush.rect().center()
        self._place_brush(centre)

    @property
    def shown_count(self) -> int:
        """Points the scatter draws now (after the last redraw)."""
        return len(self._scatter.data)

    def _draw_points(self) -> None:
        self._scatter.setData(pos=self._points)

    def _place_brush(self, centre: QPointF) -> None:
        r = self._radius
        self._brush.setRect(centre.x() - r, centre.y() - r, 2 * r, 2 * r)

    # ------------------------------------------------------------------ mouse
    def data_position(self, widget_pos: QPointF) -> QPointF | None:
        """The canvas's data coordinates of a point of this widget; None off the canvas."""
        scene = self.mapToScene(widget_pos.toPoint())
        box = self.getPlotItem().getViewBox()
        if not box.sceneBoundingRect().contains(scene):
            return None
        point = box.mapSceneToView(scene)
        if abs(point.x()) > CANVAS_EXTENT or abs(point.y()) > CANVAS_EXTENT:
            return None
        return point

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        self._pressed = True
        self._report(event, first=True)
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        point = self.data_position(event.position())
        self._brush.setVisible(point is not None)
        if point is not None:
            self._place_brush(point)
        if self._pressed and event.buttons() & Qt.MouseButton.LeftButton:
            self._report(event, first=False)
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt's name)
        if event.button() == Qt.MouseButton.LeftButton and self._pressed:
            self._pressed = False
            self.strokeEnded.emit()
        event.accept()

    def leaveEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self._brush.setVisible(False)
        super().leaveEvent(event)

    def _report(self, event: QMouseEvent, first: bool) -> None:
        point = self.data_position(event.position())
        if point is not None:
            self.stroked.emit(point.x(), point.y(), first)
