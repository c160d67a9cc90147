"""The trainer's running loss window: sums since the last report, kept on the device (no per-step host sync)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ddpm_studio.core.training.events import TrainStep

if TYPE_CHECKING:
    from ddpm_studio.core.training.trainer import Trainer

#: How many bands of t the per-band loss reports (issue: "which timesteps are learned first").
NUM_T_BANDS = 10


class _Window:
    """Loss sums since the last report, kept on the device (no per-step host sync)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(3, dtype=torch.float64, device=self.device)
        self.band_sum = torch.zeros(NUM_T_BANDS, dtype=torch.float64, device=self.device)
        self.band_count = torch.zeros(NUM_T_BANDS, dtype=torch.float64, device=self.device)
        self.steps = 0

    def add(self, losses: dict[str, torch.Tensor], bands: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        """One step's per-example losses (B,), their t bands (B,) and importance weights 1 / (T P(t)) (B,).

        ``weights`` (MATH.md M40) make the reported mse and vlb the uniform-t averages whatever density drew t, so
        the bound and the MSE of runs with different ``train.t_power`` compare; "loss" stays what was optimised.
        """
        per_example = losses["loss"].detach().double()
        mse, vlb = losses["mse"].detach().double(), losses["vlb"].detach().double()
        if weights is not None:
            mse, vlb = mse * weights, vlb * weights
        self.sums += torch.stack([per_example.mean(), mse.mean(), vlb.mean()])
        self.band_sum.index_add_(0, bands, per_example)
        self.band_count.index_add_(0, bands, torch.ones_like(per_example))
        self.steps += 1

    def report(self, trainer: Trainer, lr: float, seconds: float) -> TrainStep:
        if trainer.dist.enabled:  # every rank reports at the same step, so the collective lines up
            import torch.distributed as dist

            dist.all_reduce(self.sums)
            self.sums /= trainer.dist.world_size
        loss, mse, vlb = (self.sums / max(self.steps, 1)).tolist()
        sums, counts = self.band_sum.tolist(), self.band_count.tolist()
        bands = tuple(s / c if c > 0 else None for s, c in zip(sums, counts))
        event = TrainStep(
            step=trainer.step,
            total_steps=trainer.total_steps,
            loss=loss,
            mse=mse,
            vlb=vlb,
            lr=lr,
            steps_per_sec=self.steps / seconds if seconds > 0 else 0.0,
            elapsed=trainer.elapsed,
            band_losses=bands,
        )
        self.reset()
        return event
