"""Lab ``flow-vs-ddpm``: Lipman et al. 2023 and Liu et al. 2022: flow matching trains as well as DDPM on the same
data; rectified flow's paths are straighter, and after one reflow 1-2 Euler steps suffice.

Per seed: a DDPM run and a rectified-flow run (linear path, velocity target, M47-M51) with the same network, data,
budget and learning rate; both sampled with their own default sampler at 100 NFE (ancestral M20, Euler M50) and
scored by sliced Wasserstein as a ratio to real data (M39). Straightness S (M55) of the flow's Euler paths and of
DDPM's probability-flow ODE paths on the same linear clock. Then a reflow (M56): couplings drawn with the flow's
ODE, a run trained on them from the flow's weights, and both flows sampled with 1 and 2 Euler steps.
"""

from __future__ import annotations

from collections.abc import Generator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ddpm_studio.core.labs.recipe import Budget, LabRecipe
from ddpm_studio.core.labs.rules import AtMost, Below

if TYPE_CHECKING:
    from ddpm_studio.core.labs.context import LabContext, LabProgress

QUALITY_NFE = 100
FEW_STEPS = (1, 2)
#: "Suffice" in numbers: sliced Wasserstein at most twice what real data scores (the "good" bar of RESULTS.md's
#: time-to-quality tables).
SUFFICE_RATIO = 2.0


def _write_couplings(run_dir: Path, parent, pairs: int, seed: int) -> None:
    """Draw ``pairs`` couplings (M56) with the parent flow's ODE and put them where the reflow run reads them.

    Called by :meth:`LabContext.train` only when the reflow run trains afresh: a reused run keeps its own."""
    import torch

    from ddpm_studio.core.training.reflow import draw_couplings, save_couplings

    with torch.no_grad():
        x1, x0 = draw_couplings(parent, pairs, seed=seed)
    save_couplings(run_dir, x1, x0)


def experiment(ctx: LabContext) -> Generator[LabProgress, None, None]:
    import torch

    from ddpm_studio.core.analysis.straightness import run_straightness
    from ddpm_studio.core.io.chart import error_bar_chart
    from ddpm_studio.core.io.export import side_by_side
    from ddpm_studio.core.labs.common import final_samples, lab_config, load_data, quality_ratio
    from ddpm_studio.core.scores.far_off import thumbnail
    from ddpm_studio.core.training.reflow import COUPLINGS_NAME

    data, steps = ctx.setting("data"), ctx.setting("steps")
    pairs, reflow_steps = ctx.setting("pairs"), ctx.setting("reflow_steps")
    ctx.plan(len(ctx.seeds) * 4.0)
    pictures = []
    for seed in ctx.seeds:
        dataset = load_data(ctx, data, seed)
        scorer = ctx.scorer(dataset, seed)
        pipelines = {}
        for process in ("ddpm", "flow"):
            config = lab_config(ctx, data, dataset.kind, steps, seed, process=process)
            run = yield from ctx.train(f"{process}-seed{seed}", config, dataset, f"seed {seed}: train {process}")
            if run.pipeline is None:
                raise ValueError(f"the {process} run diverged at step {run.diverged_at} (seed {seed})")
            pipelines[process] = run
            yield ctx.progress(f"seed {seed}: {process} samples and straightness")
            samples = final_samples(run.pipeline, scorer.sample_count, seed, num_steps=QUALITY_NFE)
            ctx.record(f"{process}@{QUALITY_NFE}", seed, quality_ratio(scorer, samples))
            with torch.no_grad():
                ctx.record(f"straightness {process}", seed, run_straightness(run.pipeline, seed=seed).value)
            ctx.finish(0.5)
        flow = pipelines["flow"]
        config = lab_config(ctx, data, dataset.kind, reflow_steps, seed, process="flow")
        config.process.couplings = COUPLINGS_NAME
        config.process.reflow_of = str(flow.run_dir.resolve())
        reflow = yield from ctx.train(
            f"reflow-seed{seed}", config, dataset, f"seed {seed}: {pairs} couplings, then reflow",
            prepare=partial(_write_couplings, parent=flow.pipeline, pairs=pairs, seed=seed),
            start_from=flow.pipeline)
        if reflow.pipeline is None:
            raise ValueError(f"the reflow run diverged at step {reflow.diverged_at} (seed {seed})")
        with torch.no_grad():
            ctx.record("straightness reflow", seed, run_straightness(reflow.pipeline, seed=seed).value)
        for name, run in (("flow", flow), ("reflow", reflow)):
            for k in FEW_STEPS:
                samples = final_samples(run.pipeline, scorer.sample_count, seed, num_steps=k, method="euler")
                ctx.record(f"{name} euler@{k}", seed, quality_ratio(scorer, samples))
                if seed == ctx.seeds[0] and k == 2 and dataset.kind == "points":
                    pictures.append(thumbnail(run.pipeline, samples, dataset.heldout, None))
        ctx.finish(1.0)
    quality = [f"ddpm@{QUALITY_NFE}", f"flow@{QUALITY_NFE}"] + [f"{n} euler@{k}" for n in ("flow", "reflow")
                                                                  for k in FEW_STEPS]
    ctx.save_plot("quality.png", error_bar_chart(
        quality, {"SW / floor": [ctx.point(q) for q in quality]},
        f"Flow matching and DDPM: {data}, {steps} steps (+{reflow_steps} reflow), {len(ctx.seeds)} seeds",
        "sliced Wasserstein / floor (lower is better)", reference=(1.0, "real data")))
    kinds = ("ddpm", "flow", "reflow")
    ctx.save_plot("straightness.png", error_bar_chart(
        list(kinds), {"S (M55)": [ctx.point(f"straightness {k}") for k in kinds]},
        "Straightness of the sampling paths (0: straight lines)", "S, lower is straighter"))
    if pictures:
        ctx.save_plot("two_steps.png", side_by_side(pictures))
        ctx.notes.append(f"two_steps.png: seed {ctx.seeds[0]}, 2 Euler steps, left the flow, right after reflow")


