"""The ``evaluate`` and ``compare`` commands of the headless CLI (wired into :mod:`ddpm_studio.cli`).

- ``ddpm-studio evaluate RUN_DIR``: the full variational bound on held-out data with a progress bar, and/or
  (``--sweep``) the sample-quality score against the number of network evaluations for each sampling method,
  every method from the same x_T.
- ``ddpm-studio compare --data D --steps N --out DIR``: train several settings on the same data, seed and
  budget and tabulate them (Ho et al. 2020, Table 2 at desk scale) in ``DIR/compare.csv`` and ``DIR/compare.md``.

The maths lives in :mod:`ddpm_studio.core.evaluation` and :mod:`ddpm_studio.core.compare`; this module only
parses flags, drives their generators and prints.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ddpm_studio import cli_guidance
from ddpm_studio.cli import CliError, ProgressBar, _float, _positive_int, _sampler_epilog

DEFAULT_SWEEP_METHODS = "ancestral,ddim"
PLOT_WIDTH, PLOT_HEIGHT = 640, 400
#: Line colours of the sweep plot, one per sampling method.
_METHOD_COLORS = {
    "ancestral": (31, 119, 180),
    "ddim": (214, 39, 40),
    "dpmpp_2m": (44, 160, 44),
    "heun": (148, 103, 189),
    "dpmpp_2m_sde": (255, 127, 14),
}


# ---------------------------------------------------------------------------- argument types
def _int_list(text: str) -> list[int]:
    """ "10,20,50" -> [10, 20, 50], each a positive integer."""
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {part!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected positive integers, got {value}")
        values.append(value)
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number, e.g. 10,20,50")
    return values


def _method_list(text: str) -> list[str]:
    from ddpm_studio.core.sampling import METHODS

    methods = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if not methods or unknown:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(METHODS)}, got {text!r}")
    return methods


def _settings_list(text: str) -> list:
    from ddpm_studio.core.compare import parse_settings

    try:
        return parse_settings(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# ---------------------------------------------------------------------------- parsers
def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` and ``compare`` subcommands to the ``ddpm-studio`` parser's subparsers.

    The subparsers should be made with ``parser_class=_Parser`` (as :func:`ddpm_studio.cli.build_parser` does),
    so that errors are one line.
    """
    from ddpm_studio.core.compare import DEFAULT_SETTINGS, EVAL_EXAMPLES
    from ddpm_studio.core.data import BUILTIN_DATASETS
    from ddpm_studio.core.evaluation import BOUND_BATCH_SIZE, SWEEP_STEPS
    from ddpm_studio.core.models import MODEL_PRESETS
    from ddpm_studio.core.sampling import SPACINGS
    from ddpm_studio.core.schedule import SCHEDULES

    evaluate = subparsers.add_parser(
        "evaluate",
        help="likelihood bound and sampler sweep (quality against network evaluations) of a trained run",
        description="The full variational bound (MATH.md M14-M17, every t) on the run's held-out data: bits/dim "
        "for images, nats/dim in the data's own coordinates for 2-D points, split into L_T, the sum of the "
        "L_{t-1} and L_0. With --sweep, the sample-quality score against the number of network evaluations (NFE) "
        "for each of --methods instead, every method and NFE from the same x_T; printed, and written as CSV and "
        "PNG (default RUN_DIR/sweep.csv and RUN_DIR/sweep.png).",
        epilog=_sampler_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    evaluate.add_argument("run_dir", type=Path, help="a run folder written by train (or the studio)")
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
        help="network evaluations K, comma-separated; a K above what a method can use (T; 2T - 1 for heun) is "
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
        "--spacing", choices=SPACINGS, default="linspace", help="timestep grid of every sweep point (default linspace)"
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
    from ddpm_studio.cli_ideal import add_evaluate_options

    add_evaluate_options(evaluate)
    cli_guidance.add_evaluate_options(evaluate)

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
        "--schedule", choices=SCHEDULES, help="beta schedule (default: linear for 2-D, cosine for images)"
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


# ---------------------------------------------------------------------------- evaluate
def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run the bound and / or the step sweep of ``args.run_dir``; print a summary; write the asked-for files."""
    from ddpm_studio import cli_ideal
    from ddpm_studio.core.evaluation import BoundProgress, iter_bound, load_run_dataset
    from ddpm_studio.core.pipeline import load_pipeline

    analyses = args.sweep or cli_ideal.analyses_requested(args) or args.guidance_sweep is not None
    sweep_only = [flag for flag, value in (("--out-csv", args.out_csv), ("--plot", args.plot)) if value]
    if sweep_only and not args.sweep:
        raise CliError(f"{' '.join(sweep_only)} only apply with --sweep")
    if args.bound and not analyses:
        raise CliError("--bound only applies with --sweep, --memorization or --ode-likelihood (alone, the bound is "
                       "what evaluate computes)")
    cli_ideal.check_evaluate_args(args)
    cli_guidance.check_evaluate_args(args)
    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise CliError(f"--plot must end in .png, got {args.plot.name!r}")
    pipeline = load_pipeline(args.run_dir, args.device)
    # a subset run's held-out part is the usual one, and its samples are scored against the whole training split
    cli_ideal.check_against_run(args, pipeline)
    dataset = load_run_dataset(pipeline.config, with_subset=False)
    if tuple(dataset.data_shape) != tuple(pipeline.data_shape):
        raise CliError(
            f"the run's data set now has shape {dataset.data_shape}, its checkpoint "
            f"{pipeline.data_shape}: the data changed since training"
        )
    report: dict = {"run_dir": str(args.run_dir), "step": pipeline.step}

    if not analyses or args.bound:
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
        report["sweep"] = _run_sweep(args, pipeline, dataset)
    if args.memorization:
        report.update(cli_ideal.memorization_report(args, pipeline, dataset))
    if args.ode_likelihood:
        report.update(cli_ideal.ode_likelihood_report(args, pipeline, dataset))
    if args.guidance_sweep is not None:
        report["guidance_sweep"] = cli_guidance.guidance_sweep_report(args, pipeline, dataset)

    if args.json is not None:
        from ddpm_studio.core.runs import atomic_write_text

        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


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


def _run_sweep(args: argparse.Namespace, pipeline, dataset) -> list[dict]:
    """Drive :func:`iter_step_sweep` with a progress bar; print the table and write the CSV and the plot."""
    from ddpm_studio.core.evaluation import QualityScorer, SweepRow, iter_step_sweep, sweep_plan
    from ddpm_studio.core.export import save_csv, save_png
    from ddpm_studio.core.sampling import max_num_steps

    T = pipeline.diffusion.num_timesteps
    plan = sweep_plan(args.sweep_steps, args.sweep_methods, T)
    if not plan:
        raise CliError(f"no --sweep-steps value is one the methods can use with the run's T = {T}")
    for method in dict.fromkeys(args.sweep_methods):
        top = max_num_steps(method, T)
        skipped = sorted({k for k in args.sweep_steps if k > top})
        if skipped:
            print(
                f"note: skipping K = {', '.join(map(str, skipped))} for {method} (it can use at most {top} network "
                f"evaluations with the run's T = {T})",
                file=sys.stderr,
            )
    out_csv = args.out_csv if args.out_csv is not None else args.run_dir / "sweep.csv"
    plot = args.plot if args.plot is not None else args.run_dir / "sweep.png"
    scorer = QualityScorer(dataset, cache_dir=args.run_dir, device=pipeline.device, seed=args.seed)
    num_samples = args.sweep_samples or scorer.sample_count
    bar = ProgressBar(sum(k for _, k in plan), "sweep", enabled=not args.quiet)
    rows: list[SweepRow] = []
    finished_steps = 0
    records = iter_step_sweep(
        pipeline, args.sweep_steps, args.sweep_methods, num_samples, scorer, seed=args.seed, spacing=args.spacing
    )
    for record in records:
        if isinstance(record, SweepRow):
            rows.append(record)
            finished_steps += record.num_steps
        else:
            bar.update(finished_steps + record.index, f"{record.method} K={record.num_steps}")
    bar.close()
    label = "sliced Wasserstein" if scorer.metric == "sliced_wasserstein" else "feature Fréchet distance"
    print(
        f"{label} of {num_samples} samples against network evaluations (NFE), {args.spacing} spacing, every run "
        f"from the same x_T (seed {args.seed}); real-data floor {scorer.floor:.4g}; lower is better"
    )
    print(f"  {'method':<13} {'NFE':>5} {'score':>10} {'seconds':>8}")
    for row in rows:
        print(f"  {row.method:<13} {row.num_steps:>5} {row.score:>10.4g} {row.seconds:>8.1f}")
    extra_names = sorted({name for row in rows for name in row.scores} - {"score", "floor"})
    header = ["method", "num_steps", "num_samples", "score", "floor", "seconds", "spacing", *extra_names]
    table = [
        [
            row.method,
            row.num_steps,
            row.num_samples,
            row.score,
            row.floor,
            row.seconds,
            row.spacing,
            *[row.scores.get(name) for name in extra_names],
        ]
        for row in rows
    ]
    save_csv(out_csv, header, table)
    print(f"wrote {out_csv}", file=sys.stderr)
    # the plot's default bitmap font has no accented letters
    title = f"{label.replace('é', 'e')} vs network evaluations ({args.spacing} spacing)"
    save_png(plot, sweep_plot(rows, scorer.floor, title))
    print(f"wrote {plot}", file=sys.stderr)
    return [
        {
            "method": r.method,
            "num_steps": r.num_steps,
            "num_samples": r.num_samples,
            "score": r.score,
            "floor": r.floor,
            "seconds": r.seconds,
            "spacing": r.spacing,
            **{k: v for k, v in r.scores.items() if k not in ("score", "floor")},
        }
        for r in rows
    ]


def sweep_plot(rows: Sequence, floor: float, title: str) -> np.ndarray:
    """A line plot of score against the NFE K (log axis), one line per method, the real-data floor dashed.

    Args:
        rows: :class:`~ddpm_studio.core.evaluation.SweepRow` records. floor: the real-data score.
    Returns:
        uint8 (PLOT_HEIGHT, PLOT_WIDTH, 3).
    """
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.new("RGB", (PLOT_WIDTH, PLOT_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    left, right, top, bottom = 70, PLOT_WIDTH - 20, 36, PLOT_HEIGHT - 50
    ks = sorted({row.num_steps for row in rows})
    finite = [row.score for row in rows if math.isfinite(row.score)]
    y_max = max([*finite, floor if math.isfinite(floor) else 0.0, 1e-12]) * 1.1
    # log-spaced K: 10, 100 and 1000 steps sit equally far apart, as their costs differ by the same factor
    k_lo, k_hi = math.log10(min(ks)), math.log10(max(ks))
    span = k_hi - k_lo if k_hi > k_lo else 1.0

    def to_pixel(k: float, y: float) -> tuple[float, float]:
        x = left + (math.log10(k) - k_lo) / span * (right - left) if k_hi > k_lo else (left + right) / 2
        return x, bottom - y / y_max * (bottom - top)

    draw.text((left, 10), title, fill=(0, 0, 0), font=font)
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=(0, 0, 0))
    for i in range(5):
        value = y_max * i / 4
        _, y = to_pixel(ks[0], value)
        draw.line([(left - 4, y), (left, y)], fill=(0, 0, 0))
        draw.text((8, y - 6), f"{value:.3g}", fill=(0, 0, 0), font=font)
    for k in ks:
        x, _ = to_pixel(k, 0.0)
        draw.line([(x, bottom), (x, bottom + 4)], fill=(0, 0, 0))
        draw.text((x - 8, bottom + 8), str(k), fill=(0, 0, 0), font=font)
    draw.text(((left + right) / 2 - 60, bottom + 26), "network evaluations K (log scale)", fill=(0, 0, 0), font=font)
    if math.isfinite(floor):
        _, y = to_pixel(ks[0], floor)
        for x in range(left, right, 12):  # a dashed line: ImageDraw has no dash style
            draw.line([(x, y), (min(x + 6, right), y)], fill=(120, 120, 120))
        draw.text((right - 110, y - 14), "real-data floor", fill=(120, 120, 120), font=font)
    methods = list(dict.fromkeys(row.method for row in rows))
    for index, method in enumerate(methods):
        color = _METHOD_COLORS.get(method, (44, 160, 44))
        points = [
            to_pixel(row.num_steps, row.score) for row in rows if row.method == method and math.isfinite(row.score)
        ]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for x, y in points:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
        draw.line([(right - 110, top + 8 + 16 * index), (right - 90, top + 8 + 16 * index)], fill=color, width=2)
        draw.text((right - 84, top + 2 + 16 * index), method, fill=(0, 0, 0), font=font)
    return np.asarray(canvas, dtype=np.uint8).copy()


# ---------------------------------------------------------------------------- compare
def _compare_base_config(args: argparse.Namespace):
    """The shared settings of ``compare``: :func:`compare_config` for the data's kind, then the given flags;
    returns (config, the loaded data set: the comparison trains on it, so the file is read once)."""
    import os

    from ddpm_studio.core.compare import compare_config
    from ddpm_studio.core.data import load_dataset
    from ddpm_studio.core.training.config import default_config

    probe = load_dataset(args.data, image_size=args.image_size, seed=args.seed)
    data = os.path.abspath(args.data) if os.path.exists(args.data) else args.data
    steps = args.steps or default_config(data, probe.kind).train.steps
    config = compare_config(data, probe.kind, steps, seed=args.seed)
    config.data.image_size = args.image_size
    for flag, section, name in [
        ("num_timesteps", "diffusion", "num_timesteps"),
        ("schedule", "diffusion", "schedule"),
        ("model", "model", "preset"),
        ("batch_size", "train", "batch_size"),
        ("lr", "train", "lr"),
        ("ema_decay", "train", "ema_decay"),
        ("device", "train", "device"),
    ]:
        if getattr(args, flag) is not None:
            setattr(getattr(config, section), name, getattr(args, flag))
    # previews are off in a comparison, but the config still requires preview_steps <= T
    config.train.preview_steps = min(config.train.preview_steps, config.diffusion.num_timesteps)
    if args.sample_steps is not None and args.sample_steps > config.diffusion.num_timesteps:
        raise CliError(f"--sample-steps {args.sample_steps} exceeds T = {config.diffusion.num_timesteps}")
    return config.validate(), probe


def cmd_compare(args: argparse.Namespace) -> int:
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


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"evaluate": cmd_evaluate, "compare": cmd_compare}
