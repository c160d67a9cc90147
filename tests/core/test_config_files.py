"""Runs from config files (issue 31): ``train --config FILE`` with ``--set section.key=value`` overrides recorded in
the new run's config.json, ``ddpm-studio config RUN [--diff RUN2]``, TOML input, and one-line refusals naming the
key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ddpm_studio.cli import run_cli
from ddpm_studio.core.config import ConfigError, RunConfig
from ddpm_studio.core.config_files import apply_overrides, config_diff, parse_override, read_config_file

TINY = ["--batch-size", "32", "--preview-every", "0", "--no-early-stop", "--quiet", "--threads", "1"]


@pytest.fixture(scope="module")
def source_run(tmp_path_factory) -> Path:
    """A finished 3-step moons run whose config the tests start from."""
    run = tmp_path_factory.mktemp("config") / "a"
    assert run_cli(["train", "--data", "moons", "--steps", "3", *TINY, "--out", str(run)]) == 0
    return run


def saved(run: Path) -> dict:
    raw = json.loads((run / "config.json").read_text())
    raw.pop("package_version", None)
    return raw


def test_a_run_from_a_runs_config_with_overrides_records_the_result(source_run, tmp_path, capsys) -> None:
    new = tmp_path / "b"
    assert run_cli(["train", "--config", str(source_run), "--set", "train.steps=4", "--set", "train.lr=0.003",
                    "--set", "diffusion.schedule=linear", "--quiet", "--out", str(new)]) == 0
    before, after = saved(source_run), saved(new)
    assert set(after) >= {"data", "model", "diffusion", "train"}  # today's sections, unrenamed
    assert after["train"]["steps"] == 4 and after["train"]["lr"] == 0.003
    assert after["diffusion"]["schedule"] == "linear"
    assert [key for key, _, _ in config_diff(before, after)] == ["diffusion.schedule", "train.lr", "train.steps"]
    capsys.readouterr()
    assert run_cli(["config", str(source_run), "--diff", str(new)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        'diffusion.schedule: "cosine" -> "linear"', "train.lr: 0.002 -> 0.003", "train.steps: 3 -> 4"]


def test_a_config_reruns_as_the_same_run(source_run, tmp_path) -> None:
    """The config.json of a run, rerun as it is, trains the same settings (and the same weights: same seed)."""
    new = tmp_path / "again"
    assert run_cli(["train", "--config", str(source_run / "config.json"), "--quiet", "--out", str(new)]) == 0
    assert config_diff(saved(source_run), saved(new)) == []


def test_flags_override_the_file_and_set_overrides_the_flags(source_run, tmp_path) -> None:
    new = tmp_path / "c"
    assert run_cli(["train", "--config", str(source_run), "--steps", "5", "--lr", "0.001", "--set", "train.steps=2",
                    "--quiet", "--out", str(new)]) == 0
    assert saved(new)["train"]["steps"] == 2 and saved(new)["train"]["lr"] == 0.001


def test_a_config_from_before_a_section_existed_gets_its_defaults_and_set_reaches_every_section(
        source_run, tmp_path, capsys) -> None:
    """A section added to RunConfig (the flow's ``process``) is read from older files as its defaults, and --set
    reaches its keys like any other's."""
    old = tmp_path / "old.json"
    raw = saved(source_run)
    raw.pop("process", None)
    old.write_text(json.dumps(raw))
    new = tmp_path / "flow"
    assert run_cli(["train", "--config", str(old), "--set", "process.name=flow", "--set", "train.t_power=1",
                    "--quiet", "--out", str(new)]) == 0, capsys.readouterr().err
    assert saved(new)["process"]["name"] == "flow"


def test_config_prints_a_runs_settings_as_json(source_run, capsys) -> None:
    assert run_cli(["config", str(source_run)]) == 0
    assert json.loads(capsys.readouterr().out) == saved(source_run)


def test_a_toml_config_trains(tmp_path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('[data]\ndataset = "ring"\nnum_points = 512\n\n[train]\nsteps = 2\nbatch_size = 32\n'
                    'preview_every = 0\n')
    assert run_cli(["train", "--config", str(toml), "--quiet", "--out", str(tmp_path / "t")]) == 0
    config = RunConfig.from_dict(saved(tmp_path / "t"))
    assert config.data.dataset == "ring" and config.data.num_points == 512 and config.train.steps == 2


def test_set_without_a_config_file_changes_the_data_too(tmp_path) -> None:
    out = tmp_path / "s"
    assert run_cli(["train", "--data", "moons", "--steps", "2", *TINY, "--set", "data.dataset=circles", "--set",
                    "data.num_points=600", "--out", str(out)]) == 0
    assert saved(out)["data"]["dataset"] == "circles" and saved(out)["data"]["num_points"] == 600


def test_a_resume_takes_set_for_what_may_change(source_run, tmp_path, capsys) -> None:
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(source_run, run)
    assert run_cli(["train", "--out", str(run), "--resume", "--set", "train.steps=5", "--quiet"]) == 0
    assert saved(run)["train"]["steps"] == 5
    capsys.readouterr()
    assert run_cli(["train", "--out", str(run), "--resume", "--set", "train.lr=0.1", "--quiet"]) == 2
    assert "train.lr (0.002 -> 0.1)" in capsys.readouterr().err
    assert run_cli(["train", "--out", str(run), "--resume", "--config", str(source_run), "--quiet"]) == 2
    assert "drop --config" in capsys.readouterr().err


@pytest.mark.parametrize(("overrides", "named"), [
    (["train.stepz=4"], "unknown key train.stepz (train has steps, "),
    (["trian.steps=4"], "unknown section 'trian' (a run config has data, model, diffusion, train"),
    (["steps=4"], "--set steps=4: expected section.key=value"),
    (["train.steps=-1"], "train.steps must be an integer in 1..100000000, got -1"),
    (["train.steps=four"], "train.steps must be an integer"),
    (["diffusion.schedule=sigmoid"], "diffusion.schedule must be one of linear, cosine"),
    (["train.early_stop=1"], "train.early_stop must be true or false"),
])
def test_bad_overrides_are_refused_in_one_line_naming_the_key(source_run, tmp_path, capsys, overrides, named):
    argv = ["train", "--config", str(source_run), "--out", str(tmp_path / "bad"), "--quiet"]
    for text in overrides:
        argv += ["--set", text]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize(("content", "named"), [
    (None, "no such config file"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "a config must be an object of sections"),
    ('{"train": {"stepz": 3}}', "unknown config field(s) in 'train': stepz"),
    ('{"optim": {}}', "unknown config section(s): optim"),
])
def test_bad_config_files_are_refused_in_one_line(tmp_path, capsys, content, named) -> None:
    file = tmp_path / "config.json"
    if content is not None:
        file.write_text(content)
    assert run_cli(["train", "--config", str(file), "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err


@pytest.mark.parametrize(("text", "value"), [
    ("train.steps=40", 40), ("train.lr=0.003", 0.003), ("train.tensorboard=true", True), ("model.dropout=null", None),
    ("diffusion.schedule=cosine", "cosine"), ('data.dataset="42"', "42"), ("data.dataset=runs/x=1.npz", "runs/x=1.npz"),
])
def test_override_values_are_json_where_they_parse_else_text(text: str, value) -> None:
    assert parse_override(text)[2] == value


def test_overrides_leave_the_source_untouched_and_apply_in_order() -> None:
    raw = RunConfig().to_dict()
    result = apply_overrides(raw, ["train.steps=4", "train.steps=5"])
    assert result["train"]["steps"] == 5 and raw["train"]["steps"] == RunConfig().train.steps
    with pytest.raises(ConfigError, match="unknown key model.depth"):
        apply_overrides(raw, ["model.depth=3"])


def test_a_config_file_loses_its_bookkeeping_keys(source_run) -> None:
    assert "package_version" in json.loads((source_run / "config.json").read_text())
    assert "package_version" not in read_config_file(source_run)
