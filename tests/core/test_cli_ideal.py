"""The CLI of issue 17: train --subset, sample --ideal, evaluate --memorization / --ode-likelihood, and their errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ddpm_studio.cli import run_cli
from ddpm_studio.core.pipeline import load_run_config
from ddpm_studio.core.scores.heldout import load_run_dataset


@pytest.fixture(scope="module")
def subset_run(tmp_path_factory) -> Path:
    """Moons on 20 training points (a batch of 256 drawn from them), T = 50, a few steps."""
    run = tmp_path_factory.mktemp("cli_ideal") / "moons20"
    argv = ["train", "--data", "moons", "--subset", "20", "--steps", "20", "--T", "50", "--preview-every", "0",
            "--out", str(run), "--quiet"]
    assert run_cli(argv) == 0
    return run


def test_train_subset_is_stored_in_the_run(subset_run, capsys):
    config = load_run_config(subset_run)
    assert config.data.subset == 20
    assert load_run_dataset(config).train.shape == (20, 2)
    assert load_run_dataset(config, with_subset=False).train.shape[0] > 7000


def test_sample_ideal_returns_training_points(subset_run, tmp_path, capsys):
    out = tmp_path / "ideal.npz"
    assert run_cli(["sample", str(subset_run), "--ideal", "--method", "ddim", "--steps", "25", "--num", "64",
                    "--out", str(out), "--quiet"]) == 0
    assert "ideal-denoiser samples" in capsys.readouterr().err
    dataset = load_run_dataset(load_run_config(subset_run))
    train = dataset.to_data_space(dataset.train).double()
    samples = torch.from_numpy(np.load(out)["samples"]).double()
    nearest = torch.cdist(samples, train).min(dim=1).values  # data coordinates, float32 files
    # T = 50 ends at sigma_1 = 0.045 (model units): two training points closer than that are averaged, not chosen
    assert float(nearest.median()) < 1e-3 and float(nearest.max()) < 0.1


def test_evaluate_memorization_of_the_ideal_denoiser_is_all_copies(subset_run, tmp_path):
    out = tmp_path / "m.json"
    argv = ["evaluate", str(subset_run), "--memorization", "--ideal", "--memorization-samples", "40",
            "--memorization-steps", "20", "--json", str(out), "--quiet"]
    assert run_cli(argv) == 0
    report = json.loads(out.read_text())
    assert report["copy_rate"] >= 0.8 and report["nn_median"] < 1e-3  # close pairs merge at sigma_1, see above
    assert report["num_samples"] == 40 and report["num_train"] == 20 and report["memorization_source"] == "ideal"
    assert report["chance_rate"] == pytest.approx(1 / 9)
    assert "quality_score" in report and "nats_per_dim" not in report  # the bound is skipped unless --bound


def test_evaluate_memorization_of_the_network(subset_run, tmp_path, capsys):
    out = tmp_path / "n.json"
    argv = ["evaluate", str(subset_run), "--memorization", "--memorization-samples", "30", "--memorization-method",
            "ddim", "--memorization-steps", "10", "--json", str(out), "--quiet"]
    assert run_cli(argv) == 0
    report = json.loads(out.read_text())
    assert 0.0 <= report["copy_rate"] <= 1.0 and report["memorization_source"] == "network"
    assert report["nn_min"] <= report["nn_median"] <= report["nn_max"]
    assert "copy rate" in capsys.readouterr().out


def test_evaluate_ode_likelihood_next_to_the_bound(subset_run, tmp_path, capsys):
    out = tmp_path / "o.json"
    argv = ["evaluate", str(subset_run), "--ode-likelihood", "--ode-levels", "20", "--bound", "--num", "40",
            "--json", str(out), "--quiet"]
    assert run_cli(argv) == 0
    report = json.loads(out.read_text())
    assert np.isfinite(report["ode_nats_per_dim"]) and np.isfinite(report["nats_per_dim"])
    assert report["ode_num_levels"] == 20 and report["ode_num_evaluations"] == 39 and report["ode_num_examples"] == 40
    parts = report["ode_prior"] + report["ode_divergence"] + report["ode_jacobian"]
    assert parts == pytest.approx(report["ode_nats_per_dim"])
    assert report["ode_jacobian"] == pytest.approx(report["jacobian"])
    assert "probability-flow ODE likelihood on 40 held-out points" in capsys.readouterr().out


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("cli_ideal") / "digits"
    argv = ["train", "--data", "digits", "--image-size", "8", "--subset", "12", "--steps", "2", "--batch-size", "8",
            "--T", "30", "--preview-every", "0", "--out", str(run), "--quiet"]
    assert run_cli(argv) == 0
    return run


def test_evaluate_memorization_of_images_also_in_feature_space(image_run, tmp_path, monkeypatch):
    from ddpm_studio.core.scores import features, quality

    original = features.load_or_train_feature_net

    def quick(*args, **kwargs):  # the feature network's 600 training steps take minutes on a busy machine
        return original(*args, **{**kwargs, "steps": 20})

    monkeypatch.setattr(quality, "load_or_train_feature_net", quick)
    monkeypatch.setattr(features, "load_or_train_feature_net", quick)
    out = tmp_path / "i.json"
    argv = ["evaluate", str(image_run), "--memorization", "--ideal", "--memorization-samples", "16",
            "--memorization-steps", "10", "--json", str(out), "--quiet"]
    assert run_cli(argv) == 0
    report = json.loads(out.read_text())
    assert report["copy_rate"] == 1.0 and report["num_train"] == 12 and report["chance_rate"] < 1e-30
    assert report["features_copy_rate"] == 1.0 and report["features_num_train"] == 12


@pytest.mark.parametrize(
    "argv, match",
    [
        (["train", "--data", "digits", "--subset", "5000", "--out", "{tmp}/r"], r"digits: a training subset .*1617"),
        (["train", "--data", "moons", "--subset", "0", "--out", "{tmp}/r"], "positive integer"),
        (["train", "--out", "{run}", "--resume", "--subset", "5"], r"data\.subset \(20 -> 5\)"),
        (["evaluate", "{run}", "--memorization-samples", "5"], "--memorization-samples only apply with --memorization"),
        (["evaluate", "{run}", "--ideal"], "--ideal only apply with --memorization"),
        (["evaluate", "{run}", "--ode-levels", "5"], "--ode-levels only applies with --ode-likelihood"),
        (["evaluate", "{run}", "--ode-likelihood", "--ode-levels", "51"], r"--ode-levels must lie in 2\.\.50"),
        (["evaluate", "{run}", "--ode-likelihood", "--ode-levels", "1"], r"--ode-levels must lie in 2\.\.50"),
        (["evaluate", "{run}", "--bound"], "--bound only applies with --sweep, --memorization, --ode-likelihood or"),
        (["evaluate", "{run}", "--memorization", "--memorization-steps", "51"], "--memorization-steps 51"),
        (["evaluate", "{images}", "--ode-likelihood"], "--ode-likelihood is for 2-D point runs"),
    ],
)
def test_bad_options_are_one_line_with_exit_2(argv, match, subset_run, image_run, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{run}", str(subset_run)).replace("{images}", str(image_run))
            for a in argv]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and re.search(match, err[0]), err
