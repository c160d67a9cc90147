"""The headless CLI end to end, and its error paths (one line on stderr, exit status 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.cli import run_cli
from ddpm_studio.core.io.runs import list_checkpoints, read_metrics


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("cli") / "moons"
    code = run_cli(
        [
            "train",
            "--data",
            "moons",
            "--steps",
            "30",
            "--T",
            "50",
            "--log-every",
            "10",
            "--preview-every",
            "15",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    assert code == 0
    return run


def test_train_writes_a_run_folder(trained_run):
    assert (trained_run / "config.json").is_file()
    assert [r["step"] for r in read_metrics(trained_run)] == [10, 20, 30]
    assert [s for s, _ in list_checkpoints(trained_run)] == [30]
    assert sorted(p.name for p in (trained_run / "samples").iterdir()) == [
        "preview_00000015.png",
        "preview_00000030.png",
    ]


def test_points_train_on_one_cpu_thread_unless_told_and_the_count_is_restored(tmp_path, monkeypatch):
    import torch

    from ddpm_studio.core.training import trainer as trainer_module

    seen = []
    real_train = trainer_module.Trainer.train

    def spy(self):
        seen.append(torch.get_num_threads())
        return real_train(self)

    monkeypatch.setattr(trainer_module.Trainer, "train", spy)
    before = torch.get_num_threads()
    base = ["train", "--data", "moons", "--steps", "2", "--T", "30", "--preview-every", "0", "--quiet"]
    assert run_cli([*base, "--out", str(tmp_path / "a")]) == 0
    assert run_cli([*base, "--threads", "3", "--out", str(tmp_path / "b")]) == 0
    assert seen == [1, 3]
    assert torch.get_num_threads() == before


def test_train_reads_a_data_file_once(tmp_path, monkeypatch):
    """The kind of a file (points or images) picks the defaults; the data read to learn it is the data trained on."""
    from ddpm_studio.core.data import dataset as dataset_module

    points = tmp_path / "points.npy"
    np.save(points, np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32))
    reads = []
    real_read = dataset_module._read_path
    monkeypatch.setattr(dataset_module, "_read_path", lambda *a, **k: reads.append(a[0]) or real_read(*a, **k))
    argv = ["train", "--data", str(points), "--steps", "2", "--T", "30", "--batch-size", "16", "--preview-every",
            "0", "--out", str(tmp_path / "run"), "--quiet"]
    assert run_cli(argv) == 0
    assert reads == [points]


def test_resume_continues_the_step_count(trained_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 30
    assert run_cli(["train", "--out", str(run), "--resume", "--steps", "50", "--quiet"]) == 0
    assert [r["step"] for r in read_metrics(run)] == [10, 20, 30, 40, 50]
    assert list_checkpoints(run)[-1][0] == 50
    # the folder records the new total, so the reopened run reads "step 50 / 50", not "50 / 30"
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 50
    assert not list(run.glob(".config.json.*"))  # written atomically: no temporary file left behind


@pytest.fixture
def forty_images_and_a_broken_one(tmp_path) -> Path:
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut short")
    return folder


def test_a_small_folder_adapts_the_default_batch_and_names_the_skipped_file_once(
    forty_images_and_a_broken_one, tmp_path, capsys
):
    run = tmp_path / "run"
    argv = ["train", "--data", str(forty_images_and_a_broken_one), "--image-size", "8", "--steps", "1", "--T", "30",
            "--preview-every", "0", "--out", str(run), "--quiet"]
    assert run_cli(argv) == 0
    err = capsys.readouterr().err
    assert err.count("skipped") == 1 and "broken.png" in err, err  # loaded once, reported once
    notes = [line for line in err.splitlines() if line.startswith("note: batch size")]
    assert notes == ["note: batch size 36: the default 64 is larger than the 36 training items of pictures"], err
    assert json.loads((run / "config.json").read_text())["train"]["batch_size"] == 36


def test_an_explicit_batch_larger_than_the_data_is_refused_before_training(
    forty_images_and_a_broken_one, tmp_path, capsys
):
    run = tmp_path / "run"
    argv = ["train", "--data", str(forty_images_and_a_broken_one), "--image-size", "8", "--batch-size", "64",
            "--out", str(run), "--quiet"]
    assert run_cli(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note:")]
    assert err == ["error: --batch-size 64 is larger than the 36 training items of pictures; choose at most 36"]
    assert not run.exists()


def test_sample_png_and_npz_with_trajectory(trained_run, tmp_path):
    png = tmp_path / "s.png"
    assert run_cli(["sample", str(trained_run), "--num", "50", "--steps", "10", "--out", str(png), "--quiet"]) == 0
    assert Image.open(png).size == (512, 512)
    npz = tmp_path / "s.npz"
    assert (
        run_cli(
            [
                "sample",
                str(trained_run),
                "--num",
                "20",
                "--out",
                str(npz),
                "--trajectory",
                "--method",
                "ddim",
                "--quiet",
            ]
        )
        == 0
    )
    data = np.load(npz)
    assert data["samples"].shape == (20, 2)
    assert data["trajectory_t"].shape == (50,) and data["trajectory_t"][0] == 49 and data["trajectory_t"][-1] == 0
    assert list(data["trajectory_t_network"]) == list(range(50, 0, -1))  # paper t fed; the state lands one below
    assert data["trajectory_x"].shape == (50, 20, 2) and data["trajectory_x0_hat"].shape == (50, 20, 2)
    np.testing.assert_allclose(data["trajectory_x"][-1], data["samples"])
    # x_T, the noise before the first step: seed 0's first N(0, I) draw, in the data's coordinates
    import torch

    from ddpm_studio.core.pipeline import load_pipeline

    pipeline = load_pipeline(trained_run, "cpu")
    noise = torch.randn((20, 2), generator=torch.Generator().manual_seed(0))
    np.testing.assert_allclose(data["trajectory_x_T"], pipeline.to_saved_array(noise), rtol=1e-6)
    assert list(data["trajectory_t_state"]) == list(range(49, -1, -1))  # x after each step; x_T sits at t = 50


def test_sample_images_npz_is_uint8_hwc(tmp_path):
    run = tmp_path / "digits"
    assert (
        run_cli(
            [
                "train",
                "--data",
                "digits",
                "--image-size",
                "8",
                "--steps",
                "2",
                "--batch-size",
                "8",
                "--T",
                "30",
                "--preview-every",
                "0",
                "--snr-gamma",
                "3",
                "--out",
                str(run),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads((run / "config.json").read_text())["train"]["snr_gamma"] == 3.0  # the flag reaches the run
    out = tmp_path / "d.npz"
    assert (
        run_cli(["sample", str(run), "--num", "3", "--steps", "5", "--out", str(out), "--trajectory", "--quiet"]) == 0
    )
    data = np.load(out)
    assert data["samples"].dtype == np.uint8 and data["samples"].shape == (3, 8, 8, 1)
    assert data["trajectory_x"].shape == (5, 3, 8, 8, 1)
    assert data["trajectory_x_T"].shape == (3, 8, 8, 1) and data["trajectory_x_T"].dtype == np.uint8
    # trajectory_t is the state's paper timestep (trajectory_t_state, its older name, holds the same); on this
    # respaced chain the state after one step sits where the next step feeds the network
    assert data["trajectory_t"][-1] == 0 and (data["trajectory_t_state"] == data["trajectory_t"]).all()
    assert data["trajectory_t"][0] == data["trajectory_t_network"][1]


def test_the_bound_on_images_trains_without_asking_to_switch_the_default_weighting_off(tmp_path):
    run = tmp_path / "vlb"
    argv = ["train", "--data", "digits", "--image-size", "8", "--steps", "1", "--batch-size", "8", "--T", "30",
            "--preview-every", "0", "--loss", "vlb", "--out", str(run), "--quiet"]
    assert run_cli(argv) == 0
    assert json.loads((run / "config.json").read_text())["train"]["snr_gamma"] == 0.0


@pytest.mark.parametrize(
    "argv, match",
    [
        (["train", "--data", "nosuchset", "--out", "{tmp}/r"], "no such file or folder"),
        (["train", "--data", "moons", "--steps", "-4", "--out", "{tmp}/r"], "positive integer"),
        (["train", "--data", "moons", "--lr", "nan", "--out", "{tmp}/r"], "train.lr"),
        (["train", "--data", "moons", "--lr", "0", "--out", "{tmp}/r"], "train.lr"),
        (["train", "--data", "moons", "--T", "0", "--out", "{tmp}/r"], "positive integer"),
        (["train", "--data", "moons", "--T", "1", "--out", "{tmp}/r"], "T = 1 is too few diffusion steps.*T >= 10"),
        (["train", "--data", "moons", "--T", "9", "--out", "{tmp}/r"], "T = 9 is too few diffusion steps"),
        (["gui"], "opens the studio window"),
        (["train", "--data", "moons", "--batch-size", "999999", "--out", "{tmp}/r"], "larger than"),
        (["train", "--data", "moons", "--device", "tpu", "--out", "{tmp}/r"], "unknown device"),
        (["train", "--data", "moons", "--variance", "learned", "--out", "{tmp}/r"], "vlb"),
        (["train", "--data", "moons", "--snr-gamma", "-2", "--out", "{tmp}/r"], "train.snr_gamma"),
        (["train", "--data", "moons", "--loss", "vlb", "--snr-gamma", "5", "--out", "{tmp}/r"], "snr_gamma.*vlb"),
        (["train", "--out", "{tmp}/r", "--resume"], "not a folder"),
        (["train", "--data", "moons", "--param", "score", "--out", "{tmp}/r"], "invalid choice"),
        (["sample", "{tmp}", "--out", "{tmp}/x.png"], "not a DDPM Studio run folder"),
        (["sample", "{tmp}/missing", "--out", "{tmp}/x.png"], "not a folder"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_errors_are_one_line_with_exit_2(argv, match, tmp_path, capsys):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    assert pytest.importorskip("re").search(match, err[0]), err[0]


def test_help_lists_the_studio_commands(capsys):
    assert run_cli(["--help"]) == 0
    listed = capsys.readouterr().out
    for command in ("train", "sample", "evaluate", "compare", "export", "gui", "follow"):
        assert f"\n    {command} " in listed, command
    assert run_cli(["follow", "--help"]) == 0
    assert "gui --follow RUN" in " ".join(capsys.readouterr().out.split())


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda(tmp_path, capsys):
    assert run_cli(["train", "--data", "moons", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_sample_bad_arguments(trained_run, tmp_path, capsys):
    assert run_cli(["sample", str(trained_run), "--out", str(tmp_path / "x.jpg")]) == 2
    assert run_cli(["sample", str(trained_run), "--steps", "500", "--out", str(tmp_path / "x.png")]) == 2
    assert run_cli(["sample", str(trained_run), "--trajectory", "--out", str(tmp_path / "x.png")]) == 2
    assert run_cli(["sample", str(trained_run), "--eta", "3", "--out", str(tmp_path / "x.png")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 4


def test_checkpoint_from_another_model_is_refused(trained_run, tmp_path, capsys):
    import json
    import shutil

    run = tmp_path / "other"
    shutil.copytree(trained_run, run)
    config = json.loads((run / "config.json").read_text())
    config["model"]["preset"] = "small"
    (run / "config.json").write_text(json.dumps(config))
    assert run_cli(["sample", str(run), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "does not fit this model" in err and "Traceback" not in err


def test_help_on_every_command():
    for command in ([], ["train"], ["sample"]):
        result = subprocess.run(
            [sys.executable, "-m", "ddpm_studio", *command, "--help"], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0 and "usage:" in result.stdout


# ---------------------------------------------------------------------------- few-step samplers (issue 15)
def test_sample_dpmpp_2m_on_karras_records_every_network_evaluation(trained_run, tmp_path, capsys):
    out = tmp_path / "k.npz"
    argv = ["sample", str(trained_run), "--num", "16", "--method", "dpmpp_2m", "--steps", "20", "--spacing", "karras",
            "--out", str(out), "--trajectory", "--quiet"]
    assert run_cli(argv) == 0
    data = np.load(out)
    assert data["trajectory_t"].shape == (20,) and data["trajectory_t_network"][0] == 50  # x_T is fed at paper T
    from ddpm_studio.core.pipeline import load_pipeline

    # trajectory_t is the paper timestep of each stored state: the abar stored beside it is that timestep's
    paper_abar = np.concatenate([[1.0], load_pipeline(trained_run, "cpu").diffusion.alphas_cumprod.numpy()])
    np.testing.assert_allclose(data["trajectory_abar"], paper_abar[data["trajectory_t"]])
    assert data["trajectory_t"][-1] == 0 and np.all(data["trajectory_t_network"] > data["trajectory_t"])
    abar = data["trajectory_abar"]
    assert abar[-1] == 1.0 and np.all(np.diff(abar) > 0)  # one level per evaluation, noise only goes down
    np.testing.assert_allclose(data["trajectory_x"][-1], data["samples"])
    assert "dpmpp_2m, 20 network evaluations, karras spacing" in capsys.readouterr().err


def test_sample_heun_can_spend_up_to_2T_minus_2_evaluations(trained_run, tmp_path):
    out = tmp_path / "h.npz"  # T levels, the first interval an Euler step (M24): 2T - 2
    argv = ["sample", str(trained_run), "--num", "8", "--method", "heun", "--steps", "98", "--out", str(out),
            "--trajectory", "--quiet"]
    assert run_cli(argv) == 0
    data = np.load(out)
    assert data["trajectory_t"].shape == (98,) and np.isfinite(data["samples"]).all()


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--steps", "0"], "positive integer"),
        (["--method", "rk4"], "invalid choice: 'rk4'"),
        (["--method", "euler"], "DDPM run, which samples with ancestral"),  # a flow sampler, named as one
        (["--spacing", "leading"], "invalid choice: 'leading'"),
        (["--method", "dpmpp_2m", "--steps", "51"], r"--steps 51: dpmpp_2m can use 1\.\.50 network evaluations"),
        (["--method", "heun", "--steps", "99"], r"heun can use 1\.\.98"),
    ],
)
def test_sample_bad_sampler_settings_are_one_line(trained_run, tmp_path, capsys, extra, match):
    assert run_cli(["sample", str(trained_run), "--out", str(tmp_path / "x.png"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and pytest.importorskip("re").search(match, err[0]), err


def test_sample_help_says_what_each_method_is():
    from ddpm_studio.core.sampling import METHODS

    result = subprocess.run(
        [sys.executable, "-m", "ddpm_studio", "sample", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for method in METHODS:
        assert f"\n  {method} " in result.stdout
    assert "DPM-Solver++(2M)" in result.stdout and "Karras" in result.stdout and "karras" in result.stdout


def test_evaluate_sweep_races_every_method_from_one_x_T(trained_run, tmp_path, capsys):
    import csv
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    argv = ["evaluate", str(run), "--sweep", "--methods", "ancestral,ddim,dpmpp_2m,heun", "--sweep-steps", "5,10,60",
            "--sweep-samples", "64", "--seed", "3", "--quiet"]
    assert run_cli(argv) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader((run / "sweep.csv").open()))  # written by default next to the run
    assert [(r["method"], r["num_steps"]) for r in rows] == [
        ("ancestral", "5"), ("ancestral", "10"), ("ddim", "5"), ("ddim", "10"),
        ("dpmpp_2m", "5"), ("dpmpp_2m", "10"), ("heun", "5"), ("heun", "10"), ("heun", "60"),
    ]  # T = 50: K = 60 only fits Heun (up to 2T - 2 = 98)
    assert all(float(r["score"]) > 0 and r["spacing"] == "linspace" for r in rows)
    assert Image.open(run / "sweep.png").size == (640, 400)
    assert "same x_T" in captured.out and "dpmpp_2m" in captured.out
    assert "skipping K = 60 for ancestral" in captured.err and "for heun" not in captured.err


@pytest.mark.parametrize(
    "extra, match",
    [
        (["--methods", "ddim,euler"], "comma-separated list of ancestral, ddim"),
        (["--spacing", "leading"], "invalid choice: 'leading'"),
        (["--sweep-steps", "0"], "positive integers"),
        (["--methods", "ddim", "--sweep-steps", "51"], "no --sweep-steps value"),
    ],
)
def test_evaluate_bad_sweep_settings_are_one_line(trained_run, capsys, extra, match):
    assert run_cli(["evaluate", str(trained_run), "--sweep", "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and pytest.importorskip("re").search(match, err[0]), err
