"""Lab ``song2021-ddim``: Song, Meng & Ermon 2021, DDIM (Table 1, §5.2): η = 0 against η = 1 with few steps, and
the consistency of η = 0 (the same x_T gives nearly the same sample whatever the number of steps).

One model per seed (the studio's default image settings on the bundled digits); its samples with K respaced DDIM
steps (M24, with η scaling the noise, M25) are scored by the Fréchet distance of a feature network trained on
the digits, as a ratio to what held-out digits score. Consistency: the RMS pixel distance (model space, [-1, 1])
between the K = 10 and the K = 100 sample from the same x_T.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from ddpm_studio.core.labs.recipe import Budget, LabRecipe
from ddpm_studio.core.labs.rules import Below

if TYPE_CHECKING:
    from ddpm_studio.core.labs.context import LabContext, LabProgress

STEP_COUNTS = (10, 20)
#: The step counts of the consistency picture and measure (its first and last are compared).
CONSISTENCY_STEPS = (10, 20, 50, 100)


def experiment(ctx: LabContext) -> Generator[LabProgress, None, None]:
    import torch

    from ddpm_studio.core.io.chart import error_bar_chart
    from ddpm_studio.core.io.export import image_grid, side_by_side, upscale_nearest
    from ddpm_studio.core.labs.common import SAMPLE_SEED_OFFSET, lab_config, load_data, quality_ratio

    data, steps = ctx.setting("data"), ctx.setting("steps")
    ctx.plan(len(ctx.seeds) * 1.6)
    pictures = []
    for seed in ctx.seeds:
        dataset = load_data(ctx, data, seed)
        yield ctx.progress(f"seed {seed}: the feature network (once per data split)")
        scorer = ctx.scorer(dataset, seed)
        config = lab_config(ctx, data, dataset.kind, steps, seed)
        run = yield from ctx.train(f"model-seed{seed}", config, dataset, f"seed {seed}: train")
        pipeline = run.pipeline
        if pipeline is None:
            ctx.notes.append(f"seed {seed} diverged at step {run.diverged_at}: its samples score inf")
            for name in [f"eta{e}@{k}" for e in (0, 1) for k in STEP_COUNTS] + ["drift eta0", "drift eta1"]:
                ctx.record(name, seed, float("inf"))
            ctx.finish(0.6)
            continue
        count = scorer.sample_count
        generator = torch.Generator().manual_seed(SAMPLE_SEED_OFFSET + seed)
        noise = torch.randn((count, *pipeline.data_shape), generator=generator).to(pipeline.device)
        finals: dict[tuple[int, int], torch.Tensor] = {}
        for eta in (0, 1):
            for k in sorted(set(STEP_COUNTS) | set(CONSISTENCY_STEPS)):
                yield ctx.progress(f"seed {seed}: sample DDIM η = {eta}, {k} steps")
                with torch.no_grad():
                    finals[eta, k] = pipeline.sample_final(count, num_steps=k, method="ddim", eta=float(eta),
                                                           noise=noise, seed=SAMPLE_SEED_OFFSET + seed)
                if k in STEP_COUNTS:
                    ctx.record(f"eta{eta}@{k}", seed, quality_ratio(scorer, finals[eta, k]))
            first, last = CONSISTENCY_STEPS[0], CONSISTENCY_STEPS[-1]
            drift = (finals[eta, first] - finals[eta, last]).pow(2).mean().sqrt()
            ctx.record(f"drift eta{eta}", seed, float(drift))
        if seed == ctx.seeds[0]:
            for eta in (0, 1):
                rows = torch.cat([finals[eta, k][:8] for k in CONSISTENCY_STEPS])
                pictures.append(upscale_nearest(image_grid(pipeline.to_uint8(rows), ncols=8), 3))
        ctx.finish(0.6)
    series = {f"η = {eta}": [ctx.point(f"eta{eta}@{k}") for k in STEP_COUNTS] for eta in (0, 1)}
    ctx.save_plot("quality.png", error_bar_chart(
        [f"{k} steps" for k in STEP_COUNTS], series,
        f"DDIM η = 0 against η = 1: {data}, {steps} training steps, {len(ctx.seeds)} seeds",
        "Fréchet (features) / floor, lower is better", lines=True, reference=(1.0, "held-out digits")))
    if pictures:
        ctx.save_plot("consistency.png", side_by_side(pictures))
        ctx.notes.append(f"consistency.png: seed {ctx.seeds[0]}, the same 8 x_T in every row, rows "
                         f"{', '.join(map(str, CONSISTENCY_STEPS))} steps; left η = 0, right η = 1")


RECIPE = LabRecipe(
    name="song2021-ddim",
    paper="Song, Meng & Ermon 2021, Denoising Diffusion Implicit Models",
    source="Table 1 and §5.2 (consistency)",
    claim="With 10-20 sampling steps the deterministic sampler (η = 0) beats the ancestral-like one (η = 1), and "
    "η = 0 is consistent: the same x_T gives nearly the same sample with different step counts.",
    paper_numbers="CIFAR-10 FID, 10 steps: η = 0 13.36 against η = 1 41.07; 20 steps: 6.84 against 18.36 (Table 1); "
    "Figure 5: samples from one x_T with 10 to 1000 steps share their high-level features.",
    metric="Fréchet distance of a digit feature network's features, divided by what held-out digits score (lower "
    "is better); drift: RMS distance in [-1, 1] pixels between the 10-step and the 100-step sample of one x_T.",
    rules=(
        Below("η = 0 beats η = 1 at 10 steps", "eta0@10", "eta1@10"),
        Below("η = 0 beats η = 1 at 20 steps", "eta0@20", "eta1@20"),
        Below("η = 0 is consistent across step counts (less drift than η = 1)", "drift eta0", "drift eta1"),
    ),
    quick=Budget(seeds=(0, 1, 2), settings={"data": "digits", "image_size": 8, "steps": 400}, minutes=6.0),
    full=Budget(seeds=(0, 1, 2, 3, 4), settings={"data": "digits", "image_size": 16, "steps": 2000},
                minutes=120.0),
    experiment=experiment,
    notes=("On a 2-D ring the claim is not meaningful at this scale: with the default settings ancestral sampling at "
           "10 steps already scores as well as DDIM by sliced Wasserstein, so the lab uses digits.",),
)
