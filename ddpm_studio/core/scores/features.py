"""A small feature network trained by the project itself, for sample-quality scores that need no download.

FID measures image quality in the features of an Inception-v3 trained on ImageNet; DDPM Studio cannot download
those weights, and they would mean little for 16 x 16 digits anyway. Instead it trains a ~40k-parameter CNN on
the run's own training images, in seconds on a CPU, and measures Fréchet distances in its 64-d features:

- labelled data (digits): a classifier trained with cross-entropy on the training labels; its penultimate layer
  gives the features and its softmax the class confidences;
- unlabelled data: a denoising autoencoder (input x + 0.2 noise, target x); its bottleneck gives the features.

The network is seeded and trained for a fixed budget, then cached as ``feature_net.safetensors`` (a safetensors
file: never unpickled) with metadata naming the data set, its shape and a fingerprint of the training tensors.
A cache whose metadata does not match the data set is retrained. Scores from these features are comparable
between runs scored with the same network, never with published FIDs.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.io.runs import RunError, load_checkpoint, save_checkpoint

FEATURE_NET_FILE = "feature_net.safetensors"
#: Bumped whenever the architecture or the training recipe changes, so older caches are retrained.
FEATURE_NET_VERSION = 1
FEATURE_DIM = 64
#: Training budget: 600 Adam steps at batch 128 take a few seconds for 16 x 16 digits on two CPU threads; the
#: autoencoder gets the same budget.
FEATURE_TRAIN_STEPS = 600
FEATURE_BATCH_SIZE = 128
FEATURE_LR = 2e-3
#: Noise added to the autoencoder's input (in [-1, 1] units): denoising keeps it from learning the identity on
#: pixels and makes its features describe shapes rather than single pixel values.
AUTOENCODER_NOISE = 0.2
_POOLED_SIZE = 4  # the encoder pools its last feature map to 4 x 4, so any image size gives the same layers
_ENCODER_CHANNELS = (16, 32)


class FeatureNet(nn.Module):
    """conv3x3 (C->16), ReLU, pool/2 -> conv3x3 (16->32), ReLU, pool/2 -> avg-pool to 4x4 -> linear (512->64).

    The 64-d output of the last linear layer is the feature vector. A classifier adds ReLU + linear (64->K);
    an autoencoder adds a decoder (linear 64->512, two upsample + conv3x3 stages back to (C, H, W), tanh).

    Args:
        data_shape: (C, H, W) of the images.
        num_classes: K for a classifier; None for a denoising autoencoder.
    """

    def __init__(self, data_shape: tuple[int, int, int], num_classes: int | None) -> None:
        super().__init__()
        channels, height, width = data_shape
        c1, c2 = _ENCODER_CHANNELS
        self.data_shape = (int(channels), int(height), int(width))
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.project = nn.Linear(c2 * _POOLED_SIZE**2, FEATURE_DIM)
        if num_classes is not None:
            self.head: nn.Module = nn.Linear(FEATURE_DIM, num_classes)
        else:
            self.head = _Decoder(self.data_shape)

    @property
    def mode(self) -> str:
        """ "classifier" or "autoencoder"."""
        return "classifier" if self.num_classes is not None else "autoencoder"

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images in [-1, 1] -> (N, 64) features."""
        h = F.max_pool2d(F.relu(self.conv1(x)), 2, ceil_mode=True)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2, ceil_mode=True)
        h = F.adaptive_avg_pool2d(h, _POOLED_SIZE)
        return self.project(h.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Classifier: (N, K) logits. Autoencoder: (N, C, H, W) reconstruction in [-1, 1]."""
        h = self.features(x)
        if self.num_classes is not None:
            return self.head(F.relu(h))
        return self.head(h)


class _Decoder(nn.Module):
    """(N, 64) -> (N, C, H, W): linear to 32 x 4 x 4, then two (upsample, conv3x3) stages, tanh to [-1, 1]."""

    def __init__(self, data_shape: tuple[int, int, int]) -> None:
        super().__init__()
        channels, height, width = data_shape
        c1, c2 = _ENCODER_CHANNELS
        self.height, self.width = height, width
        self.expand = nn.Linear(FEATURE_DIM, c2 * _POOLED_SIZE**2)
        self.conv1 = nn.Conv2d(c2, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, channels, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.expand(F.relu(h))).reshape(h.shape[0], -1, _POOLED_SIZE, _POOLED_SIZE)
        half = (max(1, math.ceil(self.height / 2)), max(1, math.ceil(self.width / 2)))
        x = F.relu(self.conv1(F.interpolate(x, size=half, mode="nearest")))
        x = self.conv2(F.interpolate(x, size=(self.height, self.width), mode="nearest"))
        return torch.tanh(x)


@dataclass(frozen=True)
class FeatureNetInfo:
    """What a feature network was trained on and how well it does on the held-out split.

    Attributes:
        mode: "classifier" or "autoencoder". dataset: the data set's name. data_shape: (C, H, W).
        fingerprint: hash of the training tensors (and labels) it was trained on.
        validation_metric: accuracy (classifier) or mean squared reconstruction error (autoencoder) on the
            10% of the training split held back from fitting it.
        loaded: True when it came from the cache rather than being trained now.
    """

    mode: str
    dataset: str
    data_shape: tuple[int, ...]
    fingerprint: str
    steps: int
    seed: int
    validation_metric: float
    loaded: bool

    @property
    def metric_name(self) -> str:
        return "accuracy" if self.mode == "classifier" else "reconstruction MSE"


def dataset_fingerprint(dataset: DataSet) -> str:
    """A short SHA-256 of the training images (and labels): the identity a cached network is checked against."""
    digest = hashlib.sha256()
    digest.update(str(tuple(dataset.train.shape)).encode())
    digest.update(dataset.train.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    if dataset.labels is not None:
        digest.update(dataset.labels.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def _num_classes(dataset: DataSet) -> int | None:
    """K for a labelled set (labels 0..K-1), None for an unlabelled one."""
    if dataset.labels is None:
        return None
    return int(dataset.labels.max()) + 1


def _expected_meta(dataset: DataSet, steps: int, seed: int) -> dict:
    num_classes = _num_classes(dataset)
    return {
        "purpose": "feature_net",
        "version": FEATURE_NET_VERSION,
        "mode": "classifier" if num_classes is not None else "autoencoder",
        "num_classes": num_classes,
        "dataset": dataset.name,
        "data_shape": list(dataset.data_shape),
        "fingerprint": dataset_fingerprint(dataset),
        "steps": int(steps),
        "seed": int(seed),
    }


def _matches(meta: dict, expected: dict) -> bool:
    return all(meta.get(key) == value for key, value in expected.items())


def _validation_split(num: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded (fit, validation) index split of the training items: 10% (at least one) for validation.

    DataSet keeps labels for its training split only, so the classifier's accuracy is measured on items of the
    training split that the network never fits.
    """
    order = torch.randperm(num, generator=torch.Generator().manual_seed(seed))
    num_validation = min(max(1, num // 10), num - 1) if num > 1 else 0
    return order[num_validation:], order[:num_validation]


def _train(
    net: FeatureNet, images: torch.Tensor, labels: torch.Tensor | None, steps: int, seed: int, device: torch.device
) -> None:
    """Adam on cross-entropy (classifier) or denoising MSE (autoencoder) for a fixed number of steps, seeded.

    Batches and noise come from a private generator (the caller's random streams are left alone).
    """
    images = images.to(device)
    labels = labels.to(device) if labels is not None else None
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=FEATURE_LR)
    batch = min(FEATURE_BATCH_SIZE, images.shape[0])
    net.train()
    for _ in range(steps):
        index = torch.randint(0, images.shape[0], (batch,), device=device, generator=generator)
        x = images.index_select(0, index)
        if labels is not None:
            loss = F.cross_entropy(net(x), labels.index_select(0, index))
        else:
            noisy = x + AUTOENCODER_NOISE * torch.randn(x.shape, device=device, generator=generator)
            loss = F.mse_loss(net(noisy), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    net.eval()


@torch.no_grad()
def _validation_metric(
    net: FeatureNet, images: torch.Tensor, labels: torch.Tensor | None, device: torch.device
) -> float:
    """Accuracy (classifier) or reconstruction MSE of the clean input (autoencoder) on validation items."""
    if images.shape[0] == 0:
        return float("nan")
    if labels is not None:
        predicted = class_probabilities(net, images, device=device).argmax(dim=1)
        return float((predicted == labels.cpu()).double().mean())
    return float(((_batched(net, images, device) - images.cpu().float()) ** 2).mean())


def load_or_train_feature_net(
    dataset: DataSet,
    cache_dir: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    steps: int = FEATURE_TRAIN_STEPS,
) -> tuple[FeatureNet, FeatureNetInfo]:
    """The feature network of an image data set: loaded from ``cache_dir`` when it matches, trained otherwise.

    Args:
        dataset: an image :class:`DataSet`; with ``labels`` it gets a classifier, without an autoencoder.
        cache_dir: folder for ``feature_net.safetensors`` (a run folder or a compare folder); None: no cache.
        device: where to train and run it (a few seconds on a CPU for 16 x 16 images).
        seed, steps: the training recipe; both are part of the cache key.

    Returns:
        (network in eval mode on ``device``, :class:`FeatureNetInfo`).

    Raises:
        ValueError: the data set holds points, not images.
    """
    if dataset.kind != "images":
        raise ValueError(f"{dataset.name} holds {dataset.kind}; a feature network needs images")
    device = torch.device(device)
    expected = _expected_meta(dataset, steps, seed)
    net = FeatureNet(tuple(dataset.data_shape), expected["num_classes"])  # type: ignore[arg-type]
    path = Path(cache_dir) / FEATURE_NET_FILE if cache_dir is not None else None
    if path is not None and path.is_file():
        try:
            tensors, meta = load_checkpoint(path)
            if _matches(meta, expected):
                net.load_state_dict(tensors)
                net = net.to(device).eval()
                return net, _info(meta, loaded=True)
        except (RunError, RuntimeError):
            pass  # an unreadable or mismatched cache is simply replaced below
    # fork_rng: seeding the initial weights must not reset the caller's global random stream
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        net = FeatureNet(tuple(dataset.data_shape), expected["num_classes"]).to(device)  # type: ignore[arg-type]
    fit, validation = _validation_split(dataset.train.shape[0], seed)
    labels = dataset.labels
    _train(net, dataset.train[fit], labels[fit] if labels is not None else None, steps, seed, device)
    metric = _validation_metric(
        net, dataset.train[validation], labels[validation] if labels is not None else None, device
    )
    meta = {**expected, "validation_metric": metric}
    if path is not None:
        save_checkpoint(path, dict(net.state_dict()), meta)
    return net, _info(meta, loaded=False)


def _info(meta: dict, loaded: bool) -> FeatureNetInfo:
    return FeatureNetInfo(
        mode=meta["mode"],
        dataset=meta["dataset"],
        data_shape=tuple(meta["data_shape"]),
        fingerprint=meta["fingerprint"],
        steps=meta["steps"],
        seed=meta["seed"],
        validation_metric=float(meta.get("validation_metric", float("nan"))),
        loaded=loaded,
    )


@torch.no_grad()
def _batched(net: nn.Module, images: torch.Tensor, device: torch.device, batch_size: int = 512) -> torch.Tensor:
    """Apply ``net`` to (N, C, H, W) images in batches; the (N, ...) outputs come back on the CPU in float32."""
    outputs = [
        net(images[start : start + batch_size].to(device, torch.float32)).float().cpu()
        for start in range(0, images.shape[0], batch_size)
    ]
    return torch.cat(outputs)


def extract_features(net: FeatureNet, images: torch.Tensor, device: str | torch.device | None = None) -> np.ndarray:
    """(N, C, H, W) model-space images -> float64 (N, 64) features (the input of the Fréchet distance)."""
    device = torch.device(device) if device is not None else next(net.parameters()).device
    return _batched(_FeaturesOnly(net), images, device).double().numpy()


@torch.no_grad()
def class_probabilities(
    net: FeatureNet, images: torch.Tensor, device: str | torch.device | None = None
) -> torch.Tensor:
    """(N, C, H, W) images -> (N, K) softmax probabilities of a classifier feature network, on the CPU."""
    if net.num_classes is None:
        raise ValueError("class probabilities need a classifier feature network (a labelled data set)")
    device = torch.device(device) if device is not None else next(net.parameters()).device
    return torch.softmax(_batched(net, images, device), dim=1)


class _FeaturesOnly(nn.Module):
    """A view of a :class:`FeatureNet` whose forward is its ``features``, for the batching helper."""

    def __init__(self, net: FeatureNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)
