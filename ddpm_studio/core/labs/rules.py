"""Verdict rules of a lab, fixed before it runs (MATH.md M60-M62).

A rule reads per-seed measurements (one number per seed for each named quantity) and returns one of three
verdicts. Every rule compares a *gap* with a *margin*: the margin is ``spreads`` times the spread of the gap across
seeds (the sample standard deviation, M60) or a minimum effect ``min_effect`` times the scale of the compared
numbers, whichever is larger, so that neither a lucky seed nor a difference too small to matter decides a claim.

This module imports neither torch nor numpy: ``ddpm-studio lab --list`` reads the recipes without them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

HOLDS, DOES_NOT_HOLD, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
VERDICTS = (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE)

#: Default number of spreads a gap must exceed (the issue's example rule: "by more than twice the spread").
SPREADS = 2.0

Measurements = Mapping[str, Sequence[float]]


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean (inf when any value is +inf, e.g. a diverged run scored as infinitely bad)."""
    return math.fsum(values) / len(values) if not any(math.isinf(v) for v in values) else _inf_mean(values)


def _inf_mean(values: Sequence[float]) -> float:
    signs = {math.copysign(1.0, v) for v in values if math.isinf(v)}
    return math.inf if signs == {1.0} else (-math.inf if signs == {-1.0} else math.nan)


def spread(values: Sequence[float]) -> float:
    """Sample standard deviation across seeds (ddof = 1; M60); 0 for a single value, NaN with infinities."""
    if len(values) < 2:
        return 0.0
    if any(math.isinf(v) for v in values):
        return math.nan
    m = mean(values)
    return math.sqrt(math.fsum((v - m) ** 2 for v in values) / (len(values) - 1))


def describe(values: Sequence[float]) -> str:
    """"1.23 ± 0.05" (mean ± spread over the seeds)."""
    m, s = mean(values), spread(values)
    if math.isinf(m):
        return "inf (diverged)" if m > 0 else "-inf"
    return f"{_fmt(m)} ± {_fmt(s)}" if len(values) > 1 else _fmt(m)


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "nan"
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


@dataclass(frozen=True)
class CheckResult:
    """One rule applied: its verdict, the sentence that names the numbers, and the numbers."""

    claim: str
    verdict: str
    reason: str
    gap: float
    margin: float

    def to_dict(self) -> dict:
        return {"claim": self.claim, "verdict": self.verdict, "reason": self.reason,
                "gap": _json(self.gap), "margin": _json(self.margin)}


def _json(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)


def _values(measurements: Measurements, name: str) -> list[float] | None:
    values = measurements.get(name)
    if not values or any(math.isnan(float(v)) for v in values):
        return None
    return [float(v) for v in values]


def _paired_gaps(lower: list[float], higher: list[float]) -> list[float]:
    """Per-seed gaps higher - lower (seeds pair: a seed fixes the data split, the weights and the noise)."""
    gaps = []
    for lo, hi in zip(lower, higher, strict=True):
        if math.isinf(lo) and math.isinf(hi):
            gaps.append(0.0 if lo == hi else (math.inf if hi > lo else -math.inf))
        else:
            gaps.append(hi - lo)
    return gaps


