"""``ddpm-studio evaluate RUN --samples FILE.npz``: judge a sample file with every quality lens (MATH.md M42-M46).

The verdict lives in :mod:`ddpm_studio.core.scores.verdict`; this module only adds the flag, reads the file,
prints a table and hands the numbers to the report (``--json`` writes them: every lens's value under its name,
``"clean"`` and ``"failed"``, details under ``"lenses"``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ddpm_studio.cli.common import CliError


def add_evaluate_options(evaluate: argparse.ArgumentParser) -> None:
    """``evaluate --samples FILE.npz``."""
    evaluate.add_argument(
        "--samples",
        type=Path,
        metavar="FILE.npz",
        help="judge the samples in this file (its 'samples' array, as 'sample --out' writes it) against the run's "
        "data with every quality lens: 2-D points get sliced Wasserstein, off-support, coverage, copy rate and, "
        "where the data has modes, mode shares and spreads; images get coverage in the feature network's space, "
        "the copy rate in pixels and, when labelled, class shares and spreads; 'clean' only when all pass (skips "
        "the bound unless --bound is given)",
    )


def check_evaluate_args(args: argparse.Namespace) -> None:
    """Refuse what cannot work before anything is loaded."""
    if args.samples is not None and args.memorization:
        raise CliError("--samples and --memorization both report a copy_rate: run them one at a time")
    if args.samples is not None and not args.samples.is_file():
        raise CliError(f"--samples: no such file: {args.samples}")


def verdict_report(args: argparse.Namespace, dataset) -> dict:
    """Judge ``args.samples`` against ``dataset`` (the run's data, model space); print the lenses; return the
    verdict's JSON-ready dict (``clean``, ``failed``, one value per lens, ``lenses``)."""
    from ddpm_studio.core.scores.sample_file import load_sample_file
    from ddpm_studio.core.scores.verdict import QualityVerdict, TooFewSamples

    try:
        samples = load_sample_file(args.samples, dataset)
    except (OSError, ValueError) as exc:
        raise CliError(str(exc)) from None
    if dataset.kind == "points":
        judge = QualityVerdict(dataset, seed=args.seed)
        items = "points"
    else:
        from ddpm_studio.core.device import resolve_device
        from ddpm_studio.core.scores.image_verdict import ImageQualityVerdict

        # the feature network is cached in the run folder, as the sweep's and memorization's are
        judge = ImageQualityVerdict(dataset, cache_dir=args.run_dir, device=resolve_device(args.device),
                                    seed=args.seed)
        items = "images"
    try:
        result = judge.judge(samples)
    except TooFewSamples as exc:
        raise CliError(f"{args.samples.name}: {exc}; draw more with 'sample --num'") from None
    print(f"quality of {result.num_samples} samples in {args.samples.name} against {dataset.name} "
          f"({dataset.heldout.shape[0]} held-out {items}"
          f"{'' if result.modes is None else ', modes from ' + result.modes}):")
    for reading in result.readings:
        side = "<=" if reading.name != "coverage" else ">="
        print(f"  {'pass' if reading.passed else 'FAIL'}  {reading.name:<19} {reading.value:10.4g} "
              f"{side} {reading.limit:<10.4g} {reading.note}")
    print(f"verdict: {result.summary()}")
    return result.to_dict()
