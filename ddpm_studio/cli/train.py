"""``ddpm-studio train``: train a model headless into a run folder (or resume one)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from ddpm_studio.cli import config_options, guidance, time_limit
from ddpm_studio.cli.common import CliError, ProgressBar, _float, _positive_int, apply_flags
from ddpm_studio.core import choices
from ddpm_studio.core.catalog import BUILTIN_DATASETS, MODEL_PRESETS


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` to the ``ddpm-studio`` subparsers (made with ``parser_class=_Parser``).

    Every list it offers comes from the ground floor (:mod:`ddpm_studio.core.choices`, :mod:`ddpm_studio.core.catalog`),
    so ``train --help`` and a bad flag answer without importing torch.
    """
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
    train.add_argument("--process", choices=choices.names(choices.PROCESSES),
                       help="ddpm: the diffusion of Ho et al. 2020 (default); flow: flow matching on the linear path "
                            "x_t = (1 - t) x_0 + t eps (rectified flow, MATH.md M47-M51)")
    train.add_argument("--target", choices=choices.names(choices.FLOW_TARGETS),
                       help="flow: what the network predicts (default: velocity = eps - x_0; MATH.md M48)")
    train.add_argument("--time-sampling", dest="time_sampling", choices=choices.names(choices.TIME_SAMPLINGS),
                       help="flow: training times uniform (default) or logit_normal (Esser et al. 2024; M51)")
    train.add_argument("--param", choices=choices.names(choices.PARAMETERIZATIONS),
                       help="what the network predicts (default: eps)")
    train.add_argument("--variance", choices=choices.names(choices.VARIANCES),
                       help="reverse-process variance (default: fixed_large)")
    train.add_argument("--loss", choices=choices.names(choices.LOSSES), help="training objective (default: simple)")
    train.add_argument("--snr-gamma", type=_float,
                       help="min-SNR-gamma weighting of the simple loss, Hang et al. 2023 (default: 5 for images, "
                            "0 = unweighted for 2-D points)")
    train.add_argument(
        "--schedule", choices=choices.names(choices.SCHEDULES),
        help="beta schedule (default: linear for 2-D, cosine for images)",
    )
    train.add_argument("--t-power", dest="t_power", type=_float,
                       help="training timesteps t = floor(T u^k) (MATH.md M40): 1 uniform, > 1 more low-noise steps "
                            "(default: 3 for 2-D points, 1 for images)")
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
    train.add_argument("--early-stop", action=argparse.BooleanOptionalAction, default=None,
                       help="points: stop when the held-out sample quality stops improving (default: on for points)")
    train.add_argument("--tensorboard", action="store_const", const=True, default=None,
                       help="also write loss, lr, steps/s, the bound and previews as TensorBoard events into "
                            'OUT/tensorboard (needs: pip install "ddpm-studio[tensorboard]")')
    train.add_argument("--threads", type=_positive_int,
                       help="CPU threads for torch (default: 1 for 2-D points, whose small MLP steps run fastest on "
                            "one thread; for images the cores left free by other jobs: usable cores less the load "
                            "average). The run's first line says which")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--max-time", type=time_limit.parse_duration, metavar="DURATION",
                       help="stop cleanly (checkpoint at that step, exit 0) once this much time has passed since "
                            "the start, e.g. 3h50m or 90s: below a cluster job's limit; --resume continues")
    guidance.add_train_options(train)
    config_options.add_train_options(train)


