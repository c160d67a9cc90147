"""A monkey on the real window: a seeded random sequence of user actions, offscreen, checked for crash, hang and leak.

Actions: Train, Pause, Stop, Sample, New, slider moves, setting changes, dock toggles, Open / Save (with the
folder dialogs patched), Compare start / cancel, Compute bound. After each action the event loop must come back
to idle (a zero-timer fires) within ``--bound`` seconds; Qt warnings about threads fail the run; at the end the
window closes and no job may be left. Settings are tiny (2-D data, T <= 60, a few hundred steps at most).

    QT_QPA_PLATFORM=offscreen python benchmarks/monkey.py --actions 2000 --seed 0

The suite runs a short version (tests/test_monkey.py).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: The event loop must be back to idle within this many seconds after an action.
IDLE_BOUND_S = 10.0
POINTS_DATA = ("moons", "ring", "swiss", "gaussians")


@dataclass
class MonkeyReport:
    actions: Counter = field(default_factory=Counter)
    worst_idle_s: float = 0.0
    worst_action: str = ""
    thread_warnings: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    left_jobs: list[str] = field(default_factory=list)
    pool_threads_active: int = 0
    seconds: float = 0.0


def wait_idle(app, bound_s: float) -> float:
    """Seconds until a zero-timer posted now has fired (the event loop is idle again); raises past the bound."""
    from PySide6.QtCore import QTimer

    fired: list[bool] = []
    start = time.perf_counter()
    QTimer.singleShot(0, lambda: fired.append(True))
    while not fired:
        app.processEvents()
        if time.perf_counter() - start > bound_s:
            raise TimeoutError(f"the event loop did not come back to idle within {bound_s} s")
        if not fired:
            time.sleep(0.001)
    return time.perf_counter() - start


def run_monkey(num_actions: int, seed: int, folder: Path, bound_s: float = IDLE_BOUND_S,
               settings_path: Path | None = None) -> MonkeyReport:
    from PySide6.QtCore import QSettings, QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

    from ddpm_studio.gui import MainWindow, collector
    from ddpm_studio.gui.jobs.runner import runner

    app = QApplication.instance() or QApplication([])
    collector.install()
    rng = random.Random(seed)
    report = MonkeyReport()
    previous_handler = None

    def on_message(kind, _context, text):
        if kind != QtMsgType.QtDebugMsg and "thread" in text.lower():
            report.thread_warnings.append(text)

    previous_handler = qInstallMessageHandler(on_message)
    saved_runs: list[str] = []
    counter = [0]

    def existing_directory(*_args, **_kwargs):
        counter[0] += 1
        if saved_runs and rng.random() < 0.6:
            return rng.choice(saved_runs)  # Open an earlier run (Save into it is refused: it holds a run)
        fresh = folder / f"run{counter[0]}"
        return str(fresh) if rng.random() < 0.9 else ""  # sometimes the user cancels the dialog

    def record(_parent, _title, text, *_args, **_kwargs):
        report.messages.append(text)
        return QMessageBox.StandardButton.Ok

    originals = (QFileDialog.getExistingDirectory, QMessageBox.warning)
    QFileDialog.getExistingDirectory = staticmethod(existing_directory)
    QMessageBox.warning = staticmethod(record)
    settings = QSettings(str(settings_path or folder / "studio.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings)
    win.show()
    s, traj = win.setup, win.trajectory
    s.timestepsSpin.setValue(30)
    s.stepsSpin.setValue(60)
    s.batchSpin.setValue(32)
    s.logEverySpin.setValue(5)
    s.previewEverySpin.setValue(20)
    s.previewCountSpin.setValue(16)
    traj.sampleStepsSpin.setValue(10)
    traj.numSamplesSpin.setValue(32)

    def pick(combo, items=None):
        indices = [i for i in range(combo.count()) if combo.itemText(i) and
                   (items is None or any(combo.itemText(i).startswith(name) for name in items))]
        if indices:
            combo.setCurrentIndex(rng.choice(indices))

    def setting():
        choice = rng.randrange(8)
        if choice == 0:
            s.stepsSpin.setValue(rng.randint(10, 300))
        elif choice == 1:
            s.timestepsSpin.setValue(rng.randint(21, 60))
        elif choice == 2:
            pick(s.datasetCombo, POINTS_DATA)
        elif choice == 3:
            pick(s.parameterizationCombo)
        elif choice == 4:
            pick(s.lossCombo)
        elif choice == 5:
            pick(s.varianceCombo)
        elif choice == 6:
            pick(s.scheduleCombo)
        else:
            s.batchSpin.setValue(rng.choice([16, 32, 64]))

    def compare():
        win.open_compare()
        dialog = win._compare
        if dialog is None:
            return
        dialog.compareStepsSpin.setValue(rng.randint(5, 20))
        dialog.compareTimestepsSpin.setValue(30)
        dialog.compareEvalSpin.setValue(dialog.compareEvalSpin.minimum())
        dialog.compareOutEdit.setText(str(folder / f"compare{counter[0]}"))
        counter[0] += 1
        lst = dialog.compareSettingsList
        for i in range(lst.count()):
            from PySide6.QtCore import Qt

            lst.item(i).setCheckState(Qt.CheckState.Checked if i == 0 else Qt.CheckState.Unchecked)
        dialog.start()
        for _ in range(rng.randint(0, 30)):
            app.processEvents()
            time.sleep(0.01)
        if rng.random() < 0.5:
            dialog.cancel()
        dialog.reject()  # Close: cancels and joins

    def save():
        win.save_run()
        if win.trainer is not None and win.trainer.run_dir is not None:
            if str(win.trainer.run_dir) not in saved_runs:
                saved_runs.append(str(win.trainer.run_dir))

    actions = {
        "train": (8, lambda: win.trainButton.click()),
        "space": (3, win.start_or_pause),
        "pause": (4, lambda: win.pauseButton.click()),
        "stop": (4, lambda: win.stopButton.click()),
        "sample": (6, lambda: win.sampleAction.trigger()),
        "new": (2, lambda: win.newAction.trigger()),
        "slider": (8, lambda: traj.timestepSlider.setValue(rng.randint(traj.timestepSlider.minimum(),
                                                                          traj.timestepSlider.maximum()))),
        "setting": (8, setting),
        "dock": (3, lambda: rng.choice(win.docks).toggleViewAction().trigger()),
        "bound": (3, lambda: win.likelihood.computeBoundButton.click()),
        "save": (2, save),
        "open": (2, lambda: win.openAction.trigger()),
        "compare": (1, compare),
        "wait": (6, lambda: time.sleep(rng.uniform(0.0, 0.3))),
    }
    names = list(actions)
    weights = [actions[name][0] for name in names]
    start = time.perf_counter()
    try:
        for _ in range(num_actions):
            name = rng.choices(names, weights)[0]
            actions[name][1]()
            report.actions[name] += 1
            idle = wait_idle(app, bound_s)
            if idle > report.worst_idle_s:
                report.worst_idle_s, report.worst_action = idle, name
    finally:
        win.close()
        report.left_jobs = [job.name for job in runner().jobs()]
        report.pool_threads_active = runner()._pool.activeThreadCount()
        QFileDialog.getExistingDirectory, QMessageBox.warning = originals
        qInstallMessageHandler(previous_handler)
        report.seconds = time.perf_counter() - start
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bound", type=float, default=IDLE_BOUND_S, help="idle bound per action (s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        report = run_monkey(args.actions, args.seed, Path(tmp), args.bound)
    print(f"{sum(report.actions.values())} actions in {report.seconds:.0f} s: {dict(report.actions)}")
    print(f"worst return to idle: {report.worst_idle_s * 1000:.0f} ms (after {report.worst_action})")
    print(f"messages shown: {len(report.messages)}; thread warnings: {report.thread_warnings}")
    print(f"jobs left: {report.left_jobs}; pool threads active: {report.pool_threads_active}")
    ok = not report.thread_warnings and not report.left_jobs and report.pool_threads_active == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package, not an installed one
    sys.exit(main())
