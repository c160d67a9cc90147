"""The image denoiser: a U-Net with residual blocks, GroupNorm, SiLU, skip connections and self-attention.

The architecture is Ho et al. 2020 (appendix B; the PixelCNN++-style U-Net of their
``diffusion_tf/models/unet.py``) with the small changes of Nichol & Dhariwal 2021 (improved-diffusion
``unet.py``): the last layer of every residual branch and the output convolution start at zero, so the
untrained network is the identity on its skips and predicts zero, and attention may have several heads. With
``base_channels=128, channel_mults=(1, 2, 2, 2), num_res_blocks=2, attention_resolutions=(16,)`` at 32x32x3
it is Ho et al.'s 35.7M-parameter CIFAR-10 model (35,746,307 parameters).

Shapes: B batch, C channels, H x W the spatial size at the current level. Every spatial size works (not only
powers of two): down-sampling takes H to ceil(H / 2), and up-sampling goes back to exactly the size of the
skip it is concatenated with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ddpm_studio.core.models.embedding import ClassEmbedding, TimeEmbedding


def group_norm(channels: int, num_groups: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= ``num_groups`` that divides ``channels``.

    Ho et al. and improved-diffusion use 32 groups; narrow models (fewer than 32 channels, or widths like 48)
    need fewer, and GroupNorm refuses a count that does not divide the channels.
    """
    groups = min(num_groups, channels)
    while channels % groups:
        groups -= 1
    return nn.GroupNorm(groups, channels)


