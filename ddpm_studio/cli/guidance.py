"""Conditional generation from the command line (wired into ``train``, ``sample`` and ``evaluate``; MATH.md M34).

- ``train --conditional [--p-uncond P]``: a class-conditional network (``model.num_classes`` from the data's labels,
  label dropout ``train.p_uncond``); unlabelled data is refused in one line.
- ``sample RUN --class 7 --guidance 3``: samples of one class under classifier-free guidance; ``--class all``: one
  row per class (points: coloured by class).
- ``evaluate RUN --guidance-sweep 0,1,2,4,8``: the fidelity / diversity trade-off over w, from one x_T: accuracy of
  the download-free classifier on the asked class, the quality score (Fréchet distance in the feature network's
  features for images, sliced Wasserstein for points) and class coverage, as CSV and PNG.

The maths lives in :mod:`ddpm_studio.core.process.guidance` and :mod:`ddpm_studio.core.analysis.guidance_sweep`; this
module adds flags, checks them, drives the core, prints and writes files.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING

from ddpm_studio.cli.common import CliError, ProgressBar, _positive_int
from ddpm_studio.core import choices

if TYPE_CHECKING:  # numpy is imported where a picture is drawn: --help must not load it
    import numpy as np

ACCURACY_RGB = (31, 119, 180)
SCORE_RGB = (214, 39, 40)


# ---------------------------------------------------------------------------- flags
def add_train_options(train: argparse.ArgumentParser) -> None:
    """``train --conditional [--p-uncond P]``."""
    train.add_argument(
        "--conditional",
        action="store_true",
        help="train a class-conditional model on the data's labels (digits, moons, circles, ring, class sub-folders, "
        "MNIST labels, .npz 'labels'), for classifier-free guidance (MATH.md M34)",
    )
    train.add_argument(
        "--p-uncond",
        type=float,
        help="with --conditional: share of labels dropped to the null class while training (default 0.1)",
    )


def add_sample_options(sample: argparse.ArgumentParser) -> None:
    """``sample --class C|all --guidance W``."""
    sample.add_argument(
        "--class",
        dest="class_label",
        metavar="C",
        help="a conditional run: draw class C (0..K-1), or 'all' for one row per class (--num spread over the "
        "classes, rounded up to whole rows)",
    )
    sample.add_argument(
        "--guidance",
        type=float,
        help="with --class: classifier-free guidance scale w >= 0 (default 0: the conditional model; diffusers' "
        "guidance_scale is 1 + w; M34)",
    )


def add_evaluate_options(evaluate: argparse.ArgumentParser) -> None:
    """``evaluate --guidance-sweep W,W,... [--guidance-class C|all --guidance-samples N --guidance-steps K ...]``."""
    evaluate.add_argument(
        "--guidance-sweep",
        metavar="W,W,...",
        help="a conditional run: sample one x_T at each guidance scale w and write accuracy on the asked class, "
        "quality score and coverage per w to RUN_DIR/guidance_sweep.csv and .png (skips the bound unless --bound)",
    )
    evaluate.add_argument("--guidance-class", default="all", metavar="C", help="class to ask for (default all)")
    evaluate.add_argument(
        "--guidance-samples", type=_positive_int, help="samples per w (default: the quality floor's size)"
    )
    evaluate.add_argument("--guidance-steps", type=_positive_int, default=50, help="NFE per sample (default 50)")
    evaluate.add_argument(
        "--guidance-method", choices=choices.names(choices.METHODS), default="ddim", help="sampler (default ddim)"
    )


# ---------------------------------------------------------------------------- train
def apply_train_options(args: argparse.Namespace, config, dataset) -> None:
    """Set ``model.num_classes`` (from the data) and ``train.p_uncond`` on a new run's config."""
    from ddpm_studio.core.process.guidance import conditional_problem

    if args.p_uncond is not None and not args.conditional:
        raise CliError("--p-uncond only applies with --conditional")
    if not args.conditional:
        return
    if dataset is None:
        raise CliError("--conditional applies to a new run; a resumed run keeps its own (drop --conditional)")
    problem = conditional_problem(dataset, dataset.num_classes or 1)
    if problem:
        raise CliError(f"--conditional: {problem}")
    config.model.num_classes = dataset.num_classes
    if args.p_uncond is not None:
        config.train.p_uncond = args.p_uncond


