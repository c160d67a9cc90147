"""How many CPU threads a headless run gives torch: the cores nobody else is using.

torch starts one intra-op thread per core. On a shared machine (a course server, a laptop running the studio beside
a CLI run) those threads spin-wait against the other jobs' and every job slows down: on a 2-core machine a points
run fell from 165 steps/s to 5 with another job running (benchmarks/RESULTS.md). The free cores are the cores this
process may run on less the 1-minute load average (the number of runnable jobs), rounded, and at least one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and why it was chosen, as the run log says it."""

    threads: int
    reason: str

    def describe(self) -> str:
        return f"{self.threads} CPU thread{'s' if self.threads != 1 else ''} ({self.reason})"


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one, else every core)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def load_average() -> float | None:
    """The 1-minute load average; None where the OS has none (Windows)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def free_cores(cores: int | None = None, load: float | None = None) -> ThreadChoice:
    """The cores not taken by other work: ``cores`` (default :func:`usable_cores`) less the rounded ``load``
    (default :func:`load_average`), at least 1; the whole count where the load is unknown."""
    cores = usable_cores() if cores is None else cores
    load = load_average() if load is None else load
    if load is None:
        return ThreadChoice(cores, f"{cores} usable cores, load unknown")
    free = max(1, min(cores, cores - round(load)))
    return ThreadChoice(free, f"the free cores: {cores} usable, load {load:.1f}")


def training_threads(kind: str, device_type: str, requested: int | None = None) -> ThreadChoice:
    """torch's CPU threads for a training run of ``kind`` ("points" / "images") on ``device_type``, and why.

    The same choice for ``ddpm-studio train`` and the studio's training job, so both train at the same speed
    (benchmarks/RESULTS.md, "The studio's cost"): ``requested`` when given; one thread for points on the CPU
    (a points step is ~40 small ops on (256, 128) tensors: a second thread costs more in hand-offs than it
    computes, and on a busy machine OpenMP's spin-waits make it far worse: 165 steps/s on one thread against 93
    on two on a 2-core machine, and 5 with another job running); otherwise the free cores (:func:`free_cores`).
    """
    if requested:
        return ThreadChoice(int(requested), "--threads")
    if kind == "points" and device_type == "cpu":
        return ThreadChoice(1, "2-D points train fastest on one; --threads to change")
    return free_cores()
