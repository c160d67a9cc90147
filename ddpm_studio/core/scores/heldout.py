"""The data set a run was trained on, rebuilt from its config: what every evaluation scores against."""

from __future__ import annotations

from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.data import DataSet, load_dataset


def load_run_dataset(config: RunConfig, with_subset: bool = True) -> DataSet:
    """The data set a run was trained on, rebuilt from its config (same seed, hence the same held-out split).

    ``with_subset=False`` gives the whole training split of a ``data.subset`` run (the held-out part is the same
    either way): what its samples' quality is scored against, since 10 images cannot describe the distribution.
    """
    data = config.data
    return load_dataset(
        data.dataset,
        image_size=data.image_size,
        num_points=data.num_points,
        num_images=data.num_images,
        seed=config.train.seed,
        subset=data.subset if with_subset else None,
    )
