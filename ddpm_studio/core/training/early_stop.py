"""Stop a points run when its held-out sample quality stops improving (issue 16: no guessing the step count).

Every ``train.early_stop_every`` steps the EMA model draws a fixed set of samples (same x_T and the same noise
each time, so checks differ by the model only) and the quality verdict judges them with every lens (MATH.md M46,
:mod:`ddpm_studio.core.scores.verdict`). A check is ranked by the verdict's severity, the worst lens's distance to
its bar (<= 1: clean on every lens). The run stops once ``early_stop_patience`` consecutive checks have not bettered
the best severity by EARLY_STOP_MIN_GAIN (Prechelt 1998's patience rule), and the line it leaves says whether the
last check read clean, and if not, which lenses failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.scores.lenses import SW_TARGET
from ddpm_studio.core.scores.verdict import QualityVerdict, TooFewSamples

OFF_SUPPORT_TARGET = 0.03  # the bar of checks recorded before the verdict (issue 16), for their quality only
EARLY_STOP_MIN_GAIN = 0.05  # a check must lower the best severity by 5 % to count as an improvement
CHECK_SAMPLES = 1000
#: The check's sampler, chosen to judge what the user then draws (``sample`` and the studio default to T-step
#: ancestral). Measured on trained gaussians8 and gaussians25 runs (benchmarks/RESULTS.md, "The early-stop
#: check's sampler"): DPM-Solver++(2M) SDE with 100 evaluations on the log-SNR grid reads as T-step ancestral
#: does on every lens (clean 3/3 on both; worst mode spread 1.15x / 1.45x against 1.17x / 1.43x) in ~1 s per
#: 1,000 samples against ~9 s; the earlier 50 evaluations on the trailing grid shrank gaussians25's narrowest
#: mode to 0.50x (a check then judged samples the user never draws).
CHECK_METHOD, CHECK_STEPS, CHECK_SPACING = "dpmpp_2m_sde", 100, "logsnr"
#: A flow run's check: Heun on the flow ODE at 100 evaluations (second order, M52), which on the Gaussian flow map
#: ends within 1e-3 of the exact endpoint (tests/core/test_flow_samplers.py): it judges the model, not a
#: sampler's error.
FLOW_CHECK_METHOD, FLOW_CHECK_STEPS, FLOW_CHECK_SPACING = "heun", 100, "linspace"


@dataclass
class QualityCheck:
    """One check: the step, the two scores of issue 16, and the verdict's severity and failed lenses.

    ``severity`` and ``failed`` are None for checks recorded before the verdict existed (their runs resume with
    the old ranking, max(SW / 1.5, off-support / 3 %)).
    """

    step: int
    sw_ratio: float
    off_support: float
    severity: float | None = None
    failed: tuple[str, ...] | None = None
    # each failed lens's line ("coverage 83.1 % of held-out points covered (expected 96.9 %)") for the log, and
    # saved with the check, so a resumed run's reason reads as the straight run's does
    notes: tuple[str, ...] = ()

    @property
    def quality(self) -> float:
        """The rank of the check (lower is better; <= 1 clean)."""
        if self.severity is not None:
            return self.severity
        return max(self.sw_ratio / SW_TARGET, self.off_support / OFF_SUPPORT_TARGET)

    @property
    def clean(self) -> bool | None:
        return None if self.failed is None else not self.failed

    def describe(self) -> str:
        scores = f"SW {self.sw_ratio:.2f}x floor, off-support {100 * self.off_support:.1f} %"
        if self.failed is None:
            return scores
        if not self.failed:
            return f"{scores}, clean"
        return f"{scores}, not clean: {'; '.join(self.notes) if self.notes else ', '.join(self.failed)}"

    def to_record(self) -> list:
        """JSON: [step, sw_ratio, off_support] (+ [severity, failed, notes] when judged by the verdict)."""
        base = [self.step, self.sw_ratio, self.off_support]
        return base if self.failed is None else [*base, self.severity, list(self.failed), list(self.notes)]

    @classmethod
    def from_record(cls, record: list) -> QualityCheck:
        step, sw, off, *rest = record
        if rest:
            severity, failed, *notes = rest  # notes since they were saved; [severity, failed] records have none
            return cls(int(step), float(sw), float(off), float(severity), tuple(str(name) for name in failed),
                       tuple(str(note) for note in notes[0]) if notes else ())
        return cls(int(step), float(sw), float(off))


class EarlyStopper:
    """Held-out quality of a points run, checked every few hundred steps; says when it stopped improving.

    Args:
        dataset: the run's points :class:`DataSet` (model space; scored in data coordinates).
        patience: how many checks without a gain end the run.
        seed: fixes the held-out halves and the check's x_T.
    """

    def __init__(self, dataset: DataSet, patience: int, seed: int = 0) -> None:
        self._verdict = QualityVerdict(dataset, seed=seed)
        self.num_samples = max(CHECK_SAMPLES, self._verdict.min_samples)
        self.dataset = dataset
        self.patience = patience
        self.seed = seed
        self.history: list[QualityCheck] = []
        self.best: QualityCheck | None = None
        self._since_best = 0

    def check(self, pipeline, step: int) -> QualityCheck:
        """Score the pipeline's samples now and record the check (the torch RNG state is left as it was)."""
        rng_state = torch.get_rng_state()
        if getattr(pipeline, "is_flow", False):  # a stand-in pipeline of the tests may not say
            method, steps, spacing = FLOW_CHECK_METHOD, FLOW_CHECK_STEPS, FLOW_CHECK_SPACING
        else:
            method, steps, spacing = CHECK_METHOD, min(CHECK_STEPS, pipeline.diffusion.num_timesteps), CHECK_SPACING
        try:
            x = pipeline.sample_final(self.num_samples, num_steps=steps, method=method, spacing=spacing,
                                      seed=self.seed)
        finally:
            torch.set_rng_state(rng_state)  # also when interrupted: the training stream must resume exactly
        try:
            verdict = self._verdict.judge(x.detach().cpu())
        except TooFewSamples:  # mostly NaN / inf: the worst a check can be
            result = QualityCheck(step, math.inf, 1.0, math.inf, ("finite",))
        else:
            result = QualityCheck(step, verdict.reading("sliced_wasserstein").value,  # type: ignore[union-attr]
                                  verdict.reading("off_support").value,  # type: ignore[union-attr]
                                  verdict.severity, tuple(verdict.failed),
                                  tuple(f"{r.name} {r.note}" for r in verdict.readings if not r.passed))
        self.history.append(result)
        if self.best is None or result.quality < self.best.quality * (1.0 - EARLY_STOP_MIN_GAIN):
            self.best, self._since_best = result, 0
        else:
            self._since_best += 1
        return result

    def state_dict(self) -> dict:
        """The record a resume needs for the same verdict (JSON: checks as [step, sw_ratio, off_support,
        severity, failed lenses, their notes]; records of 3 from older runs still load)."""
        return {"history": [c.to_record() for c in self.history],
                "best": None if self.best is None else self.history.index(self.best),
                "since_best": self._since_best}

    def load_state_dict(self, state: dict) -> None:
        """Put back :meth:`state_dict`'s record (the checks a resumed run's verdict counts on)."""
        self.history = [QualityCheck.from_record(record) for record in state["history"]]
        best = state.get("best")
        self.best = None if best is None else self.history[int(best)]
        self._since_best = int(state["since_best"])

    @property
    def should_stop(self) -> bool:
        return self._since_best >= self.patience

    def reason(self) -> str:
        """One line for the log: why the run stopped, then the last check (what the saved model draws; first, so a
        status bar that cuts the line still shows it), then the best."""
        assert self.best is not None
        last = self.history[-1]
        checks = "check" if self.patience == 1 else "checks"
        return (f"held-out quality stopped improving (no {100 * EARLY_STOP_MIN_GAIN:.0f} % gain in {self.patience} "
                f"{checks}); last check at step {last.step}: {last.describe()}; best at step {self.best.step}: "
                f"{self.best.describe()}")
