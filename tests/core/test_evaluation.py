"""Evaluation: the bound through the pipeline API (a case with a known answer), quality scores, the step sweep,
and ``ddpm-studio evaluate`` (MATH.md M14-M17)."""

from __future__ import annotations

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from ddpm_studio.cli import COMMANDS, add_commands
from ddpm_studio.cli.common import _Parser
from ddpm_studio.core.analysis.bound import BoundProgress, BoundResult, evaluate_bound, iter_bound
from ddpm_studio.core.analysis.sweep import sweep_plan
from ddpm_studio.core.config import RunConfig, default_config
from ddpm_studio.core.data import DataSet, load_dataset
from ddpm_studio.core.pipeline import DiffusionPipeline, build_diffusion
from ddpm_studio.core.scores.features import FEATURE_NET_FILE, load_or_train_feature_net
from ddpm_studio.core.scores.quality import QualityScorer
from ddpm_studio.core.training.trainer import Trainer

# Model-space data x ~ N(M, S^2) per dimension; data coordinates y = x * SCALE + SHIFT (not the identity, so
# the Jacobian of the standardisation matters: mean log SCALE = 0.5 log 0.5).
M, S = 0.3, 0.5
SCALE = torch.tensor([2.0, 0.25])
SHIFT = torch.tensor([1.0, -3.0])

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class ExactGaussianDenoiser(nn.Module):
    """The true reverse process of x0 ~ N(M, S^2): exact E[eps | x_t], and under "learned" the exact variance.

    x_{t-1} and x_t are jointly Gaussian, so Var(x_{t-1} | x_t) = v_{t-1} - alpha_t v_{t-1}^2 / v_t with
    v_t = abar_t S^2 + 1 - abar_t; u solves M13's log interpolation for that variance.
    """

    def __init__(self, diffusion, learned: bool) -> None:
        super().__init__()
        self.abar = diffusion.alphas_cumprod
        self.learned = learned
        ab, ab_prev = diffusion.alphas_cumprod, diffusion.alphas_cumprod_prev
        v_t, v_prev = ab * S * S + 1 - ab, ab_prev * S * S + 1 - ab_prev
        log_cond = torch.log(v_prev - diffusion.alphas * v_prev**2 / v_t)
        log_beta, log_post = torch.log(diffusion.betas), diffusion.posterior_log_variance_clipped
        self.u = 2 * (log_cond - log_post) / (log_beta - log_post) - 1

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar[t].to(x.dtype).view(-1, 1)
        eps = (1 - a).sqrt() * (x - a.sqrt() * M) / (a * S * S + 1 - a)
        if not self.learned:
            return eps
        return torch.cat([eps, self.u[t].to(x.dtype).view(-1, 1).expand_as(x)], dim=1)


