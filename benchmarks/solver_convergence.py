"""Solver convergence on the Gaussian oracle (issue 27; MATH.md M24-M29, M41), and the same solvers on digits.

    python benchmarks/solver_convergence.py [--nfe 10,11,20,21,40,41,100] [--digits RUN_DIR] [--samples 64]

Oracle: data x_0 ~ N(0, s^2), s = 0.2, the exact eps network eps_hat = sqrt(1 - abar) x_t / (abar s^2 + 1 - abar)
and 256 draws of x_T; each cell is the RMS distance of a deterministic solver's x_0 to the exact endpoint
x_0* = s^2 x_T / (sqrt(abar_T) sqrt(s^2 + c_1^2) sqrt(s^2 + c_T^2)), c = sqrt((1 - abar) / abar) (the ODE to
paper t = 1 and the denoiser there; tests/core/test_solver_bounds.py derives it), on T = 1000 steps of both
schedules. With ``--digits`` a trained digits run is also scored: the digits classifier's mean confidence
(:class:`ddpm_studio.core.scores.quality.QualityScorer`) of ``--samples`` samples at 20 NFE per solver and grid,
against 1000 ancestral steps, from one seed (the same x_T for every row).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import torch

S = 0.2
METHODS_ODE = ("ddim", "dpmpp_2m", "heun")


def oracle_table(nfes: list[int]) -> list[str]:
    """Markdown rows: schedule, method, grid, then one RMS error per NFE."""
    from ddpm_studio.core.process.diffusion import GaussianDiffusion
    from ddpm_studio.core.process.schedule import make_betas
    from ddpm_studio.core.sampling import SPACINGS, run_to_end, sample

    x_T = torch.randn(256, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rows = ["| schedule | method | grid | " + " | ".join(f"{k} NFE" for k in nfes) + " |",
            "|---|---|---|" + "---:|" * len(nfes)]
    for name in ("linear", "cosine"):
        diffusion = GaussianDiffusion(make_betas(name, 1000))
        ab = diffusion.alphas_cumprod
        table = ab

        def model(x: torch.Tensor, t: torch.Tensor, table: torch.Tensor = table) -> torch.Tensor:
            a = table[t].to(x.dtype).view(-1, 1)
            return (1 - a).sqrt() * x / (a * S * S + 1 - a)

        c_1, c_T = math.sqrt((1 - ab[0]) / ab[0]), math.sqrt((1 - ab[-1]) / ab[-1])
        exact = S * S * x_T / (math.sqrt(ab[-1]) * math.sqrt(S * S + c_1**2) * math.sqrt(S * S + c_T**2))
        for method in METHODS_ODE:
            for spacing in SPACINGS:
                cells = []
                for k in nfes:
                    x = run_to_end(sample(diffusion, model, tuple(x_T.shape), num_steps=k, method=method,
                                          spacing=spacing, noise=x_T)).x
                    cells.append(f"{(x - exact).pow(2).mean().sqrt().item():.1e}")
                rows.append(f"| {name} | {method} | {spacing} | " + " | ".join(cells) + " |")
    return rows


def digits_rows(run_dir: str, samples: int) -> list[str]:
    """Markdown rows: method, grid, NFE, the classifier's mean confidence and its ratio to 1000 ancestral steps."""
    from ddpm_studio.core.pipeline import load_pipeline, load_run_config
    from ddpm_studio.core.sampling import SPACINGS
    from ddpm_studio.core.scores.heldout import load_run_dataset
    from ddpm_studio.core.scores.quality import QualityScorer

    pipeline = load_pipeline(run_dir)
    scorer = QualityScorer(load_run_dataset(load_run_config(run_dir)), cache_dir=run_dir, seed=0)

    def confidence(method: str, spacing: str, k: int) -> float:
        x = pipeline.sample_final(samples, num_steps=k, method=method, spacing=spacing, seed=0)
        return scorer.score(x)["confidence"]

    start = time.perf_counter()
    reference = confidence("ancestral", "linspace", 1000)
    rows = ["| method | grid | NFE | confidence | / 1000 ancestral |", "|---|---|---:|---:|---:|",
            f"| ancestral | linspace | 1000 | {reference:.3f} | 1.00 |"]
    for method in ("ddim", "dpmpp_2m", "heun"):
        for spacing in SPACINGS:
            value = confidence(method, spacing, 20)
            rows.append(f"| {method} | {spacing} | 20 | {value:.3f} | {value / reference:.2f} |")
    print(f"(digits: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nfe", default="10,11,20,21,40,41,100", help="comma-separated NFEs of the oracle table")
    parser.add_argument("--digits", help="a trained digits run folder: add the 20-NFE confidence rows")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print("\n".join(oracle_table([int(k) for k in args.nfe.split(",")])))
    if args.digits:
        print()
        print("\n".join(digits_rows(args.digits, args.samples)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
