"""``evaluate --straightness``: how straight a flow run's paths are (M55), and the flow's guard on evaluate."""

from __future__ import annotations

import argparse
import sys

from ddpm_studio.cli.common import CliError


def add_evaluate_options(evaluate: argparse.ArgumentParser) -> None:
    """``evaluate --straightness``."""
    evaluate.add_argument(
        "--straightness",
        action="store_true",
        help="flow runs: the mean squared gap, per dimension, between the velocity along the ODE's paths and "
        "the straight line from each noise to its sample (Liu et al. 2022; 0 = straight, lower is straighter; "
        "--num paths, default 1000, 100 Euler steps); JSON key 'straightness'",
    )


def check_against_run(args: argparse.Namespace, pipeline) -> None:
    """A DDPM analysis on a flow run, or --straightness on a DDPM run: one line, before any work."""
    if args.straightness and not pipeline.is_flow:
        raise CliError("--straightness measures a flow run's paths; this is a DDPM run (train one with --process "
                       "flow)")
    if not pipeline.is_flow:
        return
    ddpm_only = [flag for flag, given in (("--sweep", args.sweep), ("--memorization", args.memorization),
                                          ("--ode-likelihood", args.ode_likelihood),
                                          ("--guidance-sweep", args.guidance_sweep is not None),
                                          ("--bound", args.bound)) if given]
    if ddpm_only:
        raise CliError(f"{', '.join(ddpm_only)}: DDPM analyses; this is a flow run (ask for --straightness or "
                       "--samples FILE.npz)")
    if not (args.straightness or args.samples is not None):
        raise CliError("a flow run has no variational bound to evaluate: ask for --straightness or --samples "
                       "FILE.npz")


def straightness_report(args: argparse.Namespace, pipeline) -> dict:
    """Measure M55 on ``args.num`` paths (default 1000); print it; the JSON-ready dict."""
    from ddpm_studio.core.analysis.straightness import STRAIGHTNESS_SAMPLES, run_straightness

    result = run_straightness(pipeline, num_samples=args.num or STRAIGHTNESS_SAMPLES, seed=args.seed)
    print(f"straightness {result.value:.4g} (mean squared gap per dimension between the velocity and the straight "
          f"line, {result.num_samples} paths, {result.num_steps} {result.method} steps; 0 = straight)")
    sys.stdout.flush()
    return result.to_dict()
