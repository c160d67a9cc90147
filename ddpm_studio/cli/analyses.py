"""What the network learned, from the command line (wired into ``sample`` and ``evaluate``; one function per option).

- ``sample RUN --ideal``: sample the ideal denoiser of the run's training data (M30) instead of the network.
- ``evaluate RUN --memorization``: draw samples, find each one's nearest training examples and report the copy rate
  (M31) and the nearest-neighbour distances, with the samples' quality score beside them.
- ``evaluate RUN --ode-likelihood``: the exact log-likelihood of held-out points by the probability-flow ODE (M32).

The maths lives in :mod:`ddpm_studio.core.analysis.ideal`, :mod:`ddpm_studio.core.analysis.memorization` and
:mod:`ddpm_studio.core.analysis.ode_likelihood`; this module only adds flags, checks them, drives the core and prints.
"""

from __future__ import annotations

import argparse
import math

from ddpm_studio.cli.common import CliError, ProgressBar, _positive_int, check_data_shape
from ddpm_studio.core import choices


# ---------------------------------------------------------------------------- flags
def add_sample_options(sample: argparse.ArgumentParser) -> None:
    """``sample --ideal``."""
    sample.add_argument(
        "--ideal",
        action="store_true",
        help="sample the ideal denoiser of the run's training data (the exact optimum of the denoising objective, "
        "MATH.md M30) instead of the network: what a perfect fit draws, i.e. training examples",
    )


def add_evaluate_options(evaluate: argparse.ArgumentParser) -> None:
    """``evaluate --memorization [--memorization-samples N --memorization-steps K --memorization-method M --ideal]``
    and ``evaluate --ode-likelihood [--ode-levels K]``."""
    evaluate.add_argument(
        "--memorization",
        action="store_true",
        help="draw samples and report the copy rate (share whose nearest training example is closer than 1/3 of "
        "the second nearest, MATH.md M31), nearest-neighbour distances and the samples' quality score; images "
        "also get the copy rate in the feature network's space (skips the bound unless --bound is given)",
    )
    evaluate.add_argument(
        "--memorization-samples",
        type=_positive_int,
        help="samples to draw (default: the size the quality score's real-data floor uses)",
    )
    evaluate.add_argument(
        "--memorization-steps", type=_positive_int, help="network evaluations per sample (default: T)"
    )
    evaluate.add_argument(
        "--memorization-method",
        choices=choices.names(choices.METHODS),
        default="ancestral",
        help="sampler (default ancestral)",
    )
    evaluate.add_argument(
        "--ideal",
        action="store_true",
        help="with --memorization: draw the samples with the ideal denoiser of the training data (M30) instead "
        "of the network, for contrast",
    )
    evaluate.add_argument(
        "--ode-likelihood",
        action="store_true",
        help="2-D points: the exact log-likelihood of the held-out points by the probability-flow ODE with the "
        "exact divergence (MATH.md M32), in nats/dim in the data's own coordinates like the bound (skips the "
        "bound unless --bound is given)",
    )
    evaluate.add_argument(
        "--ode-levels",
        type=_positive_int,
        help="trained noise levels the ODE solver visits, 2..T, evenly spread (default: all T; it costs 2K - 1 "
        "network evaluations with D backward passes each)",
    )


def analyses_requested(args: argparse.Namespace) -> bool:
    """True when ``evaluate`` was asked for an analysis of this module (so the bound runs only with --bound)."""
    return bool(args.memorization or args.ode_likelihood)


def check_evaluate_args(args: argparse.Namespace) -> None:
    """Flags that only make sense with --memorization / --ode-likelihood: one-line errors before any work."""
    orphans = [flag for flag, value in (("--memorization-samples", args.memorization_samples),
                                        ("--memorization-steps", args.memorization_steps),
                                        ("--ideal", args.ideal)) if value]
    if args.memorization_method != "ancestral":
        orphans.append("--memorization-method")
    if orphans and not args.memorization:
        raise CliError(f"{' '.join(orphans)} only apply with --memorization")
    if args.ode_levels is not None and not args.ode_likelihood:
        raise CliError("--ode-levels only applies with --ode-likelihood")


def check_against_run(args: argparse.Namespace, pipeline) -> None:
    """Checks that need the run (its kind, its T), made before any long job starts."""
    if pipeline.is_flow:  # these analyses are DDPM's; cli/straightness.py has refused them for a flow run
        return
    T = pipeline.diffusion.num_timesteps
    if args.ode_likelihood and pipeline.kind != "points":
        raise CliError(
            "--ode-likelihood is for 2-D point runs: the exact divergence costs one backward pass per dimension "
            f"({math.prod(pipeline.data_shape)} here, at each of 2T - 1 evaluations); use the bound for images"
        )
    if args.ode_levels is not None and not 2 <= args.ode_levels <= T:
        raise CliError(f"--ode-levels must lie in 2..{T} (the run's T), got {args.ode_levels}")
    if args.memorization:
        from ddpm_studio.core.sampling import check_num_steps

        try:
            check_num_steps(args.memorization_method, T, args.memorization_steps or T)
        except ValueError as exc:
            raise CliError(f"--memorization-steps {args.memorization_steps}: {exc}") from None


