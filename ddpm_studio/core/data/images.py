"""Image sources: bundled digits, procedural shapes, image folders (the array files: :mod:`.files`).

Everything here returns raw arrays (uint8 images in NCHW layout, or the file's own array); turning them into
model space ([-1, 1], MATH.md) and validating them is the job of :mod:`ddpm_studio.core.data.dataset`.
Problems with the user's files raise ``ValueError`` whose message starts with the file name and fits on one
line, so :func:`~ddpm_studio.core.data.dataset.load_dataset` can pass it on unchanged as a ``DataError``.
"""

from __future__ import annotations

import colorsys
import functools
import gzip
import io
import logging
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from ddpm_studio.core.resources import read_resource

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"})
# Far below Pillow's own bomb limit (~89 M pixels): a 40 M-pixel RGB photo already needs 120 MB to decode, and
# a training image is downscaled to at most a few hundred pixels anyway.
DEFAULT_MAX_PIXELS = 40_000_000
# How many skipped files an error message names before it summarises the rest.
_SKIPPED_IN_MESSAGE = 3

# Procedural shapes: drawn this many times larger, then box-filtered down, which anti-aliases the edges (a
# staircase edge would be a high-frequency feature the model has to waste capacity on).
_SHAPES_SUPERSAMPLE = 4
_SHAPE_KINDS = ("circle", "square", "triangle")


