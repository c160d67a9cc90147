"""The moons' true density (benchmarks/moons_density.py, the floor RESULTS.md sets the ODE likelihood against)."""

from __future__ import annotations

import numpy as np

from benchmarks import moons_density


def test_the_moons_density_integrates_to_one(monkeypatch):
    monkeypatch.setattr(moons_density, "NUM_ANGLES", 1000)
    xs, ys = np.linspace(-2.0, 2.0, 101), np.linspace(-1.5, 1.5, 76)  # spacing 0.04, under s = 0.05
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    mass = np.exp(moons_density.moons_log_density(grid)).sum() * (xs[1] - xs[0]) * (ys[1] - ys[0])
    assert abs(mass - 1.0) < 1e-3


def test_the_density_peaks_on_the_arcs_and_matches_one_arcs_gaussian_there():
    """On the upper arc's top, far from the other moon: half of a 1-D normal across the arc, spread along it."""
    on_arc = np.array([[0.0 - 0.5, 1.0 - 0.25]])  # (cos pi/2, sin pi/2), shifted like the generator
    off_arc = np.array([[0.0 - 0.5, 1.2 - 0.25]])
    s = moons_density.MOONS_NOISE
    # across the arc: N(0; 0, s^2); along it: the angle is uniform over pi radians of a unit circle
    expected = np.log(0.5 / np.pi / np.sqrt(2 * np.pi * s**2))
    assert abs(moons_density.moons_log_density(on_arc)[0] - expected) < 0.01
    assert moons_density.moons_log_density(off_arc)[0] < expected - 7.0  # 4 standard deviations off
