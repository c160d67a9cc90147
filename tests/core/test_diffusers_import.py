"""Opening diffusers folders (core/app/diffusers_import.py): the trajectory matches diffusers' own DDPMScheduler loop
from the same noise, and folders that do not map are refused in one line."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from ddpm_studio.core.app.diffusers_import import (
    DiffusersError,
    betas_from_scheduler,
    is_diffusers_folder,
    load_any_pipeline,
    load_diffusers_pipeline,
)

diffusers = pytest.importorskip("diffusers")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")

T = 20  # timesteps of the tiny process: 20 network evaluations per trajectory


def tiny_unet(channels: int = 1, out_channels: int | None = None):
    torch.manual_seed(1)
    return diffusers.UNet2DModel(
        sample_size=8, in_channels=channels, out_channels=out_channels or channels, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4,
    )


def diffusers_loop(unet, scheduler, shape: tuple[int, ...], seed: int) -> list[torch.Tensor]:
    """diffusers' own ancestral loop: x_T then one state per timestep, the per-step noise from one generator."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator)
    scheduler.set_timesteps(scheduler.config.num_train_timesteps)
    states = []
    with torch.no_grad():
        for t in scheduler.timesteps:
            out = unet(x, t).sample
            x = scheduler.step(out, t, x, generator=generator).prev_sample
            states.append(x)
    return states


CASES = [
    dict(beta_schedule="linear", beta_start=0.001, beta_end=0.2, prediction_type="epsilon",
         variance_type="fixed_small", clip_sample=True),
    dict(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction", variance_type="fixed_large",
         clip_sample=False),
    dict(beta_schedule="scaled_linear", beta_start=0.001, beta_end=0.1, prediction_type="sample",
         variance_type="learned_range", clip_sample=True, clip_sample_range=1.5),
]


@pytest.mark.parametrize("settings", CASES, ids=lambda s: f"{s['beta_schedule']}-{s['prediction_type']}")
def test_trajectory_matches_diffusers_ddpm_scheduler(tmp_path, settings):
    learned = settings["variance_type"] == "learned_range"
    unet = tiny_unet(channels=2, out_channels=4 if learned else 2).eval()
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=T, **settings)
    diffusers.DDPMPipeline(unet=unet, scheduler=scheduler).save_pretrained(tmp_path)

    assert is_diffusers_folder(tmp_path)
    pipeline = load_any_pipeline(tmp_path)  # what sample and evaluate open
    assert pipeline.kind == "images" and pipeline.data_shape == (2, 8, 8)
    assert pipeline.diffusion.num_timesteps == T
    records = list(pipeline.sample(3, seed=7))
    expected = diffusers_loop(unet, diffusers.DDPMScheduler.from_pretrained(tmp_path / "scheduler"),
                              (3, 2, 8, 8), seed=7)
    assert len(records) == len(expected) == T
    for record, want in zip(records, expected):
        # diffusers holds its tables in float32, the core in float64: agreement to float32 round-off
        torch.testing.assert_close(record.x, want, rtol=1e-5, atol=3e-5)
    assert records[-1].x.abs().max() > 0.05  # the comparison saw real values, not all zeros


def test_bare_unet_with_scheduler_config_opens_and_samples(tmp_path):
    unet = tiny_unet()
    unet.save_pretrained(tmp_path)
    diffusers.DDPMScheduler(num_train_timesteps=T).save_pretrained(tmp_path)
    pipeline = load_diffusers_pipeline(tmp_path)
    assert pipeline.config.diffusion.parameterization == "eps"
    assert pipeline.config.diffusion.variance == "fixed_small"  # DDPMScheduler's default
    final = pipeline.sample_final(2, num_steps=5, method="ddim")
    assert final.shape == (2, 1, 8, 8) and torch.isfinite(final).all()


