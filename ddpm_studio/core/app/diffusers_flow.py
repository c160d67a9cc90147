"""diffusers' flow-matching schedulers and the core's rectified flow, both ways (Qt-free, diffusers optional).

``FlowMatchEulerDiscreteScheduler`` (Esser et al. 2024, the SD3 scheduler) describes the process the core calls
rectified flow on the linear path (M47): x_sigma = (1 - sigma) x_0 + sigma eps, sigma in [0, 1], sigma = 1 noise,
and a network that outputs the velocity u = eps - x_0 (M48): its Euler step is ``x + (sigma_next - sigma) u`` and
its stochastic step forms x_0 as ``x - sigma u``, which holds only for that u. The network is fed
``sigma * num_train_timesteps``; the core feeds a flow network 1000 t (M50), so the two agree for the usual
1000 and :class:`FlowTimeScale` rescales otherwise. diffusers' sigma is the core's t.

What the scheduler's config says about the sampling grid (``shift``, dynamic shifting, Karras / exponential /
beta sigmas, a terminal shift, stochastic sampling) changes where a sampler steps, not what the network means:
the studio samples with its own flow samplers and grids (M52), so those keys are read and left. ``invert_sigmas``
turns the time axis round (sigma = 1 data), a convention the core has no equivalent for: refused in one line.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ddpm_studio.core.config import ProcessConfig
from ddpm_studio.core.io.runs import RunError
from ddpm_studio.core.process.flow import FLOW_TIME_SCALE, GaussianFlow, make_flow

#: diffusers' schedulers of the linear flow-matching process (a velocity network, sigma = t).
FLOW_SCHEDULER_CLASSES = ("FlowMatchEulerDiscreteScheduler", "FlowMatchHeunDiscreteScheduler")
#: The scheduler a flow run is exported with.
EXPORT_CLASS = "FlowMatchEulerDiscreteScheduler"


class DiffusersFlowError(RunError):
    """A flow scheduler config, or a flow run, with no equivalent on the other side; one line says why."""


def is_flow_scheduler(config: dict[str, Any]) -> bool:
    """Whether a diffusers scheduler config describes the flow-matching process (its ``_class_name``)."""
    return config.get("_class_name") in FLOW_SCHEDULER_CLASSES


def train_timesteps(config: dict[str, Any]) -> int:
    """The scheduler's ``num_train_timesteps`` (what the network's time input is scaled to), checked."""
    count = config.get("num_train_timesteps", 1000)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise DiffusersFlowError(f"num_train_timesteps must be a positive integer, got {count!r}")
    return count


def process_config_from_scheduler(config: dict[str, Any]) -> ProcessConfig:
    """The core's flow settings for a diffusers flow scheduler config: the linear path, the velocity target.

    Raises:
        DiffusersFlowError: a class that is not a flow-matching scheduler, ``invert_sigmas``, or a bad T.
    """
    if not is_flow_scheduler(config):
        raise DiffusersFlowError(f"the scheduler {config.get('_class_name')} is not a flow-matching scheduler "
                                 f"({', '.join(FLOW_SCHEDULER_CLASSES)} map)")
    if config.get("invert_sigmas"):
        raise DiffusersFlowError("the scheduler inverts its sigmas (sigma = 1 is data), a time convention DDPM "
                                 "Studio's flow does not have")
    train_timesteps(config)
    return ProcessConfig(name="flow", path="linear", target="velocity")


def flow_from_scheduler(config: dict[str, Any]) -> GaussianFlow:
    """The core's rectified flow (M47, velocity target M48) for a diffusers flow scheduler config."""
    settings = process_config_from_scheduler(config)
    return make_flow(settings.path, target=settings.target)


class FlowTimeScale(nn.Module):
    """A network trained on ``sigma * N`` time inputs (N = the scheduler's num_train_timesteps), called as the
    core calls a flow network, with 1000 t (M50): ``forward(x, s) = network(x, s * N / 1000)``."""

    def __init__(self, network: nn.Module, num_train_timesteps: int) -> None:
        super().__init__()
        self.network = network
        self.factor = float(num_train_timesteps) / FLOW_TIME_SCALE

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.network(x, t * self.factor if self.factor != 1.0 else t)


def flow_scheduler_config_for(process: ProcessConfig) -> dict[str, Any]:
    """A ``FlowMatchEulerDiscreteScheduler`` config for a flow run (what ``scheduler_config.json`` holds).

    The run's network sees 1000 t (M50), so ``num_train_timesteps`` is 1000; ``shift`` is 1 (a uniform grid,
    the core's "linspace" spacing, M52), dynamic shifting off.

    Raises:
        DiffusersFlowError: a run on DDPM's VP path or with an x_0 or eps target: diffusers' flow schedulers
            step the linear path with a velocity network only.
    """
    if process.path != "linear":
        raise DiffusersFlowError(f"a flow run on the {process.path} path has no diffusers scheduler: "
                                 f"{EXPORT_CLASS} steps the linear (rectified-flow) path only")
    if process.target != "velocity":
        raise DiffusersFlowError(f"a flow run that predicts {process.target} has no diffusers scheduler: "
                                 f"{EXPORT_CLASS} expects a velocity network (u = eps - x0)")
    return {"_class_name": EXPORT_CLASS, "num_train_timesteps": int(FLOW_TIME_SCALE), "shift": 1.0,
            "use_dynamic_shifting": False, "invert_sigmas": False, "stochastic_sampling": False}
