"""RePaint inpainting (Lugmayr et al. 2022, Algorithm 1): fill the unknown part of x_0 with the reverse process,
the known part re-noised to each step's level (M57) and pasted in (M58), with the paper's resampling jumps (M59).

The reverse process is ancestral sampling (M20) on the K-point grid of M21 (any spacing), so a 1000-step model
inpaints in a few dozen network evaluations on a CPU. The schedule of grid positions is the paper's
(``get_schedule_jump`` of the RePaint code with ``n_sample = 1`` and no second or third jump level):
:func:`repaint_schedule`.

What "known" means:

- **images**: a pixel mask, 1 where the pixel is kept from the known image, 0 where it is regenerated;
- **2-D points**: a mask over the coordinates, e.g. (1, 0) keeps x and regenerates y, so the samples are draws of
  y given x (the studio's 2-D inpainting: a vertical line through the plane, and the model fills in where along
  it the data lies). For a perfect denoiser this is the exact conditional p(y | x) as K, r grow.

A flow run has no ancestral step and no q(x_t | x_{t-1}) of the same form: it is refused with
:data:`FLOW_REFUSAL` (one message, shown by the studio and the CLI).

Every network evaluation yields one :class:`~ddpm_studio.core.sampling.steps.SampleStep`, as every sampler does,
so the trajectory store and the timestep slider work unchanged; the forward jumps cost no evaluation and are not
records of their own (the state after the next evaluation shows them: its noise level is higher than the one
before). ``num_steps`` of the records is the number of evaluations, which resampling multiplies.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion, Model
from ddpm_studio.core.sampling.ancestral import _respaced_mean_variance, respace
from ddpm_studio.core.sampling.steps import SampleStep, abar_at

#: The paper's defaults are jump length L = 10 and r = 10 resamplings on T = 250 (2,410 evaluations, ~ r T). The
#: studio runs on a respaced grid of a few dozen points on a CPU, and the cost is about r times a plain run's
#: (K + (r - 1) L ceil((K - L) / L)): r = 3 trades some of what resampling buys (quality rises with r and L in the
#: paper's ablation) for CPU seconds: 140 evaluations for K = 50, seconds for 16 digits. With fewer resamplings
#: each jump goes further back: L = 5 of 50 grid points is a tenth of the grid (the paper's 10 of 250 is 4 %), so
#: the known part's information reaches deeper into the unknown one per jump. r = 1 is RePaint without resampling.
DEFAULT_JUMP_LENGTH = 5
DEFAULT_JUMP_N_SAMPLE = 3
#: What a flow run is told (the studio's message box, the CLI's error line).
FLOW_REFUSAL = ("inpainting (RePaint, M57-M59) re-noises the known part with DDPM's q(x_t | x_0) and steps back with "
                "its ancestral sampler; this is a flow run: train a DDPM run to inpaint")


def repaint_schedule(num_steps: int, jump_length: int = DEFAULT_JUMP_LENGTH,
                     jump_n_sample: int = DEFAULT_JUMP_N_SAMPLE) -> list[int]:
    """The paper's time schedule on K grid points: the positions the state visits, from K - 1 (x_T) to -1 (x_0).

    A step to a lower position is a reverse step (one network evaluation, M20 + M57 + M58); a step to a higher
    one is a forward jump q(x_{i+1} | x_i) (M59). Every ``jump_length``-th position j = 0, L, 2L, ... below
    K - L is a jump point: each time the state reaches j it goes back up L positions, ``jump_n_sample - 1``
    times in all, then goes on down. Position i is the state x at grid point i (fed to the network at
    ``taus[i]``); -1 is x_0. This is RePaint's ``get_schedule_jump(t_T=K, n_sample=1, jump_length,
    jump_n_sample)``.

    Counts (tested): ``n_jump = ceil((K - L) / L)`` jump points (0 for L >= K), ``(r - 1) L n_jump`` forward steps
    and K + that many reverse steps (network evaluations); T = 250, L = 10, r = 10: 2,160 and 2,410.

    Raises:
        ValueError: K, L or r below 1.
    """
    for name, value in (("number of steps", num_steps), ("jump length", jump_length),
                        ("resampling count", jump_n_sample)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"RePaint's {name} must be a positive integer, got {value!r}")
    jumps = {j: jump_n_sample - 1 for j in range(0, num_steps - jump_length, jump_length)}
    t = num_steps - 1
    times = [t]
    while t >= 0:
        t -= 1
        times.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump_length):
                t += 1
                times.append(t)
    return times


def repaint_evaluations(num_steps: int, jump_length: int = DEFAULT_JUMP_LENGTH,
                        jump_n_sample: int = DEFAULT_JUMP_N_SAMPLE) -> int:
    """Network evaluations of :func:`repaint_schedule`: its reverse steps, K + (r - 1) L ceil((K - L) / L)."""
    times = repaint_schedule(num_steps, jump_length, jump_n_sample)
    return sum(1 for a, b in zip(times, times[1:]) if b < a)


def forward_jump(x: torch.Tensor, abar_from: float, abar_to: float, z: torch.Tensor) -> torch.Tensor:
    """M59: one step up the chain, x' ~ q(x' | x) = N(sqrt(1 - beta') x, beta' I), beta' = 1 - abar_to / abar_from.

    On the respaced chain of M21 beta' is the chain's own beta'_{i+1}, so a state distributed as q(x_i | x_0) (M5)
    lands exactly on q(x_{i+1} | x_0). ``z`` ~ N(0, I) like x (B, ...).
    """
    beta = 1.0 - abar_to / abar_from
    return (1.0 - beta) ** 0.5 * x + beta**0.5 * z


def _masked(mask: torch.Tensor, known: torch.Tensor, unknown: torch.Tensor) -> torch.Tensor:
    """M58: m * known + (1 - m) * unknown (m in [0, 1], 1 = known)."""
    return mask * known + (1.0 - mask) * unknown


def repaint(
    diffusion: GaussianDiffusion,
    model: Model,
    x: torch.Tensor,
    known: torch.Tensor,
    mask: torch.Tensor,
    taus: list[int],
    jump_length: int = DEFAULT_JUMP_LENGTH,
    jump_n_sample: int = DEFAULT_JUMP_N_SAMPLE,
    generator: torch.Generator | None = None,
    known_generator: torch.Generator | None = None,
) -> Iterator[SampleStep]:
    """RePaint on the grid ``taus`` (M21): each reverse step is M20 for the unknown part, M57 for the known part,
    combined by M58; each forward jump is M59.

    The noise of the unknown part comes from ``generator`` in ancestral sampling's order (one draw per step, none
    at the last), so with an all-unknown mask and ``jump_n_sample = 1`` the samples are exactly
    :func:`~ddpm_studio.core.sampling.ancestral.ancestral`'s from the same x_T and generator. The known part's
    noise (M57) and the jumps' (M59) come from ``known_generator`` (a separate stream for that reason).

    Args:
        x: x_T, shape (B, ...).
        known: the known x_0 in model space, (B, ...) or broadcastable to it; only its masked part matters.
        mask: 1 where x_0 is known, 0 where it is regenerated, broadcastable to (B, ...) (e.g. (1, 1, H, W) for a
            pixel mask shared by every channel, (D,) for points).
        taus: ascending trained timesteps (K of them, any spacing; 0..T-1 is the full chain).
        jump_length, jump_n_sample: L and r of :func:`repaint_schedule` (r = 1: no resampling).
    Yields:
        one :class:`SampleStep` per network evaluation (:func:`repaint_evaluations` in all); ``x`` is the
        combined state, ``x0_hat`` the network's estimate in the unknown part and the known x_0 in the known part.
        The last record's x equals ``known`` exactly where the mask is 1.
    """
    K = len(taus)
    schedule = repaint_schedule(K, jump_length, jump_n_sample)
    total = sum(1 for a, b in zip(schedule, schedule[1:]) if b < a)
    full = taus == list(range(diffusion.num_timesteps))
    chain = diffusion if full else respace(diffusion, taus)
    # abar'_i of the chain (M21) as Python floats, abar' = 1 below position 0 (x_0 itself)
    abar = [abar_at(diffusion, tau) for tau in taus]
    batch = x.shape[0]
    mask = mask.to(device=x.device, dtype=x.dtype)
    known = known.to(device=x.device, dtype=x.dtype).expand_as(x)
    index = 0
    for here, there in zip(schedule, schedule[1:]):
        with torch.no_grad():
            if there > here:  # M59: the forward jump q(x_{i+1} | x_i)
                z = torch.randn(x.shape, generator=known_generator, device=x.device, dtype=x.dtype)
                x = forward_jump(x, abar[here] if here >= 0 else 1.0, abar[there], z)
                continue
            i = here
            t_model = torch.full((batch,), taus[i], dtype=torch.long, device=x.device)
            t_chain = torch.full((batch,), i, dtype=torch.long, device=x.device)
            output = model(x, t_model)
            if full:
                out = chain.p_mean_variance(output, x, t_chain)
            else:
                out = _respaced_mean_variance(diffusion, chain, output, x, t_model, t_chain)
            if i > 0:  # M20 for the unknown part
                z = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
                unknown = out["mean"] + torch.exp(0.5 * out["log_variance"]) * z
                # M57: the known part at the level the step lands on, q(x_{tau_{i-1}} | x_0), fresh noise each time
                a = abar[i - 1]
                eps = torch.randn(x.shape, generator=known_generator, device=x.device, dtype=x.dtype)
                known_t = a**0.5 * known + (1.0 - a) ** 0.5 * eps
            else:  # the last step lands on x_0: the mean, and the known x_0 itself
                unknown, known_t = out["mean"], known
            x = _masked(mask, known_t, unknown)  # M58
            x0_hat = _masked(mask, known, out["x0_hat"])
        yield SampleStep(t=taus[i], x=x, x0_hat=x0_hat, index=index, num_steps=total, nfe=index + 1,
                         abar=abar[i - 1] if i > 0 else 1.0, t_next=taus[i - 1] if i > 0 else -1)
        index += 1
