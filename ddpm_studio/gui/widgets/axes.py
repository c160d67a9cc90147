"""An axis whose tick labels never overlap and whose label never gains an SI multiplier.

pyqtgraph's AxisItem has two habits that hurt here. It rescales values below 1 with an "SI prefix" even when
the axis has no unit: a digits loss of 0.04-0.9 reads "40-900" and the label grows a "(x0.001)" that a narrow
plot cuts to "training objective (x". And on a log axis spanning less than a few decades it labels every
minor tick 2..9 of a decade at once, so "0.8 0.9 1" pile up where the decade's ticks crowd together.

:class:`TidyAxisItem` switches the prefix off, ranks log ticks (decades first, then 2 and 5, then the rest)
and drops any label that would touch one already placed.
"""

from __future__ import annotations

import math

import pyqtgraph as pg

#: Empty space kept between two tick labels, as a fraction of a label's height.
LABEL_GAP = 0.5
#: Mantissas of the second rank of log ticks: 2 and 5 read well and split a decade about evenly.
SECOND_RANK = (2, 5)
#: No limit on how much of a log axis tick text may fill (pyqtgraph would drop a whole level at once): which
#: labels are drawn is decided one by one, by overlap.
LOG_FILL_LIMITS: list[tuple[int, float]] = []


class TidyAxisItem(pg.AxisItem):
    """A pyqtgraph axis for plots without units: no SI prefix, and tick labels thinned until none overlap."""

    def __init__(self, orientation: str, **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)
        self._linear_fill_limits = self.style["textFillLimits"]

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802, N803 (pyqtgraph's names)
        """Three levels in log10 units: decades, then 2 and 5 of each decade, then 3, 4, 6, 7, 8, 9."""
        whole = [(spacing, values) for spacing, values in stdTicks if spacing >= 1.0]
        if len(whole) >= 2:  # many decades: pyqtgraph's own whole-decade levels are enough
            return whole
        low, high = sorted((minVal, maxVal))
        decades = range(math.floor(low), math.ceil(high) + 1)
        levels = [[float(d) for d in decades]] if not whole else [list(whole[0][1])]
        levels.append([d + math.log10(m) for d in decades for m in SECOND_RANK])
        levels.append([d + math.log10(m) for d in decades for m in (3, 4, 6, 7, 8, 9)])
        spacing = whole[0][0] if whole else 1.0
        return [(spacing if k == 0 else None, [v for v in level if low <= v <= high]) for k, level in
                enumerate(levels)]

    def generateDrawSpecs(self, p):  # noqa: N802 (pyqtgraph's name)
        """pyqtgraph's layout, then every label that would touch an earlier (higher-ranked) one is dropped."""
        self.style["textFillLimits"] = LOG_FILL_LIMITS if self.logMode else self._linear_fill_limits
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis_spec, tick_specs, text_specs = specs
        return axis_spec, tick_specs, thin_labels(text_specs, vertical=self.orientation in ("left", "right"))


def thin_labels(text_specs: list, vertical: bool) -> list:
    """Keep labels in the order given (most important first), skipping one that comes too close to a kept one.

    Args:
        text_specs: pyqtgraph's ``(QRectF, flags, text)`` per label.
        vertical: labels stacked along y (a left or right axis) rather than along x.
    """
    kept: list = []
    spans: list[tuple[float, float]] = []
    for spec in text_specs:
        rect = spec[0]
        start, length = (rect.top(), rect.height()) if vertical else (rect.left(), rect.width())
        gap = LABEL_GAP * (rect.height() if vertical else min(rect.height(), rect.width()))
        lo, hi = start - gap, start + length + gap
        if any(lo < other_hi and other_lo < hi for other_lo, other_hi in spans):
            continue
        kept.append(spec)
        spans.append((start, start + length))
    return kept

