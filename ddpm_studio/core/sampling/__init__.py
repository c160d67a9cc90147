"""Reverse-process samplers as generators of steps: ancestral (M20, M21), DDIM (M22), DPM-Solver++(2M) (M27, M28),
its SDE variant (M29) and Heun on the probability-flow ODE (M24), on four timestep spacings (M21, M25, M26, M41).

Every sampler yields one :class:`SampleStep` per NETWORK EVALUATION, and ``num_steps`` counts evaluations for every
method, so runs with the same ``num_steps`` cost the same. The sampler depends on the process
(:mod:`ddpm_studio.core.process.diffusion`), never the reverse.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ddpm_studio.core import choices
from ddpm_studio.core.process.diffusion import GaussianDiffusion, Model
from ddpm_studio.core.process.flow import GaussianFlow
from ddpm_studio.core.sampling.ancestral import ancestral, respace
from ddpm_studio.core.sampling.ddim import ddim
from ddpm_studio.core.sampling.dpm_solver import dpmpp_2m
from ddpm_studio.core.sampling.flow import FLOW_METHODS, FLOW_SPACINGS, sample_flow
from ddpm_studio.core.sampling.heun import heun, heun_grid_size
from ddpm_studio.core.sampling.repaint import (
    DEFAULT_JUMP_LENGTH,
    DEFAULT_JUMP_N_SAMPLE,
    FLOW_REFUSAL,
    repaint,
    repaint_evaluations,
    repaint_schedule,
)
from ddpm_studio.core.sampling.spacing import (
    KARRAS_RHO,
    SPACING_HELP,
    SPACINGS,
    karras_timesteps,
    logsnr_timesteps,
    respaced_timesteps,
    timesteps_for,
    trailing_timesteps,
)
from ddpm_studio.core.sampling.steps import SampleStep, run_to_end

#: The methods' code names (labels, MATH.md numbers and help: :data:`ddpm_studio.core.choices.METHODS`).
METHODS: tuple[str, ...] = choices.names(choices.METHODS)
#: Methods whose result is a deterministic function of x_T (eta = 0 for DDIM).
DETERMINISTIC_METHODS: tuple[str, ...] = tuple(m.name for m in choices.METHODS if m.deterministic)
#: name -> one line of help, for ``--help``.
METHOD_HELP: dict[str, str] = {choice.name: choice.help for choice in choices.METHODS}
#: Network evaluations a flow run's sampler spends when none is asked for (DDPM's default is T).
DEFAULT_FLOW_STEPS = 50

__all__ = [
    "DEFAULT_FLOW_STEPS",
    "DEFAULT_JUMP_LENGTH",
    "DEFAULT_JUMP_N_SAMPLE",
    "DETERMINISTIC_METHODS",
    "FLOW_METHODS",
    "FLOW_SPACINGS",
    "KARRAS_RHO",
    "METHODS",
    "METHOD_HELP",
    "SPACINGS",
    "SPACING_HELP",
    "SampleStep",
    "check_num_steps",
    "inpaint",
    "karras_timesteps",
    "logsnr_timesteps",
    "max_num_steps",
    "method_timesteps",
    "repaint_evaluations",
    "repaint_schedule",
    "respace",
    "respaced_timesteps",
    "run_to_end",
    "sample",
    "timesteps_for",
    "trailing_timesteps",
]


def max_num_steps(method: str, num_timesteps: int) -> int:
    """The most network evaluations ``method`` can use on a T-step process.

    Every method needs distinct trained timesteps: K of them for one evaluation each, but Heun evaluates most
    levels of its grid twice, so it can use up to 2T - 2 (T levels, its first interval an Euler step, M24).
    """
    _check_method(method)
    return max(2 * num_timesteps - 2, 1) if method == "heun" else num_timesteps


def check_num_steps(method: str, num_timesteps: int, num_steps: int) -> int:
    """``num_steps`` if ``method`` can spend exactly that many evaluations with T = ``num_timesteps``, else a
    ValueError saying the allowed range."""
    top = max_num_steps(method, num_timesteps)
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= top:
        raise ValueError(
            f"{method} can use 1..{top} network evaluations with T = {num_timesteps} (the number of sampling "
            f"steps), got {num_steps!r}"
        )
    return num_steps


def method_timesteps(
    method: str, alphas_cumprod: torch.Tensor, num_steps: int, spacing: str = "linspace"
) -> list[int]:
    """The ascending trained timesteps ``method`` visits with ``num_steps`` evaluations on ``spacing``."""
    T = int(alphas_cumprod.shape[0])
    check_num_steps(method, T, num_steps)
    count = heun_grid_size(num_steps) if method == "heun" else num_steps
    return timesteps_for(spacing, alphas_cumprod, count)


def _check_method(method: str) -> None:
    choices.require("sampling method", method, choices.METHODS)


def sample(
    diffusion: GaussianDiffusion | GaussianFlow,
    model: Model,
    shape: tuple[int, ...],
    num_steps: int | None = None,
    method: str | None = None,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    noise: torch.Tensor | None = None,
    spacing: str = "linspace",
) -> Iterator[SampleStep]:
    """Run the reverse process from x_T ~ N(0, I), yielding one record per network evaluation.

    Args:
        diffusion: the trained process: a T-step :class:`GaussianDiffusion`, or a
            :class:`~ddpm_studio.core.process.flow.GaussianFlow` such as rectified flow (sampled by
            :mod:`.flow`'s ODE solvers, M52, M53).
        model: callable (x (B, ...), t LongTensor (B,)) -> output (like x, 2C channels under "learned"; the new
            solvers read only the mean channels); for a flow, (x, t float (B,) in [0, 1]) -> its target.
        shape: (B, ...) of the samples.
        num_steps: network evaluations K (None: T). Ancestral, DDIM and the DPM-Solvers take K <= T steps;
            Heun takes about K / 2 steps of two evaluations, K <= 2T - 2.
        method: one of :data:`METHODS` (see :data:`METHOD_HELP`), default "ancestral"; for a flow one of
            :data:`FLOW_METHODS`, default "euler" (K defaults to :data:`DEFAULT_FLOW_STEPS`).
        eta: DDIM's eta in [0, 1] (other methods ignore it).
        generator: torch RNG; x_T is drawn first, then the per-step noise, so every method started from one seed
            starts from the same x_T (and stochastic ones see the same noise stream).
        device: where to sample (default: ``noise``'s device, else the generator's, else CPU).
        noise: an explicit x_T of shape ``shape`` (overrides the drawn one; its dtype is kept).
        spacing: the timestep grid, one of :data:`SPACINGS` (see :data:`SPACING_HELP`); for a flow one of
            :data:`FLOW_SPACINGS`.
    Yields:
        :class:`SampleStep` records, exactly K of them, the last holding x_0.
    Raises:
        ValueError: an unknown method or spacing, K outside what the method can use, a bad eta or shape.
    """
    flow = isinstance(diffusion, GaussianFlow)
    if method is None:
        method = "euler" if flow else "ancestral"
    if flow:
        if spacing not in FLOW_SPACINGS:
            raise ValueError(f"a flow run's time grid is one of {', '.join(FLOW_SPACINGS)}, got {spacing!r}")
    else:
        if method in FLOW_METHODS and method not in METHODS:
            raise ValueError(f"{method} is a flow sampler; a DDPM run samples with {', '.join(METHODS)}")
        _check_method(method)
        choices.require("timestep spacing", spacing, choices.SPACINGS)
    if not 0.0 <= float(eta) <= 1.0 or eta != eta:
        raise ValueError(f"DDIM eta must lie in [0, 1], got {eta!r}")
    if len(shape) < 2 or any(int(s) < 1 for s in shape):
        raise ValueError(f"sample shape must be (B, ...) with positive sizes, got {tuple(shape)}")
    if flow:
        x = _start(shape, generator, device, noise)
        return sample_flow(diffusion, model, x, DEFAULT_FLOW_STEPS if num_steps is None else num_steps, method,
                           spacing, generator)
    steps = diffusion.num_timesteps if num_steps is None else num_steps
    taus = method_timesteps(method, diffusion.alphas_cumprod, steps, spacing)
    x = _start(shape, generator, device, noise)
    if method == "ancestral":
        return ancestral(diffusion, model, x, taus, generator)
    if method == "ddim":
        return ddim(diffusion, model, x, taus, float(eta), generator)
    if method == "heun":
        return heun(diffusion, model, x, taus, steps)
    return dpmpp_2m(diffusion, model, x, taus, stochastic=method == "dpmpp_2m_sde", generator=generator)


def inpaint(
    diffusion: GaussianDiffusion | GaussianFlow,
    model: Model,
    known: torch.Tensor,
    mask: torch.Tensor,
    num_steps: int | None = None,
    spacing: str = "linspace",
    jump_length: int = DEFAULT_JUMP_LENGTH,
    jump_n_sample: int = DEFAULT_JUMP_N_SAMPLE,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    noise: torch.Tensor | None = None,
    known_generator: torch.Generator | None = None,
) -> Iterator[SampleStep]:
    """RePaint (M57-M59): fill where ``mask`` is 0 so that the samples agree with ``known`` where it is 1.

    Args:
        known: x_0 in model space, (B, ...): the batch's shape; only the masked part is read.
        mask: 1 = known, 0 = regenerate, broadcastable to ``known`` (values in between blend, M58).
        num_steps: K grid points (None: T); the evaluations are :func:`repaint_evaluations` (K, L, r).
        spacing: the grid, one of :data:`SPACINGS`.
        jump_length, jump_n_sample: the paper's L and r (:func:`repaint_schedule`); r = 1: no resampling.
        generator: x_T first, then the unknown part's per-step noise (ancestral's order). known_generator: the
            known part's and the jumps' noise; None: a generator seeded from ``generator``'s seed + 1 (or the
            global RNG without one), so one seed fixes the whole run.
        device, noise: as :func:`sample`.
    Raises:
        ValueError: a flow process (:data:`FLOW_REFUSAL`), a mask that does not broadcast, a bad K, L or r.
    """
    if isinstance(diffusion, GaussianFlow):
        raise ValueError(FLOW_REFUSAL)
    choices.require("timestep spacing", spacing, choices.SPACINGS)
    shape = tuple(known.shape)
    if len(shape) < 2 or known.shape[0] < 1:
        raise ValueError(f"the known image must be a batch (B, ...), got shape {shape}")
    try:
        torch.broadcast_shapes(tuple(mask.shape), shape)
    except RuntimeError:
        raise ValueError(f"the mask's shape {tuple(mask.shape)} does not broadcast to the samples' {shape}") from None
    steps = diffusion.num_timesteps if num_steps is None else num_steps
    taus = method_timesteps("ancestral", diffusion.alphas_cumprod, steps, spacing)
    repaint_schedule(len(taus), jump_length, jump_n_sample)  # L and r checked before any work
    x = _start(shape, generator, device, noise)
    if known_generator is None and generator is not None:
        known_generator = torch.Generator(device=x.device).manual_seed(generator.initial_seed() + 1)
    return repaint(diffusion, model, x, known, mask, taus, jump_length, jump_n_sample, generator, known_generator)


def _start(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device | str | None,
           noise: torch.Tensor | None) -> torch.Tensor:
    """x_T: ``noise`` (checked against ``shape``) or a draw of N(0, I) from ``generator`` on ``device`` (default:
    the noise's device, else the generator's, else the CPU)."""
    if device is None:
        if noise is not None:
            device = noise.device
        else:
            device = generator.device if generator is not None else torch.device("cpu")
    if noise is not None:
        if tuple(noise.shape) != tuple(shape):
            raise ValueError(f"x_T has shape {tuple(noise.shape)}, expected {tuple(shape)}")
        return noise.to(device)
    return torch.randn(shape, generator=generator, device=device)
