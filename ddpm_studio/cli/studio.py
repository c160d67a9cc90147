"""``ddpm-studio gui`` and ``ddpm-studio follow RUN`` in the command list of ``--help``.

The studio is opened by the ``ddpm-studio`` entry point (:mod:`ddpm_studio.__main__`) before this parser sees the
arguments, so the CLI never imports Qt; these parsers exist so that ``--help`` lists the two commands and
``ddpm-studio gui --help`` / ``follow --help`` say what they take. Called through :func:`ddpm_studio.cli.run_cli`
(a notebook, a test), they answer in one line where to open the studio from.
"""

from __future__ import annotations

import argparse

from ddpm_studio.cli.common import CliError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    gui = subparsers.add_parser(
        "gui", help="open the studio (the default with no command)",
        description="Open the DDPM Studio window. With no command at all, ddpm-studio does the same.")
    gui.add_argument("--data", metavar="NAME_OR_PATH", help="a built-in data set or a data file / folder to select")
    gui.add_argument("--run", metavar="DIR", help="a run folder to open (written by the CLI or the studio), or a "
                     "diffusers model folder")
    gui.add_argument("--follow", metavar="DIR", help="a run folder another process is training, to follow live")
    follow = subparsers.add_parser(
        "follow", help="open the studio following a run folder that is training (loss, previews, checkpoints live)",
        description="Open the studio on RUN and follow it as another process trains it: the loss curve, previews "
                    "and checkpoints appear as they are written. Same as: ddpm-studio gui --follow RUN.")
    follow.add_argument("run_dir", metavar="RUN", help="the run folder (ddpm-studio train --out RUN)")


def run(args: argparse.Namespace) -> int:
    raise CliError(f"'{args.command}' opens the studio window: run it from the shell (ddpm-studio {args.command} ...)"
                   ", not through run_cli")
