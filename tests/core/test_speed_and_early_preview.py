"""Speed on the heartbeats between log lines, and one early preview seconds into a slow run."""

from __future__ import annotations

from ddpm_studio.core.training.early_preview import EarlyPreview
from ddpm_studio.core.training.events import Heartbeat, TrainStep
from ddpm_studio.core.training.speed import with_speed


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_heartbeats_carry_the_wall_clock_speed_over_the_last_seconds():
    clock = Clock()
    logged = TrainStep(step=3, total_steps=10, loss=1.0, mse=1.0, vlb=1.0, lr=1e-3, steps_per_sec=7.0, elapsed=3.0)

    def events():
        for step in (1, 2):
            clock.now += 1.0  # a second a step, like the digits on a laptop CPU
            yield Heartbeat(step)
        yield logged
        for step in range(4, 20):
            clock.now += 0.25  # faster now: 4 steps a second
            yield Heartbeat(step)

    out = list(with_speed(events(), clock=clock, window_s=2.0))
    assert out[0].steps_per_sec == 0.0  # one heartbeat is no speed yet
    assert out[1].steps_per_sec == 1.0
    assert out[2] is logged  # logged steps keep the loss window's own speed
    assert abs(out[-1].steps_per_sec - 4.0) < 1e-9  # the window forgot the slow start


def test_the_early_preview_comes_once_a_few_seconds_in_when_the_first_is_far():
    clock = Clock()
    early = EarlyPreview(preview_every=500, first_step=0, clock=clock, after_s=3.0)
    assert not early.due(2)
    clock.now += 3.5
    assert early.due(3) and not early.due(4)  # once
    fast = EarlyPreview(preview_every=500, first_step=0, clock=clock, after_s=3.0)
    clock.now += 10
    assert not fast.due(400)  # a fast run is close to its first scheduled preview: none extra
    assert not EarlyPreview(preview_every=0, first_step=0, clock=clock, after_s=0.0).due(5)  # previews off
    assert not EarlyPreview(preview_every=500, first_step=120, clock=clock, after_s=0.0).due(121)  # a resume
