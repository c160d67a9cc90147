"""Issue 27 part 4: a run interrupted wherever it was and then resumed is bit-identical to a straight run.

Every tensor of the final checkpoint (weights, EMA, optimiser, RNG streams, the loss window), its JSON state (the
early stop's record, the owed work), the metrics lines and the early stop's verdict must match. ``steps_per_sec``
and ``elapsed`` are wall-clock and left out of the comparison (docs/RELIABILITY.md, "Exact resume").

The tiny run: the points defaults (early stop, cosine lr decay, EMA, previews, t_power 3) with dropout 0.1 (so
torch's global RNG feeds the training too), 120 steps, a metrics line every 7 steps (so stops fall mid-interval),
previews every 30, checkpoints every 50 and early-stop checks every 40 with patience 1: the straight run converges
at the check of step 80, so one interruption falls in the decisive check.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from ddpm_studio.cli import run_cli
from ddpm_studio.core.config import RunConfig, default_config
from ddpm_studio.core.io.runs import list_checkpoints, load_checkpoint, read_metrics
from ddpm_studio.core.pipeline import DiffusionPipeline
from ddpm_studio.core.training.early_stop import CHECK_SAMPLES, EarlyStopper
from ddpm_studio.core.training.events import Heartbeat, PreviewReady, TrainEvent, TrainingFinished
from ddpm_studio.core.training.resume import lr_horizon_change
from ddpm_studio.core.training.trainer import Trainer

#: the metrics fields measured by the wall clock: they differ between any two runs, resumed or not
WALL_CLOCK = ("steps_per_sec", "elapsed")

#: (event, trainer) -> None, called on every event the consumer sees
OnEvent = Callable[[TrainEvent, Trainer], None]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread, as the CLI trains points (and as the straight run the CLI test compares against)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config() -> RunConfig:
    config = default_config("moons", "points")
    config.data.num_points = 2048
    config.model.dropout = 0.1
    tc = config.train
    tc.steps, tc.batch_size, tc.log_every = 120, 64, 7
    tc.preview_every, tc.preview_steps, tc.checkpoint_every = 30, 10, 50
    tc.early_stop_every, tc.early_stop_patience = 40, 1
    return config.validate()


def drive(trainer: Trainer, on_event: OnEvent | None = None, events: list[TrainEvent] | None = None,
          ) -> list[TrainEvent]:
    """Pull every event of ``trainer.train()`` into ``events``, as the CLI does; a KeyboardInterrupt saves a
    checkpoint (the CLI's path for an interruption that was not a stop request) and comes back out."""
    events = [] if events is None else events
    try:
        for event in trainer.train():
            events.append(event)
            if on_event is not None:
                on_event(event, trainer)
    except KeyboardInterrupt:
        trainer.save_checkpoint()
        raise
    return events


def final_state(run_dir: Path) -> tuple[int, dict[str, torch.Tensor], dict]:
    step, path = list_checkpoints(run_dir)[-1]
    tensors, meta = load_checkpoint(path)
    return step, tensors, meta


def metrics_lines(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in line.items() if k not in WALL_CLOCK} for line in read_metrics(run_dir)]


def outcome(events: list[TrainEvent]) -> tuple[int, str, str]:
    finished = [e for e in events if isinstance(e, TrainingFinished)]
    assert len(finished) == 1
    return finished[0].step, finished[0].reason, finished[0].detail


@pytest.fixture(scope="module")
def straight(tmp_path_factory) -> tuple[Path, list[TrainEvent]]:
    run_dir = tmp_path_factory.mktemp("straight")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module-scoped: set up before the function-scoped one_thread
    try:
        events = drive(Trainer(tiny_config(), run_dir=run_dir))
    finally:
        torch.set_num_threads(before)
    assert outcome(events)[:2] == (80, "converged")  # the decisive check is the one at step 80
    return run_dir, events


def assert_same_run(straight_dir: Path, resumed_dir: Path) -> None:
    step, tensors, meta = final_state(straight_dir)
    step_r, tensors_r, meta_r = final_state(resumed_dir)
    assert step_r == step
    assert sorted(tensors_r) == sorted(tensors)
    differ = [name for name in tensors if not torch.equal(tensors[name], tensors_r[name])]
    assert differ == [], f"{len(differ)} of {len(tensors)} tensors differ: {differ[:8]}"
    meta.pop("elapsed"), meta_r.pop("elapsed")
    assert meta_r == meta  # the early stop's record, the owed work, the window's count, the config
    assert metrics_lines(resumed_dir) == metrics_lines(straight_dir)


