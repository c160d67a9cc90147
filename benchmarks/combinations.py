"""Train every parameterization x variance x loss the Setup dock allows with the data kind's defaults.

The suite runs each combination for a few steps (tests/test_combinations.py); this script runs them for real and
prints, per combination: whether it finished without diverging, any preview that failed, the final loss, the
seconds it took, and the sample quality (sliced Wasserstein to held-out data and the off-support share for points;
the feature Fréchet distance and classifier confidence for digits) of 50-step respaced samples -- the preview the
seed notes' mean parameterizations once crashed on (docs/MATH.md M23).

    python benchmarks/combinations.py --data moons                     # the defaults' step count
    python benchmarks/combinations.py --data digits --steps 300 --json benchmarks/results_cpu_combinations_digits.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ddpm_studio.core.config import default_config, snr_weighting_applies  # noqa: E402
from ddpm_studio.core.data import load_dataset  # noqa: E402
from ddpm_studio.core.scores.quality import QualityScorer  # noqa: E402
from ddpm_studio.core.training.events import PreviewFailed, TrainStep  # noqa: E402
from ddpm_studio.core.training.trainer import Trainer, TrainingDiverged  # noqa: E402

ALLOWED = [
    c
    for c in itertools.product(
        ["eps", "mean", "x0", "v"], ["fixed_large", "fixed_small", "learned"], ["simple", "vlb", "hybrid"]
    )
    if not (c[1] == "learned" and c[2] == "simple")
]


def run_one(data: str, kind: str, dataset, param: str, variance: str, loss: str, steps: int | None,
            scorer: QualityScorer, num_samples: int, seed: int) -> dict:
    config = default_config(data, kind)
    config.diffusion.parameterization, config.diffusion.variance, config.train.loss = param, variance, loss
    if not snr_weighting_applies(loss, param):
        config.train.snr_gamma = 0.0
    if steps is not None:
        config.train.steps = steps
    config.train.checkpoint_every = 0
    config.train.seed = seed
    row: dict = {"param": param, "variance": variance, "loss": loss, "steps": config.train.steps}
    started = time.perf_counter()
    trainer = Trainer(config, dataset=dataset)
    failed_previews: list[str] = []
    last_loss = math.nan
    try:
        for event in trainer.train():
            if isinstance(event, TrainStep):
                last_loss = event.loss
            elif isinstance(event, PreviewFailed):
                failed_previews.append(event.message)
        row["diverged"] = False
    except TrainingDiverged as exc:
        row["diverged"] = True
        row["message"] = str(exc)
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["final_loss"] = last_loss
    row["failed_previews"] = len(failed_previews)
    if not row["diverged"]:
        samples = trainer.pipeline().sample_final(num_samples, num_steps=50, seed=seed)
        row.update({k: float(v) for k, v in scorer.score(samples).items()})
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="moons", help="moons (points) or digits (images), or any built-in set")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the kind's default)")
    parser.add_argument("--samples", type=int, default=None, help="samples scored per combination")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated param/variance/loss triples to run")
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    args = parser.parse_args()

    torch.set_num_threads(max(1, torch.get_num_threads()))
    kind = "images" if args.data in ("digits", "shapes") else "points"
    dataset = load_dataset(args.data, seed=args.seed)
    scorer = QualityScorer(dataset, device="cpu", seed=args.seed)
    num_samples = args.samples or scorer.sample_count
    chosen = ALLOWED
    if args.only:
        wanted = {tuple(s.split("/")) for s in args.only.split(",")}
        chosen = [c for c in ALLOWED if c in wanted]
    rows = []
    print(f"{'param':6} {'variance':12} {'loss':7} {'steps':>6} {'s':>6} {'loss':>9} {'previews':>8}  quality")
    for param, variance, loss in chosen:
        row = run_one(args.data, kind, dataset, param, variance, loss, args.steps, scorer, num_samples, args.seed)
        rows.append(row)
        quality = "DIVERGED" if row["diverged"] else ", ".join(
            f"{k} {row[k]:.4g}" for k in ("score", "floor", "off_support", "confidence") if k in row)
        failed = f"{row['failed_previews']} failed" if row["failed_previews"] else "ok"
        print(f"{param:6} {variance:12} {loss:7} {row['steps']:6d} {row['seconds']:6.1f} "
              f"{row['final_loss']:9.4g} {failed:>8}  {quality}", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    diverged = sum(r["diverged"] for r in rows)
    failed = sum(r["failed_previews"] > 0 for r in rows)
    print(f"{len(rows)} combinations: {diverged} diverged, {failed} with a failed preview")
    return 0


if __name__ == "__main__":
    sys.exit(main())
