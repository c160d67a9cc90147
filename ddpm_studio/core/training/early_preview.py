"""One preview a few seconds into a run, long before the first scheduled one.

The digits' first preview is at step 500: about eight minutes on a laptop CPU with nothing to look at but a loss
curve. :class:`EarlyPreview` says when to draw one extra preview instead: once :data:`EARLY_PREVIEW_S` seconds
have passed, if the first scheduled preview is still more than half its interval away. A 2-D run reaches its
first scheduled preview in about three seconds anyway and is left alone. The preview is the trainer's own
(:meth:`~ddpm_studio.core.training.trainer.Trainer.preview`: the same fixed x_T, the training RNG untouched), so
drawing it changes nothing in the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Seconds into a run at which the early preview is drawn.
EARLY_PREVIEW_S = 3.0


class EarlyPreview:
    """Decides once whether the early preview is due (see the module docstring)."""

    def __init__(self, preview_every: int, first_step: int, clock: Callable[[], float] = time.perf_counter,
                 after_s: float = EARLY_PREVIEW_S) -> None:
        self._clock = clock
        self._start = clock()
        self._after_s = after_s
        # a resumed run (first_step > 0) has its previews already; no previews at all asked: none
        self._pending = preview_every > 0 and first_step == 0
        self._preview_every = preview_every

    def due(self, step: int) -> bool:
        """True exactly once: ``after_s`` seconds in, at a step more than half an interval before the first
        scheduled preview."""
        if not self._pending or step < 1:
            return False
        if step * 2 > self._preview_every:
            self._pending = False  # the scheduled one comes soon enough
            return False
        if self._clock() - self._start < self._after_s:
            return False
        self._pending = False
        return True
