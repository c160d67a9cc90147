"""One verdict from every lens: samples are ``clean`` only when no lens sees them worse than real data (M46).

:class:`QualityVerdict` holds what the lenses need from the run's data (the held-out floor of sliced
Wasserstein, the support's radius, the modes) and judges sample sets against it::

    verdict = QualityVerdict(load_run_dataset(config, with_subset=False))
    result = verdict.judge(samples)          # model-space (N, 2), N >= verdict.min_samples
    result.clean, result.failed              # True / False, ["coverage", "mode_shares"]

Which space each lens works in, and why: sliced Wasserstein and off-support in the data's own coordinates (their
floors and radii are defined there, M37, M39); coverage, the copy rate and the mode spreads in model space (the
data standardised per coordinate, so no coordinate's units dominate a neighbourhood).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.scores.lenses import (
    COVERAGE_MAX_POINTS,
    LensReading,
    copy_rate_reading,
    coverage_reading,
    finite_reading,
    mode_shares_reading,
    mode_spread_reading,
    off_support_reading,
    off_support_reference,
    sliced_wasserstein_reading,
)
from ddpm_studio.core.scores.metrics import HeldoutSlicedWasserstein, off_support_radius
from ddpm_studio.core.scores.modes import mode_map
from ddpm_studio.core.scores.neighbours import copy_mask

#: The lenses in the order they are applied and listed (the keys of the verdict's JSON).
LENS_NAMES = ("finite", "sliced_wasserstein", "off_support", "coverage", "copy_rate", "mode_shares", "mode_spread")


#: The fewest held-out points a verdict can stand on (coverage's halves need k + 1 = 6 points, sliced Wasserstein's
#: halves a few more to mean anything).
MIN_HELDOUT = 24


class TooFewSamples(ValueError):
    """The sample set is smaller than the verdict can judge (the lenses' chunks would be partial)."""


@dataclass(frozen=True)
class Verdict:
    """Every lens's reading for one sample set; ``clean`` only when all passed."""

    readings: tuple[LensReading, ...]
    num_samples: int
    modes: str | None  # where the mode lenses' modes came from, None when the data has none known

    @property
    def clean(self) -> bool:
        return all(reading.passed for reading in self.readings)

    @property
    def severity(self) -> float:
        """The worst lens's :attr:`~ddpm_studio.core.scores.lenses.LensReading.severity`: <= 1 exactly when clean."""
        return max(reading.severity for reading in self.readings)

    @property
    def failed(self) -> list[str]:
        """The names of the lenses that did not pass, in :data:`LENS_NAMES` order."""
        return [reading.name for reading in self.readings if not reading.passed]

    def reading(self, name: str) -> LensReading | None:
        return next((r for r in self.readings if r.name == name), None)

    def to_dict(self) -> dict:
        """JSON-ready: ``clean``, ``failed``, each lens's value under its name, and every detail under ``lenses``."""
        values = {r.name: r.to_dict()["value"] for r in self.readings}
        return {"clean": self.clean, "failed": self.failed, **values, "num_samples": self.num_samples,
                "modes": self.modes, "lenses": {r.name: r.to_dict() for r in self.readings}}

    def short(self) -> str:
        """A caption's worth: "clean (7 lenses)" or "not clean: coverage, mode_spread"."""
        return f"clean ({len(self.readings)} lenses)" if self.clean else "not clean: " + ", ".join(self.failed)

    def summary(self) -> str:
        """One line: "clean (7 lenses)" or "not clean: coverage (83.1 % ...); mode_shares (...)"."""
        if self.clean:
            return f"clean ({len(self.readings)} lenses)"
        return "not clean: " + "; ".join(f"{r.name} ({r.note})" for r in self.readings if not r.passed)


class QualityVerdict:
    """The lenses of :mod:`ddpm_studio.core.scores.lenses`, set up once for a points data set.

    Args:
        dataset: the run's points :class:`DataSet` (model space).
        seed: seeds the held-out halves of sliced Wasserstein and coverage.
    """

    def __init__(self, dataset: DataSet, seed: int = 0) -> None:
        if dataset.kind != "points":
            raise ValueError("the quality verdict judges 2-D points; images are scored by their feature lenses")
        if dataset.heldout.shape[0] < MIN_HELDOUT:
            raise ValueError(f"{dataset.name}: the verdict needs at least {MIN_HELDOUT} held-out points, got "
                             f"{dataset.heldout.shape[0]}")
        self.dataset = dataset
        self.seed = seed
        self._train_model = dataset.train.double()
        self._heldout_model = dataset.heldout.double()
        self._train_data = dataset.to_data_space(dataset.train).double().numpy()
        self._heldout_data = dataset.to_data_space(dataset.heldout).double().numpy()
        self._sw = HeldoutSlicedWasserstein(self._heldout_data, reference=self._train_data, seed=seed)
        self._radius = off_support_radius(self._train_data)
        # what real data reads on off-support and the copy rate: the same for every sample set, so computed once
        # (7,373^2 and 819 x 7,373 distances, which every early-stop check would otherwise pay again)
        self._off_support_reference = off_support_reference(self._train_data, self._heldout_data, self._radius)
        self._copy_reference = float(copy_mask(self._heldout_model, self._train_model).double().mean())
        self._modes = mode_map(dataset)
        if self._modes is not None:
            self._train_modes = self._modes.assign(self._train_model.numpy())
            self._heldout_modes = self._modes.assign(self._heldout_model.numpy())

    @property
    def min_samples(self) -> int:
        """The fewest finite samples judged: one sliced Wasserstein chunk and one coverage chunk (each half the
        held-out set, M39, M42; coverage's at most COVERAGE_MAX_POINTS)."""
        return max(int(self._sw.sample_count), min(self._heldout_model.shape[0] // 2, COVERAGE_MAX_POINTS))

    def judge(self, samples: torch.Tensor) -> Verdict:
        """Every lens on model-space samples (N, 2).

        Raises:
            TooFewSamples: fewer than :attr:`min_samples` finite samples.
        """
        samples = samples.detach().to("cpu", torch.float64)
        if samples.ndim != 2 or samples.shape[1] != self._train_model.shape[1]:
            raise ValueError(f"samples must be (N, {self._train_model.shape[1]}) points, got {tuple(samples.shape)}")
        finite = torch.isfinite(samples).all(dim=1)
        kept = samples[finite]
        if kept.shape[0] < self.min_samples:
            raise TooFewSamples(f"the verdict needs at least {self.min_samples} finite samples (half the "
                                f"{self._heldout_model.shape[0]} held-out points), got {kept.shape[0]}")
        model = kept.numpy()
        data = self.dataset.to_data_space(kept).numpy()
        readings = [
            finite_reading(float(1.0 - finite.double().mean())),
            sliced_wasserstein_reading(self._sw, data),
            off_support_reading(data, self._train_data, self._heldout_data, self._radius,
                                self._off_support_reference),
            coverage_reading(model, self._heldout_model.numpy(), seed=self.seed),
            copy_rate_reading(kept, self._train_model, self._heldout_model, self._copy_reference),
        ]
        if self._modes is not None:
            sample_modes = self._modes.assign(model)
            readings.append(mode_shares_reading(sample_modes, self._train_modes, self._modes.num_modes))
            readings.append(mode_spread_reading(model, sample_modes, self._heldout_model.numpy(),
                                                self._heldout_modes, self._modes.num_modes))
        return Verdict(tuple(readings), int(samples.shape[0]),
                       None if self._modes is None else self._modes.source)


_CACHE: list[tuple[DataSet, int, QualityVerdict]] = []


def cached_verdict(dataset: DataSet, seed: int = 0) -> QualityVerdict:
    """A :class:`QualityVerdict` for ``dataset``, built once (0.5 s for 8,192 points) and reused while the same
    data set object is asked for again (one slot: a session works on one data set at a time)."""
    if _CACHE and _CACHE[0][0] is dataset and _CACHE[0][1] == seed:
        return _CACHE[0][2]
    verdict = QualityVerdict(dataset, seed=seed)
    _CACHE[:] = [(dataset, seed, verdict)]
    return verdict


def verdict_of(dataset: DataSet | None, samples: torch.Tensor) -> tuple[str, str]:
    """(caption note, full line) of the verdict on model-space samples of ``dataset``, for the studio.

    ("", "") for images or no data set; a note saying how many samples the verdict needs when there are too few
    (the studio draws 1,000 points by default, enough for a default 8,192-point set's 409).
    """
    if dataset is None or dataset.kind != "points" or dataset.heldout.shape[0] < MIN_HELDOUT:
        return "", ""
    verdict = cached_verdict(dataset)
    try:
        result = verdict.judge(samples)
    except TooFewSamples:
        note = f"verdict needs >= {verdict.min_samples} samples"
        return note, f"Quality verdict: {note} (draw more to judge them)."
    return result.short(), f"Quality verdict: {result.summary()}."
