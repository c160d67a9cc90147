"""The ODE log-likelihood's error against K on exact mixture models (M32, issue 27), old and new level grids.

Data: two-component Gaussian mixtures in 2-D (means (-1, 0) and (1, 0), weights 1/2, each component's std s);
the model is their exact eps at every trained t (``tests/core/exact_models.py``), so all of the error is the
solver's. Reference: the exact continuous ODE solved by scipy's DOP853 at rtol 1e-11 (``mixture_flow_log_density``),
which itself matches the closed-form mixture density to 2e-9 nats (cosine) / 3e-5 (linear: the prior's mismatch,
M32). For each schedule (T = 1000), s and K: the mean and the largest |log p_K - log p_ref| over 64 points drawn
from the mixture, and the error bar the dock shows (|mean log p_K - mean log p_{K/2}|, :func:`solver_error`), on
the levels uniform in t (the old grid) and uniform in log sigma (:func:`ode_levels`, now). Prints a Markdown table.

    OMP_NUM_THREADS=1 python benchmarks/ode_likelihood_error.py [--levels 25,50,100,200,400,1000] [--points 64]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))
from exact_models import GaussianMixtureEps, mixture_flow_log_density  # noqa: E402

from ddpm_studio.core.analysis import ode_likelihood  # noqa: E402
from ddpm_studio.core.process.diffusion import GaussianDiffusion  # noqa: E402
from ddpm_studio.core.process.schedule import make_betas  # noqa: E402
from ddpm_studio.core.sampling.spacing import respaced_timesteps  # noqa: E402

MEANS = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
WEIGHTS = torch.tensor([0.5, 0.5])


def uniform_t_levels(alphas_cumprod: torch.Tensor, num_levels: int | None = None) -> list[int]:
    """The grid before issue 27: K trained t evenly spread over 0..T-1 (M21), whatever the schedule."""
    T = int(alphas_cumprod.shape[0])
    return list(range(T)) if num_levels is None else respaced_timesteps(T, num_levels)


def errors(model, diffusion, x0: torch.Tensor, reference: torch.Tensor, k: int) -> tuple[float, float, float]:
    """(mean |error|, max |error|, error bar) in nats per point at K = k levels on the module's current grid."""
    log_p = ode_likelihood.ode_log_likelihood(model, diffusion, x0, num_levels=k)
    coarse = ode_likelihood.coarse_levels(k)
    bar = float("nan")
    if coarse is not None:
        bar = ode_likelihood.solver_error(log_p, ode_likelihood.ode_log_likelihood(model, diffusion, x0, coarse))
    err = (log_p - reference).abs()
    return float(err.mean()), float(err.max()), bar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="25,50,100,200,400,1000")
    parser.add_argument("--points", type=int, default=64)
    parser.add_argument("--stds", default="0.05,0.1,0.3")
    args = parser.parse_args()
    torch.set_num_threads(1)
    levels = [int(v) for v in args.levels.split(",")]
    print("| schedule | s | grid | " + " | ".join(f"K = {k}" for k in levels) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in levels) + " |")
    started = time.perf_counter()
    new_grid = ode_likelihood.ode_levels
    for schedule in ("cosine", "linear"):
        diffusion = GaussianDiffusion(make_betas(schedule, 1000))
        for s in (float(v) for v in args.stds.split(",")):
            stds = torch.tensor([s, s])
            model = GaussianMixtureEps(diffusion, MEANS, stds, WEIGHTS)
            gen = torch.Generator().manual_seed(0)
            comp = torch.randint(0, 2, (args.points,), generator=gen)
            x0 = (MEANS[comp] + s * torch.randn(args.points, 2, generator=gen)).double()
            reference = mixture_flow_log_density(x0, MEANS, stds, WEIGHTS, diffusion.alphas_cumprod)
            for name, grid in (("uniform t (old)", uniform_t_levels), ("log sigma (new)", new_grid)):
                ode_likelihood.ode_levels = grid  # iter_ode_log_likelihood looks the grid up at call time
                cells = [errors(model, diffusion, x0, reference, k) for k in levels]
                print(f"| {schedule} | {s:g} | {name} | "
                      + " | ".join(f"{m:.4f} / {x:.4f} / ±{b:.4f}" for m, x, b in cells) + " |", flush=True)
            ode_likelihood.ode_levels = new_grid
    print(f"\ncells: mean |error| / max |error| / error bar, nats per point; {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
