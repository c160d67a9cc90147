"""``train --max-time DURATION``: stop cleanly before a cluster job's time limit.

    deadline = Deadline(parse_duration("3h50m"))    # 13,800 s from now
    for event in trainer.train():
        deadline.check(trainer.request_stop)          # past it: the trainer stops at this step boundary

A stop by the deadline is a stop like Ctrl-C's (checkpoint at the step, ``--resume`` continues exactly) but exits
0: the job did what it was asked, and a requeued job resumes. Torch-free, so ``train --help`` stays light.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str) -> float:
    """ "3h50m" -> 13800.0, "90s" / "90" -> 90.0, "1d2h", "1.5h", "45m"; the units d, h, m, s in that order.

    Raises:
        argparse.ArgumentTypeError: anything else, or no time at all.
    """
    cleaned = text.strip().lower().replace(" ", "")
    try:
        seconds = float(cleaned)  # a bare number is seconds (SLURM's --time reads minutes; say it with a unit)
    except ValueError:
        match = _DURATION.fullmatch(cleaned)
        if not cleaned or match is None:
            raise argparse.ArgumentTypeError(f"expected a duration such as 3h50m, 45m or 90s, got {text!r}") from None
        seconds = sum(float(amount) * _UNITS[unit] for amount, unit in zip(match.groups(), _UNITS) if amount)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"expected a positive duration such as 3h50m, got {text!r}")
    return seconds


class Deadline:
    """A point in time (``seconds`` from now; None: never) at which training is asked to stop, once."""

    def __init__(self, seconds: float | None) -> None:
        self._at = None if seconds is None else time.monotonic() + seconds
        self.reached = False

    def check(self, request_stop) -> None:
        """Call ``request_stop()`` the first time this is called past the deadline."""
        if self._at is not None and not self.reached and time.monotonic() >= self._at:
            self.reached = True
            request_stop()


def stopped_line(seconds: float, step: int, out: Path) -> str:
    """The one line a run stopped by its deadline prints."""
    from ddpm_studio.core.io.runs import checkpoint_path

    return (f"stopped at step {step}: --max-time {format_duration(seconds)} reached; saved "
            f"{checkpoint_path(out, step)}: continue with ddpm-studio train --out {out} --resume")


def format_duration(seconds: float) -> str:
    """13800 -> "3h50m", 90 -> "1m30s"."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value) or "0s"
