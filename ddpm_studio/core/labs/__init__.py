"""Labs: a paper's claim, reproduced at a scale this machine can run, ending in a verdict (issue 29).

Each lab is one module of this package holding a declarative :class:`~.recipe.LabRecipe` (``RECIPE``) and the
experiment it runs through the project's own trainer, samplers and scorers; :func:`~.runner.iter_lab` runs one
into a folder with ``report.json``, ``report.md`` and PNG plots. The names below are the CLI names.

Importing this package, and listing the recipes, loads neither torch nor numpy (the lab modules import the core
they drive inside their experiments), so ``ddpm-studio lab --list`` answers at once.
"""

from __future__ import annotations

import importlib

from ddpm_studio.core.labs.recipe import LabRecipe

#: CLI name -> module of this package, in the order ``lab --list`` prints them.
LAB_MODULES: dict[str, str] = {
    "ho2020-table2": "ho2020_table2",
    "nichol2021-variance": "nichol2021_variance",
    "song2021-ddim": "song2021_ddim",
    "solvers-nfe": "solvers_nfe",
    "cfg-tradeoff": "cfg_tradeoff",
    "kadkhodaie2024-twins": "kadkhodaie2024_twins",
    "flow-vs-ddpm": "flow_vs_ddpm",
}


class UnknownLab(ValueError):
    """A lab name that is not in :data:`LAB_MODULES`; the message lists the names."""


def lab_names() -> list[str]:
    return list(LAB_MODULES)


def get_recipe(name: str) -> LabRecipe:
    """The recipe of lab ``name`` (:class:`UnknownLab` listing the names otherwise)."""
    module = LAB_MODULES.get(name)
    if module is None:
        raise UnknownLab(f"unknown lab {name!r}; the labs are: {', '.join(LAB_MODULES)}")
    return importlib.import_module(f"{__name__}.{module}").RECIPE


def all_recipes() -> list[LabRecipe]:
    return [get_recipe(name) for name in LAB_MODULES]
