"""The wheel holds every subpackage: pyproject.toml lists its packages by hand, so a new folder must be added there."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the list is the same on 3.10

ROOT = Path(__file__).resolve().parents[2]


def listed_packages() -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return set(tomllib.load(handle)["tool"]["setuptools"]["packages"])


def source_packages() -> set[str]:
    """Dotted names of every folder under ddpm_studio/ (itself included) that holds an __init__.py."""
    return {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "ddpm_studio").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def test_every_package_folder_is_listed_in_pyproject():
    missing = source_packages() - listed_packages()
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_every_listed_package_exists():
    """A stale name (a package moved or removed) makes the wheel build fail; resources/ is mapped by package-dir."""
    stale = {name for name in listed_packages() - {"ddpm_studio.resources"}
             if not (ROOT.joinpath(*name.split(".")) / "__init__.py").is_file()}
    assert not stale, stale
    assert {"ddpm_studio.cli", "ddpm_studio.core.compare", "ddpm_studio.core.scores"} <= source_packages()
