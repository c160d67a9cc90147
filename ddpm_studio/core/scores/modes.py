"""Which mode of the data a point belongs to, where the data has modes: what the mode lenses count by.

Two sources, both known before any model is trained, so no clustering of samples can be fooled by the samples:
the centres of the built-in Gaussian mixtures (:data:`ddpm_studio.core.data.mixtures.MIXTURES`; a point belongs
to the nearest centre, in the data's own coordinates) and the class labels of a labelled data set (moons, circles,
the ring; a point belongs to the class of its nearest training point, in model space). Data without either
(the spiral, the board, a file of points) has no modes to count: the mode lenses are then not applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.data.mixtures import MIXTURES
from ddpm_studio.core.scores.neighbours import nearest_neighbours


@dataclass(frozen=True)
class ModeMap:
    """Assigns points (model space, (N, D)) to one of ``num_modes`` modes.

    Exactly one of ``centres`` (K, D) (data coordinates, with the data set's ``shift`` / ``scale`` to get
    there) and ``labelled`` ((N_train, D) model-space training points with their (N_train,) labels) is set.
    """

    num_modes: int
    source: str  # "mixture centres" or "class labels"
    shift: np.ndarray
    scale: np.ndarray
    centres: np.ndarray | None = None
    labelled: tuple[torch.Tensor, torch.Tensor] | None = None

    def assign(self, points: np.ndarray) -> np.ndarray:
        """(N,) int64 mode of each model-space row of ``points`` (N, D)."""
        if self.centres is not None:
            data = points * self.scale + self.shift
            gaps = ((data[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
            return gaps.argmin(axis=1).astype(np.int64)
        assert self.labelled is not None
        train, labels = self.labelled
        _, nearest = nearest_neighbours(torch.from_numpy(np.asarray(points)), train, k=1)
        return labels[nearest[:, 0]].numpy().astype(np.int64)


def mode_map(dataset: DataSet) -> ModeMap | None:
    """The modes of a points data set (mixture centres, else class labels), or None when it has none known."""
    if dataset.kind != "points":
        return None
    shift = dataset.shift.double().numpy()
    scale = dataset.scale.double().numpy()
    if dataset.name in MIXTURES:
        centres = np.asarray(MIXTURES[dataset.name].centres, dtype=np.float64)
        return ModeMap(len(centres), "mixture centres", shift, scale, centres=centres)
    if dataset.labels is not None and dataset.num_classes:
        return ModeMap(int(dataset.num_classes), "class labels", shift, scale,
                       labelled=(dataset.train.float(), dataset.labels.long()))
    return None
