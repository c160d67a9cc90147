"""Run settings as dataclasses (nanoGPT-style configuration as data), saved as ``config.json`` in the run folder.

A :class:`RunConfig` holds four groups: data, model, diffusion and training. ``to_dict`` / ``from_dict`` round-trip
through JSON; ``from_dict`` and :meth:`RunConfig.validate` name the field that is wrong and what it should be.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ddpm_studio.core import choices
from ddpm_studio.core.choices import snr_weighting_applies  # noqa: F401 - its old home; the rule is in choices

#: train.t_power's range (MATH.md M40): beyond it one end of [0, T) is all but never visited
MIN_T_POWER, MAX_T_POWER = 0.25, 8.0


class ConfigError(ValueError):
    """A setting is missing, of the wrong type or out of range; the message names the field."""


@dataclass
class DataConfig:
    """Where the training data comes from."""

    dataset: str = "moons"  # a built-in name (moons, ring, digits, shapes, ...) or a path to a folder / file
    image_size: int | None = None  # images are resized to this square size; None keeps the data set's default
    num_points: int = 8192  # how many points a 2-D toy set draws
    num_images: int = 2048  # how many images the procedural shapes set draws
    subset: int | None = None  # train on only this many training items (seeded, after the held-out split); None: all


@dataclass
class ModelConfig:
    """Which network to build (see ``ddpm_studio.core.models.MODEL_PRESETS``)."""

    preset: str = "tiny"  # tiny, small, base or ddpm-cifar; 2-D data always gets the MLP of that size
    dropout: float | None = None  # None keeps the preset's dropout
    fourier_bands: int = 0  # points: also feed sin / cos of the input at this many octaves (MATH.md M36)
    # K for a class-conditional network (MATH.md M34; train --conditional sets it from the data); None: unconditional
    num_classes: int | None = None


@dataclass
class DiffusionConfig:
    """The diffusion process and what the network predicts (MATH.md M1-M13)."""

    schedule: str = "linear"  # "linear" (M1, Ho et al.) or "cosine" (M2, Nichol & Dhariwal)
    num_timesteps: int = 1000  # T
    parameterization: str = "eps"  # eps (M7), mean (M8), x0 (M9) or v (M10)
    variance: str = "fixed_large"  # fixed_large (M11), fixed_small (M12) or learned (M13)
    clip_x0: bool | None = None  # clip x0_hat to [-1, 1]; None: on for images, off for 2-D points


@dataclass
class ProcessConfig:
    """Which process the run trains (MATH.md M47-M51); the flow's own settings. DDPM's are in ``diffusion``."""

    name: str = "ddpm"  # "ddpm" (M4-M19, the ``diffusion`` section) or "flow" (rectified flow, M47-M51)
    path: str = "linear"  # flow: the Gaussian path, linear (rectified flow) or vp_cosine (DDPM's path; M47)
    target: str = "velocity"  # flow: what the network predicts, velocity (eps - x0), x0 or eps (M48)
    time_sampling: str = "uniform"  # flow: training times uniform or logit_normal (Esser et al. 2024; M51)
    logit_mean: float = 0.0  # flow, logit_normal: t = sigmoid(logit_mean + logit_std n)
    logit_std: float = 1.0
    time_power: float = 3.0  # flow, power: t = u^k with this k (M51, M40's skew in continuous time)
    # flow, reflow (M56): the file in the run folder holding the (x1, x0) pairs the run trains on; None: independent
    # noise, the first flow
    couplings: str | None = None
    reflow_of: str | None = None  # the flow run the couplings were drawn from (a record; nothing reads it back)


@dataclass
class TrainConfig:
    """The optimisation loop."""

    steps: int = 3000  # optimiser steps in all (a resumed run continues to this number)
    batch_size: int = 256
    lr: float = 2e-3  # AdamW peak learning rate
    warmup: int = 100  # linear learning-rate warm-up steps
    lr_schedule: str = "constant"  # after the warm-up: constant, or cosine (decay to 0 at `steps`, MATH.md M35)
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # clip the global gradient norm to this (0 disables)
    ema_decay: float = 0.995  # exponential moving average of the weights, used for sampling
    loss: str = "simple"  # simple (M18), vlb (M17) or hybrid (M19)
    snr_gamma: float = 0.0  # min-SNR-gamma weighting of the simple term (Hang et al. 2023); 0: unweighted M18
    t_power: float = 1.0  # training timesteps t = floor(T u^k) (MATH.md M40): 1 uniform (Ho et al.), > 1 low noise
    # label dropout of a conditional network: the share of labels replaced by the null class, which trains the
    # unconditional branch that classifier-free guidance needs (Ho & Salimans 2022 use 0.1-0.2; M34)
    p_uncond: float = 0.1
    seed: int = 0
    device: str = "auto"  # auto (CUDA > MPS > CPU), cpu, cuda, cuda:N or mps
    log_every: int = 10  # steps between loss reports (and metrics.jsonl lines)
    preview_every: int = 500  # steps between preview samples (0 disables)
    preview_count: int = 16  # how many samples a preview draws
    preview_steps: int = 50  # reverse steps a preview takes (respaced, M21)
    checkpoint_every: int = 1000  # steps between checkpoints (0: only at the end)
    early_stop: bool = False  # points: stop when the held-out sample quality stops improving (early_stop.py)
    early_stop_every: int = 250  # steps between held-out quality checks
    early_stop_patience: int = 3  # checks without a gain before the run stops
    keep_checkpoints: int = 2  # how many step checkpoints to keep
    tensorboard: bool = False  # also write TensorBoard event files into RUN/tensorboard (metrics.jsonl stays)


@dataclass
class RunConfig:
    """Every setting of a training run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    process: ProcessConfig = field(default_factory=ProcessConfig)

    @property
    def is_flow(self) -> bool:
        """The run trains the flow process (``process.name == "flow"``)."""
        return self.process.name == "flow"

    @property
    def clock_size(self) -> int:
        """The top of the run's trajectory clock: T for DDPM, FLOW_TICKS for a flow (t = tick / FLOW_TICKS)."""
        return choices.FLOW_TICKS if self.is_flow else self.diffusion.num_timesteps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Any) -> RunConfig:
        """Build and validate from a JSON-like dict; unknown keys and wrong types raise :class:`ConfigError`."""
        if not isinstance(raw, dict):
            raise ConfigError(f"a run config must be a JSON object, got {type(raw).__name__}")
        groups = {}
        for f in fields(cls):
            section = raw.get(f.name, {})
            if not isinstance(section, dict):
                raise ConfigError(f"config field '{f.name}' must be an object, got {type(section).__name__}")
            groups[f.name] = _section_from_dict(f.default_factory, f.name, section)  # type: ignore[arg-type]
        unknown = sorted(set(raw) - {f.name for f in fields(cls)} - {"version", "package_version"})
        if unknown:
            raise ConfigError(f"unknown config section(s): {', '.join(unknown)}")
        config = cls(**groups)
        config.validate()
        return config

    def validate(self) -> RunConfig:
        """Check every field; raise :class:`ConfigError` naming the first bad one. Returns self."""
        d, m, diff, t = self.data, self.model, self.diffusion, self.train
        _require(isinstance(d.dataset, str) and d.dataset.strip() != "", "data.dataset", "a data set name or path")
        if d.image_size is not None:
            _int_in("data.image_size", d.image_size, 4, 512)
        _int_in("data.num_points", d.num_points, 16, 10_000_000)
        _int_in("data.num_images", d.num_images, 16, 1_000_000)
        if d.subset is not None:  # its upper bound, the size of the training split, is checked when the data loads
            _int_in("data.subset", d.subset, 1, 100_000_000)
        _require(isinstance(m.preset, str), "model.preset", "a preset name")
        _int_in("model.fourier_bands", m.fourier_bands, 0, 16)
        if m.dropout is not None:
            _float_in("model.dropout", m.dropout, 0.0, 0.95)
        if m.num_classes is not None:
            _int_in("model.num_classes", m.num_classes, 1, 100_000)
        _one_of("diffusion.schedule", diff.schedule, choices.SCHEDULES)
        _int_in("diffusion.num_timesteps", diff.num_timesteps, 1, 100_000)
        _rule("diffusion.num_timesteps", choices.training_timesteps_problem(diff.num_timesteps))
        _rule("diffusion.num_timesteps", choices.linear_schedule_problem(diff.schedule, diff.num_timesteps))
        _one_of("diffusion.parameterization", diff.parameterization, choices.PARAMETERIZATIONS)
        _one_of("diffusion.variance", diff.variance, choices.VARIANCES)
        _one_of("train.loss", t.loss, choices.LOSSES)
        _rule("train.loss", choices.learned_variance_problem(diff.variance, t.loss))
        _float_in("train.snr_gamma", t.snr_gamma, 0.0, 1e6)
        _float_in("train.t_power", t.t_power, MIN_T_POWER, MAX_T_POWER)
        _rule("train.snr_gamma", choices.snr_gamma_problem(t.snr_gamma, t.loss, diff.parameterization))
        _int_in("train.steps", t.steps, 1, 100_000_000)
        _int_in("train.batch_size", t.batch_size, 1, 1_000_000)
        _float_in("train.lr", t.lr, 1e-12, 10.0)
        _int_in("train.warmup", t.warmup, 0, 100_000_000)
        _one_of("train.lr_schedule", t.lr_schedule, choices.LR_SCHEDULES)
        _float_in("train.weight_decay", t.weight_decay, 0.0, 10.0)
        _float_in("train.grad_clip", t.grad_clip, 0.0, 1e6)
        _float_in("train.ema_decay", t.ema_decay, 0.0, 1.0)
        _float_in("train.p_uncond", t.p_uncond, 0.0, 1.0)
        _int_in("train.seed", t.seed, 0, 2**63 - 1)
        _require(isinstance(t.device, str) and t.device != "", "train.device", "auto, cpu, cuda, cuda:N or mps")
        _int_in("train.log_every", t.log_every, 1, 1_000_000)
        _int_in("train.preview_every", t.preview_every, 0, 100_000_000)
        _int_in("train.preview_count", t.preview_count, 1, 1024)
        _int_in("train.preview_steps", t.preview_steps, 1, 100_000)  # capped at T when used
        _int_in("train.checkpoint_every", t.checkpoint_every, 0, 100_000_000)
        _int_in("train.keep_checkpoints", t.keep_checkpoints, 1, 1000)
        _require(isinstance(t.early_stop, bool), "train.early_stop", "true or false")
        _int_in("train.early_stop_every", t.early_stop_every, 1, 100_000_000)
        _int_in("train.early_stop_patience", t.early_stop_patience, 1, 1000)
        _require(isinstance(t.tensorboard, bool), "train.tensorboard", "true or false")
        self._validate_process()
        return self

    def _validate_process(self) -> None:
        """The process section, and the DDPM-only settings a flow run must leave at their defaults."""
        p = self.process
        _one_of("process.name", p.name, choices.PROCESSES)
        _one_of("process.path", p.path, choices.FLOW_PATHS)
        _one_of("process.target", p.target, choices.FLOW_TARGETS)
        _one_of("process.time_sampling", p.time_sampling, choices.TIME_SAMPLINGS)
        _float_in("process.logit_mean", p.logit_mean, -10.0, 10.0)
        _float_in("process.logit_std", p.logit_std, 0.01, 10.0)
        _float_in("process.time_power", p.time_power, MIN_T_POWER, MAX_T_POWER)
        for name in ("couplings", "reflow_of"):
            value = getattr(p, name)
            _require(value is None or (isinstance(value, str) and value.strip() != ""), f"process.{name}",
                     "a file or folder name, or null")
        if p.name != "flow":
            _rule("process.couplings", None if p.couplings is None else "couplings (reflow) need process.name "
                  "flow")
            return
        # a flow has no bound, no reverse variance and no integer timesteps: these settings would mean nothing
        t, d = self.train, self.diffusion
        _rule("train.loss", None if t.loss == "simple" else "a flow run trains the flow-matching MSE (M50); "
              "the bound's losses (vlb, hybrid) belong to DDPM")
        _rule("diffusion.variance", None if d.variance != "learned" else "a flow run has no reverse variance to "
              "learn")
        _rule("train.snr_gamma", None if t.snr_gamma == 0.0 else "min-SNR weighting is a DDPM setting; a flow "
              "run weights its times through process.time_sampling")
        _rule("train.t_power", None if t.t_power == 1.0 else "t_power skews DDPM's integer timesteps; a flow "
              "run draws its times by process.time_sampling")
        _rule("model.num_classes", None if not self.model.num_classes else "class-conditional flow runs are not "
              "built yet; train the flow unconditionally or choose --process ddpm")


