"""``train --conditional``, ``sample --class/--guidance`` and ``evaluate --guidance-sweep`` (MATH.md M34)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.cli import run_cli


def _one_error_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    return lines[0]


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli_ring") / "run"
    argv = ["train", "--data", "ring", "--conditional", "--p-uncond", "0.2", "--steps", "30", "--T", "50",
            "--batch-size", "128", "--preview-every", "0", "--out", str(run), "--quiet"]
    assert run_cli(argv) == 0
    return run


def test_unlabelled_data_refuses_conditional_training(tmp_path, capsys) -> None:
    argv = ["train", "--data", "swissroll", "--conditional", "--steps", "2", "--out", str(tmp_path / "r"), "--quiet"]
    assert run_cli(argv) == 2
    assert "swissroll has no class labels" in _one_error_line(capsys)
    argv = ["train", "--data", "moons", "--p-uncond", "0.2", "--steps", "2", "--out", str(tmp_path / "r"), "--quiet"]
    assert run_cli(argv) == 2
    assert "--p-uncond only applies with --conditional" in _one_error_line(capsys)


def test_a_conditional_run_records_its_classes(ring_run) -> None:
    import json

    config = json.loads((ring_run / "config.json").read_text())
    assert config["model"]["num_classes"] == 8 and config["train"]["p_uncond"] == 0.2


def test_sample_a_class_and_every_class(ring_run, tmp_path, capsys) -> None:
    out = tmp_path / "three.npz"
    argv = ["sample", str(ring_run), "--class", "3", "--guidance", "2", "--num", "10", "--steps", "10",
            "--method", "ddim", "--out", str(out), "--quiet"]
    assert run_cli(argv) == 0
    assert "of class 3 at w = 2" in capsys.readouterr().err
    saved = np.load(out)
    assert saved["samples"].shape == (10, 2) and saved["labels"].tolist() == [3] * 10
    grid = tmp_path / "all.png"
    argv = ["sample", str(ring_run), "--class", "all", "--num", "12", "--steps", "5", "--out", str(grid), "--quiet"]
    assert run_cli(argv) == 0
    assert "wrote 16 samples of every class (a row each) at w = 0" in capsys.readouterr().err
    assert Image.open(grid).mode == "RGB"


@pytest.mark.parametrize(("flags", "message"), [
    (["--class", "12"], "class 12 is not one of this model's classes 0..7"),
    (["--class", "3", "--guidance", "-1"], "guidance scale w must lie in 0..50"),
    (["--guidance", "3"], "--guidance needs --class"),
    (["--class", "seven"], "a class must be an integer or 'all'"),
])
def test_bad_class_or_guidance_is_one_line(ring_run, tmp_path, capsys, flags, message) -> None:
    argv = ["sample", str(ring_run), *flags, "--num", "2", "--steps", "2", "--out", str(tmp_path / "x.png"), "--quiet"]
    assert run_cli(argv) == 2
    assert message in _one_error_line(capsys)


def test_an_unconditional_run_takes_no_class(tmp_path, capsys) -> None:
    run = tmp_path / "plain"
    assert run_cli(["train", "--data", "moons", "--steps", "2", "--T", "50", "--preview-every", "0",
                    "--out", str(run), "--quiet"]) == 0
    argv = ["sample", str(run), "--class", "0", "--num", "2", "--steps", "2", "--out", str(tmp_path / "x.png")]
    assert run_cli(argv) == 2
    assert "unconditional" in _one_error_line(capsys)


def test_the_guidance_sweep_writes_csv_and_png(ring_run, capsys) -> None:
    argv = ["evaluate", str(ring_run), "--guidance-sweep", "0,2", "--guidance-samples", "16", "--guidance-steps", "5",
            "--quiet"]
    assert run_cli(argv) == 0
    with open(ring_run / "guidance_sweep.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["guidance"]) for row in rows] == [0.0, 2.0]
    assert all(0.0 <= float(row["accuracy"]) <= 1.0 for row in rows)
    for name in ("guidance_sweep.png", "guidance_sweep_samples.png"):
        assert Image.open(ring_run / name).size[0] > 100
    capsys.readouterr()
    assert run_cli(["evaluate", str(ring_run), "--guidance-sweep", "0,-1"]) == 2
    assert "guidance sweep needs scales in 0..50" in _one_error_line(capsys)
