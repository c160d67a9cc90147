"""The trajectory's x0_hat at t = T of an eps-network is its noise magnified and clipped: the caption says so, and from
which t on x0_hat means something; other parameterizations (and small t) keep the plain caption."""

from __future__ import annotations

import numpy as np
import pytest

from ddpm_studio.core.process.schedule import alpha_bar_from_betas, make_betas
from ddpm_studio.core.process.x0_gain import first_meaningful_t
from ddpm_studio.gui.docks.trajectory import frame_text
from ddpm_studio.gui.trajectory_store import INITIAL_STEP, TrajectoryStore

ABAR = np.concatenate([[1.0], alpha_bar_from_betas(make_betas("cosine", 1000)).double().numpy()])


def store_of(parameterization: str) -> TrajectoryStore:
    store = TrajectoryStore("images", 2, (4, 8, 8, 1), with_forward=False, alpha_bar=ABAR)
    store.parameterization = parameterization
    noise = np.zeros((4, 8, 8, 1), np.uint8)
    store.append(INITIAL_STEP, 1000, 1000, noise, noise)
    store.append(0, 1000, 500, noise, noise)
    store.append(1, 500, 0, noise, noise)
    return store


def test_an_eps_networks_x0_hat_at_t_equal_T_is_called_clipped_noise():
    store = store_of("eps")
    text = frame_text(store.frame(0))
    meaningful = first_meaningful_t(ABAR)
    assert "x₀ predicted from x_T (from ε: its noise ×" in text
    assert f"clipped to the data range; meaningful from t ≈ {meaningful:,})" in text
    assert "clipped" not in frame_text(store.frame(2))  # predicted from t = 500: within the limit


@pytest.mark.parametrize("parameterization", ["v", "x0"])
def test_other_targets_keep_the_plain_caption(parameterization):
    assert "clipped" not in frame_text(store_of(parameterization).frame(0))
