"""Conditional digits and classifier-free guidance on the CPU (issue 18; MATH.md M34).

1. Training cost of conditioning: steps/s of the default digits run, conditional against unconditional. The two
   trainers alternate in blocks of ``--block`` steps, so load that drifts on a shared machine hits both alike.
2. The default conditional digits run (``train --data digits --conditional``: 1,000 steps), probed every
   ``--probe-every`` steps: the share of samples the feature network's classifier reads as the asked class, at
   w = 3 (DDIM, 50 NFE, ``--per-class`` samples of every class, one x_T), with the training steps and seconds
   until it first reaches 90 %.
3. The trade-off over w at the end: accuracy on the asked class, Fréchet distance in the feature net's features
   and class coverage, as ``evaluate --guidance-sweep 0,1,2,4,8`` computes them (class-balanced samples, one x_T).

    python benchmarks/guidance.py [--threads 2] [--steps 1000] [--json out.json] [--save runs/digits_c]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ddpm_studio.core.analysis.guidance_sweep import GuidanceRow, iter_guidance_sweep
from ddpm_studio.core.config import default_config
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.process.guidance import class_rows
from ddpm_studio.core.scores.quality import QualityScorer
from ddpm_studio.core.training.trainer import Trainer

TARGET_ACCURACY = 0.9


def digits_config(conditional: bool, steps: int):
    config = default_config("digits", "images")
    config.train.steps = steps
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    config.train.log_every = 10
    config.train.device = "cpu"
    if conditional:
        config.model.num_classes = 10
    return config


def advance(trainer: Trainer, steps: int) -> float:
    """Train ``steps`` more steps; the seconds they took."""
    trainer.config.train.steps = trainer.step + steps
    started = time.perf_counter()
    for _ in trainer.train():
        pass
    return time.perf_counter() - started


def conditioning_cost(dataset, block: int, blocks: int) -> dict:
    trainers = {name: Trainer(digits_config(name == "conditional", 1), dataset=dataset)
                for name in ("unconditional", "conditional")}
    for trainer in trainers.values():
        advance(trainer, 5)  # warm-up: first-call allocations
    seconds = dict.fromkeys(trainers, 0.0)
    for _ in range(blocks):
        for name, trainer in trainers.items():
            seconds[name] += advance(trainer, block)
    rates = {name: block * blocks / s for name, s in seconds.items()}
    return {"steps_per_s": rates, "ratio": rates["conditional"] / rates["unconditional"],
            "steps": block * blocks}


def accuracy_at(trainer: Trainer, scorer: QualityScorer, guidance: float, per_class: int) -> float:
    labels = class_rows(10, per_class)
    samples = trainer.pipeline().sample_final(len(labels), num_steps=50, method="ddim", seed=0, labels=labels,
                                              guidance=guidance)
    return float((scorer.predicted_classes(samples) == labels).double().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=1000, help="the conditional run's steps (the default run)")
    parser.add_argument("--probe-every", type=int, default=100)
    parser.add_argument("--per-class", type=int, default=10, help="samples per class at each probe")
    parser.add_argument("--block", type=int, default=20, help="steps per block of the cost comparison")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--sweep", default="0,1,2,4,8")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--save", help="keep the conditional run in this folder (for sample / evaluate / the studio)")
    parser.add_argument("--stop-at-target", action="store_true",
                        help="end the run at the first probe that reaches 90 %% (a busy machine's shortcut)")
    parser.add_argument("--cache", help="folder for the feature network (trained once, a few seconds)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = load_dataset("digits")
    scorer = QualityScorer(dataset, cache_dir=args.cache)
    result: dict = {"threads": args.threads, "torch": torch.__version__}

    result["cost"] = conditioning_cost(dataset, args.block, args.blocks)
    rates = result["cost"]["steps_per_s"]
    print(f"steps/s: unconditional {rates['unconditional']:.2f}, conditional {rates['conditional']:.2f} "
          f"(ratio {result['cost']['ratio']:.3f}, {result['cost']['steps']} steps each)", flush=True)

    trainer = Trainer(digits_config(True, 1), run_dir=args.save, dataset=dataset)
    trained_seconds, probes, reached = 0.0, [], None
    while trainer.step < args.steps:
        trained_seconds += advance(trainer, min(args.probe_every, args.steps - trainer.step))
        accuracy = accuracy_at(trainer, scorer, 3.0, args.per_class)
        probes.append({"step": trainer.step, "train_seconds": trained_seconds, "accuracy_w3": accuracy})
        print(f"step {trainer.step}: {trained_seconds:.0f} s of training, accuracy at w = 3: {accuracy:.0%}",
              flush=True)
        if reached is None and accuracy >= TARGET_ACCURACY:
            reached = probes[-1]
            if args.stop_at_target:
                break
    result["probes"], result["reached_90"] = probes, reached
    print(f"sweep at step {trainer.step}", flush=True)

    scales = [float(w) for w in args.sweep.split(",")]
    rows = [item for item in iter_guidance_sweep(trainer.pipeline(), scales, scorer.sample_count, scorer,
                                                 num_steps=50, method="ddim") if isinstance(item, GuidanceRow)]
    result["sweep"] = [row.record() for row in rows]
    print(f"{'w':>4} {'accuracy':>9} {'frechet':>8} {'coverage':>9}   (real data: frechet {rows[0].floor:.2f})")
    for row in result["sweep"]:
        print(f"{row['guidance']:4g} {row['accuracy']:9.3f} {row['score']:8.2f} {row['coverage']:9.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)


if __name__ == "__main__":
    main()