# ---------------------------------------------------------------------------- sample
def sample_request(args: argparse.Namespace, pipeline) -> tuple[int, dict]:
    """(number of samples, the ``labels`` / ``guidance`` keywords of ``pipeline.sample``) for ``--class`` and
    ``--guidance``; an unconditional request gives (--num, {})."""
    from ddpm_studio.core.process.guidance import check_guidance, labels_for, parse_class

    if args.class_label is None:
        if args.guidance is not None:
            raise CliError("--guidance needs --class (the class to guide towards)")
        return args.num, {}
    if getattr(args, "ideal", False):
        raise CliError("--class does not apply with --ideal (the ideal denoiser has no classes)")
    label = parse_class(args.class_label, pipeline.num_classes)
    guidance = check_guidance(args.guidance if args.guidance is not None else 0.0)
    labels = labels_for(label, args.num, pipeline.num_classes)
    return int(labels.shape[0]), {"labels": labels, "guidance": guidance}


def describe_request(request: dict) -> str:
    """" of class 7 at w = 3" / " of every class (a row each) at w = 3" for the closing line; "" otherwise."""
    labels = request.get("labels")
    if labels is None:
        return ""
    asked = sorted({int(label) for label in labels})
    which = f"class {asked[0]}" if len(asked) == 1 else "every class (a row each)"
    return f" of {which} at w = {request['guidance']:g}"


# ---------------------------------------------------------------------------- evaluate
def check_evaluate_args(args: argparse.Namespace) -> list[float] | None:
    """The sweep's scales, checked before anything loads (None without ``--guidance-sweep``)."""
    from ddpm_studio.core.process.guidance import parse_guidance_list

    if args.guidance_sweep is None:
        return None
    return parse_guidance_list(args.guidance_sweep)


def guidance_sweep_report(args: argparse.Namespace, pipeline, dataset) -> list[dict]:
    """Run :func:`iter_guidance_sweep` with a progress bar, print the table, write the CSV and the two PNGs."""
    from ddpm_studio.core.analysis.guidance_sweep import GuidanceRow, iter_guidance_sweep
    from ddpm_studio.core.io.export import save_csv, save_png
    from ddpm_studio.core.process.guidance import parse_class
    from ddpm_studio.core.scores.quality import QualityScorer

    scales = check_evaluate_args(args)
    assert scales is not None
    label = parse_class(args.guidance_class, pipeline.num_classes)
    if not pipeline.num_classes:
        raise CliError("--guidance-sweep needs a conditional run (train with --conditional)")
    scorer = QualityScorer(dataset, cache_dir=args.run_dir, device=pipeline.device, seed=args.seed)
    num = args.guidance_samples or scorer.sample_count
    bar = ProgressBar(len(scales) * args.guidance_steps, "guidance sweep", enabled=not args.quiet)
    rows: list[GuidanceRow] = []
    for item in iter_guidance_sweep(pipeline, scales, num, scorer, label=label, seed=args.seed,
                                    num_steps=args.guidance_steps, method=args.guidance_method):
        if isinstance(item, GuidanceRow):
            rows.append(item)
        else:
            bar.update(item.row * args.guidance_steps + item.index, f"w = {item.guidance:g}")
    bar.close()
    records = [row.record() for row in rows]
    metric = "frechet" if scorer.metric == "frechet_features" else "sliced_wasserstein"
    print(f"guidance sweep, {rows[0].labels.numel()} samples per w ({args.guidance_method}, {args.guidance_steps} "
          f"NFE, class {args.guidance_class}); {metric}: lower is better, real data {rows[0].floor:.4g}")
    print(f"{'w':>6} {'accuracy':>9} {metric:>18} {'coverage':>9}")
    for record in records:
        print(f"{record['guidance']:6g} {record['accuracy']:9.3f} {record['score']:18.4g} "
              f"{record.get('coverage', float('nan')):9.3f}")
    header = list(records[0])
    save_csv(args.run_dir / "guidance_sweep.csv", header, [[r.get(k) for k in header] for r in records])
    title = f"{dataset.name}, step {pipeline.step}: classifier-free guidance (class {args.guidance_class})"
    save_png(args.run_dir / "guidance_sweep.png", tradeoff_plot(records, rows[0].floor, title))
    save_png(args.run_dir / "guidance_sweep_samples.png", samples_strip(pipeline, rows))
    print(f"wrote {args.run_dir / 'guidance_sweep.csv'}, guidance_sweep.png and guidance_sweep_samples.png",
          file=sys.stderr)
    return records


