"""RePaint inpainting (M57-M59): the paper's jump schedule, the closed-form ends (all known, all unknown), the known
part kept exactly, the marginals of the re-noised known part and of the forward jump, and on the ideal denoiser of
a two-mode mixture the right conditional mode."""

from __future__ import annotations

import math

import pytest
import torch

from ddpm_studio.core.analysis.ideal import IdealDenoiser
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.flow import make_flow
from ddpm_studio.core.process.schedule import make_betas
from ddpm_studio.core.sampling import (
    inpaint,
    repaint_evaluations,
    repaint_schedule,
    respaced_timesteps,
    run_to_end,
    sample,
)
from ddpm_studio.core.sampling.repaint import FLOW_REFUSAL, forward_jump


def _diffusion(T: int = 100) -> GaussianDiffusion:
    return GaussianDiffusion(make_betas("cosine", T))


def _two_modes(n: int = 200, seed: int = 0) -> torch.Tensor:
    """Points near (-1.5, -1.5) and (1.5, 1.5), half each: knowing x tells which mode, hence the sign of y."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[-1.5, -1.5], [1.5, 1.5]])
    return centres[torch.arange(n) % 2] + 0.15 * torch.randn(n, 2, generator=gen)


# ------------------------------------------------------------------------------------------------ the schedule
def test_the_schedule_of_a_small_case_written_out():
    # K = 6, L = 2, r = 3: jump points 0 and 2, each jumped back twice by 2 positions
    assert repaint_schedule(6, 2, 3) == [5, 4, 3, 2, 3, 4, 3, 2, 3, 4, 3, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, -1]


@pytest.mark.parametrize("K, L, r", [(250, 10, 10), (50, 5, 3), (20, 3, 4), (10, 10, 5), (7, 1, 2), (30, 4, 1)])
def test_the_schedule_counts_are_the_papers(K, L, r):
    times = repaint_schedule(K, L, r)
    assert times[0] == K - 1 and times[-1] == -1
    moves = [b - a for a, b in zip(times, times[1:])]
    assert set(moves) <= {-1, 1}
    assert all(-1 <= t <= K - 1 for t in times)
    jump_points = max(0, math.ceil((K - L) / L))  # j = 0, L, 2L, ... below K - L
    forward = (r - 1) * L * jump_points
    assert moves.count(1) == forward
    assert moves.count(-1) == K + forward == repaint_evaluations(K, L, r)


def test_the_papers_setting_costs_2410_evaluations():
    # T = 250, jump length 10, 10 resamplings (Lugmayr et al. 2022, Sec. 4.1): 24 jump points x 9 x 10 forward steps
    assert repaint_evaluations(250, 10, 10) == 250 + 24 * 9 * 10 == 2410


def test_no_resampling_is_a_plain_descent():
    assert repaint_schedule(12, 4, 1) == list(range(11, -2, -1))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_counts_are_refused(bad):
    with pytest.raises(ValueError, match="RePaint"):
        repaint_schedule(10, bad, 2)


# ------------------------------------------------------------------------------------------------ closed forms
@pytest.mark.parametrize("K", [100, 20])
def test_all_unknown_without_resampling_is_ancestral_sampling(K):
    diffusion = _diffusion()
    model = IdealDenoiser(_two_modes(), diffusion)
    shape = (64, 2)
    plain = run_to_end(sample(diffusion, model, shape, num_steps=K, generator=torch.Generator().manual_seed(3)))
    known = torch.full(shape, 9.0)  # never read: the mask keeps nothing of it
    painted = list(inpaint(diffusion, model, known, torch.zeros(2), num_steps=K, jump_n_sample=1,
                           generator=torch.Generator().manual_seed(3)))
    assert len(painted) == K
    assert torch.equal(painted[-1].x, plain.x)


def test_all_known_gives_the_known_part_renoised_at_each_level_and_exactly_at_t0():
    """With m = 1 every state is M57's draw of q(x_t | x_0): (x - sqrt(abar) x0) / sqrt(1 - abar) is N(0, 1)."""
    diffusion = _diffusion()
    known = torch.tensor([0.7, -0.4]).expand(4000, 2).clone()
    model = IdealDenoiser(_two_modes(), diffusion)
    records = list(inpaint(diffusion, model, known, torch.ones(2), num_steps=10, jump_length=3, jump_n_sample=2,
                           generator=torch.Generator().manual_seed(1)))
    assert torch.equal(records[-1].x, known)
    for record in records[:-1]:
        eps = (record.x - record.abar**0.5 * known) / (1 - record.abar) ** 0.5
        assert abs(float(eps.mean())) < 0.05 and abs(float(eps.std()) - 1) < 0.05
        assert record.abar == pytest.approx(float(diffusion.alphas_cumprod[record.t_next]))


