"""The trainer's checkpoints: what a resume needs, written to and read back from the run folder.

A mixin of :class:`~ddpm_studio.core.training.trainer.Trainer` (it reads the trainer's network, EMA, optimiser,
generator, data and config): the loop stays in trainer.py, the state it saves and restores here. Checkpoints hold the
model, EMA, optimiser, step, every RNG state, the loss window's partial sums, the early stop's record and the work
the last step still owed (tensors in safetensors, the rest as JSON: loading never unpickles), so a resumed run
continues bit for bit on the CPU (docs/RELIABILITY.md, "Exact resume").
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from ddpm_studio import __version__
from ddpm_studio.core.io.run_data import keep_data_copy
from ddpm_studio.core.io.runs import (
    RunError,
    checkpoint_path,
    load_latest_checkpoint,
    prune_checkpoints,
    read_config,
    save_checkpoint,
    truncate_metrics,
    write_config,
)
from ddpm_studio.core.pipeline import load_network_state
from ddpm_studio.core.training.resume import resume_conflicts
from ddpm_studio.core.training.run_lock import hold_run_lock
from ddpm_studio.core.training.snapshots import SnapshotSeries


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (read-only or full disk); the trainer's state in memory is intact."""


class TrainerCheckpoints:
    """Save, move and restore a :class:`Trainer`'s state (mixed into it)."""

    def state_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        """Everything a resume needs: (tensors, JSON metadata)."""
        tensors: dict[str, torch.Tensor] = {}
        for name, value in self.net.state_dict().items():
            tensors[f"model.{name}"] = value
        for name, value in self.ema.model.state_dict().items():
            tensors[f"ema.{name}"] = value
        opt = self.optimizer.state_dict()
        if self.fused is not None:  # one flat tensor in memory, the per-parameter form on disk (either resumes)
            opt = self.fused.flat.split_state(opt)
        for index, state in opt["state"].items():
            for key, value in state.items():
                tensors[f"optim.{index}.{key}"] = value if torch.is_tensor(value) else torch.tensor(value)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.generator"] = self.generator.get_state()
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        if self.kind == "points":
            tensors["data.shift"] = self.dataset.shift
            tensors["data.scale"] = self.dataset.scale
            if self.x0_range is not None:
                tensors["data.x0_low"], tensors["data.x0_high"] = self.x0_range
        window, window_steps = self.window.state()
        tensors.update(window)
        meta = {
            "step": self.step,
            "elapsed": self.elapsed,
            "kind": self.kind,
            "data_shape": list(self.data_shape),
            "num_parameters": self.num_parameters,
            "package_version": __version__,
            "config": self.config.to_dict(),
            "param_groups": opt["param_groups"],
            # the rest of the state a straight run would carry on with (exact resume, docs/RELIABILITY.md)
            "window_steps": window_steps,
            "pending": list(self._pending),
            "early_stop": self.early_stopper.state_dict() if self.early_stopper is not None else None,
        }
        return tensors, meta

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint of the current state to the run folder (rank 0 only); None without a folder."""
        if self.run_dir is None or not self.dist.is_main:
            return None
        tensors, meta = self.state_tensors()
        path = checkpoint_path(self.run_dir, self.step)
        self._write(save_checkpoint, path, tensors, meta)
        self._write(prune_checkpoints, self.run_dir, self.config.train.keep_checkpoints)
        return path

    def set_run_dir(self, run_dir: str | os.PathLike[str]) -> None:
        """Move future writes to another folder (e.g. after a full disk); writes the config there, and a copy of
        a 2-D points file the run was trained on (so it resumes after the original has gone).

        The trainer holds the new folder's lock first (:mod:`.run_lock`; a folder another live trainer writes is
        refused), then gives up the old one's.
        """
        if self.dist.is_main:
            held = getattr(self, "run_lock", None)
            self.run_lock = hold_run_lock(run_dir)
            if held is not None:
                held.release()
        self.run_dir = Path(run_dir)
        config = self.config.to_dict()
        self._write(lambda: (self.run_dir.mkdir(parents=True, exist_ok=True), write_config(self.run_dir, config)))
        self._config_on_disk = config
        if self.kind == "points":  # a small points file (a drawing) travels with the run (core.io.run_data)
            self._write(keep_data_copy, self.run_dir, self.config.data.dataset)
        self._write(self.snapshots.write_all, self.run_dir)  # a run trained in memory keeps its snapshots

    def _sync_config(self) -> None:
        """Rewrite config.json (atomically) when the settings changed since it was written or read.

        A resumed or continued run may train to a new number of steps (``train --resume --steps``, the studio's
        Continue): the folder must then say so, or the reopened run would show "step 500 / 400".
        """
        if self.run_dir is None or not self.dist.is_main:
            return
        config = self.config.to_dict()
        if config != self._config_on_disk:
            self._write(write_config, self.run_dir, config)
            self._config_on_disk = config

    def _write(self, fn: Callable, *args) -> None:
        try:
            fn(*args)
        except OSError as exc:
            state = "the model is still in memory: " if self.step else ""
            raise CheckpointWriteError(
                f"cannot write to the run folder {self.run_dir}: {exc.strerror or exc}; {state}choose another "
                "folder and save again"
            ) from exc

    def _resume(self) -> None:
        assert self.run_dir is not None
        path, tensors, meta = load_latest_checkpoint(self.run_dir)
        conflicts = resume_conflicts(meta.get("config", {}), self.config)
        if conflicts:
            raise RunError(
                f"{path.name} was trained with other settings; a continued run may change only its steps, "
                f"reporting and device: {', '.join(conflicts)}"
            )
        if list(self.data_shape) != meta.get("data_shape"):
            raise RunError(
                f"{path.name} was trained on data of shape {meta.get('data_shape')}, "
                f"this data has shape {list(self.data_shape)}"
            )
        load_network_state(self.net, tensors, "model.", path.name)
        load_network_state(self.ema.model, tensors, "ema.", path.name)
        optimizer_state = _optimizer_state(tensors, meta, path.name)
        if self.fused is not None:
            try:
                optimizer_state = self.fused.flat.join_state(optimizer_state)
            except ValueError as exc:
                raise RunError(f"{path.name}: {exc}") from None
        self.optimizer.load_state_dict(optimizer_state)
        torch.set_rng_state(tensors["rng.torch"])
        if self.dist.is_main and _fits_generator(self.generator, tensors["rng.generator"]):
            self.generator.set_state(tensors["rng.generator"])
        else:
            # other ranks, or a run moved between devices (a CUDA generator state does not fit a CPU generator):
            # a fresh stream that still depends on the step; the continuation is then not bit-exact
            self.generator.manual_seed(self.config.train.seed + 1_000_003 * self.dist.rank + int(meta["step"]))
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.step = int(meta["step"])
        self.elapsed = float(meta.get("elapsed", 0.0))
        # checkpoints older than exact resume lack these: their resume starts a fresh loss window and early-stop
        # record, as it always did
        if "window.sums" in tensors:
            self.window.load_state(tensors, int(meta.get("window_steps", 0)))
        # the owed work this trainer can do (an early-stop check only when this run still checks)
        owed = {"log", "preview", "snapshot", "checkpoint"}
        owed |= {"early_stop"} if self.early_stopper is not None else set()
        self._pending = [task for task in meta.get("pending", []) if task in owed]
        if self.early_stopper is not None and isinstance(meta.get("early_stop"), dict):
            self.early_stopper.load_state_dict(meta["early_stop"])
        if self.dist.is_main:
            truncate_metrics(self.run_dir, self.step)
            self._config_on_disk = _saved_config(self.run_dir)
            # the same series goes on: its interval, and the snapshots up to this step (later ones are redone)
            self.snapshots = SnapshotSeries.resumed(self.run_dir, self.step, self.config.train.steps, self.kind)


def _saved_config(run_dir: Path) -> dict | None:
    """config.json's settings as :meth:`RunConfig.to_dict` writes them; None when it is missing or unreadable."""
    try:
        raw = read_config(run_dir)
    except RunError:
        return None
    raw.pop("package_version", None)
    return raw


def _fits_generator(generator: torch.Generator, state: torch.Tensor) -> bool:
    """Whether a saved generator state was made by a generator of this kind (same device type)."""
    return state.numel() == generator.get_state().numel()


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict, source: str) -> dict:
    """Rebuild an optimizer state_dict from ``optim.<index>.<key>`` tensors and the JSON param groups."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if not name.startswith("optim."):
            continue
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    groups = meta.get("param_groups")
    if not isinstance(groups, list):
        raise RunError(f"{source} lacks the optimizer's parameter groups")
    return {"state": state, "param_groups": json.loads(json.dumps(groups))}
