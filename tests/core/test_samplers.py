"""Few-step samplers (MATH.md M24-M29) against closed forms for Gaussian data, and against diffusers.

For data x_0 ~ N(mu, s^2) (independently per dimension) the optimal network is known exactly, and so is where the
probability-flow ODE takes any x_T; a deterministic solver's x_0 must converge to that point at the solver's order.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas
from ddpm_studio.core.sampling import (
    METHODS,
    SampleStep,
    karras_timesteps,
    max_num_steps,
    method_timesteps,
    respaced_timesteps,
    run_to_end,
    sample,
    timesteps_for,
    trailing_timesteps,
)
from ddpm_studio.core.sampling.spacing import karras_sigmas, sigmas_of

MU = torch.tensor([1.5, -0.5], dtype=torch.float64)  # data mean, per dimension
S = torch.tensor([0.5, 2.0], dtype=torch.float64)  # data standard deviation, per dimension
NFES = (5, 10, 20, 40)


@pytest.fixture(scope="module")
def linear() -> GaussianDiffusion:
    return GaussianDiffusion(make_betas("linear", 1000))


def optimal_eps(diffusion: GaussianDiffusion, mu: torch.Tensor = MU, s: torch.Tensor = S):
    """E[eps | x_t] for x_0 ~ N(mu, s^2): sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar)."""
    table = diffusion.alphas_cumprod

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = table.to(x.device)[t].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        m, v = mu.to(x), (s * s).to(x)
        return (1 - a).sqrt() * (x - a.sqrt() * m) / (a * v + 1 - a)

    return model


def optimal_model(diffusion: GaussianDiffusion):
    """The optimal eps model rewritten as this process's parameterization's output (M7-M10), plus a garbage u
    channel block under a learned variance (the ODE solvers must ignore it)."""
    eps_model = optimal_eps(diffusion)
    table = diffusion.alphas_cumprod

    def model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = eps_model(x, t)
        a = table.to(x.device)[t].to(x.dtype).view(-1, 1)
        x0 = (x - (1 - a).sqrt() * eps) / a.sqrt()
        out = {
            "eps": eps,
            "x0": x0,
            "v": a.sqrt() * eps - (1 - a).sqrt() * x0,
        }.get(diffusion.parameterization)
        if out is None:  # mean: mu~_t(x0, x_t) of M6
            out = diffusion.q_posterior(x0, x, t)[0]
        if diffusion.variance == "learned":
            out = torch.cat([out, torch.full_like(out, 0.3)], dim=1)
        return out

    return model


def pf_ode_endpoint(diffusion: GaussianDiffusion, x_T: torch.Tensor) -> torch.Tensor:
    """Where the probability-flow ODE takes x_T (at 0-based t = T - 1), for x_0 ~ N(mu, s^2): derivation.

    Write x_t = alpha x_0 + sigma eps (alpha = sqrt(abar), sigma = sqrt(1 - abar)) in the variance-exploding form
    y = x_t / alpha = x_0 + c eps with c = sigma / alpha (M24). Then y ~ N(mu, s^2 + c^2) and the optimal denoiser
    is the Gaussian posterior mean D(y; c) = E[x_0 | y] = mu + s^2 / (s^2 + c^2) (y - mu). The probability-flow
    ODE in this form (Karras et al. 2022 eq. 4 with s(t) = 1, sigma(t) = t) is

        dy/dc = (y - D(y; c)) / c = (y - mu) c / (s^2 + c^2),

    linear in u = y - mu: d log u / dc = c / (s^2 + c^2), so log u = 0.5 log(s^2 + c^2) + const and

        u(c) = u(c_a) sqrt((s^2 + c^2) / (s^2 + c_a^2))        for any two noise levels c, c_a.

    Every sampler starts at y_T = x_T / alpha_{T-1}, c_max = c_{T-1}, and ends at the lowest TRAINED level
    c_min = c_0 (0-based t = 0, paper t = 1) with the jump to the clean end that returns the denoiser's output
    there (the network is never evaluated below t = 0). So the exact endpoint they converge to is

        x_0* = D(y(c_min); c_min) = mu + (x_T / alpha_{T-1} - mu) s^2 / (sqrt(s^2 + c_min^2) sqrt(s^2 + c_max^2)).

    (As c_min -> 0 this is mu + s (x_T - alpha mu) / sqrt(alpha^2 s^2 + sigma^2): the ODE maps the standardised
    x_T to the standardised x_0.)
    """
    abar = diffusion.alphas_cumprod
    c_max, c_min = math.sqrt((1 - abar[-1]) / abar[-1]), math.sqrt((1 - abar[0]) / abar[0])
    y_T = x_T / math.sqrt(abar[-1])
    return MU + (y_T - MU) * S * S / (torch.sqrt(S * S + c_min**2) * torch.sqrt(S * S + c_max**2))


def final_x(diffusion, model, x_T, **kwargs) -> torch.Tensor:
    return run_to_end(sample(diffusion, model, tuple(x_T.shape), noise=x_T, **kwargs)).x


def x_T_points(count: int = 256, seed: int = 0) -> torch.Tensor:
    return torch.randn(count, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------------------- convergence order
@pytest.mark.parametrize(
    "method, spacing, order",
    [
        ("ddim", "linspace", 1.0),
        ("ddim", "karras", 1.0),
        ("heun", "linspace", 2.0),
        ("heun", "karras", 2.0),
        ("dpmpp_2m", "karras", 2.0),
    ],
)
def test_deterministic_solver_converges_to_the_pf_ode_endpoint_at_its_order(linear, method, spacing, order):
    """RMS error of x_0 against :func:`pf_ode_endpoint` at 5, 10, 20, 40 NFE; log-log slope over 10-40 NFE.

    5 NFE is not yet in the asymptotic range (one or two steps span sigma = 157 down to ~1), so it is only required
    to be the largest error but the slope is fitted on the finer three. DPM-Solver++(2M) is second order in the
    lambda steps: on the linspace-in-t grid the last step (t = 0 to T/K) spans a lambda step that shrinks only
    like log K, which holds its measured slope near 1.5 in this range; the Karras grid refines every lambda step.
    """
    x_T = x_T_points()
    exact = pf_ode_endpoint(linear, x_T)
    model = optimal_eps(linear)
    errors = [
        (final_x(linear, model, x_T, num_steps=k, method=method, spacing=spacing) - exact).pow(2).mean().sqrt().item()
        for k in NFES
    ]
    slope = -np.polyfit(np.log(NFES[1:]), np.log(errors[1:]), 1)[0]
    assert errors[1] > errors[2] > errors[3], errors
    # Heun on Karras starts at sigma_T = 157 with an Euler interval (M24, M26): at 5 NFE that leaves one corrected
    # step and its error (0.68) ties the 10-NFE one (0.69), both pre-asymptotic
    assert errors[0] >= 0.95 * max(errors) or method == "dpmpp_2m", errors
    assert slope == pytest.approx(order, abs=0.3), (slope, errors)


def test_dpmpp_2m_beats_ddim_at_equal_nfe_on_the_karras_grid(linear):
    """At 10 NFE on linspace it does not (measured: RMS 0.28 against DDIM's 0.24 here): the step from t = T/K to
    t = 0 is a lambda step 5x the one before it, and the multistep extrapolation D = (1 + 1/2r) x0_i - 1/2r x0_{i-1}
    with r = 0.2 overshoots. From 20 NFE on linspace, and at every NFE on Karras, it wins."""
    x_T = x_T_points()
    exact = pf_ode_endpoint(linear, x_T)
    model = optimal_eps(linear)

    def error(k, method, spacing):
        return (final_x(linear, model, x_T, num_steps=k, method=method, spacing=spacing) - exact).pow(2).mean().sqrt()

    for k in (5, 10, 20, 40):
        assert error(k, "dpmpp_2m", "karras") < error(k, "ddim", "karras") / 1.5
    for k in (20, 40):
        assert error(k, "dpmpp_2m", "linspace") < error(k, "ddim", "linspace")


# ---------------------------------------------------------------------------- parameterizations and variances
@pytest.mark.parametrize("method", ["ddim", "dpmpp_2m", "heun", "dpmpp_2m_sde", "ancestral"])
@pytest.mark.parametrize("param", ["x0", "v", "mean"])
def test_every_parameterization_gives_the_same_samples(method, param):
    """The same optimal model in eps / x0 / v / mean form (and with a learned variance's extra channels, which the
    ODE solvers ignore) gives the same samples from the same x_T and noise stream."""
    betas = make_betas("linear", 200)
    reference = GaussianDiffusion(betas)
    variance = "learned" if method != "ancestral" else "fixed_large"
    other = GaussianDiffusion(betas, parameterization=param, variance=variance, decoder="gaussian")
    x_T = x_T_points(64)
    kwargs = dict(num_steps=15, method=method, spacing="karras")
    a = final_x(reference, optimal_model(reference), x_T, generator=torch.Generator().manual_seed(5), **kwargs)
    b = final_x(other, optimal_model(other), x_T, generator=torch.Generator().manual_seed(5), **kwargs)
    torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("method", ["dpmpp_2m", "heun", "dpmpp_2m_sde"])
def test_x0_hat_is_clipped_as_the_process_clips(method):
    """clip_x0: every record's x0_hat lies in [-1, 1], and so does x_0 (the last step returns x0_hat)."""
    d = GaussianDiffusion(make_betas("linear", 100), clip_x0=True)
    records = list(sample(d, optimal_eps(d), (64, 2), num_steps=9, method=method, noise=3 * x_T_points(64)))
    assert all(r.x0_hat.abs().max() <= 1.0 for r in records)
    assert records[-1].x.abs().max() <= 1.0
    unclipped = GaussianDiffusion(make_betas("linear", 100))
    raw = run_to_end(sample(unclipped, optimal_eps(d), (64, 2), num_steps=9, method=method, noise=3 * x_T_points(64)))
    assert raw.x.abs().max() > 1.5  # the data (mean 1.5) does leave the box: the clip did something


@pytest.mark.parametrize("method", METHODS)
def test_images_sample_elementwise_like_points(method):
    """(B, C, H, W) samples of an elementwise model equal the same numbers sampled as (B*C*H*W, 1) points."""
    d = GaussianDiffusion(make_betas("cosine", 100))
    mu, s = torch.tensor([0.2], dtype=torch.float64), torch.tensor([0.4], dtype=torch.float64)
    model = optimal_eps(d, mu, s)
    x_T = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    kw = dict(num_steps=8, method=method)
    if method in ("ancestral", "dpmpp_2m_sde"):  # per-step noise would be drawn in another layout
        images = final_x(d, model, x_T, **kw)
        assert images.shape == x_T.shape and torch.isfinite(images).all()
        return
    images = final_x(d, model, x_T, **kw)
    points = final_x(d, model, x_T.reshape(-1, 1), **kw)
    torch.testing.assert_close(images.reshape(-1, 1), points)


def test_sde_solver_samples_the_data_distribution():
    """SDE-DPM-Solver++(2M) at 50 NFE on the Karras grid: the law of x_0 is N(mu, s^2); the same seed repeats it.

    (On linspace it needs about 100 NFE for the same accuracy: measured std 0.585 for s = 0.5 at 50 NFE.)
    """
    d = GaussianDiffusion(make_betas("linear", 1000))

    def draw():
        generator = torch.Generator().manual_seed(3)
        steps = sample(d, optimal_eps(d), (20_000, 2), 50, "dpmpp_2m_sde", generator=generator, spacing="karras")
        return run_to_end(steps).x

    x = draw()
    torch.testing.assert_close(x.mean(0).double(), MU, atol=0.04, rtol=0)
    torch.testing.assert_close(x.std(0).double(), S, atol=0, rtol=0.04)
    torch.testing.assert_close(x, draw())


def test_sde_solver_first_order_step_is_ddim_with_eta_one():
    """M29 with D = x0_hat is the posterior q(x_t | x_u, x0_hat) of M6 over the jump: with K = 2 (a first-order
    step, then the jump to x0_hat) it equals DDIM at eta = 1 drawing the same noise."""
    d = GaussianDiffusion(make_betas("linear", 1000))
    x_T = x_T_points(64)
    for spacing in ("linspace", "trailing"):
        kw = dict(num_steps=2, spacing=spacing)
        sde = final_x(d, optimal_eps(d), x_T, method="dpmpp_2m_sde", generator=torch.Generator().manual_seed(6), **kw)
        ddim = final_x(d, optimal_eps(d), x_T, method="ddim", eta=1.0, generator=torch.Generator().manual_seed(6), **kw)
        torch.testing.assert_close(sde, ddim, rtol=1e-9, atol=1e-9)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method", METHODS)
def test_cuda_sampling_matches_cpu(method):
    """Every method runs on the GPU; the deterministic ones give the CPU's numbers from the same x_T."""
    d = GaussianDiffusion(make_betas("linear", 1000))
    x_T = torch.randn(512, 2, generator=torch.Generator().manual_seed(2))
    kw = dict(num_steps=20, method=method, spacing="karras")
    gpu = final_x(d, optimal_eps(d), x_T.cuda(), generator=torch.Generator("cuda").manual_seed(1), **kw)
    assert gpu.device.type == "cuda" and torch.isfinite(gpu).all()
    if method in ("ddim", "dpmpp_2m", "heun"):
        cpu = final_x(d, optimal_eps(d), x_T, **kw)
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------- records and NFE
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("num_steps", [1, 2, 7, 12])
@pytest.mark.parametrize("spacing", ["linspace", "trailing", "karras", "logsnr"])
def test_records_count_network_evaluations(method, num_steps, spacing):
    T = 60
    d = GaussianDiffusion(make_betas("cosine", T))
    fed: list[int] = []

    def model(x, t):
        fed.append(int(t[0]))
        return torch.zeros_like(x)

    records: list[SampleStep] = list(sample(d, model, (3, 2), num_steps=num_steps, method=method, spacing=spacing))
    assert len(fed) == num_steps == len(records)
    assert [r.t for r in records] == fed
    assert [r.nfe for r in records] == list(range(1, num_steps + 1))
    assert [r.index for r in records] == list(range(num_steps))
    assert all(r.num_steps == num_steps for r in records)
    assert records[0].t == T - 1  # every method and spacing starts at paper t = T, where x_T is drawn (M26)
    abar = d.alphas_cumprod
    assert records[-1].abar == 1.0 and records[-1].t_next == -1 and records[-1].sigma == 0.0
    for r in records[:-1]:
        assert r.abar == float(abar[r.t_next])  # the state's noise level is a trained timestep's exactly
        assert r.sigma == pytest.approx(math.sqrt((1 - r.abar) / r.abar))
    levels = [r.abar for r in records]
    assert levels == sorted(levels)  # noise only goes down
    assert set(fed) <= set(method_timesteps(method, abar, num_steps, spacing))
    predictors = [r for r in records if r.predictor]
    if method == "heun":
        # N levels, N intervals: the last is Euler, and so are the first one (even K) or two (odd K), M24;
        # each other interval has one predictor record, and 2 (N - 1 - E) + E + 1 = K
        euler = 0 if num_steps == 1 else 1 + num_steps % 2
        assert len(predictors) == (num_steps - euler - 1) // 2
        for p, nxt in zip(records, records[1:]):
            if p.predictor:
                assert not nxt.predictor and nxt.abar == p.abar and nxt.t == p.t_next
    else:
        assert not predictors


def test_a_seed_gives_every_method_the_same_x_T():
    """The first record's input is x_T: check it through a model that remembers what it was fed."""
    d = GaussianDiffusion(make_betas("linear", 50))
    seen: dict[str, torch.Tensor] = {}
    for method in METHODS:

        def model(x, t, method=method):
            seen.setdefault(method, x.clone())
            return torch.zeros_like(x)

        run_to_end(sample(d, model, (4, 2), num_steps=6, method=method, generator=torch.Generator().manual_seed(9)))
    for method in METHODS:
        torch.testing.assert_close(seen[method], seen["ancestral"])


# ---------------------------------------------------------------------------- spacings
def test_linspace_is_todays_respacing(linear):
    for k in (1, 5, 37, 1000):
        assert timesteps_for("linspace", linear.alphas_cumprod, k) == respaced_timesteps(1000, k)


def test_trailing_starts_at_T_and_steps_T_over_K():
    assert trailing_timesteps(1000, 10) == [99, 199, 299, 399, 499, 599, 699, 799, 899, 999]
    assert trailing_timesteps(1000, 3) == [332, 666, 999]  # round(1000/3) - 1, round(2000/3) - 1, T - 1
    assert trailing_timesteps(7, 7) == list(range(7))
    for k in (1, 3, 7, 64, 333):
        steps = trailing_timesteps(1000, k)
        assert steps[-1] == 999 and len(set(steps)) == k == len(steps) and steps == sorted(steps)


def test_karras_grid_follows_eq5_and_snaps_to_the_nearest_trained_sigma(linear):
    """Each point of eq. 5 goes to the trained t with the nearest log sigma (checked by brute force), where no two
    points share a t; the sampler then uses that t's exact abar (see test_records_count_network_evaluations)."""
    sig = sigmas_of(linear.alphas_cumprod)
    assert sig[-1] == pytest.approx(157.4, abs=0.1) and sig[0] == pytest.approx(0.0100, abs=1e-4)
    grid = karras_sigmas(80.0, sig[0], 12)  # sigma_max capped at Karras et al.'s 80 (sigma_T = 157 here)
    ramp = np.linspace(0, 1, 12)
    assert grid == pytest.approx((80.0 ** (1 / 7) + ramp * (sig[0] ** (1 / 7) - 80.0 ** (1 / 7))) ** 7)
    brute = sorted(min(range(1000), key=lambda t, g=g: abs(math.log(sig[t]) - math.log(g))) for g in grid[1:])
    assert karras_timesteps(linear.alphas_cumprod, 12) == [*brute, 999]  # the top point starts at x_T
    assert brute[0] == 0 and brute[-1] < 999


def test_karras_grid_on_the_cosine_schedule_spreads_over_the_noise_levels_that_matter():
    """sigma_T = 2e4 on the cosine schedule: uncapped, 13 of 20 points fell in t >= 987; capped at 80, the grid
    has at least as many points below sigma = 1 as the linear schedule's (where the detail is decided)."""
    cosine = GaussianDiffusion(make_betas("cosine", 1000))
    sig = sigmas_of(cosine.alphas_cumprod)
    assert sig[-1] > 1e4
    steps = karras_timesteps(cosine.alphas_cumprod, 20)
    assert steps[-1] == 999 and steps[0] == 0 and len(set(steps)) == 20
    assert sum(t >= 987 for t in steps) <= 3
    below_one = sum(sig[t] < 1.0 for t in steps)
    linear_sig = sigmas_of(GaussianDiffusion(make_betas("linear", 1000)).alphas_cumprod)
    linear_steps = karras_timesteps(GaussianDiffusion(make_betas("linear", 1000)).alphas_cumprod, 20)
    assert below_one >= sum(linear_sig[t] < 1.0 for t in linear_steps) >= 7


@pytest.mark.parametrize("k", [2, 20, 100, 400, 1000])
def test_karras_timesteps_are_distinct_monotone_and_span_the_schedule(linear, k):
    steps = karras_timesteps(linear.alphas_cumprod, k)
    assert len(steps) == k and all(a < b for a, b in zip(steps, steps[1:]))
    assert steps[0] == 0 and steps[-1] == 999


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_steps": 0, "method": "dpmpp_2m"}, r"dpmpp_2m can use 1\.\.50 network evaluations"),
        ({"num_steps": 51, "method": "ddim"}, r"1\.\.50"),
        ({"num_steps": 99, "method": "heun"}, r"heun can use 1\.\.98"),
        ({"num_steps": 2.5, "method": "heun"}, r"1\.\.98"),
        ({"method": "euler"}, "euler is a flow sampler"),
        ({"method": "rk4"}, "unknown sampling method 'rk4'"),
        ({"spacing": "leading"},
         "unknown timestep spacing 'leading'; choose one of linspace, trailing, karras, logsnr"),
    ],
)
def test_bad_settings_raise_a_clear_value_error(kwargs, match):
    d = GaussianDiffusion(make_betas("linear", 50))
    with pytest.raises(ValueError, match=match):
        sample(d, lambda x, t: x, (2, 2), **kwargs)


