"""Schedules against the closed forms of MATH.md M1-M3."""

import math

import pytest
import torch

from ddpm_studio.core.process.schedule import make_betas


def test_linear_endpoints_at_T_1000():
    betas = make_betas("linear", 1000)
    assert betas.dtype == torch.float64 and betas.shape == (1000,)
    assert betas[0].item() == pytest.approx(1e-4, rel=1e-12)
    assert betas[-1].item() == pytest.approx(0.02, rel=1e-12)
    assert torch.all(betas[1:] > betas[:-1])


@pytest.mark.parametrize("T", [50, 100, 250, 4000])
def test_linear_scales_both_ends_by_1000_over_T(T):
    betas = make_betas("linear", T)
    assert betas[0].item() == pytest.approx(1e-4 * 1000 / T, rel=1e-12)
    assert betas[-1].item() == pytest.approx(0.02 * 1000 / T, rel=1e-12)
    # equal spacing
    diffs = betas[1:] - betas[:-1]
    assert torch.allclose(diffs, diffs[0].expand_as(diffs), rtol=1e-9)


@pytest.mark.parametrize("T", [10, 100, 1000])
def test_cosine_alpha_bar_matches_closed_form(T):
    betas = make_betas("cosine", T)
    abar = torch.cumprod(1 - betas, 0)
    s = 0.008

    def f(t):
        return math.cos(((t / T) + s) / (1 + s) * math.pi / 2) ** 2

    for t in range(1, T + 1):
        expected = f(t) / f(0)
        beta_expected = min(1 - (f(t) / f(0)) / (f(t - 1) / f(0)), 0.999)
        assert betas[t - 1].item() == pytest.approx(beta_expected, rel=1e-9, abs=1e-15)
        if beta_expected < 0.999:
            # abar is the running product: only exact until the first clipped beta
            assert abar[t - 1].item() == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_cosine_beta_is_clipped_at_0999():
    betas = make_betas("cosine", 1000)
    assert betas.max().item() == pytest.approx(0.999)
    assert (betas <= 0.999).all()


@pytest.mark.parametrize("name", ["linear", "cosine"])
def test_alpha_bar_T_is_near_zero(name):
    abar = torch.cumprod(1 - make_betas(name, 1000), 0)
    assert abar[-1].item() < 1e-4
    assert abar[0].item() > 0.99


def test_unknown_schedule_names_the_choices():
    with pytest.raises(ValueError, match="linear, cosine"):
        make_betas("quadratic", 100)


@pytest.mark.parametrize("T", [0, -3, 2.5])
def test_bad_step_counts_are_refused(T):
    with pytest.raises(ValueError, match="positive integer"):
        make_betas("cosine", T)


def test_linear_too_short_says_what_to_do():
    with pytest.raises(ValueError, match="cosine"):
        make_betas("linear", 10)
