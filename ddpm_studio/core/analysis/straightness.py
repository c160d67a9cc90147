"""How straight a sampler's paths are, on the linear path's clock (MATH.md M55; Liu et al. 2022, Sec. 2.2).

Straightness S = integral_0^1 E || (x_1 - x_0) - dx_t/dt ||^2 dt / D: the mean squared gap, per dimension, between
the velocity along a path and the straight line from its noise x_1 to its end x_0; 0 for straight paths, which
one Euler step follows exactly. It is measured on the path's states: a flow's Euler trajectory (whose chords
are the network's velocities) or a DDPM ODE trajectory moved onto the linear clock by M49
(x~ = x / (alpha + sigma), t~ = sigma / (alpha + sigma)), so one number compares both processes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: Steps of the trajectory straightness is measured on: fine enough that chords are the velocities (M55).
STRAIGHTNESS_STEPS = 100
STRAIGHTNESS_SAMPLES = 1000


@dataclass(frozen=True)
class Straightness:
    """S of M55 with what it was measured on."""

    value: float
    num_samples: int
    num_steps: int
    method: str

    def to_dict(self) -> dict:
        return {"straightness": self.value, "straightness_samples": self.num_samples,
                "straightness_steps": self.num_steps, "straightness_method": self.method}


def trajectory_straightness(states: Sequence[torch.Tensor], times: Sequence[float]) -> float:
    """M55 on one batch of paths: states x at the linear-clock times ``times`` (descending from the noise end).

    Args:
        states: K + 1 tensors (B, ...), states[0] the noise end, states[-1] the samples x_0.
        times: K + 1 floats, descending, times[-1] = 0.
    Returns:
        sum_i dt_i E||(x_start - x_end) - (x_i - x_{i+1}) / dt_i||^2 / (D sum_i dt_i), a float.
    """
    if len(states) != len(times) or len(states) < 2:
        raise ValueError(f"straightness needs K + 1 >= 2 states and as many times, got {len(states)} and "
                         f"{len(times)}")
    start, end = states[0].double(), states[-1].double()
    span = float(times[0]) - float(times[-1])
    # the straight line from the start at times[0] to the end at times[-1] has this constant velocity (per unit t)
    line = (start - end) / span
    total = 0.0
    for (a, b), (ta, tb) in zip(zip(states[:-1], states[1:]), zip(times[:-1], times[1:])):
        dt = float(ta) - float(tb)
        if dt <= 0:
            raise ValueError("straightness needs strictly descending times")
        chord = (a.double() - b.double()) / dt
        total += dt * float((line - chord).pow(2).flatten(1).mean(dim=1).mean())
    return total / span


def run_straightness(pipeline, num_samples: int = STRAIGHTNESS_SAMPLES, num_steps: int = STRAIGHTNESS_STEPS,
                     seed: int = 0) -> Straightness:
    """M55 for a run: a flow's Euler paths, or a DDPM run's DDIM (probability-flow ODE) paths on the linear clock.

    Both start from the seed's N(0, I) draw, in model space.
    """
    flow = pipeline.is_flow
    method = "euler" if flow else "ddim"
    steps = num_steps if flow else min(num_steps, pipeline.diffusion.num_timesteps)
    run = pipeline.sample(num_samples, num_steps=steps, method=method, seed=seed)
    first = True
    states, times = [], []
    for record in run:
        if first:
            # x_T's noise level is that of the first evaluation: t = 1 (abar = 0) for a flow
            abar0 = 0.0 if flow else float(pipeline.diffusion.alphas_cumprod[record.t])
            state, time = linear_clock(run.x_T, abar0, flow)
            states.append(state)
            times.append(time)
            first = False
        state, time = linear_clock(record.x, record.abar, flow)
        states.append(state)
        times.append(time)
    return Straightness(trajectory_straightness(states, times), num_samples, steps, method)


def linear_clock(x: torch.Tensor, abar: float, flow: bool) -> tuple[torch.Tensor, float]:
    """A state on the linear path's clock (M49): (x~, t~), with abar the VP abar of the state's signal-to-noise
    ratio (every record carries it).

    A DDPM state x = alpha x_0 + sigma eps (alpha = sqrt(abar), sigma = sqrt(1 - abar)) maps to x / (alpha + sigma)
    at t~ = sigma / (alpha + sigma). A flow state is already on that path; t~ = sigma / (alpha + sigma) is then its
    own t (alpha and sigma are (1 - t, t) divided by one common factor).
    """
    alpha, sigma = math.sqrt(abar), math.sqrt(max(1.0 - abar, 0.0))
    x = x.detach().cpu()
    return (x if flow else x / (alpha + sigma)), sigma / (alpha + sigma)
