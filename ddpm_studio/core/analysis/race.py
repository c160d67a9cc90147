"""A sampler race: several samplers from the same x_T, stepped side by side and aligned by noise level.

Every runner starts from one x_T and, where it is stochastic, draws its per-step noise from a generator seeded the
same way, so the runs differ only by the method and its timestep grid. A reference, the probability-flow ODE solved
with DDIM on every trained timestep (M22 at eta = 0, one evaluation per step: the finest grid the network knows),
is computed first from the same x_T; each record's x0_hat is then scored by its RMS distance to that reference's
x_0. Records carry the state's abar (M3), so a presenter can show every run at one noise level although their
grids differ (num_steps counts network evaluations for every method, M24-M29).

The race is a generator of events (:class:`RaceProgress`, :class:`RaceFrame`, :class:`RaceFinished`): the studio
runs it on a worker, a script or a test consumes it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import torch

from ddpm_studio.core import choices
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.process.schedule import log_snr  # M3, the one definition (re-exported for the presenters)
from ddpm_studio.core.sampling import DETERMINISTIC_METHODS, check_num_steps, sample
from ddpm_studio.core.sampling.flow import FLOW_DETERMINISTIC

Frame = TypeVar("Frame")

#: How many runs a race holds: two make a comparison, more than four no longer fit side by side.
MIN_RUNNERS, MAX_RUNNERS = 2, 4
#: A flow run's reference: Heun at 200 evaluations (second order, M52), well inside its convergence.
FLOW_REFERENCE_STEPS = 200


@dataclass(frozen=True)
class Runner:
    """One lane of the race: a sampling method on a timestep spacing (``choices.METHODS`` / ``choices.SPACINGS``,
    or the flow's for a flow run), of the race's own run or of ``pipeline``, another run on the same data.

    Lanes of two processes start from the same noise: a DDPM lane reads it as x_T, a flow lane as x_1 (M49 says
    how the two conventions map and by how little they differ).
    """

    method: str
    spacing: str = "linspace"
    pipeline: DiffusionPipeline | None = field(default=None, compare=False, hash=False, repr=False)
    run_name: str = ""  # names the other run in the label and tells two runs' lanes apart ("" = the race's own)

    @property
    def label(self) -> str:
        label = self.method if self.spacing == "linspace" else f"{self.method} ({self.spacing})"
        return f"{self.run_name}: {label}" if self.run_name else label


@dataclass(frozen=True)
class RaceProgress:
    """The reference solution is being computed: ``done`` of ``total`` network evaluations."""

    done: int
    total: int


@dataclass(frozen=True)
class RaceFrame:
    """One network evaluation of one runner.

    Attributes:
        lane: index of the runner in the race. nfe: evaluations this runner has spent, this one included.
        abar: abar of the state ``x`` (1.0 once it is x_0), for aligning lanes by noise level.
        x, x0_hat: CPU float32 copies in model space, shape (B, ...).
        distance: RMS distance of ``x0_hat`` to the reference x_0 (per dimension, model space).
        final: True on the lane's last record (``x`` is its x_0).
    """

    lane: int
    nfe: int
    abar: float
    x: torch.Tensor
    x0_hat: torch.Tensor
    distance: float
    final: bool


@dataclass(frozen=True)
class RaceFinished:
    """Every lane reached x_0. ``scores[lane]`` holds the lane's quality scores (empty without a scorer)."""

    reference: torch.Tensor
    scores: tuple[dict[str, float], ...] = field(default_factory=tuple)


RaceEvent = RaceProgress | RaceFrame | RaceFinished


def check_race(runners: Sequence[Runner], num_steps: int, num_timesteps: int, flow: bool = False) -> None:
    """Raise ValueError naming the problem: 2-4 distinct runners, known methods and spacings, an NFE each can use.

    A lane without its own pipeline races the race's run: a flow run's when ``flow`` (``num_timesteps`` is then
    unused), else a T-step DDPM's."""
    if not MIN_RUNNERS <= len(runners) <= MAX_RUNNERS:
        raise ValueError(f"a race needs {MIN_RUNNERS} to {MAX_RUNNERS} samplers, got {len(runners)}")
    if len(set(runners)) != len(runners):
        raise ValueError("each sampler may race once: two lanes have the same method and spacing")
    for runner in runners:
        if runner.pipeline.is_flow if runner.pipeline is not None else flow:
            choices.require("flow sampling method", runner.method, choices.FLOW_METHODS)
            choices.require("flow time grid", runner.spacing, choices.FLOW_SPACINGS)
            if num_steps < 1:
                raise ValueError(f"a race needs at least one network evaluation per lane, got {num_steps}")
            continue
        choices.require("sampling method", runner.method, choices.METHODS)
        choices.require("timestep spacing", runner.spacing, choices.SPACINGS)
        T = num_timesteps if runner.pipeline is None else runner.pipeline.diffusion.num_timesteps
        check_num_steps(runner.method, T, num_steps)


def rms_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root-mean-square difference of two equally shaped tensors, over every value."""
    return float(torch.sqrt(torch.mean((a.double() - b.double()) ** 2)))


def race(
    pipeline: DiffusionPipeline,
    runners: Sequence[Runner],
    num_steps: int,
    num_samples: int,
    seed: int = 0,
    score: Callable[[torch.Tensor], dict[str, float]] | None = None,
    reference_steps: int | None = None,
) -> Iterator[RaceEvent]:
    """Race ``runners`` over ``num_steps`` network evaluations each, from one x_T of ``num_samples`` items.

    Args:
        pipeline: the trained model and its process.
        runners: 2-4 distinct :class:`Runner` lanes.
        num_steps: network evaluations per lane (the fair budget).
        num_samples: B, the batch every lane samples.
        seed: seeds x_T and each lane's per-step noise stream (the same stream for every lane).
        score: maps a lane's final x_0 (B, ...) in model space to named quality scores (e.g. sliced Wasserstein
            to held-out data); None skips scoring.
        reference_steps: DDIM evaluations for the reference (default: T, every trained timestep).
    Yields:
        RaceProgress while the reference is computed, then the lanes' RaceFrame records interleaved one
        evaluation at a time (lane 0, lane 1, ... so they advance together), then one RaceFinished.
    """
    # every lane names its run: a lane without one races the race's own
    runners = [r if r.pipeline is not None else Runner(r.method, r.spacing, pipeline, r.run_name) for r in runners]
    for runner in runners:
        if tuple(runner.pipeline.data_shape) != tuple(pipeline.data_shape):  # type: ignore[union-attr]
            raise ValueError(f"{runner.label} draws items of shape {runner.pipeline.data_shape}, the race's run "
                             f"{pipeline.data_shape}: race runs of the same data")
    flow = pipeline.is_flow
    T = 0 if flow else pipeline.diffusion.num_timesteps
    check_race(runners, num_steps, T, flow)
    shape = (num_samples, *pipeline.data_shape)
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(int(seed))).to(pipeline.device)

    # the reference: the run's own ODE, finely solved (DDIM on every trained timestep; Heun at 200 NFE for a flow)
    ref_method = "heun" if flow else "ddim"
    ref_steps = (FLOW_REFERENCE_STEPS if flow else T) if reference_steps is None else reference_steps
    reference = None
    for record in sample(pipeline.diffusion, pipeline.model(), shape, num_steps=ref_steps, method=ref_method,
                         noise=x_T):
        reference = record.x
        if record.nfe % max(1, ref_steps // 50) == 0 or record.nfe == ref_steps:
            yield RaceProgress(record.nfe, ref_steps)
    assert reference is not None
    reference = reference.detach().float().cpu().clone()

    lanes = []
    for runner in runners:
        run = runner.pipeline
        assert run is not None
        generator = torch.Generator(device=run.device).manual_seed(int(seed) + 1)
        lanes.append(
            iter(sample(run.diffusion, run.model(), shape, num_steps=num_steps, method=runner.method,
                        noise=x_T.clone().to(run.device), generator=generator, spacing=runner.spacing))
        )
    finals: list[torch.Tensor | None] = [None] * len(lanes)
    active = list(range(len(lanes)))
    while active:
        for lane in list(active):
            record = next(lanes[lane], None)
            if record is None:
                active.remove(lane)
                continue
            x0_hat = record.x0_hat.detach().float().cpu().clone()
            x = record.x.detach().float().cpu().clone()
            final = record.nfe == num_steps
            if final:
                finals[lane] = x
            yield RaceFrame(lane, record.nfe, float(record.abar), x, x0_hat, rms_distance(x0_hat, reference), final)
    scores = tuple(score(x) if score is not None and x is not None else {} for x in finals)
    yield RaceFinished(reference, scores)


def is_deterministic(runner: Runner) -> bool:
    """Whether a lane's x_0 is a function of x_T alone (it then converges to the reference as NFE grows)."""
    if runner.pipeline is not None and runner.pipeline.is_flow:
        return runner.method in FLOW_DETERMINISTIC
    return runner.method in DETERMINISTIC_METHODS


