"""Sample-quality scores that need no download, next to the score real held-out data gets (the floor).

:class:`QualityScorer`: sliced Wasserstein distance (points) or a Fréchet distance in the features of a
project-trained network (images, :mod:`ddpm_studio.core.scores.features`).
"""

from __future__ import annotations

import os

import torch

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.scores.features import (
    FEATURE_TRAIN_STEPS,
    FeatureNetInfo,
    class_probabilities,
    extract_features,
    load_or_train_feature_net,
)
from ddpm_studio.core.scores.metrics import (
    HeldoutSlicedWasserstein,
    frechet_distance,
    gaussian_stats,
    off_support_fraction,
)

#: A class counts as covered when the samples predict it at least this share of its expected frequency.
COVERAGE_SHARE = 1.0 / 3.0


def _quantize_to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Model-space images -> the nearest 8-bit grid values in [-1, 1], what a saved PNG of them would hold."""
    return torch.round((images.clamp(-1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0


class QualityScorer:
    """Sample-quality scores that need no download, next to the score real held-out data gets (the floor).

    Points (scores in the data's own coordinates):
        - "score": sliced Wasserstein distance SW2 (:func:`~ddpm_studio.core.scores.metrics.sliced_wasserstein`)
          between chunks of ``sample_count`` samples and half B_k of the held-out set, averaged over 32 random
          half splits k; "floor": the same average for chunks of the training data, i.e. what real data drawn
          apart from the held-out set scores (MATH.md M39,
          :class:`~ddpm_studio.core.scores.metrics.HeldoutSlicedWasserstein`).
          Draw at least ``sample_count`` = |A_k| samples to compare the two.
        - "off_support": fraction of samples far from every training point
          (:func:`~ddpm_studio.core.scores.metrics.off_support_fraction`); "off_support_floor": the same for half A.
    Images (samples are first rounded to the 8-bit grid, as a saved PNG would be):
        - "score": squared Fréchet distance between Gaussians fitted to the features
          (:mod:`~ddpm_studio.core.scores.features`) of the samples and of the training set; "floor": the same for the
          held-out set, i.e. what unseen real images score. Comparable at ``sample_count`` = N_heldout samples
          (the Fréchet distance is biased upwards for small sets, so both must use the same size). This is not
          FID: the features come from a small network trained on this data set, not from Inception on ImageNet,
          so the numbers only compare models scored with the same feature network.
        - labelled sets (digits) also get "confidence" (mean top-class probability of the feature classifier)
          and "coverage": the fraction of classes predicted for at least COVERAGE_SHARE (1/3) of their share
          in the training labels (a model that draws only a few digits scores low); with "_floor" values for
          the held-out set.
    Every result also has "nonfinite": the fraction of samples holding NaN / inf (dropped before scoring).

    Args:
        dataset: the run's data set (model space), e.g. from :func:`load_run_dataset`.
        cache_dir: where the image feature network is cached (a run folder); None: train it every time.
        device: where to run the feature network.
        seed: seeds the held-out halves (points) and the feature network's training (images).
        feature_steps: the feature network's training budget.
    """

    def __init__(
        self,
        dataset: DataSet,
        cache_dir: str | os.PathLike[str] | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
        feature_steps: int = FEATURE_TRAIN_STEPS,
    ) -> None:
        self.dataset = dataset
        self.kind = dataset.kind
        self.device = torch.device(device)
        self.feature_info: FeatureNetInfo | None = None
        self.floor_extras: dict[str, float] = {}
        if self.kind == "points":
            self.metric = "sliced_wasserstein"
            heldout = dataset.to_data_space(dataset.heldout).double().numpy()
            if heldout.shape[0] < 2:
                raise ValueError(f"{dataset.name}: a floor needs at least 2 held-out points, got {heldout.shape[0]}")
            # score and floor averaged over random half splits, the floor from the training data (M39): one split's
            # half-against-half floor is a noisy draw and misses the held-out set's own chance deviation
            self._support = dataset.to_data_space(dataset.train).double().numpy()
            self._sw = HeldoutSlicedWasserstein(heldout, reference=self._support, seed=seed)
            self.floor = self._sw.floor
            self.floor_extras["off_support"] = off_support_fraction(self._sw.half_a, self._support)
            self.sample_count = self._sw.sample_count
        else:
            self.metric = "frechet_features"
            self._net, self.feature_info = load_or_train_feature_net(
                dataset, cache_dir, device=self.device, seed=seed, steps=feature_steps
            )
            self._train_stats = gaussian_stats(extract_features(self._net, dataset.train))
            if dataset.labels is not None:
                counts = torch.bincount(dataset.labels, minlength=self._net.num_classes or 0).double()
                self._class_share = counts / counts.sum()
            heldout_scores = self._image_scores(dataset.heldout)
            self.floor = heldout_scores.pop("score")
            self.floor_extras.update(heldout_scores)
            self.sample_count = int(dataset.heldout.shape[0])

    def _image_scores(self, images: torch.Tensor) -> dict[str, float]:
        features = extract_features(self._net, images)
        scores = {"score": frechet_distance(*gaussian_stats(features), *self._train_stats)}
        if self.dataset.labels is not None:
            probabilities = class_probabilities(self._net, images)
            scores["confidence"] = float(probabilities.max(dim=1).values.mean())
            predicted = torch.bincount(probabilities.argmax(dim=1), minlength=probabilities.shape[1]).double()
            share = predicted / predicted.sum()
            scores["coverage"] = float((share >= COVERAGE_SHARE * self._class_share).double().mean())
        return scores

    def predicted_classes(self, samples: torch.Tensor) -> torch.Tensor | None:
        """The class a download-free classifier reads in each model-space sample (N, *data_shape): (N,) int64.

        Images: the feature network's classifier (digits and other labelled images), on the samples rounded to
        the 8-bit grid. Points: the label of the nearest training point (a 1-nearest-neighbour classifier, in
        model space). None when the data set has no labels. Non-finite samples read as class -1.
        """
        if self.dataset.labels is None:
            return None
        samples = samples.detach().to("cpu", torch.float32)
        flat = samples.reshape(samples.shape[0], -1)
        finite = torch.isfinite(flat).all(dim=1)
        predicted = torch.full((samples.shape[0],), -1, dtype=torch.long)
        if not bool(finite.any()):
            return predicted
        if self.kind == "images":
            probabilities = class_probabilities(self._net, _quantize_to_pixels(samples[finite]))
            predicted[finite] = probabilities.argmax(dim=1)
        else:
            train = self.dataset.train.reshape(self.dataset.train.shape[0], -1).float()
            nearest = torch.cat([torch.cdist(chunk, train).argmin(dim=1) for chunk in flat[finite].split(1024)])
            predicted[finite] = self.dataset.labels[nearest]
        return predicted

    def score(self, samples: torch.Tensor) -> dict[str, float]:
        """Score model-space samples (N, *data_shape).

        Returns:
            {"score", "floor", "nonfinite", ...extras and their "<name>_floor"}; "score" is NaN when fewer than
            2 samples are finite.
        """
        samples = samples.detach().to("cpu", torch.float32)
        finite = torch.isfinite(samples.reshape(samples.shape[0], -1)).all(dim=1)
        result: dict[str, float] = {"nonfinite": float(1.0 - finite.double().mean())}
        kept = samples[finite]
        if kept.shape[0] < 2:
            result["score"] = float("nan")
        elif self.kind == "points":
            points = self.dataset.to_data_space(kept).double().numpy()
            result["score"] = self._sw.score(points)
            result["off_support"] = off_support_fraction(points, self._support)
        else:
            result.update(self._image_scores(_quantize_to_pixels(kept)))
        result["floor"] = self.floor
        result.update({f"{name}_floor": value for name, value in self.floor_extras.items()})
        return result