class Shrink(nn.Module):
    """A stand-in eps network for images: 0.1 x_t, whatever t."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 0.1 * x


def gaussian_pipeline(variance: str, schedule: str = "cosine", T: int = 50) -> DiffusionPipeline:
    config = RunConfig()
    config.diffusion.schedule, config.diffusion.num_timesteps, config.diffusion.variance = schedule, T, variance
    diffusion = build_diffusion(config.diffusion, "points")
    return DiffusionPipeline(
        config=config,
        diffusion=diffusion,
        network=ExactGaussianDenoiser(diffusion, variance == "learned"),
        kind="points",
        data_shape=(2,),
        device=torch.device("cpu"),
        shift=SHIFT,
        scale=SCALE,
    )


def gaussian_examples(n: int = 20_000) -> torch.Tensor:
    return M + S * torch.randn(n, 2, dtype=torch.float64)


def true_nll_per_dim(x0: torch.Tensor) -> float:
    """-log p(y) per dimension in data coordinates y = x * SCALE + SHIFT, averaged over examples."""
    per_dim = 0.5 * torch.log(2 * math.pi * (S * SCALE.double()) ** 2) + 0.5 * ((x0 - M) / S) ** 2
    return per_dim.mean().item()


def test_bound_of_exact_reverse_process_equals_true_nll_in_data_coordinates():
    x0 = gaussian_examples()
    result = evaluate_bound(gaussian_pipeline("learned"), x0, batch_size=4096)
    assert result.unit == "nats/dim"
    assert result.jacobian == pytest.approx(torch.log(SCALE).mean().item(), abs=1e-6)
    assert abs(result.per_dim - true_nll_per_dim(x0)) < 3 * result.stderr + 2e-3


def test_bound_with_fixed_variance_is_above_true_nll_and_close():
    x0 = gaussian_examples()
    result = evaluate_bound(gaussian_pipeline("fixed_large", "linear", 100), x0, batch_size=4096)
    nll = true_nll_per_dim(x0)
    assert nll + 3 * result.stderr < result.per_dim < nll + 0.2


def hand_image_bound_nats(betas, x0, noises):
    """The bound of the Shrink network (eps_hat = 0.1 x_t, fixed large variance, 8-bit decoder, x0_hat clipped to
    [-1, 1] as images are), by hand in float64.

    Args:
        betas: (T,) float64. x0: (N, D) on the 8-bit grid. noises: T arrays (N, D), noises[t] for 0-based t.
    Returns:
        (prior (N,), terms (T, N)) in nats summed over dimensions: M15's KL for t >= 1, M16's decoder at t = 0.
    """
    from scipy.stats import norm

    betas = np.asarray(betas, dtype=np.float64)
    abar = np.cumprod(1 - betas)
    prior = 0.5 * (-1 - np.log(1 - abar[-1]) + (1 - abar[-1]) + abar[-1] * x0**2).sum(1)
    terms = np.zeros((len(betas), x0.shape[0]))
    for t in range(len(betas)):
        a, b = abar[t], betas[t]
        a_prev = abar[t - 1] if t else 1.0
        xt = np.sqrt(a) * x0 + np.sqrt(1 - a) * noises[t]
        x0_hat = np.clip((xt - np.sqrt(1 - a) * 0.1 * xt) / np.sqrt(a), -1, 1)  # M7's x0, then M23's box
        mean = (np.sqrt(a_prev) * b * x0_hat + np.sqrt(1 - b) * (1 - a_prev) * xt) / (1 - a)  # M6 at x0_hat
        if t == 0:  # M11 at t = 1: sigma^2 = beta~_2; M16's bins of width 2/255, open at both ends
            var = (1 - abar[0]) / (1 - abar[1]) * betas[1]
            upper = np.where(x0 > 0.999, 1.0, norm.cdf((x0 + 1 / 255 - mean) / np.sqrt(var)))
            lower = np.where(x0 < -0.999, 0.0, norm.cdf((x0 - 1 / 255 - mean) / np.sqrt(var)))
            terms[t] = -np.log(upper - lower).sum(1)
            continue
        q_mean = (np.sqrt(a_prev) * b * x0 + np.sqrt(1 - b) * (1 - a_prev) * xt) / (1 - a)
        q_var = (1 - a_prev) / (1 - a) * b
        terms[t] = (0.5 * (np.log(b / q_var) - 1 + q_var / b + (q_mean - mean) ** 2 / b)).sum(1)  # M15, sigma^2 = b
    return prior, terms


def test_image_bound_parts_add_up_and_match_a_hand_computation():
    config = RunConfig()
    config.diffusion.schedule, config.diffusion.num_timesteps = "cosine", 20
    diffusion = build_diffusion(config.diffusion, "images")
    pipeline = DiffusionPipeline(config, diffusion, Shrink(), "images", (1, 4, 4), torch.device("cpu"))
    x0 = torch.randint(0, 256, (6, 1, 4, 4)).float() * 2 / 255 - 1
    result = evaluate_bound(pipeline, x0, batch_size=6, seed=5)
    assert result.unit == "bits/dim" and result.jacobian == 0.0 and len(result.terms) == 20
    assert result.per_dim == pytest.approx(result.prior + result.diffusion + result.decoder, rel=1e-9)
    assert result.decoder == result.terms[0] and result.diffusion == pytest.approx(sum(result.terms[1:]))
    # the same noise stream: one generator seeded 5, one draw per t from T - 1 down (one batch)
    generator = torch.Generator().manual_seed(5)
    noises = {t: torch.randn(x0.shape, generator=generator).double().flatten(1).numpy() for t in range(19, -1, -1)}
    prior, terms = hand_image_bound_nats(diffusion.betas.numpy(), x0.double().flatten(1).numpy(), noises)
    to_bits = 1 / (16 * math.log(2))
    assert result.prior == pytest.approx(prior.mean() * to_bits, rel=1e-5)
    np.testing.assert_allclose(result.terms, terms.mean(1) * to_bits, rtol=2e-4, atol=1e-7)
    assert result.per_dim == pytest.approx((prior + terms.sum(0)).mean() * to_bits, rel=1e-4)


def test_iter_bound_reports_every_timestep_and_stops_when_no_longer_pulled():
    records = list(iter_bound(gaussian_pipeline("fixed_large", "cosine", 10), gaussian_examples(64), batch_size=16))
    progress, result = records[:-1], records[-1]
    assert [r.t for r in progress] == list(range(9, -1, -1)) and isinstance(result, BoundResult)
    assert all(isinstance(r, BoundProgress) for r in progress)
    assert progress[-1].partial == pytest.approx(result.per_dim)
    assert set(result.to_dict()) >= {"nats_per_dim", "prior", "decoder", "terms", "jacobian"}
    running = iter_bound(gaussian_pipeline("fixed_large", "cosine", 10), gaussian_examples(64))
    next(running)
    running.close()  # cancelling mid-way raises nothing and leaves grad mode alone
    assert torch.is_grad_enabled()


def test_sweep_plan_skips_k_above_t():
    assert sweep_plan([50, 10, 1000], ["ancestral", "ddim"], 100) == [
        ("ancestral", 10),
        ("ancestral", 50),
        ("ddim", 10),
        ("ddim", 50),
    ]
    with pytest.raises(ValueError, match="method"):
        sweep_plan([10], ["euler"], 100)
    # K counts network evaluations: Heun can spend up to 2T - 1 of them, the others T
    assert sweep_plan([150, 200, 50], ["dpmpp_2m", "heun"], 100) == [("dpmpp_2m", 50), ("heun", 50), ("heun", 150)]


# ---------------------------------------------------------------------------- quality scores
@pytest.fixture(scope="module")
def digits() -> DataSet:
    return load_dataset("digits")


def test_feature_net_is_cached_and_retrained_when_the_data_changes(digits, tmp_path):
    _, first = load_or_train_feature_net(digits, tmp_path, steps=30)
    _, again = load_or_train_feature_net(digits, tmp_path, steps=30)
    assert (tmp_path / FEATURE_NET_FILE).is_file()
    assert not first.loaded and again.loaded and first.mode == "classifier"
    other = dataclasses.replace(digits, train=digits.train.flip(-1))
    _, retrained = load_or_train_feature_net(other, tmp_path, steps=30)
    assert not retrained.loaded and retrained.fingerprint != first.fingerprint


def test_held_out_digits_score_exactly_the_floor_with_full_coverage(digits, tmp_path):
    scorer = QualityScorer(digits, cache_dir=tmp_path, feature_steps=80)
    scores = scorer.score(digits.heldout)
    assert scorer.metric == "frechet_features" and scorer.sample_count == len(digits.heldout)
    assert scores["score"] == pytest.approx(scores["floor"])
    assert scores["coverage"] == 1.0 and scores["confidence"] > 0.5
    collapsed = scorer.score(digits.heldout[digits.heldout.flatten(1).mean(1).argsort()[:1]].repeat(180, 1, 1, 1))
    assert collapsed["score"] > 10 * scores["floor"] and collapsed["coverage"] <= 0.1


def test_points_score_separates_data_from_noise_and_counts_nonfinite():
    moons = load_dataset("moons", num_points=2000)
    scorer = QualityScorer(moons)
    real = scorer.score(moons.heldout[: scorer.sample_count])
    noise = torch.randn(scorer.sample_count, 2) * 3
    noise[0] = float("nan")
    bad = scorer.score(noise)
    assert real["score"] < 2 * scorer.floor and real["off_support"] < 0.05
    assert bad["score"] > 5 * scorer.floor and bad["off_support"] > 0.3
    assert bad["nonfinite"] == pytest.approx(1 / scorer.sample_count)


# ---------------------------------------------------------------------------- the CLI
@pytest.fixture(scope="module")
def moons_run(tmp_path_factory):
    config = default_config("moons", "points")
    config.diffusion.num_timesteps = 50
    config.train.steps, config.train.batch_size, config.train.preview_every = 50, 128, 0
    config.train.preview_steps = 10
    run_dir = tmp_path_factory.mktemp("moons_run")
    for _ in Trainer(config, run_dir=run_dir).train():
        pass
    return run_dir


def run_command(argv: list[str]) -> int:
    parser = _Parser(prog="ddpm-studio")
    add_commands(parser.add_subparsers(dest="command", parser_class=_Parser))
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


def test_evaluate_writes_the_bound_json(moons_run, tmp_path, capsys):
    out = tmp_path / "bound.json"
    assert run_command(["evaluate", str(moons_run), "--num", "300", "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert {"nats_per_dim", "prior", "decoder", "terms"} <= set(report)
    assert len(report["terms"]) == 50 and report["num_examples"] == 300
    parts = report["prior"] + report["diffusion"] + report["decoder"] + report["jacobian"]
    assert report["nats_per_dim"] == pytest.approx(parts)
    assert "L_0 (decoder)" in capsys.readouterr().out


def test_evaluate_sweep_writes_csv_and_plot_and_skips_k_above_t(moons_run, tmp_path):
    table, plot = tmp_path / "sweep.csv", tmp_path / "sweep.png"
    argv = [
        "evaluate",
        str(moons_run),
        "--sweep",
        "--sweep-steps",
        "5,10,100",
        "--sweep-samples",
        "64",
        "--out-csv",
        str(table),
        "--plot",
        str(plot),
        "--quiet",
    ]
    assert run_command(argv) == 0
    rows = list(csv.DictReader(table.open()))
    assert [(r["method"], r["num_steps"]) for r in rows] == [
        ("ancestral", "5"),
        ("ancestral", "10"),
        ("ddim", "5"),
        ("ddim", "10"),
    ]
    assert all(float(r["score"]) > 0 for r in rows) and plot.stat().st_size > 0
