"""Entry point of the ``ddpm-studio`` command and of ``python -m ddpm_studio``."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    """With no arguments, open the studio; otherwise run a headless subcommand (see ``--help``)."""
    args = sys.argv[1:] if argv is None else argv
    args = studio_arguments(args)
    asks_help = bool(args) and args[0] == "gui" and any(a in ("-h", "--help") for a in args[1:])
    if (not args or args[0] in ("gui", "studio")) and not asks_help:  # the studio's help is the CLI's (no Qt)
        from ddpm_studio.gui.app import run_app

        return run_app(args[1:] if args else [])
    from ddpm_studio.cli import main as run_cli

    return run_cli(args)


def studio_arguments(args: list[str]) -> list[str]:
    """``follow RUN`` -> the studio following RUN; a lone folder -> the studio on it: a DDPM Studio run folder is
    followed (live or finished, its curve and checkpoints appear), a diffusers model folder is opened."""
    if len(args) == 2 and args[0] == "follow" and not args[1].startswith("-"):
        return ["gui", "--follow", args[1]]
    if len(args) == 1 and not args[0].startswith("-") and os.path.isdir(args[0]):
        from ddpm_studio.core.app.diffusers_import import is_diffusers_folder

        return ["gui", "--run" if is_diffusers_folder(args[0]) else "--follow", args[0]]
    return args


if __name__ == "__main__":
    sys.exit(main())
