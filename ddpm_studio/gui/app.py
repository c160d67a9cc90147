"""Start the studio: ``ddpm-studio``, ``ddpm-studio gui [--data NAME] [--run DIR] [--follow DIR]``,
``ddpm-studio follow RUN``, ``ddpm-studio FOLDER`` or ``python -m ddpm_studio``."""

from __future__ import annotations

import argparse
import logging
import sys

from PySide6.QtWidgets import QApplication


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ddpm-studio gui",
        description="Open DDPM Studio: train a diffusion model and watch the reverse process.",
    )
    parser.add_argument("--data", metavar="NAME_OR_PATH",
                        help="a built-in data set (moons, ring, digits, shapes, ...) or a file / folder to load")
    parser.add_argument("--run", metavar="DIR", help="a run folder to open (written by the CLI or the studio), or "
                        "a diffusers model folder (save_pretrained)")
    parser.add_argument("--follow", metavar="DIR", help="a run folder another process is training, to follow live")
    return parser


def run_app(argv: list[str]) -> int:
    """Parse the studio's arguments, show the window and run the event loop; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help or a bad argument: argparse has printed why
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("DDPM Studio")
    app.setApplicationName("ddpm-studio")
    app.setApplicationDisplayName("DDPM Studio")

    from ddpm_studio.gui import collector

    collector.install()  # once, before any job: only the GUI thread ever collects garbage

    from ddpm_studio.gui.window.main_window import MainWindow

    window = MainWindow()
    window.show()
    if args.data:
        window.choose_data(args.data)
    if args.run:
        window.open_run(args.run)
    if args.follow:
        window.following.follow(args.follow)
    return int(app.exec())