def fit_batch_size(train: TrainConfig, num_train: int) -> int | None:
    """Lower ``train.batch_size`` to ``num_train`` when the data has fewer training items.

    The trainer refuses a batch larger than the training split (:class:`ConfigError`); a default batch size of 64
    meets a user's folder of 40 images, so callers adapt it when the data is loaded and say so.

    Returns:
        The batch size it had before, when it was lowered; None when it already fitted.
    """
    if num_train < 1 or train.batch_size <= num_train:
        return None
    previous, train.batch_size = train.batch_size, num_train
    return previous


def default_config(dataset: str = "moons", kind: str = "points", process: str = "ddpm") -> RunConfig:
    """Settings that give a good result quickly on a laptop CPU for this kind of data.

    2-D points: an MLP with Fourier input (M36) predicting v (M10) on the cosine schedule (M2), training timesteps
    skewed toward low noise (M40, k = 3), up to 4,500 steps at batch 256, lr 2e-3 with cosine decay (M35), stopping
    early once held-out quality stops improving (about 30 s on one CPU core for the whole budget).
    Flow runs (``process="flow"``, M47-M51): the same network, budget and learning rate; velocity target,
    uniform training times; DDPM's timestep skew and min-SNR weighting stay off (they have no flow meaning).
    Images: the tiny U-Net, batch 64, lr 1e-3 (Ho et al. used 2e-4 at batch 128 for CIFAR-10's 35.7M net; the
    tiny net and small images tolerate more), EMA 0.995 (0.9999 suits 800k steps, not a few thousand), cosine
    schedule (Nichol & Dhariwal: better for small images), min-SNR-5 weighting (Hang et al. 2023's gamma; on
    the bundled digits it halves the steps to recognisable samples: benchmarks/RESULTS.md), 1,000 steps: 2.5x
    the 400 at which the digits became recognisable on both seeds measured, on the plateau the Fréchet score
    keeps from step 500 to 1,500 (28-53; a 3,000-step run ends at 30.7, for 3x the time), and the budget at
    which the unweighted objectives that a comparison trains draw digits (compare.TABLE2_MIN_STEPS), so one
    default serves both. Previews and checkpoints every 500 steps.
    """
    config = RunConfig(data=DataConfig(dataset=dataset))
    if kind == "points":
        # issue 16's levers, each measured on seven test mixtures (benchmarks/RESULTS.md, "Time to quality"):
        # the cosine noise schedule (M2) spends ~2x the training on the low noise levels where sharp structure is
        # learned (the off-support haze on the spiral fell from 48 % to 12 % at 3,000 steps), v prediction (M10)
        # took it to 7 % (checkerboard 13 % -> 8 %), and 4,500 steps are what ~30 s buy on one CPU core
        config.diffusion.schedule = "cosine"
        config.diffusion.parameterization = "v"
        config.train.steps = 4500
        # ... and a batch that visits low noise more often (M40, t = floor(T u^3): 46 % of it at t < 100 against
        # 10 %) took the spiral from 7.8 % to 2.1 % off the support at 3,000 steps, the board from 10 % to 2.6 %
        config.train.t_power = 3.0
        config.train.lr_schedule = "cosine"
        config.model.fourier_bands = 6
        config.train.early_stop = True
        # a check costs ~1.3 s since issue 27 (100 NFE of a faithful sampler and every lens of the verdict): every
        # 500 steps, up to 8 checks in a 4,500-step run
        config.train.early_stop_every = 500
    if kind == "images":
        config.diffusion.schedule = "cosine"
        config.train.steps = 1000
        config.train.batch_size = 64
        config.train.lr = 1e-3
        config.train.ema_decay = 0.995
        config.train.snr_gamma = 5.0
        config.train.preview_every = 500
        config.train.checkpoint_every = 500
    if process == "flow":
        # the flow keeps the data kind's network, budget and learning-rate schedule; the DDPM-only levers go back
        # to their neutral values (validate() refuses them for a flow) and the flow's own defaults apply
        config.process.name = "flow"
        config.train.t_power = 1.0
        config.train.snr_gamma = 0.0
    return config


