"""The headless command line: ``ddpm-studio train | sample | evaluate | compare`` (``--help`` on each).

Every user error (bad arguments, missing files, a folder that is not a run, a checkpoint from another model, a
diverged loss, a full disk) ends with ONE line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

EXIT_USAGE = 2


# shared with cli_eval.py and cli_ideal.py, kept importable from here (contract)
from ddpm_studio import cli_guidance  # noqa: E402
from ddpm_studio.cli_common import CliError, ProgressBar, _float, _positive_int  # noqa: E402

__all__ = ["CliError", "ProgressBar"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit status 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{self.prog}: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    from ddpm_studio import __version__
    from ddpm_studio.core.data import BUILTIN_DATASETS
    from ddpm_studio.core.diffusion import LOSSES, PARAMETERIZATIONS, VARIANCES
    from ddpm_studio.core.models import MODEL_PRESETS
    from ddpm_studio.core.sampling import METHODS, SPACINGS
    from ddpm_studio.core.schedule import SCHEDULES

    parser = _Parser(
        prog="ddpm-studio",
        description="Train denoising diffusion models and sample them. With no command, opens the studio.",
    )
    parser.add_argument("--version", action="version", version=f"ddpm-studio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    train = sub.add_parser(
        "train",
        help="train a model headless into a run folder",
        description="Train a diffusion model; the run folder holds config, metrics and "
        "checkpoints. Works under torchrun for several GPUs.",
    )
    train.add_argument(
        "--data",
        default=None,
        help=f"built-in data set ({', '.join(BUILTIN_DATASETS)}) or a path to a folder / .npy / "
        ".npz / .csv / IDX file (default: moons)",
    )
    train.add_argument("--out", required=True, type=Path, help="run folder to create (or to resume)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--model", choices=list(MODEL_PRESETS), help="network preset (default: tiny)")
    train.add_argument("--param", choices=PARAMETERIZATIONS, help="what the network predicts (default: eps)")
    train.add_argument("--variance", choices=VARIANCES, help="reverse-process variance (default: fixed_large)")
    train.add_argument("--loss", choices=LOSSES, help="training objective (default: simple)")
    train.add_argument("--snr-gamma", type=_float,
                       help="min-SNR-gamma weighting of the simple loss, Hang et al. 2023 (default: 5 for images, "
                            "0 = unweighted for 2-D points)")
    train.add_argument(
        "--schedule", choices=SCHEDULES, help="beta schedule (default: linear for 2-D, cosine for images)"
    )
    train.add_argument("--T", dest="num_timesteps", type=_positive_int, help="diffusion steps T (default: 1000)")
    train.add_argument("--steps", type=_positive_int, help="optimiser steps in all (a resume continues to this)")
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--lr", type=_float, help="peak learning rate")
    train.add_argument("--warmup", type=int, help="learning-rate warm-up steps")
    train.add_argument("--ema-decay", type=_float)
    train.add_argument("--grad-clip", type=_float, help="global gradient-norm clip (0 disables)")
    train.add_argument("--seed", type=int)
    train.add_argument("--device", help="auto (CUDA > MPS > CPU), cpu, cuda, cuda:N or mps")
    train.add_argument("--image-size", type=_positive_int, help="resize images to this square size")
    train.add_argument("--subset", type=_positive_int,
                       help="train on only N of the training items (seeded, 1..N_train; the held-out split is "
                            "unchanged): 10, 100 or all to watch copying give way to generalisation")
    train.add_argument(
        "--clip-x0",
        dest="clip_x0",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="clip x0_hat to [-1, 1] when forming the mean (default: on for images)",
    )
    train.add_argument("--log-every", type=_positive_int)
    train.add_argument("--preview-every", type=int, help="steps between preview sample grids (0: none)")
    train.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (0: only at the end)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    cli_guidance.add_train_options(train)

    sample = sub.add_parser(
        "sample",
        help="draw samples from a trained run",
        description="Sample a run's EMA weights; .png writes a grid or scatter plot, .npz the "
        "samples in the data's own coordinates. --steps counts network evaluations for every method, so runs "
        "with the same --steps cost the same.",
        epilog=_sampler_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sample.add_argument("run_dir", type=Path, help="a run folder written by train (or the studio)")
    sample.add_argument("--num", type=_positive_int, default=64, help="number of samples (default 64)")
    sample.add_argument(
        "--steps",
        type=_positive_int,
        help="network evaluations K (default: T); at most T for every method but heun, which takes about K/2 "
        "steps of two evaluations and can use up to 2T - 1",
    )
    sample.add_argument(
        "--method", choices=METHODS, default="ancestral", help="sampler (default ancestral; see the list below)"
    )
    sample.add_argument(
        "--spacing", choices=SPACINGS, default="linspace", help="timestep grid (default linspace; see below)"
    )
    sample.add_argument("--eta", type=_float, default=0.0, help="DDIM eta in [0, 1] (0: deterministic)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument("--device", default="auto")
    sample.add_argument("--out", required=True, type=Path, help="output .png or .npz")
    sample.add_argument(
        "--trajectory",
        action="store_true",
        help="(.npz) also store the reverse process: trajectory_x_T (x_T, the pure noise it starts from, before "
        "any network evaluation), and x_t, x0_hat and the fed timestep at up to 100 of its steps "
        "(trajectory_x, trajectory_x0_hat, trajectory_t; trajectory_t_state is the paper t of each x_t)",
    )
    sample.add_argument("--quiet", action="store_true")
    from ddpm_studio.cli_eval import add_commands
    from ddpm_studio.cli_ideal import add_sample_options

    add_sample_options(sample)
    cli_guidance.add_sample_options(sample)

    add_commands(sub)
    return parser


def _sampler_epilog() -> str:
    """What each sampling method and spacing is, for ``--help``."""
    from ddpm_studio.core.sampling import METHOD_HELP, SPACING_HELP

    lines = ["methods:"]
    lines += [f"  {name:<13} {text}" for name, text in METHOD_HELP.items()]
    lines.append("spacings:")
    lines += [f"  {name:<13} {text}" for name, text in SPACING_HELP.items()]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- train
# flag -> config field, for a new run and for a resume (where resume_conflicts decides what may change)
_RUN_FLAGS = [
    ("data", "data", "dataset"),
    ("image_size", "data", "image_size"),
    ("subset", "data", "subset"),
    ("model", "model", "preset"),
    ("param", "diffusion", "parameterization"),
    ("variance", "diffusion", "variance"),
    ("loss", "train", "loss"),
    ("snr_gamma", "train", "snr_gamma"),
    ("schedule", "diffusion", "schedule"),
    ("num_timesteps", "diffusion", "num_timesteps"),
    ("batch_size", "train", "batch_size"),
    ("lr", "train", "lr"),
    ("warmup", "train", "warmup"),
    ("ema_decay", "train", "ema_decay"),
    ("grad_clip", "train", "grad_clip"),
    ("seed", "train", "seed"),
    ("clip_x0", "diffusion", "clip_x0"),
]


def _train_config(args: argparse.Namespace):
    """The RunConfig and, for a new run, its loaded DataSet (None on resume): the data kind's defaults, then flags.

    A default batch size larger than the data's training split is lowered to fit, with a note; a --batch-size
    that does not fit is refused in one line before anything trains.
    """
    from ddpm_studio.core.data import load_dataset, take_subset
    from ddpm_studio.core.pipeline import load_run_config
    from ddpm_studio.core.training.config import default_config, fit_batch_size, snr_weighting_applies

    dataset = None
    if args.resume:
        import copy

        from ddpm_studio.core.training.resume import resume_conflicts

        saved = load_run_config(args.out)
        config = copy.deepcopy(saved)
        for flag, section, name in _RUN_FLAGS:
            if getattr(args, flag) is not None:
                setattr(getattr(config, section), name, getattr(args, flag))
        conflicts = resume_conflicts(saved, config)
        if conflicts:
            raise CliError(f"--resume continues the run with its own settings; these flags would change it: "
                           f"{', '.join(conflicts)} (drop them, or train a new run into another --out)")
    else:
        data = args.data or "moons"
        # loaded once, here, and handed to the trainer: its kind picks the defaults, its size checks the batch
        dataset = load_dataset(data, image_size=args.image_size, seed=args.seed or 0)
        config = default_config(data if not os.path.exists(data) else os.path.abspath(data), dataset.kind)
        if args.image_size is not None:
            config.data.image_size = args.image_size
        for flag, section, name in _RUN_FLAGS[2:]:  # the data set and image size are set above
            if getattr(args, flag) is not None:
                setattr(getattr(config, section), name, getattr(args, flag))
        if args.snr_gamma is None and not snr_weighting_applies(config.train.loss, config.diffusion.parameterization):
            # the images' default weighting has no meaning for the bound or a mean target (as the Setup dock)
            config.train.snr_gamma = 0.0
        num_train = len(dataset.train)
        if args.batch_size is not None and args.batch_size > num_train:
            raise CliError(f"--batch-size {args.batch_size} is larger than the {num_train} training items of "
                           f"{dataset.name}; choose at most {num_train}")
        previous = fit_batch_size(config.train, num_train)
        if previous is not None:
            print(f"note: batch size {config.train.batch_size}: the default {previous} is larger than the "
                  f"{num_train} training items of {dataset.name}", file=sys.stderr)
        if config.data.subset is not None:
            # after the batch size check: batches are drawn with replacement, so a subset of 10 items trains with
            # the whole split's batch size (as the Trainer); the seed is the one the split was drawn with
            dataset = take_subset(dataset, config.data.subset, args.seed or 0)
    cli_guidance.apply_train_options(args, config, dataset)
    for flag, name in [
        ("steps", "steps"),
        ("device", "device"),
        ("log_every", "log_every"),
        ("preview_every", "preview_every"),
        ("checkpoint_every", "checkpoint_every"),
    ]:
        if getattr(args, flag) is not None:
            setattr(config.train, name, getattr(args, flag))
    config.validate()
    return config, dataset


def cmd_train(args: argparse.Namespace) -> int:
    from ddpm_studio.core.models import format_parameter_count
    from ddpm_studio.core.previews import save_preview
    from ddpm_studio.core.training.events import (
        PreviewFailed,
        PreviewReady,
        TrainingFinished,
        TrainStep,
    )
    from ddpm_studio.core.training.trainer import Trainer

    config, dataset = _train_config(args)
    trainer = Trainer(config, run_dir=args.out, dataset=dataset, resume=args.resume)
    main = trainer.dist.is_main
    if main:
        print(
            f"{trainer.dataset.name}: {trainer.kind} {trainer.data_shape}, {len(trainer.dataset.train)} training "
            f"items | {config.model.preset} network, {format_parameter_count(trainer.num_parameters)} parameters "
            f"| {config.diffusion.parameterization} / {config.diffusion.variance} / {config.train.loss} | "
            f"device {trainer.device}" + (f" x {trainer.dist.world_size} processes" if trainer.dist.enabled else ""),
            file=sys.stderr,
        )
    bar = ProgressBar(config.train.steps, "train", enabled=main and not args.quiet)
    bar.update(trainer.step, force=True)
    loss_text = ""
    try:
        for event in trainer.train():
            if isinstance(event, TrainStep):
                loss_text = f"loss {event.loss:.4f} {event.steps_per_sec:.1f} it/s"
            elif isinstance(event, PreviewReady) and main:
                save_preview(
                    trainer.pipeline(),
                    event.samples,
                    args.out / "samples" / f"preview_{event.step:08d}.png",
                    reference=trainer.dataset.heldout,
                )
            elif isinstance(event, PreviewFailed) and main:
                bar.close()
                print(f"warning: {event.message}", file=sys.stderr)
            elif isinstance(event, TrainingFinished) and main:
                bar.update(event.step, loss_text, force=True)
                bar.close()
                print(
                    f"done: {event.step} steps ({event.reason}); checkpoint in {args.out / 'checkpoints'}",
                    file=sys.stderr,
                )
            bar.update(trainer.step, loss_text)
    except KeyboardInterrupt:
        bar.close()
        trainer.save_checkpoint()
        print(f"interrupted at step {trainer.step}; saved a checkpoint: resume with --resume", file=sys.stderr)
        return 130
    finally:
        from ddpm_studio.core.training.distributed import shutdown_distributed

        shutdown_distributed(trainer.dist)
    return 0


# ---------------------------------------------------------------------------- sample
def cmd_sample(args: argparse.Namespace) -> int:
    from ddpm_studio.core.export import TrajectoryRecorder, save_npz, subsample_indices
    from ddpm_studio.core.pipeline import load_pipeline
    from ddpm_studio.core.previews import save_preview
    from ddpm_studio.core.sampling import check_num_steps

    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".npz"):
        raise CliError(f"--out must end in .png or .npz, got {args.out.name!r}")
    if args.trajectory and suffix != ".npz":
        raise CliError("--trajectory needs an .npz output")
    pipeline = load_pipeline(args.run_dir, args.device)
    T = pipeline.diffusion.num_timesteps
    steps = args.steps or T
    try:
        check_num_steps(args.method, T, steps)
    except ValueError as exc:
        raise CliError(f"--steps {steps}: {exc}") from None
    if not 0.0 <= args.eta <= 1.0:
        raise CliError(f"--eta must lie in [0, 1], got {args.eta}")
    # trajectory_t is the paper timestep of each stored state (core/export.py says what every array means)
    trajectory = TrajectoryRecorder(subsample_indices(steps, 100) if args.trajectory else (), pipeline.to_saved_array)
    bar = ProgressBar(steps, "sample", enabled=not args.quiet)
    final = None
    from ddpm_studio.cli_ideal import ideal_model

    num, request = cli_guidance.sample_request(args, pipeline)
    run = pipeline.sample(
        num, num_steps=steps, method=args.method, eta=args.eta, seed=args.seed, spacing=args.spacing,
        model=ideal_model(pipeline) if args.ideal else None, **request,
    )
    for record in run:
        trajectory.add(record)
        final = record.x
        bar.update(record.index + 1)
    bar.close()
    assert final is not None
    final = final.detach().cpu()
    if suffix == ".png":
        save_preview(pipeline, final, args.out, labels=request.get("labels"))
    else:
        arrays = trajectory.arrays()
        if arrays:
            arrays["trajectory_x_T"] = pipeline.to_saved_array(run.x_T)
        if "labels" in request:  # the class each sample was asked for
            arrays["labels"] = request["labels"].numpy()
        save_npz(args.out, samples=pipeline.to_saved_array(final), **arrays)
    print(
        f"wrote {num} {'ideal-denoiser ' if args.ideal else ''}samples{cli_guidance.describe_request(request)} "
        f"({args.method}, {steps} network "
        f"evaluations, {args.spacing} spacing) to {args.out}",
        file=sys.stderr,
    )
    return 0



# ---------------------------------------------------------------------------- entry
COMMANDS = {"train": cmd_train, "sample": cmd_sample}


class _NoteHandler(logging.Handler):
    """Writes a log record as a "note: ..." line to the current ``sys.stderr`` (looked up at each record)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"note: {self.format(record)}\n")
        except Exception:
            self.handleError(record)


def _show_library_warnings() -> None:
    """The core's warnings (e.g. an image folder's unreadable files, by name) as "note:" lines on stderr.

    The core logs them once; the CLI shows that line and adds none of its own, so each note appears once.
    """
    logger = logging.getLogger("ddpm_studio")
    if not any(isinstance(handler, _NoteHandler) for handler in logger.handlers):
        logger.addHandler(_NoteHandler(logging.WARNING))


def run_cli(argv: list[str]) -> int:
    """Parse ``argv`` and run one command; user errors print one line and return 2."""
    from ddpm_studio.core.data import DataError
    from ddpm_studio.core.runs import RunError
    from ddpm_studio.core.training.config import ConfigError
    from ddpm_studio.core.training.trainer import CheckpointWriteError, TrainingDiverged

    _show_library_warnings()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        from ddpm_studio import cli_eval

        handler = {**COMMANDS, **cli_eval.COMMANDS}[args.command]
        return handler(args)
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) else 0
    except (CliError, DataError, RunError, ConfigError, TrainingDiverged, CheckpointWriteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValueError as exc:  # bad settings caught at the core's API boundary
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}", file=sys.stderr)
        return EXIT_USAGE
