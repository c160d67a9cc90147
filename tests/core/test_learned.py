"""The 2-D views' arrays (core/analysis/learned.py) against brute-force float64 computations written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from exact_models import GaussianMixtureEps, mixture_log_density

from ddpm_studio.core.analysis.ideal import IdealDenoiser, guided_ideal_x0, ideal_x0
from ddpm_studio.core.analysis.learned import (
    FieldGuide,
    denoiser_field,
    error_over_t,
    error_timesteps,
    grid_points,
    iter_density_grid,
)
from ddpm_studio.core.analysis.ode_likelihood import OdeProgress, ode_log_likelihood
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _diffusion(T: int = 100) -> GaussianDiffusion:
    return GaussianDiffusion(make_betas("linear", T))


def _brute_ideal(data: np.ndarray, x: np.ndarray, abar: float) -> np.ndarray:
    """E[x0 | x_t] by the softmax over examples, one point at a time, in float64 numpy."""
    out = np.zeros_like(x)
    for k, point in enumerate(x):
        logits = np.array([-np.sum((point - math.sqrt(abar) * d) ** 2) / (2 * (1 - abar)) for d in data])
        w = np.exp(logits - logits.max())
        out[k] = (w[:, None] * data).sum(0) / w.sum()
    return out


def _brute_guided(data: np.ndarray, labels: np.ndarray, label: int, w: float, x: np.ndarray,
                  abar: float) -> np.ndarray:
    """M38 written out: the class's and everyone's ideal eps (M30 through M5), combined by M34, back to x0."""
    a, b = math.sqrt(abar), math.sqrt(1 - abar)
    eps_class = (x - a * _brute_ideal(data[labels == label], x, abar)) / b
    eps_null = (x - a * _brute_ideal(data, x, abar)) / b
    return (x - b * ((1 + w) * eps_class - w * eps_null)) / a


def _two_classes(seed: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """(14, 2) float64 points in two blobs (class 0 about (-1, 0), class 1 about (1, 0.5)) and their labels."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0, 1] * 7)
    centres = torch.tensor([[-1.0, 0.0], [1.0, 0.5]], dtype=torch.float64)
    return centres[labels] + 0.3 * torch.randn(14, 2, generator=gen, dtype=torch.float64), labels


@pytest.mark.parametrize("t", [0, 30, 99])
@pytest.mark.parametrize("w", [0.0, 1.5, 4.0])
def test_guided_ideal_x0_is_the_m34_combination_of_class_and_null_posterior_means(t, w):
    diffusion = _diffusion()
    data, labels = _two_classes()
    x = torch.randn(9, 2, generator=torch.Generator().manual_seed(t), dtype=torch.float64)
    steps = torch.full((9,), t, dtype=torch.long)
    abar = float(diffusion.alphas_cumprod[t])
    for label in (0, 1):
        got = guided_ideal_x0(data, labels, label, w, x, steps, diffusion).numpy()
        want = _brute_guided(data.numpy(), labels.numpy(), label, w, x.numpy(), abar)
        assert np.allclose(got, want, atol=1e-7, rtol=1e-7)


def test_guided_ideal_x0_at_w_0_is_the_class_ideal_denoiser_and_refuses_bad_labels():
    diffusion = _diffusion()
    data, labels = _two_classes()
    x, steps = torch.zeros(3, 2, dtype=torch.float64), torch.full((3,), 50, dtype=torch.long)
    own = ideal_x0(data[labels == 1], x, steps, diffusion)
    assert torch.equal(guided_ideal_x0(data, labels, 1, 0.0, x, steps, diffusion), own)
    # guidance pushes x0 away from the other class: at w = 4 it lies beyond the class's own mean, not between
    pushed = guided_ideal_x0(data, labels, 1, 4.0, x, steps, diffusion)
    assert bool((pushed[:, 0] > own[:, 0]).all())
    with pytest.raises(ValueError, match="class 2 has no training points"):
        guided_ideal_x0(data, labels, 2, 1.0, x, steps, diffusion)
    with pytest.raises(ValueError, match="one per training example"):
        guided_ideal_x0(data, labels[:5], 1, 1.0, x, steps, diffusion)


