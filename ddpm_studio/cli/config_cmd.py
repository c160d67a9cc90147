"""``ddpm-studio config RUN``: print a run's settings (``--diff RUN2``: only the keys whose values differ)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``config`` to the ``ddpm-studio`` subparsers (made with ``parser_class=_Parser``)."""
    config = sub.add_parser(
        "config",
        help="print a run's config (or how two runs' configs differ)",
        description="Print the settings of a run folder (its config.json) or of a .json / .toml config file, as "
        "JSON; with --diff, one line per key whose value differs: 'section.key: A -> B'. Any of them can start "
        "a new run: ddpm-studio train --config RUN --out NEW [--set section.key=value ...].",
    )
    config.add_argument("run", type=Path, help="a run folder, its config.json, or a .json / .toml config file")
    config.add_argument("--diff", type=Path, metavar="RUN2", help="show only the keys whose values differ from RUN2's")


def run(args: argparse.Namespace) -> int:
    """Print the config (or the differences); 0 either way, 2 for a file that is not a config."""
    from ddpm_studio.core.config_files import config_diff, read_config_file

    first = read_config_file(args.run)
    if args.diff is None:
        print(json.dumps(first, indent=2))
        return 0
    differences = config_diff(first, read_config_file(args.diff))
    for key, a, b in differences:
        print(f"{key}: {json.dumps(a)} -> {json.dumps(b)}")
    if not differences:
        print("the configs are the same")
    return 0