def samples_strip(pipeline, rows) -> np.ndarray:
    """Each w's samples (a grid, a row per class; or a coloured scatter) side by side, "w = ..." above each."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    from ddpm_studio.core.io.export import side_by_side
    from ddpm_studio.core.training.previews import preview_image

    pictures = []
    for row in rows:
        picture = preview_image(pipeline, row.samples, labels=row.labels)
        canvas = Image.new("RGB", (picture.shape[1], picture.shape[0] + 20), (255, 255, 255))
        canvas.paste(Image.fromarray(picture[:, :, 0] if picture.shape[2] == 1 else picture).convert("RGB"), (0, 20))
        ImageDraw.Draw(canvas).text((4, 4), f"w = {row.guidance:g}: {row.accuracy:.0%} of the asked class",
                                    fill=(0, 0, 0), font=ImageFont.load_default())
        pictures.append(np.asarray(canvas, dtype=np.uint8))
    return side_by_side(pictures)


def tradeoff_plot(records: list[dict], floor: float, title: str) -> np.ndarray:
    """Accuracy (left axis, 0..1) and the quality score (right axis, the real-data floor dashed) against w.

    Returns:
        uint8 (PLOT_HEIGHT, PLOT_WIDTH, 3).
    """
    import numpy as np

    from ddpm_studio.cli.sweep import PLOT_HEIGHT, PLOT_WIDTH, dashed_line, plot_canvas

    left, right, top, bottom = 60, PLOT_WIDTH - 70, 36, PLOT_HEIGHT - 50
    canvas, draw, font = plot_canvas(title, left)
    ws = [r["guidance"] for r in records]
    w_lo, w_hi = min(ws), max(ws)
    scores = [r["score"] for r in records if math.isfinite(r["score"])]
    s_max = max([*scores, floor if math.isfinite(floor) else 0.0, 1e-12]) * 1.1

    def x_of(w: float) -> float:
        return left + (w - w_lo) / (w_hi - w_lo) * (right - left) if w_hi > w_lo else (left + right) / 2

    def y_of(fraction: float) -> float:
        return bottom - fraction * (bottom - top)

    draw.line([(left, top), (left, bottom), (right, bottom), (right, top)], fill=(0, 0, 0))
    for i in range(5):
        y = y_of(i / 4)
        draw.text((left - 34, y - 6), f"{i / 4:.2f}", fill=ACCURACY_RGB, font=font)
        draw.text((right + 6, y - 6), f"{s_max * i / 4:.3g}", fill=SCORE_RGB, font=font)
    for w in ws:
        draw.text((x_of(w) - 6, bottom + 6), f"{w:g}", fill=(0, 0, 0), font=font)
    draw.text(((left + right) / 2 - 50, bottom + 24), "guidance scale w", fill=(0, 0, 0), font=font)
    draw.text((left + 6, top + 4), "accuracy on the asked class (left)", fill=ACCURACY_RGB, font=font)
    draw.text((left + 6, top + 18), "quality score, lower is better (right)", fill=SCORE_RGB, font=font)
    if math.isfinite(floor):
        dashed_line(draw, font, y_of(floor / s_max), left, right, "real-data score")
    for key, color, scale in (("accuracy", ACCURACY_RGB, 1.0), ("score", SCORE_RGB, s_max)):
        points = [(x_of(r["guidance"]), y_of(r[key] / scale)) for r in records if math.isfinite(r[key])]
        if len(points) > 1:
            draw.line(points, fill=color, width=2)
        for x, y in points:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=color)
    return np.asarray(canvas, dtype=np.uint8).copy()

