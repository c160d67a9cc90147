"""What a comparison varies and the settings it shares: the rows (:class:`Setting`), their names on the command
line, the base config, and the step budget below which Ho et al.'s ordering did not reproduce here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ddpm_studio.core import choices
from ddpm_studio.core.config import RunConfig, default_config

#: The EMA of a short run must forget its random initial weights: its time constant 1 / (1 - decay) is capped at
#: this fraction of the training steps (0.999 would still hold 37% of the initial weights after 1000 steps).
EMA_HORIZON_FRACTION = 0.1

#: Held-out examples the bound is averaged over (it costs T forward passes per batch of them). Here, not in
#: :mod:`.run`, so that ``ddpm-studio compare --help`` prints it without importing torch.
EVAL_EXAMPLES = 512


@dataclass(frozen=True)
class Setting:
    """One row of the comparison: what the network predicts, its variance and the training objective."""

    name: str
    parameterization: str  # eps (M7), mean (M8), x0 (M9) or v (M10)
    variance: str  # fixed_large (M11), fixed_small (M12) or learned (M13)
    loss: str  # simple (M18), vlb (M17) or hybrid (M19)

    @property
    def folder(self) -> str:
        """The run folder's name: the setting's name with "/" replaced by "-"."""
        return self.name.replace("/", "-")


#: Ho et al.'s Table 2 rows (mean with the bound and with the simple loss, eps with the simple loss), plus x0
#: and v predictions and Nichol & Dhariwal's learned variance with the hybrid loss. The fixed variance is
#: sigma_t^2 = beta_t (M11), Ho et al.'s choice.
DEFAULT_SETTINGS: tuple[Setting, ...] = (
    Setting("eps/simple", "eps", "fixed_large", "simple"),
    Setting("mean/vlb", "mean", "fixed_large", "vlb"),
    Setting("mean/simple", "mean", "fixed_large", "simple"),
    Setting("x0/simple", "x0", "fixed_large", "simple"),
    Setting("v/simple", "v", "fixed_large", "simple"),
    Setting("learned/hybrid", "eps", "learned", "hybrid"),
)


def parse_setting(name: str) -> Setting:
    """A setting from its name: "<param>/<loss>" with a fixed (large) variance, or "learned/<loss>" (eps with
    a learned variance, M13; the loss must be vlb or hybrid).

    Raises:
        ValueError: an unknown parameterization or loss, or a learned variance with the simple loss.
    """
    name = name.strip()
    first, _, loss = name.partition("/")
    params, losses = choices.names(choices.PARAMETERIZATIONS), choices.names(choices.LOSSES)
    if loss not in losses or (first not in params and first != "learned"):
        raise ValueError(
            f"unknown setting {name!r}: write <param>/<loss> with param in {', '.join(params)} or "
            f"'learned', and loss in {', '.join(losses)} (e.g. eps/simple, mean/vlb, learned/hybrid)"
        )
    setting = Setting(name, "eps", "learned", loss) if first == "learned" else Setting(name, first, "fixed_large", loss)
    problem = choices.learned_variance_problem(setting.variance, setting.loss)
    if problem:
        raise ValueError(f"{name} cannot train: {problem}")
    return setting


def parse_settings(text: str) -> list[Setting]:
    """A comma-separated list of setting names (see :func:`parse_setting`), duplicates refused."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("no settings given; e.g. eps/simple,mean/vlb")
    if len(set(names)) != len(names):
        raise ValueError(f"a setting is listed twice in {text!r}")
    return [parse_setting(name) for name in names]


def compare_config(data: str, kind: str, steps: int, seed: int = 0) -> RunConfig:
    """The base settings of a comparison: the defaults for the data's kind, with ``steps`` steps, no previews,
    a checkpoint only at the end, and an EMA short enough for the budget (EMA_HORIZON_FRACTION).
    """
    config = default_config(data, kind)
    config.train.steps = steps
    config.train.seed = seed
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    config.train.ema_decay = min(config.train.ema_decay, 1.0 - 1.0 / max(1.0, EMA_HORIZON_FRACTION * steps))
    return config


#: Fewest training steps per setting at which a comparison reproduced Ho et al.'s Table 2 ordering, by kind of data.
#: Points: eps/simple scored best of eps/simple, mean/vlb and mean/simple with at most 1% of its samples far off, on
#: the moons at 300 and 1,000 steps (seeds 0 and 1 at 300), not at 100 (2% far off, the plain score ranking it
#: worst) or 30 (98% far off): benchmarks/RESULTS.md, "Comparisons: the step budget". Images: unweighted runs drew
#: recognisable digits only after 800-1,000 steps (RESULTS.md, "Digits"); before that the scores compare blurs.
TABLE2_MIN_STEPS: dict[str, int] = {"points": 300, "images": 1000}
_BUDGET_EVIDENCE = {
    "points": "on the moons eps/simple ranked first with its samples on the plot from 300 steps; at 100 it still "
    "threw 2% of them far off, at 30 nearly all",
    "images": "unweighted runs drew recognisable digits only after 800-1,000 steps, so below that the scores "
    "compare blurs",
}


def budget_warning(kind: str | None, steps: int) -> str | None:
    """One sentence when ``steps`` per setting is below :data:`TABLE2_MIN_STEPS` for the data's ``kind``
    ("points" or "images"), else None (also for an unknown kind)."""
    needed = TABLE2_MIN_STEPS.get(kind or "")
    if needed is None or steps >= needed:
        return None
    return (
        f"{steps} steps per setting is too few to trust the ranking: Ho et al.'s Table 2 ordering (eps/simple "
        f"best) needs about {needed:,} here ({_BUDGET_EVIDENCE[kind]}; benchmarks/RESULTS.md)."
    )


def setting_config(base: RunConfig, setting: Setting) -> RunConfig:
    """``base`` with ``setting``'s parameterization, variance and loss, unweighted and uniform in t, validated."""
    config = copy.deepcopy(base)
    config.diffusion.parameterization = setting.parameterization
    config.diffusion.variance = setting.variance
    config.train.loss = setting.loss
    # the rows reproduce the papers' objectives as written (Ho et al. Table 2, Nichol & Dhariwal): unweighted,
    # with t uniform as in their Algorithm 1 (a skewed draw, M40, would reweight the bound the "vlb" rows train on)
    config.train.snr_gamma = 0.0
    config.train.t_power = 1.0
    return config.validate()