class _LinearClasses(torch.nn.Module):
    """A conditional stand-in whose eps is known in closed form: eps(x, t, y) = c_y x, y = 2 the null class."""

    coefs = (0.2, -0.5, 0.1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tensor(self.coefs, dtype=x.dtype)[y][:, None] * x


@pytest.mark.parametrize("quantity", ["x0", "score"])
def test_guided_field_guides_the_network_and_the_ideal_by_the_class_and_w(quantity):
    diffusion = _diffusion()
    data, labels = _two_classes()
    shift, scale = torch.tensor([0.2, -0.1]), torch.tensor([1.5, 0.8])
    t, n, bounds, w = 20, 4, (-2.0, 2.0, -1.5, 1.5), 2.5
    abar = float(diffusion.alphas_cumprod[t])
    a, b = math.sqrt(abar), math.sqrt(1 - abar)
    grid = np.array([(x, y) for y in np.linspace(-1.5, 1.5, n) for x in np.linspace(-2, 2, n)])
    x_model = (grid - shift.numpy()) / scale.numpy()
    fields = {}
    for label in (0, 1):
        guide = FieldGuide(label, w, labels, 2)
        field = denoiser_field(_LinearClasses(), diffusion, data, t, bounds, n, quantity, shift, scale, guide)
        eps = ((1 + w) * _LinearClasses.coefs[label] - w * _LinearClasses.coefs[2]) * x_model  # M34, closed form
        net_x0 = (x_model - b * eps) / a
        ideal_x0_ = _brute_guided(data.numpy(), labels.numpy(), label, w, x_model, abar)
        if quantity == "x0":
            network, ideal = (net_x0 - x_model) * scale.numpy(), (ideal_x0_ - x_model) * scale.numpy()
        else:
            network = (a * net_x0 - x_model) / (1 - abar) / scale.numpy()
            ideal = (a * ideal_x0_ - x_model) / (1 - abar) / scale.numpy()
        assert np.allclose(field.network.numpy(), network, atol=1e-5)
        assert np.allclose(field.ideal.numpy(), ideal, atol=1e-5)
        assert field.label == label and field.guidance == w
        fields[label] = field
    # the two classes pull the grid different ways, on both sides
    assert not np.allclose(fields[0].ideal.numpy(), fields[1].ideal.numpy(), atol=1e-2)
    assert not np.allclose(fields[0].network.numpy(), fields[1].network.numpy(), atol=1e-2)


def test_guided_field_clips_the_guided_ideal_as_the_sampler_clips():
    low, high = torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0])
    diffusion = GaussianDiffusion(make_betas("linear", 100), clip_x0=True, x0_range=(low, high))
    data, labels = _two_classes()
    data = data.clamp(-1, 1)
    field = denoiser_field(_LinearClasses(), diffusion, data, 10, (-3.0, 3.0, -3.0, 3.0), 5,
                           guide=FieldGuide(1, 8.0, labels, 2))
    x0 = field.points + field.ideal  # identity shift and scale: the arrows' tips are x0
    assert float(x0.abs().max()) <= 1.0 + 1e-9
    unclipped = guided_ideal_x0(data, labels, 1, 8.0, field.points, torch.full((25,), 10), diffusion)
    assert float(unclipped.abs().max()) > 1.0  # w = 8 extrapolates past the box: the clip did something


def test_grid_points_are_row_major_with_y_as_rows():
    pts = grid_points((0.0, 2.0, -1.0, 1.0), 3).numpy()
    expected = [(x, y) for y in (-1.0, 0.0, 1.0) for x in (0.0, 1.0, 2.0)]
    assert np.allclose(pts, expected)
    with pytest.raises(ValueError):
        grid_points((0.0, 0.0, 0.0, 1.0), 4)
    with pytest.raises(ValueError):
        grid_points((0.0, 1.0, 0.0, 1.0), 1)


