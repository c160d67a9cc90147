"""``ddpm-studio evaluate RUN_DIR``: the full variational bound on held-out data with a progress bar, and/or
(``--sweep``, :mod:`ddpm_studio.cli.sweep`) the sample-quality score against the number of network evaluations for
each sampling method, every method from the same x_T, and/or the analyses of :mod:`ddpm_studio.cli.analyses`
(``--memorization``, ``--ode-likelihood``).

The maths lives in :mod:`ddpm_studio.core.evaluation`; this module only parses flags, drives its generators and
prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ddpm_studio.cli import analyses, guidance, straightness, verdict
from ddpm_studio.cli.common import (
    CliError,
    ProgressBar,
    _int_list,
    _method_list,
    _positive_int,
    check_data_shape,
    sampler_epilog,
)
from ddpm_studio.cli.sweep import DEFAULT_SWEEP_METHODS, run_sweep


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``evaluate`` to the ``ddpm-studio`` subparsers (made with ``parser_class=_Parser``)."""
    # torch-free modules only (issue 32): the defaults without the bound or the sweep, the names from the ground floor
    from ddpm_studio.core import choices
    from ddpm_studio.core.analysis.defaults import BOUND_BATCH_SIZE, SWEEP_STEPS

    evaluate = subparsers.add_parser(
        "evaluate",
        help="likelihood bound and sampler sweep (quality against network evaluations) of a trained run",
        description="The full variational bound (MATH.md M14-M17, every t) on the run's held-out data: bits/dim "
        "for images, nats/dim in the data's own coordinates for 2-D points, split into L_T, the sum of the "
        "L_{t-1} and L_0. With --sweep, the sample-quality score against the number of network evaluations (NFE) "
        "for each of --methods instead, every method and NFE from the same x_T; printed, and written as CSV and "
        "PNG (default RUN_DIR/sweep.csv and RUN_DIR/sweep.png).",
        epilog=sampler_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("run_dir", type=Path, help="a run folder written by train (or the studio), or a diffusers "
                          "model folder (save_pretrained)")
    evaluate.add_argument("--data", metavar="NAME_OR_PATH",
                          help="evaluate on this data instead of the run's own (images are resized to the model's "
                               "size); required for a diffusers model, which has no training data on record")
    evaluate.add_argument(
        "--num", type=_positive_int,
        help="held-out examples for the bound and the ODE likelihood (default: all of the held-out split)"
    )
    evaluate.add_argument(
        "--batch-size",
        type=_positive_int,
        default=BOUND_BATCH_SIZE,
        help=f"examples per forward pass (memory only; default {BOUND_BATCH_SIZE})",
    )
    evaluate.add_argument(
        "--json",
        type=Path,
        help="write the results as JSON (bits_per_dim or nats_per_dim, "
        "prior, diffusion, decoder, jacobian, terms, ...; 'sweep' rows with --sweep)",
    )
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the bound's noise and of the samples")
    evaluate.add_argument("--device", default="auto", help="auto (CUDA > MPS > CPU), cpu, cuda, cuda:N or mps")
    evaluate.add_argument(
        "--sweep",
        action="store_true",
        help="score samples drawn with K network evaluations for each --sweep-steps K and each of --methods "
        "(skips the bound unless --bound is given too)",
    )
    evaluate.add_argument("--bound", action="store_true", help="with --sweep: compute the bound as well")
    evaluate.add_argument(
        "--sweep-steps",
        type=_int_list,
        default=list(SWEEP_STEPS),
        help="network evaluations K, comma-separated; a K above what a method can use (T; 2T - 2 for heun) is "
        f"skipped for that method (default {','.join(map(str, SWEEP_STEPS))})",
    )
    evaluate.add_argument(
        "--methods",
        "--sweep-methods",
        dest="sweep_methods",
        type=_method_list,
        default=_method_list(DEFAULT_SWEEP_METHODS),
        help=f"comma-separated sampling methods to sweep (default {DEFAULT_SWEEP_METHODS}; DDIM with eta 0)",
    )
    evaluate.add_argument(
        "--spacing",
        choices=choices.names(choices.SPACINGS),
        default="linspace",
        help="timestep grid of every sweep point (default linspace)",
    )
    evaluate.add_argument(
        "--sweep-samples",
        type=_positive_int,
        help="samples per point (default: the size the real-data floor is computed at)",
    )
    evaluate.add_argument(
        "--out-csv", type=Path, help="with --sweep: where to write the sweep table as CSV (default RUN_DIR/sweep.csv)"
    )
    evaluate.add_argument(
        "--plot",
        type=Path,
        help="with --sweep: where to write the PNG plot of score against NFE (default RUN_DIR/sweep.png)",
    )
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    analyses.add_evaluate_options(evaluate)
    guidance.add_evaluate_options(evaluate)
    verdict.add_evaluate_options(evaluate)
    straightness.add_evaluate_options(evaluate)


def run(args: argparse.Namespace) -> int:
    """Run the bound and / or the step sweep of ``args.run_dir``; print a summary; write the asked-for files."""
    from ddpm_studio.core.analysis.bound import BoundProgress, iter_bound
    from ddpm_studio.core.app.diffusers_import import load_any_pipeline
    from ddpm_studio.core.scores.heldout import load_run_dataset

    other_analysis = (args.sweep or analyses.analyses_requested(args) or args.guidance_sweep is not None
                      or args.samples is not None or args.straightness)
    sweep_only = [flag for flag, value in (("--out-csv", args.out_csv), ("--plot", args.plot)) if value]
    if sweep_only and not args.sweep:
        raise CliError(f"{' '.join(sweep_only)} only apply with --sweep")
    if args.bound and not other_analysis:
        raise CliError("--bound only applies with --sweep, --memorization, --ode-likelihood or --samples (alone, "
                       "the bound is what evaluate computes)")
    analyses.check_evaluate_args(args)
    guidance.check_evaluate_args(args)
    verdict.check_evaluate_args(args)
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise CliError(f"--plot must end in .png, got {args.plot.name!r}")
    pipeline = load_any_pipeline(args.run_dir, args.device)
    straightness.check_against_run(args, pipeline)
    # a subset run's held-out part is the usual one, and its samples are scored against the whole training split
    analyses.check_against_run(args, pipeline)
    dataset = load_run_dataset(evaluation_config(pipeline, args.data), with_subset=False)
    check_data_shape(dataset, pipeline)
    report: dict = {"run_dir": str(args.run_dir), "step": pipeline.step}

    if not other_analysis or args.bound:
        heldout = dataset.heldout[: args.num] if args.num else dataset.heldout
        T = pipeline.diffusion.num_timesteps
        bar = ProgressBar(T, "bound", enabled=not args.quiet)
        result = None
        for record in iter_bound(pipeline, heldout, batch_size=args.batch_size, seed=args.seed):
            if isinstance(record, BoundProgress):
                bar.update(record.done, f"{record.partial:.4f} {record.unit}")
            else:
                result = record
        bar.close()
        assert result is not None
        report.update(result.to_dict())
        _print_bound(result, dataset.name, pipeline.kind, pipeline.step)

    if args.sweep:
        report["sweep"] = run_sweep(args, pipeline, dataset)
    if args.memorization:
        report.update(analyses.memorization_report(args, pipeline, dataset))
    if args.ode_likelihood:
        report.update(analyses.ode_likelihood_report(args, pipeline, dataset))
    if args.guidance_sweep is not None:
        report["guidance_sweep"] = guidance.guidance_sweep_report(args, pipeline, dataset)
    if args.samples is not None:
        report.update(verdict.verdict_report(args, dataset))
    if args.straightness:
        report.update(straightness.straightness_report(args, pipeline))

    if args.json is not None:
        from ddpm_studio.core.io.runs import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def evaluation_config(pipeline, data: str | None):
    """The config whose data the run is evaluated on: its own, or ``--data`` at the model's image size."""
    import copy

    from ddpm_studio.core.app.diffusers_import import DIFFUSERS_PRESET

    if data is None:
        if pipeline.config.model.preset == DIFFUSERS_PRESET:
            raise CliError("a diffusers model has no training data on record: give --data NAME_OR_PATH (images "
                           f"of shape {pipeline.data_shape} or resizable to it)")
        return pipeline.config
    config = copy.deepcopy(pipeline.config)
    config.data.dataset = data
    config.data.subset = None
    if pipeline.kind == "images":
        config.data.image_size = pipeline.data_shape[-1]
    return config


def _print_bound(result, dataset_name: str, kind: str, step: int) -> None:
    """The bound and its parts as a small table on stdout."""
    items = "images" if kind == "images" else "points"
    unit = result.unit
    print(
        f"variational bound on {result.num_examples} held-out {items} of {dataset_name} (step {step}, "
        f"T = {result.num_timesteps}): {result.per_dim:.4f} +- {result.stderr:.4f} {unit}"
    )
    print(f"  L_T (prior)          {result.prior:10.4f} {unit}")
    print(f"  sum of L_{{t-1}}       {result.diffusion:10.4f} {unit}")
    print(f"  L_0 (decoder)        {result.decoder:10.4f} {unit}")
    if kind == "points":
        print(f"  Jacobian (data)      {result.jacobian:10.4f} {unit}  (mean log scale: model -> data coordinates)")
