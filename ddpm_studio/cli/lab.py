"""``ddpm-studio lab NAME --quick --out DIR``: reproduce a paper's claim at desk scale and end in a verdict.

``lab --list`` prints the labs. The experiments live in :mod:`ddpm_studio.core.labs`; this module parses flags,
drives :func:`~ddpm_studio.core.labs.runner.iter_lab` with one progress bar (stage and ETA) and prints the verdict.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ddpm_studio.cli.common import CliError, ProgressBar, _positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lab`` to the ``ddpm-studio`` subparsers."""
    from ddpm_studio.core.labs import LAB_MODULES

    lab = subparsers.add_parser(
        "lab",
        help="reproduce a paper's claim at desk scale: runs, measurements and a verdict",
        description="Run a lab: a claim from a paper, its experiment scaled down to this machine, and a verdict "
        "(holds / does not hold / inconclusive) by a rule fixed before the run. Writes OUT/report.json, "
        "OUT/report.md, plots (PNG) and the trained runs (OUT/runs/).",
    )
    lab.add_argument("name", nargs="?", metavar="NAME", help=f"the lab: {', '.join(LAB_MODULES)}")
    lab.add_argument("--list", action="store_true", help="print each lab's name, paper and claim, and exit")
    budget = lab.add_mutually_exclusive_group()
    budget.add_argument("--quick", dest="budget", action="store_const", const="quick",
                        help="the quick budget: at most 10 minutes on 2 CPU cores (the default)")
    budget.add_argument("--full", dest="budget", action="store_const", const="full",
                        help="the budget that gives a firm answer (longer; resumable with --resume)")
    lab.add_argument("--out", type=Path, help="the lab's folder (default: labs/NAME)")
    lab.add_argument("--resume", action="store_true", help="reuse the runs already trained in OUT")
    lab.add_argument("--force", action="store_true", help="replace what OUT holds of a lab and start over")
    lab.add_argument("--device", default="auto", help="auto (CUDA > MPS > CPU), cpu, cuda, cuda:N or mps")
    lab.add_argument("--threads", type=_positive_int, help="CPU threads for torch (default: 1 for a lab on 2-D "
                     "points, whose small steps run fastest on one; the free cores for images)")
    lab.add_argument("--quiet", action="store_true", help="no progress bar")
    lab.set_defaults(budget="quick")


def _threads(args: argparse.Namespace) -> tuple[int, str]:
    """torch's CPU threads for the lab and why: as ``train`` chooses them, by the kind of the lab's data."""
    from ddpm_studio.core.catalog import BUILTIN_DATASETS
    from ddpm_studio.core.labs import get_recipe
    from ddpm_studio.core.threads import free_cores

    if args.threads:
        return args.threads, "--threads"
    data = get_recipe(args.name).budget(args.budget).settings.get("data")
    if BUILTIN_DATASETS.get(str(data)) == "points":
        return 1, "2-D points train fastest on one; --threads to change"
    choice = free_cores()
    return choice.threads, choice.reason


def _list() -> int:
    from ddpm_studio.core.labs import all_recipes

    for recipe in all_recipes():
        print(recipe.line())
    return 0


def run(args: argparse.Namespace) -> int:
    """List the labs, or run one with a progress bar and print its verdict; 0 when it finished."""
    from ddpm_studio.core.labs import LAB_MODULES

    if args.list:
        return _list()
    if args.name is None:
        raise CliError(f"name a lab (ddpm-studio lab --list shows them): {', '.join(LAB_MODULES)}")
    if args.name not in LAB_MODULES:
        raise CliError(f"unknown lab {args.name!r}; the labs are: {', '.join(LAB_MODULES)}")
    if args.resume and args.force:
        raise CliError("--resume reuses a lab's runs and --force deletes them: pass one of the two")
    out = args.out or Path("labs") / args.name
    import torch

    from ddpm_studio.core.labs.context import LabProgress
    from ddpm_studio.core.labs.runner import iter_lab

    threads, why = _threads(args)
    torch.set_num_threads(threads)
    header = f"{args.name}: {threads} torch thread{'s' if threads > 1 else ''} ({why}); out {out}"
    bar = ProgressBar(1000, f"{args.name} ({args.budget})", enabled=not args.quiet)
    finished = None
    try:
        for event in iter_lab(args.name, args.budget, out, resume=args.resume, force=args.force,
                              device=args.device):
            if header is not None:  # once the folder is accepted: a refusal stays one line
                if not args.quiet:
                    print(header, file=sys.stderr)
                header = None
            if isinstance(event, LabProgress):
                bar.update(int(event.overall * 1000), event.stage)
            else:
                finished = event
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted; the trained runs are kept in {out} (add --resume to continue)", file=sys.stderr)
        return 130
    bar.close()
    assert finished is not None
    report = finished.report
    print(f"{report['lab']}: {report['verdict'].upper()} ({report['budget']}, {report['seconds']:.0f} s)")
    print(f"claim: {report['claim']}")
    print(f"measured: {report['reason']}")
    print(f"wrote {finished.json_path} and {finished.markdown_path}", file=sys.stderr)
    return 0
