"""Every number in docs/MATH.md that a formula or a code table gives is recomputed here (issue 27).

Each test reads the number out of the document's own text with a regex and recomputes it from the formula or the
code's constants and schedules, so a changed document and a changed formula both fail. Measured figures (Fréchet
distances, timings) live in benchmarks/RESULTS.md and are not recomputed here.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ddpm_studio.core.analysis.ideal import DEFAULT_CHUNK_BYTES
from ddpm_studio.core.analysis.memorization import COPY_RATIO
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas
from ddpm_studio.core.sampling.spacing import (
    KARRAS_RHO,
    KARRAS_SIGMA_MAX,
    distinct_ascending,
    karras_sigmas,
    nearest_timesteps,
    respaced_timesteps,
    sigmas_of,
    trailing_timesteps,
)

MATH = Path(__file__).resolve().parents[2] / "docs" / "MATH.md"


def section(number: int) -> str:
    """The text of entry **M<number> up to the next bold entry or heading (one equation's own prose)."""
    text = MATH.read_text(encoding="utf-8")
    start = re.search(rf"\*\*M{number}\b", text)
    assert start is not None, f"M{number} is not introduced in docs/MATH.md"
    end = re.compile(r"\*\*M\d{1,2}\b|^## ", re.M).search(text, start.end())
    return text[start.start() : end.start() if end else len(text)]


def number(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in ``text`` (whitespace in the pattern matches any run of it, line breaks too)."""
    match = re.search(pattern.replace(" ", r"\s+"), text)
    assert match is not None, f"docs/MATH.md no longer says {pattern!r}"
    return match.group(1)


def to_float(text: str) -> float:
    """'20{,}291', '1,533', '2e4' or '10^{-4}' as a float."""
    text = text.replace("{,}", "").replace(",", "")
    power = re.fullmatch(r"10\^\{?(-?\d+)\}?", text)
    return 10.0 ** int(power.group(1)) if power else float(text)


@pytest.fixture(scope="module")
def cosine() -> GaussianDiffusion:
    return GaussianDiffusion(make_betas("cosine", 1000))


@pytest.fixture(scope="module")
def linear() -> GaussianDiffusion:
    return GaussianDiffusion(make_betas("linear", 1000))


# ---------------------------------------------------------------------------- M25, M26: the spacings
def test_m25_trailing_example_and_its_lowest_timestep():
    """M25's worked example (T = 1000, K = 10): trailing's paper t and linspace's (M21) as printed."""
    text = section(25)
    T, K = (int(v) for v in re.search(r"for\s+T\s*=\s*(\d+)\s+and\s+K\s*=\s*(\d+)", text).groups())
    trailing = [int(v) for v in number(r"trailing visits t = ([\d, .]+?)(?:,? where)", text).replace(".", "")
                .replace(" ", "").split(",") if v]
    linspace = [int(v) for v in number(r"linspace visits ([\d, .]+?)\)", text).replace(".", "")
                .replace(" ", "").split(",") if v]
    paper_trailing = sorted((t + 1 for t in trailing_timesteps(T, K)), reverse=True)
    paper_linspace = [t + 1 for t in respaced_timesteps(T, K)]
    # the text shows the first two and the last (an ellipsis between): they must be the code's
    assert trailing == [*paper_trailing[:2], paper_trailing[-1]]
    assert linspace == [*paper_linspace[:2], *paper_linspace[-2:]]
    assert int(number(r"stops at t = round\(T / K\) = (\d+)", text)) == round(T / K) == paper_trailing[-1]


def test_m26_uncapped_cosine_grid_count_and_the_constants(cosine):
    """"a grid from there put N of 20 points in t = a..T": eq. 5 from the uncapped sigma_T, snapped (M26)."""
    text = section(26)
    assert float(number(r"rho = (\d+)", text)) == KARRAS_RHO
    assert float(number(r"min\(sigma_T, (\d+)\)", text)) == KARRAS_SIGMA_MAX
    sig = sigmas_of(cosine.alphas_cumprod)
    assert float(number(r"gives sigma_T = (\S+?), and", text)) == pytest.approx(sig[-1], rel=0.05)
    count, total, low, high = (int(v) for v in re.search(
        r"put\s+(\d+)\s+of\s+(\d+)\s+points\s+in\s+t\s*=\s*(\d+)\.\.(\d+)", text).groups())
    grid = karras_sigmas(float(sig[-1]), float(sig[0]), total)
    steps = nearest_timesteps(cosine.alphas_cumprod, grid)
    steps[0] = cosine.num_timesteps - 1  # the top moved to t = T, as karras_timesteps did before the cap
    paper = [t + 1 for t in distinct_ascending(steps, cosine.num_timesteps)]
    assert high == cosine.num_timesteps
    assert count == sum(low <= t <= high for t in paper)
    assert low - 1 not in paper  # the range starts at its lowest point, so the count names the whole cluster


# ---------------------------------------------------------------------------- M30, M31
def test_m30_schedule_numbers(linear):
    text = section(30)
    one_minus = to_float(number(r"\(\$1 - \\bar\\alpha_1 = ([^$]+)\$ on the linear", text))
    assert one_minus == pytest.approx(1.0 - float(linear.alphas_cumprod[0]), rel=1e-6)
    sigma_1000 = float(number(r"(\d\.\d+) on the linear schedule with \$T = 1000\$", text))
    sigma_50 = float(number(r"(\d\.\d+) with \$T = 50\$", text))
    assert sigma_1000 == pytest.approx(sigmas_of(linear.alphas_cumprod)[0], abs=5e-4)
    short = GaussianDiffusion(make_betas("linear", 50))
    assert sigma_50 == pytest.approx(sigmas_of(short.alphas_cumprod)[0], abs=5e-4)
    assert int(number(r"\((\d+) MiB by default\)", text)) * 2**20 == DEFAULT_CHUNK_BYTES


def test_m31_ratio_and_chance_level():
    text = section(31)
    assert number(r"r = \\tfrac(\d\d)", text) == "13" and COPY_RATIO == pytest.approx(1 / 3)
    assert number(r"\$(\d/\d)\$ for 2-D points", text) == "1/9" and COPY_RATIO**2 == pytest.approx(1 / 9)
    assert int(number(r"\$3\^\{-(\d+)\}", text)) == 16 * 16  # r^D with D = 16 x 16 pixels


# ---------------------------------------------------------------------------- M32: the ODE likelihood
def test_m32_linear_prior_mismatch(linear):
    """sqrt(abar_T) and the prior's mismatch: log N(x_T; 0, I) - log q_T(x_T) = -sqrt(abar_T) mu.z + O(abar_T)
    for N(mu, s^2) data, whose flow sends z = (x - mu) / s to x_T = sqrt(abar_T) mu + sqrt(v) z, so its size is
    sqrt(abar_T) |mu| |z| at most."""
    text = section(32)
    alpha_T = math.sqrt(float(linear.alphas_cumprod[-1]))
    stated = float(number(r"on the linear schedule \$\\sqrt\{\\bar\\alpha_T\} = (\d\.\d+)\$", text))
    assert stated == pytest.approx(alpha_T, abs=5e-6)
    coefficient = float(number(r"up to \$(\d\.\d+)\\,\|\\mu\|\\,\|z\|\$", text))
    mu, z, s = np.array([0.5, -0.3]), np.array([1.2, -0.7]), 0.7
    v = alpha_T**2 * s**2 + 1 - alpha_T**2
    x_T = alpha_T * mu + math.sqrt(v) * z
    mismatch = -0.5 * x_T @ x_T - (-0.5 * z @ z - math.log(v))  # log N(x_T; 0, I) - log N(x_T; a mu, v I), D = 2
    assert mismatch == pytest.approx(-alpha_T * mu @ z, rel=1e-2)
    assert coefficient == pytest.approx(alpha_T, abs=5e-5)


def test_m32_last_cosine_step_and_the_trapezoid_in_sigma(cosine):
    """The cosine schedule's last step sigma_{T-1} -> sigma_T, and what a trapezoid in sigma makes of it: where D is
    constant (div D = 0) the 2-D integrand is div eps = 2 / sigma, exact 2 log r, trapezoid (r - 1 / r) (r = the
    ratio)."""
    text = section(32)
    low, high = (to_float(v) for v in re.search(
        r"\$\\sigma = ([\d{},.]+) \\to ([\d{},.]+)\$".replace(" ", r"\s*"), text).groups())
    sig = sigmas_of(cosine.alphas_cumprod)
    assert low == pytest.approx(sig[-2], abs=0.5) and high == pytest.approx(sig[-1], abs=0.5)
    wrong = float(number(r"a trapezoid in \$\\sigma\$ is (\d+) nats wrong", text))
    r = sig[-1] / sig[-2]
    assert wrong == pytest.approx((r - 1 / r) - 2 * math.log(r), abs=0.5)


def test_m32_error_at_the_default_levels(cosine):
    """M32's stated error at the default K against the DOP853 reference (the same measurement as
    tests/core/test_ode_likelihood.py and benchmarks/ode_likelihood_error.py), and the cost 2K - 1."""
    from exact_models import GaussianMixtureEps, mixture_flow_log_density

    from ddpm_studio.core.analysis.ode_likelihood import ode_log_likelihood

    text = section(32)
    k = int(number(r"at the default \$K = (\d+)\$", text))
    bound = float(number(r"within \$(\d\.\d+)\$ nats per point", text))
    s = float(number(r"component std \$s = (\d\.\d+)\$", text))
    assert re.search(r"\$K\$\s+levels\s+cost\s+\$2K - 1\$\s+evaluations", text)
    means, stds, weights = torch.tensor([[-1.0, 0.0], [1.0, 0.0]]), torch.tensor([s, s]), torch.tensor([0.5, 0.5])
    gen = torch.Generator().manual_seed(0)
    comp = torch.randint(0, 2, (32,), generator=gen)
    x0 = (means[comp] + s * torch.randn(32, 2, generator=gen)).double()
    log_p = ode_log_likelihood(GaussianMixtureEps(cosine, means, stds, weights), cosine, x0, num_levels=k)
    reference = mixture_flow_log_density(x0, means, stds, weights, cosine.alphas_cumprod)
    assert float((log_p - reference).abs().mean()) < bound
