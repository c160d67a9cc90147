"""Digits: DDPM Studio's default image run against diffusers' own unconditional training recipe, at equal wall clock.

    python benchmarks/recipe.py --budget 600 --every 120 --seed 0

The recipe is diffusers' ``examples/unconditional_image_generation/train_unconditional.py`` with its defaults: a
``UNet2DModel`` (here of the studio's tiny U-Net's parameter count: 1 residual block per level, widths w, 2w, 2w,
attention at the lowest level), ``DDPMScheduler`` (linear betas, T = 1000, epsilon target, MSE), AdamW at lr
1e-4 (betas 0.95 / 0.999, weight decay 1e-6), a cosine schedule with 500 warm-up steps over 100 epochs, batch 16,
gradient clipping at 1 and ``EMAModel`` with warm-up (inv_gamma 1, power 3/4, max decay 0.9999). The studio runs
``default_config("digits", "images")`` as ``ddpm-studio train --data digits`` would. Same data (the bundled digits
at 16 x 16, the same training split), same seed, same machine and thread count.

The two trainings are interleaved: each trains for ``--segment`` seconds in turn, so a change in the machine's
load hits both. At every ``--every`` seconds of training time each EMA model draws the held-out-sized set (180)
with the same sampler (100 respaced ancestral steps, from the same x_T; diffusers' recipe samples with 1,000 DDPM
steps, which would cost 10x the scoring time) and is scored by the same download-free Fréchet distance in the
self-trained feature network (:class:`ddpm_studio.core.evaluation.QualityScorer`). Ratio: the time diffusers needs
to reach its best score over the budget divided by the time the studio needs to reach that same score.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddpm_studio.core.config import DiffusionConfig, default_config  # noqa: E402
from ddpm_studio.core.models import count_parameters  # noqa: E402
from ddpm_studio.core.pipeline import build_diffusion  # noqa: E402
from ddpm_studio.core.sampling import sample  # noqa: E402
from ddpm_studio.core.scores.quality import QualityScorer  # noqa: E402
from ddpm_studio.core.training.trainer import Trainer  # noqa: E402

SAMPLE_STEPS = 100


def peer_unet(size: int, width: int):
    """diffusers' UNet2DModel in the layout of the studio's tiny U-Net (one block per level, attention lowest)."""
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=size, in_channels=1, out_channels=1, layers_per_block=1,
        block_out_channels=(width, 2 * width, 2 * width),
        down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        norm_num_groups=8, attention_head_dim=2 * width,
    )


def matched_peer(size: int, target: int):
    """The width (multiple of 8) whose diffusers U-Net has the parameter count closest to ``target``."""
    return min((peer_unet(size, w) for w in range(16, 97, 8)), key=lambda m: abs(count_parameters(m) - target))


class Recipe:
    """diffusers' train_unconditional loop, one step at a time, on the studio's training split."""

    def __init__(self, data: torch.Tensor, target_params: int, seed: int, batch: int = 16) -> None:
        from diffusers import DDPMScheduler
        from diffusers.optimization import get_scheduler
        from diffusers.training_utils import EMAModel

        torch.manual_seed(seed)
        self.data, self.batch = data, batch
        self.net = matched_peer(data.shape[-1], target_params)
        self.scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=1e-4, betas=(0.95, 0.999), weight_decay=1e-6,
                                           eps=1e-8)
        steps_per_epoch = -(-data.shape[0] // batch)
        self.lr_scheduler = get_scheduler("cosine", optimizer=self.optimizer, num_warmup_steps=500,
                                          num_training_steps=100 * steps_per_epoch)
        self.ema = EMAModel(self.net.parameters(), decay=0.9999, use_ema_warmup=True, inv_gamma=1.0, power=0.75)
        self.generator = torch.Generator().manual_seed(seed)
        self.step = 0

    def train_step(self) -> None:
        index = torch.randint(0, self.data.shape[0], (self.batch,), generator=self.generator)
        clean = self.data[index]
        noise = torch.randn(clean.shape, generator=self.generator)
        t = torch.randint(0, 1000, (self.batch,), generator=self.generator)
        noisy = self.scheduler.add_noise(clean, noise, t)
        loss = F.mse_loss(self.net(noisy, t).sample, noise)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.optimizer.step()
        self.lr_scheduler.step()
        self.ema.step(self.net.parameters())
        self.step += 1

    @torch.no_grad()
    def samples(self, num: int, seed: int) -> torch.Tensor:
        """EMA weights, 100 respaced ancestral steps of the same linear process (DDPMScheduler's fixed_small
        variance and x0 clipping), from the seed's x_T."""
        self.ema.store(self.net.parameters())
        self.ema.copy_to(self.net.parameters())
        self.net.eval()
        diffusion = build_diffusion(DiffusionConfig(schedule="linear", variance="fixed_small", clip_x0=True),
                                    "images")
        try:
            return draw(diffusion, lambda x, t: self.net(x, t).sample, (num, *self.data.shape[1:]), seed)
        finally:
            self.net.train()
            self.ema.restore(self.net.parameters())


