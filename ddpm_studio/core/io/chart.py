"""Error-bar charts as images, for the labs' reports: one marker per (category, series), a bar of ± one spread.

No Qt and no plotting library (matplotlib is not a dependency): Pillow draws it, and
:func:`~ddpm_studio.core.io.export.save_png` writes the uint8 (H, W, 3) result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Colour-blind-safe series colours (Okabe & Ito 2008).
SERIES_COLORS = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0), (86, 180, 233),
                 (0, 0, 0))
_GRID = (230, 230, 230)
_TEXT = (40, 40, 40)

#: (mean, spread) of one series at one category; NaN means "not measured" and draws nothing.
Point = tuple[float, float]


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size only
        return ImageFont.load_default()


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    span = max(high - low, 1e-12)
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=10 * magnitude)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(int(math.ceil((high - first) / step)) + 1)]


def error_bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[Point]],
    title: str,
    ylabel: str,
    xlabel: str = "",
    lines: bool = False,
    reference: tuple[float, str] | None = None,
    size: tuple[int, int] = (760, 420),
) -> np.ndarray:
    """A chart of each series' mean ± spread at each category: (H, W, 3) uint8.

    Args:
        categories: the x positions' labels, left to right.
        series: name -> one (mean, spread) per category (NaN mean: not drawn; inf: drawn as an arrow off the top
            and labelled "diverged").
        lines: join a series' markers (for ordered categories such as step counts).
        reference: (y, label) of a dashed horizontal line, e.g. the score real data gets.
    """
    width, height = size
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    small, normal = _font(12), _font(14)
    left, right, top, bottom = 70, 20 + 150, 50, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    finite = [m + s * sgn for pts in series.values() for m, s in pts if math.isfinite(m)
              for sgn in (-1, 1) if math.isfinite(s)]
    finite += [m for pts in series.values() for m, _ in pts if math.isfinite(m)]
    if reference is not None and math.isfinite(reference[0]):
        finite.append(reference[0])
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    pad = 0.08 * (high - low)
    ticks = _nice_ticks(low - pad, high + pad)
    low, high = ticks[0], ticks[-1]

    def y_of(value: float) -> float:
        return top + plot_h * (1.0 - (value - low) / (high - low))

    for tick in ticks:
        y = y_of(tick)
        draw.line((left, y, left + plot_w, y), fill=_GRID)
        label = f"{tick:.3g}"
        draw.text((left - 6 - draw.textlength(label, font=small), y - 7), label, fill=_TEXT, font=small)
    draw.rectangle((left, top, left + plot_w, top + plot_h), outline=(160, 160, 160))
    count = max(1, len(categories))
    slot = plot_w / count
    for i, name in enumerate(categories):
        x = left + slot * (i + 0.5)
        label = str(name)
        draw.text((x - draw.textlength(label, font=small) / 2, top + plot_h + 6), label, fill=_TEXT, font=small)
    if reference is not None and math.isfinite(reference[0]):
        y = y_of(reference[0])
        for x in range(left, left + plot_w, 10):
            draw.line((x, y, min(x + 5, left + plot_w), y), fill=(120, 120, 120), width=1)
        draw.text((left + plot_w + 8, y - 7), reference[1], fill=(120, 120, 120), font=small)
    num_series = max(1, len(series))
    for j, (name, points) in enumerate(series.items()):
        color = SERIES_COLORS[j % len(SERIES_COLORS)]
        offset = (j - (num_series - 1) / 2) * min(12.0, slot / (num_series + 1))
        previous: tuple[float, float] | None = None
        for i, (m, s) in enumerate(points[:count]):
            x = left + slot * (i + 0.5) + offset
            if math.isnan(m):
                previous = None
                continue
            if math.isinf(m):
                draw.polygon(((x - 5, top + 10), (x + 5, top + 10), (x, top + 1)), fill=color)
                draw.text((x - 24, top + 12), "diverged", fill=color, font=small)
                previous = None
                continue
            y = y_of(m)
            if math.isfinite(s) and s > 0:
                y0, y1 = y_of(m - s), y_of(m + s)
                draw.line((x, y0, x, y1), fill=color, width=2)
                draw.line((x - 4, y0, x + 4, y0), fill=color, width=2)
                draw.line((x - 4, y1, x + 4, y1), fill=color, width=2)
            if lines and previous is not None:
                draw.line((previous[0], previous[1], x, y), fill=color, width=2)
            draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=color)
            previous = (x, y)
        legend_y = top + 4 + 20 * j
        draw.rectangle((left + plot_w + 10, legend_y + 3, left + plot_w + 20, legend_y + 13), fill=color)
        draw.text((left + plot_w + 26, legend_y), str(name)[:20], fill=_TEXT, font=small)
    draw.text((8, 6), title, fill=_TEXT, font=normal)
    draw.text((8, 28), ylabel, fill=_TEXT, font=small)
    if xlabel:
        draw.text((left + plot_w / 2 - draw.textlength(xlabel, font=small) / 2, height - 24), xlabel, fill=_TEXT,
                  font=small)
    return np.asarray(image, dtype=np.uint8).copy()
