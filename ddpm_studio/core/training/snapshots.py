"""Light snapshots of a run as it trains: samples from one fixed noise every N steps, to scrub through afterwards.

Every :func:`snapshot_interval` steps the trainer draws :data:`POINT_SAMPLES` points (or :data:`IMAGE_SAMPLES`
images) with its EMA weights from the *same* x_T (a generator seeded with ``train.seed``, as previews are) in
:data:`SNAPSHOT_STEPS` respaced steps (M21; a flow: Euler steps of its ODE; images: :data:`IMAGE_SNAPSHOT_STEPS`
of DDIM), so two snapshots differ only because the model did. What is kept is the samples, not the weights: a few
KB a step, ``RUN/snapshots/step_00001200.npz``.

- The interval comes from the run's length, a round number (1, 2 or 5 x 10^k) giving 20-40 snapshots; it is fixed
  when the series starts (kept in every file), so a run continued to more steps goes on with the same series and,
  past :data:`MAX_SNAPSHOTS`, keeps every other one (the interval doubles): a run folder never holds more.
- Files are written atomically (:func:`~ddpm_studio.core.io.runs.atomic_write_bytes`) and read with
  ``np.load(allow_pickle=False)``: a reader (the studio, File → Follow run) sees a whole file or none, and a file
  from anywhere cannot run code.
- Sampling restores the global RNG and uses its own generator, so snapshots change nothing in the training stream
  (exact resume, docs/RELIABILITY.md); a resumed run drops the snapshots written after its checkpoint and redoes
  them, exactly as a straight run would have.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ddpm_studio.core.io.runs import atomic_write_bytes
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.process.guidance import row_length

SNAPSHOT_DIR = "snapshots"
SNAPSHOT_FORMAT = "ddpm-studio-snapshot"
#: The interval aims at about this many snapshots over a run (20-40 after rounding to a round number).
TARGET_SNAPSHOTS = 40
#: Never more often: a toy run of 40 steps keeps 8, not 40 (each costs a sampler run).
MIN_INTERVAL = 5
#: Images never more often than this: a snapshot of 16 digits costs ~0.76 s on 2 CPU cores (50 U-Net
#: evaluations), ~4 training steps, so every 10 steps took 35 % of a 400-step run; every 50 keeps it near 7 %
#: (``python benchmarks/snapshot_overhead.py 400 digits``).
MIN_IMAGE_INTERVAL = 50
#: A series never holds more: past it every other snapshot goes (the interval doubles).
MAX_SNAPSHOTS = 60
#: Samples a snapshot draws: enough points to see a distribution, a small grid of images.
POINT_SAMPLES = 512
IMAGE_SAMPLES = 16
#: Reverse steps (network evaluations) of a snapshot's sampler, capped at T (respaced, M21).
SNAPSHOT_STEPS = 50
#: An image snapshot's steps: DDIM (eta = 0, M22) at 25 steps draws recognisable digits at half the cost of 50
#: ancestral steps (a U-Net evaluation of 16 images is what a snapshot costs).
IMAGE_SNAPSHOT_STEPS = 25
IMAGE_SNAPSHOT_METHOD = "ddim"
_FILE_RE = re.compile(r"^step_(\d+)\.npz$")


@dataclass(frozen=True)
class Snapshot:
    """The model's samples at one training step, from the series' fixed noise.

    Attributes:
        step: training steps behind the EMA weights that drew it.
        kind: "points" or "images".
        samples: points float32 (N, 2) in the data's coordinates; images uint8 (N, H, W, C).
        labels: int64 (N,), the class each sample was asked for (a conditional run), or None.
        interval: the series' interval when it was taken. total_steps: the run's target then.
        num_steps: network evaluations of the sampler. seed: the fixed noise's seed.
        x0_hat: the network's x0_hat at the sampler's middle evaluation (index num_steps // 2), in the form of
            ``samples``: what the model thought the data was from a half-noised state, from the same noise at
            every step (M7-M10, clipped as the sampler clips, M23); None in files written before it was kept.
        x0_abar: abar of the state that evaluation saw (its noise level); None with ``x0_hat``.
    """

    step: int
    kind: str
    samples: np.ndarray
    labels: np.ndarray | None
    interval: int
    total_steps: int
    num_steps: int
    seed: int
    x0_hat: np.ndarray | None = None
    x0_abar: float | None = None

    @property
    def columns(self) -> int | None:
        """Grid columns: one row per class when every class was asked for in order; None: a square grid."""
        return row_length(self.labels) if self.labels is not None else None

    def to_bytes(self) -> bytes:
        """The .npz file's bytes: arrays plus a JSON string (a unicode array: no object, no pickle)."""
        meta = {"format": SNAPSHOT_FORMAT, "step": self.step, "kind": self.kind, "interval": self.interval,
                "total_steps": self.total_steps, "num_steps": self.num_steps, "seed": self.seed,
                "x0_abar": self.x0_abar}
        arrays = {"samples": self.samples, "meta": np.array(json.dumps(meta))}
        if self.x0_hat is not None:
            arrays["x0_hat"] = self.x0_hat
        if self.labels is not None:
            arrays["labels"] = self.labels.astype(np.int64)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Snapshot:
        """Read a snapshot file; ValueError / OSError when it is not one (never executes anything)."""
        try:
            return cls._read(path)
        except (zipfile.BadZipFile, EOFError) as exc:  # a damaged or truncated archive, said as a ValueError
            raise ValueError(f"{Path(path).name} is damaged ({exc})") from exc

    @classmethod
    def _read(cls, path: str | os.PathLike[str]) -> Snapshot:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"{Path(path).name} is not a DDPM Studio snapshot")
            labels = np.array(data["labels"]) if "labels" in data.files else None
            samples = np.array(data["samples"])
            x0_hat = np.array(data["x0_hat"]) if "x0_hat" in data.files else None
            if x0_hat is not None and x0_hat.shape != samples.shape:
                raise ValueError(f"{Path(path).name}: its x0_hat has shape {x0_hat.shape}, its samples "
                                 f"{samples.shape}")
            abar = meta.get("x0_abar")
            return cls(int(meta["step"]), str(meta["kind"]), samples, labels,
                       int(meta["interval"]), int(meta["total_steps"]), int(meta["num_steps"]), int(meta["seed"]),
                       x0_hat, None if x0_hat is None or abar is None else float(abar))


