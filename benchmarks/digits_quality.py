"""How many training steps the default digits run needs: sample grids and quality scores along the way.

    python benchmarks/digits_quality.py [--steps 3000] [--every 500] [--device auto] [--out DIR] [--preset tiny]

Trains the studio's default image configuration on the bundled digits and, every ``--every`` steps, writes a
64-sample grid (100 respaced steps) to DIR/grid_STEP.png and prints the steps, the training seconds and the
sample-quality score when the evaluation module is present. Step counts carry over between devices; seconds
do not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from ddpm_studio.core.previews import save_preview
    from ddpm_studio.core.training.config import default_config
    from ddpm_studio.core.training.events import TrainStep
    from ddpm_studio.core.training.trainer import Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--out", type=Path, default=Path("digits_quality"))
    args = parser.parse_args(argv)

    config = default_config("digits", "images")
    config.model.preset = args.preset
    config.train.steps = args.steps
    config.train.device = args.device
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    config.train.log_every = 50
    if args.batch_size:
        config.train.batch_size = args.batch_size
    if args.lr:
        config.train.lr = args.lr
    trainer = Trainer(config)
    print(
        f"digits on {trainer.device}: {args.preset}, batch {config.train.batch_size}, lr {config.train.lr}", flush=True
    )
    args.out.mkdir(parents=True, exist_ok=True)
    seconds, start = 0.0, time.perf_counter()
    for event in trainer.train():
        if isinstance(event, TrainStep) and (event.step % args.every == 0 or event.step == args.steps):
            seconds += time.perf_counter() - start
            pipeline = trainer.pipeline()
            samples = pipeline.sample_final(64, num_steps=100, seed=0)
            save_preview(pipeline, samples, args.out / f"grid_{event.step:05d}.png")
            print(
                f"step {event.step}: loss {event.loss:.4f}, {seconds:.1f} s of training, "
                f"{event.steps_per_sec:.1f} steps/s",
                flush=True,
            )
            start = time.perf_counter()
    if torch.cuda.is_available():
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
