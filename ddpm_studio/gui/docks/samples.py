"""The Samples dock: the training data before any model (images), the latest preview while training, then the
final samples; under them ``trainingSlider`` scrubs through training: the run's snapshots (samples of one fixed
noise every N steps, core/training/snapshots.py), live while it trains and for a run opened from its folder.

Images are tiled into a grid (click one to select it for "Export selected sample"); 2-D points are scattered
over the training data in faint grey. A data preview says so in its caption and cannot be selected.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDockWidget, QGraphicsRectItem, QVBoxLayout, QWidget

from ddpm_studio.core.io.export import image_grid
from ddpm_studio.core.training.snapshots import Snapshot
from ddpm_studio.gui.display import tiles_shown
from ddpm_studio.gui.style import (
    MARKER_COLOR,
    REFERENCE_COLOR,
    SAMPLE_COLOR,
    SteadyLabel,
    class_brushes,
    pin_axes,
)
from ddpm_studio.gui.trajectory_store import SampleSet, scatter_bounds
from ddpm_studio.gui.widgets.redraw import RedrawThrottle
from ddpm_studio.gui.widgets.training_scrub import TrainingScrubber

GRID_PADDING = 1
POINT_SIZE = 4
#: The colour key lists at most this many classes (the colours repeat after ten anyway).
MAX_KEY_CLASSES = 10


class SamplesDock(QDockWidget):
    """``samplesView`` shows one :class:`SampleSet`; ``selectedChanged(index)`` follows clicks on a tile."""

    selectedChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Samples", parent)
        self.setObjectName("samplesDock")
        self.samples: SampleSet | None = None
        self.selected = 0
        self._pending: SampleSet | None = None
        self._kind: str | None = None
        self._tile_limit: int | None = None  # images the grid shows at most (presentation mode: fewer, larger)

        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        # up to three lines: "Final samples: ddim, 50 steps, η = 0.5, after 3,000 training steps · 1000 samples"
        # is two lines of the dock on a 1366-px screen, three in the presentation look on a 1280-px one
        self.captionLabel = SteadyLabel("No samples yet.", objectName="samplesCaption", lines=3)
        layout.addWidget(self.captionLabel)
        self.samplesView = pg.PlotWidget()
        self.samplesView.setObjectName("samplesView")
        plot = self.samplesView.getPlotItem()
        plot.setMenuEnabled(False)
        plot.setAspectLocked(True)
        pin_axes(plot)
        self._image = pg.ImageItem(axisOrder="row-major")
        self._reference = pg.ScatterPlotItem(size=POINT_SIZE - 1, pen=None, brush=pg.mkBrush(REFERENCE_COLOR))
        self._points = pg.ScatterPlotItem(size=POINT_SIZE, pen=None, brush=pg.mkBrush(*SAMPLE_COLOR, 200))
        self._highlight = QGraphicsRectItem()
        pen = pg.mkPen(MARKER_COLOR, width=2)
        pen.setCosmetic(True)
        self._highlight.setPen(pen)
        for item in (self._image, self._reference, self._points, self._highlight):
            plot.addItem(item)
        self._highlight.setVisible(False)
        # which colour is which class, for a conditional model's 2-D samples (top right: moons and rings leave it
        # emptier than the top left)
        self.classLegend = pg.LegendItem(offset=(-4, 4), labelTextSize="8pt", verSpacing=-6)
        self.classLegend.setParentItem(plot.getViewBox())
        self.classLegend.setVisible(False)
        self.samplesView.scene().sigMouseClicked.connect(self._clicked)
        layout.addWidget(self.samplesView, 1)
        self.scrubber = TrainingScrubber()
        self.trainingSlider = self.scrubber.slider
        self.scrubber.snapshotChosen.connect(self._show_snapshot)
        layout.addWidget(self.scrubber)
        self._snapshot_reference: np.ndarray | None = None  # the training points drawn behind a snapshot
        self.setWidget(body)
        self._throttle = RedrawThrottle(self._redraw, self)
        self._set_kind("images")

    def show_samples(self, samples: SampleSet) -> None:
        """Replace what is shown (drawn at the next redraw tick; only the newest batch is kept)."""
        self._pending = samples
        self._throttle.request()

    @property
    def showing_data(self) -> bool:
        """True while the dock shows (or is about to show) a training-data preview rather than samples."""
        shown = self._pending if self._pending is not None else self.samples
        return shown is not None and shown.is_data

    def clear_data(self) -> None:
        """Drop a training-data preview (samples stay)."""
        if self.showing_data:
            self.clear()

    def _show_class_key(self, samples: SampleSet) -> None:
        """The colour key of the classes the points were asked for (hidden for unlabelled points)."""
        self.classLegend.clear()
        asked = [] if samples.labels is None else sorted({int(label) for label in samples.labels})
        names = samples.class_names or ()
        for label in asked[:MAX_KEY_CLASSES]:
            marker = pg.ScatterPlotItem(size=POINT_SIZE + 3, pen=None, brush=class_brushes([label])[0])
            self.classLegend.addItem(marker, names[label] if label < len(names) else f"class {label}")
        self.classLegend.setVisible(bool(asked))

    def clear(self) -> None:
        self.samples, self._pending = None, None
        self.classLegend.clear()
        self.classLegend.setVisible(False)
        self._image.clear()
        self._points.setData(pos=np.zeros((0, 2)))
        self._reference.setData(pos=np.zeros((0, 2)))
        self._highlight.setVisible(False)
        self.captionLabel.setText("No samples yet.")

    def flush(self) -> None:
        self._throttle.flush()

    # ------------------------------------------------------------------ scrubbing through training
    def set_snapshots(self, snapshots: list[Snapshot], reference: np.ndarray | None = None) -> None:
        """The run's snapshots (a run adopted or opened); ``reference`` (M, 2): its training points, drawn
        faintly behind 2-D snapshots. The newest is shown when the dock shows nothing else yet."""
        self._snapshot_reference = reference
        showing = self._pending is not None or (self.samples is not None and not self.samples.is_data)
        self.scrubber.set_snapshots(snapshots, emit=not showing)

    @property
    def snapshot_reference(self) -> np.ndarray | None:
        """The training points drawn faintly behind 2-D snapshots, (M, 2), or None."""
        return self._snapshot_reference

    def add_snapshot(self, snapshot: Snapshot, dropped: tuple[int, ...] = ()) -> None:
        """A snapshot taken while training: the slider's range grows; at its right end the view follows it."""
        self.scrubber.add(snapshot, dropped)

    def clear_snapshots(self) -> None:
        self.scrubber.clear()
        self._snapshot_reference = None

    def _show_snapshot(self, snapshot: Snapshot) -> None:
        total = max(snapshot.total_steps, snapshot.step)
        reference = self._snapshot_reference if snapshot.kind == "points" else None
        shown = snapshot.samples
        if self.scrubber.showing_x0:
            shown = snapshot.x0_hat
            caption = (f"Training snapshot at step {snapshot.step:,} of {total:,}: x̂₀ at evaluation "
                       f"{snapshot.num_steps // 2 + 1} of {snapshot.num_steps} (ᾱ = {snapshot.x0_abar:.2f}), "
                       "the same noisy state every time")
        else:
            caption = (f"Training snapshot at step {snapshot.step:,} of {total:,}: the same noise every time, "
                       f"{snapshot.num_steps} steps")
        self.show_samples(SampleSet(snapshot.kind, shown, reference, caption, snapshot.step,
                                    labels=snapshot.labels, columns=snapshot.columns))

    def set_tile_limit(self, limit: int | None) -> None:
        """Show at most ``limit`` images of a grid (None: all), each larger in the same view."""
        if limit == self._tile_limit:
            return
        self._tile_limit = limit
        if self._pending is None and self.samples is not None:
            self._pending, self.samples = self.samples, None  # redrawn as new: the grid's size changed
        self._throttle.request()

    def _shown(self, samples: SampleSet) -> np.ndarray:
        """The images of ``samples`` the grid draws."""
        return samples.data[:tiles_shown(len(samples.data), samples.columns, self._tile_limit)]

    # ------------------------------------------------------------------ drawing
    def _set_kind(self, kind: str) -> None:
        if kind == self._kind:
            return
        self._kind = kind
        plot = self.samplesView.getPlotItem()
        images = kind == "images"
        self._image.setVisible(images)
        self._highlight.setVisible(False)
        self._points.setVisible(not images)
        self._reference.setVisible(not images)
        for axis in ("left", "bottom"):
            plot.showAxis(axis, not images)
        plot.invertY(images)

    def _redraw(self) -> None:
        samples, self._pending = self._pending, None
        if samples is None:
            return
        new_shape = self.samples is None or self.samples.data.shape != samples.data.shape \
            or self.samples.kind != samples.kind
        self.samples = samples
        self._set_kind(samples.kind)
        if samples.kind == "images":
            self.classLegend.setVisible(False)  # a grid is one row per class: no colours to key
            grid = image_grid(self._shown(samples), ncols=samples.columns, padding=GRID_PADDING)
            self._image.setImage(grid[:, :, 0] if grid.shape[2] == 1 else grid, levels=(0, 255), autoLevels=False)
            if new_shape:
                self.selected = 0
                self.samplesView.getPlotItem().getViewBox().autoRange(padding=0.01)
            self._place_highlight()
        else:
            self._reference.setData(pos=np.zeros((0, 2)) if samples.reference is None else samples.reference)
            finite = np.isfinite(samples.data).all(axis=1)
            if samples.labels is not None:  # a conditional model's samples, coloured by the class asked for
                self._points.setData(pos=samples.data[finite], brush=class_brushes(samples.labels[finite]))
            else:
                self._points.setData(pos=samples.data[finite], brush=pg.mkBrush(*SAMPLE_COLOR, 200))
            self._show_class_key(samples)
            # the data's box when known: early previews can fly far off, and should not shrink the data to a dot
            x0, x1, y0, y1 = scatter_bounds(samples.reference if samples.reference is not None else samples.data)
            self.samplesView.getPlotItem().setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.0)
        count = "" if samples.is_data else f"  ·  {len(samples)} samples"  # a data preview's caption counts itself
        self.captionLabel.setText(f"{samples.caption}{count}")

    # ------------------------------------------------------------------ selection
    def _tile_geometry(self) -> tuple[int, int, int]:
        """(columns, tile height, tile width) of the grid on screen (core.export.image_grid's layout)."""
        assert self.samples is not None
        n, h, w = self._shown(self.samples).shape[:3]
        return self.samples.columns or math.ceil(math.sqrt(n)), h, w

    def _place_highlight(self) -> None:
        if self.samples is None or self.samples.kind != "images" or self.samples.is_data:
            self._highlight.setVisible(False)
            return
        cols, h, w = self._tile_geometry()
        row, col = divmod(self.selected, cols)
        left = col * (w + GRID_PADDING) + GRID_PADDING - 0.5
        top = row * (h + GRID_PADDING) + GRID_PADDING - 0.5
        self._highlight.setRect(left, top, w + 1, h + 1)
        self._highlight.setVisible(True)

    def select(self, index: int) -> None:
        if self.samples is None or self.samples.is_data or not 0 <= index < len(self._shown(self.samples)):
            return
        self.selected = index
        self._place_highlight()
        self.selectedChanged.emit(index)

    def _clicked(self, event) -> None:
        if self.samples is None or self.samples.kind != "images" or self.samples.is_data \
                or event.button() != Qt.MouseButton.LeftButton:
            return
        pos = self._image.mapFromScene(event.scenePos())
        cols, h, w = self._tile_geometry()
        col = int((pos.x() - GRID_PADDING) // (w + GRID_PADDING))
        row = int((pos.y() - GRID_PADDING) // (h + GRID_PADDING))
        if 0 <= col < cols and row >= 0:
            self.select(row * cols + col)