def snapshot_interval(total_steps: int, kind: str = "points") -> int:
    """Steps between snapshots for a run of ``total_steps``: total / 40 rounded up to 1, 2 or 5 x 10^k.

    3,000 steps: 100 (30 snapshots); 1,000: 50 (20); 20,000: 500 (40); under 200 steps: every
    :data:`MIN_INTERVAL` steps; images ("images" ``kind``) never more often than :data:`MIN_IMAGE_INTERVAL`.
    """
    floor = MIN_IMAGE_INTERVAL if kind == "images" else MIN_INTERVAL
    raw = max(float(floor), total_steps / TARGET_SNAPSHOTS)
    power = 10 ** math.floor(math.log10(raw))
    for nice in (1, 2, 5, 10):
        if nice * power >= raw - 1e-9:
            return int(nice * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def snapshot_path(run_dir: str | os.PathLike[str], step: int) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR / f"step_{step:08d}.npz"


def list_snapshot_files(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """(step, path) of every snapshot file, oldest first (temporary files of a write in progress are ignored)."""
    folder = Path(run_dir) / SNAPSHOT_DIR
    if not folder.is_dir():
        return []
    found = []
    for entry in folder.iterdir():
        match = _FILE_RE.match(entry.name)
        if match and entry.is_file():
            found.append((int(match.group(1)), entry))
    return sorted(found)


def read_snapshots(run_dir: str | os.PathLike[str]) -> list[Snapshot]:
    """Every readable snapshot of a run folder, oldest first; damaged files are skipped ([] for none).

    Quick: 30 points snapshots read in a few milliseconds.
    """
    snapshots = []
    for _, path in list_snapshot_files(run_dir):
        try:
            snapshots.append(Snapshot.from_file(path))
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            continue
    return snapshots


def take_snapshot(pipeline: DiffusionPipeline, step: int, interval: int, total_steps: int, seed: int) -> Snapshot:
    """Draw the series' samples with ``pipeline`` (the EMA weights now) from the fixed noise of ``seed``.

    The global RNG is put back afterwards (sampling must not perturb the training stream); the sampler's own
    generator, seeded with ``seed``, gives the same x_T (and per-step noise) at every step.
    """
    count = IMAGE_SAMPLES if pipeline.kind == "images" else POINT_SAMPLES
    method = None  # the process's default: ancestral for DDPM, Euler for a flow
    num_steps = SNAPSHOT_STEPS
    if pipeline.kind == "images" and not pipeline.is_flow:
        method, num_steps = IMAGE_SNAPSHOT_METHOD, IMAGE_SNAPSHOT_STEPS
    if not pipeline.is_flow:
        num_steps = min(num_steps, pipeline.diffusion.num_timesteps)
    classes = pipeline.num_classes
    labels = torch.arange(count) % classes if classes else None
    rng_state = torch.get_rng_state()
    try:
        process = pipeline.sample(count, num_steps=num_steps, method=method, seed=seed, labels=labels)
        # the x0_hat of the middle evaluation rides along: no extra network call (noise level of the state it
        # saw: x_T's for the first record, else the previous record's state)
        middle = num_steps // 2
        abar_in, x0_hat, x0_abar, record = 0.0, None, None, None
        for record in process:
            if record.index == middle:
                x0_hat, x0_abar = record.x0_hat.detach().cpu(), abar_in
            abar_in = float(record.abar)
        assert record is not None, "a sampler yields at least one record"
        x = record.x.detach().cpu()
    finally:
        torch.set_rng_state(rng_state)
    return Snapshot(step, pipeline.kind, pipeline.to_saved_array(x), None if labels is None else labels.numpy(),
                    interval, total_steps, num_steps, seed,
                    None if x0_hat is None else pipeline.to_saved_array(x0_hat), x0_abar)


class SnapshotSeries:
    """The snapshots of one run, in memory and (with a folder) on disk; the trainer's.

    Args:
        interval: steps between snapshots (fixed for the series; doubled when pruning).
        items: snapshots already taken (a resumed run's), oldest first.
    """

    def __init__(self, interval: int, items: Iterable[Snapshot] = ()) -> None:
        self.interval = max(1, int(interval))
        self.items: list[Snapshot] = sorted(items, key=lambda s: s.step)

    @classmethod
    def resumed(cls, run_dir: str | os.PathLike[str], step: int, total_steps: int,
                kind: str = "points") -> SnapshotSeries:
        """The series of a run folder resumed at ``step``: snapshots after it are deleted (the resumed run takes
        them again); its interval is the newest snapshot's, or that of ``total_steps`` for a run without any."""
        kept = []
        for snapshot_step, path in list_snapshot_files(run_dir):
            if snapshot_step > step:
                path.unlink(missing_ok=True)
        for snapshot in read_snapshots(run_dir):
            if snapshot.step <= step:
                kept.append(snapshot)
        interval = kept[-1].interval if kept else snapshot_interval(total_steps, kind)
        return cls(interval, kept)

    def due(self, step: int, total_steps: int) -> bool:
        """A snapshot is due after step ``step``: every ``interval`` steps and at the run's last step."""
        return step > 0 and (step % self.interval == 0 or step == total_steps)

    @property
    def steps(self) -> list[int]:
        return [s.step for s in self.items]

    def add(self, snapshot: Snapshot) -> tuple[int, ...]:
        """Keep ``snapshot`` (replacing one of the same step); returns the steps pruned to stay within the cap.

        Over :data:`MAX_SNAPSHOTS` the interval doubles and only snapshots on the new grid stay (and the newest).
        """
        self.items = [s for s in self.items if s.step != snapshot.step] + [snapshot]
        self.items.sort(key=lambda s: s.step)
        dropped: list[int] = []
        while len(self.items) > MAX_SNAPSHOTS:
            self.interval *= 2
            newest = self.items[-1].step
            keep = [s for s in self.items if s.step % self.interval == 0 or s.step == newest]
            dropped += [s.step for s in self.items if s not in keep]
            self.items = keep
        return tuple(dropped)

    def write(self, run_dir: str | os.PathLike[str], snapshot: Snapshot, dropped: Iterable[int] = ()) -> Path:
        """Write ``snapshot`` atomically into ``run_dir/snapshots`` and delete the files of ``dropped`` steps."""
        path = atomic_write_bytes(snapshot_path(run_dir, snapshot.step), snapshot.to_bytes())
        for step in dropped:
            snapshot_path(run_dir, step).unlink(missing_ok=True)
        return path

    def write_all(self, run_dir: str | os.PathLike[str]) -> None:
        """Write every snapshot held in memory (a run trained in memory, then saved into a folder)."""
        for snapshot in self.items:
            self.write(run_dir, snapshot)
