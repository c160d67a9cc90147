"""Timestep embeddings: how the network is told which t it is denoising (MATH.md, "Network").

Parameters are shared across every t, so t has to enter as an input. It goes in as the sinusoidal position
encoding of Vaswani et al. 2017 ("Attention Is All You Need", section 3.5), with the [cos | sin] layout and
frequency spacing of Nichol & Dhariwal 2021 (improved-diffusion, ``nn.timestep_embedding``), followed by a
small MLP as in Ho et al. 2020 (appendix B). A class-conditional network adds a learned class embedding to it
(:class:`ClassEmbedding`, Ho & Salimans 2022).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps.

    With ``half = dim // 2`` and frequencies ``f_i = exp(-ln(max_period) * i / half)``, i = 0 .. half-1, row b
    is ``[cos(t_b f_0), ..., cos(t_b f_{half-1}), sin(t_b f_0), ..., sin(t_b f_{half-1})]``, followed by one
    zero column when ``dim`` is odd.

    Args:
        t: timesteps, shape (B,), integer or floating (fractional t is allowed, e.g. for respaced schedules).
        dim: width of the embedding.
        max_period: the longest wavelength; 10000 as in Vaswani et al. 2017.

    Returns:
        float32 tensor of shape (B, dim) on ``t``'s device.
    """
    if t.ndim != 1:
        raise ValueError(f"timestep_embedding expects t of shape (B,), got shape {tuple(t.shape)}")
    if dim < 1:
        raise ValueError(f"timestep_embedding needs dim >= 1, got {dim}")
    half = dim // 2
    # float32 throughout, not float64: MPS has no float64, and the original implementations use float32.
    exponents = torch.arange(half, dtype=torch.float32, device=t.device) / max(half, 1)
    freqs = torch.exp(-math.log(max_period) * exponents)
    args = t.to(torch.float32)[:, None] * freqs[None, :]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        embedding = torch.cat([embedding, embedding.new_zeros(t.shape[0], 1)], dim=1)
    return embedding


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of t followed by Linear-SiLU-Linear (Ho et al. 2020, appendix B).

    Args:
        base_dim: width of the sinusoidal embedding (Ho et al. use the U-Net's base channel count).
        out_dim: width of the returned embedding (Ho et al. use 4 x base channels).
    """

    def __init__(self, base_dim: int, out_dim: int) -> None:
        super().__init__()
        self.base_dim = base_dim
        self.linear_in = nn.Linear(base_dim, out_dim)
        self.activation = nn.SiLU()
        self.linear_out = nn.Linear(out_dim, out_dim)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """Map timesteps t (B,) to embeddings (B, out_dim)."""
        # Cast to the weights' dtype so a float16/bfloat16 model still accepts the float32 sinusoid.
        sinusoid = timestep_embedding(t, self.base_dim).to(self.linear_in.weight.dtype)
        return self.linear_out(self.activation(self.linear_in(sinusoid)))


class ClassEmbedding(nn.Module):
    """A learned vector per class, plus one for the "null" class ∅ (MATH.md M34; Ho & Salimans 2022).

    Classes 0..K-1 are the data's labels; index K is the null class that label dropout trains and that the
    unconditional branch of classifier-free guidance asks for. ``y = None`` means the null class for the whole
    batch. The table starts at zero, so a new conditional network begins as the unconditional one and the
    classes part only as training finds them useful.

    Args:
        num_classes: K, the number of real classes (>= 1).
        dim: width of the returned embedding (the time embedding's width: the two are added).
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"a class embedding needs num_classes >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, dim)
        nn.init.zeros_(self.table.weight)

    def forward(self, y: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
        """Class indices y (B,) in 0..K (K = null), or None for all-null -> (B, dim)."""
        if y is None:
            y = torch.full((batch,), self.num_classes, dtype=torch.long, device=device)
        elif y.shape != (batch,):
            raise ValueError(f"class labels must have shape ({batch},), got {tuple(y.shape)}")
        # the range 0..K is checked where labels enter (data, CLI, studio): a check here would sync the GPU
        return self.table(y.to(device=device, dtype=torch.long))
