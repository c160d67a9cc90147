"""Time to quality on 2-D points: train each test distribution with the default settings and score it as it goes.

    python benchmarks/time_to_quality.py                      # every distribution, defaults, 1 torch thread
    python benchmarks/time_to_quality.py --data spiral --set train.lr=3e-3 --checks 500,1000,1500

At each check the EMA model draws ``--samples`` points with the sampler a user gets by default for points
(``ddpm-studio sample``'s defaults for a points run) and is judged by both criteria of issue 16:

- the sliced Wasserstein distance to held-out data, as a multiple of the floor, both averaged over 32 random
  half splits of the held-out set (MATH.md M39) and over chunks of the floor's size (SW is biased by the sample
  count, so it must be compared at equal size);
- the off-support share (:func:`ddpm_studio.core.scores.metrics.off_support_fraction`): samples outside the region
  holding 99 % of the training data, which reads about 1 % for the data itself.

"Good" means SW <= 1.5 x floor and off-support <= 3 %. The training time excludes the checks; the step rate is
printed beside ``os.getloadavg()`` because the machine may be shared: convert with steps / quiet steps per second.
A figure of the final samples over the data is saved per distribution (``--figure-dir``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddpm_studio.core.config import RunConfig, default_config  # noqa: E402
from ddpm_studio.core.data import MIXTURE_DATASETS  # noqa: E402
from ddpm_studio.core.scores.metrics import off_support_fraction  # noqa: E402
from ddpm_studio.core.scores.quality import QualityScorer  # noqa: E402
from ddpm_studio.core.training.early_stop import OFF_SUPPORT_TARGET, SW_TARGET  # noqa: E402
from ddpm_studio.core.training.trainer import Trainer  # noqa: E402

SAMPLER_OVERRIDES: dict = {}  # --method / --sample-steps / --spacing
#: What ``ddpm-studio sample RUN`` does without options: ancestral, T steps (None), linspace.
DEFAULT_SAMPLER = {"method": "ancestral", "num_steps": None, "spacing": "linspace"}


def apply_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """``section.field=value`` strings (JSON values, or bare strings) applied to a config, then validated."""
    raw = config.to_dict()
    for item in overrides:
        key, _, text = item.partition("=")
        section, _, name = key.partition(".")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        raw[section][name] = value
    return RunConfig.from_dict(raw)


def score(trainer: Trainer, scorer: QualityScorer, support: np.ndarray, num: int, seed: int,
          overrides: dict | None = None) -> dict[str, float]:
    """SW / floor (chunks of the floor's size) and the off-support share of ``num`` default samples."""
    sampler = {**DEFAULT_SAMPLER, **(SAMPLER_OVERRIDES if overrides is None else overrides)}
    steps = sampler["num_steps"] or trainer.diffusion.num_timesteps
    started = time.perf_counter()
    x = trainer.pipeline().sample_final(num, num_steps=steps, method=sampler["method"], spacing=sampler["spacing"],
                                        seed=seed)
    sampling_s = time.perf_counter() - started
    points = trainer.dataset.to_data_space(x).double().numpy()
    points = points[np.isfinite(points).all(axis=1)]
    return {
        "sw_ratio": scorer.score(x)["score"] / scorer.floor,
        "off_support": off_support_fraction(points, support),
        "sampling_s": sampling_s,
        "points": points,
    }


def run_one(name: str, args: argparse.Namespace) -> dict:
    config = apply_overrides(default_config(name, "points"), args.set)
    config.train.seed = args.seed
    config.train.steps = args.steps
    config.train.preview_every = 0
    trainer = Trainer(config)
    scorer = QualityScorer(trainer.dataset, seed=args.seed)
    support = trainer.dataset.to_data_space(trainer.dataset.train).double().numpy()
    checks = sorted({c for c in args.checks if c <= args.steps} | {args.steps})
    rows, reached, train_s = [], None, 0.0
    last_points = None
    started = time.perf_counter()
    for event in trainer.train():
        # score at each check, and where the run ends early (its early stop): that final model is what a user gets
        ended_early = type(event).__name__ == "TrainingFinished" and trainer.step not in checks
        if ended_early or (trainer.step in checks and type(event).__name__ in ("TrainStep", "Heartbeat")):
            train_s += time.perf_counter() - started
            result = score(trainer, scorer, support, args.samples, args.seed)
            last_points = result.pop("points")
            good = result["sw_ratio"] <= SW_TARGET and result["off_support"] <= OFF_SUPPORT_TARGET
            row = {"step": trainer.step, "train_s": round(train_s, 2), "steps_per_s": trainer.step / train_s,
                   "load": os.getloadavg()[0], "good": good, **result}
            rows.append(row)
            print(f"{name:17s} step {row['step']:5d}  {row['train_s']:6.1f} s ({row['steps_per_s']:5.1f}/s, "
                  f"load {row['load']:.1f})  SW {row['sw_ratio']:.2f}x floor  off-support "
                  f"{100 * row['off_support']:4.1f} %  sampling {row['sampling_s']:.1f} s{'  GOOD' if good else ''}",
                  flush=True)
            if good and reached is None:
                reached = trainer.step
                if args.stop_at_good:
                    break
            started = time.perf_counter()
        if type(event).__name__ == "TrainingFinished":
            print(f"{name:17s} finished at step {event.step}: {event.reason}", flush=True)
    for text in args.final_samplers:
        method, steps, spacing = text.split(":")
        other = score(trainer, scorer, support, args.samples, args.seed,
                      {"method": method, "num_steps": int(steps), "spacing": spacing})
        other.pop("points")
        rows[-1].setdefault("samplers", {})[text] = other
        print(f"{name:17s}   final model, {text:24s} SW {other['sw_ratio']:.2f}x floor  off-support "
              f"{100 * other['off_support']:4.1f} %  sampling {other['sampling_s']:.1f} s", flush=True)
    if args.figure_dir and last_points is not None:
        save_figure(Path(args.figure_dir) / f"time_to_quality_{name}.png", name, support, last_points, rows[-1])
    return {"data": name, "reached_at_step": reached, "final_step": trainer.step, "rows": rows,
            "overrides": args.set}


def save_figure(path: Path, name: str, data: np.ndarray, samples: np.ndarray, row: dict) -> None:
    """A PNG of the samples (red) over the training data (grey), titled with the scores (Pillow only)."""
    from PIL import Image, ImageDraw

    size, pad, band = 360, 10, 34
    low, high = data.min(axis=0), data.max(axis=0)
    span = float((high - low).max()) * 1.2
    centre = (low + high) / 2
    image = Image.new("RGB", (size, size + band), "white")
    draw = ImageDraw.Draw(image)

    def pixels(points: np.ndarray) -> np.ndarray:
        unit = (points - centre) / span + 0.5
        return np.stack([pad + unit[:, 0] * (size - 2 * pad), band + pad + (1 - unit[:, 1]) * (size - 2 * pad)], 1)

    for colour, points in (((190, 190, 190), data), ((214, 39, 40), samples)):
        for x, y in pixels(points):
            draw.point((float(x), float(y)), fill=colour)
    draw.text((6, 4), f"{name}, step {row['step']} (red: samples, grey: data)", fill="black")
    draw.text((6, 18), f"SW {row['sw_ratio']:.2f}x floor, off-support {100 * row['off_support']:.1f} %", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=",".join(MIXTURE_DATASETS), help="comma-separated 2-D data sets")
    parser.add_argument("--steps", type=int, default=None, help="train this many steps (default: the config's)")
    parser.add_argument("--checks", default="500,1000,1500,2000,2500,3000",
                        help="comma-separated steps at which to score")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for small MLPs)")
    parser.add_argument("--set", action="append", default=[], help="override a setting: train.lr=3e-3")
    parser.add_argument("--stop-at-good", action="store_true", help="stop a distribution once it is good")
    parser.add_argument("--figure-dir", default="docs", help="where the samples-over-data figures go ('' skips)")
    parser.add_argument("--json", default=None, help="write every row here")
    parser.add_argument("--method", default=None, help="sampler instead of the points default")
    parser.add_argument("--sample-steps", type=int, default=None, help="network evaluations per sample")
    parser.add_argument("--spacing", default=None, help="timestep grid instead of the points default")
    parser.add_argument("--final-samplers", default="",
                        help="also score the final model with these, e.g. ancestral:1000:linspace,ddim:50:karras")
    args = parser.parse_args()
    args.final_samplers = [text for text in args.final_samplers.split(",") if text]
    for key, value in (("method", args.method), ("num_steps", args.sample_steps), ("spacing", args.spacing)):
        if value is not None:
            SAMPLER_OVERRIDES[key] = value
    torch.set_num_threads(args.threads)
    args.checks = [int(c) for c in args.checks.split(",") if c]
    if args.steps is None:
        args.steps = apply_overrides(default_config("moons", "points"), args.set).train.steps
    results = [run_one(name, args) for name in args.data.split(",") if name]
    print("\nsummary (first check with SW <= 1.5x floor and off-support <= 3 %):")
    for result in results:
        at = result["reached_at_step"]
        row = next((r for r in result["rows"] if r["step"] == at), None)
        print(f"  {result['data']:17s} " + (f"step {at} ({row['train_s']:.1f} s here)" if row else "not reached"))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
