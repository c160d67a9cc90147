"""Samplers of the flow ODE dx/dt = u(x, t) from x_1 ~ N(0, I) at t = 1 to x_0 at t = 0 (MATH.md M52, M53).

Euler (order 1), Heun (the trapezoid, order 2) and the midpoint rule (order 2) step in t on a descending grid;
DPM-Solver++(2M) and its SDE variant step in the half log-SNR with the update every Gaussian path shares
(:func:`~ddpm_studio.core.sampling.dpm_solver.dpmpp_update`, M27-M29). Each yields one
:class:`~ddpm_studio.core.sampling.steps.SampleStep` per network evaluation, as DDPM's samplers do; records put
times on the integer clock of :data:`~ddpm_studio.core.process.flow.FLOW_TICKS` and ``abar`` is the VP abar of the
state's signal-to-noise ratio (M49), so presenters and races read flow runs as they read DDPM runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from ddpm_studio.core import choices
from ddpm_studio.core.process.flow import FlowModel, GaussianFlow, time_tick
from ddpm_studio.core.sampling.dpm_solver import dpmpp_update, multistep_x0
from ddpm_studio.core.sampling.steps import SampleStep

#: The flow's samplers (labels and help: :data:`ddpm_studio.core.choices.FLOW_METHODS`).
FLOW_METHODS: tuple[str, ...] = choices.names(choices.FLOW_METHODS)
FLOW_METHOD_HELP: dict[str, str] = {choice.name: choice.help for choice in choices.FLOW_METHODS}
#: Time grids of the flow's samplers: uniform in t, or SD3's shift t' = s t / (1 + (s - 1) t) (M52).
FLOW_SPACINGS: tuple[str, ...] = choices.names(choices.FLOW_SPACINGS)
#: SD3's shift s for the "shift" grid (Esser et al. 2024 use 3.0 at 1024 px; a larger s spends more steps at high
#: noise).
FLOW_SHIFT = 3.0
#: Methods whose result is a function of x_1 alone.
FLOW_DETERMINISTIC: tuple[str, ...] = tuple(m.name for m in choices.FLOW_METHODS if m.deterministic)


def flow_grid(num_intervals: int, spacing: str = "linspace", t_max: float = 1.0) -> list[float]:
    """The descending times t_0 = t_max > t_1 > ... > t_N = 0 of ``num_intervals`` = N steps (M52).

    "linspace" is uniform in t; "shift" maps each uniform time u through s u / (1 + (s - 1) u) (SD3, s = 3).
    """
    if spacing not in FLOW_SPACINGS:
        raise ValueError(f"the flow's time grid must be one of {', '.join(FLOW_SPACINGS)}, got {spacing!r}")
    if num_intervals < 1:
        raise ValueError(f"a flow sampler needs at least one step, got {num_intervals}")
    grid = []
    for i in range(num_intervals + 1):
        u = t_max * (num_intervals - i) / num_intervals
        if spacing == "shift":
            u = FLOW_SHIFT * u / (1.0 + (FLOW_SHIFT - 1.0) * u)
        grid.append(u)
    grid[0], grid[-1] = t_max, 0.0
    return grid


def intervals_for(method: str, num_evals: int) -> int:
    """How many time steps ``method`` takes with ``num_evals`` network evaluations (M52).

    Euler and the DPM-Solvers spend one evaluation per step. Heun corrects every step but the last one (to t = 0,
    an Euler step: Karras et al. 2022, Alg. 1) and, for an even budget, the first one: K = 2N - 1 (odd K) or
    2N - 2 (even K). The midpoint rule spends two per step, an odd budget one more Euler step at the start.
    """
    if num_evals < 1:
        raise ValueError(f"a flow sampler needs at least one network evaluation, got {num_evals}")
    if method == "heun":
        return (num_evals + 1) // 2 if num_evals % 2 else num_evals // 2 + 1
    if method == "midpoint":
        return max(num_evals // 2 + num_evals % 2, 1)
    return num_evals


def _velocity(flow: GaussianFlow, model: FlowModel, x: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One network evaluation at time t: (velocity, x0_hat), each like x (B, ...) (M48)."""
    times = torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device)
    out = flow.predict(model(x, times), x, times)
    return out["velocity"], out["x0_hat"]


class _Recorder:
    """Builds the records of one run: nfe counting and the integer clock of the state's time."""

    def __init__(self, flow: GaussianFlow, num_evals: int) -> None:
        self.flow = flow
        self.num_evals = num_evals
        self.nfe = 0

    def __call__(self, t_eval: float, x: torch.Tensor, x0_hat: torch.Tensor, t_state: float,
                 predictor: bool = False) -> SampleStep:
        self.nfe += 1
        abar = 1.0 if t_state <= 0.0 else float(self.flow.path.vp_alpha_bar(torch.tensor(t_state, dtype=torch.float64)))
        return SampleStep(t=time_tick(t_eval), x=x, x0_hat=x0_hat, index=self.nfe - 1, num_steps=self.num_evals,
                          nfe=self.nfe, abar=abar, t_next=time_tick(t_state) - 1, predictor=predictor)


def euler(flow: GaussianFlow, model: FlowModel, x: torch.Tensor, grid: list[float]) -> Iterator[SampleStep]:
    """x_{i+1} = x_i + (t_{i+1} - t_i) u(x_i, t_i) (M52); x: x_1 (B, ...)."""
    record = _Recorder(flow, len(grid) - 1)
    for t, t_next in zip(grid[:-1], grid[1:]):
        with torch.no_grad():
            u, x0_hat = _velocity(flow, model, x, t)
            x = x + (t_next - t) * u
        yield record(t, x, x0_hat, t_next)


