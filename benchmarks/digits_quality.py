"""How many training steps the default digits run needs: sample grids and quality scores along the way.

    python benchmarks/digits_quality.py [--steps 3000] [--every 500] [--first STEP] [--device auto] [--out DIR]
        [--preset tiny] [--data digits|shapes] [--batch-size N] [--lr LR] [--ema DECAY] [--snr-gamma G] [--seed N]

Trains the studio's default image configuration on the bundled digits and, every ``--every`` steps, writes a
64-sample grid (100 respaced steps) to DIR/grid_STEP.png and prints the steps, the training seconds (sampling
and scoring excluded) and the download-free quality scores of :class:`ddpm_studio.core.evaluation.QualityScorer`
for the held-out-sized sample set: Fréchet distance in the self-trained feature net (with the held-out floor),
the digit classifier's mean confidence and the share of the ten digits drawn. ``--data shapes`` trains and scores
the procedural shapes instead (Fréchet distance in a denoising autoencoder's features only: without labels there
is no "recognisable" line).

"Recognisable" is read off those scores as: the Fréchet distance is within RECOGNISABLE_FRECHET_RATIO (5x) of
the held-out floor and every digit is drawn (coverage 1.0). The classifier's confidence is printed but not
used: it is above 0.9 already for blurry blobs at step 200. The 5x line was set by looking at the grids of the
default run (docs/digits_cpu_800_steps.png): most samples read as digits there, at 4.9x. The first check
that passes is reported. Step counts carry over between devices; seconds do not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

#: Samples count as recognisable digits when their Fréchet distance is at most this multiple of the floor
#: (and every digit class is drawn).
RECOGNISABLE_FRECHET_RATIO = 5.0


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from ddpm_studio.core.config import default_config
    from ddpm_studio.core.scores.quality import QualityScorer
    from ddpm_studio.core.training.events import TrainStep
    from ddpm_studio.core.training.previews import save_preview
    from ddpm_studio.core.training.trainer import Trainer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--data", default="digits",
                        help="built-in image set (digits, shapes); 'recognisable' needs the digits' labels")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--ema", type=float, default=None, help="EMA decay (default: the studio's)")
    parser.add_argument("--first", type=int, default=0, help="no checks before this step (saves scoring time)")
    parser.add_argument("--snr-gamma", type=float, default=None,
                        help="min-SNR-gamma loss weighting (default: the studio's, 5; 0 for plain L_simple)")
    parser.add_argument("--seed", type=int, default=0, help="training seed (the scores' seed stays 0)")
    parser.add_argument("--out", type=Path, default=Path("digits_quality"))
    parser.add_argument("--no-scores", action="store_true", help="grids only (no feature network, faster)")
    args = parser.parse_args(argv)

    config = default_config(args.data, "images")
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
    if args.ema:
        config.train.ema_decay = args.ema
    config.train.seed = args.seed
    if args.snr_gamma is not None:
        config.train.snr_gamma = args.snr_gamma
    trainer = Trainer(config)
    print(
        f"{args.data} on {trainer.device}: {args.preset}, batch {config.train.batch_size}, lr {config.train.lr}, "
        f"EMA {config.train.ema_decay}, min-SNR gamma {config.train.snr_gamma:g}, seed {args.seed}", flush=True
    )
    args.out.mkdir(parents=True, exist_ok=True)
    scorer = None if args.no_scores else QualityScorer(trainer.dataset, cache_dir=args.out, seed=0)
    if scorer is not None:
        extras = scorer.floor_extras
        labelled = (f", confidence {extras['confidence']:.3f}, coverage {extras['coverage']:.2f}"
                    if "coverage" in extras else "")
        print(f"held-out floor: Fréchet {scorer.floor:.1f}{labelled} ({scorer.sample_count} images)", flush=True)
    recognisable_at = None
    seconds, start = 0.0, time.perf_counter()
    for event in trainer.train():
        if isinstance(event, TrainStep) and event.step >= args.first and (
                event.step % args.every == 0 or event.step == args.steps):
            seconds += time.perf_counter() - start
            pipeline = trainer.pipeline()
            # one batch serves both: the grid shows its first 64, the scorer takes all of it
            count = 64 if scorer is None else max(64, scorer.sample_count)
            samples = pipeline.sample_final(count, num_steps=100, seed=0)
            save_preview(pipeline, samples[:64], args.out / f"grid_{event.step:05d}.png")
            line = (f"step {event.step}: loss {event.loss:.4f}, {seconds:.1f} s of training, "
                    f"{event.steps_per_sec:.1f} steps/s")
            if scorer is not None:
                s = scorer.score(samples[: scorer.sample_count])
                line += f"; Fréchet {s['score']:.1f} (floor {s['floor']:.1f})"
                if "coverage" in s:  # labelled data (digits) only: the classifier's view
                    line += f", confidence {s['confidence']:.3f}, coverage {s['coverage']:.2f}"
                if recognisable_at is None and s.get("coverage", 0.0) >= 1.0 and (
                        s["score"] <= RECOGNISABLE_FRECHET_RATIO * s["floor"]):
                    recognisable_at = (event.step, seconds)
                    line += "  <- recognisable"
            print(line, flush=True)
            start = time.perf_counter()
    if recognisable_at is not None:
        print(f"recognisable digits after {recognisable_at[0]} steps, {recognisable_at[1]:.0f} s of training")
    if torch.cuda.is_available():
        print(f"peak CUDA memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
