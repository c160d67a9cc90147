"""An eps-network's x0_hat gain sqrt((1 - abar) / abar) (M7) and the first t at which x0_hat means something."""

from __future__ import annotations

import math

import numpy as np

from ddpm_studio.core.process.schedule import alpha_bar_from_betas, make_betas
from ddpm_studio.core.process.x0_gain import X0_GAIN_LIMIT, first_meaningful_t, x0_noise_gain


def test_the_gain_is_one_at_half_signal_and_huge_at_t_equal_T():
    assert x0_noise_gain(0.5) == 1.0
    assert x0_noise_gain(1.0) == 0.0 and x0_noise_gain(0.0) == math.inf
    abar = alpha_bar_from_betas(make_betas("cosine", 1000)).double().numpy()
    assert x0_noise_gain(float(abar[-1])) > 1e4  # abar_T = 2.4e-9 on the cosine schedule (M2)


def test_the_first_meaningful_t_is_the_last_one_within_the_limit():
    abar = np.concatenate([[1.0], alpha_bar_from_betas(make_betas("cosine", 1000)).double().numpy()])
    t = first_meaningful_t(abar)
    assert x0_noise_gain(abar[t]) <= X0_GAIN_LIMIT < x0_noise_gain(abar[t + 1])
    assert 800 < t < 1000  # most of the chain: only the last tenth is clipped noise
    assert first_meaningful_t(np.array([1.0, 1e-6, 1e-8])) == 0
