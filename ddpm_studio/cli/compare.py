"""``ddpm-studio compare --data D --steps N --out DIR``: train several settings on the same data, seed and budget
and tabulate them (Ho et al. 2020, Table 2 at desk scale) in ``DIR/compare.csv`` and ``DIR/compare.md``.

The maths lives in :mod:`ddpm_studio.core.compare`; this module only parses flags, drives its generator and prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ddpm_studio.cli.common import CliError, ProgressBar, _float, _positive_int, _settings_list, apply_flags
from ddpm_studio.core import choices
from ddpm_studio.core.catalog import BUILTIN_DATASETS, MODEL_PRESETS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``compare`` to the ``ddpm-studio`` subparsers (made with ``parser_class=_Parser``)."""
    # the settings module alone: the package's runner imports torch
    from ddpm_studio.core.compare.settings import DEFAULT_SETTINGS, EVAL_EXAMPLES

    names = ",".join(s.name for s in DEFAULT_SETTINGS)
    compare = subparsers.add_parser(
        "compare",
        help="train several settings on the same data and budget, and tabulate them",
        description="Train each setting (parameterization / variance / loss) on the same data, seed and budget, "
        "one after another, into OUT/<setting>/; then the bound, samples and a quality score for each. Writes "
        "OUT/compare.csv and OUT/compare.md (a Markdown table with each run's samples).",
    )
    compare.add_argument(
        "--data", default="moons", help=f"built-in data set ({', '.join(BUILTIN_DATASETS)}) or a path (default: moons)"
    )
    compare.add_argument("--out", required=True, type=Path, help="folder for the runs and the tables")
    compare.add_argument(
        "--steps",
        type=_positive_int,
        help="training steps per setting (default: the data kind's default, 3000 for 2-D points, 1000 for images)",
    )
    compare.add_argument(
        "--settings",
        type=_settings_list,
        help=f"comma-separated <param>/<loss> or learned/<loss> names (default: {names})",
    )
    compare.add_argument("--T", dest="num_timesteps", type=_positive_int, help="diffusion steps T (default 1000)")
    compare.add_argument(
        "--schedule",
        choices=choices.names(choices.SCHEDULES),
        help="beta schedule (default: linear for 2-D, cosine for images)",
    )
    compare.add_argument("--model", choices=list(MODEL_PRESETS), help="network preset (default: tiny)")
    compare.add_argument("--batch-size", type=_positive_int)
    compare.add_argument("--lr", type=_float, help="peak learning rate")
    compare.add_argument(
        "--ema-decay",
        type=_float,
        help="EMA decay (default: the kind's default, capped so the average spans at most a tenth of the steps)",
    )
    compare.add_argument("--seed", type=int, default=0, help="the one seed every run uses (default 0)")
    compare.add_argument("--image-size", type=_positive_int, help="resize images to this square size")
    compare.add_argument("--device", help="auto (CUDA > MPS > CPU), cpu, cuda, cuda:N or mps")
    compare.add_argument(
        "--eval-examples",
        type=_positive_int,
        default=EVAL_EXAMPLES,
        help=f"held-out examples for each bound (default {EVAL_EXAMPLES})",
    )
    compare.add_argument(
        "--samples",
        type=_positive_int,
        help="samples to score per setting (default: the size the real-data floor uses)",
    )
    compare.add_argument("--sample-steps", type=_positive_int, help="sampling steps K <= T (respaced; default all T)")
    compare.add_argument("--quiet", action="store_true", help="no progress bars")


# flag -> config field of the settings every compared run shares
_SHARED_FLAGS = [
    ("num_timesteps", "diffusion", "num_timesteps"),
    ("schedule", "diffusion", "schedule"),
    ("model", "model", "preset"),
    ("batch_size", "train", "batch_size"),
    ("lr", "train", "lr"),
    ("ema_decay", "train", "ema_decay"),
    ("device", "train", "device"),
]


def _compare_base_config(args: argparse.Namespace):
    """The shared settings of ``compare``: :func:`compare_config` for the data's kind, then the given flags;
    returns (config, the loaded data set: the comparison trains on it, so the file is read once)."""
    import os

    from ddpm_studio.core.compare import compare_config
    from ddpm_studio.core.config import default_config
    from ddpm_studio.core.data import load_dataset

    probe = load_dataset(args.data, image_size=args.image_size, seed=args.seed)
    data = os.path.abspath(args.data) if os.path.exists(args.data) else args.data
    steps = args.steps or default_config(data, probe.kind).train.steps
    config = compare_config(data, probe.kind, steps, seed=args.seed)
    config.data.image_size = args.image_size
    apply_flags(config, args, _SHARED_FLAGS)
    # previews are off in a comparison, but the config still requires preview_steps <= T
    config.train.preview_steps = min(config.train.preview_steps, config.diffusion.num_timesteps)
    if args.sample_steps is not None and args.sample_steps > config.diffusion.num_timesteps:
        raise CliError(f"--sample-steps {args.sample_steps} exceeds T = {config.diffusion.num_timesteps}")
    return config.validate(), probe


def run(args: argparse.Namespace) -> int:
    """Train and evaluate every setting with progress bars; print the Markdown table at the end."""
    from ddpm_studio.core.compare import (
        CompareFinished,
        CompareProgress,
        CompareRow,
        budget_warning,
        far_off_text,
        iter_compare,
    )

    config, dataset = _compare_base_config(args)
    warning = budget_warning(dataset.kind, config.train.steps)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    bar: ProgressBar | None = None
    current: tuple[int, str] | None = None
    finished: CompareFinished | None = None
    try:
        for event in iter_compare(
            args.data,
            config.train.steps,
            args.out,
            settings=args.settings,
            seed=args.seed,
            eval_examples=args.eval_examples,
            sample_count=args.samples,
            sample_steps=args.sample_steps,
            base_config=config,
            dataset=dataset,
        ):
            if isinstance(event, CompareProgress):
                if current != (event.run, event.phase):
                    if bar is not None:
                        bar.close()
                    current = (event.run, event.phase)
                    bar = ProgressBar(
                        event.total,
                        f"[{event.run + 1}/{event.num_runs}] {event.name} {event.phase}",
                        enabled=not args.quiet and event.phase != "prepare",
                    )
                assert bar is not None
                bar.update(event.done, f"loss {event.loss:.4f}" if event.loss is not None else "")
            elif isinstance(event, CompareRow):
                if bar is not None:
                    bar.close()
                    bar, current = None, None
                score = f"{event.score:.4g}" if event.score is not None else "-"
                bound = f"{event.bound:.4f} {event.bound_unit}" if event.bound is not None else "-"
                far = f", far off {far_off_text(event)}" if event.far_off_count is not None else ""
                print(
                    f"{event.name}: {event.status}; bound {bound}, score {score} (floor {event.floor:.4g}){far}, "
                    f"trained in {event.train_seconds:.1f} s",
                    file=sys.stderr,
                )
            else:
                finished = event
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        print(f"interrupted; the finished rows are in {args.out}", file=sys.stderr)
        return 130
    assert finished is not None
    print(finished.markdown_path.read_text(encoding="utf-8"))
    print(f"wrote {finished.csv_path} and {finished.markdown_path}", file=sys.stderr)
    return 0
