"""The quality verdict (M46) in the studio: the final samples' caption and the status bar name it and its failing
lenses, computed on the sampling job's thread; too few samples say how many the verdict needs."""

from __future__ import annotations

import pytest

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

from gui_helpers import make_tiny, sample_and_wait, train_until  # noqa: E402


def test_final_samples_carry_the_verdict_and_its_failing_lenses(qtbot, window, messages):
    make_tiny(window, steps=10, preview_every=0)
    train_until(qtbot, window, 1)
    qtbot.waitUntil(lambda: not window.training, timeout=30_000)
    sample_and_wait(qtbot, window, steps=10, count=600)
    store = window.store
    # ten training steps cannot draw the moons: the verdict says so and names what failed
    assert store.verdict_note.startswith("not clean: ")
    failed = store.verdict_note.removeprefix("not clean: ").split(", ")
    assert failed and all(name in store.verdict_line for name in failed)
    qtbot.waitUntil(lambda: store.verdict_note in window.samples_dock.captionLabel.text(), timeout=10_000)
    assert "Quality verdict: not clean" in window.statusBar().currentMessage()
    assert "off-support" not in window.samples_dock.captionLabel.text()  # one off-support number: the verdict's

    sample_and_wait(qtbot, window, steps=10, count=100)
    assert window.store.verdict_note == "verdict needs >= 409 samples"
    qtbot.waitUntil(lambda: "verdict needs >= 409 samples" in window.samples_dock.captionLabel.text(),
                    timeout=10_000)
    assert "off-support" in window.samples_dock.captionLabel.text()  # unjudged: the quick note stays
    assert messages == []


def test_an_early_stop_says_when_and_why_lens_by_lens(qtbot, window, messages, monkeypatch):
    """A points run that early-stops says so in the step label (kept) and the status bar, with the verdict of its
    last check (which lenses failed and their numbers, or clean)."""
    make_tiny(window, steps=60, preview_every=0)
    window.setup.earlyStopCheck.setChecked(True)
    base = window.setup.config

    def frequent_checks():
        config = base()
        config.train.early_stop_every, config.train.early_stop_patience = 10, 1
        return config

    monkeypatch.setattr(window.setup, "config", frequent_checks)
    train_until(qtbot, window, 1)
    qtbot.waitUntil(lambda: not window.training, timeout=60_000)
    assert window.stepLabel.text().endswith("· stopped early")
    tip = window.stepLabel.toolTip()
    assert tip.startswith("Stopped early at step ") and "held-out quality stopped improving" in tip
    assert tip.index("last check at step") < tip.index("best at step")  # what the saved model draws comes first
    # an untrained moons model: the last check names its failing lenses with their numbers
    assert "not clean: " in tip and " % " in tip
    status = window.statusBar().currentMessage()
    assert status.startswith("Stopped early at step ") and "last check not clean: " in status
    failed = status.split("last check not clean: ")[1].split(" (numbers: hover")[0].split(", ")
    assert failed and all(f"; {name} " in tip or f": {name} " in tip for name in failed)
    assert messages == []
