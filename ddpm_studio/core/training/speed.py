"""Speed between the logged steps: heartbeats that say how fast training goes.

A digits step takes about a second on a laptop CPU, and the loss is logged every 10 steps: for the first ten
seconds (and between log lines) a presenter saw only heartbeats, with no speed and so no time left. This wraps the
trainer's events and gives every heartbeat the wall-clock steps per second over the last few seconds.
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from ddpm_studio.core.training.events import Heartbeat

#: Seconds of heartbeats the speed averages over: long enough to smooth one slow step, short enough to follow a
#: change (a preview, another job starting).
SPEED_WINDOW_S = 5.0


def with_speed(events: Iterable, clock: Callable[[], float] = time.perf_counter,
               window_s: float = SPEED_WINDOW_S) -> Iterator:
    """``events`` unchanged, except that each :class:`Heartbeat` carries ``steps_per_sec``: the steps over the
    last ``window_s`` seconds of heartbeats (0 until two have arrived)."""
    seen: deque[tuple[float, int]] = deque()
    for event in events:
        if isinstance(event, Heartbeat):
            now = clock()
            seen.append((now, event.step))
            while len(seen) > 2 and now - seen[1][0] >= window_s:
                seen.popleft()
            (first_time, first_step), (last_time, last_step) = seen[0], seen[-1]
            if last_time > first_time and last_step > first_step:
                event = dataclasses.replace(event, steps_per_sec=(last_step - first_step) / (last_time - first_time))
        yield event