def _fit_square(image: Image.Image, size: int) -> Image.Image:
    """Scale so the short side is ``size``, then centre-crop to ``size`` x ``size``.

    Done as one resample of the central square (``box=``), which is the same as resize-then-crop but touches
    fewer pixels. Bicubic is smooth when upscaling and, because Pillow widens the kernel when shrinking,
    anti-aliased when downscaling; ``reducing_gap`` first box-reduces very large photos, which is much faster
    and visually identical.
    """
    width, height = image.size
    if (width, height) == (size, size):
        return image
    short = min(width, height)
    left, top = (width - short) / 2.0, (height - short) / 2.0
    return image.resize(
        (size, size), Image.Resampling.BICUBIC, box=(left, top, left + short, top + short), reducing_gap=3.0
    )


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize uint8 (N, C, H, W), C in {1, 3}, to (N, C, size, size): short side to ``size``, centre crop."""
    if images.shape[2:] == (size, size):
        return images
    mode = "L" if images.shape[1] == 1 else "RGB"
    out = np.empty((images.shape[0], images.shape[1], size, size), dtype=np.uint8)
    for i, chw in enumerate(images):
        hwc = np.ascontiguousarray(chw.transpose(1, 2, 0))
        pil = Image.fromarray(hwc[:, :, 0] if mode == "L" else hwc, mode=mode)
        out[i] = np.asarray(_fit_square(pil, size)).reshape(size, size, -1).transpose(2, 0, 1)
    return out


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"image size must be an integer >= 2, got {size!r}")


@functools.lru_cache(maxsize=1)
def _digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """The bundled UCI digits: (1797, 8, 8) uint8 in 0..16 and (1797,) int64 labels, parsed once."""
    with gzip.open(io.BytesIO(read_resource("digits.csv.gz")), "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    pixels = table[:, :64].reshape(-1, 8, 8).astype(np.uint8)
    labels = table[:, 64]
    pixels.flags.writeable = False  # the cache hands out the same arrays; callers get copies
    labels.flags.writeable = False
    return pixels, labels


def load_digits(size: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """The UCI 8x8 handwritten digits (1797 images), bundled with the package, upsampled to ``size``.

    The 0..16 intensities are scaled to 0..255 (ink is bright on a black background, as in the source) and the
    8x8 grid is upsampled with bicubic interpolation, so strokes look smooth rather than blocky.

    Args:
        size: output side length; 8 keeps the original resolution.

    Returns:
        images: uint8 (1797, 1, size, size).
        labels: int64 (1797,), the digit 0..9 of each image.
    """
    _check_size(size)
    pixels_16, labels = _digits_8x8()
    pixels = np.rint(pixels_16.astype(np.float64) * (255.0 / 16.0)).astype(np.uint8)
    images = resize_images(pixels[:, None], size)
    return np.array(images), labels.copy()


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    kind: str,
    centre: np.ndarray,
    radius: float,
    angle: float,
    colour: tuple[int, int, int],
) -> None:
    """Draw one filled ``kind`` with circumradius ``radius`` (pixels) rotated by ``angle`` (radians)."""
    cx, cy = centre
    if kind == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
        return
    corners = 4 if kind == "square" else 3
    vertices = [
        (
            cx + radius * math.cos(angle + 2.0 * math.pi * k / corners),
            cy + radius * math.sin(angle + 2.0 * math.pi * k / corners),
        )
        for k in range(corners)
    ]
    draw.polygon(vertices, fill=colour)


def make_shapes(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """Draw ``n`` images of 1-3 random circles, squares and triangles on a plain dark background.

    Each image has a uniform dark-grey background (level 0..48) and 1-3 shapes, each of random kind, size
    (circumradius 12-30 % of the side), position (fully inside the frame), rotation and colour (random hue,
    high saturation and value, so every shape stands out from the background). Shapes are drawn at 4x
    resolution and box-filtered down, which anti-aliases the edges.

    Args:
        n: number of images (>= 0).
        size: side length in pixels.
        seed: the same (n, size, seed) always gives the same images.

    Returns:
        uint8 (n, 3, size, size).
    """
    _check_size(size)
    if n < 0:
        raise ValueError(f"number of images must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    big = size * _SHAPES_SUPERSAMPLE
    out = np.empty((n, 3, size, size), dtype=np.uint8)
    for i in range(n):
        grey = int(rng.integers(0, 49))
        canvas = Image.new("RGB", (big, big), (grey, grey, grey))
        draw = ImageDraw.Draw(canvas)
        for _ in range(int(rng.integers(1, 4))):
            kind = _SHAPE_KINDS[int(rng.integers(0, len(_SHAPE_KINDS)))]
            radius = rng.uniform(0.12, 0.30) * big
            centre = rng.uniform(radius, big - radius, size=2)
            angle = rng.uniform(0.0, 2.0 * math.pi)
            rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.6, 1.0), rng.uniform(0.75, 1.0))
            colour = (round(rgb[0] * 255), round(rgb[1] * 255), round(rgb[2] * 255))
            _draw_shape(draw, kind, centre, radius, angle, colour)
        small = canvas.resize((size, size), Image.Resampling.BOX)
        out[i] = np.asarray(small).transpose(2, 0, 1)
    return out


_COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBa", "RGBX", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV"})


def _to_8bit(image: Image.Image) -> tuple[Image.Image, bool]:
    """Convert any Pillow mode to 8-bit 'L' or 'RGB'; returns (image, is_colour).

    Transparency (alpha channels, or a tRNS entry on palette / grey / RGB images) is composited on white, the
    usual page colour of icons and scans. 16-bit grey ('I;16*', and 'I', which is how Pillow opens 16-bit
    PNGs) is scaled by 255 / 65535 rather than clipped, which would turn most of the image white. Palette
    images count as colour whatever their palette holds.
    """
    mode = image.mode
    is_colour = mode in _COLOUR_MODES
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image).astype(np.float64)
        # Of the formats read here only 16-bit PNGs give 'I*' modes. 'F' has no fixed range: read as 0..255.
        scale = 1.0 if mode == "F" else 255.0 / 65535.0
        grey = np.rint(np.clip(values * scale, 0.0, 255.0)).astype(np.uint8)
        return Image.fromarray(grey, mode="L"), False
    has_alpha = mode in {"LA", "La", "PA", "RGBA", "RGBa"} or "transparency" in image.info
    if has_alpha:
        with_alpha = np.asarray(image.convert("RGBA" if is_colour else "LA")).astype(np.float64)
        alpha = with_alpha[..., -1:] / 255.0
        flat = np.rint(with_alpha[..., :-1] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
        flattened = (
            Image.fromarray(flat, mode="RGB") if is_colour else Image.fromarray(flat[..., 0], mode="L")
        )
        return flattened, is_colour
    return image.convert("RGB" if is_colour else "L"), is_colour


def _read_image(path: Path, size: int, max_pixels: int) -> tuple[np.ndarray, bool]:
    """Decode one image file to (size, size) 'L' or (size, size, 3) 'RGB' uint8; returns (pixels, is_colour).

    Raises ``ValueError`` with a short reason for empty or oversized files; anything the decoder raises is
    left to the caller, which records it as the reason the file was skipped.
    """
    if path.stat().st_size == 0:
        raise ValueError("empty file (0 bytes)")
    with Image.open(path) as image:
        # Image.open only reads the header, so the size check happens before any pixel is decoded.
        width, height = image.size
        if width * height > max_pixels:
            raise ValueError(f"too large: {width}x{height} pixels (limit {max_pixels})")
        # JPEGs then decode at a reduced DCT scale (still >= size on both sides): big photos load ~8x faster.
        image.draft(None, (size, size))
        image.load()
        # Phone photos are stored sideways plus an EXIF orientation tag; honour it so the crop is upright.
        upright = ImageOps.exif_transpose(image)
        eight_bit, is_colour = _to_8bit(upright)
        return np.asarray(_fit_square(eight_bit, size)), is_colour


def _grey_to_rgb(pixels: np.ndarray) -> np.ndarray:
    return np.repeat(pixels[..., None], 3, axis=-1) if pixels.ndim == 2 else pixels


def _rgb_to_grey(pixels: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, the same weights Pillow's convert('L') uses."""
    if pixels.ndim == 2:
        return pixels
    luma = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return np.rint(luma).clip(0, 255).astype(np.uint8)