# ---------------------------------------------------------------------------- sample --ideal
def ideal_model(pipeline):
    """The :class:`~ddpm_studio.core.analysis.ideal.IdealDenoiser` of the run's training data (its subset, if it had
    one), on the pipeline's device."""
    from ddpm_studio.core.analysis.ideal import IdealDenoiser
    from ddpm_studio.core.scores.heldout import load_run_dataset

    dataset = load_run_dataset(pipeline.config)
    check_data_shape(dataset, pipeline)
    return IdealDenoiser(dataset.train, pipeline.diffusion).to(pipeline.device)


# ---------------------------------------------------------------------------- evaluate --memorization
def memorization_report(args: argparse.Namespace, pipeline, full_dataset) -> dict:
    """Sample, then the ratio test against the run's training data; print a summary; return the JSON keys.

    ``full_dataset`` is the whole training split (the quality score's reference); the copy test uses the data the
    run actually trained on (its subset, if any).
    """
    import torch

    from ddpm_studio.core.analysis.memorization import memorization
    from ddpm_studio.core.scores.heldout import load_run_dataset
    from ddpm_studio.core.scores.quality import QualityScorer

    trained_on = load_run_dataset(pipeline.config)
    check_data_shape(trained_on, pipeline)
    if trained_on.train.shape[0] < 2:
        raise CliError("--memorization needs at least 2 training items (a nearest and a second nearest)")
    check_against_run(args, pipeline)
    steps = args.memorization_steps or pipeline.diffusion.num_timesteps
    scorer = QualityScorer(full_dataset, cache_dir=args.run_dir, device=pipeline.device, seed=args.seed)
    num = args.memorization_samples or scorer.sample_count
    model = ideal_model(pipeline) if args.ideal else None
    bar = ProgressBar(steps, "memorization", enabled=not args.quiet)
    final = None
    for record in pipeline.sample(num, num_steps=steps, method=args.memorization_method, seed=args.seed,
                                  model=model):
        final = record.x
        bar.update(record.index + 1)
    bar.close()
    assert final is not None
    samples = final.detach().cpu().float()
    if pipeline.kind == "images":
        samples = samples.clamp(-1.0, 1.0)  # what a saved image holds: the copy test compares pictures
    result = memorization(samples, trained_on.train)
    report = {"memorization_source": "ideal" if args.ideal else "network", "memorization_method":
              args.memorization_method, "memorization_steps": steps, **result.to_dict()}
    features_rate = None
    if pipeline.kind == "images" and scorer.feature_info is not None:
        from ddpm_studio.core.scores.features import extract_features, load_or_train_feature_net

        # the scorer has just trained (or found) the feature network in the run folder: this loads that file
        net, _ = load_or_train_feature_net(full_dataset, args.run_dir, device=pipeline.device, seed=args.seed)
        sample_features = torch.from_numpy(extract_features(net, samples))
        train_features = torch.from_numpy(extract_features(net, trained_on.train))
        features = memorization(sample_features, train_features)
        features_rate = features.copy_rate
        report.update(features.to_dict(prefix="features_"))
    quality = scorer.score(samples)
    report.update({f"quality_{name}": value for name, value in quality.items()})
    who = "the ideal denoiser" if args.ideal else f"the network (step {pipeline.step})"
    space = "pixels" if pipeline.kind == "images" else "model coordinates"
    print(f"memorization: {num} samples of {who} against {result.num_train} training items "
          f"({args.memorization_method}, {steps} network evaluations)")
    print(f"  copy rate (d1 < d2 / 3, {space})  {result.copy_rate:8.3f}  (new samples of locally uniform data: "
          f"{result.chance_rate:.3g})")
    if features_rate is not None:
        print(f"  copy rate (feature space)          {features_rate:8.3f}")
    print(f"  nearest distance mean / median     {result.nn_mean:8.4f} / {result.nn_median:.4f} "
          f"(RMS per value {result.nn_rms_per_dim:.4f})")
    print(f"  median d1 / d2                     {result.nn_ratio_median:8.3f}")
    print(f"  quality score                      {quality['score']:8.4g} (real-data floor {quality['floor']:.4g}, "
          "lower is better)")
    return report


# ---------------------------------------------------------------------------- evaluate --ode-likelihood
def ode_likelihood_report(args: argparse.Namespace, pipeline, dataset) -> dict:
    """The ODE likelihood (M32) of the held-out points (``--num`` of them); print it; return the JSON keys."""
    from ddpm_studio.core.analysis.ode_likelihood import OdeLikelihoodResult, iter_ode_likelihood

    check_against_run(args, pipeline)
    heldout = dataset.heldout[: args.num] if args.num else dataset.heldout
    levels = args.ode_levels or pipeline.diffusion.num_timesteps
    bar = ProgressBar(levels, "ode", enabled=not args.quiet)
    result = None
    for record in iter_ode_likelihood(pipeline, heldout, num_levels=levels):
        if isinstance(record, OdeLikelihoodResult):
            result = record
        else:
            bar.update(record.done)
    bar.close()
    assert result is not None
    print(f"probability-flow ODE likelihood on {result.num_examples} held-out points (step {pipeline.step}, "
          f"{result.num_levels} levels, {result.num_evaluations} network evaluations): "
          f"{result.nats_per_dim:.4f} +- {result.stderr:.4f} nats/dim")
    print(f"  prior                {result.prior:10.4f} nats/dim")
    print(f"  flow (divergence)    {result.divergence:10.4f} nats/dim")
    print(f"  Jacobian (data)      {result.jacobian:10.4f} nats/dim")
    return result.to_dict()
