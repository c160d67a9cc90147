"""What the trainer draws from its EMA weights between steps: the pipeline, previews and snapshots.

A mixin of :class:`~ddpm_studio.core.training.trainer.Trainer`. Each draw uses its own seeded generator and puts
the global RNG back, so it changes nothing in the training stream (exact resume, docs/RELIABILITY.md).
"""

from __future__ import annotations

import torch

from ddpm_studio.core.pipeline import DiffusionPipeline, build_process
from ddpm_studio.core.training.events import PreviewFailed, PreviewReady, SnapshotTaken
from ddpm_studio.core.training.snapshots import take_snapshot


class TrainerSamples:
    """Pipeline, previews and snapshots of a Trainer (mixed into it)."""

    def pipeline(self) -> DiffusionPipeline:
        """The EMA weights as a :class:`DiffusionPipeline` (shares the weights; sample between steps)."""
        points = self.kind == "points"
        return DiffusionPipeline(
            config=self.config,
            diffusion=build_process(self.config, self.kind, self.x0_range),
            network=self.ema.model,
            kind=self.kind,
            data_shape=self.data_shape,
            device=self.device,
            shift=self.dataset.shift.detach().cpu() if points else None,
            scale=self.dataset.scale.detach().cpu() if points else None,
            step=self.step,
        )

    def preview(self) -> torch.Tensor:
        """A few EMA samples (respaced to ``preview_steps``, M21) as a CPU copy in model space."""
        tc = self.config.train
        # a fixed seed: successive previews show the same x_T, so the user sees the model change, not the noise
        rng_state = torch.get_rng_state()
        steps = tc.preview_steps if self.flow is not None else min(tc.preview_steps, self.diffusion.num_timesteps)
        # a conditional run previews its classes in turn (w = 0: the conditional model, one pass per step)
        labels = torch.arange(tc.preview_count) % self.num_classes if self.num_classes else None
        try:
            samples = self.pipeline().sample_final(tc.preview_count, num_steps=steps, seed=tc.seed, labels=labels)
        finally:
            # sampling must not perturb the training stream (exact resume), not even when interrupted mid-way
            torch.set_rng_state(rng_state)
        return samples.clone()

    def _preview_event(self) -> PreviewReady | PreviewFailed:
        """A preview, or why it failed: a sampler that cannot draw from an early model never ends the run."""
        try:
            samples = self.preview()
        except (ValueError, RuntimeError) as exc:
            return PreviewFailed(self.step, f"the preview at step {self.step} failed ({exc}); training goes on")
        self._tensorboard_preview(self.step, samples)
        return PreviewReady(self.step, samples)

    def _snapshot_event(self) -> SnapshotTaken | PreviewFailed:
        """Take the series' snapshot now (:mod:`.snapshots`), keep it and write it into the run folder if any."""
        series = self.snapshots
        try:
            snapshot = take_snapshot(self.pipeline(), self.step, series.interval, self.config.train.steps,
                                     self.config.train.seed)
        except (ValueError, RuntimeError) as exc:
            return PreviewFailed(self.step, f"the snapshot at step {self.step} failed ({exc}); training goes on")
        dropped = series.add(snapshot)
        path = None
        if self.run_dir is not None and self.dist.is_main:
            path = self._write_snapshot(snapshot, dropped)
        return SnapshotTaken(self.step, snapshot, dropped, path)

    def _write_snapshot(self, snapshot, dropped):
        """The snapshot's file (a write error is the run folder's: :class:`CheckpointWriteError`)."""
        written = []
        self._write(lambda: written.append(self.snapshots.write(self.run_dir, snapshot, dropped)))
        return written[0]
