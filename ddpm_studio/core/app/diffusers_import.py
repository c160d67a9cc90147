"""Open a diffusers model folder as a :class:`~ddpm_studio.core.pipeline.DiffusionPipeline` (Qt-free).

Two layouts written by diffusers' ``save_pretrained`` are understood::

    folder/model_index.json          a DDPMPipeline / DDIMPipeline: its U-Net and its scheduler
    folder/unet/config.json + weights
    folder/scheduler/scheduler_config.json

    folder/config.json + weights     a bare UNet2DModel ...
    folder/scheduler_config.json     ... with its scheduler beside it (or in folder/scheduler/)

The scheduler's config is mapped onto the core's process (β schedule, T, ``prediction_type``, ``variance_type``,
``clip_sample``) and the U-Net is wrapped as the core's network ``(x, t) -> output``, so every view (trajectory,
race, bound, field) samples it. What has no equivalent here is refused with one line that says why: a latent
pipeline (a VAE), a conditional U-Net, an unknown schedule, dynamic thresholding, zero terminal SNR.

The configs are read as JSON first (nothing of diffusers is imported to decide whether a folder maps); diffusers
itself is imported lazily, only to build the U-Net, and is an optional extra (``ddpm-studio[diffusers]``). Its
weights loader reads safetensors, or ``.bin`` files with ``torch.load(weights_only=True)``: nothing from the
folder runs code, and nothing is downloaded (``local_files_only``).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ddpm_studio.core.config import DataConfig, DiffusionConfig, ModelConfig, ProcessConfig, RunConfig
from ddpm_studio.core.io.runs import RunError
from ddpm_studio.core.pipeline import DiffusionPipeline, load_pipeline
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.flow import GaussianFlow
from ddpm_studio.core.process.schedule import cosine_betas

MODEL_INDEX = "model_index.json"
SCHEDULER_CONFIG = "scheduler_config.json"
UNET_CLASS = "UNet2DModel"
#: Pipelines whose only parts are a pixel-space U-Net and a scheduler.
PIPELINE_CLASSES = ("DDPMPipeline", "DDIMPipeline")
#: Schedulers of the discrete-time DDPM process (their β fields mean the same thing); the sampler is the studio's.
SCHEDULER_CLASSES = ("DDPMScheduler", "DDIMScheduler", "PNDMScheduler", "DPMSolverMultistepScheduler",
                     "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler",
                     "UniPCMultistepScheduler")
#: diffusers' prediction_type -> the core's parameterization (M7, M9, M10).
PREDICTIONS = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}
#: diffusers' variance_type -> the core's variance (M11, M12, M13). The "_log" forms hold the same variance.
VARIANCE_TYPES = {"fixed_small": "fixed_small", "fixed_small_log": "fixed_small", "fixed_large": "fixed_large",
                  "fixed_large_log": "fixed_large", "learned_range": "learned"}
INSTALL_HINT = 'pip install "ddpm-studio[diffusers]"'
#: ``model.preset`` of a diffusers model's config: its network is the folder's U-Net, not a preset of ours.
DIFFUSERS_PRESET = "diffusers"


class DiffusersError(RunError):
    """A diffusers folder that cannot be opened here; the message says why in one line."""


def is_diffusers_folder(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` looks like a diffusers ``save_pretrained`` folder (not a DDPM Studio run)."""
    folder = Path(path)
    if (folder / MODEL_INDEX).is_file() or (folder / SCHEDULER_CONFIG).is_file():
        return True
    raw = _read_json_or_none(folder / "config.json")
    return isinstance(raw, dict) and "_diffusers_version" in raw


