"""The sampler race (core/analysis/race.py): one x_T for every lane, aligned by noise level, distances to a fine run."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ddpm_studio.core.analysis.race import (
    RaceFinished,
    RaceFrame,
    RaceProgress,
    RaceTrack,
    Runner,
    check_race,
    log_snr,
    race,
)
from ddpm_studio.core.config import RunConfig
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas
from ddpm_studio.core.sampling import run_to_end, sample

MU = torch.tensor([1.0, -0.5])
S = torch.tensor([0.4, 1.5])


class GaussianOptimum(nn.Module):
    """E[eps | x_t] for x_0 ~ N(MU, S^2): sqrt(1 - abar) (x_t - sqrt(abar) MU) / (abar S^2 + 1 - abar) (from M5)."""

    def __init__(self, alphas_cumprod: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("abar", alphas_cumprod.float())

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar[t].view(-1, 1)
        return (1 - a).sqrt() * (x - a.sqrt() * MU) / (a * S * S + 1 - a)


@pytest.fixture(scope="module")
def pipeline() -> DiffusionPipeline:
    diffusion = GaussianDiffusion(make_betas("linear", 200))
    return DiffusionPipeline(
        config=RunConfig(), diffusion=diffusion, network=GaussianOptimum(diffusion.alphas_cumprod), kind="points",
        data_shape=(2,), device=torch.device("cpu"), shift=torch.zeros(2), scale=torch.ones(2),
    )


def run(pipeline, runners, nfe, **kwargs):
    return list(race(pipeline, runners, nfe, num_samples=64, seed=3, **kwargs))


def test_every_lane_samples_from_the_same_x_T_as_a_direct_run(pipeline):
    runners = [Runner("ddim"), Runner("dpmpp_2m", "karras"), Runner("ancestral")]
    events = run(pipeline, runners, 10)
    x_T = torch.randn((64, 2), generator=torch.Generator().manual_seed(3))
    for lane, runner in enumerate(runners):
        final = [e for e in events if isinstance(e, RaceFrame) and e.lane == lane and e.final]
        assert len(final) == 1 and final[0].nfe == 10
        generator = torch.Generator().manual_seed(4)
        direct = run_to_end(sample(pipeline.diffusion, pipeline.network, (64, 2), num_steps=10, method=runner.method,
                                   spacing=runner.spacing, noise=x_T.clone(), generator=generator)).x
        torch.testing.assert_close(final[0].x, direct)


def test_reference_is_the_fine_ode_solution_and_distances_measure_it(pipeline):
    events = run(pipeline, [Runner("ddim"), Runner("dpmpp_2m", "karras")], 20)
    progress = [e for e in events if isinstance(e, RaceProgress)]
    assert progress[-1].done == progress[-1].total == 200
    done = events[-1]
    assert isinstance(done, RaceFinished) and done.reference.shape == (64, 2)
    for frame in (e for e in events if isinstance(e, RaceFrame)):
        expected = math.sqrt(float(((frame.x0_hat.double() - done.reference.double()) ** 2).mean()))
        assert frame.distance == pytest.approx(expected, rel=1e-6)
    # a second-order solver ends nearer the reference than first-order DDIM at the same NFE (M28 vs M22)
    ends = {e.lane: e.distance for e in events if isinstance(e, RaceFrame) and e.final}
    assert ends[1] < ends[0]


def test_lanes_advance_together_one_evaluation_at_a_time(pipeline):
    frames = [e for e in run(pipeline, [Runner("ddim"), Runner("ancestral")], 5) if isinstance(e, RaceFrame)]
    assert [(f.lane, f.nfe) for f in frames] == [(lane, n) for n in range(1, 6) for lane in (0, 1)]


def test_track_aligns_lanes_by_noise_level_not_step(pipeline):
    runners = [Runner("ddim"), Runner("ddim", "karras")]
    track = RaceTrack([r.label for r in runners])
    for event in run(pipeline, runners, 8):
        if isinstance(event, RaceFrame):
            track.add(event)
    low, high = track.log_snr_range()
    assert low < high
    level = (low + high) / 2
    for lane, frame in enumerate(track.at(level)):
        assert frame is not None and log_snr(frame.abar) <= level
        later = track.frames[lane][track.frames[lane].index(frame) + 1]
        assert log_snr(later.abar) > level  # the last state no noisier than the level
    assert all(f is not None and f.final for f in track.at(math.inf))
    assert track.at(low - 1.0) == [None, None]


def test_scores_are_computed_on_each_final_sample(pipeline):
    events = run(pipeline, [Runner("ddim"), Runner("heun")], 9, score=lambda x: {"mean0": float(x[:, 0].mean())})
    finals = [e.x for e in events if isinstance(e, RaceFrame) and e.final]
    assert [s["mean0"] for s in events[-1].scores] == pytest.approx([float(x[:, 0].mean()) for x in finals])


@pytest.mark.parametrize(
    "runners, nfe, match",
    [
        ([Runner("ddim")], 10, "2 to 4"),
        ([Runner("ddim")] * 2, 10, "same method"),
        ([Runner("ddim"), Runner("euler")], 10, "unknown sampling method"),
        ([Runner("ddim"), Runner("heun", "cubic")], 10, "unknown timestep spacing"),
        ([Runner("ddim"), Runner("heun")], 0, "network evaluations"),
        ([Runner("ddim"), Runner("heun")], 300, "network evaluations"),
    ],
)
def test_bad_races_are_refused_in_words(runners, nfe, match):
    with pytest.raises(ValueError, match=match):
        check_race(runners, nfe, 200)
