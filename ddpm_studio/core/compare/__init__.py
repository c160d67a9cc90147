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
``from ddpm_studio.core.compare import ...`` keeps working.
"""

from ddpm_studio.core.compare.events import CompareEvent, CompareFinished, CompareProgress, CompareRow
from ddpm_studio.core.compare.report import (
    CSV_HEADER,
    CSV_NAME,
    MARKDOWN_NAME,
    TableDescription,
    bound_unit,
    far_off_text,
    markdown_table,
    table_description,
    write_tables,
)
from ddpm_studio.core.compare.run import EVAL_EXAMPLES, SAMPLES_PNG, iter_compare
from ddpm_studio.core.compare.settings import (
    DEFAULT_SETTINGS,
    EMA_HORIZON_FRACTION,
    TABLE2_MIN_STEPS,
    Setting,
    budget_warning,
    compare_config,
    parse_setting,
    parse_settings,
    setting_config,
)

#: The old private name of :func:`setting_config`.
_setting_config = setting_config

__all__ = [
    "CSV_HEADER",
    "CSV_NAME",
    "DEFAULT_SETTINGS",
    "EMA_HORIZON_FRACTION",
    "EVAL_EXAMPLES",
    "MARKDOWN_NAME",
    "SAMPLES_PNG",
    "TABLE2_MIN_STEPS",
    "CompareEvent",
    "CompareFinished",
    "CompareProgress",
    "CompareRow",
    "Setting",
    "TableDescription",
    "bound_unit",
    "budget_warning",
    "compare_config",
    "far_off_text",
    "iter_compare",
    "markdown_table",
    "parse_setting",
    "parse_settings",
    "setting_config",
    "table_description",
    "write_tables",
]
