"""``ddpm-studio sample``: draw samples from a trained run (or from the ideal denoiser of its data, ``--ideal``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ddpm_studio.cli import guidance
from ddpm_studio.cli.analyses import add_sample_options, ideal_model
from ddpm_studio.cli.common import (
    ALL_METHODS,
    ALL_SPACINGS,
    CliError,
    ProgressBar,
    _float,
    _positive_int,
    resolve_sampler,
    sampler_epilog,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``sample`` to the ``ddpm-studio`` subparsers (made with ``parser_class=_Parser``)."""
    sample = sub.add_parser(
        "sample",
        help="draw samples from a trained run",
        description="Sample a run's EMA weights; .png writes a grid or scatter plot, .npz the "
        "samples in the data's own coordinates. --steps counts network evaluations for every method, so runs "
        "with the same --steps cost the same.",
        epilog=sampler_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sample.add_argument("run_dir", type=Path, help="a run folder written by train (or the studio), or a diffusers "
                        "model folder (save_pretrained)")
    sample.add_argument("--num", type=_positive_int, default=64, help="number of samples (default 64)")
    sample.add_argument(
        "--steps",
        type=_positive_int,
        help="network evaluations K (default: T; 50 for a flow run); at most T for every DDPM method but heun, "
        "which takes about K/2 steps of two evaluations and can use up to 2T - 2",
    )
    sample.add_argument(
        "--method",
        choices=ALL_METHODS,
        default=None,
        help="sampler (default ancestral; euler for a flow run; see the lists below)",
    )
    sample.add_argument(
        "--spacing",
        choices=ALL_SPACINGS,
        default=None,
        help="timestep grid (default linspace; see below)",
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
    sample.add_argument(
        "--inpaint",
        type=Path,
        metavar="MASK",
        help="RePaint (MATH.md M57-M59): a .png or .npy mask of what to REGENERATE (white / nonzero pixels, (H, W); "
        "for points a (D,) .npy, 1 for each coordinate drawn); --known gives the rest; --num completions of it, "
        "ancestral on --steps grid points (default 50)",
    )
    sample.add_argument("--known", type=Path, metavar="ITEM",
                        help="with --inpaint: the item to complete, a .png or .npy image (H, W[, C], 8-bit) or for "
                        "points a (D,) .npy in the data's coordinates")
    sample.add_argument("--jump-length", type=_positive_int, default=5,
                        help="with --inpaint: RePaint's jump length L in grid points (M59, default 5)")
    sample.add_argument("--resamplings", type=_positive_int, default=3,
                        help="with --inpaint: RePaint's resamplings r (M59, default 3; 1 = none)")
    add_sample_options(sample)
    guidance.add_sample_options(sample)


def run(args: argparse.Namespace) -> int:
    """Sample ``args.run_dir`` into a .png grid / scatter or an .npz (with ``--trajectory``, the reverse process)."""
    from ddpm_studio.core.app.diffusers_import import load_any_pipeline
    from ddpm_studio.core.io.export import TrajectoryRecorder, save_npz, subsample_indices
    from ddpm_studio.core.training.previews import save_preview

    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".npz"):
        raise CliError(f"--out must end in .png or .npz, got {args.out.name!r}")
    if args.trajectory and suffix != ".npz":
        raise CliError("--trajectory needs an .npz output")
    if (args.inpaint is None) != (args.known is None):
        raise CliError("--inpaint MASK and --known ITEM go together")
    pipeline = load_any_pipeline(args.run_dir, args.device)
    if args.inpaint is not None:
        return _inpaint(args, pipeline, suffix)
    method, steps, spacing = resolve_sampler(pipeline, args.method, args.steps, args.spacing)
    if pipeline.is_flow and args.ideal:
        raise CliError("--ideal samples DDPM's ideal denoiser; this is a flow run (sample it without --ideal)")
    if not 0.0 <= args.eta <= 1.0:
        raise CliError(f"--eta must lie in [0, 1], got {args.eta}")
    # trajectory_t is the paper timestep of each stored state (core/io/export.py says what every array means)
    trajectory = TrajectoryRecorder(subsample_indices(steps, 100) if args.trajectory else (), pipeline.to_saved_array)
    bar = ProgressBar(steps, "sample", enabled=not args.quiet)
    num, request = guidance.sample_request(args, pipeline)
    run = pipeline.sample(
        num, num_steps=steps, method=method, eta=args.eta, seed=args.seed, spacing=spacing,
        model=ideal_model(pipeline) if args.ideal else None, **request,
    )
    final = _run_to_end(run, trajectory, bar)
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
        f"wrote {num} {'ideal-denoiser ' if args.ideal else ''}samples{guidance.describe_request(request)} "
        f"({method}, {steps} network "
        f"evaluations, {spacing} spacing) to {args.out}",
        file=sys.stderr,
    )
    return 0


