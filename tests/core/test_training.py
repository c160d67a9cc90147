"""The Trainer: short runs per data kind, every objective, checkpoints, exact resume, DDP."""

from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys

import pytest
import torch

from ddpm_studio.core.config import ConfigError, RunConfig, default_config
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.io.runs import list_checkpoints, load_checkpoint, read_metrics
from ddpm_studio.core.pipeline import load_pipeline
from ddpm_studio.core.training.events import CheckpointSaved, PreviewReady, TrainingFinished, TrainStep
from ddpm_studio.core.training.trainer import Trainer, TrainingDiverged


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", num_points=512)


def small_points_config(steps: int = 20, **diffusion) -> RunConfig:
    config = default_config("moons", "points")
    config.data.num_points = 512
    config.diffusion.num_timesteps = 100
    for key, value in diffusion.items():
        setattr(config.diffusion, key, value)
    config.train.steps = steps
    config.train.batch_size = 64
    config.train.log_every = 5
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    return config


def run_all(trainer: Trainer) -> list:
    return list(trainer.train())


def test_points_run_reports_loss_and_finishes(moons):
    config = small_points_config(steps=30)
    config.train.preview_every = 15
    events = run_all(Trainer(config, dataset=moons))
    steps = [e for e in events if isinstance(e, TrainStep)]
    assert [e.step for e in steps] == [5, 10, 15, 20, 25, 30]
    assert all(math.isfinite(e.loss) and e.loss > 0 for e in steps)
    assert len(steps[-1].band_losses) == 10
    previews = [e for e in events if isinstance(e, PreviewReady)]
    assert [p.step for p in previews] == [15, 30] and previews[0].samples.shape == (16, 2)
    assert isinstance(events[-1], TrainingFinished) and events[-1].reason == "completed"


def test_image_run_trains_a_unet_on_digits(tmp_path):
    config = default_config("digits", "images")
    config.data.image_size = 8
    config.diffusion.num_timesteps = 50
    config.train.steps = 3
    config.train.batch_size = 8
    config.train.log_every = 1
    config.train.preview_every = 3
    config.train.preview_count = 4
    config.train.preview_steps = 5
    events = run_all(Trainer(config, run_dir=tmp_path / "run"))
    losses = [e.loss for e in events if isinstance(e, TrainStep)]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    preview = next(e for e in events if isinstance(e, PreviewReady))
    assert preview.samples.shape == (4, 1, 8, 8)
    assert preview.samples.abs().max() <= 1.0  # clipped x0_hat keeps images in range
    pipeline = load_pipeline(tmp_path / "run")
    assert pipeline.kind == "images" and pipeline.data_shape == (1, 8, 8)


COMBOS = [
    c
    for c in itertools.product(
        ["eps", "mean", "x0", "v"], ["fixed_large", "fixed_small", "learned"], ["simple", "vlb", "hybrid"]
    )
    if not (c[1] == "learned" and c[2] == "simple")
]


@pytest.mark.parametrize("param, variance, loss", COMBOS)
def test_every_combination_trains_without_nan(moons, param, variance, loss):
    config = small_points_config(steps=40, parameterization=param, variance=variance)
    config.train.loss = loss
    trainer = Trainer(config, dataset=moons)
    losses = [e.loss for e in trainer.train() if isinstance(e, TrainStep)]
    assert all(math.isfinite(v) for v in losses)
    samples = trainer.pipeline().sample_final(64, num_steps=20)
    assert torch.isfinite(samples).all()


def test_learned_variance_with_simple_loss_is_refused():
    config = small_points_config(variance="learned")
    with pytest.raises(ConfigError, match="vlb.*hybrid"):
        config.validate()


def test_learned_vlb_on_default_data_does_not_diverge(moons):
    config = small_points_config(steps=300, variance="learned")
    config.train.loss = "vlb"
    config.train.log_every = 50
    losses = [e.loss for e in Trainer(config, dataset=moons).train() if isinstance(e, TrainStep)]
    assert all(math.isfinite(v) for v in losses)


def test_losses_fall(moons):
    # eps on the linear schedule, whose loss starts at E|eps|^2 = 1 (the points default predicts v on the cosine
    # schedule, whose per-t losses weight the noise levels differently; the trainer is what is tested here)
    config = small_points_config(steps=400, parameterization="eps", schedule="linear")
    config.train.log_every = 50
    losses = [e.loss for e in Trainer(config, dataset=moons).train() if isinstance(e, TrainStep)]
    assert losses[-1] < 0.7 * losses[0]


def test_checkpoint_round_trips_exactly(tmp_path, moons):
    trainer = Trainer(small_points_config(steps=10), run_dir=tmp_path / "run", dataset=moons)
    run_all(trainer)
    ((step, path),) = list_checkpoints(tmp_path / "run")
    assert step == 10
    tensors, meta = load_checkpoint(path)
    expected, expected_meta = trainer.state_tensors()
    assert set(tensors) == set(expected)
    for name, value in expected.items():
        assert torch.equal(tensors[name], value.cpu()), name
    assert meta["step"] == 10 and meta["config"] == expected_meta["config"]


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {
        k: v.clone()
        for k, v in {
            **trainer.net.state_dict(),
            **{f"ema.{n}": p for n, p in trainer.ema.model.state_dict().items()},
        }.items()
    }


