"""``evaluate --sweep``: drive the step sweep with a progress bar, print its table, write its CSV and its plot."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ddpm_studio.cli.common import CliError, ProgressBar

if TYPE_CHECKING:  # numpy is imported where a plot is drawn: evaluate --help must not load it
    import numpy as np

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


def run_sweep(args: argparse.Namespace, pipeline, dataset) -> list[dict]:
    """Drive :func:`iter_step_sweep` with a progress bar; print the table and write the CSV and the plot."""
    from ddpm_studio.core.analysis.sweep import SweepRow, iter_step_sweep, sweep_plan
    from ddpm_studio.core.io.export import save_csv, save_png
    from ddpm_studio.core.sampling import max_num_steps
    from ddpm_studio.core.scores.quality import QualityScorer

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


def plot_canvas(title: str, left: int):
    """A white PLOT_WIDTH x PLOT_HEIGHT canvas with ``title`` at the top: (image, its ImageDraw, the font)."""
    from PIL import Image, ImageDraw, ImageFont

    canvas = Image.new("RGB", (PLOT_WIDTH, PLOT_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    draw.text((left, 10), title, fill=(0, 0, 0), font=font)
    return canvas, draw, font


def dashed_line(draw, font, y: float, left: int, right: int, label: str) -> None:
    """A grey dashed horizontal line at ``y`` with ``label`` above its right end (ImageDraw has no dash style)."""
    for x in range(left, right, 12):
        draw.line([(x, y), (min(x + 6, right), y)], fill=(120, 120, 120))
    draw.text((right - 110, y - 14), label, fill=(120, 120, 120), font=font)


def sweep_plot(rows: Sequence, floor: float, title: str) -> np.ndarray:
    """A line plot of score against the NFE K (log axis), one line per method, the real-data floor dashed.

    Args:
        rows: :class:`~ddpm_studio.core.evaluation.SweepRow` records. floor: the real-data score.
    Returns:
        uint8 (PLOT_HEIGHT, PLOT_WIDTH, 3).
    """
    import numpy as np

    canvas, draw, font = plot_canvas(title, 70)
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
        dashed_line(draw, font, to_pixel(ks[0], floor)[1], left, right, "real-data floor")
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
