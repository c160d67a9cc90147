"""The headless command line: ``ddpm-studio train | sample | evaluate | compare | export | reflow | data | config``
(``--help`` on each).

One module per command (:mod:`.train`, :mod:`.sample`, :mod:`.evaluate` with :mod:`.sweep`, :mod:`.compare`,
:mod:`.export`, :mod:`.reflow`, :mod:`.data_cmd`, :mod:`.config_cmd`; the options of ``sample --ideal`` and ``evaluate
--memorization / --ode-likelihood`` in :mod:`.analyses`; those of ``train --conditional``, ``sample --class /
--guidance`` and ``evaluate --guidance-sweep`` in :mod:`.guidance`), each with ``add_parser(subparsers)`` and
``run(args)``, over :mod:`.common`. This package only assembles them; the command modules import :mod:`.common`,
never this package, so there is no import cycle.

Every user error (bad arguments, missing files, a folder that is not a run, a checkpoint from another model, a
diverged loss, a full disk) ends with ONE line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ddpm_studio.cli import compare, config_cmd, data_cmd, evaluate, export, lab, reflow, sample, studio, train
from ddpm_studio.cli.common import (
    EXIT_USAGE,
    CliError,
    ProgressBar,
    _Parser,
    report_errors,
    show_library_warnings,
)

__all__ = ["COMMANDS", "CliError", "ProgressBar", "add_commands", "build_parser", "main", "run_cli"]

#: Command name -> the function that runs its parsed arguments and returns the exit status.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": train.run,
    "sample": sample.run,
    "evaluate": evaluate.run,
    "compare": compare.run,
    "export": export.run,
    "reflow": reflow.run,
    "lab": lab.run,
    "data": data_cmd.run,
    "config": config_cmd.run,
    "gui": studio.run,
    "follow": studio.run,
}


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add every command to ``subparsers`` (made with ``parser_class=_Parser``, so that errors are one line)."""
    for module in (train, sample, evaluate, compare, export, reflow, lab, data_cmd, config_cmd, studio):
        module.add_parser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    """The ``ddpm-studio`` parser with every command."""
    from ddpm_studio import __version__

    parser = _Parser(
        prog="ddpm-studio",
        description="Train denoising diffusion models and sample them. With no command, opens the studio.",
    )
    parser.add_argument("--version", action="version", version=f"ddpm-studio {__version__}")
    add_commands(parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND"))
    return parser


def main(argv: list[str]) -> int:
    """Parse ``argv`` and run one command; user errors print one ``error:`` line and return 2."""
    show_library_warnings()

    def parse_and_run() -> int:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return COMMANDS[args.command](args)

    return report_errors(parse_and_run)


#: The name ``__main__`` and the tests have always called.
run_cli = main
