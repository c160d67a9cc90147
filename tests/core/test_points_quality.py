"""Early stopping of points runs on the held-out quality (issue 16), the test distributions and the lr schedule."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ddpm_studio.cli import run_cli
from ddpm_studio.core.config import default_config
from ddpm_studio.core.data import MIXTURE_DATASETS, load_dataset, make_mixture
from ddpm_studio.core.data.mixtures import MIXTURES
from ddpm_studio.core.models.mlp import MLPDenoiser, fourier_features
from ddpm_studio.core.training.early_stop import QualityCheck
from ddpm_studio.core.training.events import TrainingFinished
from ddpm_studio.core.training.previews import off_support_note
from ddpm_studio.core.training.trainer import Trainer


def tiny_points_config(steps: int, early_stop: bool, lr: float = 2e-3):
    config = default_config("moons", "points")
    config.data.num_points = 400
    config.diffusion.num_timesteps = 50
    config.train.steps = steps
    config.train.batch_size = 32
    config.train.lr = lr
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    config.train.early_stop = early_stop
    config.train.early_stop_every = 5
    config.train.early_stop_patience = 2
    return config


def test_a_run_that_cannot_improve_stops_after_patience_checks():
    # At lr 1e-12 the weights (and the EMA's samples) do not change, so no check improves on the first: the run
    # stops at the third check (step 15) of 40, and says why.
    trainer = Trainer(tiny_points_config(40, early_stop=True, lr=1e-12))
    events = list(trainer.train())
    finished = events[-1]
    assert isinstance(finished, TrainingFinished)
    assert (finished.step, finished.reason) == (15, "converged")
    assert "stopped improving" in finished.detail and "best at step 5" in finished.detail
    assert [check.step for check in trainer.early_stopper.history] == [5, 10, 15]


def test_without_early_stop_the_run_goes_to_the_end():
    events = list(Trainer(tiny_points_config(20, early_stop=False, lr=1e-12)).train())
    assert (events[-1].step, events[-1].reason) == (20, "completed")


def test_early_stop_is_on_for_points_and_off_for_images():
    assert default_config("moons", "points").train.early_stop is True
    assert default_config("digits", "images").train.early_stop is False


def test_quality_meets_both_targets_only_when_both_are_met():
    assert QualityCheck(0, 1.5, 0.03).quality == pytest.approx(1.0)
    assert QualityCheck(0, 0.9, 0.06).quality == pytest.approx(2.0)  # off-support twice its target
    assert QualityCheck(0, 3.0, 0.0).quality == pytest.approx(2.0)  # SW twice its target


@pytest.mark.parametrize("flag, expected", [("--early-stop", True), ("--no-early-stop", False)])
def test_cli_flag_sets_early_stop(tmp_path, flag, expected):
    run = tmp_path / "run"
    code = run_cli(["train", "--data", "moons", "--steps", "3", "--T", "50", "--preview-every", "0", flag,
                    "--out", str(run), "--quiet"])
    assert code == 0
    assert json.loads((run / "config.json").read_text())["train"]["early_stop"] is expected


@pytest.mark.parametrize("name", MIXTURE_DATASETS)
def test_test_distributions_are_seeded_off_centre_and_load_by_name(name):
    a, b = make_mixture(name, 500, seed=3), make_mixture(name, 500, seed=3)
    assert a.shape == (500, 2) and a.dtype == np.float32 and np.array_equal(a, b)
    assert np.linalg.norm(a.mean(axis=0)) > 1.0  # not centred at the origin
    dataset = load_dataset(name, num_points=500)
    assert dataset.kind == "points" and dataset.train.shape[1] == 2


def test_mixture_points_sit_within_a_few_std_of_a_centre():
    mixture = MIXTURES["gaussians25"]
    points = make_mixture("gaussians25", 4000).astype(np.float64)
    nearest = np.linalg.norm(points[:, None] - mixture.centres[None], axis=2).min(axis=1) / mixture.std
    # 2-D Gaussian: P(r > 3 sigma) = exp(-4.5) = 1.1 %
    assert abs(np.mean(nearest > 3.0) - math.exp(-4.5)) < 0.006


def test_fourier_features_are_the_octaves_of_pi_x():
    x = torch.tensor([[0.25, -0.5]])
    features = fourier_features(x, 2)
    expected = [0.25, -0.5, math.sin(math.pi * 0.25), math.sin(2 * math.pi * 0.25), math.sin(-math.pi * 0.5),
                math.sin(-2 * math.pi * 0.5), math.cos(math.pi * 0.25), math.cos(2 * math.pi * 0.25),
                math.cos(-math.pi * 0.5), math.cos(-2 * math.pi * 0.5)]
    assert features[0].tolist() == pytest.approx(expected, abs=1e-6)
    net = MLPDenoiser(fourier_bands=3)
    assert net(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long)).shape == (4, 2)
    assert MLPDenoiser(**net.config).config == net.config


def test_cosine_lr_decays_from_the_peak_to_zero_after_the_warm_up():
    config = tiny_points_config(110, early_stop=False)
    config.train.lr, config.train.warmup, config.train.lr_schedule = 1.0, 10, "cosine"
    trainer = Trainer(config)
    assert trainer.lr_at(4) == pytest.approx(0.5)  # warm-up: (4 + 1) / 10
    assert trainer.lr_at(10) == pytest.approx(1.0)
    assert trainer.lr_at(60) == pytest.approx(0.5)  # half-way through the decay: (1 + cos(pi / 2)) / 2
    assert trainer.lr_at(110) == pytest.approx(0.0, abs=1e-12)


def test_off_support_note_for_the_samples_caption():
    rng = np.random.default_rng(0)
    reference = rng.normal(0.0, 0.1, (2000, 2))
    far = np.full((10, 2), 5.0)
    samples = np.concatenate([rng.normal(0.0, 0.1, (90, 2)), far])
    note = off_support_note(samples, reference)
    assert note.startswith("off-support ") and note.endswith(" %")
    assert 10.0 <= float(note.split()[1]) <= 13.0  # the 10 far points, plus about 1 % of the rest
    assert off_support_note(samples, None) == ""
