"""The normal look and the presentation look: larger text and thicker lines for a projected classroom.

What the class reads grows; the controls the teacher works do not. :func:`apply_look` enlarges the text of
every caption, legend and summary label (word-wrapped labels and :class:`~ddpm_studio.gui.style.SteadyLabel`)
and walks every pyqtgraph scene, scaling axis tick and label fonts, plot titles, fixed axis sizes (see
``style.pin_axes``), curve pens, scatter points and symbols, marker lines. Buttons, spin boxes and combo boxes
keep their size: grown by half, their rows no longer fit a 1280-pixel-wide projector image (measured: the
window's minimum width went from 1,241 to 1,480 pixels).

The first time an item is seen its current size is remembered as its normal size, so items must be created at
their normal size (the docks do) and the window applies a look only after the docks exist; toggling back then
restores exactly what was there.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtGui import QFont, QPen
from PySide6.QtWidgets import QApplication, QGraphicsItem, QGraphicsRectItem, QLabel, QWidget

from ddpm_studio.gui.style import SteadyLabel, fit_axis_label


@dataclass(frozen=True)
class Look:
    """How large text and marks are drawn, relative to the normal look."""

    name: str
    font_scale: float  # captions, legends, tick labels, axis labels, titles; fixed axis sizes grow with it
    line_scale: float  # curve pens, marker lines
    point_scale: float  # scatter points and plot symbols


NORMAL = Look("normal", 1.0, 1.0, 1.0)
#: For a 1280 x 720 projector image: 1.4x text (9 pt -> 12.6 pt) still leaves the trajectory panels room in
#: the window; at 2x a 2-px curve reads as a line from the back of a room rather than a hairline; larger
#: points than 1.75x merge into a blob on a 2,000-point scatter.
PRESENTATION = Look("presentation", 1.4, 2.0, 1.75)

_BASE = "_ddpm_normal_size"  # the attribute holding an item's normal sizes


def _base_point_size() -> float:
    size = QApplication.font().pointSizeF()
    return size if size > 0 else 9.0


def _normal(item, **current) -> dict:
    """The item's normal sizes: remembered the first time the item is seen (it is then at its normal size)."""
    base = getattr(item, _BASE, None)
    if base is None:
        base = current
        setattr(item, _BASE, base)
    return base


def _scaled_pen(pen, width: float, scale: float) -> QPen | None:
    if pen is None:
        return None
    pen = QPen(pg.mkPen(pen))
    pen.setWidthF(max(width, 1.0) * scale if scale != 1.0 else width)
    return pen


def _pen_width(pen) -> float:
    return 0.0 if pen is None else pg.mkPen(pen).widthF()


def _points(size_text: str | None) -> float:
    """"11pt" -> 11.0; None (the default font) -> the application's size."""
    if size_text and size_text.endswith("pt"):
        return float(size_text[:-2])
    return _base_point_size()


def _apply_to_axis(axis: pg.AxisItem, look: Look) -> None:
    base = _normal(axis, width=axis.fixedWidth, height=axis.fixedHeight, label_style=dict(axis.labelStyle))
    axis.setTickDensity(1.0 / look.font_scale)  # larger labels, fewer ticks: they must not run into each other
    if look.font_scale == 1.0:
        axis.setTickFont(None)
        axis.labelStyle = dict(base["label_style"])
    else:
        axis.setTickFont(_scaled_font(look))
        size = _points(base["label_style"].get("font-size")) * look.font_scale
        axis.labelStyle = {**base["label_style"], "font-size": f"{size:g}pt"}
    if axis.label.isVisible():
        axis.setLabel(axis.labelText, axis.labelUnits, axis.labelUnitPrefix)
    if base["width"] is not None:
        axis.setWidth(round(base["width"] * look.font_scale))
    if base["height"] is not None:
        axis.setHeight(round(base["height"] * look.font_scale))


def _apply_to_title(label: pg.LabelItem, look: Look) -> None:
    base = _normal(label, size=label.opts.get("size"))
    if look.font_scale == 1.0 and base["size"] is None:
        label.opts.pop("size", None)
        label.setText(label.text)
    else:
        label.setText(label.text, size=f"{_points(base['size']) * look.font_scale:g}pt")


def _apply_to_text(item: pg.TextItem, look: Look) -> None:
    font = item.textItem.font()
    base = _normal(item, points=font.pointSizeF() if font.pointSizeF() > 0 else _base_point_size())
    font.setPointSizeF(base["points"] * look.font_scale)
    item.setFont(font)


def _apply_to_marks(item: QGraphicsItem, look: Look) -> None:
    """Pens, points and symbols of one data item (a PlotDataItem's own curve and scatter follow its options)."""
    parent = item.parentItem()
    if isinstance(item, (pg.PlotCurveItem, pg.ScatterPlotItem)) and isinstance(parent, pg.PlotDataItem):
        return
    if isinstance(item, pg.PlotDataItem):
        base = _normal(item, pen=_pen_width(item.opts["pen"]), symbol=item.opts["symbolSize"])
        if item.opts["pen"] is not None:
            item.setPen(_scaled_pen(item.opts["pen"], base["pen"], look.line_scale))
        item.setSymbolSize(base["symbol"] * look.point_scale)
    elif isinstance(item, pg.PlotCurveItem):
        base = _normal(item, pen=_pen_width(item.opts["pen"]))
        item.setPen(_scaled_pen(item.opts["pen"], base["pen"], look.line_scale))
    elif isinstance(item, pg.ScatterPlotItem):
        base = _normal(item, size=item.opts["size"])
        item.setSize(base["size"] * look.point_scale)
    elif isinstance(item, pg.InfiniteLine):
        base = _normal(item, pen=_pen_width(item.pen))
        item.setPen(_scaled_pen(item.pen, base["pen"], look.line_scale))
    elif isinstance(item, QGraphicsRectItem):
        base = _normal(item, pen=_pen_width(item.pen()))
        item.setPen(_scaled_pen(item.pen(), base["pen"], look.line_scale))


def _scaled_font(look: Look) -> QFont:
    font = QFont(QApplication.font())
    font.setPointSizeF(_base_point_size() * look.font_scale)
    return font


def is_reading_text(label: QLabel) -> bool:
    """Captions, legends and summaries (what a class reads) rather than the names of controls."""
    return isinstance(label, SteadyLabel) or label.wordWrap()


def apply_look(window: QWidget, look: Look) -> None:
    """Give the reading text under ``window`` and every plot there this look."""
    for label in window.findChildren(QLabel):
        if is_reading_text(label):
            label.setFont(QFont() if look.font_scale == 1.0 else _scaled_font(look))  # QFont(): inherit again
    for view in window.findChildren(pg.GraphicsView):
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem):
                _apply_to_axis(item, look)
            elif isinstance(item, pg.LabelItem):
                _apply_to_title(item, look)
            elif isinstance(item, pg.TextItem):
                _apply_to_text(item, look)
            else:
                _apply_to_marks(item, look)
        axis = view.property("fittedLabelAxis")
        if axis and isinstance(view, pg.PlotWidget):
            fit_axis_label(view, axis)  # the label's new font needs a new minimum height