def test_betas_reproduce_diffusers_for_every_schedule():
    for schedule in ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid"):
        config = dict(num_train_timesteps=100, beta_schedule=schedule, beta_start=0.0002, beta_end=0.03)
        theirs = diffusers.DDPMScheduler(**config).betas.double()
        torch.testing.assert_close(betas_from_scheduler(config), theirs, rtol=1e-6, atol=0, msg=schedule)


def write_json(path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


@pytest.mark.parametrize(
    "index, unet_config, scheduler, words",
    [
        ({"_class_name": "LDMPipeline", "vqvae": ["diffusers", "VQModel"], "unet": ["diffusers", "UNet2DModel"],
          "scheduler": ["diffusers", "DDIMScheduler"]}, None, None, "latent-diffusion"),
        ({"_class_name": "StableDiffusionPipeline", "vae": ["diffusers", "AutoencoderKL"]}, None, None, "VAE"),
        ({"_class_name": "KarrasVePipeline", "unet": ["diffusers", "UNet2DModel"],
          "scheduler": ["diffusers", "KarrasVeScheduler"]}, None, None, "another kind"),
        (None, {"_class_name": "UNet2DConditionModel", "in_channels": 4}, {}, "condition"),
        (None, {"_class_name": "UNet2DModel", "num_class_embeds": 10}, {}, "class-conditional"),
        (None, {"_class_name": "UNet2DModel", "in_channels": 3, "out_channels": 3, "sample_size": 8},
         {"beta_schedule": "exponential"}, "beta_schedule"),
        (None, {"_class_name": "UNet2DModel", "in_channels": 3, "out_channels": 3, "sample_size": 8},
         {"variance_type": "learned"}, "learned_range"),
        (None, {"_class_name": "UNet2DModel", "in_channels": 3, "out_channels": 3, "sample_size": 8},
         {"variance_type": "learned_range"}, "needs 6"),
        (None, {"_class_name": "UNet2DModel", "in_channels": 3, "out_channels": 3, "sample_size": 8},
         {"_class_name": "ScoreSdeVeScheduler"}, "not a discrete-time"),
        (None, {"_class_name": "UNet2DModel", "in_channels": 3, "out_channels": 3, "sample_size": 8},
         {"thresholding": True}, "thresholding"),
    ],
)
def test_folders_that_do_not_map_are_refused_in_one_line(tmp_path, index, unet_config, scheduler, words):
    if index is not None:
        write_json(tmp_path / "model_index.json", index)
    if unet_config is not None:
        write_json(tmp_path / "config.json", {"_diffusers_version": "0.30.0", **unet_config})
    if scheduler is not None:
        write_json(tmp_path / "scheduler_config.json", scheduler)
    with pytest.raises(DiffusersError) as info:
        load_any_pipeline(tmp_path)
    message = str(info.value)
    assert words in message and "\n" not in message


def test_without_diffusers_installed_the_message_says_how_to_install(tmp_path, monkeypatch):
    write_json(tmp_path / "config.json", {"_class_name": "UNet2DModel", "in_channels": 1, "out_channels": 1,
                                          "sample_size": 8})
    write_json(tmp_path / "scheduler_config.json", {"_class_name": "DDPMScheduler"})
    monkeypatch.setitem(sys.modules, "diffusers", None)  # import diffusers now raises ImportError
    with pytest.raises(DiffusersError, match=r"ddpm-studio\[diffusers\]"):
        load_diffusers_pipeline(tmp_path)


@pytest.mark.parametrize("dataset, schedule, T, parameterization, variance", [
    ("moons", "linear", 1000, "eps", "fixed_large"),
    ("digits", "cosine", 200, "v", "fixed_small"),
    ("digits", "linear", 50, "x0", "learned"),
])
def test_exported_scheduler_config_reproduces_the_runs_betas(tmp_path, dataset, schedule, T, parameterization,
                                                            variance):
    from ddpm_studio.core.app.diffusers_import import write_scheduler_config
    from ddpm_studio.core.config import RunConfig
    from ddpm_studio.core.io.runs import write_config
    from ddpm_studio.core.process.schedule import make_betas

    config = RunConfig()
    config.data.dataset = dataset
    config.diffusion.schedule, config.diffusion.num_timesteps = schedule, T
    config.diffusion.parameterization, config.diffusion.variance = parameterization, variance
    if variance == "learned":
        config.train.loss = "hybrid"
    write_config(tmp_path / "run", config.to_dict())
    written = write_scheduler_config(tmp_path / "run", tmp_path / "export")
    assert written.name == "scheduler_config.json"
    scheduler = diffusers.DDPMScheduler.from_pretrained(tmp_path / "export")
    # diffusers holds beta in float32: the run's float64 beta to float32 precision
    torch.testing.assert_close(scheduler.betas.double(), make_betas(schedule, T), rtol=2e-7, atol=0)
    expected = {"eps": "epsilon", "v": "v_prediction", "x0": "sample"}[parameterization]
    assert scheduler.config.prediction_type == expected
    assert scheduler.config.variance_type == {"learned": "learned_range"}.get(variance, variance)
    assert scheduler.config.clip_sample == (dataset == "digits")


def test_a_mean_parameterized_run_cannot_be_exported(tmp_path):
    from ddpm_studio.core.app.diffusers_import import scheduler_config_for
    from ddpm_studio.core.config import DiffusionConfig

    with pytest.raises(DiffusersError, match="prediction_type"):
        scheduler_config_for(DiffusionConfig(parameterization="mean"), "images")


# ---------------------------------------------------------------------------- the command line
@pytest.fixture
def ddpm_folder(tmp_path):
    folder = tmp_path / "ddpm-tiny"
    diffusers.DDPMPipeline(unet=tiny_unet(), scheduler=diffusers.DDPMScheduler(num_train_timesteps=T)) \
        .save_pretrained(folder)
    return folder


def test_cli_samples_and_evaluates_a_diffusers_folder(ddpm_folder, tmp_path, capsys):
    from ddpm_studio.cli import run_cli

    assert run_cli(["sample", str(ddpm_folder), "--num", "4", "--steps", "5", "--out", str(tmp_path / "s.png"),
                    "--quiet"]) == 0
    assert (tmp_path / "s.png").stat().st_size > 0
    assert run_cli(["evaluate", str(ddpm_folder), "--data", "digits", "--num", "8", "--json",
                    str(tmp_path / "b.json"), "--quiet"]) == 0
    report = json.loads((tmp_path / "b.json").read_text())
    assert report["bits_per_dim"] > 0 and len(report["terms"]) == T
    capsys.readouterr()
    assert run_cli(["evaluate", str(ddpm_folder), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "--data" in err[0]


def test_cli_refuses_a_latent_pipeline_in_one_line(tmp_path, capsys):
    from ddpm_studio.cli import run_cli

    write_json(tmp_path / "model_index.json", {"_class_name": "StableDiffusionPipeline",
                                               "vae": ["diffusers", "AutoencoderKL"]})
    assert run_cli(["sample", str(tmp_path), "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "VAE" in err[0]


def test_cli_export_diffusers_scheduler(tmp_path, capsys):
    from ddpm_studio.cli import run_cli
    from ddpm_studio.core.config import default_config
    from ddpm_studio.core.io.runs import write_config
    from ddpm_studio.core.process.schedule import make_betas

    write_config(tmp_path / "run", default_config("digits", "images").to_dict())
    assert run_cli(["export", str(tmp_path / "run"), "--diffusers-scheduler", str(tmp_path / "sched")]) == 0
    scheduler = diffusers.DDPMScheduler.from_pretrained(tmp_path / "sched")
    torch.testing.assert_close(scheduler.betas.double(), make_betas("cosine", 1000), rtol=2e-7, atol=0)
    assert run_cli(["export", str(tmp_path / "missing"), "--diffusers-scheduler", str(tmp_path / "x")]) == 2
    assert "not a folder" in capsys.readouterr().err