def test_resume_is_bit_identical_to_a_straight_run(tmp_path, moons):
    """N steps straight == N/2, stop, resume N/2: weights, EMA and losses identical (optimizer, RNG restored)."""
    config = small_points_config(steps=40)
    config.model.dropout = 0.1  # dropout draws from the global RNG: its state must be restored too
    straight = Trainer(config, run_dir=tmp_path / "a", dataset=moons)
    straight_losses = [e.loss for e in straight.train() if isinstance(e, TrainStep)]

    half = Trainer(config, run_dir=tmp_path / "b", dataset=moons)
    first = []
    for event in half.train():
        if isinstance(event, TrainStep):
            first.append(event.loss)
            if event.step == 20:
                half.request_stop()
    assert half.step == 20
    torch.manual_seed(1234)  # anything the process does in between must not matter
    resumed = Trainer(config, run_dir=tmp_path / "b", resume=True, dataset=moons)
    assert resumed.step == 20
    second = [e.loss for e in resumed.train() if isinstance(e, TrainStep)]
    assert first + second == straight_losses
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # metrics.jsonl continues without duplicates
    assert [r["step"] for r in read_metrics(tmp_path / "b")] == [5, 10, 15, 20, 25, 30, 35, 40]


def test_new_run_never_overwrites_an_existing_one(tmp_path, moons):
    run_all(Trainer(small_points_config(steps=5), run_dir=tmp_path / "run", dataset=moons))
    with pytest.raises(Exception, match="already holds a trained run"):
        Trainer(small_points_config(steps=5), run_dir=tmp_path / "run", dataset=moons)


def test_nan_loss_stops_with_a_message_naming_the_step(tmp_path, moons):
    config = small_points_config(steps=50)
    config.train.checkpoint_every = 10
    trainer = Trainer(config, run_dir=tmp_path / "run", dataset=moons)
    events = []
    with pytest.raises(TrainingDiverged, match=r"step 2[0-9].*lower the learning rate"):
        for event in trainer.train():
            events.append(event)
            if isinstance(event, CheckpointSaved) and event.step == 20:
                with torch.no_grad():
                    next(trainer.net.parameters()).fill_(float("nan"))
    # the last good checkpoint is still there and loads
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [10, 20]
    assert load_pipeline(tmp_path / "run").step == 20


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("steps", -5, "train.steps"),
        ("lr", 0.0, "train.lr"),
        ("lr", float("nan"), "train.lr"),
        ("batch_size", 0, "train.batch_size"),
        ("snr_gamma", -1.0, "train.snr_gamma"),
        ("snr_gamma", float("inf"), "train.snr_gamma"),
    ],
)
def test_bad_settings_are_named(field, value, match):
    config = small_points_config()
    setattr(config.train, field, value)
    with pytest.raises(ConfigError, match=match):
        config.validate()


def test_min_snr_weighting_defaults_and_the_settings_it_cannot_serve():
    assert default_config("digits", "images").train.snr_gamma == 5.0  # Hang et al. 2023's gamma
    assert default_config("moons", "points").train.snr_gamma == 0.0  # L_simple as in MATH.md M18
    config = default_config("digits", "images")
    config.train.loss = "vlb"
    with pytest.raises(ConfigError, match="snr_gamma.*vlb"):
        config.validate()
    config = default_config("digits", "images")
    config.diffusion.parameterization = "mean"
    with pytest.raises(ConfigError, match="snr_gamma.*mean"):
        config.validate()
    # a run folder written before the setting existed reads as unweighted
    raw = default_config("digits", "images").to_dict()
    del raw["train"]["snr_gamma"]
    assert RunConfig.from_dict(raw).train.snr_gamma == 0.0


def test_batch_larger_than_data_is_refused(moons):
    config = small_points_config()
    config.train.batch_size = 100_000
    with pytest.raises(ConfigError, match="larger than"):
        Trainer(config, dataset=moons)


def test_config_json_round_trip_and_field_errors():
    config = small_points_config()
    assert RunConfig.from_dict(config.to_dict()) == config
    raw = config.to_dict()
    raw["train"]["lr"] = "fast"
    with pytest.raises(ConfigError, match="train.lr"):
        RunConfig.from_dict(raw)
    raw = config.to_dict()
    raw["model"]["width"] = 3
    with pytest.raises(ConfigError, match="width"):
        RunConfig.from_dict(raw)


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_ddp_with_two_gloo_processes(tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "ddpm_studio",
        "train",
        "--data",
        "moons",
        "--steps",
        "20",
        "--T",
        "100",
        "--log-every",
        "5",
        "--device",
        "cpu",
        "--out",
        str(run),
        "--quiet",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "x 2 processes" in result.stderr
    assert [s for s, _ in list_checkpoints(run)] == [20]
    assert [r["step"] for r in read_metrics(run)] == [5, 10, 15, 20]  # rank 0 alone writes
    assert load_pipeline(run).step == 20
    # only rank 0 takes the run folder's lock (a rank 1 that took it too would have been refused), and gives it back
    assert not (run / "train.lock").exists()