def _summarise_skipped(skipped: list[tuple[str, str]]) -> str:
    shown = "; ".join(f"{Path(p).name}: {reason}" for p, reason in skipped[:_SKIPPED_IN_MESSAGE])
    more = f"; and {len(skipped) - _SKIPPED_IN_MESSAGE} more" if len(skipped) > _SKIPPED_IN_MESSAGE else ""
    return f"{len(skipped)} file{'s' if len(skipped) != 1 else ''} skipped: {shown}{more}"


def image_files(folder: Path) -> list[Path]:
    """Every PNG/JPEG/BMP/GIF/WebP file under ``folder``, recursively, in sorted path order (the loading order)."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def load_image_folder(
    path: str | os.PathLike[str],
    size: int,
    channels: int | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Load every PNG/JPEG/BMP/GIF/WebP under ``path`` (recursively, in sorted path order) as square images.

    Each image is converted to 8 bits (see ``_to_8bit``: palettes expanded, 16-bit grey scaled, transparency
    on white), scaled so its short side is ``size`` and centre-cropped. Animated GIF/WebP files give their
    first frame. Files that cannot be decoded (truncated, empty, not really images, larger than ``max_pixels``
    or flagged by Pillow as a decompression bomb) are skipped and listed, never raised. Files with other
    extensions are ignored.

    Args:
        path: the folder.
        size: output side length in pixels.
        channels: 1 (grey) or 3 (RGB). None picks 3 if any loaded image is colour, else 1. Grey images are
            repeated into RGB; colour images become grey by ITU-R 601 luma.
        max_pixels: images with more pixels than this are skipped without being decoded.

    Returns:
        images: uint8 (N, channels, size, size).
        skipped: (file path, reason) for every skipped file.

    Raises:
        ValueError: ``path`` is not a folder, holds no image files, or none of them could be read.
    """
    _check_size(size)
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels!r}")
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder")
    files = image_files(folder)
    if not files:
        raise ValueError(f"folder {folder} holds no PNG/JPEG/BMP/GIF/WebP files")

    loaded: list[np.ndarray] = []
    any_colour = False
    skipped: list[tuple[str, str]] = []
    for file in files:
        try:
            pixels, is_colour = _read_image(file, size, max_pixels)
        except Exception as exc:
            # Decoders of untrusted files raise a zoo of types (OSError, SyntaxError, struct.error, EOFError,
            # ValueError, DecompressionBombError, ...); one bad file must never stop the others from loading.
            skipped.append((str(file), _reason(exc)))
            continue
        loaded.append(pixels)
        any_colour |= is_colour

    if skipped:
        logger.warning("%s: loaded %d images, %s", folder, len(loaded), _summarise_skipped(skipped))
    else:
        logger.info("%s: loaded %d images", folder, len(loaded))
    if not loaded:
        raise ValueError(f"folder {folder} holds no readable images ({_summarise_skipped(skipped)})")

    out_channels = channels if channels is not None else (3 if any_colour else 1)
    convert = _grey_to_rgb if out_channels == 3 else _rgb_to_grey
    stacked = np.stack([convert(p) for p in loaded])  # (N, size, size) or (N, size, size, 3)
    if out_channels == 1:
        return stacked[:, None], skipped
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2)), skipped


def _reason(exc: BaseException) -> str:
    """A short one-line reason for a skipped file, worded for the user rather than as a traceback."""
    message = " ".join(str(exc).split()) or "no details"
    if isinstance(exc, Image.DecompressionBombError):
        return "too large: possible decompression bomb (over Pillow's pixel limit)"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image Pillow can read"
    if type(exc) is ValueError:  # our own checks (empty, too large) already word it for the user
        return message
    return f"corrupt or truncated ({type(exc).__name__}: {message})"
