"""One vocabulary (ddpm_studio/core/choices.py): every choice once, every combination rule once, and the core's
checks saying what the rules say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from ddpm_studio.core import choices
from ddpm_studio.core.config import ConfigError, RunConfig
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.schedule import make_betas

MATH = (Path(__file__).parents[2] / "docs" / "MATH.md").read_text(encoding="utf-8")
ALL = {
    "parameterization": choices.PARAMETERIZATIONS,
    "option": choices.PARAMETERIZATION_OPTIONS,
    "variance": choices.VARIANCES,
    "loss": choices.LOSSES,
    "schedule": choices.SCHEDULES,
    "decoder": choices.DECODERS,
    "method": choices.METHODS,
    "spacing": choices.SPACINGS,
}


@pytest.mark.parametrize("kind", sorted(ALL))
def test_every_choice_has_a_label_help_and_an_equation_that_docs_math_defines(kind):
    options = ALL[kind]
    assert len({o.label for o in options}) == len(options)  # a label names one entry
    for option in options:
        assert option.name and option.label and option.help
        numbers = re.findall(r"M\d+", option.math)
        assert numbers, option
        for number in numbers:
            assert f"**{number} —" in MATH, f"{option.name} cites {number}, which docs/MATH.md does not define"


def test_the_old_names_are_the_vocabularys_code_names():
    from ddpm_studio.core import config, sampling
    from ddpm_studio.core.process import diffusion, schedule

    assert diffusion.PARAMETERIZATIONS == ("eps", "mean", "x0", "v")
    assert diffusion.VARIANCES == ("fixed_large", "fixed_small", "learned")
    assert diffusion.LOSSES == ("simple", "vlb", "hybrid") and diffusion.DECODERS == ("discrete", "gaussian")
    assert schedule.SCHEDULES == ("linear", "cosine")
    assert sampling.METHODS == ("ancestral", "ddim", "dpmpp_2m", "heun", "dpmpp_2m_sde")
    assert sampling.SPACINGS == ("linspace", "trailing", "karras", "logsnr")
    assert sampling.DETERMINISTIC_METHODS == ("ddim", "dpmpp_2m", "heun")
    assert set(sampling.METHOD_HELP) == set(sampling.METHODS) and set(sampling.SPACING_HELP) == set(sampling.SPACINGS)
    assert config.snr_weighting_applies is choices.snr_weighting_applies  # the old import path still works


def test_the_predicts_options_are_the_seed_notes_words():
    labels = [(o.label, o.name, o.variance) for o in choices.PARAMETERIZATION_OPTIONS]
    assert labels[:3] == [("noise (ε)", "eps", None), ("mean (fixed variance)", "mean", "fixed"),
                          ("mean + variance (learned)", "mean", "learned")]
    assert [v.label for v in choices.VARIANCES][0] == "fixed large: σ² = β_t"
    assert choices.names(choices.PARAMETERIZATION_OPTIONS) == ("eps", "mean", "x0", "v")


# ------------------------------------------------------------------------------------------------ the rules
@pytest.mark.parametrize(
    "settings, words",
    [
        (("eps", "learned", "simple"), "VLB or hybrid"),
        (("mean (fixed variance)", "learned", "vlb"), "keeps σ² fixed"),
        (("mean + variance (learned)", "fixed_small", "vlb"), "set Variance to “learned”"),
        (("eps", "fixed_large", "simple", "linear", 20), "T >= 21"),
        (("eps", "fixed_large", "simple", "cosine", 0), "positive integer"),
        (("eps", "fixed_large", "simple", "cosine", 1), "T = 1 is too few diffusion steps to train: use T >= 10"),
        (("eps", "fixed_large", "simple", "cosine", 9), "T = 9 is too few"),
        (("eps", "fixed_large", "vlb", "cosine", 10, 5.0), "'vlb' loss has none"),
        (("mean", "fixed_large", "simple", "cosine", 10, 5.0), "not the mean"),
        (("eps", "fixed_large", "simple", "cosine", 10, -1.0), "gamma must be"),
        (("score", "fixed_large", "simple"), "unknown parameterization 'score'; choose one of eps, mean, x0, v"),
        (("eps", "fixed_large", "simple", "quadratic"), "unknown schedule 'quadratic'"),
    ],
)
def test_combination_problem_names_the_first_problem(settings, words):
    assert words in choices.combination_problem(*settings)


@pytest.mark.parametrize(
    "settings",
    [
        ("eps", "learned", "hybrid", "linear", 21, 5.0),
        ("mean", "learned", "vlb", "cosine", 10),  # a code name promises no variance
        ("mean + variance (learned)", "learned", "hybrid"),
        ("mean (fixed variance)", "fixed_small", "simple"),
        ("v", "fixed_large", "hybrid", "cosine", 50, 5.0),
        ("mean", "fixed_large", "vlb", "cosine", 50, 0.0),
    ],
)
def test_combination_problem_passes_what_can_train(settings):
    assert choices.combination_problem(*settings) is None


def test_the_linear_rule_is_where_the_last_beta_reaches_one():
    """M1: the last beta is 0.02 * 1000 / T, so it stays below 1 exactly from T = 21."""
    assert choices.LINEAR_MIN_T == 21 and 0.02 * 1000 / 21 < 1.0 <= 0.02 * 1000 / 20
    assert float(make_betas("linear", 21)[-1]) < 1.0
    with pytest.raises(ValueError) as refused:
        make_betas("linear", 20)
    assert str(refused.value) == choices.linear_schedule_problem("linear", 20)


def test_snr_weighting_applies_exactly_where_a_gamma_is_allowed():
    for param in choices.names(choices.PARAMETERIZATIONS):
        for loss in choices.names(choices.LOSSES):
            allowed = choices.snr_gamma_problem(5.0, loss, param) is None
            assert choices.snr_weighting_applies(loss, param) == allowed == (loss != "vlb" and param != "mean")


# ------------------------------------------------------------------------------------------------ one text
def test_the_config_and_the_process_say_what_the_rule_says():
    rule = choices.learned_variance_problem("learned", "simple")
    config = RunConfig()
    config.diffusion.variance = "learned"
    with pytest.raises(ConfigError) as from_config:
        config.validate()
    assert str(from_config.value) == f"train.loss: {rule}"
    process = GaussianDiffusion(make_betas("cosine", 10), variance="learned")
    with pytest.raises(ValueError) as from_process:
        process.training_losses(lambda x, t: x, torch.zeros(2, 1), torch.ones(2, dtype=torch.long))
    assert str(from_process.value) == rule


def test_unknown_names_raise_the_same_sentence_everywhere():
    from ddpm_studio.core.sampling import sample

    with pytest.raises(ValueError, match="unknown sampling method 'rk4'; choose one of ancestral, ddim"):
        next(sample(GaussianDiffusion(make_betas("cosine", 10)), lambda x, t: x, (2, 2), method="rk4"))
    with pytest.raises(ValueError, match="unknown timestep spacing 'leading'; choose one of linspace, trailing"):
        next(sample(GaussianDiffusion(make_betas("cosine", 10)), lambda x, t: x, (2, 2), spacing="leading"))
    with pytest.raises(ValueError, match="unknown decoder 'laplace'; choose one of discrete, gaussian"):
        GaussianDiffusion(make_betas("cosine", 10), decoder="laplace")
    assert choices.require("loss", "vlb", choices.LOSSES) == "vlb"
    assert choices.find(choices.PARAMETERIZATION_OPTIONS, "velocity v").name == "v"
    assert choices.find(choices.METHODS, "rk4") is None
    assert choices.help_lines(choices.SPACINGS)[0] == "  linspace      " + choices.SPACINGS[0].help
