"""--tensorboard: the run folder gets TensorBoard event files that TensorBoard's own reader reads back."""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from ddpm_studio.cli import run_cli  # noqa: E402
from ddpm_studio.core.config import ConfigError, RunConfig  # noqa: E402
from ddpm_studio.core.io.runs import read_metrics  # noqa: E402


def test_train_tensorboard_writes_what_metrics_jsonl_holds(tmp_path):
    out = tmp_path / "run"
    status = run_cli(["train", "--data", "moons", "--out", str(out), "--steps", "40", "--log-every", "10",
                      "--preview-every", "20", "--batch-size", "64", "--tensorboard", "--quiet"])
    assert status == 0
    assert json.loads((out / "config.json").read_text())["train"]["tensorboard"] is True
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss", "mse", "bound/vlb_per_dim", "lr", "steps_per_sec"} <= set(tags["scalars"])
    records = read_metrics(out)  # the source of truth
    for tag, field in (("loss", "loss"), ("bound/vlb_per_dim", "vlb"), ("lr", "lr")):
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [r["step"] for r in records] == [10, 20, 30, 40]
        assert [s.value for s in scalars] == pytest.approx([r[field] for r in records], rel=1e-6)
    previews = events.Images("preview")
    assert [p.step for p in previews] == [20, 40] and previews[0].width > 100


def test_without_the_flag_no_event_files(tmp_path):
    out = tmp_path / "run"
    assert run_cli(["train", "--data", "moons", "--out", str(out), "--steps", "10", "--batch-size", "64",
                    "--quiet"]) == 0
    assert not (out / "tensorboard").exists()


def test_tensorboard_missing_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    config = RunConfig()
    config.train.tensorboard = True
    from ddpm_studio.core.training.trainer import Trainer

    with pytest.raises(ConfigError, match=r"ddpm-studio\[tensorboard\]"):
        Trainer(config)
    status = run_cli(["train", "--data", "moons", "--out", str(tmp_path / "r"), "--steps", "10", "--tensorboard"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "tensorboard" in err[0]
