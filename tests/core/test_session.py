"""The app model without Qt: the continue rule, what Continue / New / Open change, the data cache, events."""

from __future__ import annotations

import sys

import pytest
import torch

from ddpm_studio.cli import run_cli
from ddpm_studio.core.analysis.forward_view import forward_source, forward_state
from ddpm_studio.core.app.session import DATA_CACHE_SIZE, Session, data_key, open_run, resume_conflicts, save_run
from ddpm_studio.core.config import default_config
from ddpm_studio.core.data import load_dataset
from ddpm_studio.core.io.runs import RunError
from ddpm_studio.core.training.trainer import Trainer


def tiny_config(steps: int = 6):
    config = default_config("moons", "points")
    config.data.num_points = 256
    config.diffusion.num_timesteps = 30
    config.train.steps = steps
    config.train.batch_size = 32
    config.train.log_every = 2
    config.train.preview_every = 0
    config.train.checkpoint_every = 0
    return config


@pytest.fixture(scope="module")
def trained():
    trainer = Trainer(tiny_config())
    for _ in trainer.train():
        pass
    return trainer


def test_the_session_module_does_not_import_qt():
    import subprocess

    code = ("import sys; import ddpm_studio.core.app.session, ddpm_studio.core.analysis.forward_view; "
            "sys.exit(any(m.startswith(('PySide6', 'superqt', 'ddpm_studio.gui')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_resume_conflicts_names_each_changed_field_and_allows_the_continuable_ones():
    saved = tiny_config()
    new = tiny_config(steps=500)
    new.train.log_every, new.train.preview_every, new.train.device = 7, 3, "cpu"
    assert resume_conflicts(saved, new) == []
    new.train.warmup, new.train.lr, new.diffusion.num_timesteps = 5, 0.5, 40
    assert resume_conflicts(saved, new) == [
        "diffusion.num_timesteps (30 -> 40)", "train.lr (0.002 -> 0.5)", "train.warmup (100 -> 5)"]
    # a checkpoint's JSON form from an older version, lacking a field, counts as unchanged there
    raw = saved.to_dict()
    del raw["train"]["snr_gamma"]
    raw["model"]["preset"] = "other"
    assert resume_conflicts(raw, tiny_config()) == [f"model.preset ('other' -> {tiny_config().model.preset!r})"]


def test_can_continue_follows_the_one_rule(trained):
    session = Session()
    assert not session.can_continue(tiny_config(steps=100))  # nothing trained
    session.adopt_trainer(trained)
    assert session.can_continue(tiny_config(steps=100))
    assert not session.can_continue(tiny_config(steps=trained.step))  # no steps left
    changed = tiny_config(steps=100)
    changed.train.ema_decay = 0.9
    assert not session.can_continue(changed)


def test_trainer_refuses_to_resume_with_a_changed_warmup(trained, tmp_path):
    save_run(trained, tmp_path / "run", [])
    config = tiny_config(steps=10)
    config.train.warmup = 1
    with pytest.raises(RunError, match=r"train.warmup \(100 -> 1\)"):
        Trainer(config, run_dir=tmp_path / "run", resume=True)
    assert Trainer(tiny_config(steps=10), run_dir=tmp_path / "run", resume=True).step == trained.step


def test_train_resume_refuses_flags_that_change_the_run(trained, tmp_path, capsys):
    save_run(trained, tmp_path / "run", [])
    argv = ["train", "--out", str(tmp_path / "run"), "--resume", "--steps", "8", "--quiet"]
    assert run_cli([*argv, "--warmup", "3"]) == 2
    err = capsys.readouterr().err
    assert "train.warmup (100 -> 3)" in err and len(err.strip().splitlines()) == 1
    assert run_cli([*argv, "--ema-decay", "0.5"]) == 2
    assert run_cli(argv) == 0


def test_events_and_what_new_and_open_forget(trained, tmp_path):
    session = Session()
    seen: list[str] = []
    details: list = []
    session.subscribe(lambda what, detail=None: (seen.append(what), details.append(detail)))
    session.start_new(trained.config)
    assert session.name == "moons (unsaved)"
    session.adopt_trainer(trained)
    session.add_records([{"step": 2, "loss": 1.0}])
    session.set_samples("samples")
    session.set_trajectory("store")
    assert seen == ["records reset", "model", "name", "model", "records", "samples", "trajectory"]
    assert details[seen.index("records")] == [{"step": 2, "loss": 1.0}]  # an observer gets what was appended
    assert session.has_model and session.step == trained.step and session.config is trained.config
    assert session.cached_data(data_key(trained.config)) is trained.dataset

    save_run(trained, tmp_path / "run", session.records)
    session.discard()
    assert (session.trainer, session.records, session.samples, session.trajectory) == (None, [], None, None)
    assert session.cached_data(data_key(trained.config)) is trained.dataset  # the data cache outlives a run
    seen.clear()
    session.adopt_opened(open_run(str(tmp_path / "run")))
    assert session.name == "run" and session.trainer is not None and session.records == [{"step": 2, "loss": 1.0}]
    assert seen[-2:] == ["records reset", "model"]  # observers re-read the opened run's whole history
    session.reset_records()
    assert session.records == [] and seen[-1] == "records reset"


def test_the_data_cache_keeps_the_newest_few():
    session = Session()
    data = load_dataset("moons", num_points=64)
    for n in range(DATA_CACHE_SIZE + 2):
        session.remember_data(("moons", n), data)
    assert session.cached_data(("moons", 0)) is None and session.cached_data(("moons", 1)) is None
    assert session.cached_data(("moons", DATA_CACHE_SIZE + 1)) is data


def test_forward_state_is_the_closed_form_m4(trained):
    diffusion = trained.diffusion
    x0, noise = forward_source(trained.dataset, trained.data_shape, 5, seed=0)
    abar = float(diffusion.alphas_cumprod[7])
    expected = abar ** 0.5 * x0 + (1 - abar) ** 0.5 * noise
    torch.testing.assert_close(forward_state(diffusion, x0, noise, 7), expected)
    assert forward_state(diffusion, x0, noise, -1) is x0
    assert forward_source(None, trained.data_shape, 5, 0) is None
