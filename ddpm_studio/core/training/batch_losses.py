"""One training batch's losses, for the flow (M50, M51, M56) and for DDPM (M14-M19, M40): the trainer's maths.

A mixin of :class:`~ddpm_studio.core.training.trainer.Trainer` (it reads the trainer's process, network, data,
generator and config): the loop stays in trainer.py. Every random draw comes from the trainer's one seeded
generator, in the order a straight run draws them (exact resume).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ddpm_studio.core.config import ConfigError
from ddpm_studio.core.models.mlp_fused import mse_grad
from ddpm_studio.core.process.flow import FLOW_TIME_SCALE
from ddpm_studio.core.process.guidance import drop_labels
from ddpm_studio.core.training.loss_window import NUM_T_BANDS
from ddpm_studio.core.training.timesteps import sample_timesteps


class BatchLosses:
    """The per-batch loss of the run's process (mixed into the Trainer)."""

    def _draws(self, index: torch.Tensor, x0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(t (B,), noise like x0, the band of t of each example (B,) long) for the batch ``x0`` of training items
        ``index``: times first, then noise, from the trainer's generator, as every pass and every straight or
        resumed run draws them (M40 / M51; reflow's noise is the coupling's, M56)."""
        tc = self.config.train
        dev = self.device
        if self.flow is not None:
            t = self.flow.sample_times(tc.batch_size, self.generator, dev)  # M51
            if self.couplings is not None:  # reflow: each x0 with the noise its ODE came from (M56)
                noise = self.couplings[0].index_select(0, index)
            else:
                noise = torch.randn(x0.shape, device=dev, generator=self.generator)
            return t, noise, (t * NUM_T_BANDS).long().clamp_(0, NUM_T_BANDS - 1)
        T = self.diffusion.num_timesteps
        t = sample_timesteps(tc.batch_size, T, tc.t_power, self.generator, dev)  # M40 (uniform at 1)
        noise = torch.randn(x0.shape, device=dev, generator=self.generator)
        return t, noise, t * NUM_T_BANDS // T

    def _batch_losses(self, index: torch.Tensor, x0: torch.Tensor
                      ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """(per-example losses by name, each (B,); the band of t of each example (B,) long; t (B,)) for the
        batch ``x0`` (B, ...) of training items ``index`` (B,)."""
        tc = self.config.train
        t, noise, bands = self._draws(index, x0)
        if self.flow is not None:
            losses = self.flow.training_losses(self._batch_model(index), x0, t, noise)  # M50
        else:
            losses = self.diffusion.training_losses(self._batch_model(index), x0, t, noise, loss=tc.loss,
                                                    snr_gamma=tc.snr_gamma)
        return losses, bands, t

    def _fused_batch_losses(self, index: torch.Tensor, x0: torch.Tensor
                            ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, Callable[[], None]]:
        """:meth:`_batch_losses` through the point MLP's hand-written pass (:class:`FusedMLP`): the same random
        draws (:meth:`_draws`), the same losses (M18, M40, M50, min-SNR weights), and a closure that writes the
        gradient of the batch's mean loss into the flat gradient (the step calls it once the loss is finite)."""
        tc = self.config.train
        fused = self.fused
        t, noise, bands = self._draws(index, x0)
        if self.flow is not None:
            x_t = self.flow.q_sample(x0, t, noise)
            output, cache = fused.forward(x_t, t.to(torch.float32) * FLOW_TIME_SCALE)  # as FlowTimeInput feeds it
            mse, loss, d_output = mse_grad(output, self.flow.training_target(x0, t, noise))  # M50
            vlb = torch.full_like(mse, math.nan)
        else:
            diffusion = self.diffusion
            x_t = diffusion.q_sample(x0, t, noise)  # M5
            output, cache = fused.forward(x_t, t)
            weights = diffusion.min_snr_weight(t, tc.snr_gamma, output.dtype) if tc.snr_gamma > 0 else None
            # the bound's single-t estimate, logged only (the loss is "simple", M17-M18), before d_output reuses
            # the output's difference in place
            vlb = diffusion.num_timesteps / x0[0].numel() * diffusion._vlb_from_output(output, x0, x_t, t,
                                                                                       clip_x0=False)
            mse, loss, d_output = mse_grad(output, diffusion.training_target(x0, x_t, t, noise), weights)  # M18

        def backward() -> None:
            fused.backward(cache, d_output)
            fused.flat.param.grad = fused.flat.grad  # the optimiser's view of it, whatever reset it

        return {"loss": loss, "mse": mse, "vlb": vlb}, bands, t, backward

    def _batch_model(self, index: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The network as the loss calls it, (x_t, t) -> output: for a conditional run with the batch's labels,
        each dropped to the null class with probability p_uncond (label dropout, M34)."""
        if self.train_labels is None:
            return self.model_fn
        y = drop_labels(self.train_labels.index_select(0, index), self.config.train.p_uncond, self.num_classes,
                        self.generator)
        return lambda x_t, t: self.model_fn(x_t, t, y)

    def _load_couplings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The reflow pairs named by ``process.couplings``, read from the run folder, on the device."""
        from ddpm_studio.core.training.reflow import load_couplings

        if self.run_dir is None:
            raise ConfigError("process.couplings names a file in the run folder; a reflow run needs one")
        x1, x0 = load_couplings(self.run_dir / str(self.config.process.couplings), self.data_shape)
        return x1.to(self.device), x0.to(self.device)
