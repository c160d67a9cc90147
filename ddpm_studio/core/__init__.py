"""The Qt-free numeric core: processes, models, data, training, sampling, analysis, scores and run folders.

The rooms (docs/ARCHITECTURE.md has the table of what each may import):

- ``config.py``, ``choices.py``, ``device.py``, ``resources.py``: the ground floor every layer reads;
- ``process/``: noise schedules, the Gaussian diffusion process, its objectives, losses and guidance;
- ``models/``, ``data/``: networks and data sets;
- ``sampling/``: samplers as generators of NFE-counted steps, their timestep grids, trajectory files;
- ``pipeline.py``: a trained model ready to sample (process + network + the data's coordinates);
- ``training/``: the trainer, EMA, checkpoints, resume, early stop;
- ``analysis/``: the bound, the ideal denoiser, the learned field, memorization, likelihood, the race, sweeps;
- ``scores/``: sample-quality lenses and their metrics;
- ``compare/``: Ho et al.'s Table 2 as a comparison of settings;
- ``io/``: run folders, exports, previews, captions, TensorBoard;
- ``app/``: the Session the studio observes, opening and saving runs, following a folder, diffusers import.

Three modules moved into rooms are also importable by the paths the first README and users' notebooks used
(``ddpm_studio.core.schedule``, ``ddpm_studio.core.diffusion``, ``ddpm_studio.core.memorization``): the finder
below hands out the moved module itself under its old name, so there is no second copy and no shim file.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: Old public module paths and the module each now is.
OLD_PATHS = {
    "ddpm_studio.core.schedule": "ddpm_studio.core.process.schedule",
    "ddpm_studio.core.diffusion": "ddpm_studio.core.process.diffusion",
    "ddpm_studio.core.memorization": "ddpm_studio.core.analysis.memorization",
}


class _OldPathLoader(importlib.abc.Loader):
    """Loads an old path as the module it moved to (the same object: ``sys.modules`` holds it under both names)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec):  # noqa: ANN001 - importlib's protocol
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:  # noqa: ANN001 - already executed under its new name
        return None


class _OldPathFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 - importlib's protocol
        if fullname not in OLD_PATHS:
            return None
        return importlib.util.spec_from_loader(fullname, _OldPathLoader(OLD_PATHS[fullname]))


if not any(isinstance(finder, _OldPathFinder) for finder in sys.meta_path):
    sys.meta_path.append(_OldPathFinder())
