"""A trained model ready to sample: the diffusion process, the (EMA) network and the data's coordinates.

:class:`DiffusionPipeline` is what the CLI's ``sample``, the studio and the evaluation code share. It is built
either from a live :class:`~ddpm_studio.core.training.trainer.Trainer` or from a run folder with
:func:`load_pipeline` (no data set needed: the standardisation is stored in the checkpoint).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ddpm_studio.core.config import ConfigError, DiffusionConfig, ProcessConfig, RunConfig
from ddpm_studio.core.io.runs import RunError, load_latest_checkpoint, read_config
from ddpm_studio.core.models import build_model
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.flow import FLOW_TIME_SCALE, GaussianFlow, make_flow
from ddpm_studio.core.process.guidance import GuidanceError, GuidedModel, check_guidance
from ddpm_studio.core.process.schedule import make_betas
from ddpm_studio.core.sampling import (
    DEFAULT_JUMP_LENGTH,
    DEFAULT_JUMP_N_SAMPLE,
    SampleStep,
    inpaint,
    run_to_end,
    sample,
)


def build_diffusion(
    config: DiffusionConfig, kind: str, x0_range: tuple[torch.Tensor, torch.Tensor] | None = None
) -> GaussianDiffusion:
    """The process of a run: images use the 8-bit decoder; both clip x0_hat to the data's box by default (M23).

    Images clip to [-1, 1]. Points clip to ``x0_range`` (the training data's box in model space, shapes (D,));
    without one (a checkpoint written before the box was stored) points are not clipped unless asked to.
    """
    if config.clip_x0 is not None:
        clip = config.clip_x0
    else:
        clip = kind == "images" or x0_range is not None
    return GaussianDiffusion(
        make_betas(config.schedule, config.num_timesteps),
        parameterization=config.parameterization,
        variance=config.variance,
        clip_x0=clip,
        decoder="discrete" if kind == "images" else "gaussian",
        x0_range=x0_range if kind == "points" else None,
    )


def build_flow(config: ProcessConfig) -> GaussianFlow:
    """The flow process of a run whose ``process.name`` is "flow" (M47-M51): rectified flow on the linear path."""
    return make_flow(config.path, target=config.target, time_sampling=config.time_sampling,
                     logit_mean=config.logit_mean, logit_std=config.logit_std, time_power=config.time_power)


def build_process(
    config: RunConfig, kind: str, x0_range: tuple[torch.Tensor, torch.Tensor] | None = None
) -> GaussianDiffusion | GaussianFlow:
    """The run's process: :func:`build_diffusion` of its ``diffusion`` section, or :func:`build_flow`."""
    if config.is_flow:
        return build_flow(config.process)
    return build_diffusion(config.diffusion, kind, x0_range)


class FlowTimeInput(nn.Module):
    """A network trained on flow times: called with t in [0, 1] (B,), it feeds the network FLOW_TIME_SCALE t, so
    the sinusoidal embedding covers the frequencies it covers for DDPM's timesteps 0..999 (M50)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The network's output at (x (B, ...), t (B,) float in [0, 1]); shape like x."""
        scaled = t.to(torch.float32) * FLOW_TIME_SCALE
        return self.model(x, scaled) if y is None else self.model(x, scaled, y)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 autocast on CUDA (where tensor cores make it pay); None (full precision) elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


class FloatOutput(nn.Module):
    """Wrap a network so its output is float32 even under bf16 autocast: the diffusion maths stays precise."""

    def __init__(self, net: nn.Module, device: torch.device) -> None:
        super().__init__()
        self.net = net
        self.amp_dtype = autocast_dtype(device)
        self.channels_last = device.type == "cuda"

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The network at (x, t), and classes y (B,) for a conditional network (None: unconditional / null)."""
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        args = (x, t) if y is None else (x, t, y)
        if self.amp_dtype is None:
            return self.net(*args)
        with torch.autocast(device_type=x.device.type, dtype=self.amp_dtype):
            out = self.net(*args)
        return out.float().contiguous()


def full_precision(network: nn.Module, device: torch.device) -> FloatOutput:
    """``network`` in eval mode with autocast off: the bound (M14-M17), the ODE likelihood (M32) and the learned
    field sum many small terms, which bf16 rounding would bias near t = 0."""
    model = FloatOutput(network, device).eval()
    model.amp_dtype = None
    return model


class ReverseProcess(Iterator[SampleStep]):
    """The steps of one sampling run, with the pure noise x_T they start from (before any network evaluation).

    A sampler yields the state after each step, so x_T itself never appears among its records; a presenter
    that shows the whole process (the studio's first trajectory frame, the CLI's ``trajectory_x_T``) reads it
    here. Iterating is the same as iterating the sampler.

    Attributes:
        x_T: the starting noise in model space, (B, ...) like every record's ``x``, on the sampling device.
    """

    def __init__(self, x_T: torch.Tensor, steps: Iterator[SampleStep]) -> None:
        self.x_T = x_T
        self._steps = steps

    def __next__(self) -> SampleStep:
        return next(self._steps)


@dataclass
class DiffusionPipeline:
    """Everything needed to sample a trained run and show the samples in the data's own coordinates.

    Attributes:
        config: the run's settings. diffusion: the process: the T-step DDPM, or the flow of a flow run
            (:attr:`is_flow`). network: the (EMA) denoiser, eval mode.
        kind: "points" or "images". data_shape: (D,) or (C, H, W).
        shift, scale: points standardisation (model = (data - shift) / scale), shape (D,); None for images.
        step: training steps behind these weights.
    """

    config: RunConfig
    diffusion: GaussianDiffusion | GaussianFlow
    network: nn.Module
    kind: str
    data_shape: tuple[int, ...]
    device: torch.device
    shift: torch.Tensor | None = None
    scale: torch.Tensor | None = None
    step: int = 0

    @property
    def is_flow(self) -> bool:
        """The run is a flow run (its ``diffusion`` is a :class:`GaussianFlow`)."""
        return isinstance(self.diffusion, GaussianFlow)

    def require_ddpm(self, what: str) -> None:
        """Refuse a DDPM-only analysis on a flow run with a ValueError that says so (the studio shows it)."""
        if self.is_flow:
            raise ValueError(f"{what} is a DDPM analysis (it reads DDPM's trained timesteps and its bound); this is "
                             "a flow run, whose paths the trajectory, the samples and the race show")

    def model(self) -> nn.Module:
        """The EMA network as its sampler calls it: float output; for a flow, times in [0, 1]."""
        model = FloatOutput(self.network, self.device).eval()
        return FlowTimeInput(model).eval() if self.is_flow else model

    def sample(
        self,
        num_samples: int,
        num_steps: int | None = None,
        method: str | None = None,
        eta: float = 0.0,
        seed: int | None = 0,
        spacing: str = "linspace",
        noise: torch.Tensor | None = None,
        model: nn.Module | None = None,
        labels: torch.Tensor | None = None,
        guidance: float | torch.Tensor = 0.0,
    ) -> ReverseProcess:
        """Reverse process for ``num_samples`` samples in model space, one record per network evaluation.

        ``num_steps`` counts network evaluations; ``method`` and ``spacing`` as :func:`sampling.sample` (None: the
        process's default, ancestral for DDPM, Euler for a flow). One seed gives the same x_T for every method and
        spacing, and for both processes (x_T of DDPM and x_1 of a flow are the same draw of N(0, I), M49).

        Args:
            noise: x_T to start from, (num_samples, *data_shape); default a draw of N(0, I) from ``seed``, the
                first draw of the seeded generator, exactly as the sampler itself would draw it (so a seed gives
                the samples it always gave). With explicit noise the seed drives only the per-step noise.
            model: stands in for the run's network (e.g. an
                :class:`~ddpm_studio.core.analysis.ideal.IdealDenoiser` of its training data, M30); None samples the
                EMA network.
            labels: classes (num_samples,) for a conditional run (None: the null class, i.e. unconditional).
            guidance: classifier-free guidance scale w >= 0 (M34), a float or per-sample (num_samples,); used
                with ``labels`` only.
        Returns:
            An iterator of :class:`SampleStep` records whose ``x_T`` attribute holds the starting noise.
        """
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"the number of samples must be a positive integer, got {num_samples!r}")
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(int(seed))
        shape = (num_samples, *self.data_shape)
        if noise is None:
            noise = torch.randn(shape, generator=generator, device=self.device)
        if model is None:
            model = self.model()
            if labels is not None:
                model = self.guided(model, labels, guidance)
        steps = sample(
            self.diffusion,
            model,
            shape,
            num_steps=num_steps,
            method=method,
            eta=eta,
            generator=generator,
            device=self.device,
            spacing=spacing,
            noise=noise,
        )
        return ReverseProcess(noise, steps)

    def inpaint(
        self,
        known: torch.Tensor,
        mask: torch.Tensor,
        num_steps: int | None = None,
        seed: int | None = 0,
        spacing: str = "linspace",
        jump_length: int = DEFAULT_JUMP_LENGTH,
        jump_n_sample: int = DEFAULT_JUMP_N_SAMPLE,
        model: nn.Module | None = None,
    ) -> ReverseProcess:
        """RePaint (M57-M59) of ``known`` where ``mask`` is 0, on ``num_steps`` grid points; see
        :func:`sampling.inpaint`.

        Args:
            known: x_0 in MODEL space, (N, *data_shape) (:meth:`to_model_space` converts from the data's
                coordinates). mask: 1 = known, 0 = regenerate, broadcastable to ``known``.
            seed: x_T is the seed's first draw, as for :meth:`sample`, so one seed starts both from one x_T.
            model: stands in for the network (e.g. an ideal denoiser); None: the EMA network (unconditional).
        Raises:
            ValueError: a flow run (:data:`~ddpm_studio.core.sampling.repaint.FLOW_REFUSAL`), shapes that do not
                fit the data, a bad K, L or r.
        """
        if tuple(known.shape[1:]) != tuple(self.data_shape):
            raise ValueError(f"the known items have shape {tuple(known.shape[1:])}, this model's data "
                             f"{tuple(self.data_shape)}")
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(int(seed))
        known = known.to(self.device, torch.float32)
        noise = torch.randn(tuple(known.shape), generator=generator, device=self.device)
        steps = inpaint(self.diffusion, self.model() if model is None else model, known, mask.to(self.device),
                        num_steps=num_steps, spacing=spacing, jump_length=jump_length, jump_n_sample=jump_n_sample,
                        generator=generator, device=self.device, noise=noise)
        return ReverseProcess(noise, steps)

    def inpaint_items(self, known: np.ndarray, regenerate: np.ndarray,
                      num_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(known x_0 (N, *data_shape) in model space, mask broadcastable to it, 1 = known; M58's m) from one item
        as people give it: images uint8 (H, W, C) or (H, W) with a bool (H, W) mask of the pixels to REGENERATE
        (x = 2 p / 255 - 1, MATH.md conventions); points (D,) in the data's coordinates with bool (D,) flags of the
        coordinates to regenerate.

        Raises:
            ValueError: an item or mask that does not have this model's shape.
        """
        regenerate = np.asarray(regenerate).astype(bool)
        if self.kind == "images":
            pixels = np.asarray(known)
            pixels = pixels[..., None] if pixels.ndim == 2 else pixels
            item = torch.from_numpy(pixels.astype(np.float32)).permute(2, 0, 1) / 127.5 - 1.0
            mask = torch.from_numpy(~regenerate).float()
            mask = mask[None, None] if mask.ndim == 2 else mask
        else:
            item = self.to_model_space(torch.from_numpy(np.asarray(known, np.float32)))
            mask = torch.from_numpy(~regenerate).float()
        if tuple(item.shape) != tuple(self.data_shape):
            raise ValueError(f"the item to inpaint has shape {tuple(item.shape)}, this model's data "
                             f"{tuple(self.data_shape)}")
        try:
            torch.broadcast_shapes(tuple(mask.shape), (1, *self.data_shape))
        except RuntimeError:
            raise ValueError(f"the mask has shape {tuple(regenerate.shape)}; it must cover the item "
                             f"{tuple(self.data_shape[1:]) if self.kind == 'images' else self.data_shape}") from None
        return item.expand(num_samples, *item.shape).clone(), mask

    def to_model_space(self, x: torch.Tensor) -> torch.Tensor:
        """The data's coordinates -> model space (the inverse of :meth:`to_data_space` inside the data's box):
        points standardised, (x - shift) / scale; images as they are (already in [-1, 1])."""
        x = torch.as_tensor(x, dtype=torch.float32)
        if self.kind == "points":
            assert self.shift is not None and self.scale is not None
            return (x - self.shift.float()) / self.scale.float()
        return x

    @property
    def num_classes(self) -> int | None:
        """K of a class-conditional run (M34), None for an unconditional one."""
        return self.config.model.num_classes

    def guided(self, model: nn.Module, labels: torch.Tensor, guidance: float | torch.Tensor) -> GuidedModel:
        """``model`` (a FloatOutput of the network) under classifier-free guidance towards ``labels`` (M34)."""
        num_classes = self.num_classes
        if not num_classes:
            raise GuidanceError("this run is unconditional (trained without --conditional); it takes no class")
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
            raise GuidanceError(f"classes must lie in 0..{num_classes - 1}, got {labels.tolist()[:8]}")
        if not torch.is_tensor(guidance):
            check_guidance(guidance)
        return GuidedModel(model, labels.to(self.device), guidance, num_classes,
                           learned_variance=self.config.diffusion.variance == "learned")

    def sample_final(self, num_samples: int, **kwargs) -> torch.Tensor:
        """Run :meth:`sample` to the end; the final x_0 in model space, on the CPU."""
        return run_to_end(self.sample(num_samples, **kwargs)).x.detach().cpu()

    def to_data_space(self, x: torch.Tensor) -> torch.Tensor:
        """Model space -> the data's coordinates: points un-standardised; images clamped to [-1, 1]."""
        x = x.detach().cpu().float()
        if self.kind == "points":
            assert self.shift is not None and self.scale is not None
            return x * self.scale + self.shift
        return x.clamp(-1.0, 1.0)

    def to_saved_array(self, x: torch.Tensor) -> np.ndarray:
        """What files hold: points in the data's coordinates (float32 (N, D)); images as uint8 (N, H, W, C)."""
        if self.kind == "points":
            return self.to_data_space(x).numpy().astype(np.float32)
        return self.to_uint8(x)

    def to_uint8(self, x: torch.Tensor) -> np.ndarray:
        """Images in model space (N, C, H, W) -> uint8 pixels (N, H, W, C) (MATH.md x = 2 p / 255 - 1)."""
        pixels = ((x.detach().cpu().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return pixels.permute(0, 2, 3, 1).numpy().copy()


def data_shape_from_meta(meta: dict) -> tuple[int, ...]:
    shape = meta.get("data_shape")
    if not isinstance(shape, list) or not shape or not all(isinstance(s, int) and s > 0 for s in shape):
        raise RunError(f"checkpoint metadata has no valid data shape (got {shape!r})")
    return tuple(shape)


def load_network_state(net: nn.Module, tensors: dict[str, torch.Tensor], prefix: str, source: str) -> None:
    """Copy ``prefix``-ed tensors into ``net``, refusing missing, extra or mis-shaped tensors by name."""
    own = net.state_dict()
    given = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    missing = sorted(set(own) - set(given))
    extra = sorted(set(given) - set(own))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) such as {missing[0]!r}")
        if extra:
            parts.append(f"{len(extra)} unexpected tensor(s) such as {extra[0]!r}")
        raise RunError(f"{source} does not fit this model: {'; '.join(parts)}")
    for name, value in given.items():
        if tuple(value.shape) != tuple(own[name].shape):
            raise RunError(
                f"{source} does not fit this model: {prefix}{name} has shape {tuple(value.shape)}, "
                f"the model expects {tuple(own[name].shape)}"
            )
    net.load_state_dict(given)


def load_run_config(run_dir: str | os.PathLike[str]) -> RunConfig:
    """The validated :class:`RunConfig` of a run folder (:class:`RunError` naming the bad field)."""
    raw = read_config(run_dir)
    try:
        return RunConfig.from_dict(raw)
    except ConfigError as exc:
        raise RunError(f"{Path(run_dir) / 'config.json'}: {exc}") from None


def load_pipeline(run_dir: str | os.PathLike[str], device: str | torch.device = "cpu") -> DiffusionPipeline:
    """The EMA weights of a run folder's newest loadable checkpoint, ready to sample.

    Raises:
        RunError: not a run folder, no checkpoint yet, only damaged checkpoints, or a checkpoint that does not
            match the config.
    """
    from ddpm_studio.core.device import resolve_device

    config = load_run_config(run_dir)
    path, tensors, meta = load_latest_checkpoint(run_dir)
    kind = meta.get("kind")
    if kind not in ("points", "images"):
        raise RunError(f"{path.name}: unknown data kind {kind!r} in the checkpoint")
    data_shape = data_shape_from_meta(meta)
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    try:
        net = build_model(
            config.model.preset,
            data_shape,
            learned_variance=config.diffusion.variance == "learned",
            dropout=config.model.dropout,
            fourier_bands=config.model.fourier_bands,
            num_classes=config.model.num_classes,
        )
    except ValueError as exc:
        raise RunError(f"{run_dir}: {exc}") from None
    load_network_state(net, tensors, "ema.", path.name)
    net = net.to(dev).eval().requires_grad_(False)
    shift = tensors.get("data.shift") if kind == "points" else None
    scale = tensors.get("data.scale") if kind == "points" else None
    if kind == "points" and (shift is None or scale is None):
        raise RunError(f"{path.name} lacks the data standardisation (data.shift / data.scale)")
    low, high = tensors.get("data.x0_low"), tensors.get("data.x0_high")
    x0_range = (low, high) if kind == "points" and low is not None and high is not None else None
    try:
        diffusion = build_process(config, kind, x0_range)
    except ValueError as exc:
        raise RunError(f"{path.name}: {exc}") from None
    return DiffusionPipeline(
        config=config,
        diffusion=diffusion,
        network=net,
        kind=kind,
        data_shape=data_shape,
        device=dev,
        shift=shift,
        scale=scale,
        step=int(meta.get("step", 0)),
    )
