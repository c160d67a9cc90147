"""``train --config FILE`` and ``train --set section.key=value``: a run from a config file, with overrides.

Precedence, from weakest to strongest: the data kind's defaults or the ``--config`` file, then the named flags
(``--steps``, ``--lr``, ...), then each ``--set`` in order. The new run's config.json records the result. A resume
takes ``--set`` too, for what a continued run may change (``train.steps``, reporting, the device).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ddpm_studio.cli.common import CliError, FlagRow, apply_flags

#: The data settings a data set is loaded with: when a --set changes one of them, the data is loaded again.
_DATA_KEYS = ("dataset", "image_size", "num_points", "num_images")


def add_train_options(train: argparse.ArgumentParser) -> None:
    """Add ``--config`` and ``--set`` to the ``train`` parser."""
    train.add_argument("--config", type=Path, metavar="FILE",
                       help="start from this config: a run folder, its config.json, or a .json / .toml file of "
                            "the same sections (data, model, diffusion, train); flags and --set override it")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="set one config key, e.g. --set train.steps=40 --set train.lr=0.003 (repeatable; the "
                            "value is read as JSON where it parses, else as text; applied after the flags)")


def resumed_config(config, args: argparse.Namespace):
    """A resumed run's config with ``--set`` applied (``--config`` has no place in a resume)."""
    if args.config is not None:
        raise CliError("--resume continues the run's own config; drop --config (--set train.steps=N or --steps N "
                       "changes how far it goes)")
    from ddpm_studio.core.config_files import config_with_overrides

    return config_with_overrides(config, args.overrides)


def file_run(args: argparse.Namespace, run_flags: list[FlagRow]):
    """(config, loaded DataSet) of a new run from ``--config``: the file, then the flags, then ``--set``.

    The data set is loaded once, from the final config. A --batch-size larger than the training split is refused
    here; a batch size from the file that does not fit is refused by the trainer, naming train.batch_size.
    """
    from ddpm_studio.core.config import RunConfig
    from ddpm_studio.core.config_files import config_with_overrides, read_config_file
    from ddpm_studio.core.data import load_dataset

    config = RunConfig.from_dict(read_config_file(args.config))
    apply_flags(config, args, run_flags)
    if args.data is not None and os.path.exists(args.data):
        config.data.dataset = os.path.abspath(args.data)
    config = config_with_overrides(config, args.overrides)
    data = config.data
    dataset = load_dataset(data.dataset, image_size=data.image_size, num_points=data.num_points,
                           num_images=data.num_images, seed=config.train.seed, subset=data.subset)
    if args.batch_size is not None and args.batch_size > len(dataset.train) and data.subset is None:
        raise CliError(f"--batch-size {args.batch_size} is larger than the {len(dataset.train)} training items of "
                       f"{dataset.name}; choose at most {len(dataset.train)}")
    return config, dataset


def apply_overrides_last(config, dataset, args: argparse.Namespace):
    """(config, data set) with ``--set`` applied after every flag; a new run's data is loaded again only when a
    --set changed what it is loaded with (its name, size, count or the seed). ``dataset`` is None on a resume.

    Applying the same overrides again is harmless: a --config run and a resume had them applied already (before
    the data was loaded, and before the resume's conflicts were checked), so here they only win over the flags.
    """
    if not args.overrides:
        return config, dataset
    from ddpm_studio.core.config_files import config_with_overrides
    from ddpm_studio.core.data import load_dataset

    updated = config_with_overrides(config, args.overrides)
    before = [getattr(config.data, key) for key in _DATA_KEYS] + [config.data.subset, config.train.seed]
    after = [getattr(updated.data, key) for key in _DATA_KEYS] + [updated.data.subset, updated.train.seed]
    if dataset is not None and before != after:
        data = updated.data
        dataset = load_dataset(data.dataset, image_size=data.image_size, num_points=data.num_points,
                               num_images=data.num_images, seed=updated.train.seed, subset=data.subset)
    return updated, dataset
