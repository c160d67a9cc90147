"""``ddpm-studio compare``: settings, the per-setting runs and the CSV / Markdown tables."""

from __future__ import annotations

import csv

import pytest

from ddpm_studio.cli import COMMANDS, add_commands
from ddpm_studio.cli.common import _Parser
from ddpm_studio.core.compare import CSV_NAME, MARKDOWN_NAME, SAMPLES_PNG, iter_compare, parse_settings
from ddpm_studio.core.io.runs import RunError
from ddpm_studio.core.pipeline import load_pipeline

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_command(argv: list[str]) -> int:
    parser = _Parser(prog="ddpm-studio")
    add_commands(parser.add_subparsers(dest="command", parser_class=_Parser))
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args)


def test_setting_names_parse_to_parameterization_variance_and_loss():
    learned, mean = parse_settings("learned/hybrid, mean/vlb")
    assert (learned.parameterization, learned.variance, learned.loss) == ("eps", "learned", "hybrid")
    assert (mean.parameterization, mean.variance, mean.loss, mean.folder) == ("mean", "fixed_large", "vlb", "mean-vlb")
    for bad in ("eps/fast", "learned/simple", "eps/simple,eps/simple"):
        with pytest.raises(ValueError):
            parse_settings(bad)


def test_image_comparisons_train_the_papers_unweighted_objectives():
    """The image defaults weight L_simple (min-SNR); the comparison rows are Ho et al.'s and Nichol & Dhariwal's
    objectives as written, so every row, the bound and the mean target included, trains unweighted."""
    from ddpm_studio.core.compare import _setting_config
    from ddpm_studio.core.config import default_config

    base = default_config("digits", "images")
    assert base.train.snr_gamma > 0
    for setting in parse_settings("eps/simple, mean/vlb, mean/simple, learned/hybrid"):
        assert _setting_config(base, setting).train.snr_gamma == 0.0
    # and uniform in t as their Algorithm 1: the points default's low-noise skew (M40) is not carried into a row
    points = default_config("moons", "points")
    assert points.train.t_power == 3.0
    for setting in parse_settings("eps/simple, mean/vlb"):
        assert _setting_config(points, setting).train.t_power == 1.0


def test_compare_trains_two_settings_and_writes_both_tables(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = [
        "compare",
        "--data",
        "moons",
        "--steps",
        "30",
        "--T",
        "30",
        "--settings",
        "eps/simple,mean/vlb",
        "--batch-size",
        "128",
        "--eval-examples",
        "100",
        "--samples",
        "64",
        "--out",
        str(out),
        "--quiet",
    ]
    assert run_command(argv) == 0
    rows = list(csv.DictReader((out / CSV_NAME).open()))
    assert [r["name"] for r in rows] == ["eps/simple", "mean/vlb"]
    assert all(r["status"] == "ok" and r["bound_unit"] == "nats/dim" for r in rows)
    assert all(float(r["bound"]) > 0 and float(r["score_all"]) > 0 for r in rows)
    # 30 steps may leave every sample far off; then there is no score without them
    assert all(float(r["score"]) > 0 or float(r["far_off"]) == 1.0 for r in rows)
    markdown = (out / MARKDOWN_NAME).read_text()
    table = [line for line in markdown.splitlines() if line.startswith("| ")]
    assert len(table) == 3 and "bound (nats/dim)" in table[0]
    assert "![eps/simple](eps-simple/samples.png)" in table[1]
    assert (out / "mean-vlb" / SAMPLES_PNG).is_file()
    assert load_pipeline(out / "eps-simple").step == 30  # each setting is a normal run folder
    assert "| far off |" in table[0] and all(r["far_off_count"] != "" for r in rows)
    printed = capsys.readouterr()
    assert markdown in printed.out
    # 30 steps is far below what reproduced Ho et al.'s ordering: one warning line, also in the table's notes
    assert printed.err.count("warning: 30 steps per setting is too few") == 1
    assert "**Warning**: 30 steps" in markdown


def test_compare_refuses_a_folder_that_already_holds_the_runs(tmp_path):
    checkpoint = tmp_path / "eps-simple" / "checkpoints" / "step_00000010.safetensors"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    with pytest.raises(RunError, match="already holds"):
        next(iter_compare("moons", 10, tmp_path, settings=parse_settings("eps/simple")))


def test_compare_reads_a_data_file_once(tmp_path, monkeypatch):
    """The file read to learn the data's kind is the one the comparison trains and scores on."""
    import numpy as np

    from ddpm_studio.core.data import dataset as dataset_module

    points = tmp_path / "points.npy"
    np.save(points, np.random.default_rng(0).normal(size=(300, 2)).astype(np.float32))
    reads = []
    real_read = dataset_module._read_path
    monkeypatch.setattr(dataset_module, "_read_path", lambda *a, **k: reads.append(a[0]) or real_read(*a, **k))
    argv = ["compare", "--data", str(points), "--steps", "3", "--T", "21", "--settings", "eps/simple",
            "--batch-size", "16", "--eval-examples", "8", "--samples", "16", "--out", str(tmp_path / "cmp"), "--quiet"]
    assert run_command(argv) == 0
    assert reads == [points]
