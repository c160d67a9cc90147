"""Named model sizes, and ``build_model`` to turn a preset and a data shape into a denoiser.

The table of presets is :data:`ddpm_studio.core.catalog.MODEL_PRESETS` (plain data, so ``--help`` lists the names
without importing torch); it is importable from here too. Each preset names one U-Net (for images) and one residual
MLP (for points). Attention resolutions are written in pixels for a 32x32 input, as in Ho et al. 2020 ("attention
at 16x16"); ``build_model`` turns them into down-sampling levels (32 -> level 0, 16 -> level 1, 8 -> level 2, ...)
and places attention at the same levels for any image size, so 28x28 MNIST gets attention at 14x14 where CIFAR-10
gets it at 16x16.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

from torch import nn

from ddpm_studio.core.catalog import MODEL_PRESETS, REFERENCE_IMAGE_SIZE
from ddpm_studio.core.models.mlp import MLPDenoiser
from ddpm_studio.core.models.unet import UNet, feature_resolutions


def _data_shape(data_shape: Sequence[int]) -> tuple[int, ...]:
    """Validate ``data_shape`` as (D,) or (C, H, W) of positive integers and return it as a tuple."""
    expected = "(D,) for points or (C, H, W) for images, with positive integer sizes"
    try:
        shape = tuple(operator.index(size) for size in data_shape)
    except TypeError:
        raise ValueError(f"data_shape must be {expected}; got {data_shape!r}") from None
    if len(shape) not in (1, 3) or any(size < 1 for size in shape):
        raise ValueError(f"data_shape must be {expected}; got {shape}")
    return shape


def _attention_at(reference_resolutions: Sequence[int], image_size: int, num_levels: int) -> tuple[int, ...]:
    """Rescale attention resolutions given for a 32x32 input to the feature sizes of an ``image_size`` input.

    A reference resolution r is the level log2(32 / r); the result is the side length at that level for the
    real input (see :func:`feature_resolutions`), e.g. (16,) becomes (14,) for 28x28 and (8,) for 16x16.
    """
    sizes = feature_resolutions(image_size, num_levels)
    rescaled = []
    for resolution in reference_resolutions:
        level = math.log2(REFERENCE_IMAGE_SIZE / resolution)
        if level != int(level):
            raise ValueError(f"preset attention resolution {resolution} is not 32 / 2^k")
        if int(level) < num_levels:
            rescaled.append(sizes[int(level)])
    return tuple(rescaled)


def build_model(
    preset: str,
    data_shape: tuple[int, ...],
    learned_variance: bool = False,
    dropout: float | None = None,
    fourier_bands: int = 0,
    num_classes: int | None = None,
) -> nn.Module:
    """Build the denoiser of a preset for data of one shape.

    Args:
        preset: a key of :data:`MODEL_PRESETS`.
        data_shape: (D,) for points (gives an :class:`MLPDenoiser`) or (C, H, W) for images (a :class:`UNet`).
        learned_variance: double the output channels/features for the variance interpolation u (MATH.md M13).
        dropout: overrides the preset's dropout when given.
        fourier_bands: points only: feed the MLP sin / cos of the input at this many octaves as well
            (:class:`MLPDenoiser`); 0 feeds the coordinates alone.
        num_classes: K for a class-conditional denoiser (forward(x, t, y), MATH.md M34); None: unconditional.

    Returns:
        a module mapping (x (B, *data_shape), t (B,)) to (B, *data_shape) (twice the channels under M13).
    """
    if preset not in MODEL_PRESETS:
        raise ValueError(f"unknown model preset {preset!r}; choose one of: {', '.join(MODEL_PRESETS)}")
    shape = _data_shape(data_shape)
    settings = MODEL_PRESETS[preset]
    out_factor = 2 if learned_variance else 1

    if len(shape) == 1:
        mlp = dict(settings["mlp"])
        if dropout is not None:
            mlp["dropout"] = dropout
        return MLPDenoiser(data_dim=shape[0], out_dim=out_factor * shape[0], fourier_bands=fourier_bands,
                           num_classes=num_classes, **mlp)

    channels, height, width = shape
    unet = dict(settings["unet"])
    if dropout is not None:
        unet["dropout"] = dropout
    # Attention is placed by the shorter side; the level it lands on is the same for either side.
    image_size = min(height, width)
    unet["attention_resolutions"] = _attention_at(
        unet["attention_resolutions"], image_size, len(unet["channel_mults"])
    )
    return UNet(
        in_channels=channels, out_channels=out_factor * channels, image_size=image_size, num_classes=num_classes,
        **unet,
    )


def count_parameters(model: nn.Module) -> int:
    """Number of scalar parameters in ``model`` (shared parameters counted once)."""
    return sum(parameter.numel() for parameter in model.parameters())


def format_parameter_count(n: int) -> str:
    """A parameter count to three significant figures with a K/M/B suffix.

    850000 -> "850K", 1020000 -> "1.02M", 35746307 -> "35.7M"; counts under 1000 are written in full ("850").
    """
    if n < 0:
        raise ValueError(f"a parameter count cannot be negative, got {n}")
    # Round first, so 999_999 becomes "1M" rather than "1e+03K".
    rounded = float(f"{n:.3g}")
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if rounded >= scale:
            return f"{rounded / scale:.3g}{suffix}"
    return f"{int(rounded)}"
