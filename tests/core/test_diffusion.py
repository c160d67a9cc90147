"""GaussianDiffusion against closed forms and independent computations (MATH.md M4-M13, M18-M19)."""

import math

import pytest
import torch

from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas

T = 100
PARAMS = ["eps", "mean", "x0", "v"]


def loop_alpha_bar(betas):
    """abar_t by an explicit Python product, independent of torch.cumprod."""
    out, prod = [], 1.0
    for b in betas.tolist():
        prod *= 1.0 - b
        out.append(prod)
    return torch.tensor(out, dtype=torch.float64)


@pytest.fixture(params=["linear", "cosine"])
def betas(request):
    return make_betas(request.param, T)


def test_q_sample_exact_for_given_noise(betas):
    d = GaussianDiffusion(betas)
    ab = loop_alpha_bar(betas)
    x0 = torch.randn(6, 3, 4, 4, dtype=torch.float64)
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 1, 17, 50, 98, 99])
    got = d.q_sample(x0, t, noise)
    for i, ti in enumerate(t.tolist()):
        want = math.sqrt(ab[ti]) * x0[i] + math.sqrt(1 - ab[ti]) * noise[i]
        torch.testing.assert_close(got[i], want)


def test_q_sample_moments(betas):
    d = GaussianDiffusion(betas)
    ab = loop_alpha_bar(betas)
    n = 200_000
    x0 = torch.full((n, 1), 0.7, dtype=torch.float64)
    for ti in (0, 30, 99):
        xt = d.q_sample(x0, torch.full((n,), ti))
        assert xt.mean().item() == pytest.approx(math.sqrt(ab[ti]) * 0.7, abs=4e-3)
        assert xt.var().item() == pytest.approx(1 - ab[ti].item(), rel=2e-2, abs=1e-5)


def brute_force_posterior(betas, x0, xt, ti):
    """q(x_{t-1}|x_t,x0) ∝ q(x_t|x_{t-1}) q(x_{t-1}|x0): multiply the two Gaussians in x_{t-1} (paper t = ti+1)."""
    ab = loop_alpha_bar(betas)
    ab_prev = ab[ti - 1].item() if ti > 0 else 1.0
    a, b = 1 - betas[ti].item(), betas[ti].item()
    if ti == 0:
        return x0, 0.0
    prec = 1 / (1 - ab_prev) + a / b
    var = 1 / prec
    mean = var * (math.sqrt(ab_prev) * x0 / (1 - ab_prev) + math.sqrt(a) * xt / b)
    return mean, var


@pytest.mark.parametrize("ti", [0, 1, 2, 10, 57, 99])
def test_posterior_matches_product_of_gaussians(betas, ti):
    d = GaussianDiffusion(betas)
    x0 = torch.randn(4, 5, dtype=torch.float64)
    xt = torch.randn(4, 5, dtype=torch.float64)
    t = torch.full((4,), ti)
    mean, var, log_var = d.q_posterior(x0, xt, t)
    want_mean, want_var = brute_force_posterior(betas, x0, xt, ti)
    torch.testing.assert_close(mean, want_mean)
    assert var.flatten()[0].item() == pytest.approx(want_var, abs=1e-15)
    if ti == 0:  # beta~_1 = 0: its log is replaced by log beta~_2 (M6)
        _, want_var2 = brute_force_posterior(betas, x0, xt, 1)
        assert log_var.flatten()[0].item() == pytest.approx(math.log(want_var2))
    else:
        assert log_var.flatten()[0].item() == pytest.approx(math.log(want_var))


def true_output(d, param, x0, noise, t):
    """The quantity a perfect network would output under each parameterization, computed by hand."""
    ab = loop_alpha_bar(d.betas)[t].view(-1, *([1] * (x0.ndim - 1)))
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
    if param == "eps":
        return xt, noise
    if param == "x0":
        return xt, x0
    if param == "v":
        return xt, ab.sqrt() * noise - (1 - ab).sqrt() * x0
    means = [brute_force_posterior(d.betas, x0[i], xt[i], int(t[i]))[0] for i in range(len(t))]
    return xt, torch.stack(means)


