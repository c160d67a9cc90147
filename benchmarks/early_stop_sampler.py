"""Which sampler may the early-stop check use? The verdict (M46) of each candidate on trained 2-D runs (issue 27).

The check must judge the samples the user then draws: by default ``sample`` (and the studio) draw with the
ancestral sampler over all T steps. For each run folder given, this draws ``--num`` samples with each candidate
(the same seed) and prints the verdict, each mode spread's worst ratio and the time per draw, with T-step
ancestral first as the reference. A candidate is faithful where its readings match the reference's within the
lenses' own noise (both clean, or failing the same lenses, spreads alike).

    ddpm-studio train --data gaussians8 --out /tmp/runs/gaussians8
    OMP_NUM_THREADS=1 python benchmarks/early_stop_sampler.py /tmp/runs/gaussians8 [--num 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from ddpm_studio.core.pipeline import load_pipeline
from ddpm_studio.core.scores.heldout import load_run_dataset
from ddpm_studio.core.scores.verdict import QualityVerdict

#: (method, network evaluations or None for T, spacing)
CANDIDATES = [("ancestral", None, "linspace"), ("ancestral", 250, "linspace"), ("ancestral", 100, "linspace"),
              ("ancestral", 50, "trailing"), ("dpmpp_2m_sde", 50, "trailing"), ("dpmpp_2m_sde", 100, "logsnr"),
              ("ddim", 100, "logsnr"), ("dpmpp_2m", 50, "logsnr")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| run | sampler | NFE | clean | failed (over seeds) | worst spread ratio | off-support | s per draw |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        pipeline = load_pipeline(run)
        dataset = load_run_dataset(pipeline.config, with_subset=False)
        verdict = QualityVerdict(dataset)
        T = pipeline.diffusion.num_timesteps
        for method, nfe, spacing in CANDIDATES:
            steps = nfe or T
            clean, failed, worst, off, seconds = 0, {}, [], [], []
            for seed in range(args.seeds):
                started = time.perf_counter()
                x = pipeline.sample_final(args.num, num_steps=steps, method=method, spacing=spacing, seed=seed)
                seconds.append(time.perf_counter() - started)
                result = verdict.judge(x)
                clean += int(result.clean)
                for name in result.failed:
                    failed[name] = failed.get(name, 0) + 1
                spread = result.reading("mode_spread")
                if spread is not None:
                    ratios = [r for r in spread.detail["ratios"] if r is not None]
                    worst.append(min(ratios, key=lambda r: -abs(np.log(r))))
                off.append(result.reading("off_support").value)
            spread_text = f"{np.mean(worst):.2f}" if worst else "n/a"
            failed_text = ", ".join(f"{k} {v}" for k, v in failed.items()) or "-"
            print(f"| {dataset.name} | {method} {spacing} | {steps} | {clean}/{args.seeds} | {failed_text} | "
                  f"{spread_text} | {100 * np.mean(off):.1f} % | {np.median(seconds):.2f} |", flush=True)


if __name__ == "__main__":
    main()