def test_the_forward_jump_moves_q_of_xi_onto_q_of_x_i_plus_L():
    """M59 chained over L grid points of M21 takes x ~ q(x_{tau_i} | x_0) to q(x_{tau_{i+L}} | x_0) (M5)."""
    diffusion = _diffusion()
    taus = respaced_timesteps(100, 20)
    abar = [float(diffusion.alphas_cumprod[t]) for t in taus]
    gen = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1), 1.3)
    i, L = 4, 5
    x = abar[i] ** 0.5 * x0 + (1 - abar[i]) ** 0.5 * torch.randn(x0.shape, generator=gen)
    for j in range(i, i + L):
        x = forward_jump(x, abar[j], abar[j + 1], torch.randn(x.shape, generator=gen))
    a = abar[i + L]
    assert float(x.mean()) == pytest.approx(a**0.5 * 1.3, abs=0.02)
    assert float(x.var()) == pytest.approx(1 - a, abs=0.02)


def test_the_known_pixels_of_the_final_sample_are_the_known_image():
    diffusion = _diffusion(50)
    gen = torch.Generator().manual_seed(2)
    data = torch.rand(40, 1, 4, 4, generator=gen) * 2 - 1
    known = data[:6]
    mask = (torch.rand(1, 1, 4, 4, generator=gen) > 0.5).float()
    records = list(inpaint(diffusion, IdealDenoiser(data, diffusion), known, mask, num_steps=12, jump_length=3,
                           jump_n_sample=3, generator=torch.Generator().manual_seed(5)))
    final = records[-1].x
    keep = mask.expand_as(final).bool()
    assert torch.equal(final[keep], known[keep])
    assert not torch.equal(final[~keep], known[~keep])  # the rest was regenerated
    assert len(records) == repaint_evaluations(12, 3, 3) == records[-1].num_steps
    assert [r.nfe for r in records] == list(range(1, len(records) + 1))
    assert records[-1].t_next == -1 and records[-1].abar == 1.0


@pytest.mark.parametrize("r", [1, 3])
def test_a_known_x_of_a_two_mode_mixture_gives_the_right_mode_for_y(r):
    """The ideal denoiser of the mixture (M30): given x = +1.5 the conditional p(y | x) sits at y = +1.5, given
    x = -1.5 at y = -1.5; the inpainted y must follow."""
    diffusion = _diffusion()
    model = IdealDenoiser(_two_modes(), diffusion)
    mask = torch.tensor([1.0, 0.0])
    for side in (1.0, -1.0):
        known = torch.tensor([1.5 * side, 0.0]).expand(300, 2)
        final = run_to_end(inpaint(diffusion, model, known, mask, num_steps=40, jump_length=5, jump_n_sample=r,
                                   generator=torch.Generator().manual_seed(7))).x
        assert torch.equal(final[:, 0], known[:, 0])
        y = final[:, 1] * side
        assert float((y > 0).float().mean()) > 0.97
        assert float(y.median()) == pytest.approx(1.5, abs=0.3)


def test_a_flow_run_is_refused_with_one_message():
    flow = make_flow("linear")
    with pytest.raises(ValueError) as error:
        inpaint(flow, lambda x, t: x, torch.zeros(2, 2), torch.ones(2))
    assert str(error.value) == FLOW_REFUSAL


def test_a_mask_that_does_not_fit_is_refused():
    diffusion = _diffusion(50)
    with pytest.raises(ValueError, match="broadcast"):
        inpaint(diffusion, lambda x, t: x, torch.zeros(3, 1, 4, 4), torch.ones(1, 1, 5, 5))
