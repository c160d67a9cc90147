"""The Likelihood dock's texts: the bound's values, its summary (M14) and what a log axis leaves out.

Plain strings from :class:`~ddpm_studio.core.evaluation.BoundResult` numbers; no widget, no maths.
"""

from __future__ import annotations

import math

import numpy as np

from ddpm_studio.core.analysis.bound import BoundResult
from ddpm_studio.gui.style import MARKER_COLOR, SAMPLE_COLOR, SNR_COLOR

#: The plot's legend (colour, marker, rich-text label), for :func:`~ddpm_studio.gui.style.legend_html`.
LEGEND = [
    (SAMPLE_COLOR, "line", "L<sub>t</sub>, t = 1…T−1"),
    (SNR_COLOR, "square", "L<sub>0</sub> (decoder)"),
    (MARKER_COLOR, "diamond", "L<sub>T</sub> (prior)"),
]


def format_value(value: float) -> str:
    """A bound value for a label: four significant digits, "—" when unknown."""
    return f"{value:.4g}" if math.isfinite(value) else "—"


def summary_html(result: BoundResult, step: int | None) -> str:
    """The final bound as two lines of rich text: the total with its standard error, then its split (M14)."""
    unit = result.unit
    stderr = f" ± {result.stderr:.2g}" if math.isfinite(result.stderr) else ""
    trained = f", model at step {step:,}" if step is not None else ""
    head = (
        f"<b>bound {format_value(result.per_dim)}{stderr} {unit}</b> "
        f"on {result.num_examples:,} held-out examples, T = {result.num_timesteps:,}{trained}"
    )
    parts = [
        f"L<sub>T</sub> {term_text(result.prior)}",
        f"Σ<sub>t=2..T</sub> L<sub>t−1</sub> {term_text(result.diffusion)}",
        f"L<sub>0</sub> {term_text(result.decoder)}",
    ]
    if unit == "nats/dim":  # the standardisation's log-Jacobian turns model-space nats into data-space nats
        parts.append(f"Jacobian {term_text(result.jacobian)}")
    return f"{head}<br>= {' + '.join(parts)}"


def term_text(value: float) -> str:
    """A summand: negative values in parentheses with a true minus sign, so "+ (−3.05)" reads right."""
    text = format_value(value)
    return f"(−{text[1:]})" if text.startswith("-") else text


def hidden_terms_note(terms: np.ndarray, prior: float) -> str:
    """What a log axis leaves out: "" when every computed term is positive."""
    count = int(np.sum(terms <= 0)) + int(prior <= 0)
    if count == 0:
        return ""
    if count == 1 and len(terms) and terms[0] <= 0:
        return f"L₀ = {term_text(terms[0]).strip('()')} ≤ 0 is off the log axis"
    return f"{count} terms ≤ 0 are off the log axis"


def running_text(num_timesteps: int, done: int, partial: float, unit: str, hidden: str) -> str:
    """The line under the plot while the bound runs from t = T - 1 down: how far, the running total, and
    :func:`hidden_terms_note`'s ``hidden``; once every t is done only ``hidden`` (the summary gives the total)."""
    T = num_timesteps
    parts = [hidden] if hidden else []
    if done < T:  # a low dock keeps one line
        parts[:0] = [
            f"t = {T - 1:,} down to {T - done:,} done ({done:,} / {T:,} timesteps)",
            f"running total {format_value(partial)} {unit}",
        ]
    return " · ".join(parts)
