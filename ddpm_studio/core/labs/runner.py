"""Running a lab into its folder: the folder's rules, the experiment, the verdict and the report.

:func:`iter_lab` is a generator (the CLI drives it with a progress bar, the studio on a job thread): it yields
:class:`~.context.LabProgress` and, last, a :class:`LabFinished`. Stop pulling to cancel; the runs already trained
stay in ``OUT/runs/`` and ``--resume`` (``resume=True``) reuses them.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ddpm_studio.core.io.runs import RunError, atomic_write_text
from ddpm_studio.core.labs import get_recipe
from ddpm_studio.core.labs.context import RUNS_FOLDER, LabContext, LabProgress
from ddpm_studio.core.labs.recipe import BUDGETS
from ddpm_studio.core.labs.report import REPORT_JSON, REPORT_MD, build_report, write_report
from ddpm_studio.core.labs.rules import combine

#: Written when a lab starts, so that a folder knows which lab (and budget) it belongs to before any report exists.
LAB_MARKER = "lab.json"


class LabFolderError(RunError):
    """An out folder a lab may not write into (another lab's, or this lab's runs without --resume / --force)."""


@dataclass(frozen=True)
class LabFinished:
    """The end of a lab: its report (report.json's content) and the files written."""

    report: dict[str, Any]
    json_path: Path
    markdown_path: Path


def folder_lab(out_dir: Path) -> str | None:
    """The lab a folder belongs to (from its report.json or lab.json), or None for a folder of no lab."""
    for name in (REPORT_JSON, LAB_MARKER):
        try:
            data = json.loads((out_dir / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("lab"), str):
            return data["lab"]
    return None


def prepare_folder(out_dir: Path, name: str, resume: bool, force: bool) -> None:
    """Check (and with ``force`` clear) the out folder for lab ``name``.

    Refused (LabFolderError, one sentence saying what to do): a file in the way; a folder holding another lab's
    report, unless ``resume`` or ``force``; a folder holding this lab's runs or report, unless ``resume`` or
    ``force``; a non-empty folder that belongs to no lab (nothing there is ever deleted). ``force`` removes what
    a lab wrote (its runs, report and plots) and starts over.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise LabFolderError(f"--out {out_dir} is a file, not a folder")
    if not out_dir.exists():
        return
    owner = folder_lab(out_dir)
    if owner is None:
        if any(out_dir.iterdir()):
            raise LabFolderError(f"{out_dir} is not empty and holds no lab; choose a new or empty --out folder")
        return
    if owner != name and not (resume or force):
        raise LabFolderError(
            f"{out_dir} holds the report of lab {owner!r}, not {name!r}; choose another --out folder, or pass "
            "--force to replace it"
        )
    if owner == name and not (resume or force):
        raise LabFolderError(
            f"{out_dir} already holds lab {name!r}; pass --resume to reuse its trained runs or --force to start over"
        )
    if force:
        shutil.rmtree(out_dir / RUNS_FOLDER, ignore_errors=True)
        for path in out_dir.iterdir():
            if path.name in (REPORT_JSON, REPORT_MD, LAB_MARKER) or path.suffix in (".png", ".safetensors"):
                if path.is_file():
                    path.unlink()


def iter_lab(
    name: str,
    budget: str = "quick",
    out_dir: str | Path = "lab",
    resume: bool = False,
    force: bool = False,
    device: str = "auto",
    settings: Mapping[str, Any] | None = None,
    seeds: tuple[int, ...] | None = None,
) -> Iterator[LabProgress | LabFinished]:
    """Run lab ``name`` with its ``budget`` ("quick" or "full") into ``out_dir``.

    Args:
        settings: replace some of the budget's knobs (tests use tiny ones; the report records what ran).
        seeds: replace the budget's seeds.

    Raises:
        UnknownLab: the name is not a lab. LabFolderError: see :func:`prepare_folder`. ValueError: a bad budget.
    """
    recipe = get_recipe(name)
    chosen = recipe.budget(budget)
    if budget not in BUDGETS:
        raise ValueError(f"unknown budget {budget!r}")
    if settings:
        unknown = sorted(set(settings) - set(chosen.settings))
        if unknown:
            raise ValueError(f"lab {name} has no setting {', '.join(unknown)}; it has {', '.join(chosen.settings)}")
        chosen = replace(chosen, settings={**chosen.settings, **settings})
    if seeds is not None:
        chosen = replace(chosen, seeds=tuple(seeds))
    out = Path(out_dir)
    prepare_folder(out, name, resume, force)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / LAB_MARKER, json.dumps({"lab": name, "budget": budget}) + "\n")
    context = LabContext(recipe, budget, chosen, out, resume=resume, device=device)
    started = time.perf_counter()
    yield context.progress("start")
    yield from recipe.experiment(context)
    per_seed = context.per_seed()
    checks = [rule.judge(per_seed) for rule in recipe.rules]
    verdict, reason = combine(checks)
    setting = {"seeds": list(chosen.seeds), **dict(chosen.settings)}
    report = build_report(
        recipe, budget, setting, context.measurements, checks, verdict, reason, context.notes, context.plots,
        context.tables, time.perf_counter() - started, datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    json_path, md_path = write_report(out, report)
    yield LabFinished(report, json_path, md_path)
