"""``ddpm-studio sample RUN --inpaint MASK --known ITEM`` (RePaint, M57-M59): digits from a PNG mask keep their
kept pixels exactly; 2-D keeps x; the refusals are one line each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ddpm_studio.cli import run_cli
from ddpm_studio.core.sampling import repaint_evaluations


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("cli_inpaint") / "digits"
    argv = ["train", "--data", "digits", "--steps", "2", "--T", "50", "--batch-size", "8", "--preview-every", "0",
            "--out", str(run), "--quiet"]
    assert run_cli(argv) == 0
    return run


def test_a_png_mask_on_a_png_digit(digits_run, tmp_path, capsys):
    rng = np.random.default_rng(0)
    digit = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    regenerate = np.zeros((16, 16), np.uint8)
    regenerate[8:] = 255  # the bottom half is drawn
    Image.fromarray(digit).save(tmp_path / "digit.png")
    Image.fromarray(regenerate).save(tmp_path / "mask.png")
    out = tmp_path / "inpainted.npz"
    argv = ["sample", str(digits_run), "--inpaint", str(tmp_path / "mask.png"), "--known", str(tmp_path / "digit.png"),
            "--num", "4", "--steps", "8", "--jump-length", "2", "--resamplings", "2", "--trajectory",
            "--out", str(out), "--quiet"]
    assert run_cli(argv) == 0
    assert f"{repaint_evaluations(8, 2, 2)} network evaluations" in capsys.readouterr().err
    with np.load(out) as saved:
        samples, mask = saved["samples"], saved["mask_regenerate"]
        assert "trajectory_x" in saved.files and "trajectory_x_T" in saved.files
    assert samples.shape == (4, 16, 16, 1) and mask.shape == (16, 16)
    assert np.array_equal(samples[:, :8, :, 0], np.broadcast_to(digit[:8], (4, 8, 16)))
    png = tmp_path / "inpainted.png"
    plain = [arg for arg in argv[:-3] if arg != "--trajectory"]
    assert run_cli([*plain, "--out", str(png), "--quiet"]) == 0 and png.stat().st_size > 0


def test_points_keep_x(tmp_path, capsys):
    run = tmp_path / "moons"
    assert run_cli(["train", "--data", "moons", "--steps", "5", "--T", "50", "--preview-every", "0",
                    "--out", str(run), "--quiet"]) == 0
    np.save(tmp_path / "known.npy", np.array([0.5, 0.0], np.float32))
    np.save(tmp_path / "mask.npy", np.array([0, 1]))
    out = tmp_path / "points.npz"
    assert run_cli(["sample", str(run), "--inpaint", str(tmp_path / "mask.npy"), "--known",
                    str(tmp_path / "known.npy"), "--num", "32", "--steps", "10", "--out", str(out), "--quiet"]) == 0
    samples = np.load(out)["samples"]
    assert np.allclose(samples[:, 0], 0.5, atol=1e-5) and samples[:, 1].std() > 0


@pytest.mark.parametrize("extra, message", [
    (["--known", "x.png"], "go together"),
    (["--method", "ddim"], "ancestral sampler"),
])
def test_refusals(digits_run, tmp_path, capsys, extra, message):
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "m.png")
    argv = ["sample", str(digits_run), "--out", str(tmp_path / "o.png"), "--quiet", *extra]
    if "--method" in extra:
        argv += ["--inpaint", str(tmp_path / "m.png"), "--known", str(tmp_path / "m.png")]
    assert run_cli(argv) == 2
    assert message in capsys.readouterr().err


def test_a_mask_of_another_size_is_refused(digits_run, tmp_path, capsys):
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "digit.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "mask.png")
    argv = ["sample", str(digits_run), "--inpaint", str(tmp_path / "mask.png"), "--known", str(tmp_path / "digit.png"),
            "--out", str(tmp_path / "o.png"), "--quiet"]
    assert run_cli(argv) == 2
    assert "the mask has shape (8, 8)" in capsys.readouterr().err
