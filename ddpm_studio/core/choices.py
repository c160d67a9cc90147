"""One vocabulary for every choice of a run, and every rule that ties two choices together, written once.

Each choice (parameterization, variance, loss, schedule, decoder, sampler method, timestep spacing) is a tuple of
:class:`Choice` records: the code name that configs, the CLI and the core use, the label in the seed notes' words
that the studio shows, the docs/MATH.md number it implements and a one-line help text. Presenters (the Setup
dock, the CLI's ``--help``, the compare dialog) read these tuples; the core checks names against them.

Every combination rule is one function returning the problem in words, or None when there is none, so the
config's validation, :class:`~ddpm_studio.core.process.diffusion.GaussianDiffusion`, the schedule and the studio say the
same thing. :func:`combination_problem` applies them all in the order a user meets them.

This module imports nothing from the project: every other module may read it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Choice:
    """One value of a setting.

    Attributes:
        name: the code name (configs, CLI flags, the core's arguments), e.g. "eps".
        label: the words a person reads, e.g. "noise (ε)" (the seed notes' wording where they have one).
        math: the docs/MATH.md equation(s) it implements, e.g. "M7" or "M8 + M13"; "" where none applies.
        help: one line on what it does, for tooltips and ``--help``.
    """

    name: str
    label: str
    math: str
    help: str


@dataclass(frozen=True)
class ParameterizationOption(Choice):
    """An entry of the studio's "Predicts" list: a parameterization, maybe promising a kind of variance.

    The seed notes name "mean (fixed variance)" and "mean + variance (learned)" as two options; both have the
    core parameterization ``name`` = "mean" and differ in :attr:`variance` ("fixed", "learned", or None: any).
    """

    variance: str | None = None


@dataclass(frozen=True)
class SamplerChoice(Choice):
    """A sampling method; ``deterministic``: x_0 is a function of x_T alone (DDIM at eta = 0)."""

    deterministic: bool = False


# ------------------------------------------------------------------------------------------------ the choices
PARAMETERIZATIONS: tuple[Choice, ...] = (
    Choice("eps", "noise (ε)", "M7", "The network predicts the noise ε that was added; the mean follows from it."),
    Choice("mean", "mean μ", "M8", "The network predicts the mean of p(x_{t-1} | x_t) directly."),
    Choice("x0", "clean data x₀", "M9", "The network predicts the clean sample x₀; the mean is the posterior mean."),
    Choice("v", "velocity v", "M10", "The network predicts v = √ᾱ ε − √(1−ᾱ) x₀ (Salimans & Ho 2022)."),
)

PARAMETERIZATION_OPTIONS: tuple[ParameterizationOption, ...] = (
    ParameterizationOption("eps", "noise (ε)", "M7",
                           "The network predicts the noise ε that was added; the mean follows from it (M7)."),
    ParameterizationOption("mean", "mean (fixed variance)", "M8",
                           "The network predicts the mean of p(x_{t-1} | x_t) directly; σ² is fixed (M8).", "fixed"),
    ParameterizationOption("mean", "mean + variance (learned)", "M8 + M13",
                           "The network predicts the mean and also how wide each step is (M8 + M13).", "learned"),
    ParameterizationOption("x0", "clean data x₀", "M9",
                           "The network predicts the clean sample x₀; the mean is the posterior mean (M9)."),
    ParameterizationOption("v", "velocity v", "M10", "The network predicts v = √ᾱ ε − √(1−ᾱ) x₀ (M10)."),
)

VARIANCES: tuple[Choice, ...] = (
    Choice("fixed_large", "fixed large: σ² = β_t", "M11", "σ_t² = β_t, the upper end (Ho et al. 2020)."),
    Choice("fixed_small", "fixed small: σ² = β̃_t", "M12", "σ_t² = β̃_t, the posterior's variance, the lower end."),
    Choice("learned", "learned: between β̃_t and β_t", "M13",
           "The network also outputs where σ_t² lies between β̃_t and β_t (log scale; Nichol & Dhariwal 2021)."),
)

LOSSES: tuple[Choice, ...] = (
    Choice("simple", "simple: MSE (L_simple)", "M18", "Unweighted MSE against the network's target (Ho et al. 2020)."),
    Choice("vlb", "VLB: the variational bound", "M17", "The single-t estimate of the bound itself, T · L_{t-1} / D."),
    Choice("hybrid", "hybrid: L_simple + 0.001 L_vlb", "M19",
           "L_simple for the mean, plus 0.001 × the bound in bits/dim for the variance (Nichol & Dhariwal 2021)."),
)

SCHEDULES: tuple[Choice, ...] = (
    Choice("linear", "linear (Ho et al.)", "M1", "β from 1e-4 to 0.02 at T = 1000, both ends scaled by 1000 / T."),
    Choice("cosine", "cosine (Nichol & Dhariwal)", "M2", "ᾱ follows a squared cosine; better for small images."),
)

LR_SCHEDULES: tuple[Choice, ...] = (
    Choice("constant", "constant", "M35", "Linear warm-up, then the peak rate to the end (Ho et al. 2020)."),
    Choice("cosine", "cosine decay", "M35",
           "Linear warm-up, then a half cosine from the peak rate to 0 at the last step (Loshchilov & Hutter 2017)."),
)

DECODERS: tuple[Choice, ...] = (
    Choice("discrete", "discrete: 8-bit likelihood", "M16", "L_0 as the probability of the pixel's 8-bit bin."),
    Choice("gaussian", "continuous: Gaussian density", "M16", "L_0 as a Gaussian density (2-D points)."),
)

METHODS: tuple[SamplerChoice, ...] = (
    SamplerChoice("ancestral", "ancestral", "M20, M21",
                  "DDPM ancestral sampling, stochastic, one step per evaluation (M20; fewer steps respace, M21)"),
    SamplerChoice("ddim", "DDIM", "M22", "DDIM, deterministic at eta 0, first order in the ODE (M22)", True),
    SamplerChoice("dpmpp_2m", "DPM-Solver++(2M)", "M27, M28",
                  "DPM-Solver++(2M), deterministic second-order multistep ODE solver on x0_hat (Lu et al. 2022; M28)",
                  True),
    SamplerChoice("heun", "Heun (probability-flow ODE)", "M24",
                  "Heun's second-order ODE method in sigma (Karras et al. 2022 Alg. 1), two evaluations per step "
                  "(M24)", True),
    SamplerChoice("dpmpp_2m_sde", "SDE-DPM-Solver++(2M)", "M29",
                  "SDE-DPM-Solver++(2M), stochastic second-order multistep (M29)"),
)

#: A flow's sampler records put its times t in [0, 1] on an integer clock of this many ticks (t = 0.25 is tick
#: 250), so that every presenter of DDPM trajectories (timestep slider, captions, files) shows flow trajectories.
FLOW_TICKS = 1000

PROCESSES: tuple[Choice, ...] = (
    Choice("ddpm", "DDPM (diffusion)", "M4-M19",
           "The variance-preserving diffusion of Ho et al. 2020: T noise levels, a reverse Markov chain."),
    Choice("flow", "flow matching (rectified flow)", "M47-M51",
           "The linear path x_t = (1 - t) x_0 + t eps; the network learns the velocity of an ODE (Lipman et al. "
           "2023, Liu et al. 2022)."),
)

FLOW_PATHS: tuple[Choice, ...] = (
    Choice("linear", "linear (rectified flow)", "M47",
           "x_t = (1 - t) x_0 + t eps (Liu et al. 2022; Lipman et al. 2023)."),
    Choice("vp_cosine", "VP, cosine (DDPM's path)", "M47",
           "x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps on the cosine schedule in continuous time (Nichol & Dhariwal "
           "2021): flow matching on DDPM's own path."),
)

FLOW_TARGETS: tuple[Choice, ...] = (
    Choice("velocity", "velocity u = ε − x₀", "M48", "The network predicts u = eps - x_0, the path's velocity."),
    Choice("x0", "clean data x₀", "M48", "The network predicts x_0; the velocity is (x_t - x_0) / t."),
    Choice("eps", "noise (ε)", "M48", "The network predicts eps; the velocity is (eps - x_t) / (1 - t)."),
)

TIME_SAMPLINGS: tuple[Choice, ...] = (
    Choice("uniform", "uniform t", "M51", "Training times t ~ U(0, 1) (Lipman et al. 2023)."),
    Choice("logit_normal", "logit-normal t", "M51",
           "t = sigmoid(m + s n), n ~ N(0, 1): more of each batch at mid noise (Esser et al. 2024, SD3)."),
    Choice("power", "t = u^k (low noise)", "M51",
           "t = u^k, u ~ U(0, 1): more of each batch near the data, M40's skew in continuous time (k = time_power)."),
)

FLOW_METHODS: tuple[SamplerChoice, ...] = (
    SamplerChoice("euler", "Euler", "M52", "Euler on the flow ODE, one evaluation per step, first order (M52)", True),
    SamplerChoice("heun", "Heun", "M52",
                  "Heun's trapezoid on the flow ODE, two evaluations per step, second order (M52)", True),
    SamplerChoice("midpoint", "midpoint", "M52",
                  "the explicit midpoint rule on the flow ODE, two evaluations per step, second order (M52)", True),
    SamplerChoice("dpmpp_2m", "DPM-Solver++(2M)", "M53",
                  "DPM-Solver++(2M) in the linear path's log-SNR, second-order multistep (M27, M28, M53)", True),
    SamplerChoice("dpmpp_2m_sde", "SDE-DPM-Solver++(2M)", "M53",
                  "SDE-DPM-Solver++(2M) on the linear path: stochastic, the same marginals (M29, M53)"),
)

FLOW_SPACINGS: tuple[Choice, ...] = (
    Choice("linspace", "uniform in t", "M52", "Steps uniform in t from 1 to 0."),
    Choice("shift", "SD3 shift", "M52", "t' = 3t / (1 + 2t): more steps at high noise (Esser et al. 2024)."),
)

SPACINGS: tuple[Choice, ...] = (
    Choice("linspace", "linspace", "M21",
           "K timesteps evenly spread over 0..T-1, both ends included (today's respacing, M21)"),
    Choice("trailing", "trailing", "M25",
           "t = T, T - T/K, ... (Lin et al. 2024): starts at T, skips the lowest-noise timesteps"),
    Choice("karras", "Karras", "M26",
           "rho = 7 in sigma (Karras et al. 2022 eq. 5), each level snapped to the nearest trained t"),
    Choice("logsnr", "log-SNR uniform", "M41",
           "uniform in lambda = 0.5 log SNR (Lu et al. 2022, DPM-Solver's grid), snapped to the nearest trained t"),
)

#: The shortest chain the linear schedule allows: its last beta is 20 / T (M1), which must stay below 1.
LINEAR_MIN_T = 21
#: The fewest diffusion steps a run may train with. A reverse step is close to Gaussian only while its beta is
#: small; on the cosine schedule (M2) the median beta is 0.51 at T = 2, 0.47 at T = 5, 0.24 at T = 10, 0.003 at
#: T = 1000, and the least noise the chain ever learns to remove, sqrt(1 - abar_1), is 0.71, 0.32, 0.17 and 0.006
#: of the data's spread. Below 10 the samples are blurred by more than a sixth of the data's spread and the
#: steps are jumps; 10 is also the fewest steps the studio's fast samplers are shown with.
MIN_TRAINING_T = 10


# ------------------------------------------------------------------------------------------------ look-ups
def names(options: Iterable[Choice]) -> tuple[str, ...]:
    """The code names of ``options``, in order, each once (the options' duplicates of "mean" collapse)."""
    return tuple(dict.fromkeys(option.name for option in options))


def find(options: Iterable[Choice], name: str) -> Choice | None:
    """The first option whose code name or label is ``name``; None when there is none."""
    for option in options:
        if name in (option.name, option.label):
            return option
    return None


def help_lines(options: Iterable[Choice], width: int = 13) -> list[str]:
    """``"  name   help"`` lines, one per option, for a CLI's ``--help`` epilog."""
    return [f"  {option.name:<{width}} {option.help}" for option in options]


def unknown_problem(kind: str, value: object, options: Iterable[Choice]) -> str | None:
    """``"unknown <kind> 'x'; choose one of a, b, c"`` when ``value`` is not a code name of ``options``."""
    allowed = names(options)
    if value in allowed:
        return None
    return f"unknown {kind} {value!r}; choose one of {', '.join(allowed)}"


def require(kind: str, value: str, options: Iterable[Choice]) -> str:
    """``value`` if it is a code name of ``options``, else a ValueError saying the choices."""
    problem = unknown_problem(kind, value, options)
    if problem:
        raise ValueError(problem)
    return value


# ------------------------------------------------------------------------------------------------ the rules
def learned_variance_problem(variance: str, loss: str) -> str | None:
    """A learned variance (M13) needs the bound in its loss: L_simple says nothing about σ² (M19)."""
    if variance == "learned" and loss == "simple":
        return ("a learned variance needs the VLB or hybrid loss ('vlb' or 'hybrid'): L_simple gives the variance "
                "no signal (MATH.md M19)")
    return None


def timesteps_problem(num_timesteps: object) -> str | None:
    """T counts the diffusion steps: a positive integer."""
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, int) or num_timesteps < 1:
        return f"the number of diffusion steps T must be a positive integer, got {num_timesteps!r}"
    return None


def training_timesteps_problem(num_timesteps: object) -> str | None:
    """A run trains with at least :data:`MIN_TRAINING_T` diffusion steps (schedules themselves take any T >= 1)."""
    if timesteps_problem(num_timesteps) is None and num_timesteps < MIN_TRAINING_T:
        return (f"T = {num_timesteps} is too few diffusion steps to train: use T >= {MIN_TRAINING_T} (at T = 1 one "
                "reverse step jumps from pure noise to data); for few-step sampling, train with T = 1000 and sample "
                "with DDIM or DPM-Solver++ at 10-20 steps")
    return None


def linear_schedule_problem(schedule: str, num_timesteps: int) -> str | None:
    """The linear schedule's last beta is 20 / T (M1): T <= 20 destroys the data in one step (beta >= 1)."""
    if schedule == "linear" and timesteps_problem(num_timesteps) is None and num_timesteps < LINEAR_MIN_T:
        return (f"the linear schedule needs T >= {LINEAR_MIN_T} (its last beta is 20 / T = {20 / num_timesteps:.3g} "
                f"at T = {num_timesteps}); use the cosine schedule for shorter chains")
    return None


def snr_weighting_applies(loss: str, parameterization: str) -> bool:
    """Min-SNR weighting acts on the simple term of an eps, x0 or v target: not the VLB loss, not the mean."""
    return loss != "vlb" and snr_target_problem(parameterization) is None


def snr_target_problem(parameterization: str) -> str | None:
    """Min-SNR weights exist for the eps, x0 and v targets (Hang et al. 2023), not for the mean (M8)."""
    if parameterization == "mean":
        return "min-SNR weighting is defined for the eps, x0 and v targets, not the mean (M8); use 0"
    return None


def snr_gamma_problem(snr_gamma: float, loss: str, parameterization: str) -> str | None:
    """The min-SNR gamma (Hang et al. 2023): >= 0 (0 switches it off), and > 0 only where it applies."""
    if isinstance(snr_gamma, bool) or not isinstance(snr_gamma, (int, float)) or not (
        math.isfinite(snr_gamma) and snr_gamma >= 0.0
    ):
        return f"the min-SNR gamma must be a finite number >= 0 (0: no weighting), got {snr_gamma!r}"
    if snr_gamma > 0.0 and loss == "vlb":
        return "min-SNR weighting applies to the simple term: the 'vlb' loss has none (use 0, or the simple or hybrid)"
    return snr_target_problem(parameterization) if snr_gamma > 0.0 else None


def option_variance_problem(option: ParameterizationOption, variance: str) -> str | None:
    """A "Predicts" option that promises a fixed or a learned variance, against the variance chosen."""
    if option.variance == "fixed" and variance == "learned":
        return (f"“{option.label}” keeps σ² fixed, but Variance is “learned”. Choose a fixed variance, or the "
                "parameterization “mean + variance (learned)”.")
    if option.variance == "learned" and variance != "learned":
        return f"“{option.label}” lets the network predict σ² too: set Variance to “learned”."
    return None


def combination_problem(
    param: str | ParameterizationOption,
    variance: str,
    loss: str,
    schedule: str = "linear",
    num_timesteps: int = 1000,
    snr_gamma: float = 0.0,
) -> str | None:
    """The first problem of these settings taken together, in words, or None when they can train.

    Args:
        param: a parameterization's code name ("eps", ...), a :data:`PARAMETERIZATION_OPTIONS` label ("mean +
            variance (learned)") or that option itself; an option's promised variance is checked too.
        variance, loss, schedule: code names. num_timesteps: T. snr_gamma: the min-SNR gamma (0: off); a
            presenter that greys the gamma out where :func:`snr_weighting_applies` is False passes 0 there.
    """
    if isinstance(param, ParameterizationOption):
        option: ParameterizationOption | None = param
    else:  # a label names an option; a code name ("mean") promises no variance
        option = next((o for o in PARAMETERIZATION_OPTIONS if o.label == param), None)
    name = option.name if option is not None else param
    checks = (
        lambda: unknown_problem("parameterization", name, PARAMETERIZATIONS),
        lambda: unknown_problem("variance", variance, VARIANCES),
        lambda: unknown_problem("loss", loss, LOSSES),
        lambda: unknown_problem("schedule", schedule, SCHEDULES),
        lambda: option_variance_problem(option, variance) if option is not None else None,
        lambda: learned_variance_problem(variance, loss),
        lambda: timesteps_problem(num_timesteps),
        lambda: training_timesteps_problem(num_timesteps),
        lambda: linear_schedule_problem(schedule, num_timesteps),
        lambda: snr_gamma_problem(snr_gamma, loss, name),
    )
    for check in checks:
        problem = check()
        if problem:
            return problem
    return None
