"""Flow matching on a Gaussian path (MATH.md M47, M48, M50, M51); rectified flow is the linear one.

x_t = alpha_t x_0 + sigma_t eps, t in [0, 1], t = 1 noise. On the linear path (alpha = 1 - t, sigma = t) the
network learns the velocity u = eps - x_0 (Liu et al. 2022, "Flow Straight and Fast"; Lipman et al. 2023, "Flow
Matching for Generative Modeling"), or x_0, or eps, which the path converts into one another (M48). The same class
trains flow matching on DDPM's VP path (Lipman et al. 2023, Sec. 4.1: the diffusion paths are Gaussian paths
too), which is what lets one sampler package serve both. Training times are uniform or logit-normal (Esser et
al. 2024, SD3, Sec. 3.1, M51). Sampling (the flow ODE dx/dt = u(x, t) from t = 1 to 0) lives in
:mod:`ddpm_studio.core.sampling.flow`.

The network is called as ``model(x (B, ...), t (B,) float in [0, 1])``; the trainer and the pipeline feed the
project's networks ``FLOW_TIME_SCALE * t``, so their sinusoidal time embedding spans the frequencies it spans for
DDPM's integer timesteps 0..999 (SD3 feeds its network 1000 t for the same reason).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ddpm_studio.core import choices
from ddpm_studio.core.process.paths import TARGETS, CosineVPPath, GaussianPath, LinearPath

#: Training-time densities on (0, 1) (M51; labels and help: :data:`ddpm_studio.core.choices.TIME_SAMPLINGS`).
TIME_SAMPLINGS: tuple[str, ...] = choices.names(choices.TIME_SAMPLINGS)
#: The network's time input is this times t (see the module docstring).
FLOW_TIME_SCALE = 1000.0
#: Sampler records put flow times on an integer clock of this many ticks (the vocabulary's, core.choices)
FLOW_TICKS = choices.FLOW_TICKS
#: With the eps target the sampler starts here instead of t = 1: x_0 = (x - t eps) / (1 - t) is undefined at t = 1,
#: where x_t is the noise itself (M48); 1 - 1e-3 changes the start's variance by 2e-3.
EPS_TARGET_T_MAX = 1.0 - 1e-3

#: A VP path's smallest training time (see :attr:`GaussianFlow.t_min`).
VP_T_MIN = 1e-3

#: The flow network as the process calls it: (x_t (B, ...), t (B,) float in [0, 1]) -> output like x_t.
FlowModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


#: The paths a flow run may train on (``process.path``).
PATHS: dict[str, type[GaussianPath]] = {"linear": LinearPath, "vp_cosine": CosineVPPath}


class GaussianFlow:
    """Flow matching on a Gaussian path: what it trains on, what it trains towards, and how its outputs convert.

    Args:
        path: the path, :class:`LinearPath` (rectified flow) by default, or :class:`CosineVPPath`.
        target: what the network outputs: "velocity" (u = eps - x_0, the default), "x0" or "eps" (M48).
        time_sampling: "uniform" or "logit_normal" (t = sigmoid(m + s n), n ~ N(0, 1); M51).
        logit_mean, logit_std: m and s of the logit-normal density (SD3's default: 0 and 1).
    """

    kind = "flow"
    #: set by the trainer as on GaussianDiffusion; the flow never checks outputs per call (its loss is checked)
    check_finite = False

    def __init__(
        self,
        path: GaussianPath | None = None,
        target: str = "velocity",
        time_sampling: str = "uniform",
        logit_mean: float = 0.0,
        logit_std: float = 1.0,
        time_power: float = 3.0,
    ) -> None:
        if target not in TARGETS:
            raise ValueError(f"the flow's target must be one of {', '.join(TARGETS)}, got {target!r}")
        if time_sampling not in TIME_SAMPLINGS:
            raise ValueError(f"time sampling must be one of {', '.join(TIME_SAMPLINGS)}, got {time_sampling!r}")
        if not (math.isfinite(logit_mean) and math.isfinite(logit_std) and logit_std > 0):
            raise ValueError(f"the logit-normal density needs a finite mean and a std > 0, got {logit_mean}, "
                             f"{logit_std}")
        self.path = path if path is not None else LinearPath()
        self.target = target
        self.time_sampling = time_sampling
        self.logit_mean = float(logit_mean)
        self.logit_std = float(logit_std)
        if not (math.isfinite(time_power) and time_power > 0):
            raise ValueError(f"the power density needs k > 0, got {time_power}")
        self.time_power = float(time_power)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(path={self.path.name!r}, target={self.target!r}, "
                f"time_sampling={self.time_sampling!r})")

    @property
    def t_min(self) -> float:
        """The smallest training time: 0 on the linear path; 1e-3 on a VP path, whose sigma' = -alpha alpha' /
        sigma grows like t^(-1/2) at t -> 0, so that the velocity target's variance would diverge there."""
        return 0.0 if isinstance(self.path, LinearPath) else VP_T_MIN

    @property
    def t_max(self) -> float:
        """Where sampling starts: t = 1, or just below it for the eps target (:data:`EPS_TARGET_T_MAX`)."""
        return EPS_TARGET_T_MAX if self.target == "eps" else 1.0

    # ------------------------------------------------------------------ training
    def sample_times(self, batch: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
        """(batch,) float32 training times in (0, 1): uniform, or sigmoid(m + s n) (M51)."""
        if self.time_sampling == "uniform":
            t = torch.rand(batch, generator=generator, device=device)
        elif self.time_sampling == "power":
            t = torch.rand(batch, generator=generator, device=device).pow_(self.time_power)
        else:
            n = torch.randn(batch, generator=generator, device=device)
            t = torch.sigmoid(self.logit_mean + self.logit_std * n)
        return t if self.t_min == 0.0 else t.clamp_(min=self.t_min)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = alpha_t x_0 + sigma_t eps ((1 - t) x_0 + t eps on the linear path, M47); (B, ...), t (B,)."""
        return self.path.sample(x0, t, noise)

    def training_target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The regression target: the velocity (eps - x_0 on the linear path), x_0 or eps (M48, M50); (B, ...)."""
        return self.path.target(self.target, x0, t, noise)

    def training_losses(self, model: FlowModel, x0: torch.Tensor, t: torch.Tensor,
                        noise: torch.Tensor) -> dict[str, torch.Tensor]:
        """The conditional flow-matching loss (M50): mean over dimensions of (target - output)^2, per example.

        Returns:
            {"loss": (B,) with gradients, "mse": the same detached, "vlb": NaN (B,): a flow has no
            variational bound, and the loss window reports it as missing}.
        """
        x_t = self.q_sample(x0, t, noise)
        output = model(x_t, t)
        if output.shape != x0.shape:
            raise ValueError(f"the flow network's output has shape {tuple(output.shape)}, expected "
                             f"{tuple(x0.shape)}")
        mse = ((self.training_target(x0, t, noise) - output) ** 2).flatten(1).mean(dim=1)
        return {"loss": mse, "mse": mse.detach(), "vlb": torch.full_like(mse, math.nan).detach()}

    # ------------------------------------------------------------------ outputs
    def predict(self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> dict[str, torch.Tensor]:
        """x0_hat, eps_hat and the velocity from one network output at (x_t, t) (M48); each like x_t."""
        return {
            "x0_hat": self.path.to_x0(self.target, output, x_t, t),
            "eps_hat": self.path.to_eps(self.target, output, x_t, t),
            "velocity": self.path.to_velocity(self.target, output, x_t, t),
        }


class RectifiedFlow(GaussianFlow):
    """Rectified flow: flow matching on the linear path alpha = 1 - t, sigma = t (Liu et al. 2022), with defaults
    that train well out of the box (velocity target, uniform times: benchmarks/RESULTS.md, "Flow matching and
    DDPM")."""

    def __init__(self, target: str = "velocity", time_sampling: str = "uniform", logit_mean: float = 0.0,
                 logit_std: float = 1.0, time_power: float = 3.0) -> None:
        super().__init__(LinearPath(), target, time_sampling, logit_mean, logit_std, time_power)


def make_flow(path: str = "linear", **settings) -> GaussianFlow:
    """The flow on the path called ``path`` ("linear": :class:`RectifiedFlow`; "vp_cosine")."""
    if path not in PATHS:
        raise ValueError(f"the flow's path must be one of {', '.join(PATHS)}, got {path!r}")
    if path == "linear":
        return RectifiedFlow(**settings)
    return GaussianFlow(PATHS[path](), **settings)


def clock_alpha_bar(flow: GaussianFlow) -> torch.Tensor:
    """(FLOW_TICKS + 1,) float64: the VP abar of the flow's state at each tick 0..FLOW_TICKS of the records' clock
    (M49), 1 at tick 0; what DDPM's abar_t table is to a DDPM trajectory."""
    t = torch.arange(FLOW_TICKS + 1, dtype=torch.float64) / FLOW_TICKS
    return flow.path.vp_alpha_bar(t)


def time_tick(t: float) -> int:
    """A flow time on the records' integer clock (:data:`FLOW_TICKS`): round(1000 t)."""
    return int(round(float(t) * FLOW_TICKS))
