"""The quality verdict for images (M46): the lenses of :mod:`ddpm_studio.core.scores.lenses` in the spaces images
allow.

Sliced Wasserstein and off-support are 2-D lenses (their floors and radii need a low-dimensional space a person can
read); images get, beside ``finite``:

- ``coverage`` (M42) in the 64-D features of the project's own feature network
  (:mod:`ddpm_studio.core.scores.features`), where neighbourhoods mean "looks alike" rather than "same pixels";
- ``copy_rate`` (M31, M43) in pixels, where a copy is a copy;
- for labelled data, ``mode_shares`` (M44) and ``mode_spread`` (M45) over the classes the feature network's
  classifier reads, against the classes it reads in the held-out images (its own errors cancel out that way), the
  spread measured in features.

Samples are rounded to the 8-bit grid first, as a saved PNG (and ``sample --out``) holds them.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.scores.features import (
    FEATURE_TRAIN_STEPS,
    class_probabilities,
    extract_features,
    load_or_train_feature_net,
)
from ddpm_studio.core.scores.lenses import (
    COVERAGE_MAX_POINTS,
    copy_rate_reading,
    coverage_reading,
    finite_reading,
    mode_shares_reading,
    mode_spread_reading,
)
from ddpm_studio.core.scores.neighbours import copy_mask
from ddpm_studio.core.scores.verdict import MIN_HELDOUT, TooFewSamples, Verdict


def _to_pixel_grid(images: torch.Tensor) -> torch.Tensor:
    """Model-space images -> the nearest 8-bit values in [-1, 1] (what a PNG of them holds)."""
    return torch.round((images.clamp(-1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0


class ImageQualityVerdict:
    """Every image lens, set up once for an image data set (the feature network is trained or loaded here).

    Args:
        dataset: the run's image :class:`DataSet` (model space, [-1, 1]).
        cache_dir: where the feature network is cached (the run folder); None trains it every time.
        device: where the feature network runs. seed: its training seed and the coverage halves'.
        feature_steps: the feature network's training budget (tests use a small one).
    """

    def __init__(self, dataset: DataSet, cache_dir: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu", seed: int = 0, feature_steps: int = FEATURE_TRAIN_STEPS) -> None:
        if dataset.kind != "images":
            raise ValueError("ImageQualityVerdict judges images; 2-D points have QualityVerdict")
        if dataset.heldout.shape[0] < MIN_HELDOUT:
            raise ValueError(f"{dataset.name}: the verdict needs at least {MIN_HELDOUT} held-out images, got "
                             f"{dataset.heldout.shape[0]}")
        self.dataset, self.seed = dataset, seed
        self._net, self.feature_info = load_or_train_feature_net(dataset, cache_dir, device=device, seed=seed,
                                                                 steps=feature_steps)
        self._train_pixels = dataset.train.reshape(dataset.train.shape[0], -1).double()
        self._heldout_pixels = dataset.heldout.reshape(dataset.heldout.shape[0], -1).double()
        self._heldout_features = extract_features(self._net, dataset.heldout).astype(np.float64)
        self._copy_reference = float(copy_mask(self._heldout_pixels, self._train_pixels).double().mean())  # once
        self._num_classes = self._net.num_classes if dataset.labels is not None else None
        if self._num_classes:
            self._heldout_classes = class_probabilities(self._net, dataset.heldout).argmax(dim=1).numpy()

    @property
    def min_samples(self) -> int:
        """One coverage chunk: half the held-out set (90 digits)."""
        return min(self.dataset.heldout.shape[0] // 2, COVERAGE_MAX_POINTS)

    def judge(self, samples: torch.Tensor) -> Verdict:
        """Every image lens on model-space images (N, C, H, W).

        Raises:
            TooFewSamples: fewer than :attr:`min_samples` finite samples.
            ValueError: images of another shape than the data set's.
        """
        samples = samples.detach().to("cpu", torch.float32)
        if tuple(samples.shape[1:]) != tuple(self.dataset.data_shape):
            raise ValueError(f"samples must be (N, {', '.join(map(str, self.dataset.data_shape))}) images, got "
                             f"{tuple(samples.shape)}")
        finite = torch.isfinite(samples.reshape(samples.shape[0], -1)).all(dim=1)
        kept = _to_pixel_grid(samples[finite])
        if kept.shape[0] < self.min_samples:
            raise TooFewSamples(f"the verdict needs at least {self.min_samples} finite samples (half the "
                                f"{self.dataset.heldout.shape[0]} held-out images), got {kept.shape[0]}")
        features = extract_features(self._net, kept).astype(np.float64)
        readings = [
            finite_reading(float(1.0 - finite.double().mean())),
            coverage_reading(features, self._heldout_features, seed=self.seed),
            copy_rate_reading(kept.reshape(kept.shape[0], -1).double(), self._train_pixels, self._heldout_pixels,
                              self._copy_reference),
        ]
        if self._num_classes:
            classes = class_probabilities(self._net, kept).argmax(dim=1).numpy()
            readings.append(mode_shares_reading(classes, self._heldout_classes, self._num_classes))
            readings.append(mode_spread_reading(features, classes, self._heldout_features, self._heldout_classes,
                                                self._num_classes))
        return Verdict(tuple(readings), int(samples.shape[0]),
                       "the feature network's classes" if self._num_classes else None)
