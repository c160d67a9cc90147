"""Exponential moving average of model weights (Ho et al. 2020 sample with EMA decay 0.9999)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``shadow = decay * shadow + (1 - decay) * weights`` after every optimiser step.

    The shadow is a full copy of the network (in eval mode, no gradients), so it can be called for sampling.
    Buffers (none in our networks, but GroupNorm-free nets may have them) are copied as they are.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = float(decay)
        self.model = copy.deepcopy(model).eval().requires_grad_(False)
        # the tensor lists of the last source model, so an update walks no module tree (a small net's step is
        # short enough for that walk to show in a profile)
        self._source: nn.Module | None = None
        self._lists: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] = (
            [], [], [], [])
        self._flat: tuple[torch.Tensor, torch.Tensor] | None = None

    def use_flat(self, shadow: torch.Tensor, source: torch.Tensor) -> None:
        """Blend with one lerp of flat tensors: ``shadow`` holds this EMA's weights and ``source`` the network's,
        laid out alike (:class:`~ddpm_studio.core.models.mlp_fused.FlatParameters`); the same update, one op."""
        self._flat = (shadow, source)

    def decay_at(self, step: int) -> float:
        """The decay after ``step`` updates: min(decay, (1 + step) / (10 + step)).

        The warm-up (as in TensorFlow's ExponentialMovingAverage with num_updates) keeps a short run's average
        from being dominated by the random initial weights: 0.999 alone still holds 37 % of them after 1000 steps.
        """
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Blend ``model``'s weights in; ``step`` counts the updates before this one (0 for the first)."""
        if self._flat is not None:
            self._flat[0].lerp_(self._flat[1], 1.0 - self.decay_at(step))
            return
        if model is not self._source:
            self._source = model
            self._lists = (list(self.model.parameters()), list(model.parameters()),
                           list(self.model.buffers()), list(model.buffers()))
        shadow, params, shadow_buffers, buffers = self._lists
        # lerp_(w, 1 - decay) == decay * shadow + (1 - decay) * w; the foreach form is one fused kernel per group
        torch._foreach_lerp_(shadow, params, 1.0 - self.decay_at(step))
        for b_shadow, b in zip(shadow_buffers, buffers):
            b_shadow.copy_(b)
