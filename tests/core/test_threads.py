"""The CLI's torch threads: the cores other jobs leave free (or --threads), said in the run's first line."""

from __future__ import annotations

import torch

from ddpm_studio.cli import run_cli
from ddpm_studio.core import threads
from ddpm_studio.core.threads import free_cores


def test_free_cores_are_the_usable_cores_less_the_load():
    assert free_cores(cores=8, load=3.4).threads == 5
    assert free_cores(cores=8, load=3.6).threads == 4
    assert free_cores(cores=2, load=7.0).threads == 1  # a busy machine still gets one
    assert free_cores(cores=4, load=0.0).threads == 4
    assert free_cores(cores=8, load=3.4).describe() == "5 CPU threads (the free cores: 8 usable, load 3.4)"


def test_an_unknown_load_leaves_every_core(monkeypatch):
    monkeypatch.setattr(threads, "load_average", lambda: None)
    assert free_cores(cores=6).describe() == "6 CPU threads (6 usable cores, load unknown)"


def test_an_image_run_takes_the_free_cores_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads, "load_average", lambda: 1.2)
    before = torch.get_num_threads()
    argv = ["train", "--data", "digits", "--steps", "1", "--T", "10", "--batch-size", "4", "--image-size", "8",
            "--quiet", "--out", str(tmp_path / "run")]
    assert run_cli(argv) == 0
    assert "| 3 CPU threads (the free cores: 4 usable, load 1.2)" in capsys.readouterr().err
    assert torch.get_num_threads() == before  # given back: run_cli may be called from a notebook


def test_points_take_one_thread_and_threads_overrides(tmp_path, capsys):
    base = ["train", "--data", "moons", "--steps", "1", "--T", "10", "--quiet"]
    assert run_cli([*base, "--out", str(tmp_path / "a")]) == 0
    assert "| 1 CPU thread (2-D points train fastest on one; --threads to change)" in capsys.readouterr().err
    assert run_cli([*base, "--threads", "2", "--out", str(tmp_path / "b")]) == 0
    assert "| 2 CPU threads (--threads)" in capsys.readouterr().err
