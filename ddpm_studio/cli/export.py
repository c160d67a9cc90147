"""``ddpm-studio export``: a run's schedule for diffusers users (``--diffusers-scheduler DIR``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``export`` to the ``ddpm-studio`` subparsers (made with ``parser_class=_Parser``)."""
    export = sub.add_parser(
        "export",
        help="export a run's schedule for other tools (diffusers)",
        description="Write a run's process in another tool's format. --diffusers-scheduler DIR writes "
        "DIR/scheduler_config.json, which diffusers' DDPMScheduler.from_pretrained(DIR) reads: the run's beta "
        "schedule and T, what its network predicts (prediction_type), its variance (variance_type) and its "
        "x0 clipping (clip_sample); for a flow run (rectified flow, a velocity network) a "
        "FlowMatchEulerDiscreteScheduler config instead. Only config.json is read; diffusers is not needed.",
    )
    export.add_argument("run_dir", type=Path, help="a run folder written by train (or the studio)")
    export.add_argument("--diffusers-scheduler", type=Path, metavar="DIR", required=True,
                        help="folder to write scheduler_config.json into (created if needed)")


def run(args: argparse.Namespace) -> int:
    """Write the asked-for files; one line on stderr says where."""
    from ddpm_studio.core.app.diffusers_import import write_scheduler_config

    written = write_scheduler_config(args.run_dir, args.diffusers_scheduler)
    print(f"wrote {written}", file=sys.stderr)
    return 0
