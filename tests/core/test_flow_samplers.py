"""The flow's samplers against the exact flow map of Gaussian data (MATH.md M52, M54).

For data N(m, s^2) on the linear path the ODE carries x_1 to m + s x_1 exactly (M54), so each sampler's error is
measured against a closed form, and its order is the slope of the error between K and 2K evaluations.
"""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_studio.core.process.flow import EPS_TARGET_T_MAX, RectifiedFlow
from ddpm_studio.core.sampling import run_to_end, sample
from ddpm_studio.core.sampling.flow import FLOW_METHODS, flow_grid, intervals_for

M, S = 0.3, 0.5


def gaussian_oracle(target: str):
    """The exact network of N(M, S^2) data for ``target``, from E[x0 | x_t] (an independent closed form, M54)."""

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        t = t[:, None].to(x.dtype)
        var = (1 - t) ** 2 * S * S + t * t
        if target == "velocity":  # M54's u* written out, not through the path's conversions
            return (t - (1 - t) * S * S) / var * (x - (1 - t) * M) - M
        x0 = M + (1 - t) * S * S / var * (x - (1 - t) * M)
        return x0 if target == "x0" else (x - (1 - t) * x0) / t

    return RectifiedFlow(target=target), model


@pytest.fixture
def x1() -> torch.Tensor:
    return torch.randn(256, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def endpoint_error(target: str, method: str, num_steps: int, x1: torch.Tensor) -> float:
    flow, model = gaussian_oracle(target)
    out = run_to_end(sample(flow, model, tuple(x1.shape), num_steps=num_steps, method=method, noise=x1)).x
    return float((out - (M + S * x1)).pow(2).mean().sqrt())


@pytest.mark.parametrize("target", ["velocity", "x0"])
@pytest.mark.parametrize("method, order", [("euler", 1.0), ("heun", 2.0), ("midpoint", 2.0)])
def test_each_ode_sampler_converges_at_its_order(target: str, method: str, order: float, x1) -> None:
    errors = [endpoint_error(target, method, k, x1) for k in (16, 32, 64)]
    slopes = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert all(s > order - 0.15 for s in slopes), (errors, slopes)
    assert errors[-1] < (2e-2 if order == 1 else 1e-3)


def test_dpm_solver_on_the_linear_path_converges(x1) -> None:
    errors = [endpoint_error("velocity", "dpmpp_2m", k, x1) for k in (8, 32, 128)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[-1] < 1e-3


def test_the_eps_target_reaches_the_floor_of_its_start(x1) -> None:
    """The eps target starts at t = 0.999 (x_0 is undefined at t = 1): a floor of about that 1e-3, not more."""
    assert endpoint_error("eps", "heun", 64, x1) < 2 * (1 - EPS_TARGET_T_MAX)
    assert endpoint_error("eps", "euler", 64, x1) < 2e-2


def test_the_stochastic_sampler_has_the_data_marginal() -> None:
    flow, model = gaussian_oracle("velocity")
    g = torch.Generator().manual_seed(3)
    x = run_to_end(sample(flow, model, (20000, 1), num_steps=100, method="dpmpp_2m_sde", generator=g)).x
    # N(M, S^2): 20,000 draws put the mean within 4 standard errors and the std within 3 %
    assert abs(float(x.mean()) - M) < 4 * S / math.sqrt(20000)
    assert abs(float(x.std()) / S - 1) < 0.03


@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize("num_steps", [1, 2, 3, 4, 7])
def test_every_method_spends_exactly_its_budget(method: str, num_steps: int, x1) -> None:
    flow, model = gaussian_oracle("velocity")
    calls = []

    def counted(x, t):
        calls.append(float(t[0]))
        return model(x, t)

    records = list(sample(flow, counted, tuple(x1.shape), num_steps=num_steps, method=method, noise=x1,
                          generator=torch.Generator().manual_seed(0)))
    assert len(calls) == num_steps == len(records)
    assert [r.nfe for r in records] == list(range(1, num_steps + 1))
    assert records[-1].t_state == 0 and records[-1].abar == 1.0
    assert all(0.0 < t <= 1.0 for t in calls)  # the network never sees t = 0, where x0 from x is exact anyway


def test_grids_descend_from_one_to_zero() -> None:
    for spacing in ("linspace", "shift"):
        grid = flow_grid(10, spacing)
        assert grid[0] == 1.0 and grid[-1] == 0.0
        assert all(a > b for a, b in zip(grid, grid[1:]))
    # SD3's shift spends more of the grid at high noise: its midpoint sits above 1/2
    assert flow_grid(2, "shift")[1] == pytest.approx(3 * 0.5 / (1 + 2 * 0.5))
    assert intervals_for("heun", 5) == 3 and intervals_for("heun", 4) == 3 and intervals_for("midpoint", 5) == 3


def test_ddpm_and_flow_samplers_refuse_each_other() -> None:
    from ddpm_studio.core.process.diffusion import GaussianDiffusion
    from ddpm_studio.core.process.schedule import make_betas

    flow, model = gaussian_oracle("velocity")
    with pytest.raises(ValueError, match="DDPM sampler"):
        sample(flow, model, (4, 2), num_steps=4, method="ancestral")
    ddpm = GaussianDiffusion(make_betas("linear", 100))
    with pytest.raises(ValueError, match="flow sampler"):
        sample(ddpm, lambda x, t: x, (4, 2), num_steps=4, method="euler")


def test_straightness_is_zero_for_straight_paths_and_the_closed_form_for_gaussian_data() -> None:
    """M55: point-mass data gives straight paths (S = 0); N(0, 1) data gives x_t = sqrt(V_t) x_1, whose
    straightness is integral_0^1 ((2t - 1) / sqrt(V_t))^2 dt (V_t = (1 - t)^2 + t^2), integrated here by scipy."""
    from scipy.integrate import quad

    from ddpm_studio.core.analysis.straightness import trajectory_straightness
    from ddpm_studio.core.sampling.flow import euler, flow_grid

    x1 = torch.randn(4000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    grid = flow_grid(400)

    def paths(model):
        states = [x1] + [r.x for r in euler(RectifiedFlow(), model, x1, grid)]
        return trajectory_straightness(states, grid)

    point = 0.7  # u*(x, t) = (x - point) / t for data all at one point: straight lines to it
    assert paths(lambda x, t: (x - point) / t[:, None]) < 1e-12
    gaussian = paths(lambda x, t: (t[:, None] - (1 - t[:, None])) / ((1 - t[:, None]) ** 2 + t[:, None] ** 2) * x)
    exact, _ = quad(lambda t: (2 * t - 1) ** 2 / ((1 - t) ** 2 + t * t), 0, 1)
    assert gaussian == pytest.approx(exact * float(x1.pow(2).mean()), rel=0.02)


@pytest.mark.parametrize("method", ["heun", "midpoint", "dpmpp_2m"])
def test_the_same_samplers_solve_flow_matching_on_ddpms_vp_path(method, x1) -> None:
    """One sampler package for both paths: on the cosine VP path the Gaussian's ODE also ends at M + S x_1, with
    E[x0 | x_t] = M + alpha S^2 / V (x - alpha M), V = alpha^2 S^2 + sigma^2 (the same closed form, M54)."""
    from ddpm_studio.core.process.flow import make_flow

    flow = make_flow("vp_cosine", target="x0")

    def model(x, t):
        a, s = flow.path.alpha(t)[:, None].to(x.dtype), flow.path.sigma(t)[:, None].to(x.dtype)
        return M + a * S * S / (a * a * S * S + s * s) * (x - a * M)

    def error(k: int) -> float:
        out = run_to_end(sample(flow, model, tuple(x1.shape), num_steps=k, method=method, noise=x1)).x
        return float((out - (M + S * x1)).pow(2).mean().sqrt())

    errors = [error(k) for k in (16, 64)]
    assert errors[1] < errors[0] / 4 and errors[1] < 1e-2, errors
