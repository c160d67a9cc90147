"""DDPM Studio: train denoising diffusion probabilistic models and watch the reverse process.

The public surface a notebook imports, loaded lazily (PEP 562) so that ``import ddpm_studio`` imports no torch,
numpy or Qt until a name is used (``ddpm-studio --help`` stays fast)::

    import ddpm_studio as ds

    betas = ds.make_betas("cosine", 1000)                 # MATH.md M1-M3
    process = ds.GaussianDiffusion(betas)                 # the forward process and its posterior, M4-M6
    steps = ds.sample(process, model, (16, 2), num_steps=20, method="dpmpp_2m")  # one record per evaluation
    x0 = ds.run_to_end(steps).x
    trainer = ds.Trainer(ds.RunConfig())                  # the 2-D "moons" defaults
    flow = ds.RectifiedFlow()                             # flow matching on x_t = (1 - t) x_0 + t eps, M47-M51
    x0 = ds.run_to_end(ds.sample(flow, velocity_model, (16, 2), num_steps=20, method="euler")).x

The numeric core lives in :mod:`ddpm_studio.core` (no Qt); the desktop app in :mod:`ddpm_studio.gui`; the command
line in :mod:`ddpm_studio.cli`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it. (No ``if TYPE_CHECKING:`` imports of them here: the package is imported
#: by every module that reads ``__version__``, so such imports would draw arrows from the low layers to the high.)
_PUBLIC = {
    "GaussianDiffusion": "ddpm_studio.core.process.diffusion",
    "RectifiedFlow": "ddpm_studio.core.process.flow",
    "GaussianFlow": "ddpm_studio.core.process.flow",
    "LinearPath": "ddpm_studio.core.process.paths",
    "CosineVPPath": "ddpm_studio.core.process.paths",
    "make_betas": "ddpm_studio.core.process.schedule",
    "sample": "ddpm_studio.core.sampling",
    "run_to_end": "ddpm_studio.core.sampling",
    "RunConfig": "ddpm_studio.core.config",
    "Trainer": "ddpm_studio.core.training.trainer",
    "DiffusionPipeline": "ddpm_studio.core.pipeline",
    "load_pipeline": "ddpm_studio.core.pipeline",
    "load_dataset": "ddpm_studio.core.data",
    "build_model": "ddpm_studio.core.models",
}

__all__ = [
    "CosineVPPath",
    "DiffusionPipeline",
    "GaussianDiffusion",
    "GaussianFlow",
    "LinearPath",
    "RectifiedFlow",
    "RunConfig",
    "Trainer",
    "__version__",
    "build_model",
    "load_dataset",
    "load_pipeline",
    "make_betas",
    "run_to_end",
    "sample",
]

def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'ddpm_studio' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
