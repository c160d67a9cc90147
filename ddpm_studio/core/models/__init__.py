"""Denoising networks: time embedding, image U-Net, point MLP and named presets (MATH.md, "Network")."""

from ddpm_studio.core.models.embedding import ClassEmbedding, TimeEmbedding, timestep_embedding
from ddpm_studio.core.models.mlp import MLPDenoiser
from ddpm_studio.core.models.presets import (
    MODEL_PRESETS,
    build_model,
    count_parameters,
    format_parameter_count,
)
from ddpm_studio.core.models.unet import UNet

__all__ = [
    "ClassEmbedding",
    "MODEL_PRESETS",
    "MLPDenoiser",
    "TimeEmbedding",
    "UNet",
    "build_model",
    "count_parameters",
    "format_parameter_count",
    "timestep_embedding",
]
