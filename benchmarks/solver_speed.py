"""Time per sample of our DPM-Solver++(2M) against diffusers' DPMSolverMultistepScheduler on the same network.

Both drive one network (the tiny U-Net on 16x16 digits, or the 2-D MLP) with the same x_T, the same 20 timesteps
(Karras grid) and the same eps predictions; the two loops differ only in the solver code around the network. The
network call dominates, so a ratio near 1 says our solver adds no overhead. The final samples are compared too, with
diffusers handed our abar table: it builds its own as a float32 cumulative product, 1.3e-5 below our float64 one
at t = T - 1 on the cosine schedule, and the untrained network outputs eps = 0 (its last convolution starts at
zero), so x_0 = x_T / sqrt(abar_{T-1}), about 2e4 x_T, magnifies that to ~0.5 (tests/test_samplers.py checks both
on closed forms). Alternating repeats, median of each; needs `pip install diffusers` (the bench extra).

    python benchmarks/solver_speed.py [--kind images|points] [--nfe 20] [--batch 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from ddpm_studio.core.models import build_model  # noqa: E402
from ddpm_studio.core.process.diffusion import GaussianDiffusion  # noqa: E402
from ddpm_studio.core.process.schedule import make_betas  # noqa: E402
from ddpm_studio.core.sampling import run_to_end, sample, timesteps_for  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("images", "points"), default="images")
    parser.add_argument("--nfe", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import diffusers
    except ImportError:
        print("diffusers is not installed: pip install diffusers", file=sys.stderr)
        return 2

    torch.manual_seed(0)
    shape = (args.batch, 1, 16, 16) if args.kind == "images" else (args.batch, 2)
    net = build_model("tiny", shape[1:]).eval().requires_grad_(False)
    betas = make_betas("cosine" if args.kind == "images" else "linear", 1000)
    diffusion = GaussianDiffusion(betas, clip_x0=False)
    taus = timesteps_for("karras", diffusion.alphas_cumprod, args.nfe)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    in_network = [0.0]

    def network(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The one network both loops call, timed: what is left of a loop's time is its solver's."""
        start = time.perf_counter()
        out = net(x, t)
        in_network[0] += time.perf_counter() - start
        return out

    def ours() -> torch.Tensor:
        return run_to_end(sample(diffusion, network, shape, num_steps=args.nfe, method="dpmpp_2m", spacing="karras",
                                 noise=x_T.clone())).x

    def theirs() -> torch.Tensor:
        scheduler = diffusers.DPMSolverMultistepScheduler(
            num_train_timesteps=1000, trained_betas=betas.numpy(), algorithm_type="dpmsolver++", solver_order=2,
            prediction_type="epsilon", final_sigmas_type="zero",
        )
        scheduler.alphas_cumprod = diffusion.alphas_cumprod.clone()  # like with like: our float64 abar table
        scheduler.set_timesteps(timesteps=list(reversed(taus)))
        x = x_T.clone()
        with torch.no_grad():
            for t in scheduler.timesteps:
                eps = network(x, torch.full((x.shape[0],), int(t), dtype=torch.long))
                x = scheduler.step(eps, t, x).prev_sample
        return x

    ours(), theirs()  # warm-up
    times: dict[str, list[float]] = {"ours": [], "diffusers": []}
    solver: dict[str, list[float]] = {"ours": [], "diffusers": []}
    loops = [("ours", ours), ("diffusers", theirs)]
    for repeat in range(args.repeats):
        for name, fn in loops if repeat % 2 == 0 else loops[::-1]:  # alternate who goes first
            in_network[0] = 0.0
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
            solver[name].append(times[name][-1] - in_network[0])
    a, b = ours(), theirs()
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{args.kind}, batch {args.batch}, {args.nfe} NFE (Karras grid), torch threads {torch.get_num_threads()}")
    for name, value in med.items():
        print(f"  {name:10s} {value * 1000:8.1f} ms per batch  {value / args.batch * 1000:7.2f} ms per sample  "
              f"({statistics.median(solver[name]) * 1000:.1f} ms outside the network)")
    # the pairs ran back to back: their ratios see the same load, the median of them is the steadier figure
    paired = statistics.median(d / o for d, o in zip(times["diffusers"], times["ours"]))
    print(f"  ratio diffusers / ours: x{med['diffusers'] / med['ours']:.3f} of the medians, x{paired:.3f} median "
          "of the paired runs (> 1: ours faster)")
    gap = float((a - b).abs().max())
    print(f"  max |difference| of the samples: {gap:.2e} (samples up to {float(a.abs().max()):.3g}: "
          f"{gap / float(a.abs().max()):.1e} of their size)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
