"""The sampling job: runs the reverse process and records every kept step compactly, with the forward comparison.

The trajectory opens with x_T itself, the pure noise at t = T before the first network evaluation
(:data:`~ddpm_studio.gui.trajectory_store.INITIAL_STEP`), so the slider's left end is the noise and its right end
the samples; every frame knows its abar_t (M3), and for points the store's view box is computed once, here, off the
GUI thread.

Yields positions in its :class:`TrajectoryStore`; the throttle (:func:`sampling_throttle`) keeps the latest and,
as it leaves the job's thread, copies that frame out of the store (which the job keeps writing) for the live
view. Returns the store (partial when stopped).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ddpm_studio.core import choices
from ddpm_studio.core.analysis.forward_view import forward_source, forward_state
from ddpm_studio.core.data import DataSet
from ddpm_studio.core.pipeline import DiffusionPipeline, ReverseProcess
from ddpm_studio.core.process.flow import FLOW_TICKS, clock_alpha_bar
from ddpm_studio.core.process.guidance import row_length
from ddpm_studio.core.scores.verdict import verdict_of
from ddpm_studio.gui.display import reference_points, to_display
from ddpm_studio.gui.jobs.runner import Throttle
from ddpm_studio.gui.trajectory_store import INITIAL_STEP, TrajectoryFrame, TrajectoryStore


@dataclass(frozen=True)
class Kept:
    """A step the store kept, at ``position``."""

    store: TrajectoryStore
    position: int


def copy_frame(frame: TrajectoryFrame) -> TrajectoryFrame:
    return TrajectoryFrame(
        frame.position, frame.step, frame.num_steps, frame.t_fed, frame.t_state, frame.x.copy(),
        frame.x0_hat.copy(), None if frame.forward is None else frame.forward.copy(), frame.alpha_bar,
    )


def _latest_frame(items: list[Kept]) -> list[TrajectoryFrame]:
    return [copy_frame(item.store.frame(item.position)) for item in items]


def sampling_throttle() -> Throttle:
    """The latest frame, ~30 a second, copied as it leaves."""
    return Throttle(latest_only=True, prepare=_latest_frame)


def sampling_caption(num_steps: int, method: str = "ancestral", eta: float = 0.0, spacing: str = "linspace",
                     labels: Any = None, guidance: float = 0.0, class_names: tuple[str, ...] | None = None,
                     flow: bool = False, **_options: Any) -> str:
    """"DPM-Solver++(2M), 20 steps, Karras spacing": the method's label, its network evaluations, DDIM's eta and a
    spacing other than today's linspace; for a conditional model the class ("class 7", "class 0: upper" where the
    data names its classes, or "a row per class") and the guidance scale w (M34)."""
    methods, spacings = ((choices.FLOW_METHODS, choices.FLOW_SPACINGS) if flow else
                         (choices.METHODS, choices.SPACINGS))
    choice = choices.find(methods, method)
    name = method if choice is None else choice.label
    if flow:
        name = f"flow, {name}"
    eta_text = f", η = {eta:g}" if method == "ddim" else ""
    spaced = choices.find(spacings, spacing)
    spacing_text = "" if spacing == "linspace" or spaced is None else f", {spaced.label} spacing"
    class_text = ""
    if labels is not None:
        asked = sorted({int(label) for label in labels})
        class_text = f", class {asked[0]}" if len(asked) == 1 else ", a row per class"
        one = asked[0] if len(asked) == 1 and class_names and asked[0] < len(class_names) else None
        if one is not None and class_names[one] != str(one):  # digits' names are their numbers: no "class 5: 5"
            class_text += f": {class_names[one]}"
        class_text += f", w = {guidance:g}"
    return f"{name}, {num_steps} steps{eta_text}{spacing_text}{class_text}"


def sample(pipeline: Callable[[], DiffusionPipeline], num_samples: int, num_steps: int, seed: int,
           dataset: DataSet | None, budget_bytes: int | None = None, *, stop: threading.Event,
           **method: Any):
    """The job: ``method`` holds the sampler's options (method, eta, spacing) as :meth:`DiffusionPipeline.sample`;
    ``num_steps`` counts network evaluations for every method."""
    pipeline_ = pipeline()
    steps = pipeline_.sample(num_samples, num_steps=num_steps, seed=seed, **method)

    def caption(num_records: int) -> str:
        return sampling_caption(num_records, **method, flow=pipeline_.is_flow,
                                class_names=getattr(dataset, "class_names", None))

    store = yield from _record(pipeline_, steps, num_samples, seed, dataset, budget_bytes, stop, caption,
                               method.get("labels"))
    return store


def inpaint(pipeline: Callable[[], DiffusionPipeline], known: np.ndarray, regenerate: np.ndarray, num_samples: int,
            num_steps: int, seed: int, dataset: DataSet | None, budget_bytes: int | None = None, *,
            stop: threading.Event, jump_length: int, jump_n_sample: int, caption: str) -> Any:
    """The inpainting job (RePaint, M57-M59): ``num_samples`` completions of one item, recorded as :func:`sample`
    records a plain run (one frame per network evaluation), so the trajectory and the Samples dock show them the
    same way. ``caption`` names the run (the dialog's request words it). A flow run raises the core's refusal."""
    pipeline_ = pipeline()
    x0, mask = pipeline_.inpaint_items(known, regenerate, num_samples)
    steps = pipeline_.inpaint(x0, mask, num_steps=num_steps, seed=seed, jump_length=jump_length,
                              jump_n_sample=jump_n_sample)
    store = yield from _record(pipeline_, steps, num_samples, seed, dataset, budget_bytes, stop,
                               lambda _records: caption, None, judge=False)
    return store


def _record(pipeline_: DiffusionPipeline, steps: ReverseProcess, num_samples: int, seed: int,
            dataset: DataSet | None, budget_bytes: int | None, stop: threading.Event,
            caption: Callable[[int], str], labels: Any, judge: bool = True):
    """Keep the records of ``steps`` in a :class:`TrajectoryStore` (x_T first), yielding :class:`Kept` positions;
    returns the store. ``judge``: run every lens on finished unconditional 2-D samples (M46); an inpainting's
    samples are conditional draws, not the data's distribution, so it is not judged."""
    source = forward_source(dataset, pipeline_.data_shape, num_samples, seed)
    if pipeline_.is_flow:  # flow times on the records' clock of FLOW_TICKS ticks, with each tick's VP abar (M49)
        T, alpha_bar = FLOW_TICKS, clock_alpha_bar(pipeline_.diffusion).numpy()
    else:
        T = pipeline_.diffusion.num_timesteps
        # abar_t for paper t = 0..T (M3; 1 at t = 0), so every frame can say how much signal is left
        alpha_bar = np.concatenate([[1.0], pipeline_.diffusion.alphas_cumprod.double().cpu().numpy()])

    def forward_at(t_next: int) -> np.ndarray | None:
        """Real data noised to the 0-based timestep ``t_next`` (M4; x_0 itself below 0), for display."""
        if source is None:
            return None
        return to_display(pipeline_, forward_state(pipeline_.diffusion, *source, t_next))

    store: TrajectoryStore | None = None
    record = None
    for record in steps:
        if store is None:
            item_shape = ((num_samples, *pipeline_.data_shape[1:], pipeline_.data_shape[0])
                          if pipeline_.kind == "images" else (num_samples, *pipeline_.data_shape))
            extra = {} if budget_bytes is None else {"budget_bytes": budget_bytes}
            store = TrajectoryStore(pipeline_.kind, record.num_steps, item_shape, with_forward=source is not None,
                                    reference=reference_points(dataset), alpha_bar=alpha_bar, **extra)
            # the x0_hat panel's caption needs it (a flow's x0_hat has no eps gain to name)
            store.parameterization = "x0" if pipeline_.is_flow else pipeline_.diffusion.parameterization
            store.caption = caption(record.num_steps)
            if labels is not None:
                store.labels, store.columns = np.asarray(labels), row_length(labels)
                store.class_names = getattr(dataset, "class_names", None)
            # x_T, the noise before the first step, opens the trajectory at t = T; its x0_hat is the one the
            # network made from it (this first record's), so the frame pairs a state with its own prediction.
            # Yielded first, it is the first thing on screen.
            position = store.append(INITIAL_STEP, record.t + 1, T, to_display(pipeline_, steps.x_T),
                                    to_display(pipeline_, record.x0_hat), forward_at(T - 1))
            yield Kept(store, position)
        if store.keeps(record.index):
            # the state's paper timestep: t_next is 0-based, and -1 means x_0 itself
            position = store.append(record.index, record.t + 1, record.t_next + 1, to_display(pipeline_, record.x),
                                    to_display(pipeline_, record.x0_hat), forward_at(record.t_next))
            yield Kept(store, position)
        if stop.is_set():
            break
    if store is not None and store.kind == "points" and len(store):
        store.view_bounds()  # computed here, once, off the GUI thread; the dock reads it back
        # every lens on the finished samples (M46), here off the GUI thread; samples of one asked-for class are
        # not the data's distribution, so only an unconditional draw is judged
        if judge and store.complete and record is not None and labels is None:
            store.verdict_note, store.verdict_line = verdict_of(dataset, record.x.detach().cpu())
    return store
