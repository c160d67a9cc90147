"""Moons: the network's mean distance to the ideal denoiser against t, at several training steps (M33, issue 17).

One run (the default moons settings: MLP, batch 256, lr 2e-3, linear schedule, T = 1000), trained once to the
largest step; at each step in ``--at`` the EMA network's E||x0_hat_theta(x_t, t) - x0*(x_t, t)|| is measured on the
first ``--probe`` training points noised by q(x_t | x_0), the same noise draws at every step (model space,
standardised units). Prints a Markdown table: one row per t, one column per training step.

    python benchmarks/ideal_error.py [--at 500,2000,5000] [--probe 512] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

from ddpm_studio.core.analysis.learned import error_over_t
from ddpm_studio.core.config import default_config
from ddpm_studio.core.pipeline import FloatOutput
from ddpm_studio.core.training.trainer import Trainer

#: Paper timesteps measured (1 = least noise, T = pure noise).
PAPER_T = (1, 10, 50, 100, 200, 300, 500, 700, 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", default="500,2000,5000", help="training steps to measure at, comma-separated")
    parser.add_argument("--probe", type=int, default=512, help="training points noised at each t")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps = sorted(int(s) for s in args.at.split(","))
    config = default_config("moons", "points")
    config.train.steps = steps[-1]
    config.train.preview_every = 0
    config.train.seed = args.seed
    trainer = Trainer(config)
    T = trainer.diffusion.num_timesteps
    taus = [min(t, T) - 1 for t in PAPER_T]
    data = trainer.dataset.train
    columns: dict[int, list[float]] = {}
    start = time.perf_counter()
    for _event in trainer.train():
        if trainer.step in steps and trainer.step not in columns:
            pipe = trainer.pipeline()
            model = FloatOutput(pipe.network, pipe.device).eval()
            model.amp_dtype = None
            _, errors = error_over_t(model, pipe.diffusion, data.to(pipe.device), taus, args.probe, seed=args.seed)
            columns[trainer.step] = [float(e) for e in errors]
            print(f"step {trainer.step}: measured ({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\nmoons, {len(data)} training points, {args.probe} probes, seed {args.seed}: "
          "E||x0_hat - x0*|| (standardised units)\n")
    print("| t | " + " | ".join(f"{s:,} steps" for s in steps) + " |")
    print("| --- |" + " --- |" * len(steps))
    for row, t in enumerate(PAPER_T):
        print(f"| {t} | " + " | ".join(f"{columns[s][row]:.4f}" for s in steps) + " |")


if __name__ == "__main__":
    main()
