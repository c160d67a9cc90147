"""The point denoiser: a residual MLP for 2-D (or D-dim) toy data (MATH.md, "Network").

It takes t through the same sinusoidal embedding and MLP as the U-Net (:class:`TimeEmbedding`) and adds it
inside every block, the MLP analogue of Ho et al. 2020's residual blocks; the last layer of each branch and
the output layer start at zero as in Nichol & Dhariwal 2021 (improved-diffusion), so training starts from the
identity.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ddpm_studio.core.models.embedding import ClassEmbedding, TimeEmbedding


class MLPBlock(nn.Module):
    """h + F(h, t): LayerNorm, SiLU, Linear, + Linear(SiLU(emb)), SiLU, dropout, Linear (zero-initialised).

    Shapes: h (B, hidden), emb (B, emb_dim) -> (B, hidden).
    """

    def __init__(self, hidden: int, emb_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.linear_in = nn.Linear(hidden, hidden)
        self.emb_proj = nn.Linear(emb_dim, hidden)
        self.dropout = nn.Dropout(dropout)
        self.linear_out = nn.Linear(hidden, hidden)
        nn.init.zeros_(self.linear_out.weight)
        nn.init.zeros_(self.linear_out.bias)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        branch = self.linear_in(F.silu(self.norm(h))) + self.emb_proj(F.silu(emb))
        return h + self.linear_out(self.dropout(F.silu(branch)))


def fourier_features(x: torch.Tensor, bands: int) -> torch.Tensor:
    """(B, D) -> (B, D + 2 D bands): x, then sin and cos of 2^k pi x for k = 0 .. bands - 1 (MATH.md M36).

    Positional encoding of the input (Mildenhall et al. 2020; Tancik et al. 2020): an MLP fed raw coordinates
    learns high frequencies slowly (spectral bias), and a sharp mode of width 0.03 in standardised units is one.
    Octaves are fixed, not random, so the network is the same for every seed and needs no stored matrix.
    """
    if bands <= 0:
        return x
    scales = math.pi * 2.0 ** torch.arange(bands, device=x.device, dtype=x.dtype)
    angles = (x.unsqueeze(-1) * scales).flatten(1)  # (B, D * bands)
    return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=1)


class MLPDenoiser(nn.Module):
    """Residual MLP denoiser for points: (x_t, t) -> eps, mu, x0 or v (+ variance under M13).

    Args:
        data_dim: D, the dimension of a point (2 for the toy sets).
        out_dim: width of the prediction; 2 x data_dim for a learned variance (M13).
        hidden: width of the residual stream.
        num_blocks: number of residual blocks.
        time_dim: width of the sinusoidal timestep embedding; its MLP maps it to ``hidden``.
        dropout: dropout rate inside the blocks.
        fourier_bands: input octaves of :func:`fourier_features` (0: the raw coordinates only).
        num_classes: K for a class-conditional denoiser (a :class:`ClassEmbedding` of K + 1 rows added to the
            time embedding, MATH.md M34); None or 0: unconditional, exactly the network (and state_dict) of old.

    The constructor arguments are kept in ``self.config`` so that ``MLPDenoiser(**model.config)`` rebuilds it.
    """

    def __init__(
        self,
        data_dim: int = 2,
        out_dim: int = 2,
        hidden: int = 256,
        num_blocks: int = 3,
        time_dim: int = 128,
        dropout: float = 0.0,
        fourier_bands: int = 0,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.config = {
            "data_dim": data_dim,
            "out_dim": out_dim,
            "hidden": hidden,
            "num_blocks": num_blocks,
            "time_dim": time_dim,
            "dropout": dropout,
            "fourier_bands": fourier_bands,
        }
        if num_classes:
            self.config["num_classes"] = num_classes
        self.num_classes = num_classes or None
        self.time_embedding = TimeEmbedding(time_dim, hidden)
        self.fourier_bands = fourier_bands
        self.class_embedding = ClassEmbedding(num_classes, hidden) if num_classes else None
        self.input_layer = nn.Linear(data_dim * (1 + 2 * fourier_bands), hidden)
        self.blocks = nn.ModuleList(MLPBlock(hidden, hidden, dropout) for _ in range(num_blocks))
        self.output_norm = nn.LayerNorm(hidden)
        self.output_layer = nn.Linear(hidden, out_dim)
        nn.init.zeros_(self.output_layer.weight)
        nn.init.zeros_(self.output_layer.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Predict from noisy points x (B, data_dim) at timesteps t (B,), classes y (B,) or None: (B, out_dim).

        y is ignored by an unconditional network; for a conditional one None means the null class.
        """
        if t.shape != (x.shape[0],):
            raise ValueError(f"MLPDenoiser expects t of shape ({x.shape[0]},), got {tuple(t.shape)}")
        emb = self.time_embedding(t)
        if self.class_embedding is not None:
            emb = emb + self.class_embedding(y, x.shape[0], x.device).to(emb.dtype)
        h = self.input_layer(fourier_features(x, self.fourier_bands))
        for block in self.blocks:
            h = block(h, emb)
        return self.output_layer(F.silu(self.output_norm(h)))
