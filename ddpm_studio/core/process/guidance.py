"""Class conditioning and classifier-free guidance (MATH.md M34; Ho & Salimans 2022).

A conditional network ``net(x, t, y)`` learns both p(x | c) and, through label dropout (:func:`drop_labels`), the
unconditional p(x) under the null class ∅ = K. :class:`GuidedModel` turns it back into the ``(x, t) -> output``
callable that every sampler takes (ancestral, DDIM, DPM-Solver++, Heun), so guidance needs no change to any
sampler:

    output~ = (1 + w) output(x, t, c) - w output(x, t, ∅)                                           (M34)

in the network's own parameterization (ε, μ, x0 or v): each is affine in ε with coefficients that depend only on
(x_t, t), so this equals ε~ = (1 + w) ε_c - w ε_∅ pushed through the parameterization. w = 0 is the conditional
model, w > 0 sharpens towards the class; diffusers' ``guidance_scale`` is 1 + w.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ddpm_studio.core.data import DataSet

#: The largest guidance scale w the CLI and the studio accept (samples saturate far below it).
MAX_GUIDANCE = 50.0

ConditionalModel = Callable[..., torch.Tensor]


class GuidanceError(ValueError):
    """A class or guidance scale that does not fit the model; the message is one line."""


def drop_labels(
    y: torch.Tensor, p_uncond: float, num_classes: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Label dropout: each label becomes the null class K with probability ``p_uncond`` (Ho & Salimans 2022).

    Args:
        y: LongTensor (B,) of classes in 0..K-1.
        p_uncond: the dropout probability in [0, 1] (0.1 by default in the config; Ho & Salimans use 0.1-0.2).
        num_classes: K; index K is the null class.
        generator: the caller's seeded generator (the trainer's), so a run stays reproducible.
    Returns:
        LongTensor (B,) in 0..K.
    """
    if p_uncond <= 0.0:
        return y
    drop = torch.rand(y.shape, device=y.device, generator=generator) < p_uncond
    return torch.where(drop, torch.full_like(y, num_classes), y)


def check_guidance(guidance: float) -> float:
    """``guidance`` as a float if it is a finite w in [0, MAX_GUIDANCE], else :class:`GuidanceError`."""
    try:
        value = float(guidance)
    except (TypeError, ValueError):
        raise GuidanceError(f"the guidance scale must be a number, got {guidance!r}") from None
    if not 0.0 <= value <= MAX_GUIDANCE:  # NaN fails too
        raise GuidanceError(
            f"the guidance scale w must lie in 0..{MAX_GUIDANCE:g} (0: the conditional model; diffusers' "
            f"guidance_scale is 1 + w), got {guidance!r}"
        )
    return value


def check_class(label: int, num_classes: int | None) -> int:
    """``label`` if the model knows that class (0..K-1), else :class:`GuidanceError` saying what it knows."""
    if not num_classes:
        raise GuidanceError("this model is unconditional (trained without --conditional); it takes no class")
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_classes:
        raise GuidanceError(f"class {label!r} is not one of this model's classes 0..{num_classes - 1}")
    return label


def parse_class(text: str, num_classes: int | None) -> int | None:
    """A CLI / studio class choice: "all" -> None (one row per class), else the class index, checked."""
    if text.strip().lower() == "all":
        if not num_classes:
            raise GuidanceError("this model is unconditional (trained without --conditional); it takes no class")
        return None
    try:
        label = int(text)
    except ValueError:
        raise GuidanceError(f"a class must be an integer or 'all', got {text!r}") from None
    return check_class(label, num_classes)