def latest_at(lanes: Sequence[Sequence[Frame]], level: float,
              log_snr_of: Callable[[Frame], float]) -> list[Frame | None]:
    """Per lane, the last frame whose state has log SNR <= ``level`` (None if the lane has not got there yet).

    The one alignment rule of the race (the core's frames and the Race dock's display copies both use it): lanes
    on different grids are compared at the same noise level, not at the same step index. Frames of a lane run
    from noisy to clean, so log SNR grows along it; ``level`` = +inf selects every lane's final frame.
    """
    chosen: list[Frame | None] = []
    for lane in lanes:
        pick = None
        for frame in lane:
            if log_snr_of(frame) <= level:
                pick = frame
            else:
                break
        chosen.append(pick)
    return chosen


@dataclass
class RaceTrack:
    """The frames of a race, kept to scrub all lanes in sync by noise level.

    ``frames[lane]`` lists that lane's frames in order. :meth:`at` picks, for every lane, the last frame whose
    state is no noisier than the given level: what each sampler shows once the noise has come down that far.
    Heun's predictor records are kept (they are evaluations) but every record carries its state's abar.
    """

    labels: list[str]
    frames: list[list[RaceFrame]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.frames:
            self.frames = [[] for _ in self.labels]

    def add(self, frame: RaceFrame) -> None:
        self.frames[frame.lane].append(frame)

    def log_snr_range(self) -> tuple[float, float]:
        """(lowest, highest) finite log SNR over every frame's state (x_0 itself has infinite SNR)."""
        values = [log_snr(f.abar) for lane in self.frames for f in lane if f.abar < 1.0]
        if not values:
            return (0.0, 0.0)
        return (min(values), max(values))

    def at(self, level: float) -> list[RaceFrame | None]:
        """Per lane, the last frame whose state has log SNR <= ``level`` (None if the lane has not got there).

        ``level`` = +inf selects every lane's final frame.
        """
        return latest_at(self.frames, level, lambda frame: log_snr(frame.abar))

    def distances(self, lane: int) -> tuple[np.ndarray, np.ndarray]:
        """(nfe, distance to the reference) of one lane's records, as float arrays for a plot."""
        frames = self.frames[lane]
        return (np.array([f.nfe for f in frames], dtype=float), np.array([f.distance for f in frames], dtype=float))
