"""A lab as data: the paper, its claim and numbers, the scaled-down setting, the metric and the verdict rules.

A recipe is declared once per lab module (:mod:`ddpm_studio.core.labs`), next to the experiment that measures it.
It holds no torch objects, so the CLI lists the labs (``ddpm-studio lab --list``) without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ddpm_studio.core.labs.rules import Rule

BUDGETS = ("quick", "full")


@dataclass(frozen=True)
class Budget:
    """One budget of a lab: the seeds, the lab's own knobs (data, steps, sample counts ...) and what it costs.

    Attributes:
        seeds: training seeds; each seeds a data split, initial weights, batches and sampling noise.
        settings: the lab's knobs, read by its experiment (``ctx.setting("steps")``) and written to report.json.
        minutes: the wall time it took on the development machine (2 CPU cores), as the list shows it.
    """

    seeds: tuple[int, ...]
    settings: Mapping[str, Any]
    minutes: float


#: An experiment: a generator over a :class:`~ddpm_studio.core.labs.context.LabContext` that yields its
#: ``LabProgress`` records (typed loosely here: the context imports this module, and this module stays torch-free).
Experiment = Callable[[Any], Generator[Any, None, None]]


@dataclass(frozen=True)
class LabRecipe:
    """A paper's claim, the experiment that tests it at desk scale and the rules that decide, fixed beforehand.

    Attributes:
        name: the CLI name (``ddpm-studio lab NAME``).
        paper: author, year and title.
        source: the table, figure or section the claim comes from.
        claim: the claim in one sentence.
        paper_numbers: the paper's own numbers for it, in words.
        metric: what is measured and how it is read (lower / higher is better).
        rules: the verdict rules (:mod:`.rules`); the lab holds only if all of them hold.
        quick, full: the two budgets.
        experiment: a generator that trains, samples and scores through the project's code, yields progress and
            records per-seed measurements and plots on the context.
        notes: what to keep in mind when reading the verdict (scale, data), printed in report.md.
    """

    name: str
    paper: str
    source: str
    claim: str
    paper_numbers: str
    metric: str
    rules: tuple[Rule, ...]
    quick: Budget
    full: Budget
    experiment: Experiment
    notes: tuple[str, ...] = field(default_factory=tuple)

    def budget(self, name: str) -> Budget:
        """The "quick" or "full" budget."""
        if name not in BUDGETS:
            raise ValueError(f"unknown budget {name!r}: quick or full")
        return self.quick if name == "quick" else self.full

    def line(self) -> str:
        """One line for ``lab --list``: name, paper and claim."""
        return f"{self.name}: {self.paper}, {self.source}. {self.claim}"
