"""How many CPU threads a headless run gives torch: the cores nobody else is using.

torch starts one intra-op thread per core. On a shared machine (a course server, a laptop running the studio beside
a CLI run) those threads spin-wait against the other jobs' and every job slows down: on a 2-core machine a points
run fell from 165 steps/s to 5 with another job running (benchmarks/RESULTS.md). The free cores are the cores this
process may run on less the cores other processes keep busy (measured for a moment where the OS says, else the
1-minute load average), rounded, and at least one.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

#: How long :func:`load_average` watches the machine where it can (seconds).
BUSY_WINDOW_S = 0.2


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
    """How many cores other work keeps busy: measured over :data:`BUSY_WINDOW_S` on Linux, this process's own CPU
    time taken out; elsewhere the 1-minute load average; None where the OS has neither (Windows).

    The load average counts this process too, and it forgets slowly: a studio or a benchmark that trained a minute
    ago reads 1.0 on its own and would give its next image run one core of two. What the cores do now, less what
    this process did meanwhile, is the load of the others.
    """
    busy = _others_busy(BUSY_WINDOW_S)
    if busy is not None:
        return busy
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _cpu_jiffies() -> tuple[int, int] | None:
    """(busy, total) clock ticks of all cores since boot from /proc/stat; None without it."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    if len(fields) < 8:
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = fields  # steal: a VM's cores taken by its host
    total = user + nice + system + idle + iowait + irq + softirq + steal
    return total - idle - iowait, total


def _others_busy(window_s: float) -> float | None:
    """Cores busy with other processes over the next ``window_s`` seconds (Linux), None where unknown."""
    start = _cpu_jiffies()
    if start is None:
        return None
    own_start, wall_start = time.process_time(), time.monotonic()
    time.sleep(window_s)
    end = _cpu_jiffies()
    own, wall = time.process_time() - own_start, time.monotonic() - wall_start
    if end is None or wall <= 0:
        return None
    try:
        ticks = os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        ticks = 100
    busy = (end[0] - start[0]) / ticks
    return max(0.0, busy - own) / wall


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
