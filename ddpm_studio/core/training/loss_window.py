"""The trainer's running loss window: sums since the last report, kept on the device (no per-step host sync)."""

from __future__ import annotations

import torch

from ddpm_studio.core.training.events import TrainStep

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

    def state(self) -> tuple[dict[str, torch.Tensor], int]:
        """The partial sums since the last report (tensors for a checkpoint) and how many steps they hold."""
        return {"window.sums": self.sums, "window.band_sum": self.band_sum, "window.band_count": self.band_count}, \
            self.steps

    def load_state(self, tensors: dict[str, torch.Tensor], steps: int) -> None:
        """Put back :meth:`state`'s sums (a resume mid-interval then writes the straight run's next line)."""
        self.sums = tensors["window.sums"].to(self.device, torch.float64).clone()
        self.band_sum = tensors["window.band_sum"].to(self.device, torch.float64).clone()
        self.band_count = tensors["window.band_count"].to(self.device, torch.float64).clone()
        self.steps = int(steps)

    def report(self, step: int, total_steps: int, elapsed: float, lr: float, seconds: float,
               world_size: int | None = None) -> TrainStep:
        """The event of the window's steps, then a fresh window.

        ``world_size``: the number of ranks when training is distributed (None when not): every rank reports at
        the same step, so the all-reduce of the sums lines up. The trainer hands its numbers over rather than
        itself, so this module does not import the trainer (no cycle, not even for type checking).
        """
        if world_size is not None:
            import torch.distributed as dist

            dist.all_reduce(self.sums)
            self.sums /= world_size
        loss, mse, vlb = (self.sums / max(self.steps, 1)).tolist()
        sums, counts = self.band_sum.tolist(), self.band_count.tolist()
        bands = tuple(s / c if c > 0 else None for s, c in zip(sums, counts))
        event = TrainStep(
            step=step,
            total_steps=total_steps,
            loss=loss,
            mse=mse,
            vlb=vlb,
            lr=lr,
            steps_per_sec=self.steps / seconds if seconds > 0 else 0.0,
            elapsed=elapsed,
            band_losses=bands,
        )
        self.reset()
        return event