RECIPE = LabRecipe(
    name="flow-vs-ddpm",
    paper="Lipman et al. 2023, Flow Matching for Generative Modeling; Liu, Gong & Liu 2022, Flow Straight and "
    "Fast (rectified flow)",
    source="Lipman et al. Table 1; Liu et al. Figures 1 and 5, Table 1 (reflow)",
    claim="Flow matching trains as well as DDPM on the same data; rectified flow's paths are straighter, and after "
    "reflow 1-2 steps suffice.",
    paper_numbers="CIFAR-10 FID: flow matching (OT path) 6.35 against DDPM 7.48 at comparable NFE (Lipman et al.); "
    "2-rectified flow with one Euler step FID 12.21 against 378 for the 1-rectified flow, 4.85 after distillation "
    "(Liu et al.).",
    metric="sliced Wasserstein to held-out points divided by what real data scores (lower is better); straightness "
    "S (M55, 0 for straight paths).",
    rules=(
        Below("flow matching trains as well as DDPM (within 10 %)", f"flow@{QUALITY_NFE}", f"ddpm@{QUALITY_NFE}",
              or_equal=True, min_effect=0.1),
        Below("rectified flow's paths are straighter than DDPM's", "straightness flow", "straightness ddpm"),
        Below("reflow makes 2 Euler steps better", "reflow euler@2", "flow euler@2"),
        AtMost(f"after reflow 2 Euler steps suffice (within {SUFFICE_RATIO:g}× real data)", "reflow euler@2",
               SUFFICE_RATIO),
    ),
    quick=Budget(seeds=(0, 1, 2), settings={"data": "gaussians8", "steps": 2000, "pairs": 4096,
                                            "reflow_steps": 1500}, minutes=6.0),
    full=Budget(seeds=(0, 1, 2, 3, 4), settings={"data": "gaussians8", "steps": 4500, "pairs": 16384,
                                                 "reflow_steps": 4500}, minutes=25.0),
    experiment=experiment,
    notes=("Both processes share the network, data, budget and learning rate (the studio's 2-D defaults), and each "
           "samples with its own default sampler; DDPM keeps its low-noise timestep skew (M40), which has no flow "
           "meaning.",),
)
