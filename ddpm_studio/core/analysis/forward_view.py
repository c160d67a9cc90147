"""The forward comparison the trajectory view shows beside the reverse process: real data noised to the same level.

For every state x_t of a reverse run, the same number of real examples are noised to that state's timestep with
the forward process, x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (MATH.md M4), so a student sees what the
model's states should look like at that noise level.
"""

from __future__ import annotations

import torch

from ddpm_studio.core.data import DataSet
from ddpm_studio.core.process.diffusion import GaussianDiffusion
from ddpm_studio.core.process.flow import FLOW_TICKS, GaussianFlow


def forward_source(
    dataset: DataSet | None, data_shape: tuple[int, ...], num_samples: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(x_0, eps), each (num_samples, *data_shape) in model space: held-out data first, then training data.

    None when there is no data or it does not have the model's shape. ``seed + 1`` draws both, so one sampling
    seed always shows the same real examples.
    """
    if dataset is None or tuple(dataset.data_shape) != tuple(data_shape):
        return None
    heldout = dataset.heldout
    pool = torch.cat([heldout, dataset.train]) if heldout.shape[0] < num_samples else heldout
    generator = torch.Generator().manual_seed(seed + 1)
    index = torch.randperm(pool.shape[0], generator=generator)[:num_samples]
    if index.numel() < num_samples:  # a tiny data set: repeat it
        index = index.repeat(num_samples // index.numel() + 1)[:num_samples]
    x0 = pool[index].float()
    return x0, torch.randn(x0.shape, generator=generator)


def forward_state(diffusion: GaussianDiffusion | GaussianFlow, x0: torch.Tensor, noise: torch.Tensor,
                  t_next: int) -> torch.Tensor:
    """x_0 noised to the 0-based trained timestep ``t_next`` (M4), shape like x0; x0 itself when t_next < 0.

    ``t_next`` is a sampler record's :attr:`~ddpm_studio.core.sampling.steps.SampleStep.t_next`: the timestep
    whose noise level the reverse state sits at (-1 once it is x_0). For a flow it is the state's time on the
    records' clock minus one: t = (t_next + 1) / FLOW_TICKS on the flow's path (M47).
    """
    if t_next < 0:
        return x0
    if isinstance(diffusion, GaussianFlow):
        time = torch.full((x0.shape[0],), (t_next + 1) / FLOW_TICKS, dtype=x0.dtype)
        return diffusion.q_sample(x0, time, noise)
    t = torch.full((x0.shape[0],), t_next, dtype=torch.long)
    return diffusion.q_sample(x0, t, noise)
