"""What every command of the CLI shares: the one-line error, the progress bar, argument types and the table that
applies flags to a config.

The command modules import only this one (never the package or one another), so the CLI has no import cycle.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterable
from typing import TextIO

# The parsers read their lists and defaults from torch-free modules only (the ground floor's choices and catalog,
# core/analysis/defaults.py, core/compare/settings.py), so --help and argument errors answer without torch, numpy
# or the rest of the core (issue 32); each command imports the core inside its run().
from ddpm_studio.core import choices

EXIT_USAGE = 2


class CliError(Exception):
    """A problem to report in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line and exit status 2 (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{self.prog}: {message} (see --help)")


def report_errors(command) -> int:
    """Run ``command()`` and turn every user error into one ``error: ...`` line on stderr and exit status 2.

    ``--help`` / ``--version`` (argparse's SystemExit) return their own status.
    """
    try:
        return command()
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0) if isinstance(exc.code, int) else 0
    except CliError as exc:  # every argument error: answered before any core module is imported
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        # The core's error types are imported only once something failed, so that --help and an argument error
        # never load torch (issue 32); an error of one of them comes from a command that has imported the core.
        from ddpm_studio.core.config import ConfigError
        from ddpm_studio.core.data.errors import DataError
        from ddpm_studio.core.io.runs import RunError
        from ddpm_studio.core.training.checkpoints import CheckpointWriteError
        from ddpm_studio.core.training.trainer import TrainingDiverged

        # CheckpointWriteError is an OSError that words itself, so it is matched before OSError; the ValueErrors
        # are bad settings caught at the core's API boundary
        if isinstance(exc, (DataError, RunError, ConfigError, TrainingDiverged, CheckpointWriteError, ValueError)):
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, OSError):
            print(f"error: {exc.strerror or exc}{': ' + str(exc.filename) if exc.filename else ''}",
                  file=sys.stderr)
            return EXIT_USAGE
        raise


class _NoteHandler(logging.Handler):
    """Writes a log record as a "note: ..." line to the current ``sys.stderr`` (looked up at each record)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"note: {self.format(record)}\n")
        except Exception:
            self.handleError(record)


def show_library_warnings() -> None:
    """The core's warnings (e.g. an image folder's unreadable files, by name) as "note:" lines on stderr.

    The core logs them once; the CLI shows that line and adds none of its own, so each note appears once.
    """
    logger = logging.getLogger("ddpm_studio")
    if not any(isinstance(handler, _NoteHandler) for handler in logger.handlers):
        logger.addHandler(_NoteHandler(logging.WARNING))


# ---------------------------------------------------------------------------- flags -> config
#: One row of a flag table: (argparse dest, config section, field name in that section).
FlagRow = tuple[str, str, str]


def apply_flags(config, args: argparse.Namespace, table: Iterable[FlagRow]) -> None:
    """Set ``config.<section>.<field>`` from each flag of ``table`` that was given (not None); others keep the
    config's value. The one place a command's flags reach a :class:`~ddpm_studio.core.config.RunConfig`."""
    for flag, section, name in table:
        value = getattr(args, flag)
        if value is not None:
            setattr(getattr(config, section), name, value)


def check_data_shape(dataset, pipeline) -> None:
    """Refuse a run whose data set no longer has the shape its checkpoint was trained on."""
    if tuple(dataset.data_shape) != tuple(pipeline.data_shape):
        raise CliError(
            f"the run's data set now has shape {dataset.data_shape}, its checkpoint {pipeline.data_shape}: the data "
            "changed since training"
        )


def sampler_epilog() -> str:
    """What each sampling method and spacing is, for ``--help``."""
    lines = ["methods:", *choices.help_lines(choices.METHODS), "spacings:", *choices.help_lines(choices.SPACINGS),
             "flow runs (--process flow) sample with:", *choices.help_lines(choices.FLOW_METHODS),
             "on the time grids:", *choices.help_lines(choices.FLOW_SPACINGS)]
    return "\n".join(lines)


#: every sampler name a command offers: DDPM's, then the flow's that DDPM lacks (the run decides which apply)
ALL_METHODS = tuple(dict.fromkeys(choices.names(choices.METHODS) + choices.names(choices.FLOW_METHODS)))
ALL_SPACINGS = tuple(dict.fromkeys(choices.names(choices.SPACINGS) + choices.names(choices.FLOW_SPACINGS)))


def resolve_sampler(pipeline, method: str | None, steps: int | None, spacing: str | None) -> tuple[str, int, str]:
    """(method, network evaluations, spacing) for ``pipeline``'s process, defaults filled in, or a CliError that
    names the samplers the run's process has (a flow sampler for a DDPM run, or the reverse)."""
    if pipeline.is_flow:
        from ddpm_studio.core.sampling import DEFAULT_FLOW_STEPS

        methods, spacings, what = choices.names(choices.FLOW_METHODS), choices.names(choices.FLOW_SPACINGS), "flow"
        method, steps, spacing = method or "euler", steps or DEFAULT_FLOW_STEPS, spacing or "linspace"
    else:
        methods, spacings, what = choices.names(choices.METHODS), choices.names(choices.SPACINGS), "DDPM"
        method, steps, spacing = method or "ancestral", steps or pipeline.diffusion.num_timesteps, spacing or "linspace"
    if method not in methods:
        raise CliError(f"--method {method}: this is a {what} run, which samples with {', '.join(methods)}")
    if spacing not in spacings:
        raise CliError(f"--spacing {spacing}: this is a {what} run, whose grids are {', '.join(spacings)}")
    if not pipeline.is_flow:
        from ddpm_studio.core.sampling import check_num_steps

        try:
            check_num_steps(method, pipeline.diffusion.num_timesteps, steps)
        except ValueError as exc:
            raise CliError(f"--steps {steps}: {exc}") from None
    return method, steps, spacing


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
def _positive_int(text: str, expected: str = "a positive integer") -> int:
    """ "12" -> 12; anything that is not an integer >= 1 is refused, naming what was ``expected``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _int_list(text: str) -> list[int]:
    """ "10,20,50" -> [10, 20, 50], each a positive integer."""
    parts = [part.strip() for part in text.split(",")]
    values = [_positive_int(part, "comma-separated positive integers") for part in parts if part]
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number, e.g. 10,20,50")
    return values


def _method_list(text: str) -> list[str]:
    """ "ancestral,ddim" -> ["ancestral", "ddim"], each one of the sampling methods."""
    known = choices.names(choices.METHODS)
    methods = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [m for m in methods if m not in known]
    if not methods or unknown:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(known)}, got {text!r}")
    return methods


def _settings_list(text: str) -> list:
    """ "eps/simple,learned/hybrid" -> the comparison's settings (core.compare.parse_settings)."""
    from ddpm_studio.core.compare.settings import parse_settings  # torch-free: no sampler or trainer behind it

    try:
        return parse_settings(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
