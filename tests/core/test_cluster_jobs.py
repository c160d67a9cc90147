"""Cluster-safe jobs (issue 31): the run folder's lock (live, stale, another host), SIGTERM under torchrun and
``--max-time``. SIGTERM's checkpoint and exact resume are in test_exact_resume.py, beside SIGINT's; that torchrun
trains with rank 0 alone holding the lock, in test_training.py's two-process test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ddpm_studio.cli import run_cli
from ddpm_studio.cli.time_limit import format_duration, parse_duration
from ddpm_studio.core.config import default_config
from ddpm_studio.core.io.runs import list_checkpoints, read_metrics
from ddpm_studio.core.training.run_lock import LOCK_NAME, RunLocked, hold_run_lock
from ddpm_studio.core.training.trainer import Trainer

#: a points run of a few steps: no previews, no early stop, one thread
TINY = ["--data", "moons", "--batch-size", "64", "--preview-every", "0", "--no-early-stop", "--log-every", "2",
        "--quiet", "--threads", "1"]

#: Holds the lock of the folder argv[1] and says so, then sleeps until killed.
_HOLDER = ("import sys, time; from ddpm_studio.core.training.run_lock import hold_run_lock; "
           "lock = hold_run_lock(sys.argv[1]); print('held', flush=True); time.sleep(120)")


@pytest.fixture
def holder(tmp_path: Path):
    """Another live process holding the lock of tmp_path / 'run'; yields (run folder, process)."""
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        yield run, process
    finally:
        process.kill()
        process.wait(timeout=30)


def test_a_second_trainer_on_a_live_folder_is_refused_naming_the_other_process(holder, capsys) -> None:
    run, process = holder
    assert run_cli(["train", *TINY, "--steps", "2", "--out", str(run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith(f"error: {run} is being trained by pid {process.pid} on host {socket.gethostname()}")
    assert "another --out" in err[0]
    assert not (run / "config.json").exists()  # refused before anything was written


def test_a_resume_of_a_live_folder_is_refused_too(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert run_cli(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    assert not (run / LOCK_NAME).exists()  # released at the end
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert run_cli(["train", "--out", str(run), "--resume", "--steps", "4", "--quiet"]) == 2
        assert f"pid {process.pid}" in capsys.readouterr().err
    finally:
        process.kill()
        process.wait(timeout=30)
    assert list_checkpoints(run)[-1][0] == 2  # untouched


def test_the_studio_opens_a_run_another_process_trains_for_sampling_only(tmp_path) -> None:
    from ddpm_studio.core.app.run_io import open_run

    run = tmp_path / "run"
    assert run_cli(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    process = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "held"
        opened = open_run(str(run))
    finally:
        process.kill()
        process.wait(timeout=30)
    assert opened.trainer is None and opened.pipeline is not None
    assert opened.warning.startswith(f"another process trains it ({run} is being trained by pid {process.pid}")
    assert opened.warning.endswith("you can sample it, not continue training it")


def test_a_stale_lock_is_taken_over_with_a_warning(holder, capsys) -> None:
    run, process = holder
    process.send_signal(signal.SIGKILL)  # the job is gone without a word: its lock stays behind
    process.wait(timeout=30)
    assert (run / LOCK_NAME).exists()
    assert run_cli(["train", *TINY, "--steps", "2", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert f"note: {run}: took over the stale lock of pid {process.pid} on host {socket.gethostname()}" in err
    assert list_checkpoints(run)[-1][0] == 2 and not (run / LOCK_NAME).exists()


def test_a_lock_from_another_host_is_refused_with_the_file_to_delete(tmp_path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    lock = run / LOCK_NAME
    lock.write_text(json.dumps({"pid": 4242, "host": "node-17", "started": "2026-12-07 10:00:00"}))
    with pytest.raises(RunLocked, match=r"pid 4242 on host node-17, since 2026-12-07 10:00:00.*delete .*train\.lock"):
        hold_run_lock(run)
    assert lock.exists()


def test_one_process_may_hold_its_folder_twice_and_the_last_release_frees_it(tmp_path) -> None:
    first = hold_run_lock(tmp_path)
    second = hold_run_lock(tmp_path)  # the studio reopening the run it trains, a test resuming in-process
    first.release()
    assert (tmp_path / LOCK_NAME).exists()
    second.release()
    second.release()  # idempotent
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_trainer_holds_its_folder_until_it_is_dropped(tmp_path) -> None:
    config = default_config("moons", "points")
    config.data.num_points, config.train.steps, config.train.batch_size = 256, 2, 32
    trainer = Trainer(config, run_dir=tmp_path / "run")
    lock = json.loads((tmp_path / "run" / LOCK_NAME).read_text())
    assert lock["pid"] == os.getpid() and lock["host"] == socket.gethostname()
    del trainer  # the studio dropping a run it opened: the folder is free for a CLI resume
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    in_memory = Trainer(config)
    assert in_memory.run_lock is None  # nothing to lock
    in_memory.set_run_dir(tmp_path / "saved")  # the studio's Save: the new folder is locked before it is written
    assert json.loads((tmp_path / "saved" / LOCK_NAME).read_text())["pid"] == os.getpid()
    in_memory.set_run_dir(tmp_path / "moved")  # moved after a full disk: the old folder is free again
    assert not (tmp_path / "saved" / LOCK_NAME).exists() and (tmp_path / "moved" / LOCK_NAME).exists()


def test_sigterm_to_torchrun_stops_every_rank_at_one_step_with_a_checkpoint(tmp_path) -> None:
    """torchrun hands the scheduler's SIGTERM to its workers, which may get it at different steps: they agree on
    the stop at a metrics step (a rank that went on would wait forever in the next all-reduce)."""
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ddpm_studio",
         "train", *TINY, "--steps", "1000000", "--log-every", "5", "--device", "cpu", "--out", str(run)],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 180
    while not read_metrics(run) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    step = list_checkpoints(run)[-1][0]
    assert 0 < step < 1_000_000 and step % 5 == 0, stderr[-3000:]
    assert f"interrupted at step {step}; saved" in stderr
    assert not (run / LOCK_NAME).exists()


# ------------------------------------------------------------------ --max-time
@pytest.mark.parametrize(("text", "seconds"), [("3h50m", 13_800), ("90s", 90), ("90", 90), ("45m", 2_700),
                                               ("1d2h", 93_600), ("1.5h", 5_400), ("2m30s", 150)])
def test_durations_read_as_a_job_scheduler_writes_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "3x", "0s", "-5", "50m3h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="duration"):
        parse_duration(text)


def test_durations_are_shown_as_written() -> None:
    assert format_duration(13_800) == "3h50m" and format_duration(90) == "1m30s" and format_duration(0.2) == "0s"


def test_max_time_stops_cleanly_at_a_step_and_resume_continues(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert run_cli(["train", *TINY, "--steps", "1000000", "--max-time", "3s", "--out", str(run)]) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    step = list_checkpoints(run)[-1][0]
    assert 0 < step < 1_000_000
    assert last.startswith(f"stopped at step {step}: --max-time 3s reached; saved {run / 'checkpoints'}"), last
    assert last.endswith(f"continue with ddpm-studio train --out {run} --resume")
    assert run_cli(["train", "--out", str(run), "--resume", "--steps", str(step + 3), "--quiet"]) == 0
    assert list_checkpoints(run)[-1][0] == step + 3


def test_max_time_is_refused_in_one_line_when_malformed(tmp_path, capsys) -> None:
    assert run_cli(["train", "--out", str(tmp_path / "r"), "--max-time", "soon"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-time" in err[0] and "3h50m" in err[0]
