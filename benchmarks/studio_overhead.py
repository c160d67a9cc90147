"""The studio's cost: the same training headless and driven by the studio offscreen, and event-loop stalls.

Both sides train on the threads ``ddpm-studio train`` chooses (``core.threads.training_threads``: one for
points, the free cores for images), the studio's training job as shipped: the figure is what a user of the
studio pays against the CLI on the same settings (issue 32: at least 0.9x the CLI's steps/s). Stalls are
measured with a 10 ms QTimer on the GUI thread: the largest gap between two ticks, minus the interval, is the
longest time the event loop could not answer.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from ddpm_studio.core.config import RunConfig, default_config
from ddpm_studio.core.threads import training_threads
from ddpm_studio.core.training.trainer import Trainer


def _config(steps: int, dataset: str = "moons", kind: str = "points") -> RunConfig:
    config = default_config(dataset, kind)
    config.train.steps = steps
    config.train.preview_every = max(1, steps // 3)
    config.train.checkpoint_every = 0
    return config


class _StallMeter:
    def __init__(self, app, interval_ms: int = 10) -> None:
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
    """Run the event loop, as ``app.exec()`` would, until ``done()`` (polled every 50 ms) or the timeout.

    A busy ``processEvents`` loop would itself compete with the training thread for the GIL and inflate the
    figure; a blocking QEventLoop costs nothing between events, like the real application.
    """
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    deadline = time.perf_counter() + timeout
    poll = QTimer()
    poll.setInterval(50)
    poll.timeout.connect(lambda: (done() or time.perf_counter() > deadline) and loop.quit())
    poll.start()
    if not done():
        loop.exec()
    poll.stop()


def _headless_here(steps: int, dataset: str = "moons", kind: str = "points") -> float:
    """``ddpm-studio train``'s loop on the CLI's thread count, in this process: seconds from building the trainer
    (data loaded) to its last step, as the studio's time runs from the Train click, which builds one too."""
    from ddpm_studio.core.data import load_dataset

    config = _config(steps, dataset, kind)
    data = load_dataset(config.data.dataset, image_size=config.data.image_size, num_points=config.data.num_points,
                        num_images=config.data.num_images, seed=config.train.seed, subset=config.data.subset)
    before = torch.get_num_threads()
    torch.set_num_threads(training_threads(kind, "cpu").threads)
    try:
        # warm, as the studio's process is by its earlier runs: first-call costs (kernels, allocator) paid here
        warm = _config(2, dataset, kind)
        warm.train.early_stop = False
        for _ in Trainer(warm, dataset=data).train():
            pass
        start = time.perf_counter()
        trainer = Trainer(config, dataset=data)
        for _ in trainer.train():
            pass
        return time.perf_counter() - start
    finally:
        torch.set_num_threads(before)


def _headless(steps: int, dataset: str = "moons", kind: str = "points") -> float:
    """:func:`_headless_here` in a fresh interpreter, as the CLI is: run in the studio's own process, a loop on
    two OpenMP threads left that process's next training job (on another thread) running at one thread's speed
    (40 digits steps: 20.4 s against 12.6 s), which no user of the studio meets."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from benchmarks.studio_overhead import _headless_here; "
            "print(_headless_here(int(sys.argv[2]), sys.argv[3], sys.argv[4]))")
    root = str(Path(__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code, root, str(steps), dataset, kind], capture_output=True,
                          text=True, check=True, cwd=root)
    return float(done.stdout.strip().splitlines()[-1])


def _studio(app, steps: int, meter: _StallMeter | None, dataset: str = "moons",
            kind: str = "points") -> tuple[float, float, object]:
    """Train ``steps`` steps in a fresh window (time from the Train click); returns (seconds, stall ms, window).

    With ``meter`` None no stall is measured: the meter's 100 ticks a second take the GIL from the training
    thread too, so time is measured without it and stalls in a run of their own.
    """
    from ddpm_studio.gui import MainWindow

    window = MainWindow()
    window.show()
    window.setup.set_config(_config(steps, dataset, kind), kind)
    _wait(app, lambda: not window.busy, 60)  # the window's own start-up work (it loads the chosen data)
    _wait(app, lambda: False, 0.3)  # and its first layout and paint
    if meter is not None:
        meter.start()
    start = time.perf_counter()
    window.start_training()
    _wait(app, lambda: not window.training and window.trainer is not None and window.trainer.step >= steps, 600)
    return time.perf_counter() - start, meter.stop() if meter is not None else float("nan"), window


def measure_studio_overhead(steps: int = 600, sample_steps: int = 1000, repeats: int = 3, dataset: str = "moons",
                            kind: str = "points") -> dict:
    """Headless vs studio wall time for ``steps`` training steps on ``dataset``, and the longest stalls (ms).

    Headless and studio runs alternate ``repeats`` times and the medians are compared: on a shared machine a
    single pair differs by +-20 % from noise alone. Each run trains a fresh model from the same seed. Stalls
    are measured in one more studio run, then while that window samples ``sample_steps`` steps.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from ddpm_studio.gui.jobs.setup import prepare_torch

    app = QApplication.instance() or QApplication([])
    switch_interval = sys.getswitchinterval()
    threads = prepare_torch()
    meter = _StallMeter(app)
    headless, studio = [], []
    for _ in range(repeats):
        headless.append(_headless(steps, dataset, kind))
        seconds, _, window = _studio(app, steps, None, dataset, kind)
        studio.append(seconds)
        window.close()
        _wait(app, lambda: False, 0.2)
    _, stall_training, window = _studio(app, steps, meter, dataset, kind)

    window.trajectory.sampleStepsSpin.setValue(sample_steps)
    meter.start()
    window.sample()
    _wait(app, lambda: not window.sampling, 600)
    stall_sampling = meter.stop()
    window.close()
    app.processEvents()
    torch.set_num_threads(os.cpu_count() or 1)
    sys.setswitchinterval(switch_interval)
    headless_s, studio_s = statistics.median(headless), statistics.median(studio)
    return {
        "data": dataset,
        "steps": steps,
        "gui_threads": threads,
        "training_threads": training_threads(kind, "cpu").threads,
        "repeats": repeats,
        "headless_s": headless_s,
        "studio_s": studio_s,
        "headless_runs_s": headless,
        "studio_runs_s": studio,
        "overhead_pct": (studio_s / headless_s - 1) * 100,
        "speed_ratio": headless_s / studio_s,  # the studio's steps/s over the CLI's (target >= 0.9)
        "max_stall_training_ms": stall_training,
        "max_stall_sampling_ms": stall_sampling,
        "sample_steps": sample_steps,
    }