# flag -> config field, for a new run and for a resume (where resume_conflicts decides what may change)
_RUN_FLAGS = [
    ("data", "data", "dataset"),
    ("image_size", "data", "image_size"),
    ("subset", "data", "subset"),
    ("model", "model", "preset"),
    ("process", "process", "name"),
    ("target", "process", "target"),
    ("time_sampling", "process", "time_sampling"),
    ("param", "diffusion", "parameterization"),
    ("variance", "diffusion", "variance"),
    ("loss", "train", "loss"),
    ("snr_gamma", "train", "snr_gamma"),
    ("t_power", "train", "t_power"),
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
# flags that may change on every run, resumed or not: the budget, the device and the logging
_SESSION_FLAGS = [
    ("steps", "train", "steps"),
    ("device", "train", "device"),
    ("log_every", "train", "log_every"),
    ("preview_every", "train", "preview_every"),
    ("checkpoint_every", "train", "checkpoint_every"),
    ("early_stop", "train", "early_stop"),
    ("tensorboard", "train", "tensorboard"),
]


def _train_config(args: argparse.Namespace):
    """The RunConfig and, for a new run, its loaded DataSet (None on resume): the data kind's defaults, then flags.

    A default batch size larger than the data's training split is lowered to fit, with a note; a --batch-size
    that does not fit is refused in one line before anything trains.
    """
    from ddpm_studio.core.config import default_config, fit_batch_size, snr_weighting_applies
    from ddpm_studio.core.data import load_dataset, take_subset
    from ddpm_studio.core.pipeline import load_run_config

    dataset = None
    if args.resume:
        import copy

        from ddpm_studio.core.training.resume import resume_conflicts

        saved = load_run_config(args.out)
        config = copy.deepcopy(saved)
        apply_flags(config, args, _RUN_FLAGS)
        config = config_options.resumed_config(config, args)
        conflicts = resume_conflicts(saved, config)
        if conflicts:
            raise CliError(f"--resume continues the run with its own settings; these flags would change it: "
                           f"{', '.join(conflicts)} (drop them, or train a new run into another --out)")
        from ddpm_studio.core.io.run_data import load_stand_in

        dataset = load_stand_in(args.out, config)  # the run's copy of a points file that has gone
    elif args.config is not None:
        config, dataset = config_options.file_run(args, _RUN_FLAGS)
    else:
        data = args.data or "moons"
        # loaded once, here, and handed to the trainer: its kind picks the defaults, its size checks the batch
        dataset = load_dataset(data, image_size=args.image_size, seed=args.seed or 0)
        config = default_config(data if not os.path.exists(data) else os.path.abspath(data), dataset.kind,
                                args.process or "ddpm")
        if args.image_size is not None:
            config.data.image_size = args.image_size
        apply_flags(config, args, _RUN_FLAGS[2:])  # the data set and image size are set above
        if not config.is_flow and args.snr_gamma is None and not snr_weighting_applies(
                config.train.loss, config.diffusion.parameterization):
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
    _check_process_flags(args, config)
    guidance.apply_train_options(args, config, dataset)
    apply_flags(config, args, _SESSION_FLAGS)
    config, dataset = config_options.apply_overrides_last(config, dataset, args)
    config.validate()
    return config, dataset


#: flags that set DDPM's process (the ``diffusion`` section and its losses), which a flow run has no use for
_DDPM_ONLY_FLAGS = (("param", "--param"), ("variance", "--variance"), ("loss", "--loss"), ("snr_gamma", "--snr-gamma"),
                    ("schedule", "--schedule"), ("t_power", "--t-power"), ("num_timesteps", "--T"),
                    ("clip_x0", "--clip-x0"))
_FLOW_ONLY_FLAGS = (("target", "--target"), ("time_sampling", "--time-sampling"))


def _check_process_flags(args: argparse.Namespace, config) -> None:
    """Refuse a flag of the other process in one line, rather than train with it silently ignored."""
    if config.is_flow:
        given = [flag for name, flag in _DDPM_ONLY_FLAGS if getattr(args, name, None) is not None]
        if given:
            raise CliError(f"{', '.join(given)}: DDPM settings, and this is a flow run (--process flow); a flow "
                           "sets what its network predicts with --target and its times with --time-sampling")
    else:
        given = [flag for name, flag in _FLOW_ONLY_FLAGS if getattr(args, name, None) is not None]
        if given:
            raise CliError(f"{', '.join(given)}: flow settings; add --process flow (this run is DDPM)")


def _thread_choice(args: argparse.Namespace, trainer):
    """torch's CPU threads for this run, and why (the run log's header says both; the studio chooses alike)."""
    from ddpm_studio.core.threads import training_threads

    return training_threads(trainer.kind, trainer.device.type, args.threads)


def run(args: argparse.Namespace) -> int:
    """Train (or resume) into ``args.out`` with a progress bar.

    Exit status: 0 when done (also when stopped by --max-time), 130 on Ctrl-C and 143 on SIGTERM (a scheduler's
    stop: SLURM, Kubernetes), each with a checkpoint at the step it stopped on, which --resume continues exactly.
    """
    import torch

    from ddpm_studio.core.models import format_parameter_count
    from ddpm_studio.core.training.events import (
        PreviewFailed,
        PreviewReady,
        TrainingFinished,
        TrainStep,
    )
    from ddpm_studio.core.training.previews import save_preview
    from ddpm_studio.core.training.stop_signals import StopOnSignals
    from ddpm_studio.core.training.trainer import Trainer

    deadline = time_limit.Deadline(args.max_time)  # counted from here: the imports are done, the data not loaded
    config, dataset = _train_config(args)
    trainer = Trainer(config, run_dir=args.out, dataset=dataset, resume=args.resume)
    threads_before = torch.get_num_threads()  # restored at the end: run_cli may be called from a notebook
    threads = _thread_choice(args, trainer)
    torch.set_num_threads(threads.threads)
    main = trainer.dist.is_main
    if main:
        print(
            f"{trainer.dataset.name}: {trainer.kind} {trainer.data_shape}, {len(trainer.dataset.train)} training "
            f"items{_split_note(trainer.dataset)} | {config.model.preset} network, "
            f"{format_parameter_count(trainer.num_parameters)} parameters | {_process_line(config)} | "
            f"device {trainer.device}" + (f" x {trainer.dist.world_size} processes" if trainer.dist.enabled else "")
            + f" | {threads.describe()}",
            file=sys.stderr,
        )
    bar = ProgressBar(config.train.steps, "train", enabled=main and not args.quiet)
    bar.update(trainer.step, force=True)
    loss_text = ""
    signalled = False  # the run ended because a signal asked it to (not completed or converged meanwhile)
    # Ctrl-C and SIGTERM only set the trainer's stop flag: the step they fall in (and that step's preview or
    # early-stop check) finishes, a checkpoint is written at that step and the run ends "stopped", so --resume
    # continues bit for bit; so does the --max-time deadline, checked after every step
    stop = StopOnSignals(trainer.request_stop, (signal.SIGINT, signal.SIGTERM))
    try:
        with stop:
            for event in trainer.train():
                deadline.check(trainer.request_stop)
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
                    signalled = stop.received is not None and event.reason == "stopped"
                    if signalled:
                        print(_interrupted_line(trainer.step, args.out), file=sys.stderr)
                    elif deadline.reached and event.reason == "stopped":
                        print(time_limit.stopped_line(args.max_time, trainer.step, args.out), file=sys.stderr)
                    else:
                        print(
                            f"done: {event.step} steps ({event.reason}{': ' + event.detail if event.detail else ''}); "
                            f"checkpoint in {args.out / 'checkpoints'}",
                            file=sys.stderr,
                        )
                bar.update(trainer.step, loss_text)
        if signalled:
            return stop.exit_code
    except KeyboardInterrupt:
        # a second Ctrl-C, or one outside the loop: the trainer has rewound a half-done step, so this checkpoint
        # is still the state of its last completed step (and names the work that step still owed)
        bar.close()
        trainer.save_checkpoint()
        if main:
            print(_interrupted_line(trainer.step, args.out), file=sys.stderr)
        return stop.exit_code or 130
    finally:
        from ddpm_studio.core.training.distributed import shutdown_distributed

        torch.set_num_threads(threads_before)
        shutdown_distributed(trainer.dist)
        if trainer.run_lock is not None:
            trainer.run_lock.release()
    return 0


def _process_line(config) -> str:
    """What the run trains, in the start-up line: "flow: velocity, uniform t" or "eps / fixed_large / simple"."""
    if config.is_flow:
        return f"flow: {config.process.target}, {config.process.time_sampling} t"
    return f"{config.diffusion.parameterization} / {config.diffusion.variance} / {config.train.loss}"


def _split_note(dataset) -> str:
    """ " (the official train split; 10,000 test images held out)" for a standard set, else nothing."""
    if dataset.split_names is None:
        return ""
    train, heldout = dataset.split_names
    return f" (the official {train} split; {len(dataset.heldout):,} {heldout} images held out)"


def _interrupted_line(step: int, out: Path) -> str:
    """The one line an interrupted run prints: the step it stopped at and the checkpoint that holds it."""
    from ddpm_studio.core.io.runs import checkpoint_path

    return (f"interrupted at step {step}; saved {checkpoint_path(out, step)}: continue with "
            f"ddpm-studio train --out {out} --resume")
