"""Flow runs and diffusers' FlowMatchEulerDiscreteScheduler (core/app/diffusers_flow.py), both ways: a U-Net with
that scheduler opens as rectified flow and its Euler trajectory matches diffusers' own loop step for step; a flow
run exports a scheduler config diffusers reads, which opens here again as the same process."""

from __future__ import annotations

import json

import pytest
import torch

from ddpm_studio.core.app.diffusers_flow import DiffusersFlowError, flow_scheduler_config_for
from ddpm_studio.core.app.diffusers_import import load_any_pipeline, write_scheduler_config
from ddpm_studio.core.config import ProcessConfig, default_config
from ddpm_studio.core.io.runs import write_config
from ddpm_studio.core.sampling.flow import euler

diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


def tiny_unet(channels: int = 1):
    torch.manual_seed(2)
    return diffusers.UNet2DModel(
        sample_size=8, in_channels=channels, out_channels=channels, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4,
    ).eval()


def diffusers_flow_loop(unet, scheduler, x: torch.Tensor, steps: int) -> tuple[list[torch.Tensor], list[float]]:
    """diffusers' own Euler loop from x (what a pipeline does: the U-Net fed the scheduler's timestep)."""
    scheduler.set_timesteps(steps)
    states = []
    with torch.no_grad():
        for t in scheduler.timesteps:
            out = unet(x, t.expand(x.shape[0])).sample
            x = scheduler.step(out, t, x).prev_sample
            states.append(x)
    return states, [float(s) for s in scheduler.sigmas]


@pytest.mark.parametrize("train_timesteps", [1000, 500])
def test_a_flow_match_unet_opens_as_rectified_flow_and_steps_as_diffusers_does(tmp_path, train_timesteps):
    unet = tiny_unet(channels=2)
    unet.save_pretrained(tmp_path)
    diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=train_timesteps).save_pretrained(tmp_path)
    pipeline = load_any_pipeline(tmp_path)
    assert pipeline.is_flow and pipeline.diffusion.path.name == "linear" and pipeline.diffusion.target == "velocity"
    assert pipeline.data_shape == (2, 8, 8) and pipeline.config.process.name == "flow"

    x1 = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(4))
    expected, sigmas = diffusers_flow_loop(unet, diffusers.FlowMatchEulerDiscreteScheduler.from_pretrained(tmp_path),
                                           x1.clone(), steps=6)
    # the core's Euler (M52) on diffusers' own grid of sigmas (its sigma is the core's t)
    records = list(euler(pipeline.diffusion, pipeline.model(), x1.clone(), sigmas))
    assert len(records) == len(expected) == 6
    for record, want in zip(records, expected):
        torch.testing.assert_close(record.x, want, rtol=1e-5, atol=1e-5)
    assert (records[-1].x - x1).abs().max() > 0.05  # the network moved the state: the comparison saw values
    # and the studio's own samplers run it
    final = pipeline.sample_final(2, num_steps=4, method="heun")
    assert final.shape == (2, 2, 8, 8) and torch.isfinite(final).all()


def test_a_flow_run_exports_a_scheduler_that_opens_here_as_the_same_process(tmp_path):
    config = default_config("digits", "images", "flow")
    write_config(tmp_path / "run", config.to_dict())
    written = write_scheduler_config(tmp_path / "run", tmp_path / "export")
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler.from_pretrained(tmp_path / "export")
    assert type(scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    assert scheduler.config.num_train_timesteps == 1000 and scheduler.config.shift == 1.0
    # its grid is the core's: sigma = t, from 1 (noise) down; the trained time input 1000 t is its timestep
    scheduler.set_timesteps(4)
    torch.testing.assert_close(scheduler.timesteps, 1000 * scheduler.sigmas[:-1])
    assert float(scheduler.sigmas[0]) == 1.0 and float(scheduler.sigmas[-1]) == 0.0
    assert json.loads(written.read_text())["_class_name"] == "FlowMatchEulerDiscreteScheduler"
    # round trip: the exported scheduler beside a U-Net opens as rectified flow with a velocity network
    tiny_unet().save_pretrained(tmp_path / "export")
    pipeline = load_any_pipeline(tmp_path / "export")
    assert pipeline.is_flow and pipeline.diffusion.target == "velocity" and pipeline.diffusion.path.name == "linear"


@pytest.mark.parametrize("process, words", [
    (ProcessConfig(name="flow", path="vp_cosine"), "linear"),
    (ProcessConfig(name="flow", target="x0"), "velocity"),
])
def test_flow_runs_diffusers_cannot_step_are_refused_in_one_line(process, words):
    with pytest.raises(DiffusersFlowError, match=words):
        flow_scheduler_config_for(process)


def test_an_inverted_time_axis_is_refused_in_one_line(tmp_path, capsys):
    from ddpm_studio.cli import run_cli

    tiny_unet().save_pretrained(tmp_path)
    diffusers.FlowMatchEulerDiscreteScheduler(invert_sigmas=True).save_pretrained(tmp_path)
    assert run_cli(["sample", str(tmp_path), "--out", str(tmp_path / "s.png"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "inverts its sigmas" in err[0]
    assert not (tmp_path / "s.png").exists()


def test_cli_export_of_a_flow_run(tmp_path):
    from ddpm_studio.cli import run_cli

    write_config(tmp_path / "run", default_config("moons", "points", "flow").to_dict())
    assert run_cli(["export", str(tmp_path / "run"), "--diffusers-scheduler", str(tmp_path / "sched")]) == 0
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler.from_pretrained(tmp_path / "sched")
    assert scheduler.config.num_train_timesteps == 1000
