"""2-D training steps per second: the point MLP's hand-written pass against autograd, interleaved (issue 32 part 3).

    python benchmarks/points_step.py [--data moons] [--rounds 7] [--steps 300] [--threads 1] [--json OUT.json]

Two trainers of the default points run (``default_config(DATA, "points")``: the 3 x 128 MLP with 6 Fourier
octaves, batch 256, v on the cosine schedule, t = T u^3) train side by side in one process from the same seed:
``Trainer(fused=False)``, the autograd pass every run took before, and ``Trainer()``, which takes the hand-written
pass (``core/models/mlp_fused.py``) with flat parameters for clipping, AdamW and the EMA. They alternate in rounds
of ``--steps`` optimiser steps (``Trainer._train_step``: batch, loss, backward, clip, update, EMA, loss window),
so machine load hits both alike; the figure is the ratio of the medians. The arithmetic floor of one step (the
33 (256 x 128) @ (128 x 128)-sized products of the forward and backward passes, timed alone) is printed beside
it: what no removal of overhead can go below.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddpm_studio.core.config import default_config  # noqa: E402
from ddpm_studio.core.training.trainer import Trainer  # noqa: E402

#: (256 x 128) @ (128 x 128)-sized products in one step of the default MLP: 11 in the forward pass (time MLP 2,
#: the three blocks' time projections 3, each block's two linears 6), 22 in the backward (weight and input
#: gradients; none for the inputs of the first layers).
PRODUCTS_PER_STEP = 33


def _trainer(data: str, fused: bool | None) -> Trainer:
    config = default_config(data, "points")
    config.train.steps = 10**7  # the lr schedule's horizon only; the rounds decide how far it trains
    config.train.early_stop = False
    config.train.preview_every = 0
    return Trainer(config, fused=fused)


def _steps_per_second(trainer: Trainer, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        trainer._train_step()
    return steps / (time.perf_counter() - start)


def matmul_floor_ms(repeats: int = 2000) -> float:
    """Milliseconds of PRODUCTS_PER_STEP (256 x 128) @ (128 x 128) products on this thread count."""
    a, w, b = torch.randn(256, 128), torch.randn(128, 128), torch.randn(128)
    for _ in range(100):
        torch.addmm(b, a, w)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.addmm(b, a, w)
    return (time.perf_counter() - start) / repeats * PRODUCTS_PER_STEP * 1e3


def measure(data: str = "moons", rounds: int = 7, steps: int = 300) -> dict:
    trainers = {"autograd": _trainer(data, False), "fused": _trainer(data, None)}
    assert trainers["fused"].fused is not None and trainers["autograd"].fused is None
    for trainer in trainers.values():
        _steps_per_second(trainer, 50)  # warm-up: allocator, first-call dispatch
    rates: dict[str, list[float]] = {name: [] for name in trainers}
    for _ in range(rounds):
        for name, trainer in trainers.items():
            rates[name].append(_steps_per_second(trainer, steps))
    medians = {name: statistics.median(values) for name, values in rates.items()}
    floor = matmul_floor_ms()
    return {
        "data": data,
        "threads": torch.get_num_threads(),
        "rounds": rounds,
        "steps_per_round": steps,
        "steps_per_sec": rates,
        "median_steps_per_sec": medians,
        "speedup": medians["fused"] / medians["autograd"],
        "matmul_floor_ms": floor,
        "step_ms": {name: 1e3 / value for name, value in medians.items()},
        "load_average": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="moons")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (ddpm-studio train uses 1 for points)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = measure(args.data, args.rounds, args.steps)
    for name in ("autograd", "fused"):
        values = ", ".join(f"{v:.0f}" for v in result["steps_per_sec"][name])
        print(f"{name:8s} median {result['median_steps_per_sec'][name]:6.1f} steps/s "
              f"({result['step_ms'][name]:.2f} ms a step; rounds: {values})")
    print(f"speed-up x{result['speedup']:.2f}; the step's matrix products alone take "
          f"{result['matmul_floor_ms']:.2f} ms (a floor of {1e3 / result['matmul_floor_ms']:.0f} steps/s); "
          f"load average {result['load_average']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
