"""Run settings from files: a run's ``config.json`` (or a TOML file) read back, ``section.key=value`` overrides
applied to it, and two configs compared key by key.

    raw = read_config_file("runs/a")                    # runs/a/config.json, or a .json / .toml file
    raw = apply_overrides(raw, ["train.steps=40", "train.lr=0.003"])
    config = RunConfig.from_dict(raw)                   # every key and value checked, the bad one named

An override's value is read as JSON where it parses (``40``, ``0.003``, ``true``, ``null``, ``"text"``) and as
the plain string otherwise (``cosine``, ``runs/data.npz``), as k-diffusion's and Hydra's overrides read. Only
keys that the run's sections already have can be set, so a typo is refused instead of silently ignored.

This module sits on the ground floor beside :mod:`.config` (it imports nothing but it and the standard library).
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from ddpm_studio.core.config import ConfigError, RunConfig

#: The file a run folder keeps its settings in (as :mod:`ddpm_studio.core.io.runs` writes it).
CONFIG_NAME = "config.json"

#: Top-level keys of a saved config.json that are not settings.
META_KEYS = ("version", "package_version")


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings in ``path``: a run folder (its config.json), a .json file or a .toml file.

    Raises:
        ConfigError: no such file, unreadable, not JSON / TOML, or not an object of sections; one line naming it.
    """
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / CONFIG_NAME
    if not file.is_file():
        raise ConfigError(f"{file}: no such config file (give a run folder, its config.json or a .toml file)")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    if file.suffix.lower() == ".toml":
        raw = _parse_toml(file, text)
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: a config must be an object of sections (data, model, diffusion, train)")
    return {key: value for key, value in raw.items() if key not in META_KEYS}


def _parse_toml(file: Path, text: str) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: the standard library reads TOML from 3.11 on
        raise ConfigError(f"{file}: reading TOML needs Python 3.11 or later; write the config as JSON") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc})") from None


def parse_override(text: str) -> tuple[str, str, Any]:
    """ "train.steps=40" -> ("train", "steps", 40); the value as JSON where it parses, else the string.

    Raises:
        ConfigError: not of the form section.key=value.
    """
    key, equals, value_text = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not equals or not dot or not section or not name or "." in name:
        raise ConfigError(f"--set {text}: expected section.key=value, e.g. train.steps=40")
    try:
        value = json.loads(value_text)
    except json.JSONDecodeError:
        value = value_text
    return section, name, value


def section_keys() -> dict[str, tuple[str, ...]]:
    """Every section of a run config -> its keys, from the dataclasses (a section added to RunConfig is here too)."""
    sections = {}
    for group in fields(RunConfig):
        sections[group.name] = tuple(f.name for f in fields(group.default_factory()))  # type: ignore[misc]
    return sections


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of ``raw`` with each ``section.key=value`` of ``overrides`` set, in order (a later one wins).

    Raises:
        ConfigError: an override that is malformed, or names a section or key a run config does not have.
    """
    known = section_keys()
    result = {name: dict(value) if isinstance(value, dict) else value for name, value in raw.items()}
    for text in overrides:
        section, name, value = parse_override(text)
        if section not in known:
            raise ConfigError(f"--set {text}: unknown section '{section}' (a run config has "
                              f"{', '.join(known)})")
        if name not in known[section]:
            raise ConfigError(f"--set {text}: unknown key {section}.{name} ({section} has "
                              f"{', '.join(known[section])})")
        target = result.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"--set {text}: the config's '{section}' is not a section of keys")
        target[name] = value
    return result


def config_with_overrides(config: RunConfig, overrides: list[str]) -> RunConfig:
    """``config`` with ``overrides`` applied and everything validated again (the bad key named)."""
    if not overrides:
        return config
    return RunConfig.from_dict(apply_overrides(config.to_dict(), overrides))


def flatten(raw: dict[str, Any]) -> dict[str, Any]:
    """{"train": {"steps": 40}} -> {"train.steps": 40} (top-level values keep their own key)."""
    flat = {}
    for section, values in raw.items():
        if isinstance(values, dict):
            flat.update({f"{section}.{key}": value for key, value in values.items()})
        else:
            flat[section] = values
    return flat


def config_diff(first: dict[str, Any], second: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """The keys whose values differ, as (section.key, first's value, second's value), in sorted key order; a key
    only one side has shows the other side's value as the string "(absent)"."""
    a, b = flatten(first), flatten(second)
    missing = "(absent)"
    return [(key, a.get(key, missing), b.get(key, missing)) for key in sorted(set(a) | set(b))
            if a.get(key, missing) != b.get(key, missing)]
