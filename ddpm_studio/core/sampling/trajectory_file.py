"""The trajectory arrays of an ``.npz`` file, and the recorder that collects them from a sampler.

Trajectories in ``.npz`` files (``ddpm-studio sample --trajectory`` and the studio's export) hold one row per
kept network evaluation, in the order the sampler ran (noise first), and every timestep in them is a PAPER
timestep (MATH.md conventions: t = T is the pure noise x_T, t = 0 the clean sample x_0; the code's 0-based index
i is paper t = i + 1):

- ``trajectory_t`` (int64, K): the paper timestep of the STATE ``trajectory_x[k]`` (:attr:`SampleStep.t_state
  <ddpm_studio.core.sampling.steps.SampleStep.t_state>`); 0 on the row that holds x_0. It is the time of the
  picture, as ``trajectory_abar`` is its noise level.
- ``trajectory_t_state`` (int64, K): the same as ``trajectory_t``, under the name files of an earlier version used.
- ``trajectory_x_T`` (N, ...): x_T itself, the noise before the first evaluation (CLI files; paper t = T).
- ``trajectory_abar`` (float64, K): abar of that state (1.0 at x_0).
- ``trajectory_x`` (K, N, ...): the states. ``trajectory_x0_hat`` (K, N, ...): the network's estimate of x_0 at
  the evaluation that led to the state.
- ``trajectory_t_network`` (int64, K): the paper timestep the network was fed at that evaluation, at or above
  ``trajectory_t`` (a step goes from there down to the state; Heun's corrector evaluates at the state's own
  level). On the full chain with one evaluation per step, trajectory_t = trajectory_t_network - 1.

Until this was settled the CLI wrote the network's 0-based timestep under ``trajectory_t``; it equals the
state's paper timestep on the full ancestral chain, and differs on respaced or few-step runs.

The files are written by :func:`ddpm_studio.core.io.export.save_npz`; :mod:`ddpm_studio.core.io.export` re-exports
:class:`TrajectoryRecorder`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ddpm_studio.core.sampling.steps import SampleStep


class TrajectoryRecorder:
    """Collects a sampler's records into the trajectory arrays of an ``.npz`` (their meaning: the module's doc).

    Args:
        keep: the record indices to keep (e.g. :func:`subsample_indices` of the step count); others are skipped.
        to_array: turns a state or x0_hat tensor (N, ...) into what the file stores (e.g. uint8 images).
    """

    def __init__(self, keep: Iterable[int], to_array: Callable[[Any], np.ndarray]) -> None:
        self.keep = set(keep)
        self.to_array = to_array
        self._t: list[int] = []
        self._t_network: list[int] = []
        self._abar: list[float] = []
        self._x: list[np.ndarray] = []
        self._x0_hat: list[np.ndarray] = []

    def add(self, record: SampleStep) -> None:
        """Keep ``record`` if its index is one of ``keep``."""
        if record.index not in self.keep:
            return
        self._t.append(record.t_state)
        self._t_network.append(record.t + 1)
        self._abar.append(record.abar)
        self._x.append(self.to_array(record.x))
        self._x0_hat.append(self.to_array(record.x0_hat))

    def __len__(self) -> int:
        return len(self._t)

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``trajectory_*`` arrays of the rows kept so far; empty before the first."""
        if not self._t:
            return {}
        return {
            "trajectory_t": np.asarray(self._t, dtype=np.int64),
            "trajectory_t_state": np.asarray(self._t, dtype=np.int64),
            "trajectory_t_network": np.asarray(self._t_network, dtype=np.int64),
            "trajectory_abar": np.asarray(self._abar, dtype=np.float64),
            "trajectory_x": np.stack(self._x),
            "trajectory_x0_hat": np.stack(self._x0_hat),
        }
