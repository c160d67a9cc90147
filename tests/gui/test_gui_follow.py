"""File → Follow run… (gui/presenters/follow.py): the studio follows a run folder another process writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from ddpm_studio.core.io.runs import append_metrics, write_config
from ddpm_studio.core.training.snapshots import read_snapshots

TIMEOUT_MS = 600_000  # a guard only: the other process trains on CPUs other tests may share
ROOT = Path(__file__).resolve().parents[2]


def status(win) -> str:
    return win.statusBar().currentMessage()


def test_the_loss_curve_grows_as_lines_are_appended(qtbot, window, tmp_path):
    run = tmp_path / "run"
    write_config(run, {"train": {"steps": 100}})
    assert window.followAction.objectName() == "followAction"
    assert window.following.follow(str(run))
    assert window.following.label.isVisible() and "following run" in window.following.label.text()
    append_metrics(run, [{"step": 10, "loss": 1.0}, {"step": 20, "loss": 0.8}])
    qtbot.waitUntil(lambda: window.loss.point_count == 2, timeout=TIMEOUT_MS)
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"step": 30, "loss": 0.7}\n{"step": 40, "lo')  # a torn last line: the writer is mid-line
    qtbot.waitUntil(lambda: window.loss.point_count == 3, timeout=TIMEOUT_MS)
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as handle:
        handle.write('ss": 0.6}\n')
    qtbot.waitUntil(lambda: window.loss.point_count == 4, timeout=TIMEOUT_MS)
    assert [r["step"] for r in window.session.records] == [10, 20, 30, 40]
    qtbot.waitUntil(lambda: "step 40 / 100" in window.following.label.text(), timeout=TIMEOUT_MS)
    assert not window.following.loadButton.isVisible()  # no checkpoint yet


def test_following_a_cli_training_run_offers_its_checkpoints(qtbot, window, messages, tmp_path):
    run = tmp_path / "moons"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.Popen(
        [sys.executable, "-m", "ddpm_studio", "train", "--data", "moons", "--out", str(run), "--steps", "300",
         "--log-every", "10", "--checkpoint-every", "100", "--preview-every", "100", "--batch-size", "64",
         "--quiet"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        qtbot.waitUntil(lambda: (run / "config.json").is_file() or process.poll() is not None, timeout=TIMEOUT_MS)
        assert window.following.follow(str(run))
        qtbot.waitUntil(lambda: window.loss.point_count >= 1, timeout=TIMEOUT_MS)
        first = window.loss.point_count
        qtbot.waitUntil(lambda: window.loss.point_count == 30, timeout=TIMEOUT_MS)  # 300 steps, a line per 10
        assert window.loss.point_count >= first
        qtbot.waitUntil(lambda: window.following.loadButton.isVisible(), timeout=TIMEOUT_MS)
        assert process.wait(timeout=600) == 0, process.stderr.read().decode()
        qtbot.waitUntil(lambda: window.following.offered_step == 300, timeout=TIMEOUT_MS)
        assert window.following.loadButton.text() == "Load step 300"
        qtbot.waitUntil(lambda: window.following.previewDock is not None, timeout=TIMEOUT_MS)
        assert window.following.previewLabel.property("previewStep") in (100, 200, 300)
        # the training slider scrubs the followed run's snapshots, as it does a run trained in the studio
        written = [s.step for s in read_snapshots(run)]
        assert written and written[-1] == 300
        qtbot.waitUntil(lambda: [s.step for s in window.samples_dock.scrubber.snapshots] == written,
                        timeout=TIMEOUT_MS)
        assert window.samples_dock.trainingSlider.isEnabled()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stderr.close()

    assert not window.session.has_model  # loading is the user's choice
    qtbot.mouseClick(window.following.loadButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.session.has_model and window.following.loaded_step == 300, timeout=TIMEOUT_MS)
    assert not window.following.loadButton.isVisible()
    assert window.session.step == 300 and window.sampleAction.isEnabled()
    assert window.loss.point_count == 30 and window.following.following
    assert messages == []

    shutil.rmtree(run)  # the folder disappears while followed
    qtbot.waitUntil(lambda: not window.following.following, timeout=TIMEOUT_MS)
    assert "gone" in status(window) and messages == []  # one line in the status bar, no dialog
    assert window.session.has_model and window.followAction.isEnabled() and window.sampleAction.isEnabled()
    assert not window.following.label.isVisible()


def test_a_folder_that_is_not_a_run_gets_one_message(window, messages, tmp_path):
    assert not window.following.follow(str(tmp_path))
    assert len(messages) == 1 and "config.json" in messages[0]
    assert not window.following.following


@pytest.mark.parametrize("argv, expected", [
    (["follow", "RUN"], ["gui", "--follow", "RUN"]),
    (["train", "--data", "moons"], ["train", "--data", "moons"]),
])
def test_follow_command_line(argv, expected):
    from ddpm_studio.__main__ import studio_arguments

    assert studio_arguments(argv) == expected


def test_a_lone_folder_opens_the_studio_on_it(tmp_path):
    from ddpm_studio.__main__ import studio_arguments

    write_config(tmp_path / "run", {})
    assert studio_arguments([str(tmp_path / "run")]) == ["gui", "--follow", str(tmp_path / "run")]
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "model_index.json").write_text("{}")
    assert studio_arguments([str(tmp_path / "hub")]) == ["gui", "--run", str(tmp_path / "hub")]
