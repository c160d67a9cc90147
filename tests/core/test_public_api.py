"""The public surface: ``import ddpm_studio as ds`` gives the names a notebook needs, lazily, and the old module
paths of the first README still import the moved modules themselves (no second copy)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest
import torch

import ddpm_studio as ds


def test_importing_the_package_imports_nothing_heavy():
    code = ("import sys, ddpm_studio; heavy = [m for m in ('torch', 'numpy', 'PySide6') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import ddpm_studio pulled in {out}"


@pytest.mark.parametrize("name", ["GaussianDiffusion", "make_betas", "sample", "RunConfig", "Trainer"])
def test_the_issue_names_are_public(name):
    assert name in ds.__all__ and name in dir(ds)
    assert getattr(ds, name) is not None


def test_every_public_name_loads_from_its_module():
    assert set(ds.__all__) == {"__version__", *ds._PUBLIC}  # the list a reader sees is the table that loads
    for name in ds._PUBLIC:
        assert getattr(ds, name).__name__ == name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        ds.no_such_thing  # noqa: B018


def test_the_short_names_work_together():
    """A sampler run through the public names: with an eps model that predicts zero noise, x0_hat = x_t / sqrt(abar_t)
    (M9) and DDIM with eta 0 (M22) only rescales, x_s = sqrt(abar_s) x0_hat, so x_0 = x_T / sqrt(abar_T)."""
    betas = ds.make_betas("linear", 50)
    process = ds.GaussianDiffusion(betas, clip_x0=False)
    noise = torch.randn(4, 2, dtype=torch.float64)
    steps = ds.sample(process, lambda x, t: torch.zeros_like(x), (4, 2), num_steps=50, method="ddim", noise=noise)
    final = ds.run_to_end(steps)
    abar = torch.cumprod(1 - betas.double(), 0)
    assert final.abar == 1.0
    torch.testing.assert_close(final.x.double(), noise / abar[-1].sqrt(), rtol=1e-5, atol=1e-6)
    assert isinstance(ds.RunConfig(), ds.RunConfig)


@pytest.mark.parametrize(("old", "new", "name"), [
    ("ddpm_studio.core.schedule", "ddpm_studio.core.process.schedule", "make_betas"),
    ("ddpm_studio.core.diffusion", "ddpm_studio.core.process.diffusion", "GaussianDiffusion"),
    ("ddpm_studio.core.memorization", "ddpm_studio.core.analysis.memorization", "copy_rate"),
    ("ddpm_studio.core.sampling", "ddpm_studio.core.sampling", "sample"),
])
def test_old_paths_import_the_moved_modules(old, new, name):
    assert importlib.import_module(old) is importlib.import_module(new)
    namespace: dict = {}
    exec(f"from {old} import {name}", namespace)  # the statement users' notebooks have
    assert namespace[name] is getattr(importlib.import_module(new), name)