@pytest.mark.parametrize("param", PARAMS)
def test_true_quantity_gives_true_posterior_mean_and_x0(betas, param):
    d = GaussianDiffusion(betas, parameterization=param)
    x0 = torch.rand(5, 2, 3, 3, dtype=torch.float64) * 2 - 1
    noise = torch.randn_like(x0)
    t = torch.tensor([0, 1, 20, 70, 99])
    xt, output = true_output(d, param, x0, noise, t)
    out = d.p_mean_variance(output, xt, t)
    want_mean = torch.stack([brute_force_posterior(betas, x0[i], xt[i], int(t[i]))[0] for i in range(5)])
    torch.testing.assert_close(out["mean"], want_mean, rtol=1e-7, atol=1e-9)
    # mean -> x0 inversion (M8) is ill-conditioned where abar_{t-1} is tiny; float64 keeps it accurate
    torch.testing.assert_close(out["x0_hat"], x0, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(out["eps_hat"][1:], noise[1:], rtol=1e-5, atol=1e-5)


def test_eps_mean_follows_M7_literally(betas):
    d = GaussianDiffusion(betas, parameterization="eps")
    xt = torch.randn(3, 4, dtype=torch.float64)
    eps = torch.randn_like(xt)
    t = torch.tensor([0, 40, 99])
    ab = loop_alpha_bar(betas)
    out = d.p_mean_variance(eps, xt, t)
    for i, ti in enumerate(t.tolist()):
        b = betas[ti].item()
        want = (xt[i] - b / math.sqrt(1 - ab[ti]) * eps[i]) / math.sqrt(1 - b)
        torch.testing.assert_close(out["mean"][i], want)


def test_clipping_bounds_x0_hat_and_uses_posterior():
    betas = make_betas("linear", T)
    d = GaussianDiffusion(betas, parameterization="x0", clip_x0=True)
    xt = torch.randn(4, 3, dtype=torch.float64)
    x0_out = torch.tensor([[3.0, -2.0, 0.5]] * 4, dtype=torch.float64)
    t = torch.tensor([5, 5, 5, 5])
    out = d.p_mean_variance(x0_out, xt, t)
    clipped = x0_out.clamp(-1, 1)
    assert out["x0_hat"].abs().max() <= 1
    want = torch.stack([brute_force_posterior(betas, clipped[i], xt[i], 5)[0] for i in range(4)])
    torch.testing.assert_close(out["mean"], want)


def test_fixed_variances(betas):
    ab = loop_alpha_bar(betas)
    t = torch.tensor([0, 1, 50, 99])
    x = torch.zeros(4, 2, dtype=torch.float64)
    post = lambda ti: float((1 - (ab[ti - 1] if ti else 1.0)) / (1 - ab[ti]) * betas[ti])  # noqa: E731
    large = GaussianDiffusion(betas, variance="fixed_large").p_mean_variance(x, x, t)
    small = GaussianDiffusion(betas, variance="fixed_small").p_mean_variance(x, x, t)
    for i, ti in enumerate(t.tolist()):
        # M11: beta_t, except log sigma_1^2 = log beta~_2
        want_large = post(1) if ti == 0 else betas[ti].item()
        assert large["log_variance"].flatten()[i].item() == pytest.approx(math.log(want_large))
        # M12: beta~_t with its log clipped at t = 1
        assert small["variance"].flatten()[i].item() == pytest.approx(post(ti), abs=1e-15)
        assert small["log_variance"].flatten()[i].item() == pytest.approx(math.log(post(max(ti, 1))))


def test_learned_variance_interpolates_log_range(betas):
    d = GaussianDiffusion(betas, variance="learned")
    ab = loop_alpha_bar(betas)
    ti = 30
    post = ((1 - ab[ti - 1]) / (1 - ab[ti]) * betas[ti]).item()
    x = torch.zeros(1, 2, dtype=torch.float64)
    t = torch.tensor([ti])
    for u, want in [
        (1.0, math.log(betas[ti].item())),
        (-1.0, math.log(post)),
        (0.0, 0.5 * (math.log(betas[ti].item()) + math.log(post))),
        (2.0, 1.5 * math.log(betas[ti].item()) - 0.5 * math.log(post)),
    ]:  # unclamped
        out = d.p_mean_variance(torch.tensor([[0.0, 0.0, u, u]], dtype=torch.float64), x, t)
        assert out["log_variance"][0, 0].item() == pytest.approx(want)
        assert out["variance"][0, 0].item() == pytest.approx(math.exp(want))


def test_prior_kl_closed_form():
    betas = make_betas("linear", T)
    d = GaussianDiffusion(betas)
    ab_T = loop_alpha_bar(betas)[-1]
    x0 = torch.tensor([[0.5, -1.0, 0.0]], dtype=torch.float64)
    m2 = ab_T * x0**2
    v = 1 - ab_T
    want = (0.5 * (-1 - math.log(v) + v + m2)).sum()
    assert d.prior_kl(x0).item() == pytest.approx(want.item())


class TwoHeadModel(torch.nn.Module):
    """Mean head and variance head with separate parameters, so gradients can be attributed."""

    def __init__(self, learned):
        super().__init__()
        self.mean_head = torch.nn.Linear(3, 2)
        self.var_head = torch.nn.Linear(3, 2) if learned else None

    def forward(self, x, t):
        h = torch.cat([x, t.float().unsqueeze(1) / T], 1)
        out = self.mean_head(h)
        if self.var_head is not None:
            out = torch.cat([out, torch.tanh(self.var_head(h))], 1)
        return out


@pytest.mark.parametrize("param", PARAMS)
@pytest.mark.parametrize("variance", ["fixed_large", "fixed_small", "learned"])
@pytest.mark.parametrize("loss", ["simple", "vlb", "hybrid"])
def test_every_combination_gives_finite_loss_and_gradients(param, variance, loss):
    d = GaussianDiffusion(make_betas("cosine", T), parameterization=param, variance=variance, decoder="gaussian")
    model = TwoHeadModel(variance == "learned")
    x0 = torch.randn(32, 2)
    t = torch.randint(0, T, (32,))
    t[0] = 0
    if variance == "learned" and loss == "simple":
        with pytest.raises(ValueError, match="vlb.*hybrid"):
            d.training_losses(model, x0, t, loss=loss)
        return
    out = d.training_losses(model, x0, t, loss=loss)
    assert out["loss"].shape == (32,)
    assert torch.isfinite(out["loss"]).all()
    out["loss"].mean().backward()
    assert model.mean_head.weight.grad is not None and model.mean_head.weight.grad.abs().sum() > 0
    if variance == "learned":
        assert model.var_head.weight.grad.abs().sum() > 0


def test_simple_loss_is_mse_against_the_right_target():
    betas = make_betas("linear", T)
    x0 = torch.randn(8, 2, dtype=torch.float64)
    noise = torch.randn_like(x0)
    t = torch.randint(0, T, (8,))
    for param in PARAMS:
        d = GaussianDiffusion(betas, parameterization=param)
        xt, target = true_output(d, param, x0, noise, t)
        zero_model = lambda x, tt: torch.zeros_like(x)  # noqa: E731
        got = d.training_losses(zero_model, x0, t, noise, loss="simple")["loss"]
        torch.testing.assert_close(got, (target**2).mean(1))


def test_hybrid_stops_the_mean_gradient_in_the_vlb_term():
    d = GaussianDiffusion(make_betas("linear", T), variance="learned", decoder="gaussian")
    x0 = torch.randn(16, 2)
    t = torch.randint(1, T, (16,))
    noise = torch.randn_like(x0)
    model = TwoHeadModel(True)
    d.training_losses(model, x0, t, noise, loss="hybrid")["loss"].mean().backward()
    hybrid_grad = model.mean_head.weight.grad.clone()
    model.zero_grad()
    xt = d.q_sample(x0, t, noise)
    ((model(xt, t)[:, :2] - noise) ** 2).mean(1).mean().backward()
    torch.testing.assert_close(hybrid_grad, model.mean_head.weight.grad)


def test_fixed_variance_vlb_is_scaled_squared_mean_error():
    """With a fixed variance, L_{t-1} = ||mu~ - mu||^2 / (2 sigma^2) + const (MATH.md, after M19)."""
    betas = make_betas("linear", T)
    d = GaussianDiffusion(betas, parameterization="mean", variance="fixed_large")
    x0 = torch.randn(4, 3, dtype=torch.float64)
    t = torch.full((4,), 40)
    noise = torch.randn_like(x0)
    xt = d.q_sample(x0, t, noise)
    true_mean, true_var, _ = d.q_posterior(x0, xt, t)
    shift = torch.randn_like(x0) * 0.1
    terms = d.vlb_terms(lambda x, tt: true_mean + shift, x0, t, noise)
    s2 = betas[40].item()
    q2 = true_var.flatten()[0].item()
    const = 3 * 0.5 * (-1 + math.log(s2) - math.log(q2) + q2 / s2)
    torch.testing.assert_close(terms, (shift**2).sum(1) / (2 * s2) + const)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda d: d.q_sample(torch.randn(4, 2), torch.tensor([0, 1, 2])), "batch of 4"),
        (lambda d: d.q_sample(torch.randn(2, 2), torch.tensor([0, 100])), r"0\.\.99"),
        (lambda d: d.q_sample(torch.randn(2, 2), torch.tensor([0.0, 1.0])), "LongTensor"),
        (lambda d: d.p_mean_variance(torch.randn(2, 3), torch.randn(2, 2), torch.tensor([1, 2])), r"expected \(2, 2\)"),
        (lambda d: d.p_mean_variance(torch.full((2, 2), float("nan")), torch.randn(2, 2), torch.tensor([1, 2])), "NaN"),
        (
            lambda d: d.training_losses(lambda x, t: x, torch.randn(2, 2), torch.tensor([1, 2]), loss="l1"),
            "simple, vlb, hybrid",
        ),
    ],
)
def test_bad_input_raises_readable_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(GaussianDiffusion(make_betas("linear", T)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"parameterization": "score"}, "eps, mean, x0, v"),
        ({"variance": "huge"}, "fixed_large, fixed_small, learned"),
        ({"decoder": "laplace"}, "discrete, gaussian"),
    ],
)
def test_unknown_names_list_the_choices(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianDiffusion(make_betas("linear", T), **kwargs)


def test_tables_are_cast_to_input_dtype():
    d = GaussianDiffusion(make_betas("linear", T))
    x = torch.randn(2, 3, dtype=torch.float32)
    assert d.q_sample(x, torch.tensor([1, 2])).dtype == torch.float32
    assert d.betas.dtype == torch.float64


# ------------------------------------------------------------------ min-SNR weighting (Hang et al. 2023)
@pytest.mark.parametrize("param", ["eps", "x0", "v"])
def test_min_snr_loss_is_capped_snr_times_the_x0_error(betas, param):
    """Whatever the target, the weighted loss equals min(SNR_t, gamma) * mean (x0 - x0_hat)^2, with x0_hat
    recovered from the output by hand (eps: M9 inverted, v: x0 = sqrt(abar) x_t - sqrt(1 - abar) v)."""
    gamma = 5.0
    d = GaussianDiffusion(betas, parameterization=param)
    ab = loop_alpha_bar(betas)
    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    noise = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    output = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    t = torch.tensor([0, 3, 20, 50, 80, 99])  # high SNR (capped) to low SNR (uncapped)
    got = d.training_losses(lambda x, tt: output, x0, t, noise, snr_gamma=gamma)["loss"]
    for i, ti in enumerate(t.tolist()):
        a = ab[ti].item()
        xt = math.sqrt(a) * x0[i] + math.sqrt(1 - a) * noise[i]
        if param == "eps":
            x0_hat = (xt - math.sqrt(1 - a) * output[i]) / math.sqrt(a)
        elif param == "v":
            x0_hat = math.sqrt(a) * xt - math.sqrt(1 - a) * output[i]
        else:
            x0_hat = output[i]
        want = min(a / (1 - a), gamma) * ((x0[i] - x0_hat) ** 2).mean()
        torch.testing.assert_close(got[i], want)
    snr = ab[t] / (1 - ab[t])
    assert (snr > gamma).any() and (snr < gamma).any()  # both sides of the cap were exercised


def test_min_snr_off_or_above_every_snr_is_l_simple(betas):
    d = GaussianDiffusion(betas)
    x0, noise = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    t = torch.tensor([0, 1, 10, 30, 50, 70, 90, 99])
    model = lambda x, tt: 0.5 * x  # noqa: E731
    plain = d.training_losses(model, x0, t, noise)["loss"]
    torch.testing.assert_close(d.training_losses(model, x0, t, noise, snr_gamma=0.0)["loss"], plain)
    huge = float((loop_alpha_bar(betas) / (1 - loop_alpha_bar(betas))).max()) * 2  # eps weight 1 everywhere
    torch.testing.assert_close(d.training_losses(model, x0, t, noise, snr_gamma=huge)["loss"], plain)


def hand_learned_eps_term(betas, x0, noise, eps_out, u, ti):
    """L_{t-1} (or L_0 under the Gaussian decoder at ti = 0) in nats, summed over dimensions, by hand in float64.

    eps parameterization (M7), learned variance (M13), posterior by brute force (M6), KL of M15, decoder of M16.
    """
    ab = loop_alpha_bar(betas)
    a, b = ab[ti].item(), betas[ti].item()
    xt = math.sqrt(a) * x0 + math.sqrt(1 - a) * noise
    mean = (xt - b / math.sqrt(1 - a) * eps_out) / math.sqrt(1 - b)
    _, post_var = brute_force_posterior(betas, x0, xt, max(ti, 1))  # beta~_1 = 0: its log is log beta~_2's
    frac = (u + 1) / 2
    log_var = frac * math.log(b) + (1 - frac) * math.log(post_var)
    if ti == 0:
        return (0.5 * (math.log(2 * math.pi) + log_var + (x0 - mean) ** 2 / torch.exp(log_var))).sum()
    true_mean, true_var = brute_force_posterior(betas, x0, xt, ti)
    kl = 0.5 * (-1 + log_var - math.log(true_var) + true_var / torch.exp(log_var) + (true_mean - mean) ** 2
                / torch.exp(log_var))
    return kl.sum()


@pytest.mark.parametrize("gamma", [0.0, 5.0])
def test_hybrid_adds_lambda_times_the_bound_in_bits_per_dim(gamma):
    """M19 as improved-diffusion computes it: min-SNR-weighted MSE + 0.001 * T * L_{t-1} / (D ln 2), every part by
    hand (the weight min(SNR, gamma) / SNR for eps, Hang et al. 2023); the logged "vlb" stays in nats/dim."""
    betas = make_betas("cosine", T)
    d = GaussianDiffusion(betas, variance="learned", decoder="gaussian")
    gen = torch.Generator().manual_seed(7)
    x0, noise, eps_out = (torch.randn(8, 2, generator=gen, dtype=torch.float64) for _ in range(3))
    u = torch.rand(8, 2, generator=gen, dtype=torch.float64) * 2 - 1
    t = torch.tensor([0, 1, 5, 20, 40, 60, 80, 99])
    out = d.training_losses(lambda x, tt: torch.cat([eps_out, u], 1), x0, t, noise, loss="hybrid", snr_gamma=gamma)
    ab = loop_alpha_bar(betas)
    for i, ti in enumerate(t.tolist()):
        snr = ab[ti].item() / (1 - ab[ti].item())
        weight = min(snr, gamma) / snr if gamma > 0 else 1.0
        mse = ((noise[i] - eps_out[i]) ** 2).mean().item()
        vlb_nats_per_dim = T * hand_learned_eps_term(betas, x0[i], noise[i], eps_out[i], u[i], ti).item() / 2
        assert out["vlb"][i].item() == pytest.approx(vlb_nats_per_dim, rel=1e-9)
        assert out["loss"][i].item() == pytest.approx(weight * mse + 0.001 * vlb_nats_per_dim / math.log(2), rel=1e-9)


@pytest.mark.parametrize("param", ["eps", "x0", "v"])
def test_min_snr_weight_is_the_capped_snr_over_the_targets_error_scale(param):
    """Hang et al. 2023 by hand from an explicit product for abar: min(SNR, g) / SNR (eps), min(SNR, g) (x0),
    min(SNR, g) / (SNR + 1) (v)."""
    betas = make_betas("linear", T)
    ab = loop_alpha_bar(betas)
    t = torch.tensor([0, 2, 10, 30, 60, 99])
    got = GaussianDiffusion(betas, parameterization=param).min_snr_weight(t, 5.0, torch.float64)
    for i, ti in enumerate(t.tolist()):
        snr = ab[ti].item() / (1 - ab[ti].item())
        scale = {"eps": snr, "x0": 1.0, "v": snr + 1.0}[param]
        assert got[i].item() == pytest.approx(min(snr, 5.0) / scale, rel=1e-12)


def test_min_snr_rejects_the_bound_the_mean_target_and_bad_gammas():
    d = GaussianDiffusion(make_betas("linear", T))
    x0, t = torch.randn(2, 2), torch.tensor([1, 2])
    model = lambda x, tt: x  # noqa: E731
    with pytest.raises(ValueError, match="simple term"):
        d.training_losses(model, x0, t, loss="vlb", snr_gamma=5.0)
    for gamma in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="gamma"):
            d.training_losses(model, x0, t, snr_gamma=gamma)
    mean = GaussianDiffusion(make_betas("linear", T), parameterization="mean")
    with pytest.raises(ValueError, match="not the mean"):
        mean.training_losses(model, x0, t, snr_gamma=5.0)
