"""Crashes, hostile files and full disks never cost the user their run (issue: reliability)."""

from __future__ import annotations

import errno
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ddpm_studio.cli import run_cli
from ddpm_studio.core.config import default_config
from ddpm_studio.core.io import runs
from ddpm_studio.core.io.runs import (
    RunError,
    latest_loadable_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_metrics,
)
from ddpm_studio.core.pipeline import load_pipeline
from ddpm_studio.core.training.events import TrainStep
from ddpm_studio.core.training.trainer import CheckpointWriteError, Trainer

TRAIN = [
    sys.executable,
    "-m",
    "ddpm_studio",
    "train",
    "--data",
    "moons",
    "--T",
    "50",
    "--log-every",
    "1",
    "--checkpoint-every",
    "1",
    "--preview-every",
    "0",
    "--device",
    "cpu",
    "--quiet",
]


@pytest.mark.parametrize("delay", [0.6, 1.3, 2.1])
def test_sigkill_at_any_moment_leaves_a_loadable_run(tmp_path, delay):
    """Checkpoints every step, so the kill often lands inside a save; the run must always load and resume."""
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [*TRAIN, "--steps", "100000", "--out", str(run)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while not list_checkpoints(run) and time.time() < deadline:  # wait for the first checkpoint
        time.sleep(0.05)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    found = latest_loadable_checkpoint(run)
    assert found is not None
    path, _, meta = found
    steps = [r["step"] for r in read_metrics(run)]  # no torn line breaks reading
    assert steps == sorted(steps) and steps
    result = subprocess.run(
        [*TRAIN, "--out", str(run), "--resume", "--steps", str(meta["step"] + 3)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert list_checkpoints(run)[-1][0] == meta["step"] + 3
    assert [r["step"] for r in read_metrics(run)] == list(range(1, meta["step"] + 4))


def test_torn_metrics_line_is_skipped_and_appends_continue(tmp_path):
    runs.append_metrics(tmp_path, [{"step": 1, "loss": 0.5}])
    with open(tmp_path / runs.METRICS_NAME, "a") as handle:
        handle.write('{"step": 2, "lo')  # a crash mid-line
    assert read_metrics(tmp_path) == [{"step": 1, "loss": 0.5}]
    runs.append_metrics(tmp_path, [{"step": 2, "loss": 0.4}])
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]


class _Payload:
    """Unpickling this creates a file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path, writer, capsys):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    target = run / "checkpoints" / "step_00000010.safetensors"  # disguised as a checkpoint
    if writer == "pickle":
        target.write_bytes(pickle.dumps(_Payload(marker)))
    else:
        torch.save({"model": _Payload(marker)}, target)
    with pytest.raises(RunError, match="pickle"):
        load_checkpoint(target)
    default_config().train  # noqa: B018
    (run / "config.json").write_text('{"data": {"dataset": "moons"}}')
    assert run_cli(["sample", str(run), "--out", str(tmp_path / "x.png")]) == 2
    assert "no loadable checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_a_safetensors_header_length_ending_in_0x80_is_not_taken_for_a_pickle(tmp_path):
    # The header length is the file's first 8 bytes; one length in 256 starts with 0x80, pickle's first byte
    # (a real run's config grew to such a length and its checkpoints were refused).
    from safetensors.torch import save_file

    path = tmp_path / "step.safetensors"
    for pad in range(300):
        save_file({"w": torch.zeros(3)}, str(path), metadata={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    data = path.read_bytes()
    assert data[0] == 0x80 and not runs._looks_like_pickle(data)
    assert runs._looks_like_pickle(pickle.dumps({"w": 1}))


def test_plain_pt_file_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(3)}, path)
    with pytest.raises(RunError, match="only loads .safetensors"):
        load_checkpoint(path)


def test_foreign_safetensors_file_is_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path))
    with pytest.raises(RunError, match="not a DDPM Studio checkpoint"):
        load_checkpoint(path)


def test_checkpoint_from_newer_format_is_refused(tmp_path):
    path = runs.save_checkpoint(tmp_path / "c.safetensors", {"x": torch.zeros(1)}, {"step": 1})
    data = path.read_bytes().replace(b'"format_version":"1"', b'"format_version":"9"')
    path.write_bytes(data)
    with pytest.raises(RunError, match="format 9"):
        load_checkpoint(path)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("rel") / "run"
    assert (
        run_cli(
            [
                "train",
                "--data",
                "moons",
                "--steps",
                "5",
                "--T",
                "50",
                "--out",
                str(run),
                "--quiet",
                "--preview-every",
                "0",
            ]
        )
        == 0
    )
    return run


def _rewrite_checkpoint(run: Path, edit) -> None:
    ((_, path),) = list_checkpoints(run)
    tensors, meta = load_checkpoint(path)
    edit(tensors, meta)
    runs.save_checkpoint(path, tensors, meta)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t, m: t.pop(next(k for k in t if k.startswith("ema."))), "missing 1 tensor"),
        (lambda t, m: t.update({"ema.extra.weight": torch.zeros(1)}), "unexpected tensor"),
        (lambda t, m: t.update({k: torch.zeros(7) for k in [next(k for k in t if k.startswith("ema."))]}), "has shape"),
    ],
)
def test_mismatched_checkpoints_name_the_mismatch(small_run, tmp_path, edit, match):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(small_run, run)
    _rewrite_checkpoint(run, edit)
    with pytest.raises(RunError, match=match):
        load_pipeline(run)


def test_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path):
    config = default_config()
    config.diffusion.num_timesteps = 50
    config.train.steps = 10
    config.train.checkpoint_every = 5
    config.train.preview_every = 0
    list(Trainer(config, run_dir=tmp_path / "run").train())
    newest = list_checkpoints(tmp_path / "run")[-1][1]
    newest.write_bytes(newest.read_bytes()[:100])  # e.g. a disk that filled mid-write, on a non-atomic copy
    assert load_pipeline(tmp_path / "run").step == 5


def test_only_damaged_checkpoints_are_named_as_damaged_not_as_missing(small_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(small_run, run)
    ((_, path),) = list_checkpoints(run)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a copy cut short
    expected = rf"no loadable checkpoint: checkpoints/{path.name} is damaged or truncated"
    with pytest.raises(RunError, match=expected):
        load_pipeline(run)
    for argv in (["sample", str(run), "--out", str(tmp_path / "x.png")],
                 ["train", "--out", str(run), "--resume", "--steps", "9", "--quiet"]):
        assert run_cli(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and re.search(expected, err[0]) and "train it first" not in err[0], err
    path.unlink()  # no checkpoint at all is another message
    with pytest.raises(RunError, match="holds no checkpoint yet \\(train it first\\)"):
        load_pipeline(run)


def test_full_disk_stops_cleanly_and_keeps_the_model_in_memory(tmp_path, monkeypatch):
    config = default_config()
    config.diffusion.num_timesteps = 50
    config.train.steps = 20
    config.train.checkpoint_every = 10
    config.train.preview_every = 0
    trainer = Trainer(config, run_dir=tmp_path / "run")
    real = runs.atomic_write_bytes

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runs, "atomic_write_bytes", full_disk)
    with pytest.raises(CheckpointWriteError, match="No space left.*choose another folder"):
        for _ in trainer.train():
            pass
    assert trainer.step == 10
    weights = {k: v.clone() for k, v in trainer.net.state_dict().items()}
    monkeypatch.setattr(runs, "atomic_write_bytes", real)
    trainer.set_run_dir(tmp_path / "elsewhere")  # the user picks another folder ...
    assert all(torch.equal(weights[k], v) for k, v in trainer.net.state_dict().items())
    events = list(trainer.train())  # ... and training continues from step 10
    assert [e.step for e in events if isinstance(e, TrainStep)][0] == 20
    assert list_checkpoints(tmp_path / "elsewhere")[-1][0] == 20


def test_unwritable_output_folder_is_one_line_in_the_cli(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert run_cli(["train", "--data", "moons", "--steps", "2", "--out", str(blocker / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write" in err[0]


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: np.save(p / "d.npy", np.zeros((10, 3, 4, 5, 6))), "expected shape"),
        (lambda p: np.save(p / "d.npy", np.array([[0.0, 1.0], [np.nan, 2.0], [1.0, 1.0]])), "NaN"),
        (lambda p: (p / "d.csv").write_text("x,y\n1,2\nfoo,bar\n3,4\n"), "not numeric"),
        (lambda p: (p / "empty").mkdir(), "no readable images|holds no"),
    ],
)
def test_bad_data_files_give_one_line_and_exit_2(tmp_path, capsys, make, match):
    make(tmp_path)
    target = next(p for p in tmp_path.iterdir() if p.name != "out")
    assert run_cli(["train", "--data", str(target), "--steps", "2", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    import re

    assert re.search(match, err[0]), err[0]
