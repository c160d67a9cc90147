"""Following a run folder another process writes (core/app/follow.py), without Qt: new lines only, torn last lines,
new checkpoints and previews, the run's step and age, and a folder that vanishes."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch

from ddpm_studio.core.app.follow import RunFollower, describe_age
from ddpm_studio.core.io.runs import (
    RunError,
    append_metrics,
    checkpoint_path,
    save_checkpoint,
    truncate_metrics,
    write_config,
)


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    write_config(folder, {"train": {"steps": 300}})
    return folder


def lines(folder, text: str) -> None:
    with open(folder / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write(text)


def test_reads_only_new_lines_and_leaves_a_torn_line_for_later(run_dir):
    follower = RunFollower(run_dir)
    assert follower.poll().records == [] and follower.poll().step == 0
    lines(run_dir, '{"step": 10, "loss": 1.0}\n{"step": 20, "loss": 0.9}\n{"step": 30, "lo')
    update = follower.poll()
    assert [r["step"] for r in update.records] == [10, 20] and update.step == 20
    assert update.total_steps == 300
    assert follower.poll().records == []  # nothing new: the torn line is not parsed
    lines(run_dir, 'ss": 0.8}\n{"step": 40, "loss": 0.7}\n')
    update = follower.poll()
    assert [r["loss"] for r in update.records] == [0.8, 0.7] and update.step == 40 and not update.reset


def test_a_garbled_line_is_skipped_and_reading_goes_on(run_dir):
    follower = RunFollower(run_dir)
    lines(run_dir, '{"step": 10}\nnot json\n[1, 2]\n{"step": 20}\n')
    assert [r["step"] for r in follower.poll().records] == [10, 20]


def test_a_truncated_history_is_read_again_with_reset(run_dir):
    follower = RunFollower(run_dir)
    append_metrics(run_dir, [{"step": s, "loss": 1.0 / s} for s in (10, 20, 30, 40)])
    assert len(follower.poll().records) == 4
    truncate_metrics(run_dir, 20)  # a resume from step 20 rewrites the file through a rename
    append_metrics(run_dir, [{"step": 30, "loss": 0.5}])
    update = follower.poll()
    assert update.reset and [r["step"] for r in update.records] == [10, 20, 30] and update.step == 30


def test_new_checkpoints_and_previews_are_listed_once(run_dir):
    follower = RunFollower(run_dir)
    save_checkpoint(checkpoint_path(run_dir, 100), {"w": torch.zeros(1)}, {"step": 100})
    (run_dir / "samples").mkdir()
    (run_dir / "samples" / "preview_00000100.png").write_bytes(b"png")
    (run_dir / "samples" / ".preview_00000200.png.x.tmp").write_bytes(b"half")  # a write in progress
    update = follower.poll()
    assert [s for s, _ in update.checkpoints] == [100] and update.step == 100
    assert [s for s, _ in update.previews] == [100]
    assert update.changed
    save_checkpoint(checkpoint_path(run_dir, 200), {"w": torch.zeros(1)}, {"step": 200})
    update = follower.poll()
    assert [s for s, _ in update.checkpoints] == [200] and update.previews == [] and update.step == 200
    assert not follower.poll().changed


def test_age_is_the_time_since_the_last_write(run_dir):
    now = [0.0]
    follower = RunFollower(run_dir, clock=lambda: now[0])
    assert follower.poll().age is None and describe_age(None) == "nothing written yet"
    append_metrics(run_dir, [{"step": 10}])
    written = (run_dir / "metrics.jsonl").stat().st_mtime
    os.utime(run_dir / "metrics.jsonl", (written, written))
    now[0] = written + 42.0
    update = follower.poll()
    assert update.age == pytest.approx(42.0)
    assert describe_age(update.age) == "42 s ago" and describe_age(600) == "10 min ago"
    assert describe_age(7200) == "2 h ago"


def test_a_folder_that_vanishes_gives_one_line_and_the_follower_stays_usable(run_dir):
    follower = RunFollower(run_dir)
    append_metrics(run_dir, [{"step": 10}])
    follower.poll()
    shutil.rmtree(run_dir)
    update = follower.poll()
    assert update.error is not None and "gone" in update.error and "\n" not in update.error
    assert update.step == 10 and update.records == []
    write_config(run_dir, {"train": {"steps": 300}})  # the folder comes back (a sync finished)
    append_metrics(run_dir, [{"step": 20}])
    update = follower.poll()
    assert update.error is None and update.reset and [r["step"] for r in update.records] == [20]


def test_a_folder_that_is_not_a_run_is_refused_in_one_line(tmp_path):
    with pytest.raises(RunError, match="not a folder"):
        RunFollower(tmp_path / "missing")
    with pytest.raises(RunError, match="no config.json"):
        RunFollower(tmp_path)


def test_the_trainer_writes_whole_lines_and_renames_its_files(tmp_path, monkeypatch):
    """The writer's side: every metrics line is whole when the loop yields it; checkpoints and the config are
    renamed into place (a reader never sees half a file)."""
    from ddpm_studio.core.config import RunConfig
    from ddpm_studio.core.training.trainer import Trainer

    renamed = []
    real_replace = os.replace

    def replace(src, dst):
        renamed.append(os.path.relpath(dst, tmp_path))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    config = RunConfig()
    config.data.num_points = 256
    config.train.steps, config.train.batch_size, config.train.log_every = 20, 32, 5
    config.train.checkpoint_every, config.train.preview_every = 10, 0
    trainer = Trainer(config, run_dir=tmp_path / "run")
    follower = RunFollower(tmp_path / "run")
    seen = []
    for event in trainer.train():
        if type(event).__name__ == "TrainStep":
            seen.extend(r["step"] for r in follower.poll().records)  # read right after the write
    assert seen == [5, 10, 15, 20]
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 20
    assert os.path.join("run", "config.json") in renamed
    assert os.path.join("run", "checkpoints", "step_00000010.safetensors") in renamed


def test_the_config_is_delivered_when_it_changes(run_dir):
    follower = RunFollower(run_dir)
    first = follower.poll()
    assert first.config is not None and first.config.train.steps == 300 and first.kind == "points"  # moons
    assert follower.poll().config is None
    write_config(run_dir, {"data": {"dataset": "my_images"}, "train": {"steps": 600}})  # a resume raised it
    update = follower.poll()
    assert update.total_steps == 600 and update.config.train.steps == 600 and update.kind is None


def test_snapshots_are_delivered_once_again_when_rewritten_and_dropped_when_gone(run_dir):
    import numpy as np

    from ddpm_studio.core.training.snapshots import Snapshot, snapshot_path

    def write(step: int, value: float) -> None:
        path = snapshot_path(run_dir, step)
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(Snapshot(step, "points", np.full((4, 2), value, np.float32), None, 5, 20, 3, 0).to_bytes())

    follower = RunFollower(run_dir)
    assert follower.poll().snapshots == []
    write(5, 1.0)
    write(10, 2.0)
    first = follower.poll()
    assert [s.step for s in first.snapshots] == [5, 10] and first.changed
    assert follower.poll().snapshots == []  # each file once
    whole = snapshot_path(run_dir, 5).read_bytes()
    snapshot_path(run_dir, 15).write_bytes(whole[: len(whole) // 2])  # damaged: skipped, never raised
    assert follower.poll().snapshots == [] and follower.poll().error is None
    snapshot_path(run_dir, 15).unlink()
    # a resumed run deletes the snapshots after its checkpoint and writes them again
    snapshot_path(run_dir, 10).unlink()
    gone = follower.poll()
    assert gone.snapshots_dropped == [10] and gone.changed
    write(10, 3.0)
    again = follower.poll()
    assert [s.step for s in again.snapshots] == [10] and float(again.snapshots[0].samples[0, 0]) == 3.0
