"""``ddpm-studio reflow RUN --out NEW``: train a straighter flow on the couplings of a trained one (M56)."""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from ddpm_studio.cli.common import CliError, ProgressBar, _positive_int

#: The reflow's default budget: pairs drawn from the parent, and optimiser steps of the new run, which starts
#: from the parent's EMA weights (Liu et al. 2022 fine-tune the 1-rectified flow's network the same way).
DEFAULT_PAIRS = 20000
DEFAULT_STEPS = 3000


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``reflow`` to the ``ddpm-studio`` subparsers."""
    reflow = sub.add_parser(
        "reflow",
        help="train a straighter flow on (noise, sample) pairs drawn from a flow run",
        description="Reflow (Liu et al. 2022): draw pairs (x_1, x_0 = ODE(x_1)) from a trained flow run, then "
        "train a new flow run on the straight lines between them, starting from the parent's weights. The new "
        "run folder has the usual format (config.json, metrics.jsonl, checkpoints) plus couplings.npz; sample "
        "it with few Euler steps (--method euler --steps 2).",
    )
    reflow.add_argument("run_dir", type=Path, help="a flow run folder (trained with train --process flow)")
    reflow.add_argument("--out", required=True, type=Path, help="the new run folder")
    reflow.add_argument("--pairs", type=_positive_int, default=DEFAULT_PAIRS,
                        help=f"couplings to draw from the parent (default {DEFAULT_PAIRS})")
    reflow.add_argument("--steps", type=_positive_int, default=DEFAULT_STEPS,
                        help=f"optimiser steps of the new run (default {DEFAULT_STEPS})")
    reflow.add_argument("--seed", type=int, default=0, help="seed of the pairs' noise and of the training")
    reflow.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: the parent's)")
    reflow.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Draw the couplings, then train the reflow run with a progress bar; 0 when it finished."""
    import torch

    from ddpm_studio.core.io.runs import list_checkpoints
    from ddpm_studio.core.pipeline import load_pipeline
    from ddpm_studio.core.training.events import TrainingFinished
    from ddpm_studio.core.training.reflow import COUPLINGS_NAME, draw_couplings, save_couplings
    from ddpm_studio.core.training.trainer import Trainer

    if args.out.exists() and (list_checkpoints(args.out) or (args.out / COUPLINGS_NAME).exists()):
        raise CliError(f"{args.out} already holds a run; choose another --out (nothing was overwritten)")
    parent = load_pipeline(args.run_dir, args.device or "cpu")
    if not parent.is_flow:
        raise CliError(f"{args.run_dir} is a DDPM run; reflow needs a flow run (train one with --process flow)")
    if parent.kind != "points" and args.device is None:
        parent = load_pipeline(args.run_dir, "auto")
    config = copy.deepcopy(parent.config)
    config.process.couplings = COUPLINGS_NAME
    config.process.reflow_of = str(args.run_dir.resolve())
    config.train.steps = args.steps
    config.train.seed = args.seed
    if args.device:
        config.train.device = args.device
    config.validate()

    bar = ProgressBar(args.pairs, "pairs", enabled=not args.quiet)
    with torch.no_grad():
        x1, x0 = draw_couplings(parent, args.pairs, seed=args.seed, progress=lambda done, total: bar.update(done))
    bar.close()
    args.out.mkdir(parents=True, exist_ok=True)
    save_couplings(args.out, x1, x0)
    trainer = Trainer(config, run_dir=args.out)
    # the reflow starts from the parent's EMA weights (its network has the parent's shape: same config)
    trainer.net.load_state_dict(parent.network.state_dict())
    trainer.ema.model.load_state_dict(parent.network.state_dict())
    bar = ProgressBar(config.train.steps, "reflow", enabled=not args.quiet)
    for event in trainer.train():
        bar.update(trainer.step)
        if isinstance(event, TrainingFinished):
            bar.close()
            print(f"done: {args.pairs} pairs from {args.run_dir}, {event.step} steps ({event.reason}); "
                  f"the reflow run is {args.out} (sample it with --method euler --steps 2)", file=sys.stderr)
    return 0
