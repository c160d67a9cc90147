"""Conditional training (M34): label dropout observed in the trainer's batches, refusal of unlabelled data,
conditional run folders that load and sample a class, unconditional ones unchanged, and the guidance sweep."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_studio.core.analysis.guidance_sweep import GuidanceRow, iter_guidance_sweep
from ddpm_studio.core.config import ConfigError, RunConfig, default_config
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.pipeline import load_pipeline
from ddpm_studio.core.process.guidance import GuidanceError
from ddpm_studio.core.scores.quality import QualityScorer
from ddpm_studio.core.training.trainer import Trainer


def conditional_config(dataset: str = "ring", steps: int = 20, p_uncond: float = 0.1) -> RunConfig:
    config = default_config(dataset, "points")
    config.data.num_points = 600
    config.diffusion.num_timesteps = 50
    config.model.num_classes = 8 if dataset == "ring" else 2
    config.train.p_uncond = p_uncond
    config.train.steps = steps
    config.train.batch_size = 256
    config.train.log_every = 10
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    return config


def test_label_dropout_rate_in_training_batches() -> None:
    """The labels the network sees: p_uncond of them the null class, the rest the drawn items' own labels."""
    trainer = Trainer(conditional_config(steps=8, p_uncond=0.25))
    seen: list[torch.Tensor] = []
    inner = trainer.model_fn

    def spy(x, t, y=None):
        seen.append(y.detach().clone())
        return inner(x, t, y)

    trainer.model_fn = spy
    for _ in trainer.train():
        pass
    labels = torch.cat(seen)
    assert labels.numel() == 8 * 256
    rate = float((labels == 8).double().mean())
    assert abs(rate - 0.25) < 4 * math.sqrt(0.25 * 0.75 / labels.numel())
    kept = labels[labels != 8]
    assert kept.min() >= 0 and kept.max() <= 7
    # the kept labels follow the training items' class shares (batches are drawn uniformly over the items)
    shares = torch.bincount(kept, minlength=8).double() / kept.numel()
    expected = torch.bincount(trainer.dataset.labels, minlength=8).double() / trainer.dataset.labels.numel()
    assert float((shares - expected).abs().max()) < 0.04


def test_unlabelled_data_refuses_a_conditional_model_in_one_line() -> None:
    config = conditional_config("moons")
    config.data.dataset = "swissroll"
    with pytest.raises(ConfigError) as error:
        Trainer(config)
    assert "swissroll has no class labels" in str(error.value) and "\n" not in str(error.value)
    config = conditional_config("moons")
    config.model.num_classes = 5
    with pytest.raises(ConfigError, match="moons has 2 classes"):
        Trainer(config)


def test_config_fields_validate_and_round_trip() -> None:
    config = conditional_config()
    again = RunConfig.from_dict(config.to_dict())
    assert again.model.num_classes == 8 and again.train.p_uncond == 0.1
    old = config.to_dict()
    del old["model"]["num_classes"], old["train"]["p_uncond"]  # a config.json written before conditioning
    assert RunConfig.from_dict(old).model.num_classes is None
    for section, name, value in (("model", "num_classes", 0), ("train", "p_uncond", 1.5)):
        bad = config.to_dict()
        bad[section][name] = value
        with pytest.raises(ConfigError, match=f"{section}.{name}"):
            RunConfig.from_dict(bad)


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ring_cond")
    config = conditional_config(steps=200)
    config.train.batch_size = 128
    config.train.lr = 3e-3
    for _ in Trainer(config, run_dir=run_dir).train():
        pass
    return run_dir


def test_a_conditional_run_loads_and_samples_the_asked_class(ring_run) -> None:
    pipeline = load_pipeline(ring_run)
    assert pipeline.num_classes == 8
    dataset = load_dataset("ring", num_points=600)
    scorer = QualityScorer(dataset)
    labels = torch.tensor([3] * 40)
    samples = pipeline.sample_final(40, num_steps=25, method="ddim", labels=labels, guidance=2.0)
    assert float((scorer.predicted_classes(samples) == 3).double().mean()) >= 0.9
    with pytest.raises(GuidanceError):
        pipeline.sample(4, labels=torch.tensor([0, 1, 2, 8]))


def test_the_guidance_sweep_starts_every_w_from_one_x_T(ring_run) -> None:
    pipeline = load_pipeline(ring_run)
    scorer = QualityScorer(load_dataset("ring", num_points=600))
    rows = [item for item in iter_guidance_sweep(pipeline, [0.0, 4.0], 16, scorer, num_steps=10, method="ddim")
            if isinstance(item, GuidanceRow)]
    assert [row.guidance for row in rows] == [0.0, 4.0]
    assert rows[0].labels.tolist() == [c for c in range(8) for _ in range(2)]
    assert all(0.0 <= row.accuracy <= 1.0 and math.isfinite(row.score) for row in rows)
    # w = 0 is the conditional sampler from the same x_T
    again = pipeline.sample_final(16, num_steps=10, method="ddim", labels=rows[0].labels)
    torch.testing.assert_close(rows[0].samples, again)


def test_an_unconditional_run_is_unchanged_and_takes_no_class(tmp_path) -> None:
    config = conditional_config("moons", steps=5)
    config.model.num_classes = None
    for _ in Trainer(config, run_dir=tmp_path).train():
        pass
    pipeline = load_pipeline(tmp_path)
    assert pipeline.num_classes is None
    assert not any("class" in name for name in pipeline.network.state_dict())
    with pytest.raises(GuidanceError, match="unconditional"):
        pipeline.sample(2, labels=torch.tensor([0, 1]))
