"""The one rule of what may change when a run continues: used by the Trainer, ``train --resume`` and the studio.

A continued run must be the same experiment: the same data, network, process and optimisation. Only how far it
goes, how often it reports and where it runs may change. Everything else, changed, would silently mix two
experiments in one loss curve and one checkpoint (a new learning rate or warm-up would be ignored, or the EMA
decay would change its meaning halfway).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ddpm_studio.core.config import RunConfig, TrainConfig
from ddpm_studio.core.training.lr_schedule import learning_rate

#: Training fields a continued run may change: the target step, reporting (TensorBoard too), checkpoints and the
#: device.
CONTINUABLE_TRAIN_FIELDS = (
    "steps",
    "log_every",
    "preview_every",
    "preview_count",
    "preview_steps",
    "checkpoint_every",
    "keep_checkpoints",
    "device",
    "tensorboard",
)

_MISSING = object()


def resume_conflicts(saved: RunConfig | dict[str, Any], new: RunConfig) -> list[str]:
    """The settings of ``new`` that a continuation of ``saved`` may not change, each as "section.field (a -> b)".

    ``saved`` may be a config or its JSON form (a checkpoint's metadata); a field the saved form lacks (an
    older file) counts as unchanged. An empty list means ``new`` may continue ``saved``.
    """
    old = asdict(saved) if isinstance(saved, RunConfig) else saved
    problems = []
    for section, values in asdict(new).items():
        saved_section = old.get(section, {})
        if not isinstance(saved_section, dict):
            problems.append(f"{section} (not a section in the saved config)")
            continue
        for name, value in values.items():
            if section == "train" and name in CONTINUABLE_TRAIN_FIELDS:
                continue
            before = saved_section.get(name, _MISSING)
            if before is not _MISSING and before != value:
                problems.append(f"{section}.{name} ({before!r} -> {value!r})")
    return problems


@dataclass(frozen=True)
class LrHorizonChange:
    """What continuing a cosine-decayed run at ``step`` to a new total does to its learning rate.

    The rule (the trainer's, :func:`~ddpm_studio.core.training.lr_schedule.learning_rate`): the cosine's horizon is
    the run's total, so a new total stretches (or shrinks) the cosine for the steps still to come; the steps
    already taken keep the rates they were trained with (nothing is retrained). The next step therefore trains at
    ``new_lr`` instead of the ``old_lr`` the old schedule gave it: a jump up when the total grows (a warm restart
    when the run had already decayed to 0).
    """

    step: int  # steps already taken; the next one is step + 1 (1-based, as the progress bar counts)
    old_total: int
    new_total: int
    old_lr: float  # the rate the old schedule gives the next step
    new_lr: float  # the rate it trains at on the new horizon
    warmup: int

    def describe(self) -> str:
        """The sentence the studio's Continue confirmation shows (and ``train --resume`` could print)."""
        taken = f"The {self.step:,} steps already taken keep the learning rates they were trained with."
        horizon = (f"The cosine learning-rate decay is stretched to the new total: it decayed to 0 at step "
                   f"{self.old_total:,}, it now decays to 0 at step {self.new_total:,}.")
        if self.new_total < self.old_total:
            horizon = horizon.replace("stretched", "shortened")
        if self.step < self.warmup and self.old_lr == self.new_lr:
            return f"{horizon} The warm-up goes on unchanged. {taken}"
        if self.old_lr <= 0.0:
            move = f"jumps from 0 back up to {self.new_lr:.3g} (a warm restart)"
        elif self.new_lr >= self.old_lr:
            move = f"rises from {self.old_lr:.3g} (the old schedule's rate) to {self.new_lr:.3g}"
        else:
            move = f"falls from {self.old_lr:.3g} (the old schedule's rate) to {self.new_lr:.3g}"
        return f"{horizon} At step {self.step + 1:,} the rate {move}, then decays. {taken}"


def lr_horizon_change(saved: RunConfig | dict[str, Any], new_total: int, step: int) -> LrHorizonChange | None:
    """What a continuation of ``saved`` (trained to ``step``) to ``new_total`` steps does to its lr horizon.

    None when nothing changes: the schedule is not the cosine (a constant rate has no horizon), or the total is
    the same (a plain resume: the schedule and every rate are those of a straight run).
    """
    train = asdict(saved)["train"] if isinstance(saved, RunConfig) else dict(saved.get("train", {}))
    known = {name: value for name, value in train.items() if name in TrainConfig.__dataclass_fields__}
    old = TrainConfig(**known)
    if old.lr_schedule != "cosine" or new_total == old.steps:
        return None
    new = TrainConfig(**{**known, "steps": new_total})
    return LrHorizonChange(step=step, old_total=old.steps, new_total=new_total, old_lr=learning_rate(old, step),
                           new_lr=learning_rate(new, step), warmup=old.warmup)
