"""The studio's cost: the same training headless and driven by the studio offscreen, and event-loop stalls.

The studio leaves one core to the GUI (``torch.set_num_threads(n - 1)``), so the headless baseline runs with the
same thread count: the figure is the overhead of the studio itself (signals, redraws, copies), not of the core
it gives up on purpose. Stalls are measured with a 5 ms QTimer on the GUI thread: the largest gap between two
ticks, minus the interval, is the longest time the event loop could not answer.
"""

from __future__ import annotations

import os
import time

import torch

from ddpm_studio.core.training.config import RunConfig, default_config
from ddpm_studio.core.training.trainer import Trainer


def _config(steps: int) -> RunConfig:
    config = default_config("moons", "points")
    config.train.steps = steps
    config.train.preview_every = max(1, steps // 3)
    config.train.checkpoint_every = 0
    return config


class _StallMeter:
    def __init__(self, app, interval_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.interval = interval_ms / 1000
        self.worst = 0.0
        self.last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self.last - self.interval)
        self.last = now

    def start(self) -> None:
        self.worst, self.last = 0.0, time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return self.worst * 1000


def _wait(app, done, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not done() and time.perf_counter() < deadline:
        app.processEvents()
        time.sleep(0.001)


def measure_studio_overhead(steps: int = 600, sample_steps: int = 1000) -> dict:
    """Headless vs studio wall time for ``steps`` training steps on moons, and the longest stalls (ms)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from ddpm_studio.gui import MainWindow
    from ddpm_studio.gui.workers import prepare_torch

    app = QApplication.instance() or QApplication([])
    threads = prepare_torch()

    config = _config(steps)
    start = time.perf_counter()
    trainer = Trainer(config)
    for _ in trainer.train():
        pass
    headless = time.perf_counter() - start

    window = MainWindow()
    window.show()
    window.setup.set_config(_config(steps), "points")
    meter = _StallMeter(app)
    app.processEvents()
    meter.start()
    start = time.perf_counter()
    window.start_training()
    _wait(app, lambda: not window.training and window.trainer is not None and window.trainer.step >= steps, 600)
    studio = time.perf_counter() - start
    stall_training = meter.stop()

    window.trajectory.sampleStepsSpin.setValue(sample_steps)
    meter.start()
    window.sample()
    _wait(app, lambda: not window.sampling, 600)
    stall_sampling = meter.stop()
    window.close()
    app.processEvents()
    torch.set_num_threads(os.cpu_count() or 1)
    return {
        "steps": steps,
        "threads": threads,
        "headless_s": headless,
        "studio_s": studio,
        "overhead_pct": (studio / headless - 1) * 100,
        "max_stall_training_ms": stall_training,
        "max_stall_sampling_ms": stall_sampling,
        "sample_steps": sample_steps,
    }
