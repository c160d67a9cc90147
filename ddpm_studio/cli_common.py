"""What every command-line module shares: the one-line error, the progress bar and the argument parsers.

Its own module so that cli.py, cli_eval.py and cli_ideal.py can all import it without importing one another.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO


class CliError(Exception):
    """A problem to report in one line with exit status 2."""


# ---------------------------------------------------------------------------- progress
class ProgressBar:
    """A one-line text progress bar on stderr, redrawn at most ~10 times a second."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = max(1, total)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self._last_draw = 0.0
        self._start = time.perf_counter()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_done = -1

    def update(self, done: int, info: str = "", force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        # on a terminal redraw ~10x a second; in a log file write a line every ~5 s
        interval = 0.1 if self._tty else 5.0
        finished = done >= self.total and self._last_done < self.total
        if done == self._last_done or (not force and not finished and now - self._last_draw < interval):
            return
        self._last_draw = now
        self._last_done = done
        frac = min(1.0, done / self.total)
        width = 28
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        elapsed = now - self._start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        line = f"{self.label} [{bar}] {done}/{self.total} {info} eta {_duration(eta)}"
        self.stream.write(("\r" + line + "\x1b[K") if self._tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


# ---------------------------------------------------------------------------- parsers
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
