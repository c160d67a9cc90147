"""The record every sampler yields, one per network evaluation, and the helpers they share.

A sampler is a generator of :class:`SampleStep` records (the improved-diffusion ``p_sample_loop_progressive``
pattern): a progress bar, the studio or a test consumes the trajectory without the sampler knowing who listens.
Records hold the live tensors; a consumer that keeps them must copy.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ddpm_studio.core.process.schedule import ve_sigma

if TYPE_CHECKING:
    from ddpm_studio.core.process.diffusion import GaussianDiffusion, Model


@dataclass(frozen=True)
class SampleStep:
    """One network evaluation of a sampler and the state it leads to.

    Attributes:
        t: the ORIGINAL 0-based trained timestep the network was fed at this evaluation.
        x: the state after this record, shape (B, ...), in the DDPM scale x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps
            (Heun's variance-exploding state is multiplied back by sqrt(abar)); the last record holds x_0.
        x0_hat: the network's estimate of the clean sample at this evaluation (clipped as the process clips),
            shape (B, ...).
        index: 0 for the first record (the evaluation at x_T) up to num_steps - 1 (the one that gives x_0).
        num_steps: how many records (= network evaluations) this run yields in all.
        nfe: network evaluations spent so far, this one included (every sampler yields one record per
            evaluation, so nfe = index + 1; presenters should read nfe, not count records).
        abar: abar of the noise level the state ``x`` sits at (1.0 once x is x_0), so that runs on different
            grids can be aligned by noise level; see :attr:`sigma`.
        t_next: the 0-based trained timestep whose abar the state has, -1 once x is x_0.
        predictor: True on Heun's first evaluation of a corrected step: ``x`` is then the Euler predictor at the
            next noise level (Karras et al. 2022, Alg. 1), which the following record (the corrector, at the same
            abar) replaces. False everywhere else.
    """

    t: int
    x: torch.Tensor
    x0_hat: torch.Tensor
    index: int
    num_steps: int
    nfe: int = 0
    abar: float = math.nan
    t_next: int = -1
    predictor: bool = False

    @property
    def t_state(self) -> int:
        """The PAPER timestep of the state ``x`` (MATH.md conventions): ``t_next + 1``, 0 once x is x_0.

        This is what a trajectory's ``t`` means in every file and view
        (:mod:`ddpm_studio.core.sampling.trajectory_file`): the
        time of the picture shown, as ``abar`` is its noise level. x_T itself, before any record, is at T.
        """
        return self.t_next + 1

    @property
    def sigma(self) -> float:
        """The state's noise level in the variance-exploding form, sigma = sqrt((1 - abar) / abar) (M24)."""
        return float(ve_sigma(self.abar)) if self.abar > 0 else math.inf


def run_to_end(steps: Iterator[SampleStep]) -> SampleStep:
    """Consume a sampler and return its last record (the one holding x_0)."""
    last = None
    for last in steps:  # noqa: B007 - only the final record is wanted
        pass
    if last is None:
        raise ValueError("the sampler produced no steps")
    return last


def denoise(
    diffusion: GaussianDiffusion, model: Model, x: torch.Tensor, tau: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One network evaluation at trained timestep ``tau``: (x0_hat, eps_hat), each like x of shape (B, ...).

    x0_hat and eps_hat come from the process's own parameterization (M7-M10) through ``p_mean_variance``, so
    the process's x0_hat clipping applies and a learned variance is ignored (only the mean channels matter).
    Call under ``torch.no_grad()``.
    """
    t = torch.full((x.shape[0],), tau, dtype=torch.long, device=x.device)
    out = diffusion.p_mean_variance(model(x, t), x, t)
    return out["x0_hat"], out["eps_hat"]


def abar_at(diffusion: GaussianDiffusion, tau: int | None) -> float:
    """abar of trained timestep ``tau`` (0-based) as a float; None stands for the clean end, abar = 1."""
    return 1.0 if tau is None else float(diffusion.alphas_cumprod[tau])


def descending(taus: list[int]) -> Iterator[tuple[int, int, int, int | None]]:
    """The skeleton every one-evaluation-per-step sampler walks: ``(index, i, tau, t_next)`` from the noisiest
    grid point down, with ``tau = taus[i]`` the timestep fed to the network at record ``index`` and ``t_next`` the
    trained timestep the step lands on (``taus[i - 1]``; None for the last step, to the clean end)."""
    for index, i in enumerate(reversed(range(len(taus)))):
        yield index, i, taus[i], taus[i - 1] if i > 0 else None


def step_record(
    diffusion: GaussianDiffusion, taus: list[int], index: int, tau: int, t_next: int | None, x: torch.Tensor,
    x0_hat: torch.Tensor,
) -> SampleStep:
    """The :class:`SampleStep` of a sampler that spends one evaluation per step on grid ``taus``: the state ``x``
    sits at ``t_next`` (abar = 1 and t_next = -1 at the clean end)."""
    return SampleStep(
        t=tau,
        x=x,
        x0_hat=x0_hat,
        index=index,
        num_steps=len(taus),
        nfe=index + 1,
        abar=abar_at(diffusion, t_next),
        t_next=-1 if t_next is None else t_next,
    )
