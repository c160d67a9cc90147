"""Entry point of the ``ddpm-studio`` command and of ``python -m ddpm_studio``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """With no arguments, open the studio; otherwise run a headless subcommand (see ``--help``)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("gui", "studio"):
        from ddpm_studio.gui.app import run_app

        return run_app(args[1:] if args else [])
    from ddpm_studio.cli import main as run_cli

    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
