"""The paths job (Trajectory → Paths…): each run's ODE paths x_1 -> x_0 on the linear clock, with its straightness.

For the paths view of issue 28: DDPM's probability-flow ODE, a flow and a reflowed flow, side by side on one data
set, the picture that shows why a reflowed flow needs one or two steps (MATH.md M49, M55, M56). The work is the
core's (:func:`~ddpm_studio.core.analysis.straightness.linear_clock_paths`); this job only loads the runs and turns
the paths into data coordinates for the dialog.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ddpm_studio.core.analysis.straightness import linear_clock_paths, run_straightness
from ddpm_studio.core.pipeline import DiffusionPipeline, load_pipeline
from ddpm_studio.gui.display import PathPicture

#: Paths drawn per panel (lines), and the paths straightness is measured on (M55), and the ODE's steps.
PATHS_DRAWN, PATHS_MEASURED, PATH_STEPS = 48, 1000, 50


def describe(pipeline: DiffusionPipeline) -> str:
    """"DDPM (ODE)", "flow" or "flow after reflow", and the run's step."""
    if not pipeline.is_flow:
        kind = "DDPM (ODE)"
    else:
        kind = "flow after reflow" if pipeline.config.process.couplings else "flow"
    return f"{kind}, step {pipeline.step:,}"


def paths_job(sources: list[tuple[int, Callable[[], DiffusionPipeline] | str]], seed: int = 0, *,
              stop: threading.Event):
    """A :class:`PathPicture` per (slot, source): a pipeline factory (the open run) or a run folder's path."""
    for slot, source in sources:
        pipeline = load_pipeline(source) if isinstance(source, str) else source()
        if pipeline.kind != "points":
            raise ValueError("the paths view draws 2-D runs: open or choose runs of 2-D points")
        states, _, method = linear_clock_paths(pipeline, PATHS_DRAWN, PATH_STEPS, seed)
        drawn = np.stack([pipeline.to_data_space(state).numpy().copy() for state in states])
        value = run_straightness(pipeline, PATHS_MEASURED, seed=seed).value
        yield PathPicture(slot, describe(pipeline), drawn, value, method)
        if stop.is_set():
            return
