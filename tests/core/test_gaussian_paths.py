"""One Gaussian-path core for DDPM and the flow (MATH.md M47-M49): targets, derivatives, the change of time."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.core.process.paths import TARGETS, CosineVPPath, LinearPath
from ddpm_studio.core.process.schedule import cosine_alpha_bar

PATHS = [LinearPath(), CosineVPPath()]


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(64, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(64, 3, generator=g, dtype=torch.float64)
    t = torch.rand(64, generator=g, dtype=torch.float64) * 0.98 + 0.01
    return x0, eps, t


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
@pytest.mark.parametrize("target", TARGETS)
def test_every_target_converts_back_to_x0_eps_and_velocity(path, target, batch) -> None:
    x0, eps, t = batch
    x_t = path.sample(x0, t, eps)
    output = path.target(target, x0, t, eps)
    torch.testing.assert_close(path.to_x0(target, output, x_t, t), x0)
    torch.testing.assert_close(path.to_eps(target, output, x_t, t), eps)
    torch.testing.assert_close(path.to_velocity(target, output, x_t, t), path.velocity(x0, t, eps))


def test_the_linear_paths_velocity_is_noise_minus_data(batch) -> None:
    x0, eps, t = batch
    torch.testing.assert_close(LinearPath().velocity(x0, t, eps), eps - x0)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_derivatives_match_finite_differences(path) -> None:
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    h = 1e-6
    torch.testing.assert_close(path.d_alpha(t), (path.alpha(t + h) - path.alpha(t - h)) / (2 * h))
    torch.testing.assert_close(path.d_sigma(t), (path.sigma(t + h) - path.sigma(t - h)) / (2 * h))


def test_the_cosine_vp_path_is_the_cosine_schedule_in_continuous_time() -> None:
    T = 1000
    k = torch.arange(0, T + 1, 50, dtype=torch.float64)
    path = CosineVPPath()
    torch.testing.assert_close(path.alpha(k / T) ** 2, cosine_alpha_bar(k, T))
    torch.testing.assert_close(path.alpha(k / T) ** 2 + path.sigma(k / T) ** 2, torch.ones_like(k))


def test_a_vp_state_is_a_scaled_linear_state_at_the_mapped_time(batch) -> None:
    """M49: x_VP / (alpha + sigma) = (1 - t~) x_0 + t~ eps with t~ = sigma / (alpha + sigma)."""
    x0, eps, t = batch
    vp, linear = CosineVPPath(), LinearPath()
    a, s = vp.alpha(t), vp.sigma(t)
    t_lin = linear.time_of_vp_state(a, s)
    torch.testing.assert_close(vp.sample(x0, t, eps) / (a + s)[:, None], linear.sample(x0, t_lin, eps))
    # both states have one signal-to-noise ratio, so one abar on DDPM's axis
    torch.testing.assert_close(linear.vp_alpha_bar(t_lin), a * a)


def test_an_unknown_target_is_refused(batch) -> None:
    x0, eps, t = batch
    with pytest.raises(ValueError, match="velocity, x0, eps"):
        LinearPath().target("score", x0, t, eps)
