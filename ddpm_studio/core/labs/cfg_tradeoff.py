"""Lab ``cfg-tradeoff``: Ho & Salimans 2022, classifier-free guidance trades diversity for fidelity.

One class-conditional model per seed (label dropout trains the unconditional branch, M34) on a labelled 2-D set;
for each guidance scale w, samples of every class from the same noise. Per class, improved precision (fidelity)
and recall (diversity) against as many training points of that class (M63), averaged over the classes; and the
share of samples a 1-nearest-neighbour classifier reads as the requested class.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from ddpm_studio.core.labs.recipe import Budget, LabRecipe
from ddpm_studio.core.labs.rules import Below

if TYPE_CHECKING:
    from ddpm_studio.core.labs.context import LabContext, LabProgress

SCALES = (0.0, 1.0, 4.0)


def experiment(ctx: LabContext) -> Generator[LabProgress, None, None]:
    import torch

    from ddpm_studio.core.analysis.guidance_sweep import class_accuracy
    from ddpm_studio.core.io.chart import error_bar_chart
    from ddpm_studio.core.io.export import side_by_side
    from ddpm_studio.core.labs.common import final_samples, lab_config, load_data
    from ddpm_studio.core.process.guidance import class_rows
    from ddpm_studio.core.scores.far_off import thumbnail
    from ddpm_studio.core.scores.precision_recall import precision_recall

    data, steps, per_class = ctx.setting("data"), ctx.setting("steps"), ctx.setting("per_class")
    ctx.plan(len(ctx.seeds) * 1.5)
    pictures = []
    for seed in ctx.seeds:
        dataset = load_data(ctx, data, seed)
        if dataset.labels is None or not dataset.num_classes:
            raise ValueError(f"cfg-tradeoff needs labelled data; {data} has no labels")
        scorer = ctx.scorer(dataset, seed)
        config = lab_config(ctx, data, dataset.kind, steps, seed)
        config.model.num_classes = dataset.num_classes
        config.train.p_uncond = 0.1  # Ho & Salimans' label dropout (they found 0.1-0.2 best)
        run = yield from ctx.train(f"conditional-seed{seed}", config, dataset, f"seed {seed}: train")
        if run.pipeline is None:
            raise ValueError(f"the conditional model diverged at step {run.diverged_at} (seed {seed})")
        num_classes = int(dataset.num_classes)
        labels = class_rows(num_classes, per_class)
        generator = torch.Generator().manual_seed(seed)
        reference = []
        for c in range(num_classes):
            own = dataset.train[dataset.labels == c]  # labels are the training points' classes
            pick = torch.randperm(own.shape[0], generator=generator)[:per_class]
            reference.append(dataset.to_data_space(own[pick]))
        for index, w in enumerate(SCALES):
            yield ctx.progress(f"seed {seed}: sample with guidance w = {w:g}", index, len(SCALES), 0.5)
            samples = final_samples(run.pipeline, labels.shape[0], seed, labels=labels, guidance=w)
            points = dataset.to_data_space(samples)
            pr = [precision_recall(reference[c], points[labels == c]) for c in range(num_classes)]
            ctx.record(f"precision w={w:g}", seed, sum(p for p, _ in pr) / num_classes)
            ctx.record(f"recall w={w:g}", seed, sum(r for _, r in pr) / num_classes)
            ctx.record(f"accuracy w={w:g}", seed, class_accuracy(scorer.predicted_classes(samples), labels))
            if seed == ctx.seeds[0] and dataset.kind == "points":
                pictures.append(thumbnail(run.pipeline, samples, dataset.heldout, None))
        ctx.finish(0.5)
    series = {q: [ctx.point(f"{q} w={w:g}") for w in SCALES]
              for q in ("precision", "recall", "accuracy")}
    ctx.save_plot("tradeoff.png", error_bar_chart(
        [f"w = {w:g}" for w in SCALES], series,
        f"Guidance: {data}, {steps} steps, {len(ctx.seeds)} seeds", "share (higher: more of it)", lines=True))
    if pictures:
        ctx.save_plot("samples.png", side_by_side(pictures))
        ctx.notes.append(f"samples.png: seed {ctx.seeds[0]}, every class from the same noise, left to right "
                         f"w = {', '.join(f'{w:g}' for w in SCALES)}")


RECIPE = LabRecipe(
    name="cfg-tradeoff",
    paper="Ho & Salimans 2022, Classifier-Free Diffusion Guidance",
    source="Figure 4 and Tables 1-2 (FID against Inception score as the guidance strength w grows)",
    claim="Raising the guidance scale trades diversity (recall / coverage) for fidelity (precision / class "
    "confidence).",
    paper_numbers="ImageNet 64×64: from w = 0 to w = 4 the Inception score rises (fidelity) while FID, after its "
    "best near w = 0.1-0.3, grows (diversity lost); the samples of one class become alike.",
    metric="improved precision and recall (k = 3) per class against as many training points of that class, "
    "averaged over classes; class accuracy by 1-nearest-neighbour labels (higher is more).",
    rules=(
        Below("stronger guidance lowers recall (diversity)", "recall w=4", "recall w=0", min_effect=0.02),
        Below("stronger guidance raises precision (fidelity)", "precision w=0", "precision w=4", min_effect=0.02),
    ),
    quick=Budget(seeds=(0, 1, 2), settings={"data": "ring", "steps": 2500, "per_class": 128}, minutes=3.0),
    full=Budget(seeds=(0, 1, 2, 3, 4), settings={"data": "ring", "steps": 4500, "per_class": 256}, minutes=8.0),
    experiment=experiment,
    notes=("2-D points with 8 labelled modes stand in for ImageNet classes; precision and recall are measured in "
           "the data's own coordinates, where no feature network can bias them.",),
)