@dataclass(frozen=True)
class Below:
    """"``lower`` is below ``higher``" (M61): the mean per-seed gap d = higher - lower exceeds the margin
    m = max(spreads * spread(d), min_effect * |mean(higher)|).

    holds: mean(d) > m; does not hold: mean(d) < -m (clearly the other way); inconclusive otherwise, or when a value
    is missing / NaN. With ``or_equal`` (a claim of "matches or beats") it holds unless clearly the other way:
    holds when mean(d) >= -m, does not hold when mean(d) < -m.
    """

    claim: str
    lower: str
    higher: str
    spreads: float = SPREADS
    min_effect: float = 0.05
    or_equal: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        return (self.lower, self.higher)

    def text(self) -> str:
        """The rule in words, as report.md prints it before the measurements."""
        relation = "is not above" if self.or_equal else "is below"
        return (f"{self.lower} {relation} {self.higher}: per-seed gap {self.higher} − {self.lower}, margin "
                f"max({self.spreads:g} × spread of the gap, {self.min_effect:g} × |mean {self.higher}|); "
                + ("holds unless the gap is below −margin" if self.or_equal else
                   "holds above +margin, does not hold below −margin, else inconclusive"))

    def judge(self, measurements: Measurements) -> CheckResult:
        lower, higher = _values(measurements, self.lower), _values(measurements, self.higher)
        if lower is None or higher is None or len(lower) != len(higher):
            missing = [n for n, v in ((self.lower, lower), (self.higher, higher)) if v is None]
            why = f"no finite value of {', '.join(missing)}" if missing else "the two lists differ in seeds"
            return CheckResult(self.claim, INCONCLUSIVE, f"{why}, so nothing can be concluded", math.nan, math.nan)
        gaps = _paired_gaps(lower, higher)
        gap = mean(gaps)
        scale = abs(mean(higher)) if math.isfinite(mean(higher)) else 0.0
        s = spread(gaps)
        margin = max(self.spreads * (s if math.isfinite(s) else 0.0), self.min_effect * scale)
        numbers = (f"{self.lower} {describe(lower)} against {self.higher} {describe(higher)} over {len(lower)} "
                   f"seed{'s' if len(lower) != 1 else ''} (gap {_fmt(gap)}, margin {_fmt(margin)})")
        if math.isnan(gap):
            return CheckResult(self.claim, INCONCLUSIVE, f"{numbers}: the gap is undefined", gap, margin)
        if gap < -margin:
            return CheckResult(self.claim, DOES_NOT_HOLD, f"{numbers}: clearly the other way", gap, margin)
        if self.or_equal or gap > margin:
            word = "not above" if self.or_equal and gap <= margin else "below"
            return CheckResult(self.claim, HOLDS, f"{numbers}: {self.lower} is {word} {self.higher}", gap, margin)
        return CheckResult(self.claim, INCONCLUSIVE, f"{numbers}: the gap is inside the margin", gap, margin)


@dataclass(frozen=True)
class AtMost:
    """"``name`` is at most ``bound``" (M62): holds when mean + spreads * spread <= bound, does not hold when
    mean - spreads * spread > bound, inconclusive between (the seeds straddle the bound) or when a value is NaN."""

    claim: str
    name: str
    bound: float
    spreads: float = SPREADS

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,)

    def text(self) -> str:
        return (f"{self.name} at most {self.bound:g}: holds if mean + {self.spreads:g} × spread ≤ {self.bound:g}, "
                f"does not hold if mean − {self.spreads:g} × spread > {self.bound:g}, else inconclusive")

    def judge(self, measurements: Measurements) -> CheckResult:
        values = _values(measurements, self.name)
        if values is None:
            return CheckResult(self.claim, INCONCLUSIVE, f"no finite value of {self.name}", math.nan, math.nan)
        m, s = mean(values), spread(values)
        margin = self.spreads * (s if math.isfinite(s) else 0.0)
        numbers = f"{self.name} {describe(values)} over {len(values)} seeds against the bound {self.bound:g}"
        if m + margin <= self.bound:
            return CheckResult(self.claim, HOLDS, f"{numbers}: within it", self.bound - m, margin)
        if m - margin > self.bound:
            return CheckResult(self.claim, DOES_NOT_HOLD, f"{numbers}: above it", self.bound - m, margin)
        return CheckResult(self.claim, INCONCLUSIVE, f"{numbers}: the seeds straddle it", self.bound - m, margin)


Rule = Below | AtMost


def combine(results: Sequence[CheckResult]) -> tuple[str, str]:
    """The lab's verdict from its checks: holds when every check holds; does not hold when any check does not
    hold; inconclusive otherwise. Returns (verdict, reason): the reason is the deciding check's sentence."""
    if not results:
        return INCONCLUSIVE, "the lab measured nothing"
    failed = [r for r in results if r.verdict == DOES_NOT_HOLD]
    if failed:
        return DOES_NOT_HOLD, "; ".join(f"{r.claim}: {r.reason}" for r in failed)
    open_ = [r for r in results if r.verdict == INCONCLUSIVE]
    if open_:
        return INCONCLUSIVE, "; ".join(f"{r.claim}: {r.reason}" for r in open_)
    return HOLDS, "; ".join(f"{r.claim}: {r.reason}" for r in results)
