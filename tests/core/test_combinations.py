"""Every parameterization x variance x loss that the Setup dock allows trains and previews with the defaults.

The seed notes' own settings ("mean (fixed variance)" + VLB, "mean + variance (learned)" + hybrid) once stopped at
their first preview: the 50-step respaced preview inverts M8 through coef_x0 ~ 1e-4 at t = T, and the chain ran to
inf. The x0 box (M23) bounds it. These runs use the real defaults (T = 1000, 50 preview steps) and few steps.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from ddpm_studio.core.config import RunConfig, default_config, snr_weighting_applies
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.training.events import PreviewFailed, PreviewReady, TrainStep
from ddpm_studio.core.training.trainer import Trainer

ALLOWED = [
    c
    for c in itertools.product(
        ["eps", "mean", "x0", "v"], ["fixed_large", "fixed_small", "learned"], ["simple", "vlb", "hybrid"]
    )
    if not (c[1] == "learned" and c[2] == "simple")
]


@pytest.fixture(scope="module")
def moons():
    return load_dataset("moons", num_points=512)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", image_size=8)


def defaults_with(kind: str, dataset: str, param: str, variance: str, loss: str, steps: int) -> RunConfig:
    """The data kind's defaults with one combination chosen, as the Setup dock and the CLI build it."""
    config = default_config(dataset, kind)
    config.diffusion.parameterization, config.diffusion.variance, config.train.loss = param, variance, loss
    if not snr_weighting_applies(loss, param):
        config.train.snr_gamma = 0.0  # the images' min-SNR default has no meaning here (as the dock greys it)
    config.train.steps = steps
    config.train.preview_every = steps
    config.train.checkpoint_every = 0
    return config.validate()


def test_every_allowed_combination_is_counted():
    assert len(ALLOWED) == 32


@pytest.mark.parametrize("param, variance, loss", ALLOWED)
def test_points_defaults_train_and_preview(moons, param, variance, loss):
    config = defaults_with("points", "moons", param, variance, loss, steps=30)
    config.train.batch_size = 64
    trainer = Trainer(config, dataset=moons)
    events = list(trainer.train())
    assert not [e.message for e in events if isinstance(e, PreviewFailed)]
    assert all(torch.isfinite(torch.tensor(e.loss)) for e in events if isinstance(e, TrainStep))
    preview = next(e for e in events if isinstance(e, PreviewReady))
    assert preview.samples.shape == (config.train.preview_count, 2) and torch.isfinite(preview.samples).all()
    low, high = trainer.x0_range
    # the last step returns the clipped x0_hat, so no preview point leaves the data's box (M23)
    assert bool(((preview.samples >= low - 1e-5) & (preview.samples <= high + 1e-5)).all())


@pytest.mark.parametrize("param, variance, loss", ALLOWED)
def test_image_defaults_train_and_preview(digits, param, variance, loss):
    config = defaults_with("images", "digits", param, variance, loss, steps=3)
    config.data.image_size = 8
    config.train.batch_size = 8
    config.train.preview_count = 2
    trainer = Trainer(config, dataset=digits)
    events = list(trainer.train())
    assert not [e.message for e in events if isinstance(e, PreviewFailed)]
    preview = next(e for e in events if isinstance(e, PreviewReady))
    assert torch.isfinite(preview.samples).all() and preview.samples.abs().max() <= 1.0


def test_a_failing_preview_never_ends_the_run(moons, monkeypatch):
    config = defaults_with("points", "moons", "eps", "fixed_large", "simple", steps=20)
    config.train.preview_every = 10
    trainer = Trainer(config, dataset=moons)

    def broken(*_args, **_kwargs):
        raise ValueError("model output contains NaN or inf values")

    monkeypatch.setattr(trainer, "preview", broken)
    events = list(trainer.train())
    failed = [e for e in events if isinstance(e, PreviewFailed)]
    assert [e.step for e in failed] == [10, 20] and "NaN" in failed[0].message and "goes on" in failed[0].message
    assert trainer.step == 20


def test_mean_parameterization_explodes_without_the_box(moons):
    """The cause, shown: the same 30-step mean/VLB model previews to inf when nothing clips x0_hat."""
    config = defaults_with("points", "moons", "mean", "fixed_large", "vlb", steps=30)
    config.diffusion.clip_x0 = False
    events = list(Trainer(config, dataset=moons).train())
    assert [e for e in events if isinstance(e, PreviewFailed)]
