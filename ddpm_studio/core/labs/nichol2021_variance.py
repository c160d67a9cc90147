"""Lab ``nichol2021-variance``: Nichol & Dhariwal 2021 (learned variance for few-step sampling; the cosine schedule).

Part 1: L_simple with either fixed variance (σ² = β, M11; σ² = β̃, M12) against a learned variance trained on
L_hybrid (M13, M19), all sampled with K respaced steps (M21) and with all T. Part 2: the linear (M1) against the
cosine (M2) schedule, both ε / L_simple, sampled with all T.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from ddpm_studio.core.labs.recipe import Budget, LabRecipe
from ddpm_studio.core.labs.rules import Below

if TYPE_CHECKING:
    from ddpm_studio.core.labs.context import LabContext, LabProgress

#: name -> (variance, loss) of part 1's rows (ε prediction, linear schedule: Nichol & Dhariwal's baseline).
VARIANCE_ROWS = {"fixed_large": ("fixed_large", "simple"), "fixed_small": ("fixed_small", "simple"),
                 "learned": ("learned", "hybrid")}


def experiment(ctx: LabContext) -> Generator[LabProgress, None, None]:
    from ddpm_studio.core.io.chart import error_bar_chart
    from ddpm_studio.core.labs.common import final_samples, lab_config, load_data, quality_ratio, score_ratio

    data, steps, few = ctx.setting("data"), ctx.setting("steps"), ctx.setting("few_steps")
    schedule_data, schedule_steps = ctx.setting("schedule_data"), ctx.setting("schedule_steps")
    ctx.plan(len(ctx.seeds) * (len(VARIANCE_ROWS) + 2) * 1.1)
    for seed in ctx.seeds:
        dataset = load_data(ctx, data, seed)
        scorer = ctx.scorer(dataset, seed)
        for name, (variance, loss) in VARIANCE_ROWS.items():
            config = lab_config(ctx, data, dataset.kind, steps, seed)
            config.diffusion.schedule, config.diffusion.parameterization = "linear", "eps"
            config.diffusion.variance, config.train.loss = variance, loss
            config.train.t_power, config.train.snr_gamma = 1.0, 0.0
            run = yield from ctx.train(f"{name}-seed{seed}", config, dataset, f"seed {seed}: train {name}")
            yield ctx.progress(f"seed {seed}: sample {name} with {few} and all steps")
            for count, label in ((few, f"{name}@{few}"), (None, f"{name}@T")):
                if run.pipeline is None:
                    ctx.record(label, seed, float("inf"))
                    ctx.record(f"{label} off-support", seed, float("inf"))
                    continue
                samples = final_samples(run.pipeline, scorer.sample_count, seed, num_steps=count)
                scores = scorer.score(samples)  # once: the ratio and the off-support share read the same scores
                ctx.record(label, seed, score_ratio(scorer, scores))
                # the haze a wrong variance leaves between the modes: sliced Wasserstein barely sees it (M37)
                ctx.record(f"{label} off-support", seed, scores.get("off_support", float("nan")))
            ctx.finish(0.1)
        schedule_set = dataset if schedule_data == data else load_data(ctx, schedule_data, seed)
        schedule_scorer = ctx.scorer(schedule_set, seed)
        for schedule in ("linear", "cosine"):
            config = lab_config(ctx, schedule_data, schedule_set.kind, schedule_steps, seed)
            config.diffusion.schedule, config.diffusion.parameterization = schedule, "eps"
            config.diffusion.variance, config.train.loss = "fixed_large", "simple"
            config.train.t_power, config.train.snr_gamma = 1.0, 0.0
            run = yield from ctx.train(f"schedule-{schedule}-seed{seed}", config, schedule_set,
                                       f"seed {seed}: train the {schedule} schedule")
            yield ctx.progress(f"seed {seed}: sample the {schedule} schedule")
            value = float("inf")
            if run.pipeline is not None:
                count = ctx.setting("schedule_sample_steps")
                samples = final_samples(run.pipeline, schedule_scorer.sample_count, seed, num_steps=count)
                value = quality_ratio(schedule_scorer, samples)
            ctx.record(schedule, seed, value)
            ctx.finish(0.1)
    series = {f"{k} steps": [ctx.point(f"{n}@{k}") for n in VARIANCE_ROWS] for k in (few, "T")}
    ctx.save_plot("variance.png", error_bar_chart(
        list(VARIANCE_ROWS), series, f"Few-step sampling by variance: {data}, {steps} steps, {len(ctx.seeds)} seeds",
        "quality score / floor (lower is better)", reference=(1.0, "real data")))
    ctx.save_plot("schedule.png", error_bar_chart(
        ["linear", "cosine"], {"score / floor": [ctx.point(s) for s in ("linear", "cosine")]},
        f"Noise schedule: {schedule_data}, {schedule_steps} steps, {len(ctx.seeds)} seeds",
        "quality score / floor (lower is better)", reference=(1.0, "real data")))


RECIPE = LabRecipe(
    name="nichol2021-variance",
    paper="Nichol & Dhariwal 2021, Improved Denoising Diffusion Probabilistic Models",
    source="§3.1 and Figure 8 (learned variance, few steps); §3.2 and Figure 5 (cosine schedule)",
    claim="A learned variance (L_hybrid) keeps sample quality with far fewer sampling steps than a fixed variance; "
    "the cosine schedule beats the linear one at low resolution.",
    paper_numbers="Figure 8 (CIFAR-10 and ImageNet 64×64): from 25 to 100 sampling steps the L_hybrid model's FID "
    "stays near its full-chain value, L_simple with σ² = β̃ degrades and with σ² = β degrades most; §3.2 and "
    "Figure 5: with the linear schedule the last fifth of the forward process is nearly pure noise (skipping it "
    "costs little), which the cosine schedule avoids, and at 64×64 the cosine schedule trains better models.",
    metric="the quality score of the samples divided by what real data scores: sliced Wasserstein for points, "
    "the Fréchet distance of the features of a network trained on the data for images (lower is better); for "
    "points also the fraction of samples off the data's support (M37, lower is better).",
    rules=(
        Below("with few steps, learned variance beats σ² = β", "learned@25", "fixed_large@25"),
        Below("with few steps, learned variance beats σ² = β̃", "learned@25", "fixed_small@25"),
        Below("the cosine schedule beats the linear one", "cosine", "linear"),
        # every lens (rules.combine: the lab holds only where all agree, so these can only make it stricter)
        Below("off support, with few steps: learned variance beats σ² = β", "learned@25 off-support",
              "fixed_large@25 off-support"),
        Below("off support, with few steps: learned variance beats σ² = β̃", "learned@25 off-support",
              "fixed_small@25 off-support"),
    ),
    quick=Budget(seeds=(0, 1, 2), settings={"data": "gaussians8", "steps": 1500, "few_steps": 25,
                                            "schedule_data": "digits", "image_size": 8, "schedule_steps": 250,
                                            "schedule_sample_steps": 100}, minutes=9.0),
    full=Budget(seeds=(0, 1, 2, 3, 4), settings={"data": "gaussians8", "steps": 6000, "few_steps": 25,
                                                 "schedule_data": "digits", "image_size": 16,
                                                 "schedule_steps": 1500, "schedule_sample_steps": 250},
                minutes=90.0),
    experiment=experiment,
    notes=("The variance part runs on 2-D points (cheap, and the haze of a wrong variance shows as distance); the "
           "schedule part on the bundled 8×8 digits (quick) or 16×16 (full), the low-resolution case the claim "
           "is about. The few-step count is fixed at 25 in both budgets because the rules name it.",),
)