def heun(flow: GaussianFlow, model: FlowModel, x: torch.Tensor, grid: list[float],
         num_evals: int) -> Iterator[SampleStep]:
    """The trapezoid on the flow ODE (M52): predictor x' = x + h u(x, t), corrector x + h (u + u(x', t')) / 2.

    The step to t = 0 is not corrected, and with an even ``num_evals`` neither is the first one
    (:func:`intervals_for`). The predictor's record has ``predictor=True``, as in DDPM's Heun.
    """
    record = _Recorder(flow, num_evals)
    last = len(grid) - 2
    euler_first = num_evals % 2 == 0 and last > 0
    for i, (t, t_next) in enumerate(zip(grid[:-1], grid[1:])):
        with torch.no_grad():
            u, x0_hat = _velocity(flow, model, x, t)
            x_euler = x + (t_next - t) * u
        if i == last or (i == 0 and euler_first):
            x = x_euler
            yield record(t, x, x0_hat, t_next)
            continue
        yield record(t, x_euler, x0_hat, t_next, predictor=True)
        with torch.no_grad():
            u_next, x0_next = _velocity(flow, model, x_euler, t_next)
            x = x + (0.5 * (t_next - t)) * (u + u_next)
        yield record(t_next, x, x0_next, t_next)


def midpoint(flow: GaussianFlow, model: FlowModel, x: torch.Tensor, grid: list[float],
             num_evals: int) -> Iterator[SampleStep]:
    """x_{i+1} = x_i + h u(x_i + (h / 2) u(x_i, t_i), t_i + h / 2) (M52); an odd ``num_evals`` makes the first
    step an Euler step. The half-step state's record is a predictor (at the midpoint's time)."""
    record = _Recorder(flow, num_evals)
    euler_first = num_evals % 2 == 1
    for i, (t, t_next) in enumerate(zip(grid[:-1], grid[1:])):
        h = t_next - t
        with torch.no_grad():
            u, x0_hat = _velocity(flow, model, x, t)
        if i == 0 and euler_first:
            with torch.no_grad():
                x = x + h * u
            yield record(t, x, x0_hat, t_next)
            continue
        t_mid = t + 0.5 * h
        with torch.no_grad():
            x_mid = x + (0.5 * h) * u
        yield record(t, x_mid, x0_hat, t_mid, predictor=True)
        with torch.no_grad():
            u_mid, x0_mid = _velocity(flow, model, x_mid, t_mid)
            x = x + h * u_mid
        yield record(t_mid, x, x0_mid, t_next)


def dpmpp_2m_flow(flow: GaussianFlow, model: FlowModel, x: torch.Tensor, grid: list[float], stochastic: bool,
                  generator: torch.Generator | None) -> Iterator[SampleStep]:
    """DPM-Solver++(2M) / SDE-DPM-Solver++(2M) on the flow's path (M53): its alpha_t, sigma_t in M27-M29 (alpha =
    1 - t, sigma = t on the linear path).

    The first step starts where alpha = 0 (lambda = -inf, h = inf), where the update is x' = sigma' x + alpha' D
    (ODE) or alpha' D + sigma' z (SDE); the last, to t = 0, returns x0_hat (lower order final, as for DDPM).
    """
    record = _Recorder(flow, len(grid) - 1)
    x0_prev: torch.Tensor | None = None
    h_prev = math.nan
    for t, t_next in zip(grid[:-1], grid[1:]):
        with torch.no_grad():
            _, x0_hat = _velocity(flow, model, x, t)
            if t_next <= 0.0:
                h = math.inf
                x = x0_hat
            else:
                (a, s), (a_next, s_next) = _scales(flow, t), _scales(flow, t_next)
                h = _half_log_snr(a_next, s_next) - _half_log_snr(a, s)
                d = multistep_x0(x0_hat, x0_prev, h, h_prev)
                x = dpmpp_update(x, d, a_next, s_next, s, h, stochastic, generator)
        x0_prev, h_prev = x0_hat, h
        yield record(t, x, x0_hat, t_next)


def _scales(flow: GaussianFlow, t: float) -> tuple[float, float]:
    """(alpha_t, sigma_t) of the flow's path as floats (float64 arithmetic)."""
    time = torch.tensor(t, dtype=torch.float64)
    return float(flow.path.alpha(time)), float(flow.path.sigma(time))


def _half_log_snr(alpha: float, sigma: float) -> float:
    """lambda = log(alpha / sigma); -inf where alpha = 0 (the linear path's t = 1)."""
    return -math.inf if alpha <= 0.0 else math.log(alpha / sigma)


def sample_flow(
    flow: GaussianFlow,
    model: FlowModel,
    x: torch.Tensor,
    num_steps: int,
    method: str = "euler",
    spacing: str = "linspace",
    generator: torch.Generator | None = None,
) -> Iterator[SampleStep]:
    """The flow's sampler ``method`` from x_1 = ``x`` (B, ...) with ``num_steps`` network evaluations (M52, M53)."""
    if method not in FLOW_METHODS:
        raise ValueError(f"a flow run samples with {', '.join(FLOW_METHODS)}; {method!r} is a DDPM sampler"
                         if method in ("ancestral", "ddim") else
                         f"the flow's sampling method must be one of {', '.join(FLOW_METHODS)}, got {method!r}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"a flow sampler needs a positive number of network evaluations, got {num_steps!r}")
    grid = flow_grid(intervals_for(method, num_steps), spacing, flow.t_max)
    if method == "euler":
        return euler(flow, model, x, grid)
    if method == "heun":
        return heun(flow, model, x, grid, num_steps)
    if method == "midpoint":
        return midpoint(flow, model, x, grid, num_steps)
    return dpmpp_2m_flow(flow, model, x, grid, method == "dpmpp_2m_sde", generator)
