"""The analyses' default sizes, as plain numbers.

They live apart from :mod:`.bound` and :mod:`.sweep` (which import torch) so that ``ddpm-studio evaluate --help``
prints them without loading torch (issue 32); those modules import them from here, the one definition.
"""

from __future__ import annotations

#: Examples per forward pass of the bound: bounds memory, not the result's meaning.
BOUND_BATCH_SIZE = 256

#: Default K values of the step sweep (the issue's list); values above a run's T are skipped.
SWEEP_STEPS: tuple[int, ...] = (10, 20, 50, 100, 250, 1000)