def feature_resolutions(image_size: int, num_levels: int) -> list[int]:
    """Side length of the feature maps at each U-Net level, from the input's side ``image_size``.

    A 3x3 convolution with stride 2 and padding 1 maps n to ceil(n / 2), so 28 gives [28, 14, 7, 4].
    """
    sizes = [image_size]
    for _ in range(num_levels - 1):
        sizes.append((sizes[-1] + 1) // 2)
    return sizes


def _zero_(layer: nn.Conv2d | nn.Linear) -> None:
    """Zero a layer's weights and bias (improved-diffusion's ``zero_module``): its branch starts off."""
    nn.init.zeros_(layer.weight)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class ResidualBlock(nn.Module):
    """x + F(x, t): two 3x3 convolutions with the time embedding added between them.

    Branch: GroupNorm, SiLU, conv, + Linear(SiLU(emb)), GroupNorm, SiLU, dropout, conv (zero-initialised).
    The skip is a 1x1 convolution when the channel count changes (Ho et al.'s ``nin_shortcut``).

    Shapes: x (B, in_channels, H, W), emb (B, emb_dim) -> (B, out_channels, H, W).
    """

    def __init__(
        self, in_channels: int, out_channels: int, emb_dim: int, dropout: float, num_groups: int
    ) -> None:
        super().__init__()
        self.norm_in = group_norm(in_channels, num_groups)
        self.conv_in = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, out_channels)
        self.norm_out = group_norm(out_channels, num_groups)
        self.dropout = nn.Dropout(dropout)
        self.conv_out = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        _zero_(self.conv_out)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(F.silu(self.norm_in(x)))
        # One bias per channel, shared by every pixel: this is how t reaches every block (MATH.md, "Network").
        h = h + self.emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv_out(self.dropout(F.silu(self.norm_out(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """x + proj(attention(GroupNorm(x))) over the H*W positions (improved-diffusion ``AttentionBlock``).

    Shapes: x (B, C, H, W) -> (B, C, H, W); C must be divisible by ``num_heads``.
    """

    def __init__(self, channels: int, num_heads: int, num_groups: int) -> None:
        super().__init__()
        if channels % num_heads:
            raise ValueError(
                f"attention needs channels divisible by num_heads, got {channels} and {num_heads}"
            )
        self.num_heads = num_heads
        self.norm = group_norm(channels, num_groups)
        # One 1x1 conv for q, k and v: the parameters of Ho et al.'s three NIN layers, in one kernel call.
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)
        _zero_(self.proj_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = x.shape
        head_dim = channels // self.num_heads
        # reshape, not view: a channels_last input is not contiguous in (C, H*W) order.
        qkv = self.qkv(self.norm(x)).reshape(batch, 3, self.num_heads, head_dim, height * width)
        q, k, v = qkv.transpose(-1, -2).unbind(dim=1)  # each (B, heads, H*W, head_dim)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_dim)) v
        out = out.transpose(-1, -2).reshape(batch, channels, height, width)
        return x + self.proj_out(out)


class ResidualAttentionBlock(nn.Module):
    """A residual block, followed by self-attention when ``attention`` is set.

    Shapes: x (B, in_channels, H, W), emb (B, emb_dim) -> (B, out_channels, H, W).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        emb_dim: int,
        dropout: float,
        num_groups: int,
        attention: bool,
        num_heads: int,
    ) -> None:
        super().__init__()
        self.residual = ResidualBlock(in_channels, out_channels, emb_dim, dropout, num_groups)
        self.attention = SelfAttention(out_channels, num_heads, num_groups) if attention else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.attention(self.residual(x, emb))


class Downsample(nn.Module):
    """3x3 convolution with stride 2: (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Nearest-neighbour up-sampling to ``size`` then a 3x3 convolution: (B, C, h, w) -> (B, C, *size).

    The target is the size of the skip this output is concatenated with, so odd sizes (7 -> 4 -> 7)
    round-trip; when size == 2 x the input this is exactly Ho et al.'s nearest x2 up-sampling.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.conv(F.interpolate(x, size=size, mode="nearest"))


class UNet(nn.Module):
    """The U-Net denoiser for images (MATH.md, "Network"): (x_t, t) -> eps, mu, x0 or v (+ M13 variance).

    Args:
        in_channels: channels of the data (1 grey, 3 RGB).
        out_channels: channels of the prediction; twice ``in_channels`` for a learned variance (M13).
        base_channels: width of the first level; level i has ``base_channels * channel_mults[i]`` channels.
        channel_mults: one multiplier per resolution level (``len(channel_mults) - 1`` down-samplings).
        num_res_blocks: residual blocks per level on the way down (one more per level on the way up).
        attention_resolutions: feature-map side lengths (at input side ``image_size``, see
            :func:`feature_resolutions`) where self-attention follows each residual block. A value that
            matches no level adds nothing. The middle block always has attention.
        dropout: dropout rate inside the residual blocks (Ho et al. use 0.1 on CIFAR-10).
        image_size: the input's side length, used only to place attention; any input size runs.
        num_groups: GroupNorm groups (reduced per layer to a divisor of the channel count).
        num_heads: attention heads.
        num_classes: K for a class-conditional denoiser (a :class:`ClassEmbedding` of K + 1 rows added to the
            time embedding, MATH.md M34); None or 0: unconditional, exactly the network (and state_dict) of old.

    The constructor arguments are kept in ``self.config`` so that ``UNet(**model.config)`` rebuilds the model.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        base_channels: int = 64,
        channel_mults: tuple[int, ...] = (1, 2, 2),
        num_res_blocks: int = 2,
        attention_resolutions: tuple[int, ...] = (8,),
        dropout: float = 0.0,
        image_size: int = 32,
        num_groups: int = 32,
        num_heads: int = 1,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        # Tuples, so a config read back from JSON (lists) rebuilds an identical model and config.
        channel_mults = tuple(channel_mults)
        attention_resolutions = tuple(attention_resolutions)
        if not channel_mults:
            raise ValueError("UNet needs at least one entry in channel_mults")
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "base_channels": base_channels,
            "channel_mults": channel_mults,
            "num_res_blocks": num_res_blocks,
            "attention_resolutions": attention_resolutions,
            "dropout": dropout,
            "image_size": image_size,
            "num_groups": num_groups,
            "num_heads": num_heads,
        }
        if num_classes:
            self.config["num_classes"] = num_classes
        self.num_classes = num_classes or None
        emb_dim = 4 * base_channels
        resolutions = feature_resolutions(image_size, len(channel_mults))

        def block(cin: int, cout: int, attention: bool) -> ResidualAttentionBlock:
            return ResidualAttentionBlock(cin, cout, emb_dim, dropout, num_groups, attention, num_heads)

        self.time_embedding = TimeEmbedding(base_channels, emb_dim)
        self.class_embedding = ClassEmbedding(num_classes, emb_dim) if num_classes else None
        self.input_conv = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        # Down path. skip_channels records what every saved skip holds, for the up path's concatenations.
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        skip_channels = [base_channels]
        channels = base_channels
        for level, mult in enumerate(channel_mults):
            attention = resolutions[level] in attention_resolutions
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks):
                blocks.append(block(channels, base_channels * mult, attention))
                channels = base_channels * mult
                skip_channels.append(channels)
            self.down_blocks.append(blocks)
            if level < len(channel_mults) - 1:
                self.downsamples.append(Downsample(channels))
                skip_channels.append(channels)

        self.middle = nn.ModuleList([block(channels, channels, True), block(channels, channels, False)])

        # Up path, from the lowest resolution back to the input's: each block eats one skip.
        self.up_blocks = nn.ModuleList()
        self.upsamples = nn.ModuleList()
        for level in reversed(range(len(channel_mults))):
            attention = resolutions[level] in attention_resolutions
            blocks = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                blocks.append(
                    block(channels + skip_channels.pop(), base_channels * channel_mults[level], attention)
                )
                channels = base_channels * channel_mults[level]
            self.up_blocks.append(blocks)
            if level > 0:
                self.upsamples.append(Upsample(channels))

        self.output_norm = group_norm(channels, num_groups)
        self.output_conv = nn.Conv2d(channels, out_channels, 3, padding=1)
        _zero_(self.output_conv)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Predict from noisy images x (B, in_channels, H, W) at timesteps t (B,) and classes y (B,) or None:
        (B, out_channels, H, W). y is ignored by an unconditional network; for a conditional one None is the
        null class."""
        if t.shape != (x.shape[0],):
            raise ValueError(
                f"UNet expects t of shape ({x.shape[0]},) for a batch of {x.shape[0]}, got {tuple(t.shape)}"
            )
        emb = self.time_embedding(t)
        if self.class_embedding is not None:
            emb = emb + self.class_embedding(y, x.shape[0], x.device).to(emb.dtype)

        h = self.input_conv(x)
        skips = [h]
        for level, blocks in enumerate(self.down_blocks):
            for down_block in blocks:
                h = down_block(h, emb)
                skips.append(h)
            if level < len(self.downsamples):
                h = self.downsamples[level](h)
                skips.append(h)

        for middle_block in self.middle:
            h = middle_block(h, emb)

        for level, blocks in enumerate(self.up_blocks):
            for up_block in blocks:
                h = up_block(torch.cat([h, skips.pop()], dim=1), emb)
            if level < len(self.upsamples):
                h = self.upsamples[level](h, size=skips[-1].shape[-2:])

        return self.output_conv(F.silu(self.output_norm(h)))