# ------------------------------------------------------------------ the interruptions
def stop_flag_at(step: int) -> Callable[[pytest.MonkeyPatch], OnEvent]:
    """request_stop() as the step's Heartbeat arrives (what the CLI's SIGINT handler does, mid-interval)."""

    def arrange(_monkeypatch: pytest.MonkeyPatch) -> OnEvent:
        def on_event(event: TrainEvent, trainer: Trainer) -> None:
            if isinstance(event, Heartbeat) and event.step == step:
                trainer.request_stop()

        return on_event

    return arrange


def interrupt_in_backward_of(step: int) -> Callable[[pytest.MonkeyPatch], OnEvent]:
    """KeyboardInterrupt inside step ``step``'s loss, after its batch, timesteps, noise and dropout were drawn."""

    def arrange(monkeypatch: pytest.MonkeyPatch) -> OnEvent:
        calls = {"n": 0}
        real = Trainer._batch_model

        def batch_model(self: Trainer, index: torch.Tensor):
            model = real(self, index)

            def raising(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                out = model(x_t, t)  # the dropout masks come from torch's global RNG
                calls["n"] += 1
                if calls["n"] == step:
                    raise KeyboardInterrupt
                return out

            return raising

        monkeypatch.setattr(Trainer, "_batch_model", batch_model)
        return lambda _event, _trainer: None

    return arrange


def interrupt_while_sampling(step: int, num_samples: int) -> Callable[[pytest.MonkeyPatch], OnEvent]:
    """KeyboardInterrupt in the middle of a preview (``num_samples`` = preview_count) or an early-stop check
    (CHECK_SAMPLES) at ``step``, after the sampler has drawn from torch's global RNG."""

    def arrange(monkeypatch: pytest.MonkeyPatch) -> OnEvent:
        real = DiffusionPipeline.sample_final

        def sample_final(self: DiffusionPipeline, n: int, **kwargs) -> torch.Tensor:
            if self.step == step and n == num_samples:
                torch.rand(5)  # a sampler part-way through has moved the global stream
                monkeypatch.setattr(DiffusionPipeline, "sample_final", real)
                raise KeyboardInterrupt
            return real(self, n, **kwargs)

        monkeypatch.setattr(DiffusionPipeline, "sample_final", sample_final)
        return lambda _event, _trainer: None

    return arrange


def interrupt_consumer_at_preview(step: int) -> Callable[[pytest.MonkeyPatch], OnEvent]:
    """KeyboardInterrupt while the consumer saves the preview of ``step`` (the CLI writing its PNG)."""

    def arrange(_monkeypatch: pytest.MonkeyPatch) -> OnEvent:
        def on_event(event: TrainEvent, _trainer: Trainer) -> None:
            if isinstance(event, PreviewReady) and event.step == step:
                raise KeyboardInterrupt

        return on_event

    return arrange


def stop_flag_during_check(step: int) -> Callable[[pytest.MonkeyPatch], OnEvent]:
    """request_stop() from inside the early-stop check of ``step`` (a Ctrl-C that lands in the evaluation)."""

    def arrange(monkeypatch: pytest.MonkeyPatch) -> OnEvent:
        real = EarlyStopper.check
        trainers: list[Trainer] = []

        def check(self: EarlyStopper, pipeline: DiffusionPipeline, at: int):
            if at == step:
                trainers[0].request_stop()
            return real(self, pipeline, at)

        monkeypatch.setattr(EarlyStopper, "check", check)

        def on_event(_event: TrainEvent, trainer: Trainer) -> None:
            if not trainers:
                trainers.append(trainer)

        return on_event

    return arrange


SCENARIOS = {
    "stop flag mid-interval (step 23)": (stop_flag_at(23), 23),
    "KeyboardInterrupt in the forward pass of step 33": (interrupt_in_backward_of(33), 32),
    "KeyboardInterrupt inside the preview of step 30": (interrupt_while_sampling(30, 16), 30),
    "KeyboardInterrupt while the consumer saves the preview of step 60": (interrupt_consumer_at_preview(60), 60),
    "KeyboardInterrupt inside the decisive early-stop check (step 80)": (interrupt_while_sampling(80, CHECK_SAMPLES),
                                                                         80),
    "stop flag during the early-stop check of step 40": (stop_flag_during_check(40), 40),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_interrupted_then_resumed_run_is_bit_identical(name, straight, tmp_path, monkeypatch) -> None:
    arrange, stop_step = SCENARIOS[name]
    straight_dir, straight_events = straight
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        on_event = arrange(patch)
        trainer = Trainer(tiny_config(), run_dir=run_dir)
        first: list[TrainEvent] = []
        try:
            drive(trainer, on_event, first)
        except KeyboardInterrupt:
            pass
        else:
            assert outcome(first)[1] == "stopped"
    # the checkpoint is at the step the run stopped on, not the last periodic one
    assert list_checkpoints(run_dir)[-1][0] == stop_step
    torch.manual_seed(12345)  # whatever the process did meanwhile must not matter
    resumed = Trainer(tiny_config(), run_dir=run_dir, resume=True)
    assert resumed.step == stop_step
    second = drive(resumed)
    assert outcome(second) == outcome(straight_events)  # the same early-stop verdict, at the same step
    assert_same_run(straight_dir, run_dir)
    previews = {e.step: e.samples for e in [*first, *second] if isinstance(e, PreviewReady)}
    expected = {e.step: e.samples for e in straight_events if isinstance(e, PreviewReady)}
    assert sorted(previews) == sorted(expected)  # an interrupted preview is drawn on resume
    assert all(torch.equal(previews[s], expected[s]) for s in expected)


def test_a_stop_asked_before_training_stops_at_step_zero(tmp_path) -> None:
    """A signal between the handler's install and the first step is not lost (the flag is not reset by train())."""
    trainer = Trainer(tiny_config(), run_dir=tmp_path / "run")
    trainer.request_stop()
    assert outcome(drive(trainer)) == (0, "stopped", "")
    assert outcome(drive(trainer))[0] == 80  # honoured once: the next train() call runs on


# ------------------------------------------------------------------ the CLI under SIGINT and SIGTERM
CLI_FLAGS = ["--data", "moons", "--steps", "160", "--batch-size", "64", "--log-every", "5", "--preview-every", "40",
             "--quiet"]


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_cli_signal_saves_the_stop_step_and_resume_is_identical(tmp_path, signum, code) -> None:
    """Ctrl-C, and a scheduler's SIGTERM (SLURM, Kubernetes: issue 31), stop at a step boundary with a checkpoint
    there and exit 128 + the signal's number; the metrics written so far are on disk; --resume is exact."""
    interrupted, straight_dir = tmp_path / "interrupted", tmp_path / "straight"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "ddpm_studio", "train", *CLI_FLAGS, "--out", str(interrupted)],
                               stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not read_metrics(interrupted) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    last = stderr.strip().splitlines()[-1]
    stop_step = list_checkpoints(interrupted)[-1][0]
    assert 0 < stop_step < 160, "the run ended before the signal came (a slow machine): nothing was tested"
    expected_path = interrupted / "checkpoints" / f"step_{stop_step:08d}.safetensors"
    assert last.startswith(f"interrupted at step {stop_step}; saved {expected_path}"), last
    assert read_metrics(interrupted)[-1]["step"] <= stop_step and not (interrupted / "train.lock").exists()
    assert run_cli(["train", "--out", str(interrupted), "--resume", "--quiet"]) == 0
    assert run_cli(["train", *CLI_FLAGS, "--out", str(straight_dir)]) == 0
    assert_same_run(straight_dir, interrupted)


# ------------------------------------------------------------------ Continue: the cosine horizon
def test_continuing_a_cosine_run_says_what_happens_to_its_horizon() -> None:
    saved = default_config("moons", "points")  # cosine decay to 0 at step 4,500
    assert lr_horizon_change(saved, 4500, 1200) is None  # a plain resume: the straight run's schedule
    change = lr_horizon_change(saved.to_dict(), 9000, 1200)  # the checkpoint's JSON form reads the same
    assert change is not None and change.new_lr > change.old_lr
    text = change.describe()
    assert "stretched" in text and "4,500" in text and "9,000" in text and "1,201" in text
    assert "1,200 steps already taken keep the learning rates they were trained with" in text
    finished = lr_horizon_change(saved, 9000, 4500)
    assert finished is not None and finished.old_lr == 0.0 and "warm restart" in finished.describe()
    constant = default_config("moons", "points")
    constant.train.lr_schedule = "constant"
    assert lr_horizon_change(constant, 9000, 1200) is None  # a constant rate has no horizon


def test_a_continued_trainer_trains_at_the_rate_the_note_names() -> None:
    """The words and the trainer agree: after Continue to a new total, the next step's rate is ``new_lr``."""
    config = tiny_config()
    trainer = Trainer(config)
    trainer.step = 60
    change = lr_horizon_change(config, 240, trainer.step)
    assert change is not None and trainer.lr_at(60) == change.old_lr
    trainer.config.train.steps = 240
    assert trainer.lr_at(60) == change.new_lr
