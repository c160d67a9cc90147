"""The training loop as a generator of events (Qt-free; the CLI and the studio drive the same object).

    trainer = Trainer(config, run_dir="runs/moons")
    for event in trainer.train():      # TrainStep, PreviewReady, SnapshotTaken, CheckpointSaved, Heartbeat, ...
        ...

Every step yields, so a consumer can pause (stop pulling) or stop (:meth:`Trainer.request_stop`, honoured at
the next step boundary, followed by a final checkpoint; the CLI's SIGINT handler sets it: :mod:`.stop_signals`).
Checkpoints hold the model, EMA, optimiser, step, every RNG state, the loss window's partial sums, the early
stop's record and the work the last step still owed, so a resumed run continues bit for bit on the CPU (saving
and restoring them: :mod:`.checkpoints`; the contract: docs/RELIABILITY.md, "Exact resume"). The per-batch loss
is :mod:`.batch_losses`; previews and the scrubbable snapshots of the run (:mod:`.snapshots`) are
:mod:`.trainer_samples`; a diverged loss is :mod:`.divergence`.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import torch
from torch import nn

from ddpm_studio.core.config import ConfigError, RunConfig
from ddpm_studio.core.data import DataSet, load_dataset, take_subset
from ddpm_studio.core.device import resolve_device
from ddpm_studio.core.io.runs import (
    RunError,
    append_metrics,
    list_checkpoints,
)
from ddpm_studio.core.models import build_model, count_parameters
from ddpm_studio.core.models.mlp_fused import FlatParameters, FusedMLP, fused_problem
from ddpm_studio.core.pipeline import FloatOutput, FlowTimeInput, build_process
from ddpm_studio.core.process.guidance import conditional_problem
from ddpm_studio.core.scores.verdict import MIN_HELDOUT
from ddpm_studio.core.training.batch_losses import BatchLosses
from ddpm_studio.core.training.checkpoints import CheckpointWriteError, TrainerCheckpoints
from ddpm_studio.core.training.distributed import DistContext, any_rank, distributed_device, init_distributed
from ddpm_studio.core.training.divergence import DivergenceGuard, TrainingDiverged
from ddpm_studio.core.training.early_stop import EarlyStopper
from ddpm_studio.core.training.ema import EMA
from ddpm_studio.core.training.events import (
    CheckpointSaved,
    Heartbeat,
    TrainEvent,
    TrainingFinished,
)
from ddpm_studio.core.training.loss_window import NUM_T_BANDS, _Window
from ddpm_studio.core.training.lr_schedule import learning_rate
from ddpm_studio.core.training.run_lock import hold_run_lock
from ddpm_studio.core.training.snapshots import SnapshotSeries, snapshot_interval
from ddpm_studio.core.training.tensorboard_log import TensorBoardLogging, tensorboard_problem
from ddpm_studio.core.training.timesteps import timestep_probabilities
from ddpm_studio.core.training.trainer_samples import TrainerSamples

logger = logging.getLogger(__name__)

__all__ = ["NUM_T_BANDS", "CheckpointWriteError", "Trainer", "TrainingDiverged"]


class Trainer(TrainerCheckpoints, TrainerSamples, BatchLosses, DivergenceGuard, TensorBoardLogging):
    """Builds data, network, diffusion, optimiser and EMA from a :class:`RunConfig` and trains them.

    Args:
        config: every setting (validated here).
        run_dir: where config.json, metrics.jsonl and checkpoints go; None trains in memory only.
        dataset: an already loaded :class:`DataSet` (otherwise loaded from ``config.data``).
        resume: continue from the newest loadable checkpoint in ``run_dir``.
        fused: train the point MLP through its hand-written pass (:mod:`ddpm_studio.core.models.mlp_fused`: the
            same network and gradient, about twice the steps per second on a CPU). None (the default) uses it
            wherever it applies (points, the CPU, one process, the simple loss with a fixed variance or a flow);
            False never (the autograd pass, for comparisons).
    """

    def __init__(
        self,
        config: RunConfig,
        run_dir: str | os.PathLike[str] | None = None,
        dataset: DataSet | None = None,
        resume: bool = False,
        fused: bool | None = None,
    ) -> None:
        self.config = config.validate()
        tc = config.train
        if tc.tensorboard and tensorboard_problem():
            raise ConfigError(f"train.tensorboard: {tensorboard_problem()}")
        self.dist: DistContext = init_distributed(tc.device)
        self.device = distributed_device(self.dist, tc.device) or resolve_device(tc.device)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        if resume and self.run_dir is None:
            raise ConfigError("resume needs a run folder")
        # one writer per run folder (run_lock.py), checked before anything is read or written; rank 0 writes it
        self.run_lock = hold_run_lock(self.run_dir) if self.run_dir is not None and self.dist.is_main else None
        if self.run_dir is not None and not resume and list_checkpoints(self.run_dir):
            raise RunError(
                f"{self.run_dir} already holds a trained run; resume it or choose another folder (nothing was "
                "overwritten)"
            )
        self.dataset = dataset or load_dataset(
            config.data.dataset,
            image_size=config.data.image_size,
            num_points=config.data.num_points,
            num_images=config.data.num_images,
            seed=tc.seed,
            subset=config.data.subset,
        )
        if config.data.subset is not None and self.dataset.range_items is None:
            # a caller handed in the whole data set (a GUI probe, say): take the config's subset of it here
            self.dataset = take_subset(self.dataset, config.data.subset, tc.seed)
        self.kind = self.dataset.kind
        self.data_shape = tuple(self.dataset.data_shape)
        num_train = int(self.dataset.train.shape[0])
        # batches are drawn with replacement, so a subset of 10 items trains with the usual batch size
        if tc.batch_size > num_train and config.data.subset is None:
            raise ConfigError(
                f"train.batch_size {tc.batch_size} is larger than the {num_train} training items of "
                f"{self.dataset.name}; choose at most {num_train}"
            )

        self.num_classes = config.model.num_classes
        problem = conditional_problem(self.dataset, self.num_classes)
        if problem:
            raise ConfigError(problem)
        torch.manual_seed(tc.seed)  # the network's initial weights depend on the seed alone
        learned = config.diffusion.variance == "learned"
        net = build_model(config.model.preset, self.data_shape, learned_variance=learned, dropout=config.model.dropout,
                          fourier_bands=config.model.fourier_bands,
                          num_classes=self.num_classes)
        self.num_parameters = count_parameters(net)
        net = net.to(self.device)
        if self.device.type == "cuda" and self.kind == "images":
            net = net.to(memory_format=torch.channels_last)
        self.net = net
        self.fused = None if fused is False else self._fused_pass(net)
        self.ema = EMA(net, tc.ema_decay)
        if self.fused is not None:  # the EMA's copy laid out as the network, so its update is one lerp
            shadow = FlatParameters.like(self.fused.flat, self.ema.model)
            self.ema.use_flat(shadow.param.data, self.fused.flat.param.data)
        self.x0_range = self.dataset.x0_range()
        self.diffusion = build_process(config, self.kind, self.x0_range)
        self.diffusion.check_finite = False  # divergence is caught on the loss (no per-step host sync)
        self.flow = self.diffusion if config.is_flow else None
        # fused: one C++ kernel per parameter for the whole AdamW update, instead of ~10 dispatched ops per
        # parameter (loop) or per group (foreach, whose CPU kernels still loop op by op). On the CPU the update
        # of the 2-D MLP takes 0.9 ms fused against 2.6 ms foreach, about 15 % of its training step
        # (benchmarks/RESULTS.md, "Time to quality"); the maths is the same update (Loshchilov & Hutter 2019).
        fused = self.device.type in ("cpu", "cuda")
        trained = [self.fused.flat.param] if self.fused is not None else list(net.parameters())
        self.optimizer = torch.optim.AdamW(trained, lr=tc.lr, weight_decay=tc.weight_decay,
                                           fused=fused or None)
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_net: nn.Module = DistributedDataParallel(net, device_ids=ids)
        else:
            self.train_net = net
        self.model_fn = FloatOutput(self.train_net, self.device)
        if config.is_flow:
            self.model_fn = FlowTimeInput(self.model_fn)
        self.train_data = self.dataset.train.to(self.device)
        # reflow (M56): the pairs (x1, x0) drawn from a trained flow replace the data and the independent noise
        self.couplings: tuple[torch.Tensor, torch.Tensor] | None = None
        if config.is_flow and config.process.couplings is not None:
            self.couplings = self._load_couplings()
            self.train_data = self.couplings[1]
        labels = self.dataset.labels if self.num_classes else None
        self.train_labels = labels.to(self.device) if labels is not None else None
        # Batches, timesteps and noise come from one seeded generator per rank (per-rank seeding for DDP).
        self.generator = torch.Generator(device=self.device).manual_seed(tc.seed + 1_000_003 * self.dist.rank)
        self.step = 0
        self.elapsed = 0.0
        self._stop = False
        # loss sums since the last metrics line: kept across train() calls and saved in checkpoints, so a resumed
        # run's lines are those of a straight run
        self.window = _Window(self.device)
        self._pending: list[str] = []  # work still due after the step just taken (see _after_step)
        self._step_start: tuple[torch.Tensor, torch.Tensor] | None = None  # RNG states at the running step's start
        self._last_time = time.perf_counter()
        self._check_every_step = self.device.type == "cpu"  # a host sync is free on the CPU; on GPUs at log points
        self._params = trained
        # one fused norm over all gradients (0.32 against 0.49 ms per step on the points MLP); torch's default
        # takes the foreach path only on CUDA
        self._foreach_clip = True if self.device.type in ("cpu", "cuda") else None
        T, t_power = (1, 1.0) if config.is_flow else (self.diffusion.num_timesteps, tc.t_power)
        # importance weights 1 / (T P(t)) that turn the logged mse / vlb back into uniform-t averages (M40)
        self._uniform_weights = None if t_power == 1.0 else (1.0 / (T * timestep_probabilities(T, t_power))).to(
            self.device, torch.float32 if self.device.type == "mps" else None)
        self.early_stopper: EarlyStopper | None = None
        if tc.early_stop and self.kind == "points" and self.dataset.heldout.shape[0] >= MIN_HELDOUT:
            self.early_stopper = EarlyStopper(self.dataset, tc.early_stop_patience, seed=tc.seed)
        self._config_on_disk: dict | None = None  # what the run folder's config.json holds, as far as we know
        # samples of one fixed noise every N steps, to scrub through (snapshots.py); a resume reads its series
        self.snapshots = SnapshotSeries(snapshot_interval(tc.steps, self.kind))
        if resume:
            self._resume()
        elif self.run_dir is not None and self.dist.is_main:
            self.set_run_dir(self.run_dir)

    def _fused_pass(self, net: nn.Module) -> FusedMLP | None:
        """The hand-written pass of the point MLP where it computes this run's loss, else None."""
        config = self.config
        if self.device.type != "cpu" or self.dist.enabled or fused_problem(net) is not None:
            return None
        if config.is_flow:
            return FusedMLP(net)
        if config.train.loss != "simple" or config.diffusion.variance == "learned":
            return None
        return FusedMLP(net, config.diffusion.num_timesteps)

    # ------------------------------------------------------------------ control
    def request_stop(self) -> None:
        """Ask the loop to stop before its next step (safe to call from another thread or a signal handler).

        Only a flag: the running step and the work after it (metrics line, preview, early-stop check) finish, then
        the loop writes a checkpoint at that step boundary and ends with ``TrainingFinished(reason="stopped")``,
        so a resume is exact wherever the request fell. Asked before :meth:`train` starts, it stops the run
        before its first step.
        """
        self._stop = True

    def _stop_now(self) -> bool:
        """Whether to stop before the next step. Under torchrun every rank must stop at the same step (or one
        would wait forever in the next all-reduce), so the ranks agree on it at each metrics step
        (:func:`.distributed.any_rank`): a SIGTERM that reaches them at different steps stops them all together."""
        if not self.dist.enabled:
            return self._stop
        return self.step % self.config.train.log_every == 0 and any_rank(self.dist, self._stop, self.device)

    @property
    def total_steps(self) -> int:
        return self.config.train.steps

    def lr_at(self, step: int) -> float:
        """The learning rate of step ``step`` (warm-up, then constant or cosine; :func:`.lr_schedule.learning_rate`,
        MATH.md M35)."""
        return learning_rate(self.config.train, step)

    # ------------------------------------------------------------------ the loop
    def train(self) -> Iterator[TrainEvent]:
        """Train up to ``config.train.steps``, yielding an event after every step.

        May be called again after it returned or raised (e.g. after a stop, or a failed checkpoint write with
        a new ``run_dir``): it continues from :attr:`step`, first finishing the work the interrupted step left
        (:attr:`_pending`: its metrics line, preview, early-stop check or checkpoint).

        A :class:`KeyboardInterrupt` raised inside a step's forward / backward pass rewinds the step's random
        draws, so :attr:`step` and every saved state name the last completed step and :meth:`save_checkpoint`
        then writes a checkpoint a resume continues from exactly; raised during the work after a step (a preview,
        an early-stop check), that work stays pending and a resume redoes it. A stop that must be exact whatever
        the timing goes through :meth:`request_stop` (what the CLI's SIGINT handler does): honoured at the next
        step boundary.

        Raises:
            TrainingDiverged: the loss became NaN / inf (no checkpoint of the bad state is written).
            CheckpointWriteError: the run folder cannot be written.
        """
        self._sync_config()
        self.train_net.train()
        self._last_time = time.perf_counter()
        try:
            if self._pending and (yield from self._after_step()):
                return
            while self.step < self.config.train.steps:
                if self._stop_now():
                    yield from self._finish("stopped")
                    return
                self._train_step()
                if (yield from self._after_step()):
                    return
        except KeyboardInterrupt:
            self._rewind_partial_step()
            raise
        yield from self._finish("completed")

    def _train_step(self) -> None:
        """One optimiser step; on return :attr:`step` counts it and :attr:`_pending` lists the work due after it."""
        tc = self.config.train
        dev = self.device
        # the random streams as the step found them: an interruption before the update below puts them back, so a
        # checkpoint written then is the state at the previous step boundary (a few microseconds per step)
        self._step_start = (self.generator.get_state(), torch.get_rng_state())
        lr = self.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        index = torch.randint(0, self.train_data.shape[0], (tc.batch_size,), device=dev, generator=self.generator)
        x0 = self.train_data.index_select(0, index)
        if self.fused is not None:
            losses, bands, t, backward = self._fused_batch_losses(index, x0)
        else:
            (losses, bands, t), backward = self._batch_losses(index, x0), None
        loss = losses["loss"].mean()
        if self._check_every_step and not math.isfinite(loss.item()):
            raise TrainingDiverged(self.step + 1, self.config, self._keep_last_good_state())
        if backward is not None:
            backward()  # writes every gradient (no zeroing needed)
        else:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        if tc.grad_clip > 0:
            nn.utils.clip_grad_norm_(self._params, tc.grad_clip, foreach=self._foreach_clip)
        # from here the step commits: the update, its EMA blend, the count and the window's sums belong together
        self._step_start = None
        self.optimizer.step()
        self.ema.update(self.net, self.step)
        self.step += 1
        weights = None if self._uniform_weights is None else self._uniform_weights[t]
        self.window.add(losses, bands, weights)
        self._pending = self._due_after_step()

    def _due_after_step(self) -> list[str]:
        """The work due after the step just taken, in the order :meth:`_after_step` does it."""
        tc = self.config.train
        due = []
        if self.step % tc.log_every == 0 or self.step == tc.steps:
            due.append("log")
        if tc.preview_every and self.step % tc.preview_every == 0 and self.dist.is_main:
            due.append("preview")
        if self.dist.is_main and self.snapshots.due(self.step, tc.steps):
            due.append("snapshot")
        if self._early_stop_due():
            due.append("early_stop")
        if tc.checkpoint_every and self.step % tc.checkpoint_every == 0 and self.step < tc.steps:
            due.append("checkpoint")
        return due

    def _after_step(self) -> Generator[TrainEvent, None, bool]:
        """Report, preview, check and checkpoint as :attr:`_pending` says; True when the run ended (converged).

        Each item leaves :attr:`_pending` once done (a preview once its consumer had it), so a checkpoint written
        after an interruption names what is still to do and a resume does exactly that before its first step.
        """
        pending = self._pending
        if "log" in pending:
            now = time.perf_counter()
            self.elapsed += now - self._last_time
            event = self.window.report(self.step, self.total_steps, self.elapsed, self.lr_at(self.step - 1),
                                       now - self._last_time, self.dist.world_size if self.dist.enabled else None)
            self._last_time = now
            if not math.isfinite(event.loss):
                raise TrainingDiverged(self.step, self.config, self._keep_last_good_state())
            if self.run_dir is not None and self.dist.is_main:
                self._write(append_metrics, self.run_dir, [event.to_record()])
                self._tensorboard_scalars(event.to_record())  # only with train.tensorboard
            pending.remove("log")
            yield event
        else:
            yield Heartbeat(self.step)
        if "preview" in pending:
            started = time.perf_counter()
            preview = self._preview_event()
            self._last_time += time.perf_counter() - started  # previews do not count as training time
            yield preview
            pending.remove("preview")
        if "snapshot" in pending:  # before the early stop: a converged run keeps its last snapshot
            started = time.perf_counter()
            snapshot = self._snapshot_event()
            self._last_time += time.perf_counter() - started  # snapshots do not count as training time
            pending.remove("snapshot")
            yield snapshot
        if "early_stop" in pending:
            started = time.perf_counter()
            self.early_stopper.check(self.pipeline(), self.step)  # type: ignore[union-attr]
            pending.remove("early_stop")
            self._last_time += time.perf_counter() - started  # checks do not count as training time
            if self.early_stopper.should_stop:  # type: ignore[union-attr]
                pending.clear()  # the final checkpoint replaces the periodic one
                yield from self._finish("converged", self.early_stopper.reason())  # type: ignore[union-attr]
                return True
        if "checkpoint" in pending:
            pending.remove("checkpoint")  # first: the checkpoint must not ask a resume to write itself again
            path = self.save_checkpoint()
            if path is not None:
                yield CheckpointSaved(self.step, path)
        return False

    def _rewind_partial_step(self) -> None:
        """After an interruption inside :meth:`_train_step`'s forward / backward: undo its random draws.

        Nothing else changed before the update, so the trainer is then in the state of the previous step boundary.
        """
        if self._step_start is not None:
            generator_state, torch_state = self._step_start
            self.generator.set_state(generator_state)
            torch.set_rng_state(torch_state)
            self.optimizer.zero_grad(set_to_none=self.fused is None)  # the fused pass keeps its flat gradient
            self._step_start = None

    def _early_stop_due(self) -> bool:
        """A held-out quality check is due now (points with ``train.early_stop``; never at the last step)."""
        every = self.config.train.early_stop_every
        return (self.early_stopper is not None and self.dist.is_main and self.step % every == 0
                and self.step < self.config.train.steps)

    def _finish(self, reason: str, detail: str = "") -> Iterator[TrainEvent]:
        # the stop asked for is honoured here (also a stop that came as the run completed or converged): a later
        # train() call, the studio's Continue, starts without it
        self._stop = False
        self._tensorboard_close()  # flushed and closed; a continued run opens a new event file
        path = self.save_checkpoint()
        if path is not None:
            yield CheckpointSaved(self.step, path)
        if detail:
            logger.info("training ended at step %d (%s): %s", self.step, reason, detail)
        yield TrainingFinished(self.step, reason, detail)
