"""The training subset option: seeded, nested, after the held-out split, validated with one clear message."""

from __future__ import annotations

import pytest
import torch

from ddpm_studio.core.config import ConfigError, RunConfig
from ddpm_studio.core.data import DataError, load_dataset, take_subset


def _rows(x: torch.Tensor) -> set[tuple]:
    return {tuple(row.flatten().tolist()) for row in x}


def test_subset_keeps_the_held_out_split_and_draws_training_items():
    full = load_dataset("digits", seed=3)
    small = load_dataset("digits", seed=3, subset=10)
    assert torch.equal(small.heldout, full.heldout)
    assert small.train.shape == (10, *full.data_shape)
    assert _rows(small.train) <= _rows(full.train)
    assert small.labels is not None and small.labels.shape == (10,)
    # each label still belongs to its image
    positions = [next(i for i in range(len(full.train)) if torch.equal(full.train[i], image)) for image in small.train]
    assert torch.equal(small.labels, full.labels[positions])


def test_subsets_are_seeded_and_nested():
    ten, hundred = load_dataset("digits", subset=10), load_dataset("digits", subset=100)
    assert torch.equal(load_dataset("digits", subset=10).train, ten.train)
    assert _rows(ten.train) <= _rows(hundred.train)
    assert not torch.equal(load_dataset("digits", subset=10, seed=1).train, ten.train)


def test_points_keep_the_whole_splits_standardisation():
    full = load_dataset("moons", num_points=500)
    one = load_dataset("moons", num_points=500, subset=1)
    assert one.train.shape == (1, 2)
    assert torch.equal(one.shift, full.shift) and torch.equal(one.scale, full.scale)
    for got, expected in zip(one.x0_range(), full.x0_range()):  # one point has no width: the split's box (M23)
        assert torch.equal(got, expected)


@pytest.mark.parametrize("size", [0, 1618, 2.5, True])
def test_bad_subset_sizes_are_one_clear_data_error(size):
    with pytest.raises(DataError, match=r"choose 1\.\.1617"):
        take_subset(load_dataset("digits"), size, seed=0)


def test_config_round_trips_and_validates_the_subset():
    config = RunConfig()
    config.data.subset = 100
    assert RunConfig.from_dict(config.to_dict()).data.subset == 100
    assert RunConfig.from_dict({"data": {"dataset": "moons"}}).data.subset is None  # older runs load unchanged
    config.data.subset = 0
    with pytest.raises(ConfigError, match="data.subset"):
        config.validate()


def test_the_trainer_takes_the_configs_subset_of_a_whole_data_set_it_is_handed():
    from ddpm_studio.core.training.trainer import Trainer

    config = RunConfig()
    config.data.subset = 7
    config.train.steps = 1
    trainer = Trainer(config, dataset=load_dataset("moons", seed=config.train.seed))
    assert torch.equal(trainer.dataset.train, load_dataset("moons", seed=config.train.seed, subset=7).train)
    assert trainer.config.train.batch_size == 256  # drawn with replacement: the batch is not cut to 7