def draw(diffusion, model, shape, seed: int) -> torch.Tensor:
    """x_0 of SAMPLE_STEPS respaced ancestral steps from the seed's x_T (only the last record is kept)."""
    steps = sample(diffusion, model, shape, num_steps=SAMPLE_STEPS, generator=torch.Generator().manual_seed(seed))
    return deque(steps, maxlen=1)[0].x


def studio_samples(trainer: Trainer, num: int, seed: int) -> torch.Tensor:
    pipeline = trainer.pipeline()
    with torch.no_grad():
        return draw(pipeline.diffusion, pipeline.network, (num, *trainer.data_shape), seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=600.0, help="training seconds per side")
    parser.add_argument("--every", type=float, default=120.0, help="training seconds between scores")
    parser.add_argument("--segment", type=float, default=20.0, help="seconds each side trains before the other")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    config = default_config("digits", "images")
    config.train.seed = args.seed
    config.train.steps = 10**8  # stopped by the clock
    config.train.preview_every = config.train.checkpoint_every = 0
    trainer = Trainer(config)
    recipe = Recipe(trainer.dataset.train, trainer.num_parameters, args.seed)
    scorer = QualityScorer(trainer.dataset, seed=0)
    print(f"studio: {trainer.num_parameters:,} parameters, batch {config.train.batch_size}, lr {config.train.lr:g}; "
          f"diffusers: {count_parameters(recipe.net):,} parameters, batch {recipe.batch}, lr 1e-4; "
          f"floor {scorer.floor:.1f}; {torch.get_num_threads()} threads", flush=True)
    studio_steps = trainer.train()
    clock = {"studio": 0.0, "diffusers": 0.0}
    rows = []
    next_check = args.every
    while next_check <= args.budget + 1e-9:
        for side in ("studio", "diffusers"):
            goal = min(next_check, clock[side] + args.segment)
            started = time.perf_counter()
            while clock[side] + (time.perf_counter() - started) < goal:
                if side == "studio":
                    next(studio_steps)
                else:
                    recipe.train_step()
            clock[side] += time.perf_counter() - started
        if min(clock.values()) >= next_check - 1e-9:
            row = {"seconds": next_check, "load": os.getloadavg()[0]}
            for side, draw_fn, steps in (
                ("studio", lambda: studio_samples(trainer, scorer.sample_count, 0), trainer.step),
                ("diffusers", lambda: recipe.samples(scorer.sample_count, 0), recipe.step),
            ):
                result = scorer.score(draw_fn())
                row[side] = {"steps": steps, "frechet": result["score"], "coverage": result.get("coverage")}
            rows.append(row)
            print(f"{next_check:6.0f} s (load {row['load']:.1f}): studio step {row['studio']['steps']:5d} "
                  f"Fréchet {row['studio']['frechet']:7.1f} | diffusers step {row['diffusers']['steps']:5d} "
                  f"Fréchet {row['diffusers']['frechet']:7.1f}", flush=True)
            next_check += args.every
    best = min(rows, key=lambda r: r["diffusers"]["frechet"])
    target = best["diffusers"]["frechet"]
    studio_at = next((r["seconds"] for r in rows if r["studio"]["frechet"] <= target), None)
    if studio_at is None:
        print(f"the studio never reached diffusers' best {target:.1f} within {args.budget:.0f} s")
    else:
        print(f"diffusers' best Fréchet {target:.1f} at {best['seconds']:.0f} s; the studio reached it by "
              f"{studio_at:.0f} s: ratio {best['seconds'] / studio_at:.1f}x (a lower bound when diffusers' best "
              f"is its last check)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "floor": scorer.floor}, indent=1))


if __name__ == "__main__":
    main()
