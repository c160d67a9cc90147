"""The lenses of the quality verdict (MATH.md M42-M46): each sees one kind of fault, none sees them all.

Every lens compares the samples with what real data the model never trained on (the held-out split) reads on the
same lens, and passes unless the samples are worse by more than chance allows: a two-sample bar at
:data:`BAR_SIGMAS` standard errors, or a closed-form expectation minus that many. The bar is set by the sizes of
the two sets, not tuned on any fault; benchmarks/lens_audit.py checks afterwards that fresh draws pass and every
planted fault is caught.

=================  ==================================================  ============================================
lens               sees                                                misses
=================  ==================================================  ============================================
finite             NaN / inf samples                                   everything else
sliced_wasserstein location and overall spread (M39)                   a thin haze, copies, a small dropped mode
off_support        mass between or beyond the modes (M37)              copies, shrunk modes, collapse, a lost mode
coverage           lost or shrunk modes, collapse (M42)                copies, a thin haze
copy_rate          samples that are training points (M31, M43)         everything a fresh-looking sample can hide
mode_shares        a mode drawn too often or too rarely (M44)          shape within a mode; needs known modes
mode_spread        modes shrunk, collapsed or smeared (M45)            a lost mode (mode_shares' job); known modes
=================  ==================================================  ============================================

All functions take float64 numpy arrays (N, D); which space they are in (model space, data coordinates, features)
is the caller's choice and is said in :mod:`ddpm_studio.core.scores.verdict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ddpm_studio.core.scores.metrics import (
    OFF_SUPPORT_NEIGHBOURS,
    HeldoutSlicedWasserstein,
    nearest_distances,
    off_support_fraction,
)
from ddpm_studio.core.scores.neighbours import copy_mask

#: Every two-sample bar sits this many standard errors above the held-out reading (or below an expectation).
BAR_SIGMAS = 4.0
#: The two-sided normal tail beyond BAR_SIGMAS: the p-value bar of the chi-square lens, so every lens errs on
#: fresh data equally rarely (2 * (1 - Phi(4)) = 6.3e-5).
BAR_P_VALUE = math.erfc(BAR_SIGMAS / math.sqrt(2.0))
#: The sliced Wasserstein bar: at most this many times the floor (issue 16's target, M39).
SW_TARGET = 1.5
#: Coverage's neighbourhood size: Naeem et al. 2020 use k = 5 with as many samples as real points.
COVERAGE_K = 5
#: Coverage is averaged over this many random halves of the held-out set, each against its own chunk of samples.
COVERAGE_SPLITS = 8
#: A coverage half holds at most this many points (its distance matrix is half x half).
COVERAGE_MAX_POINTS = 4096
#: A mode's spread is judged only where it holds at least this many samples and held-out points; fewer is
#: mode_shares' business (a mode with 0 samples has no spread at all).
SPREAD_MIN_POINTS = 8


@dataclass(frozen=True)
class LensReading:
    """What one lens read.

    Attributes:
        name: the lens (a key of the verdict's JSON).
        value: its number for the samples (a share, a ratio, a p-value or a z-score: ``unit`` says).
        reference: what held-out data reads (or is expected to read) on the same number.
        limit: the bar; ``passed`` says on which side of it the value fell.
        passed: True when the samples are not worse than real data beyond chance.
        unit: "share", "ratio", "p" or "z".
        note: one line for people, e.g. "mode 3 at 0.33x the held-out spread".
        detail: further numbers (per-mode values, per-split coverage), JSON-ready.
    """

    name: str
    value: float
    reference: float
    limit: float
    passed: bool
    unit: str
    note: str = ""
    detail: dict = field(default_factory=dict)

    @property
    def severity(self) -> float:
        """How far the reading sits towards its bar: <= 1 passes, > 1 fails (0 is a perfect 0-valued reading).

        value / limit for the lenses that pass at or below their bar; for coverage, which passes at or above it,
        the shortfall (1 - value) / (1 - limit); a non-zero non-finite share is infinitely severe. The early-stop
        check ranks its checks by the worst severity of all lenses, so "better" means "nearer clean on every lens".
        """
        if self.name == "coverage":
            return (1.0 - self.value) / max(1.0 - self.limit, 1e-12)
        if self.limit <= 0.0:
            return 0.0 if self.value <= 0.0 else math.inf
        return self.value / self.limit

    def to_dict(self) -> dict:
        """JSON-ready: every field (non-finite numbers as None, which JSON can hold)."""
        return {"value": _json_number(self.value), "reference": _json_number(self.reference),
                "limit": _json_number(self.limit), "passed": bool(self.passed), "unit": self.unit,
                "note": self.note, **self.detail}


def _json_number(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _two_sample_share_bar(share: float, n: int, reference_share: float, n_reference: int) -> float:
    """The highest share a sample set of n may read when real data reads ``reference_share`` over
    ``n_reference``: the reference plus BAR_SIGMAS pooled binomial standard errors (M43)."""
    pooled = (share * n + reference_share * n_reference) / (n + n_reference)
    return reference_share + BAR_SIGMAS * math.sqrt(pooled * (1.0 - pooled) * (1.0 / n + 1.0 / n_reference))


def finite_reading(nonfinite_share: float) -> LensReading:
    """Any NaN / inf sample fails: a sampler that produced one is broken, whatever the rest look like."""
    return LensReading("finite", nonfinite_share, 0.0, 0.0, nonfinite_share == 0.0, "share",
                       "" if nonfinite_share == 0.0 else f"{100 * nonfinite_share:.1f} % of samples are NaN / inf")


def sliced_wasserstein_reading(sw: HeldoutSlicedWasserstein, samples: np.ndarray) -> LensReading:
    """SW against held-out halves over the floor (M39), at most SW_TARGET. Data coordinates."""
    ratio = sw.ratio(samples)
    return LensReading("sliced_wasserstein", ratio, 1.0, SW_TARGET, ratio <= SW_TARGET, "ratio",
                       f"{ratio:.2f}x the floor")


def off_support_reference(train: np.ndarray, heldout: np.ndarray, threshold: float) -> tuple[float, float]:
    """(the training points' leave-one-out off-support share, the held-out share): what real data reads on
    :func:`off_support_reading`, the same for every sample set of one data set (compute it once)."""
    loo = float(np.mean(nearest_distances(train, train, exclude_self=True, k=OFF_SUPPORT_NEIGHBOURS) > threshold))
    return loo, off_support_fraction(heldout, train, threshold=threshold)


def off_support_reading(samples: np.ndarray, train: np.ndarray, heldout: np.ndarray, threshold: float,
                        reference: tuple[float, float] | None = None) -> LensReading:
    """The share of samples off the training data's support (M37) against the training points' own share (M43).

    The reference is each training point judged against the other training points (leave-one-out), the very
    reading ``threshold``, their 99th percentile, was cut from: ~1 % by construction, and by exchangeability what
    a fresh point judged against all of them reads. Its error is that of N_train points, not of the held-out set's
    few hundred, so the bar sits as close above 1 % as the samples' own count allows. The held-out share is kept
    in ``detail`` as a check of that argument. ``reference``: :func:`off_support_reference`, when the caller has it.
    """
    share = off_support_fraction(samples, train, threshold=threshold)
    loo, heldout_share = reference if reference is not None else off_support_reference(train, heldout, threshold)
    limit = _two_sample_share_bar(share, len(samples), loo, len(train))
    return LensReading("off_support", share, loo, limit, share <= limit, "share",
                       f"{100 * share:.1f} % off the support (real data {100 * loo:.1f} %)",
                       {"heldout": heldout_share})


def copy_rate_reading(samples: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor,
                      reference: float | None = None) -> LensReading:
    """The ratio-test copy rate (M31) against the held-out set's own rate on the same training set (M43).

    Held-out points were never trained on, so their rate is what new samples of the data's distribution read
    (about 1/9 in 2-D where the data are locally uniform, ~0 for images); samples copying training points read
    near 1. Any space works (model space for points, pixels for images). ``reference``: the held-out rate, when
    the caller has it (it is the same for every sample set of one data set).
    """
    rate = float(copy_mask(samples, train).double().mean())
    if reference is None:
        reference = float(copy_mask(heldout, train).double().mean())
    limit = _two_sample_share_bar(rate, int(samples.shape[0]), reference, int(heldout.shape[0]))
    return LensReading("copy_rate", rate, reference, limit, rate <= limit, "share",
                       f"{100 * rate:.1f} % copy a training point (held-out {100 * reference:.1f} %)")


def expected_coverage(n_real: int, n_samples: int, k: int = COVERAGE_K) -> float:
    """E[coverage] when samples and real points come from one distribution (Naeem et al. 2020, M42):
    1 - prod_{j=0}^{k-1} (N - 1 - j) / (N + M - 1 - j), N real points, M samples."""
    miss = 1.0
    for j in range(k):
        miss *= (n_real - 1 - j) / (n_real + n_samples - 1 - j)
    return 1.0 - miss


def coverage_reading(
    samples: np.ndarray, heldout: np.ndarray, seed: int = 0, k: int = COVERAGE_K, splits: int = COVERAGE_SPLITS
) -> LensReading:
    """Coverage (M42), averaged over ``splits`` random halves of the held-out set, each against its own random
    chunk of as many samples; passes unless it falls BAR_SIGMAS binomial errors below its closed-form expectation.

    Args:
        samples: (M, D), M >= the half size. heldout: (N, D), N >= 2 (k + 1).
    Returns:
        The mean coverage; ``detail`` holds each split's coverage and the density (Naeem et al.'s precision-like
        companion: about 1 for fresh samples, above 1 where samples crowd into dense regions).
    """
    half = min(len(heldout) // 2, COVERAGE_MAX_POINTS)
    if half < k + 1:
        raise ValueError(f"coverage needs at least {2 * (k + 1)} held-out points, got {len(heldout)}")
    if len(samples) < half:
        raise ValueError(f"coverage needs at least {half} samples (half the held-out set), got {len(samples)}")
    rng = np.random.default_rng(seed)
    coverages, densities = [], []
    for _ in range(splits):
        real = heldout[rng.permutation(len(heldout))[:half]]
        fake = samples[rng.permutation(len(samples))[:half]]
        radii = nearest_distances(real, real, exclude_self=True, k=k)  # each real point's k-NN ball
        inside = torch.cdist(torch.from_numpy(fake), torch.from_numpy(real)).numpy() < radii[None, :]
        coverages.append(float(inside.any(axis=0).mean()))
        densities.append(float(inside.sum() / (k * half)))
    expected = expected_coverage(half, half, k)
    limit = expected - BAR_SIGMAS * math.sqrt(expected * (1.0 - expected) / half)
    value = float(np.mean(coverages))
    return LensReading("coverage", value, expected, limit, value >= limit, "share",
                       f"{100 * value:.1f} % of held-out points covered (expected {100 * expected:.1f} %)",
                       {"splits": coverages, "density": float(np.mean(densities)), "k": k, "half": half})


def chi_square_p_value(statistic: float, dof: int) -> float:
    """P(X > statistic) for X ~ chi-square(dof): the regularised upper incomplete gamma Q(dof/2, x/2)."""
    return float(torch.special.gammaincc(torch.tensor(dof / 2.0, dtype=torch.float64),
                                         torch.tensor(statistic / 2.0, dtype=torch.float64)))


def family_bar_z(count: int) -> float:
    """The |z| above which the worst of ``count`` tests fails, for a family-wise error of BAR_P_VALUE
    (Bonferroni: each test at BAR_P_VALUE / count, two-sided). 4.0 for one test, 4.47 for 8, 4.71 for 25."""
    tail = BAR_P_VALUE / max(1, count)
    return float(math.sqrt(2.0) * torch.special.erfinv(torch.tensor(1.0 - tail, dtype=torch.float64)))


def mode_shares_reading(sample_modes: np.ndarray, reference_modes: np.ndarray, num_modes: int) -> LensReading:
    """Each mode's share of the samples against its share of the training data, the worst as a z-score (M44).

    A two-sample binomial z per mode (pooled share, as M43), judged at :func:`family_bar_z` of the number of modes,
    so that a mixture of 25 modes errs on fresh data no more often than one lens does. One missing mode of 25 is
    a 6-sigma deficit at 1,000 samples; Pearson's chi-square over all modes (kept in ``detail``) spreads the same
    deficit over 24 degrees of freedom and misses it about one time in ten.

    Args:
        sample_modes: (M,) int, each sample's mode. reference_modes: (N,) int, each real point's mode (training points
            for 2-D data; the held-out images' classes as the classifier reads them, for images).
    Returns:
        value: the largest |z| over the modes; ``detail`` the shares of both, the chi-square and its p-value.
    """
    n, m = len(sample_modes), len(reference_modes)
    observed = np.bincount(sample_modes, minlength=num_modes) / n
    expected = np.bincount(reference_modes, minlength=num_modes) / m
    pooled = (observed * n + expected * m) / (n + m)
    z = np.abs(observed - expected) / np.sqrt(np.maximum(pooled * (1.0 - pooled), 1e-300) * (1.0 / n + 1.0 / m))
    worst = int(np.argmax(z))
    bar = family_bar_z(num_modes)
    present = expected > 0
    statistic = float((((observed - expected) ** 2)[present] / expected[present]).sum() * n)
    ratio = observed[worst] / expected[worst] if expected[worst] > 0 else math.inf
    return LensReading("mode_shares", float(z[worst]), 0.0, bar, bool(z[worst] <= bar), "z",
                       f"mode {worst} drawn at {ratio:.2f}x its share (z = {z[worst]:.1f})",
                       {"shares": observed.tolist(), "expected": expected.tolist(), "chi_square": statistic,
                        "chi_square_p": chi_square_p_value(statistic, int(present.sum()) - 1)})


def _mean_square_radius(points: np.ndarray) -> tuple[float, np.ndarray]:
    """(mean of r^2, r^2) with r the distance of each row of ``points`` (n, D) from their mean."""
    r2 = ((points - points.mean(axis=0)) ** 2).sum(axis=1)
    return float(r2.mean()), r2


def mode_spread_reading(
    samples: np.ndarray, sample_modes: np.ndarray, heldout: np.ndarray, heldout_modes: np.ndarray, num_modes: int
) -> LensReading:
    """Each mode's RMS radius in the samples over that in the held-out data, as a z-score of its log (M45).

    A mode with fewer than SPREAD_MIN_POINTS samples or held-out points is not judged here (mode_shares judges
    how often it is drawn). value: the largest |z| over the modes judged, failing above :func:`family_bar_z` of
    their number; ``detail`` every mode's ratio (None where not judged).
    """
    ratios: list[float | None] = []
    worst_z, worst_mode = 0.0, -1
    for mode in range(num_modes):
        mine, real = samples[sample_modes == mode], heldout[heldout_modes == mode]
        if len(mine) < SPREAD_MIN_POINTS or len(real) < SPREAD_MIN_POINTS:
            ratios.append(None)
            continue
        m_sample, _ = _mean_square_radius(mine)
        m_real, r2_real = _mean_square_radius(real)
        # under "same distribution", var(log mean r^2) = CV^2 / n (delta method) with the held-out CV^2 of r^2;
        # the spread (RMS radius) is half that log
        cv2 = float(r2_real.var() / m_real**2)
        se = 0.5 * math.sqrt(cv2 * (1.0 / len(mine) + 1.0 / len(real)))
        ratio = math.sqrt(m_sample / m_real)
        z = math.inf if ratio == 0.0 else abs(math.log(ratio)) / se
        ratios.append(ratio)
        if z > worst_z:
            worst_z, worst_mode = z, mode
    judged = [r for r in ratios if r is not None]
    note = (f"mode {worst_mode} at {ratios[worst_mode]:.2f}x the held-out spread (z = {worst_z:.1f})"
            if worst_mode >= 0 else "no mode holds enough points to judge")
    bar = family_bar_z(len(judged))
    return LensReading("mode_spread", worst_z, 0.0, bar, worst_z <= bar and bool(judged), "z", note,
                       {"ratios": ratios})