def test_heun_uses_up_to_2T_minus_2_evaluations():
    """T levels, the first interval Euler (M24): 2T - 2 evaluations, every level visited."""
    d = GaussianDiffusion(make_betas("cosine", 20))
    assert max_num_steps("heun", 20) == 38 and max_num_steps("dpmpp_2m", 20) == 20
    records = list(sample(d, optimal_eps(d), (4, 2), num_steps=38, method="heun"))
    assert len(records) == 38 and sorted({r.t for r in records}) == list(range(20))
    assert torch.isfinite(records[-1].x).all()


# ---------------------------------------------------------------------------- diffusers
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # diffusers on numpy 2
def test_dpmpp_2m_matches_diffusers_multistep_scheduler():
    """Same eps-model, same timesteps, same x_T through diffusers' DPMSolverMultistepScheduler (dpmsolver++,
    order 2, final sigma 0: first order on the last step) give the same x_0; the SDE variant with the same noise
    stream too."""
    diffusers = pytest.importorskip("diffusers")
    betas = make_betas("linear", 1000)
    d = GaussianDiffusion(betas)
    model = optimal_eps(d)
    x_T = torch.randn(128, 2, generator=torch.Generator().manual_seed(4))
    for method, algorithm in (("dpmpp_2m", "dpmsolver++"), ("dpmpp_2m_sde", "sde-dpmsolver++")):
        for spacing, k in (("linspace", 12), ("karras", 20), ("trailing", 7)):
            taus = timesteps_for(spacing, d.alphas_cumprod, k)
            theirs = diffusers_dpmpp_2m(diffusers, betas, taus, model, x_T, algorithm=algorithm,
                                        generator=torch.Generator().manual_seed(8))
            ours = final_x(d, model, x_T, num_steps=k, method=method, spacing=spacing,
                           generator=torch.Generator().manual_seed(8))
            torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def diffusers_dpmpp_2m(diffusers, betas: torch.Tensor, taus: list[int], model, x_T: torch.Tensor,
                       alphas_cumprod: torch.Tensor | None = None, algorithm: str = "dpmsolver++",
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """x_0 from diffusers' DPMSolverMultistepScheduler (``algorithm``, order 2, final sigma 0: first order on the
    last step) on ``taus``; with ``alphas_cumprod`` its abar table is replaced by that one before the sigmas are
    computed from it; ``generator`` draws the SDE variant's noise."""
    scheduler = diffusers.DPMSolverMultistepScheduler(
        num_train_timesteps=len(betas), trained_betas=betas.numpy(), algorithm_type=algorithm, solver_order=2,
        prediction_type="epsilon", final_sigmas_type="zero",
    )
    if alphas_cumprod is not None:
        scheduler.alphas_cumprod = alphas_cumprod.clone()
    scheduler.set_timesteps(timesteps=list(reversed(taus)))
    x = x_T.clone()
    for t in scheduler.timesteps:
        eps = model(x, torch.full((x.shape[0],), int(t), dtype=torch.long))
        x = scheduler.step(eps, t, x, generator=generator).prev_sample
    return x


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("spacing, k", [("karras", 20), ("linspace", 12)])
def test_dpmpp_2m_on_a_zero_network_lands_on_x_T_over_alpha_T_as_diffusers_does_with_the_same_abar(spacing, k):
    """The untrained U-Net outputs eps = 0 (its last convolution starts at zero), as benchmarks/solver_speed.py
    uses it. Then x0_hat = x_t / alpha_t is the same at every step, and M27/M28 with a constant x0_hat map x_t to
    (alpha_next / alpha_t) x_t exactly, so x_0 = x_T / sqrt(abar_{T-1}): about 2e4 x_T on the cosine schedule.
    diffusers lands on x_T / sqrt of ITS abar, a float32 cumulative product (ours is float64), 1.3e-5 lower at
    t = T - 1: that, magnified to samples of size 8e4, is the benchmark's 0.5 gap. Handed our abar table it
    agrees with ours to float32 rounding."""
    diffusers = pytest.importorskip("diffusers")
    betas = make_betas("cosine", 1000)
    d = GaussianDiffusion(betas, clip_x0=False)

    def zero(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    x_T = torch.randn(256, 2, generator=torch.Generator().manual_seed(4))
    exact = x_T.double() / d.alphas_cumprod[-1].sqrt()
    scale = float(exact.abs().max())
    assert scale > 1e4  # the magnification that turns float32 table rounding into visible differences

    def gap(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a.double() - b.double()).abs().max()) / scale

    taus = timesteps_for(spacing, d.alphas_cumprod, k)
    ours = final_x(d, zero, x_T, num_steps=k, method="dpmpp_2m", spacing=spacing)
    assert gap(ours, exact) < 2e-6
    theirs = diffusers_dpmpp_2m(diffusers, betas, taus, zero, x_T)
    their_abar = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=1000, trained_betas=betas.numpy())
    assert gap(theirs, x_T.double() / their_abar.alphas_cumprod[-1].double().sqrt()) < 2e-6
    assert gap(diffusers_dpmpp_2m(diffusers, betas, taus, zero, x_T, d.alphas_cumprod), ours) < 2e-6


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_trailing_matches_diffusers():
    diffusers = pytest.importorskip("diffusers")
    for k in (1, 3, 7, 10, 25, 64, 333):
        scheduler = diffusers.DPMSolverMultistepScheduler(num_train_timesteps=1000, timestep_spacing="trailing")
        scheduler.set_timesteps(k)
        assert sorted(int(t) for t in scheduler.timesteps) == trailing_timesteps(1000, k)


# ---------------------------------------------------------------------------- layering and settings
def test_the_process_never_imports_the_sampler():
    """core/process/diffusion.py stands alone; the sampler depends on it, never the reverse (no import cycle)."""
    import subprocess
    import sys

    code = (
        "import sys, ddpm_studio.core.process.diffusion as d; "
        "assert not [m for m in sys.modules if m.startswith('ddpm_studio.core.sampling')], 'sampling imported'; "
        "assert not hasattr(d.GaussianDiffusion, 'sample')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
