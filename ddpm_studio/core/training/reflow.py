"""Reflow (Liu et al. 2022, "Flow Straight and Fast", Sec. 2.3; MATH.md M56): couplings drawn from a trained flow.

A trained flow's ODE pairs each noise x_1 with the sample x_0 it carries it to. A new flow trained on the straight
interpolations (1 - t) x_0 + t x_1 of those pairs (instead of independent noise) has paths that cross less, so
they are straighter (M55) and fewer Euler steps follow them. The couplings are drawn in model space and stored in
the new run's folder (``couplings.npz``, arrays ``x1`` and ``x0``), so the run resumes and can be followed like
any other; the trainer reads them when ``process.couplings`` names the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ddpm_studio.core.io.export import save_npz
from ddpm_studio.core.io.runs import RunError

#: The file a reflow run keeps its couplings in, inside the run folder.
COUPLINGS_NAME = "couplings.npz"
#: How the couplings' endpoints are drawn: Heun at 100 evaluations, within 1e-3 of the exact flow map of Gaussian
#: data (tests/core/test_flow_samplers.py), so the pairs are the model's, not a coarse solver's.
COUPLING_METHOD, COUPLING_STEPS = "heun", 100
#: Pairs per draw, to bound the memory of one batch of ODE solves.
COUPLING_BATCH = 4096


def draw_couplings(pipeline, num_pairs: int, seed: int = 0, num_steps: int = COUPLING_STEPS,
                   progress=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x1, x0): ``num_pairs`` noises and the samples a flow pipeline's ODE carries them to, CPU float32, model
    space, each (num_pairs, *data_shape) (M56). ``progress(done, total)`` is called after each batch."""
    if not pipeline.is_flow:
        raise RunError("reflow needs a flow run (trained with --process flow); this run is DDPM")
    if isinstance(num_pairs, bool) or not isinstance(num_pairs, int) or num_pairs < 1:
        raise ValueError(f"reflow needs a positive number of pairs, got {num_pairs!r}")
    generator = torch.Generator(device=pipeline.device).manual_seed(int(seed))
    noises, samples = [], []
    done = 0
    while done < num_pairs:
        count = min(COUPLING_BATCH, num_pairs - done)
        x1 = torch.randn((count, *pipeline.data_shape), generator=generator, device=pipeline.device)
        x0 = pipeline.sample_final(count, num_steps=num_steps, method=COUPLING_METHOD, noise=x1, seed=None)
        noises.append(x1.detach().cpu().float())
        samples.append(x0.float())
        done += count
        if progress is not None:
            progress(done, num_pairs)
    return torch.cat(noises), torch.cat(samples)


def save_couplings(run_dir: str | os.PathLike[str], x1: torch.Tensor, x0: torch.Tensor) -> Path:
    """Write the pairs into ``run_dir/couplings.npz`` atomically; returns the path."""
    return save_npz(Path(run_dir) / COUPLINGS_NAME, x1=x1.numpy().astype(np.float32),
                    x0=x0.numpy().astype(np.float32))


def load_couplings(path: str | os.PathLike[str], data_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(x1, x0) from a couplings file, checked against the run's data shape (RunError naming what is wrong).

    Read with ``allow_pickle=False``: a file never runs code.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            x1, x0 = archive["x1"], archive["x0"]
    except FileNotFoundError:
        raise RunError(f"{path}: the reflow run's couplings are missing (the run folder lost {COUPLINGS_NAME})") \
            from None
    except (OSError, KeyError, ValueError) as exc:
        raise RunError(f"{path}: not a couplings file with arrays x1 and x0 ({exc})") from None
    if x1.shape != x0.shape or tuple(x1.shape[1:]) != tuple(data_shape) or x1.shape[0] < 1:
        raise RunError(f"{path}: couplings of shape {x1.shape} / {x0.shape} do not fit data of shape {data_shape}")
    if not (np.isfinite(x1).all() and np.isfinite(x0).all()):
        raise RunError(f"{path}: the couplings hold NaN or inf values")
    return torch.from_numpy(x1.astype(np.float32)), torch.from_numpy(x0.astype(np.float32))