def test_field_matches_brute_force_in_data_coordinates():
    diffusion = _diffusion()
    gen = torch.Generator().manual_seed(3)
    data = torch.randn(12, 2, generator=gen, dtype=torch.float64)  # model space
    shift, scale = torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.5])
    t, n, bounds = 40, 5, (-3.0, 4.0, -2.0, 0.0)
    zero_eps = lambda x, t_: torch.zeros_like(x)  # noqa: E731  x0_hat = x_t / sqrt(abar) (no clip here)
    field = denoiser_field(zero_eps, diffusion, data, t, bounds, n, shift=shift, scale=scale)
    abar = float(diffusion.alphas_cumprod[t])
    xs, ys = np.linspace(-3, 4, n), np.linspace(-2, 0, n)
    grid = np.array([(x, y) for y in ys for x in xs])
    x_model = (grid - shift.numpy()) / scale.numpy()
    ideal = (_brute_ideal(data.numpy(), x_model, abar) - x_model) * scale.numpy()
    network = (x_model / math.sqrt(abar) - x_model) * scale.numpy()
    assert np.allclose(field.points.numpy(), grid)
    assert np.allclose(field.xs.numpy(), xs) and np.allclose(field.ys.numpy(), ys)
    assert np.allclose(field.ideal.numpy(), ideal, atol=1e-6)
    assert np.allclose(field.network.numpy(), network, atol=1e-6)
    gap = np.sqrt(((network - ideal) ** 2).sum(1)).reshape(n, n)
    assert np.allclose(field.difference.numpy(), gap, atol=1e-6)
    # the score: (sqrt(abar) x0 - x) / (1 - abar), divided by the scale per axis
    score = denoiser_field(IdealDenoiser(data, diffusion), diffusion, data, t, bounds, n, "score", shift, scale)
    brute = (math.sqrt(abar) * _brute_ideal(data.numpy(), x_model, abar) - x_model) / (1 - abar) / scale.numpy()
    assert np.allclose(score.ideal.numpy(), brute, atol=1e-6)
    assert np.allclose(score.network.numpy(), brute, atol=1e-5)  # the ideal denoiser as the network: no gap
    assert float(score.difference.max()) < 1e-4


def test_error_over_t_is_the_mean_distance_on_q_sample_draws():
    diffusion = _diffusion()
    gen = torch.Generator().manual_seed(1)
    data = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    zero_eps = lambda x, t_: torch.zeros_like(x)  # noqa: E731
    ts, errors = error_over_t(zero_eps, diffusion, data, [0, 30, 99], num_probe=10, seed=5)
    assert ts.tolist() == [1, 31, 100]  # paper timesteps
    noise_gen = torch.Generator().manual_seed(5)
    for tau, err in zip([0, 30, 99], errors):
        noise = torch.randn((10, 2), generator=noise_gen).double().numpy()
        abar = float(diffusion.alphas_cumprod[tau])
        x_t = math.sqrt(abar) * data[:10].numpy() + math.sqrt(1 - abar) * noise
        hat = x_t / math.sqrt(abar)
        brute = np.sqrt(((hat - _brute_ideal(data.numpy(), x_t, abar)) ** 2).sum(1)).mean()
        assert float(err) == pytest.approx(brute, rel=1e-5)
    _, none = error_over_t(IdealDenoiser(data, diffusion), diffusion, data, [0, 50, 99])
    assert float(none.max()) < 1e-5
    assert error_timesteps(100, 5) == [0, 25, 50, 74, 99]


def test_density_grid_of_an_exact_gaussian_model_is_the_gaussian_log_density():
    diffusion = GaussianDiffusion(make_betas("cosine", 200))
    mean, std = torch.tensor([[0.3, -0.2]]), torch.tensor([0.8])
    model = GaussianMixtureEps(diffusion, mean, std, torch.ones(1))
    shift, scale = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 3.0])
    bounds, n = (-0.5, 2.5, -2.0, 6.0), 4
    extra = torch.tensor([[1.0, 2.0], [0.0, 0.0]], dtype=torch.float64)
    records = list(iter_density_grid(model, diffusion, bounds, n, shift=shift, scale=scale, extra=extra))
    # 200 levels, then the held-out points again with 100 for the error bar, on one count (M32)
    assert isinstance(records[0], OdeProgress) and len(records) == 301
    assert [(r.done, r.total) for r in records[:-1]] == [(i, 300) for i in range(1, 301)]
    grid = records[-1]
    assert 0.0 <= grid.extra_error < 2e-2  # K = 100 on T = 200 is 7e-3 from all 200 levels here
    coarse = ode_log_likelihood(model, diffusion, (extra - shift.double()) / scale.double(), 100)
    assert grid.extra_error == pytest.approx(abs(float(grid.extra_log_p.mean() - coarse.mean()) + math.log(1.5)),
                                             abs=1e-12)
    pts = torch.cat([grid_points(bounds, n), extra])
    model_pts = (pts - shift.double()) / scale.double()
    expected = mixture_log_density(model_pts, mean, std, torch.ones(1)) - math.log(0.5 * 3.0)
    got = torch.cat([grid.log_p.reshape(-1), grid.extra_log_p])
    # T = 200 keeps the test fast; its coarser levels leave ~3e-3 nats (T = 1000 reaches 1e-3, test_ode_likelihood)
    assert float((got - expected).abs().max()) < 5e-3
    assert grid.log_p.shape == (n, n)