def parse_guidance_list(text: str) -> list[float]:
    """"0,1,2,4,8" -> [0.0, 1.0, 2.0, 4.0, 8.0], each checked with :func:`check_guidance`."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise GuidanceError(f"a guidance sweep needs comma-separated scales such as 0,1,2,4,8, got {text!r}")
    values = []
    for part in parts:
        try:
            values.append(check_guidance(float(part)))
        except ValueError:
            raise GuidanceError(f"a guidance sweep needs scales in 0..{MAX_GUIDANCE:g}, got {part!r}") from None
    return values


def class_rows(num_classes: int, per_class: int) -> torch.Tensor:
    """Labels for a grid with one row per class: [0]*per_class + [1]*per_class + ... , LongTensor (K*per_class,)."""
    return torch.arange(num_classes).repeat_interleave(per_class)


def labels_for(label: int | None, num_samples: int, num_classes: int) -> torch.Tensor:
    """The per-sample classes of a request: ``label`` for every sample, or (None = "all") one row per class.

    "all" spreads ``num_samples`` over the K classes in equal rows (rounded up, so every class gets a row).
    """
    if label is not None:
        return torch.full((num_samples,), label, dtype=torch.long)
    return class_rows(num_classes, max(1, -(-num_samples // num_classes)))


def row_length(labels: torch.Tensor | Sequence[int] | None) -> int | None:
    """The samples per row when ``labels`` (N,) are one row per class in order (:func:`class_rows` of two or more
    classes), so a grid can show one class a row; None for anything else (one class, or no labels)."""
    if labels is None:
        return None
    labels = torch.as_tensor(labels).long().cpu()
    if labels.numel() == 0:
        return None
    num_rows = int(labels.max()) + 1
    if num_rows < 2 or labels.numel() % num_rows:
        return None
    per_class = labels.numel() // num_rows
    return per_class if torch.equal(labels, class_rows(num_rows, per_class)) else None


class GuidedModel:
    """Classifier-free guidance as a model: ``(x, t) -> (1 + w) f(x, t, y) - w f(x, t, ∅)`` (MATH.md M34).

    Both branches go through the network in ONE batched forward pass of [x; x] with classes [y; ∅]. A batch may
    mix classes (y per sample) and even guidance scales (w per sample), which the guidance sweep uses to run one
    x_T at several w side by side. w = 0 is the conditional network itself (one forward pass of x).

    Args:
        model: a conditional network ``(x (B, ...), t (B,), y (B,) | None) -> output (B, C or 2C, ...)``.
        y: LongTensor (B,) of classes in 0..K-1 (K means ∅, the unconditional branch alone).
        guidance: w >= 0, a float or a tensor (B,) of per-sample scales.
        num_classes: K (the null class index).
        learned_variance: the output's second half is M13's u: only the first half (the mean part) is combined,
            the conditional branch's variance is kept (as GLIDE, Nichol et al. 2022, does).
    """

    def __init__(
        self,
        model: ConditionalModel,
        y: torch.Tensor,
        guidance: float | torch.Tensor,
        num_classes: int,
        learned_variance: bool = False,
    ) -> None:
        self.model = model
        self.y = y.long()
        self.num_classes = num_classes
        self.learned_variance = learned_variance
        if torch.is_tensor(guidance):
            if guidance.shape != self.y.shape:
                raise ValueError(f"per-sample guidance must have shape {tuple(self.y.shape)}, got {guidance.shape}")
            self.guidance: float | torch.Tensor = guidance.double()
        else:
            self.guidance = float(guidance)

    def _scale(self, like: torch.Tensor) -> float | torch.Tensor:
        if isinstance(self.guidance, float):
            return self.guidance
        return self.guidance.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Guided output at x (B, ...) and t (B,): shape like the network's (B, C or 2C, ...)."""
        batch = x.shape[0]
        y = self.y.to(x.device)
        if y.shape != (batch,):
            raise ValueError(f"GuidedModel holds {y.shape[0]} classes but got a batch of {batch}")
        if isinstance(self.guidance, float) and self.guidance == 0.0:
            return self.model(x, t, y)
        null = torch.full_like(y, self.num_classes)
        both = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        cond, uncond = both[:batch], both[batch:]
        w = self._scale(cond)
        if not self.learned_variance:
            return (1.0 + w) * cond - w * uncond
        channels = x.shape[1]
        mean = (1.0 + w) * cond[:, :channels] - w * uncond[:, :channels]
        return torch.cat([mean, cond[:, channels:]], dim=1)



#: Where labels come from, for the message that refuses conditional training on unlabelled data.
LABELLED_SOURCES = (
    "digits, moons, circles, ring, an image folder with one sub-folder per class, an MNIST images file next to "
    "its labels file, or an .npz with a 'labels' array"
)


def conditional_problem(dataset: DataSet, num_classes: int | None) -> str | None:
    """Why a network of ``num_classes`` classes cannot train on ``dataset`` (one line), or None when it can."""
    if not num_classes:
        return None
    if dataset.labels is None or not dataset.num_classes:
        return f"{dataset.name} has no class labels, so it cannot train a conditional model; labelled data: " + (
            LABELLED_SOURCES
        )
    if dataset.num_classes != num_classes:
        return f"model.num_classes is {num_classes} but {dataset.name} has {dataset.num_classes} classes"
    return None
