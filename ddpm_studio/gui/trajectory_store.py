"""Compact, display-ready records of what the workers produced: sample sets and reverse-process trajectories.

Everything here is plain numpy (no Qt, no torch): workers fill these objects on their thread and hand them to
the GUI, which only reads them. Images are kept as uint8 (N, H, W, C) pixels, points as float32 (N, 2) in the
data's own coordinates, so a 1000-step trajectory of 64 16x16 digits (x_t, x0_hat and the forward comparison)
takes about 50 MB. Larger batches are thinned to a memory budget, always keeping the first and the last step.

A trajectory starts with x_T itself, the pure noise before the first network evaluation (step
:data:`INITIAL_STEP`, at t = T), so the slider's left end is the noise and its right end the samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ddpm_studio.core.process.x0_gain import first_meaningful_t, x0_noise_gain
from ddpm_studio.core.training.previews import off_support_note

#: Upper bound on the memory one trajectory may take; beyond it every k-th step is kept.
DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024
#: The step index of the x_T frame: the state before reverse step 0.
INITIAL_STEP = -1
#: Share of each frame's points a trajectory's view keeps inside (the rest are outliers, e.g. a diverged few).
VIEW_PERCENTILES = (0.5, 99.5)
#: Points per frame that decide a trajectory's view box: every k-th point gives the same box within ~10%, at a
#: cost that does not grow with the batch.
VIEW_POINTS_PER_FRAME = 256


def scatter_bounds(*arrays: np.ndarray | None) -> tuple[float, float, float, float]:
    """A square box (x0, x1, y0, y1) holding the central 99% of every finite point given, padded by 10%."""
    parts = [a for a in arrays if a is not None and len(a)]
    if not parts:
        return (-3.0, 3.0, -3.0, 3.0)
    points = np.concatenate(parts).astype(np.float64)
    points = points[np.isfinite(points).all(axis=1)]
    if not len(points):
        return (-3.0, 3.0, -3.0, 3.0)
    low, high = np.percentile(points, VIEW_PERCENTILES, axis=0)
    return _square_box(low, high)


def _square_box(low: np.ndarray, high: np.ndarray) -> tuple[float, float, float, float]:
    """The square around the corners (2,) ``low`` and ``high``, padded by 10% (at least 0.55 half-width)."""
    cx, cy = (float(v) for v in (low + high) / 2.0)
    half = max(float((high - low).max()) / 2.0, 0.5) * 1.1
    return (cx - half, cx + half, cy - half, cy + half)


def frames_bounds(frames: np.ndarray, *extra: np.ndarray | None) -> tuple[float, float, float, float]:
    """One square box for a whole trajectory: the union of every frame's central 99% box, and of ``extra``'s.

    Computed once per trajectory, so scrubbing never moves the view: from the noise x_T to the final samples
    every frame fits, each losing at most its own outlying 1% along each axis (less after the 10% padding).
    Every k-th point of a frame counts (at most :data:`VIEW_POINTS_PER_FRAME`): a thousand frames of a thousand
    points (two stacks) take ~50 ms of CPU on the sampler's thread, ~160 ms with every point.

    Args:
        frames: float (F, N, 2) point sets (non-finite points are ignored).
        extra: more (M, 2) point sets (the training data) or (F', N, 2) stacks, or None.
    """
    stacks = [frames, *(e for e in extra if e is not None)]
    stacks = [s.reshape(1, *s.shape) if s.ndim == 2 else s for s in stacks]
    lows, highs = [], []
    for stack in stacks:
        if stack.size == 0:
            continue
        stack = stack[:, :: max(1, stack.shape[1] // VIEW_POINTS_PER_FRAME)].astype(np.float64)
        finite = np.isfinite(stack).all(axis=-1)
        if not finite.any():
            continue
        if not finite.all():  # rare (a diverged run): non-finite points are skipped, frame by frame
            stack = np.where(finite[..., None], stack, np.nan)
            low, high = np.nanpercentile(stack, VIEW_PERCENTILES, axis=1)
        else:
            low, high = np.percentile(stack, VIEW_PERCENTILES, axis=1)
        lows.append(low[np.isfinite(low).all(axis=1)])
        highs.append(high[np.isfinite(high).all(axis=1)])
    if not lows or not sum(len(lo) for lo in lows):
        return (-3.0, 3.0, -3.0, 3.0)
    return _square_box(np.concatenate(lows).min(axis=0), np.concatenate(highs).max(axis=0))


def fraction_outside(points: np.ndarray, bounds: tuple[float, float, float, float]) -> float:
    """Share of the (N, 2) ``points`` outside the box (x0, x1, y0, y1); non-finite points count as outside."""
    if not len(points):
        return 0.0
    x0, x1, y0, y1 = bounds
    with np.errstate(invalid="ignore"):
        inside = (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
    return 1.0 - float(np.count_nonzero(inside)) / len(points)


@dataclass(frozen=True)
class SampleSet:
    """A batch of samples ready to show or export.

    Attributes:
        kind: "points" or "images".
        data: images uint8 (N, H, W, C); points float32 (N, 2) in data coordinates.
        reference: points only, float32 (M, 2) training data drawn faintly behind the samples (or None).
        caption: what the batch is ("Preview at step 500", "Final samples: 100 DDIM steps").
        step: training steps behind the weights that drew it.
        is_data: the batch is training data shown before any model exists, not samples.
        labels: the class each sample was asked for (N,) by a conditional model (M34), or None.
        columns: grid columns (one row per class when every class was asked for); None: a square grid.
        class_names: the name of each class 0..K-1 (the data's), for a colour key; None: numbered.
    """

    kind: str
    data: np.ndarray
    reference: np.ndarray | None
    caption: str
    step: int
    is_data: bool = False
    labels: np.ndarray | None = None
    columns: int | None = None
    class_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.data.shape[0])


@dataclass(frozen=True)
class TrajectoryFrame:
    """One recorded reverse step, for display.

    Attributes:
        position: index of this frame among the stored frames.
        step: index of the reverse step (0 = the first step from x_T) out of ``num_steps``; :data:`INITIAL_STEP`
            (-1) for x_T itself, the noise before any step.
        t_fed: paper timestep (1..T) the network was fed at this step; x0_hat is its prediction there. The x_T
            frame has no step of its own: it holds step 0's x0_hat, the prediction made from x_T (t_fed = T).
        t_state: paper timestep of ``x`` after the step (0 once the chain reaches x_0; T for x_T).
        x, x0_hat: arrays like :attr:`SampleSet.data`. forward: real data noised to ``t_state`` (or None).
        alpha_bar: abar at ``t_state`` (M3; 1 at t = 0), or NaN when the store was not told the schedule.
        x0_gain: an eps-network's error gain on x0_hat at ``t_fed`` (core.process.x0_gain); NaN for other
            parameterizations or an unknown schedule. x0_from: the largest t at which that gain is within its limit.
    """

    position: int
    step: int
    num_steps: int
    t_fed: int
    t_state: int
    x: np.ndarray
    x0_hat: np.ndarray
    forward: np.ndarray | None
    alpha_bar: float = float("nan")
    x0_gain: float = float("nan")
    x0_from: int = 0

    @property
    def is_initial(self) -> bool:
        """True for the x_T frame: the pure noise the reverse process starts from."""
        return self.step == INITIAL_STEP


class TrajectoryStore:
    """Frames of one sampling run, preallocated for ``num_steps`` steps and thinned to a memory budget.

    Args:
        kind: "points" or "images".
        num_steps: K, the reverse steps the sampler will take.
        item_shape: shape of one frame's batch: (N, H, W, C) for images, (N, 2) for points.
        with_forward: also keep the forward-process comparison frames.
        reference: points only, (M, 2) training data for the scatter background.
        budget_bytes: memory the frames may take; every ``stride``-th step is kept when the full record would not
            fit (x_T and the last step always are).
        alpha_bar: abar_t for paper t = 0..T, shape (T + 1,) with alpha_bar[0] = 1 (M3), so frames and exports can
            say how much signal is left; None when unknown.
    """

    def __init__(
        self,
        kind: str,
        num_steps: int,
        item_shape: tuple[int, ...],
        with_forward: bool = True,
        reference: np.ndarray | None = None,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        alpha_bar: np.ndarray | None = None,
    ) -> None:
        if kind not in ("points", "images"):
            raise ValueError(f"kind must be 'points' or 'images', got {kind!r}")
        if num_steps < 1:
            raise ValueError(f"a trajectory needs at least one step, got {num_steps}")
        self.kind = kind
        self.num_steps = int(num_steps)
        self.item_shape = tuple(int(s) for s in item_shape)
        self.dtype = np.dtype(np.uint8 if kind == "images" else np.float32)
        self.reference = reference
        self.alpha_bar = None if alpha_bar is None else np.asarray(alpha_bar, np.float64)
        stacks = 3 if with_forward else 2
        per_step = math.prod(self.item_shape) * self.dtype.itemsize * stacks
        max_frames = max(2, budget_bytes // max(1, per_step) - 1)  # one frame is x_T's
        self.stride = 1 if num_steps <= max_frames else math.ceil((num_steps - 1) / (max_frames - 1))
        capacity = 1 + len(range(0, num_steps, self.stride)) + (0 if (num_steps - 1) % self.stride == 0 else 1)
        self.x = np.zeros((capacity, *self.item_shape), self.dtype)
        self.x0_hat = np.zeros_like(self.x)
        self.forward = np.zeros_like(self.x) if with_forward else None
        self.steps = np.zeros(capacity, np.int32)
        self.t_fed = np.zeros(capacity, np.int32)
        self.t_state = np.zeros(capacity, np.int32)
        self.count = 0
        self.caption = ""
        # the quality verdict of the final samples (M46): a caption's note and the full line (failing lenses and
        # their numbers), set by the sampling job off the GUI thread; "" when not judged
        self.verdict_note = ""
        self.verdict_line = ""
        self.labels: np.ndarray | None = None  # the classes asked for, per sample (conditional models, M34)
        self.columns: int | None = None  # grid columns: one row per class when every class was asked for
        self.class_names: tuple[str, ...] | None = None  # the data's name of each class, for a colour key
        self.parameterization: str | None = None  # what the network predicts (eps's x0_hat magnifies its error)
        self._bounds: tuple[int, tuple[float, float, float, float]] | None = None  # (frames counted, box)

    def __len__(self) -> int:
        return self.count

    @property
    def capacity(self) -> int:
        return int(self.x.shape[0])

    @property
    def complete(self) -> bool:
        """True once the last reverse step (the one that gives x_0) is stored."""
        return self.count > 0 and int(self.steps[self.count - 1]) == self.num_steps - 1

    @property
    def nbytes(self) -> int:
        stacks = (self.x, self.x0_hat) + ((self.forward,) if self.forward is not None else ())
        return sum(int(a.nbytes) for a in stacks)

    @property
    def has_initial(self) -> bool:
        """True when the first stored frame is x_T (the studio's sampler always records it)."""
        return self.count > 0 and int(self.steps[0]) == INITIAL_STEP

    def keeps(self, step: int) -> bool:
        """Whether reverse step ``step`` (0-based; :data:`INITIAL_STEP` for x_T) gets a frame."""
        return step == INITIAL_STEP or step % self.stride == 0 or step == self.num_steps - 1

    def view_bounds(self) -> tuple[float, float, float, float]:
        """Points only: the square box every stored x_t fits in (:func:`frames_bounds`), with the data.

        x_t from the noise x_T down to the samples, the forward frames and the training data count; x0_hat does
        not. At large t an eps-network's x0_hat = (x_t - sqrt(1 - abar) eps_hat) / sqrt(abar) (M7) multiplies
        its error by 1 / sqrt(abar_T), ~160 for the linear schedule, so its extremes would shrink every other
        frame to a dot; what falls outside the box is counted instead (:func:`fraction_outside`). Computed once
        per stored trajectory and kept (the sampler calls it on its thread before handing the store over).
        """
        if self.kind != "points":
            raise ValueError("view bounds are for 2-D points; image grids fit their panel")
        n = self.count
        if self._bounds is None or self._bounds[0] != n:
            forward = self.forward[:n] if self.forward is not None else None
            self._bounds = (n, frames_bounds(self.x[:n], forward, self.reference))
        return self._bounds[1]

    def append(
        self,
        step: int,
        t_fed: int,
        t_state: int,
        x: np.ndarray,
        x0_hat: np.ndarray,
        forward: np.ndarray | None = None,
    ) -> int:
        """Copy one step's arrays in (they may be reused by the caller); returns the frame's position."""
        if self.count >= self.capacity:
            raise ValueError(f"the trajectory is full ({self.capacity} frames)")
        if step < INITIAL_STEP:
            raise ValueError(f"step must be {INITIAL_STEP} (x_T) or a reverse step >= 0, got {step}")
        if self.count and step <= int(self.steps[self.count - 1]):
            raise ValueError(f"steps must increase: got {step} after {int(self.steps[self.count - 1])}")
        position = self.count
        self.x[position] = x
        self.x0_hat[position] = x0_hat
        if self.forward is not None:
            if forward is None:
                raise ValueError("this trajectory keeps forward frames; pass one")
            self.forward[position] = forward
        self.steps[position] = step
        self.t_fed[position] = t_fed
        self.t_state[position] = t_state
        self.count += 1
        return position

    def frame(self, position: int) -> TrajectoryFrame:
        """The stored frame at ``position`` (negative counts from the end); arrays are read-only views."""
        if not -self.count <= position < self.count:
            raise IndexError(f"frame {position} out of range for {self.count} stored frames")
        position %= self.count

        def view(stack: np.ndarray) -> np.ndarray:
            item = stack[position]
            item.flags.writeable = False
            return item

        return TrajectoryFrame(
            position=position,
            step=int(self.steps[position]),
            num_steps=self.num_steps,
            t_fed=int(self.t_fed[position]),
            t_state=int(self.t_state[position]),
            x=view(self.x),
            x0_hat=view(self.x0_hat),
            forward=view(self.forward) if self.forward is not None else None,
            alpha_bar=self.alpha_bar_at(int(self.t_state[position])),
            **self._x0_gain(int(self.t_fed[position])),
        )

    def _x0_gain(self, t_fed: int) -> dict:
        """The frame's x0_gain and x0_from: only an eps-network's x0_hat divides by sqrt(abar) (M7)."""
        if self.parameterization != "eps" or self.alpha_bar is None or not 0 <= t_fed < len(self.alpha_bar):
            return {}
        return {"x0_gain": x0_noise_gain(float(self.alpha_bar[t_fed])), "x0_from": first_meaningful_t(self.alpha_bar)}

    def alpha_bar_at(self, t: int) -> float:
        """abar_t at paper timestep ``t`` (1 at t = 0), NaN when the schedule is unknown or t out of range."""
        if self.alpha_bar is None or not 0 <= t < len(self.alpha_bar):
            return float("nan")
        return float(self.alpha_bar[t])

    def final_samples(self, caption: str, step: int) -> SampleSet:
        """The last stored x as a :class:`SampleSet` (a copy)."""
        if self.count == 0:
            raise ValueError("the trajectory holds no frames yet")
        final = self.x[self.count - 1].copy()
        # a judged set's off-support share is the verdict's (against the whole training set, M43): the quick
        # note against the display's reference points would be a second, different number for the same thing
        judged = bool(self.verdict_line) and not self.verdict_note.startswith("verdict needs")
        if self.kind == "points" and not judged and (note := off_support_note(final, self.reference)):
            caption = f"{caption}  ·  {note}"
        if self.verdict_note:
            caption = f"{caption}  ·  {self.verdict_note}"
        return SampleSet(self.kind, final, self.reference, caption, step,
                         labels=self.labels, columns=self.columns, class_names=self.class_names)
