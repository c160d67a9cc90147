"""The short monkey: a seeded random sequence of user actions on the real window (benchmarks/monkey.py runs long)."""

from __future__ import annotations

import pytest

from benchmarks.monkey import run_monkey

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


@pytest.mark.parametrize("seed", [1])
def test_a_monkey_cannot_crash_hang_or_leak(qtbot, tmp_path, seed):
    report = run_monkey(150, seed, tmp_path, bound_s=15.0)
    assert sum(report.actions.values()) == 150
    assert {"train", "stop", "sample", "new", "setting"} <= set(report.actions)
    assert report.thread_warnings == []
    assert report.left_jobs == [] and report.pool_threads_active == 0