# ------------------------------------------------------------------ the scheduler -> the process
def betas_from_scheduler(config: dict[str, Any]) -> torch.Tensor:
    """The β_1..β_T a diffusers scheduler config describes, as diffusers holds them (float32 values), in float64.

    ``linear``: β evenly spaced from beta_start to beta_end (M1's shape with the config's ends); ``scaled_linear``:
    √β evenly spaced, squared (Rombach et al. 2022); ``squaredcos_cap_v2``: M2 with s = 0.008 and the 0.999 cap
    (Nichol & Dhariwal 2021); ``sigmoid``: β_start + (β_end - β_start) σ(u), u evenly spaced on [-6, 6]
    (Jabri et al. 2022); ``trained_betas``: the list itself.

    Returns:
        float64 tensor of shape (T,); index i is paper timestep t = i + 1.
    Raises:
        DiffusersError: an unknown schedule, a T that is not a positive integer, or β outside (0, 1).
    """
    T = config.get("num_train_timesteps", 1000)
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise DiffusersError(f"num_train_timesteps must be a positive integer, got {T!r}")
    trained = config.get("trained_betas")
    schedule = config.get("beta_schedule", "linear")
    start, end = float(config.get("beta_start", 0.0001)), float(config.get("beta_end", 0.02))
    if trained is not None:
        betas = torch.tensor([float(b) for b in trained], dtype=torch.float64)
    elif schedule == "linear":
        betas = torch.linspace(start, end, T, dtype=torch.float64)
    elif schedule == "scaled_linear":
        betas = torch.linspace(math.sqrt(start), math.sqrt(end), T, dtype=torch.float64) ** 2
    elif schedule == "squaredcos_cap_v2":
        betas = cosine_betas(T)
    elif schedule == "sigmoid":
        betas = torch.sigmoid(torch.linspace(-6.0, 6.0, T, dtype=torch.float64)) * (end - start) + start
    else:
        raise DiffusersError(f"the scheduler's beta_schedule {schedule!r} is not one DDPM Studio knows "
                             "(linear, scaled_linear, squaredcos_cap_v2, sigmoid or trained_betas)")
    # diffusers keeps β in float32: take the very values its own loop uses
    betas = betas.to(torch.float32).to(torch.float64)
    if betas.ndim != 1 or betas.numel() < 1 or not bool(((betas > 0) & (betas < 1)).all()):
        raise DiffusersError("the scheduler's betas must all lie strictly between 0 and 1")
    return betas


def diffusion_config_from_scheduler(config: dict[str, Any]) -> DiffusionConfig:
    """The core's description of a diffusers scheduler config: T, parameterization, variance, clipping.

    ``schedule`` is a label only ("cosine" for squaredcos_cap_v2, else "linear"): the process is built from
    :func:`betas_from_scheduler`, never from the name.

    Raises:
        DiffusersError: a scheduler class, prediction type or variance type with no equivalent in the core,
            dynamic thresholding or zero terminal SNR.
    """
    kind = config.get("_class_name")
    if kind is not None and kind not in SCHEDULER_CLASSES:
        raise DiffusersError(f"the scheduler {kind} is not a discrete-time DDPM scheduler; DDPM Studio maps "
                             f"{', '.join(SCHEDULER_CLASSES)}")
    prediction = config.get("prediction_type", "epsilon")
    if prediction not in PREDICTIONS:
        raise DiffusersError(f"prediction_type {prediction!r} has no equivalent here "
                             "(epsilon, sample and v_prediction map)")
    variance = config.get("variance_type") or "fixed_small"
    if variance not in VARIANCE_TYPES:
        raise DiffusersError(f"variance_type {variance!r} has no equivalent here: the core's learned variance is "
                             "diffusers' learned_range (Nichol & Dhariwal 2021); fixed_small and fixed_large map too")
    if config.get("thresholding"):
        raise DiffusersError("the scheduler uses dynamic thresholding (thresholding = true), which DDPM Studio "
                             "does not implement")
    if config.get("rescale_betas_zero_snr"):
        raise DiffusersError("the scheduler rescales the betas to zero terminal SNR (β_T = 1), a process DDPM "
                             "Studio does not support")
    return DiffusionConfig(
        schedule="cosine" if config.get("beta_schedule") == "squaredcos_cap_v2" else "linear",
        num_timesteps=int(betas_from_scheduler(config).numel()),
        parameterization=PREDICTIONS[prediction],
        variance=VARIANCE_TYPES[variance],
        clip_x0=bool(config.get("clip_sample", True)),
    )


