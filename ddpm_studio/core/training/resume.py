"""The one rule of what may change when a run continues: used by the Trainer, ``train --resume`` and the studio.

A continued run must be the same experiment: the same data, network, process and optimisation. Only how far it
goes, how often it reports and where it runs may change. Everything else, changed, would silently mix two
experiments in one loss curve and one checkpoint (a new learning rate or warm-up would be ignored, or the EMA
decay would change its meaning halfway).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ddpm_studio.core.config import RunConfig

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
