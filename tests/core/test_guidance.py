"""Classifier-free guidance (MATH.md M34) against closed forms, the conditional networks and label dropout."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.data.toys import RING_MODES, RING_RADIUS, make_labelled_toy
from ddpm_studio.core.models import MLPDenoiser, UNet, build_model
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.guidance import (
    GuidanceError,
    GuidedModel,
    check_guidance,
    class_rows,
    conditional_problem,
    drop_labels,
    labels_for,
    parse_class,
    parse_guidance_list,
)
from ddpm_studio.core.sampling import METHODS, run_to_end, sample

# Three Gaussian classes N(mu_c, S^2 I) in 2-D with unequal priors: the optimal eps of each class and of the
# mixture are known in closed form at every t (M5: x_t | c ~ N(sqrt(abar) mu_c, (abar S^2 + 1 - abar) I)).
MEANS = torch.tensor([[1.0, 0.5], [-0.8, 0.2], [0.1, -1.2]], dtype=torch.float64)
PRIORS = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
S = 0.3
T = 50


def _betas() -> torch.Tensor:
    return torch.linspace(1e-4 * 1000 / T, 0.02 * 1000 / T, T, dtype=torch.float64)


def _abar(t: torch.Tensor) -> torch.Tensor:
    """alpha_bar at 0-based t, (B, 1), from the betas in float64 (independent of GaussianDiffusion's tables)."""
    return torch.cumprod(1.0 - _betas(), 0)[t][:, None]


def _class_eps(x: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """Optimal eps of each class: (B, K, D) = sqrt(1 - abar) (x - sqrt(abar) mu_c) / (abar S^2 + 1 - abar)."""
    var = abar * S**2 + 1.0 - abar
    return (1.0 - abar).sqrt()[:, None] * (x[:, None] - abar.sqrt()[:, None] * MEANS[None]) / var[:, None]


def _log_joint(x: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """log pi_c + log N(x; sqrt(abar) mu_c, var I), (B, K)."""
    var = abar * S**2 + 1.0 - abar
    sq = ((x[:, None] - abar.sqrt()[:, None] * MEANS[None]) ** 2).sum(-1)
    return PRIORS.log()[None] - 0.5 * sq / var - math.log(2 * math.pi) * 0.5 * MEANS.shape[1] - var.log()


def _optimal_eps(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """E[eps | x_t, c] for y < K, and the mixture's E[eps | x_t] (responsibility-weighted) for y = K."""
    abar = _abar(t)
    per_class = _class_eps(x, abar)
    weights = torch.softmax(_log_joint(x, abar), dim=1)
    uncond = (weights[:, :, None] * per_class).sum(1)
    cond = per_class[torch.arange(x.shape[0]), y.clamp(max=MEANS.shape[0] - 1)]
    return torch.where((y == MEANS.shape[0])[:, None], uncond, cond)


class OracleModel:
    """The exact conditional network for the Gaussian classes, in any parameterization; counts its calls."""

    def __init__(self, parameterization: str, learned_variance: bool = False) -> None:
        self.parameterization = parameterization
        self.learned_variance = learned_variance
        self.calls: list[int] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        eps = _optimal_eps(x, t, y)
        abar = _abar(t)
        x0 = (x - (1.0 - abar).sqrt() * eps) / abar.sqrt()
        if self.parameterization == "eps":
            out = eps
        elif self.parameterization == "x0":
            out = x0
        elif self.parameterization == "v":
            out = abar.sqrt() * eps - (1.0 - abar).sqrt() * x0
        else:  # the posterior mean (M6), coefficients from the betas
            betas = _betas()
            abar_prev = torch.cat([torch.ones(1, dtype=torch.float64), torch.cumprod(1 - betas, 0)[:-1]])[t][:, None]
            beta = betas[t][:, None]
            out = abar_prev.sqrt() * beta / (1 - abar) * x0 + (1 - beta).sqrt() * (1 - abar_prev) / (1 - abar) * x
        if self.learned_variance:  # a u that differs per class, so the test sees which branch's is kept
            out = torch.cat([out, torch.tanh(y.double())[:, None].expand_as(out) * 0.5], dim=1)
        return out


def _points(batch: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 2, generator=generator, dtype=torch.float64) * 1.3
    t = torch.randint(0, T, (batch,), generator=generator)
    return x, t


@pytest.mark.parametrize("parameterization", ["eps", "x0", "v", "mean"])
@pytest.mark.parametrize("w", [0.0, 1.0, 3.0])
def test_guided_eps_is_the_closed_form_in_every_parameterization(parameterization: str, w: float) -> None:
    """M34: guidance on the raw output of any parameterization gives eps~ = (1 + w) eps_c - w eps_u."""
    x, t = _points()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    diffusion = GaussianDiffusion(_betas(), parameterization=parameterization, clip_x0=False)
    guided = GuidedModel(OracleModel(parameterization), y, w, num_classes=3)
    eps_hat = diffusion.p_mean_variance(guided(x, t), x, t)["eps_hat"]
    per_class = _class_eps(x, _abar(t))[torch.arange(6), y]
    weights = torch.softmax(_log_joint(x, _abar(t)), dim=1)
    mixture = (weights[:, :, None] * _class_eps(x, _abar(t))).sum(1)
    torch.testing.assert_close(eps_hat, (1 + w) * per_class - w * mixture, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("w", [0.5, 4.0])
def test_guided_eps_equals_classifier_guidance_with_the_bayes_classifier(w: float) -> None:
    """eps~ = eps_c - w sqrt(1 - abar) grad log p(c | x_t): the implicit classifier, by autograd in float64."""
    x, t = _points(seed=3)
    y = torch.tensor([2, 0, 1, 1, 0, 2])
    guided = GuidedModel(OracleModel("eps"), y, w, num_classes=3)(x, t)
    xg = x.clone().requires_grad_(True)
    log_posterior = torch.log_softmax(_log_joint(xg, _abar(t)), dim=1)[torch.arange(6), y].sum()
    (grad,) = torch.autograd.grad(log_posterior, xg)
    expected = _class_eps(x, _abar(t))[torch.arange(6), y] - w * (1 - _abar(t)).sqrt() * grad
    torch.testing.assert_close(guided, expected, rtol=1e-9, atol=1e-9)


def test_one_batched_forward_and_per_sample_classes_and_scales() -> None:
    x, t = _points()
    y = torch.tensor([0, 1, 2, 2, 1, 0])
    oracle = OracleModel("eps")
    w = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 8.0])
    mixed = GuidedModel(oracle, y, w, num_classes=3)(x, t)
    assert oracle.calls == [12]  # [x; x] with [y; null] in one pass
    for i in range(6):
        alone = GuidedModel(OracleModel("eps"), y[i : i + 1], float(w[i]), num_classes=3)(x[i : i + 1], t[i : i + 1])
        torch.testing.assert_close(mixed[i : i + 1], alone, rtol=1e-9, atol=1e-9)


def test_learned_variance_combines_the_mean_and_keeps_the_conditional_variance() -> None:
    x, t = _points()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    guided = GuidedModel(OracleModel("eps", learned_variance=True), y, 2.0, 3, learned_variance=True)(x, t)
    cond = OracleModel("eps", learned_variance=True)(x, t, y)
    uncond = OracleModel("eps", learned_variance=True)(x, t, torch.full_like(y, 3))
    torch.testing.assert_close(guided[:, :2], 3.0 * cond[:, :2] - 2.0 * uncond[:, :2])
    torch.testing.assert_close(guided[:, 2:], cond[:, 2:])


def _conditional_mlp() -> MLPDenoiser:
    torch.manual_seed(1)
    net = MLPDenoiser(data_dim=2, out_dim=2, hidden=32, num_blocks=2, time_dim=16, num_classes=3)
    with torch.no_grad():  # an untrained net predicts 0 (zero-initialised output): give every part a value
        for parameter in net.parameters():
            parameter.normal_(0.0, 0.3)
    return net.eval()


@pytest.mark.parametrize("method", METHODS)
def test_with_w_zero_the_guided_sampler_is_the_conditional_sampler(method: str) -> None:
    """Per-sample w = 0 goes through the batched two-branch pass and must still give the conditional samples."""
    net = _conditional_mlp()
    diffusion = GaussianDiffusion(torch.linspace(1e-3, 0.2, 20))
    y = torch.tensor([0, 1, 2, 1])

    def conditional(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return net(x, t, y)

    guided = GuidedModel(net, y, torch.zeros(4), num_classes=3)
    runs = []
    for model in (conditional, guided):
        with torch.no_grad():
            steps = sample(diffusion, model, (4, 2), num_steps=10, method=method, eta=0.5,
                           generator=torch.Generator().manual_seed(5))
            runs.append(run_to_end(steps).x)
    torch.testing.assert_close(runs[0], runs[1], rtol=1e-5, atol=1e-5)


def test_an_unconditional_model_is_unchanged() -> None:
    """num_classes None/0 builds the old network: same parameters, same state_dict keys, y ignored."""
    for num_classes in (None, 0):
        mlp = MLPDenoiser(hidden=16, num_blocks=1, time_dim=8, num_classes=num_classes)
        assert not any("class" in key for key in mlp.state_dict())
        assert "num_classes" not in mlp.config
        unet = UNet(1, 1, base_channels=8, channel_mults=(1, 2), num_res_blocks=1, image_size=8,
                    num_classes=num_classes)
        assert not any("class" in key for key in unet.state_dict())
    plain = build_model("tiny", (1, 8, 8))
    assert set(plain.state_dict()) == set(UNet(**plain.config).state_dict())


def test_conditional_networks_take_a_class_and_none_is_the_null_class() -> None:
    net = _conditional_mlp()
    x, t = torch.randn(4, 2), torch.tensor([0, 5, 10, 500])
    assert net.class_embedding is not None and net.class_embedding.table.num_embeddings == 4
    assert not torch.allclose(net(x, t, torch.tensor([0, 0, 0, 0])), net(x, t, torch.tensor([1, 1, 1, 1])))
    torch.testing.assert_close(net(x, t), net(x, t, torch.full((4,), 3)))
    unet = build_model("tiny", (1, 8, 8), num_classes=10)
    assert unet.class_embedding is not None and unet.class_embedding.table.weight.shape == (11, 128)
    assert UNet(**unet.config).state_dict().keys() == unet.state_dict().keys()
    out = unet(torch.randn(2, 1, 8, 8), torch.tensor([3, 7]), torch.tensor([7, 10]))
    assert out.shape == (2, 1, 8, 8)
    # a new conditional network starts as the unconditional one: its class table is zero
    assert torch.equal(unet.class_embedding.table.weight, torch.zeros(11, 128))


def test_label_dropout_rate() -> None:
    y = torch.randint(0, 10, (200_000,), generator=torch.Generator().manual_seed(0))
    dropped = drop_labels(y, 0.1, 10, torch.Generator().manual_seed(1))
    is_null = dropped == 10
    rate = float(is_null.double().mean())
    assert abs(rate - 0.1) < 4 * math.sqrt(0.1 * 0.9 / y.numel())
    assert torch.equal(dropped[~is_null], y[~is_null])
    assert torch.equal(drop_labels(y, 0.0, 10), y)
    assert bool((drop_labels(y, 1.0, 10) == 10).all())


def test_parsing_and_checking_classes_and_scales() -> None:
    assert parse_class("7", 10) == 7 and parse_class("all", 10) is None
    for bad, classes in (("12", 10), ("-1", 10), ("seven", 10), ("3", None)):
        with pytest.raises(GuidanceError):
            parse_class(bad, classes)
    assert check_guidance(3) == 3.0
    for bad in (-1, float("nan"), float("inf"), "x"):
        with pytest.raises(GuidanceError):
            check_guidance(bad)
    assert parse_guidance_list("0, 1,2,4,8") == [0.0, 1.0, 2.0, 4.0, 8.0]
    for bad in ("", "1,-2", "a"):
        with pytest.raises(GuidanceError):
            parse_guidance_list(bad)
    assert class_rows(3, 2).tolist() == [0, 0, 1, 1, 2, 2]
    assert labels_for(None, 25, 10).tolist() == class_rows(10, 3).tolist()
    assert labels_for(4, 3, 10).tolist() == [4, 4, 4]


def test_toy_labels_name_the_moon_and_the_mixture_component() -> None:
    points, labels = make_labelled_toy("ring", 2000, seed=2)
    angle = np.arctan2(points[:, 1], points[:, 0])
    nearest = np.round(angle / (2 * np.pi / RING_MODES)).astype(int) % RING_MODES
    assert np.array_equal(nearest, labels)
    assert np.allclose(np.linalg.norm(points, axis=1), RING_RADIUS, atol=0.6)
    points, labels = make_labelled_toy("moons", 2000, seed=2)
    # the upper moon (class 0) is (cos s, sin s) - (0.5, 0.25): its points lie 1 from (-0.5, -0.25)
    centre = np.where(labels[:, None] == 0, [-0.5, -0.25], [0.5, 0.25])
    assert np.allclose(np.linalg.norm(points - centre, axis=1), 1.0, atol=0.25)
    assert make_labelled_toy("swissroll", 10)[1] is None


def test_which_data_sets_can_train_a_conditional_model() -> None:
    moons = load_dataset("moons", num_points=200)
    assert moons.num_classes == 2 and moons.labels is not None and moons.labels.shape == (moons.train.shape[0],)
    assert conditional_problem(moons, 2) is None
    assert "has 2 classes" in (conditional_problem(moons, 3) or "")
    assert conditional_problem(moons, None) is None
    swissroll = load_dataset("swissroll", num_points=200)
    assert swissroll.labels is None and swissroll.num_classes is None
    problem = conditional_problem(swissroll, 2) or ""
    assert "no class labels" in problem and "\n" not in problem
    assert load_dataset("digits").num_classes == 10
