"""Text on exported pictures: a caption band above an image, in Pillow's default font.

An exported grid or trajectory frame should say what the screen said (what the samples are, the t and abar_t of a
frame), or a figure pasted into a report loses its meaning. Pillow's default font needs no font file; it draws
ASCII only (other characters come out as boxes), so text is first spelled in ASCII (:func:`printable`).
Images are uint8 (H, W, C) with C = 1 (grey) or 3 (RGB), as in :mod:`ddpm_studio.core.io.export`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Pixel size of caption text, and the white margin around a caption's lines.
CAPTION_FONT_PX = 16
CAPTION_MARGIN_PX = 6
CAPTION_LINE_GAP_PX = 4
#: Characters Pillow's default font has no glyph for (it draws a box), spelled in ones it has. Anything else
#: outside ASCII is decomposed (x₀ -> x0) or dropped.
_SPELLED = {
    "ᾱ": "abar", "α": "alpha", "β": "beta", "γ": "gamma", "ε": "eps", "η": "eta", "σ": "sigma", "τ": "tau",
    "θ": "theta", "μ": "mu", "…": "...", "→": "->", "←": "<-", "×": "x", "—": "-", "–": "-", "−": "-", "·": "|",
    "≈": "~", "≤": "<=", "≥": ">=", "²": "^2",
}


def printable(text: str) -> str:
    """``text`` in characters Pillow's default font draws (ASCII): Greek letters spelled out, x₀ as x0."""
    spelled = "".join(_SPELLED.get(c, c) for c in text)
    return unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode("ascii")


@lru_cache(maxsize=8)
def caption_font(size: int = CAPTION_FONT_PX) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` pixels (scalable with FreeType; else its fixed bitmap font)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow < 10.1 or without FreeType: the bitmap font
        return ImageFont.load_default()


def wrap_caption(lines: Sequence[str], width: int, size: int = CAPTION_FONT_PX) -> list[str]:
    """The printable ``lines`` broken at spaces so each fits ``width`` pixels less the margins."""
    font = caption_font(size)
    room = max(1, width - 2 * CAPTION_MARGIN_PX)
    wrapped: list[str] = []
    for line in lines:
        words = printable(line).split(" ")
        current = ""
        for word in words:
            candidate = word if not current else f"{current} {word}"
            if current and font.getlength(candidate) > room:
                wrapped.append(current)
                current = word
            else:
                current = candidate
        wrapped.append(current)
    return wrapped


def add_caption(
    image: np.ndarray, lines: Sequence[str], min_lines: int = 0, size: int = CAPTION_FONT_PX
) -> np.ndarray:
    """``image`` below a white band holding ``lines`` in black, left-aligned and wrapped to the image's width.

    Args:
        image: uint8 (H, W, C), C in {1, 3}.
        lines: the text, one entry per line (non-ASCII spelled by :func:`printable`).
        min_lines: reserve at least this many lines, so the frames of an animation keep one size.
        size: font size in pixels.

    Returns:
        uint8 (H + band, W, C) where band = n * (size + CAPTION_LINE_GAP_PX) + 2 * CAPTION_MARGIN_PX - gap for
        n = max(len(wrapped lines), min_lines) lines; the picture itself is unchanged below the band.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (1, 3):
        raise ValueError(f"a captioned image must be uint8 (H, W, 1) or (H, W, 3), got {image.dtype} {image.shape}")
    height, width, channels = image.shape
    wrapped = wrap_caption(lines, width, size)
    count = max(len(wrapped), min_lines)
    step = size + CAPTION_LINE_GAP_PX
    band_height = count * step - CAPTION_LINE_GAP_PX + 2 * CAPTION_MARGIN_PX if count else 0
    band = Image.new("L" if channels == 1 else "RGB", (width, band_height), 255 if channels == 1 else (255,) * 3)
    draw = ImageDraw.Draw(band)
    font = caption_font(size)
    for index, line in enumerate(wrapped):
        draw.text((CAPTION_MARGIN_PX, CAPTION_MARGIN_PX + index * step), line, font=font,
                  fill=0 if channels == 1 else (0, 0, 0))
    band_array = np.asarray(band, dtype=np.uint8).reshape(band_height, width, channels)
    return np.concatenate([band_array, image], axis=0)
