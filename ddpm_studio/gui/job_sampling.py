"""The sampling job: runs the reverse process and records every kept step compactly, with the forward comparison.

Yields positions in its :class:`TrajectoryStore`; the throttle (:func:`sampling_throttle`) keeps the latest and,
as it leaves the job's thread, copies that frame out of the store (which the job keeps writing) for the live
view. Returns the store (partial when stopped).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.forward_view import forward_source, forward_state
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.gui.display import reference_points, to_display
from ddpm_studio.gui.jobs import Throttle
from ddpm_studio.gui.trajectory_store import TrajectoryFrame, TrajectoryStore

METHOD_NAMES = {"ddim": "DDIM", "ancestral": "ancestral", "dpmpp_2m": "DPM-Solver++(2M)", "heun": "Heun",
                "dpmpp_2m_sde": "DPM-Solver++(2M) SDE"}


@dataclass(frozen=True)
class Kept:
    """A step the store kept, at ``position``."""

    store: TrajectoryStore
    position: int


def copy_frame(frame: TrajectoryFrame) -> TrajectoryFrame:
    return TrajectoryFrame(
        frame.position, frame.step, frame.num_steps, frame.t_fed, frame.t_state, frame.x.copy(),
        frame.x0_hat.copy(), None if frame.forward is None else frame.forward.copy(),
    )


def _latest_frame(items: list[Kept]) -> list[TrajectoryFrame]:
    return [copy_frame(item.store.frame(item.position)) for item in items]


def sampling_throttle() -> Throttle:
    """The latest frame, ~30 a second, copied as it leaves."""
    return Throttle(latest_only=True, prepare=_latest_frame)


def sample(pipeline: Callable[[], DiffusionPipeline], num_samples: int, num_steps: int, seed: int,
           dataset: DataSet | None, budget_bytes: int | None = None, *, stop: threading.Event,
           **method: Any):
    """The job: ``method`` holds the sampler's options (method, eta, ...) as :meth:`DiffusionPipeline.sample`."""
    pipeline_ = pipeline()
    source = forward_source(dataset, pipeline_.data_shape, num_samples, seed)
    store: TrajectoryStore | None = None
    last_frame = None
    for record in pipeline_.sample(num_samples, num_steps=num_steps, seed=seed, **method):
        if store is None:
            item_shape = ((num_samples, *pipeline_.data_shape[1:], pipeline_.data_shape[0])
                          if pipeline_.kind == "images" else (num_samples, *pipeline_.data_shape))
            extra = {} if budget_bytes is None else {"budget_bytes": budget_bytes}
            store = TrajectoryStore(pipeline_.kind, record.num_steps, item_shape, with_forward=source is not None,
                                    reference=reference_points(dataset), **extra)
            name = METHOD_NAMES.get(method.get("method", "ancestral"), method.get("method", "ancestral"))
            eta = f", η = {method.get('eta', 0.0):g}" if method.get("method") == "ddim" else ""
            store.caption = f"{name}, {record.num_steps} steps{eta}"
        if store.keeps(record.index):
            forward = None
            if source is not None:  # real data noised to the level the state sits at (M4)
                forward = to_display(pipeline_, forward_state(pipeline_.diffusion, *source, record.t_next))
            # the state's paper timestep: t_next is 0-based, and 0 means x_0 itself
            last_frame = store.append(record.index, record.t + 1, record.t_next + 1, to_display(pipeline_, record.x),
                                      to_display(pipeline_, record.x0_hat), forward)
            yield Kept(store, last_frame)
        if stop.is_set():
            break
    return store
