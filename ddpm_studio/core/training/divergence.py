"""A loss that became NaN or inf: the error the trainer raises, and what it keeps of the run.

A mixin of :class:`~ddpm_studio.core.training.trainer.Trainer` (it reads the trainer's network, EMA and run folder).
"""

from __future__ import annotations

import torch

from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.io.runs import list_checkpoints
from ddpm_studio.core.training.checkpoints import CheckpointWriteError


class TrainingDiverged(RuntimeError):
    """The loss became NaN or inf; the message names the step and suggests a fix."""

    def __init__(self, step: int, config: RunConfig, kept: str = "the last good checkpoint was kept") -> None:
        hint = "lower the learning rate"
        if config.train.grad_clip == 0:
            hint += ", turn gradient clipping on (--grad-clip 1)"
        if config.train.loss != "simple":
            hint += (
                ", or try the 'simple' / 'hybrid' loss"
                if config.diffusion.variance != "learned"
                else ", or try the 'hybrid' loss"
            )
        super().__init__(
            f"the loss became NaN/inf at step {step}; training stopped and {kept} "
            f"({hint}; lr is {config.train.lr:g})"
        )
        self.step = step


class DivergenceGuard:
    """Keeps the last good state of a diverged run (mixed into the Trainer)."""

    def _keep_last_good_state(self) -> str:
        """After a NaN/inf loss: save the weights if they are still finite, else point at the newest checkpoint.

        On the CPU the loss is checked before the backward pass, so the weights are those of the last finite
        step; on a GPU (checked at log points) they may already hold NaN and are then not written.
        """
        if self.run_dir is None or not self.dist.is_main:
            return "nothing was saved (no run folder)"
        latest = list_checkpoints(self.run_dir)
        finite = all(bool(torch.isfinite(v).all()) for v in self.net.state_dict().values() if v.is_floating_point())
        finite = finite and all(
            bool(torch.isfinite(v).all()) for v in self.ema.model.state_dict().values() if v.is_floating_point()
        )
        if finite:
            try:
                path = self.save_checkpoint()
            except CheckpointWriteError as exc:
                return f"the last finite state could not be saved ({exc})"
            return f"the last finite state was saved as {path.name if path else 'a checkpoint'}"
        if latest:
            return f"the last good checkpoint {latest[-1][1].name} was kept"
        return "no checkpoint had been written yet"