# ----------------------------------------------------------------- helpers
def _section_from_dict(factory: type, name: str, raw: dict[str, Any]) -> Any:
    default = factory()
    known = {f.name: f for f in fields(default)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"unknown config field(s) in '{name}': {', '.join(unknown)}")
    values = {}
    for key, value in raw.items():
        values[key] = _coerce(f"{name}.{key}", getattr(default, key), value)
    return factory(**values)


def _coerce(name: str, default: Any, value: Any) -> Any:
    """Accept JSON values of the default's type (ints for floats too; None where the default is None)."""
    if value is None:
        return None
    if isinstance(default, bool):
        _require(isinstance(value, bool), name, "true or false")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        _require(isinstance(value, int) and not isinstance(value, bool), name, "an integer")
        return value
    if isinstance(default, float):
        _require(isinstance(value, (int, float)) and not isinstance(value, bool), name, "a number")
        return float(value)
    if isinstance(default, str):
        _require(isinstance(value, str), name, "a string")
        return value
    # defaults of None: int | None, float | None, bool | None
    _require(isinstance(value, (int, float, bool, str)), name, "a number, a boolean or a string")
    return value


def _require(ok: bool, name: str, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{name} must be {expected}")


def _int_in(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in {low}..{high}, got {value!r}")


def _float_in(name: str, value: Any, low: float, high: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not low <= value <= high:
        raise ConfigError(f"{name} must be a finite number in [{low:g}, {high:g}], got {value!r}")


def _one_of(name: str, value: Any, options: tuple[choices.Choice, ...]) -> None:
    allowed = choices.names(options)
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def _rule(name: str, problem: str | None) -> None:
    """A combination rule of :mod:`ddpm_studio.core.choices` that found a problem, as an error naming the field."""
    if problem:
        raise ConfigError(f"{name}: {problem}")
