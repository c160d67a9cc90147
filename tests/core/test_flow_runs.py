"""Flow runs end to end: train --process flow, sample, evaluate --straightness, reflow, exact resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ddpm_studio.cli import run_cli
from ddpm_studio.core.config import ConfigError, RunConfig, default_config
from ddpm_studio.core.io.runs import list_checkpoints, load_checkpoint, read_config, read_metrics
from ddpm_studio.core.pipeline import load_pipeline
from ddpm_studio.core.training.reflow import COUPLINGS_NAME
from ddpm_studio.core.training.trainer import Trainer

TINY = ["--data", "moons", "--steps", "40", "--log-every", "10", "--preview-every", "20", "--quiet"]


@pytest.fixture(scope="module")
def flow_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("flow") / "run"
    assert run_cli(["train", "--process", "flow", *TINY, "--out", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("ddpm") / "run"
    assert run_cli(["train", *TINY, "--T", "50", "--out", str(run)]) == 0
    return run


def test_a_flow_run_folder_records_its_process(flow_run) -> None:
    config = read_config(flow_run)
    assert config["process"]["name"] == "flow" and config["process"]["target"] == "velocity"
    assert [line["step"] for line in read_metrics(flow_run)] == [10, 20, 30, 40]
    assert all(line["vlb"] is None for line in read_metrics(flow_run))  # a flow has no bound: null, not NaN
    assert (flow_run / "samples" / "preview_00000040.png").is_file()
    pipeline = load_pipeline(flow_run)
    assert pipeline.is_flow and not load_pipeline(flow_run).config.diffusion.variance == "learned"


def test_flow_and_ddpm_samples_from_one_seed_share_their_noise(flow_run, ddpm_run) -> None:
    flow, ddpm = load_pipeline(flow_run), load_pipeline(ddpm_run)
    assert torch.equal(flow.sample(8, num_steps=4, seed=3).x_T, ddpm.sample(8, num_steps=4, seed=3).x_T)


@pytest.mark.parametrize("method", ["euler", "heun", "midpoint", "dpmpp_2m", "dpmpp_2m_sde"])
def test_sample_draws_a_flow_run_with_each_flow_method(flow_run, tmp_path, method) -> None:
    out = tmp_path / "s.npz"
    assert run_cli(["sample", str(flow_run), "--method", method, "--steps", "5", "--num", "30", "--out", str(out),
                    "--trajectory", "--quiet"]) == 0
    with np.load(out) as saved:
        assert saved["samples"].shape == (30, 2) and np.isfinite(saved["samples"]).all()
        assert saved["trajectory_t"][-1] == 0 and saved["trajectory_t"][0] > saved["trajectory_t"][-1]


def test_straightness_is_written_under_its_key(flow_run, tmp_path) -> None:
    out = tmp_path / "e.json"
    assert run_cli(["evaluate", str(flow_run), "--straightness", "--num", "200", "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert report["straightness"] > 0 and report["straightness_samples"] == 200


def test_reflow_trains_a_straighter_run_in_the_same_folder_format(flow_run, tmp_path) -> None:
    new = tmp_path / "reflow"
    assert run_cli(["reflow", str(flow_run), "--out", str(new), "--pairs", "600", "--steps", "60", "--quiet"]) == 0
    config = RunConfig.from_dict(read_config(new))
    assert config.process.couplings == COUPLINGS_NAME and config.process.reflow_of
    assert [s for s, _ in list_checkpoints(new)] == [60]
    with np.load(new / COUPLINGS_NAME) as pairs:
        assert pairs["x1"].shape == pairs["x0"].shape == (600, 2)
    # the reflow's pairs are the parent's ODE: its paths are straighter than the parent's (M55)
    straightness = {}
    for name, run in (("parent", flow_run), ("reflow", new)):
        out = tmp_path / f"{name}.json"
        assert run_cli(["evaluate", str(run), "--straightness", "--num", "300", "--json", str(out), "--quiet"]) == 0
        straightness[name] = json.loads(out.read_text())["straightness"]
    assert straightness["reflow"] < straightness["parent"]
    # and it resumes like any run (the couplings come back from its folder)
    assert run_cli(["train", "--out", str(new), "--resume", "--steps", "70", "--quiet"]) == 0
    assert list_checkpoints(new)[-1][0] == 70


@pytest.mark.parametrize("argv, message", [
    (["sample", "{flow}", "--method", "ancestral"], "flow run, which samples with euler"),
    (["sample", "{flow}", "--spacing", "karras"], "flow run, whose grids are linspace, shift"),
    (["sample", "{ddpm}", "--method", "midpoint"], "DDPM run, which samples with ancestral"),
    (["evaluate", "{ddpm}", "--straightness"], "this is a DDPM run"),
    (["evaluate", "{flow}"], "no variational bound"),
    (["evaluate", "{flow}", "--sweep"], "--sweep: DDPM analyses"),
    (["reflow", "{ddpm}", "--out", "{tmp}/r"], "reflow needs a flow run"),
    (["train", "--process", "flow", "--loss", "vlb", "--out", "{tmp}/t"], "--loss"),
    (["train", "--time-sampling", "logit_normal", "--out", "{tmp}/t"], "add --process flow"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, flow_run, ddpm_run, tmp_path, capsys) -> None:
    argv = [a.format(flow=flow_run, ddpm=ddpm_run, tmp=tmp_path) for a in argv]
    if argv[0] == "sample":
        argv += ["--out", str(tmp_path / "x.npz"), "--quiet"]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "r").exists() and not (tmp_path / "t").exists()


def test_a_flow_config_refuses_ddpm_only_settings() -> None:
    for section, name, value, match in (("train", "loss", "hybrid", "train.loss"),
                                        ("diffusion", "variance", "learned", "variance"),
                                        ("train", "snr_gamma", 5.0, "train.snr_gamma"),
                                        ("train", "t_power", 3.0, "train.t_power")):
        config = default_config("moons", "points", "flow")
        setattr(getattr(config, section), name, value)
        with pytest.raises(ConfigError, match=match):
            config.validate()
    config = default_config("moons", "points")
    config.process.couplings = "couplings.npz"
    with pytest.raises(ConfigError, match="process.couplings"):
        config.validate()
    assert RunConfig.from_dict({}).process.name == "ddpm"  # a config.json written before flows is a DDPM run


def test_an_interrupted_flow_run_resumes_bit_for_bit(tmp_path) -> None:
    """The fidelity contract (docs/RELIABILITY.md, "Exact resume") holds for the flow's loss and times too."""
    def config() -> RunConfig:
        c = default_config("moons", "points", "flow")
        c.data.num_points = 1024
        c.process.time_sampling = "logit_normal"
        c.train.steps, c.train.batch_size, c.train.log_every, c.train.early_stop = 50, 64, 7, False
        c.train.preview_every, c.train.preview_steps, c.train.checkpoint_every = 20, 5, 25
        return c.validate()

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        straight = Trainer(config(), run_dir=tmp_path / "straight")
        for _ in straight.train():
            pass
        first = Trainer(config(), run_dir=tmp_path / "resumed")
        for _ in first.train():
            if first.step == 23:
                first.request_stop()
        resumed = Trainer(config(), run_dir=tmp_path / "resumed", resume=True)
        assert resumed.step == 23
        for _ in resumed.train():
            pass
    finally:
        torch.set_num_threads(before)
    a, _ = load_checkpoint(list_checkpoints(tmp_path / "straight")[-1][1])
    b, _ = load_checkpoint(list_checkpoints(tmp_path / "resumed")[-1][1])
    assert sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)
    strip = [{k: v for k, v in line.items() if k not in ("steps_per_sec", "elapsed")} for line in
             read_metrics(tmp_path / "straight")]
    assert strip == [{k: v for k, v in line.items() if k not in ("steps_per_sec", "elapsed")} for line in
                     read_metrics(tmp_path / "resumed")]
