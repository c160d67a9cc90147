"""One renderer for a batch of samples in a plot: an image grid (nearest-neighbour, the samples are tiny) for
images, a scatter over the training data in faint grey for 2-D points.

The Trajectory dock's x_t / x0_hat / forward panels and the Race dock's lanes each hold one :class:`SamplePanel`.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

from ddpm_studio.core.io.export import image_grid
from ddpm_studio.gui.style import REFERENCE_COLOR, class_brushes, pin_axes

POINT_SIZE = 3


class SamplePanel:
    """One titled view: an image grid for images, a scatter over the reference data for points."""

    def __init__(self, plot: pg.PlotItem, color: tuple[int, int, int]) -> None:
        self.plot = plot
        self.image = pg.ImageItem(axisOrder="row-major")
        self.reference = pg.ScatterPlotItem(size=POINT_SIZE, pen=None, brush=pg.mkBrush(REFERENCE_COLOR))
        self._brush = pg.mkBrush(*color, 170)
        self.points = pg.ScatterPlotItem(size=POINT_SIZE, pen=None, brush=self._brush)
        for item in (self.image, self.reference, self.points):
            plot.addItem(item)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        pin_axes(plot)
        self.kind: str | None = None
        self.axes_allowed = True  # small panels (the race) hide their axes to leave the room to the data
        self._axes_shown = True
        self._reference_shown: np.ndarray | None = None

    def _show_axes(self, show: bool) -> None:
        show = show and self.axes_allowed
        if show != self._axes_shown:
            self._axes_shown = show
            for axis in ("left", "bottom"):
                self.plot.showAxis(axis, show)

    def set_kind(self, kind: str) -> None:
        if kind == self.kind:
            return
        self.kind = kind
        images = kind == "images"
        self.image.setVisible(images)
        self.reference.setVisible(not images)
        self.points.setVisible(not images)
        self._show_axes(not images)
        self.plot.setAspectLocked(True)
        self.plot.invertY(images)
        if images:  # grids follow the panel's size; points keep the data's box (set_reference)
            self.plot.getViewBox().setDefaultPadding(0.01)
            self.plot.enableAutoRange()

    def set_title(self, html: str, size: str) -> None:
        """The panel's title, its row as tall as the text: pyqtgraph fixes a title's row at 30 pixels, so a title
        of several lines (``<br>``) would run on over the view below it and hide its top."""
        self.plot.setTitle(html, size=size)
        height = math.ceil(self.plot.titleLabel.item.boundingRect().height())
        self.plot.titleLabel.setMaximumHeight(height)
        self.plot.layout.setRowFixedHeight(0, height)

    def show_images(self, batch: np.ndarray, columns: int | None = None) -> None:
        grid = image_grid(batch, ncols=columns, padding=1)
        self.image.setImage(grid[:, :, 0] if grid.shape[2] == 1 else grid, levels=(0, 255), autoLevels=False)

    def show_points(self, points: np.ndarray, labels: np.ndarray | None = None) -> None:
        """Points (N, 2); with ``labels`` (N,) each coloured by the class it was asked for."""
        keep = np.isfinite(points).all(axis=1)
        if labels is not None and len(labels) == len(points):
            self.points.setData(pos=points[keep], brush=class_brushes(labels[keep]))
        else:
            self.points.setData(pos=points[keep], brush=self._brush)
        self._show_axes(True)

    def set_reference(self, reference: np.ndarray | None,
                      bounds: tuple[float, float, float, float]) -> None:
        # the same points again (a new fit, a new run on the same data) keep the scatter: setData on 2,000
        # points costs ~10 ms of GUI-thread Python, three panels at a time
        shown = self._reference_shown
        same = reference is shown or (reference is not None and shown is not None and np.array_equal(reference, shown))
        if not same:
            self.reference.setData(pos=np.zeros((0, 2)) if reference is None else reference)
            self._reference_shown = reference
        self.plot.setRange(xRange=bounds[:2], yRange=bounds[2:], padding=0.0)
        self._show_axes(self.kind == "points" and reference is not None)

    def clear(self) -> None:
        self.image.clear()
        self.points.setData(pos=np.zeros((0, 2)))