def diffusion_from_scheduler(config: dict[str, Any]) -> GaussianDiffusion:
    """The core's process (M1-M13) for a diffusers scheduler config; images, so L_0 is the 8-bit decoder (M16).

    ``clip_sample`` clips x0_hat to [-clip_sample_range, clip_sample_range] (M23's box).
    """
    described = diffusion_config_from_scheduler(config)
    bound = float(config.get("clip_sample_range", 1.0))
    if not math.isfinite(bound) or bound <= 0:
        raise DiffusersError(f"clip_sample_range must be a positive number, got {bound!r}")
    box = None if bound == 1.0 else (torch.tensor(-bound), torch.tensor(bound))
    return GaussianDiffusion(
        betas_from_scheduler(config),
        parameterization=described.parameterization,
        variance=described.variance,
        clip_x0=bool(described.clip_x0),
        decoder="discrete",
        x0_range=box,
    )


# ------------------------------------------------------------------ the folder
def _read_json_or_none(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def _read_json(path: Path) -> dict[str, Any]:
    raw = _read_json_or_none(path)
    if not isinstance(raw, dict):
        raise DiffusersError(f"{path} is missing or is not a JSON object")
    return raw


def locate_parts(folder: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(the U-Net's folder, the scheduler config file) of a diffusers folder, refusing what does not map.

    Raises:
        DiffusersError: a pipeline with other parts (a VAE, a text encoder) or of another class, or a folder
            without a U-Net or a scheduler.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DiffusersError(f"{folder} is not a folder")
    index_path = folder / MODEL_INDEX
    if index_path.is_file():
        index = _read_json(index_path)
        parts = sorted(k for k, v in index.items() if not k.startswith("_") and v is not None)
        kind = index.get("_class_name", "a pipeline")
        if "vae" in parts or "vqvae" in parts:
            raise DiffusersError(f"{folder.name} is a latent-diffusion pipeline ({kind}, with a VAE): DDPM Studio "
                                 "samples pixel-space models (a U-Net and a scheduler) only")
        extra = [p for p in parts if p not in ("unet", "scheduler")]
        if extra or kind not in PIPELINE_CLASSES:
            what = f"parts {', '.join(extra)} beside the U-Net and scheduler" if extra else "another kind"
            raise DiffusersError(f"{folder.name} is a {kind} ({what}); DDPM Studio opens "
                                 f"{' / '.join(PIPELINE_CLASSES)} folders or a bare UNet2DModel")
        unet_dir, scheduler = folder / "unet", folder / "scheduler" / SCHEDULER_CONFIG
    else:
        unet_dir = folder
        scheduler = folder / SCHEDULER_CONFIG
        if not scheduler.is_file():
            scheduler = folder / "scheduler" / SCHEDULER_CONFIG
    if not (unet_dir / "config.json").is_file():
        raise DiffusersError(f"{folder} has no U-Net ({unet_dir / 'config.json'} is missing)")
    if not scheduler.is_file():
        raise DiffusersError(f"{folder} has no scheduler config ({SCHEDULER_CONFIG}) beside its U-Net")
    return unet_dir, scheduler


def unet_data_shape(config: dict[str, Any], variance: str) -> tuple[int, int, int]:
    """(C, H, W) of the images a UNet2DModel config describes, refusing conditional or mis-shaped U-Nets.

    Under the learned variance (M13) the U-Net must output 2C channels (the mean part, then u), else C.
    """
    kind = config.get("_class_name")
    if kind != UNET_CLASS:
        reason = " (it needs a text or image condition)" if "Condition" in str(kind) else ""
        raise DiffusersError(f"the model is a {kind}{reason}; DDPM Studio opens an unconditional {UNET_CLASS}")
    if config.get("num_class_embeds") or config.get("class_embed_type"):
        raise DiffusersError("the U-Net is class-conditional (num_class_embeds / class_embed_type); DDPM Studio "
                             "samples unconditional models")
    channels, out = config.get("in_channels", 3), config.get("out_channels", 3)
    size = config.get("sample_size")
    height, width = (size, size) if isinstance(size, int) else (tuple(size) if isinstance(size, list) else (0, 0))
    if not all(isinstance(v, int) and v > 0 for v in (channels, out, height, width)):
        raise DiffusersError(f"the U-Net config has no usable in_channels / sample_size (got {channels!r}, {size!r})")
    want = 2 * channels if variance == "learned" else channels
    if out != want:
        raise DiffusersError(f"the U-Net outputs {out} channels for {channels}-channel images, but the scheduler's "
                             f"variance ({variance}) needs {want}")
    return channels, height, width


class DiffusersDenoiser(nn.Module):
    """A diffusers U-Net as the core's network: ``forward(x (B, C, H, W), t (B,) 0-based) -> (B, C', H, W)``.

    diffusers' timesteps are 0-based like the core's, so t passes as it is; the output is the scheduler's
    ``model_output`` (ε, x_0 or v; with u of M13 behind it under learned_range), which is what the core expects.
    """

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.unet(x, t).sample


def _import_unet_class() -> type:
    try:
        from diffusers import UNet2DModel
    except ImportError:
        raise DiffusersError(f"opening a diffusers model needs the diffusers package: {INSTALL_HINT}") from None
    return UNet2DModel


def load_diffusers_pipeline(folder: str | os.PathLike[str], device: str | torch.device = "cpu") -> DiffusionPipeline:
    """A diffusers folder as the pipeline the studio and the CLI sample (EMA-free: the weights as saved).

    A flow-matching scheduler (``FlowMatchEulerDiscreteScheduler``) opens as a flow run: rectified flow with a
    velocity network (core/app/diffusers_flow.py); every other mapped scheduler as a DDPM.

    Raises:
        DiffusersError: the folder does not map (one line why), diffusers is not installed, or the weights
            cannot be read.
    """
    from ddpm_studio.core.app.diffusers_flow import (
        FlowTimeScale,
        flow_from_scheduler,
        is_flow_scheduler,
        process_config_from_scheduler,
        train_timesteps,
    )
    from ddpm_studio.core.device import resolve_device

    unet_dir, scheduler_path = locate_parts(folder)
    scheduler = _read_json(scheduler_path)
    flow = is_flow_scheduler(scheduler)
    process: ProcessConfig | None = None
    if flow:
        process = process_config_from_scheduler(scheduler)
        described = DiffusionConfig()
        diffusion: GaussianDiffusion | GaussianFlow = flow_from_scheduler(scheduler)
    else:
        described = diffusion_config_from_scheduler(scheduler)
        diffusion = diffusion_from_scheduler(scheduler)
    data_shape = unet_data_shape(_read_json(unet_dir / "config.json"), described.variance)
    UNet2DModel = _import_unet_class()
    try:
        unet = UNet2DModel.from_pretrained(str(unet_dir), local_files_only=True, low_cpu_mem_usage=False)
    except (OSError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DiffusersError(f"the U-Net in {unet_dir} cannot be loaded: {first}") from None
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    network: nn.Module = DiffusersDenoiser(unet)
    if flow:  # the U-Net was fed sigma * N; the core feeds a flow network 1000 t (M50)
        network = FlowTimeScale(network, train_timesteps(scheduler))
    network = network.to(dev).eval().requires_grad_(False)
    config = RunConfig(
        data=DataConfig(dataset=str(folder), image_size=data_shape[1]),
        model=ModelConfig(preset=DIFFUSERS_PRESET),
        diffusion=described,
    )
    if process is not None:
        config.process = process
    return DiffusionPipeline(config=config, diffusion=diffusion, network=network, kind="images",
                             data_shape=data_shape, device=dev)


def load_any_pipeline(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> DiffusionPipeline:
    """A DDPM Studio run folder (:func:`~ddpm_studio.core.pipeline.load_pipeline`) or a diffusers model folder
    (:func:`load_diffusers_pipeline`), whichever ``path`` is: what ``sample`` and ``evaluate`` open."""
    if is_diffusers_folder(path):
        return load_diffusers_pipeline(path, device)
    return load_pipeline(path, device)


# ------------------------------------------------------------------ the other way: a run's schedule for diffusers
#: The core's parameterization / variance -> diffusers' prediction_type / variance_type.
PREDICTION_NAMES = {core: theirs for theirs, core in PREDICTIONS.items()}
VARIANCE_NAMES = {"fixed_small": "fixed_small", "fixed_large": "fixed_large", "learned": "learned_range"}


def scheduler_config_for(diffusion: DiffusionConfig, kind: str) -> dict[str, Any]:
    """A ``DDPMScheduler`` config (what ``scheduler_config.json`` holds) with the run's β, T and outputs.

    Linear (M1): diffusers' linear schedule between the run's scaled ends, (1000 / T) · 1e-4 and (1000 / T) ·
    0.02; cosine (M2): ``squaredcos_cap_v2``, the same formula and cap. ``clip_sample`` is the run's M23 clip for
    images ([-1, 1]); 2-D points clip to their own box, which diffusers cannot express, so it is off for them.

    Raises:
        DiffusersError: the mean parameterization (M8), which diffusers' schedulers have no prediction_type for.
    """
    if diffusion.parameterization not in PREDICTION_NAMES:
        raise DiffusersError(f"a run that predicts the {diffusion.parameterization} has no diffusers "
                             "prediction_type (epsilon, sample and v_prediction exist)")
    T = diffusion.num_timesteps
    clip = diffusion.clip_x0 if diffusion.clip_x0 is not None else kind == "images"
    config: dict[str, Any] = {
        "_class_name": "DDPMScheduler",
        "num_train_timesteps": T,
        "prediction_type": PREDICTION_NAMES[diffusion.parameterization],
        "variance_type": VARIANCE_NAMES[diffusion.variance],
        "clip_sample": bool(clip and kind == "images"),
        "clip_sample_range": 1.0,
        "trained_betas": None,
    }
    if diffusion.schedule == "cosine":
        config["beta_schedule"] = "squaredcos_cap_v2"
    else:
        scale = 1000.0 / T
        config.update(beta_schedule="linear", beta_start=scale * 1e-4, beta_end=scale * 0.02)
    return config


def write_scheduler_config(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``out_dir/scheduler_config.json`` for the run in ``run_dir`` (``DDPMScheduler.from_pretrained`` reads
    it; for a flow run ``FlowMatchEulerDiscreteScheduler.from_pretrained``); returns the file written. Needs no
    diffusers and no checkpoint, only the run's config.json."""
    from ddpm_studio.core.data import BUILTIN_DATASETS
    from ddpm_studio.core.io.runs import atomic_write_text, latest_loadable_checkpoint
    from ddpm_studio.core.pipeline import load_run_config

    config = load_run_config(run_dir)
    kind = BUILTIN_DATASETS.get(config.data.dataset)
    if kind is None:  # a user's file or folder: the checkpoint says which kind of data it held
        found = latest_loadable_checkpoint(run_dir)
        kind = found[2].get("kind") if found is not None else None
    if kind not in ("points", "images"):
        raise DiffusersError(f"{run_dir}: cannot tell whether the run models images or 2-D points (no checkpoint)")
    if config.is_flow:  # rectified flow: diffusers' FlowMatchEulerDiscreteScheduler
        from ddpm_studio.core.app.diffusers_flow import flow_scheduler_config_for

        payload = flow_scheduler_config_for(config.process)
    else:
        payload = scheduler_config_for(config.diffusion, kind)
    return atomic_write_text(Path(out_dir) / SCHEDULER_CONFIG, json.dumps(payload, indent=2) + "\n")
