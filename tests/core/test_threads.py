"""The CLI's torch threads: the cores other jobs leave free (or --threads), said in the run's first line."""

from __future__ import annotations

import pytest
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


def test_the_load_is_what_other_processes_keep_busy_not_this_one(monkeypatch):
    """Busy ticks over the window, less this process's own CPU time: a process that just trained (or a studio
    whose GUI is drawing) does not count itself as load (the 1-minute load average did, for a minute)."""
    jiffies = iter([(1_000, 10_000), (1_000 + 60, 10_040)])  # 0.6 s of busy cores in the window, at 100 ticks/s
    clock = iter([0.0, 0.2])  # 0.2 s of wall time
    own = iter([5.0, 5.2])  # of which this process used 0.2 s
    monkeypatch.setattr(threads, "_cpu_jiffies", lambda: next(jiffies))
    monkeypatch.setattr(threads.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(threads.time, "process_time", lambda: next(own))
    monkeypatch.setattr(threads.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(threads.os, "sysconf", lambda name: 100)
    assert threads.load_average() == pytest.approx(2.0)  # (0.6 - 0.2) s of others' work in 0.2 s: two cores


def test_without_proc_stat_the_load_average_stands_in(monkeypatch):
    monkeypatch.setattr(threads, "_cpu_jiffies", lambda: None)
    monkeypatch.setattr(threads.os, "getloadavg", lambda: (1.5, 1.0, 0.5))
    assert threads.load_average() == 1.5


def test_training_threads_follow_the_kind_and_the_free_cores(monkeypatch):
    from ddpm_studio.core.threads import training_threads

    monkeypatch.setattr(threads, "load_average", lambda: 0.0)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    assert training_threads("points", "cpu").threads == 1
    assert training_threads("points", "cpu", 3).threads == 3  # --threads wins
    assert training_threads("images", "cpu").threads == 4
    assert training_threads("points", "cuda").threads == 4  # off the CPU the point step is the GPU's
