"""Training timesteps skewed toward low noise (MATH.md M40): the draw, its closed form, and where it is wired."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ddpm_studio.core.config import ConfigError, RunConfig, default_config
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.training.resume import resume_conflicts
from ddpm_studio.core.training.timesteps import sample_timesteps, timestep_probabilities
from ddpm_studio.core.training.trainer import Trainer


def test_power_one_is_the_uniform_draw_of_before_bit_for_bit():
    """Uniform runs keep their random stream: k = 1 is torch.randint on the same generator."""
    got = sample_timesteps(4096, 1000, 1.0, torch.Generator().manual_seed(3))
    want = torch.randint(0, 1000, (4096,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(got, want)


@pytest.mark.parametrize("power", [0.5, 2.0, 3.0])
def test_the_draw_follows_the_power_law_cdf(power):
    """P(t < j) = (j / T)^(1/k), computed here in numpy, against 200,000 draws (Kolmogorov bound at ~1e-3)."""
    T, n = 1000, 200_000
    t = sample_timesteps(n, T, power, torch.Generator().manual_seed(0)).numpy()
    assert t.min() >= 0 and t.max() <= T - 1 and t.dtype == np.int64
    j = np.arange(T + 1)
    cdf_closed = (j / T) ** (1.0 / power)
    cdf_seen = np.searchsorted(np.sort(t), j, side="left") / n  # share of draws below j
    # the Kolmogorov-Smirnov 99.9 % bound 1.95 / sqrt(n); the largest gap of a correct sampler is below it
    assert np.abs(cdf_seen - cdf_closed).max() < 1.95 / math.sqrt(n)
    if power == 3.0:  # what the points default means in words: 46 % of a batch below t = 100, not 10 %
        assert abs((t < 100).mean() - 0.1 ** (1 / 3)) < 0.005


def test_the_probabilities_are_the_differences_of_the_cdf():
    p = timestep_probabilities(1000, 3.0).numpy()
    assert p.shape == (1000,) and abs(p.sum() - 1.0) < 1e-12 and (p > 0).all()
    assert p[0] == pytest.approx(0.001 ** (1 / 3)) and p[-1] == pytest.approx(1 - 0.999 ** (1 / 3))
    assert np.all(np.diff(p) < 0)  # k > 1: every step is less likely than the one below it
    assert np.allclose(timestep_probabilities(10, 1.0).numpy(), 0.1)


@pytest.mark.parametrize("T, power", [(1, 3.0), (2, 8.0), (1000, 8.0), (1000, 0.25)])
def test_extreme_settings_stay_inside_the_chain(T, power):
    t = sample_timesteps(10_000, T, power, torch.Generator().manual_seed(1))
    assert int(t.min()) >= 0 and int(t.max()) <= T - 1
    if T == 1000 and power == 0.25:  # skewed toward high noise instead
        assert (t >= 500).float().mean() > 0.9


@pytest.mark.parametrize("value", [0.0, -1.0, 0.1, 9.0, float("nan"), float("inf"), True])
def test_nonsense_powers_are_refused_by_name(value):
    config = default_config("moons", "points")
    config.train.t_power = value
    with pytest.raises(ConfigError, match="train.t_power"):
        config.validate()


def test_defaults_and_old_run_folders():
    assert default_config("spiral", "points").train.t_power == 3.0
    assert default_config("digits", "images").train.t_power == 1.0  # images keep Ho et al.'s uniform t
    raw = default_config("moons", "points").to_dict()
    del raw["train"]["t_power"]  # a run folder written before M40 trained with uniform t
    assert RunConfig.from_dict(raw).train.t_power == 1.0
    saved = default_config("moons", "points")
    changed = default_config("moons", "points")
    changed.train.t_power = 1.0
    assert any("t_power" in problem for problem in resume_conflicts(saved, changed))


def test_the_trainer_draws_its_batches_timesteps_with_the_configured_power():
    """The t that reach the loss: with k = 8, 75 % of them fall below T / 10 (uniform: 10 %)."""
    config = default_config("moons", "points")
    config.data.num_points = 512
    config.train.steps, config.train.batch_size, config.train.preview_every = 6, 256, 0
    config.train.checkpoint_every, config.train.early_stop, config.train.t_power = 0, False, 8.0
    trainer = Trainer(config, dataset=load_dataset("moons", num_points=512))
    seen: list[torch.Tensor] = []
    q_sample = trainer.diffusion.q_sample  # every loss of either training pass noises its batch here (M5)

    def recording(x0, t, noise=None):
        seen.append(t.detach().clone())
        return q_sample(x0, t, noise)

    trainer.diffusion.q_sample = recording  # type: ignore[method-assign]
    list(trainer.train())
    t = torch.cat(seen)
    T = config.diffusion.num_timesteps
    assert t.numel() == 6 * 256
    assert abs(float((t < T // 10).float().mean()) - 0.1 ** (1 / 8)) < 0.06


def test_cli_flag_reaches_the_run_and_bad_values_get_one_line(tmp_path, capsys):
    from ddpm_studio.cli import run_cli

    run = tmp_path / "r"
    argv = ["train", "--data", "moons", "--steps", "2", "--batch-size", "16", "--T", "20", "--preview-every", "0",
            "--no-early-stop", "--t-power", "2", "--out", str(run), "--quiet"]
    assert run_cli(argv) == 0
    assert json.loads((run / "config.json").read_text())["train"]["t_power"] == 2.0
    default_run = tmp_path / "d"
    assert run_cli(argv[:-5] + ["--out", str(default_run), "--quiet"]) == 0  # the same without --t-power
    assert json.loads((default_run / "config.json").read_text())["train"]["t_power"] == 3.0  # points default
    assert run_cli(argv[:-4] + ["0", "--out", str(tmp_path / "bad"), "--quiet"]) != 0  # --t-power 0
    err = capsys.readouterr().err
    assert "train.t_power" in err and "Traceback" not in err


def test_the_logged_mse_and_bound_stay_uniform_t_averages_under_a_skewed_draw():
    """With k = 3 the draw's mean of t / T is E[u^3] = 1/4; the importance-weighted mse the trainer logs must read
    the uniform average (T - 1) / 2T = 0.4995 instead, while "loss" stays the skewed objective."""
    from ddpm_studio.core.training.loss_window import _Window

    T, k = 1000, 3.0
    weights_table = 1.0 / (T * timestep_probabilities(T, k))
    window = _Window(torch.device("cpu"))
    generator = torch.Generator().manual_seed(5)
    for _ in range(200):
        t = sample_timesteps(512, T, k, generator)
        value = t.double() / T  # a stand-in loss whose uniform-t mean is known in closed form
        window.add({"loss": value, "mse": value, "vlb": 2 * value}, t * 10 // T, weights_table[t])
    event = window.report(200, 200, 1.0, 1e-3, 1.0)  # step, total, elapsed, lr, seconds; not distributed
    assert event.loss == pytest.approx(0.25, abs=0.01)
    assert event.mse == pytest.approx((T - 1) / (2 * T), abs=0.01)
    assert event.vlb == pytest.approx((T - 1) / T, abs=0.02)