def _read_item(path: Path, what: str, grey: bool):
    """A .npy array, or a .png as uint8 (H, W) (``grey``) or (H, W, 3)."""
    import numpy as np

    if not path.is_file():
        raise CliError(f"{what} {path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CliError(f"{what} {path}: not a readable .npy file ({exc})") from None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L" if grey else "RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise CliError(f"{what} {path}: not a readable image ({exc})") from None


def _inpaint(args: argparse.Namespace, pipeline, suffix: str) -> int:
    """``sample --inpaint MASK --known ITEM``: RePaint (M57-M59) completions of one item into .png or .npz."""
    import numpy as np

    from ddpm_studio.core.io.export import TrajectoryRecorder, save_npz, subsample_indices
    from ddpm_studio.core.sampling import FLOW_REFUSAL, repaint_evaluations
    from ddpm_studio.core.training.previews import save_preview

    if pipeline.is_flow:
        raise CliError(FLOW_REFUSAL)
    if args.method not in (None, "ancestral"):
        raise CliError("--inpaint steps back with the ancestral sampler (M58); leave --method out")
    T = pipeline.diffusion.num_timesteps
    steps = args.steps or min(50, T)
    if steps > T:
        raise CliError(f"--steps {steps}: a T = {T} run has {T} grid points at most")
    grey = pipeline.kind == "images" and pipeline.data_shape[0] == 1
    known = _read_item(args.known, "--known", grey)
    mask = _read_item(args.inpaint, "--inpaint", True)
    if pipeline.kind == "images":
        regenerate = mask > (127 if args.inpaint.suffix.lower() == ".png" else 0)
        if regenerate.ndim == 3:
            regenerate = regenerate.any(axis=-1)
        known = np.clip(np.asarray(known), 0, 255).astype(np.uint8)
    else:
        regenerate = np.asarray(mask) != 0
    try:
        x0, m = pipeline.inpaint_items(known, regenerate, args.num)
        run = pipeline.inpaint(x0, m, num_steps=steps, seed=args.seed, spacing=args.spacing or "linspace",
                               jump_length=args.jump_length, jump_n_sample=args.resamplings,
                               model=ideal_model(pipeline) if args.ideal else None)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    evaluations = repaint_evaluations(steps, args.jump_length, args.resamplings)
    trajectory = TrajectoryRecorder(subsample_indices(evaluations, 100) if args.trajectory else (),
                                    pipeline.to_saved_array)
    bar = ProgressBar(evaluations, "inpaint", enabled=not args.quiet)
    final = _run_to_end(run, trajectory, bar)
    if suffix == ".png":
        save_preview(pipeline, final, args.out)
    else:
        arrays = trajectory.arrays()
        if arrays:
            arrays["trajectory_x_T"] = pipeline.to_saved_array(run.x_T)
        save_npz(args.out, samples=pipeline.to_saved_array(final), mask_regenerate=regenerate, **arrays)
    print(f"wrote {args.num} inpainted samples (RePaint, {steps} steps, L = {args.jump_length}, "
          f"r = {args.resamplings}: {evaluations} network evaluations) to {args.out}", file=sys.stderr)
    return 0


def _run_to_end(run, trajectory, bar: ProgressBar):
    """Drive a reverse process to its end, recording its trajectory and the bar; the final x_0 on the CPU."""
    final = None
    for record in run:
        trajectory.add(record)
        final = record.x
        bar.update(record.index + 1)
    bar.close()
    assert final is not None
    return final.detach().cpu()
