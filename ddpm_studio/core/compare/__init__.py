"""The desk version of Ho et al. 2020, Table 2: train several settings on the same data, seed and budget, then
tabulate final loss, bound, sample quality and wall time, with each run's samples.

One module per job:

- :mod:`~ddpm_studio.core.compare.settings`: the rows (:class:`Setting`, :func:`parse_settings`), the shared base
  config (:func:`compare_config`) and :func:`budget_warning`, which says when the step budget is below what
  reproduced Ho et al.'s ordering here (benchmarks/RESULTS.md).
- :mod:`~ddpm_studio.core.compare.run`: :func:`iter_compare`, the generator that trains, bounds, samples and scores
  every setting into ``out_dir/<folder>/``; :mod:`~ddpm_studio.core.compare.events`: what it yields.
- :mod:`~ddpm_studio.core.compare.report`: ``compare.csv`` and ``compare.md``, rewritten after every finished run,
  so a stopped comparison still leaves the rows it finished.

On 2-D data the score leaves out far-off samples and the tables count them beside it
(:mod:`ddpm_studio.core.scores.far_off`). Every name is re-exported here, so
``from ddpm_studio.core.compare import ...`` keeps working; they load on first use (PEP 562), so that importing
:mod:`.settings` alone (``ddpm-studio compare --help`` and its ``--settings`` check do) imports no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the submodule that defines it.
_PUBLIC = {
    **dict.fromkeys(("CompareEvent", "CompareFinished", "CompareProgress", "CompareRow"), ".events"),
    **dict.fromkeys(
        (
            "CSV_HEADER",
            "CSV_NAME",
            "MARKDOWN_NAME",
            "TableDescription",
            "bound_unit",
            "far_off_text",
            "markdown_table",
            "table_description",
            "write_tables",
        ),
        ".report",
    ),
    **dict.fromkeys(("SAMPLES_PNG", "iter_compare"), ".run"),
    **dict.fromkeys(
        (
            "DEFAULT_SETTINGS",
            "EMA_HORIZON_FRACTION",
            "EVAL_EXAMPLES",
            "TABLE2_MIN_STEPS",
            "Setting",
            "budget_warning",
            "compare_config",
            "parse_setting",
            "parse_settings",
            "setting_config",
        ),
        ".settings",
    ),
}
#: Old names -> the public name each now is (the old private name of :func:`setting_config`).
_OLD_NAMES = {"_setting_config": "setting_config"}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    public = _OLD_NAMES.get(name, name)
    module = _PUBLIC.get(public)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), public)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
