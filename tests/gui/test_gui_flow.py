"""Flow matching in the studio (issue 28): the process combo, a flow run trained, sampled and scrubbed, raced."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

from gui_helpers import make_tiny, sample_and_wait, train_until  # noqa: E402


def choose_flow(window) -> None:
    combo = window.setup.processCombo
    combo.setCurrentIndex(combo.findData("flow"))


def combo_names(combo) -> list[str]:
    return [combo.itemData(i) for i in range(combo.count())]


def test_the_process_combo_swaps_the_settings_and_the_samplers(qtbot, window, messages):
    setup = window.setup
    assert setup.process() == "ddpm" and setup.parameterizationCombo.isVisibleTo(setup)
    choose_flow(window)
    # DDPM's rows give way to the flow's, and the config says flow with DDPM's levers neutral
    assert not setup.parameterizationCombo.isVisibleTo(setup) and not setup.tPowerSpin.isVisibleTo(setup)
    assert setup.flowTargetCombo.isVisibleTo(setup) and setup.timeSamplingCombo.isVisibleTo(setup)
    config = setup.config().validate()
    assert config.is_flow and config.train.t_power == 1.0 and config.train.snr_gamma == 0.0 and setup.valid
    setup.timeSamplingCombo.setCurrentIndex(setup.timeSamplingCombo.findData("logit_normal"))
    assert setup.config().process.time_sampling == "logit_normal"
    assert combo_names(window.trajectory.samplingBar.methodCombo) == ["euler", "heun", "midpoint", "dpmpp_2m",
                                                                     "dpmpp_2m_sde"]
    assert "flow on the" in window.schedule.summaryLabel.text()
    choose_flow_back = setup.processCombo.findData("ddpm")
    setup.processCombo.setCurrentIndex(choose_flow_back)
    assert "ancestral" in combo_names(window.trajectory.samplingBar.methodCombo)
    assert "cosine schedule" in window.schedule.summaryLabel.text() or "schedule" in window.schedule.summaryLabel.text()
    assert messages == []


def test_a_flow_run_trains_samples_and_scrubs_in_the_studio(qtbot, window, messages):
    make_tiny(window, steps=20, preview_every=10)
    choose_flow(window)
    train_until(qtbot, window, 1)
    qtbot.waitUntil(lambda: not window.training, timeout=60_000)
    assert window.session.config.is_flow
    bar = window.trajectory.samplingBar
    bar.methodCombo.setCurrentIndex(bar.methodCombo.findData("heun"))
    sample_and_wait(qtbot, window, steps=6, count=200)
    store = window.store
    # x_1 first, then one frame per evaluation; the clock runs from 1000 ticks (t = 1) down to 0 (the samples)
    assert store.complete and len(store) == 7
    assert store.frame(0).t_state == 1000 and store.frame(len(store) - 1).t_state == 0
    assert store.caption.startswith("flow, Heun, 6 steps")
    # the slider scrubs the flow's trajectory as it does DDPM's
    slider = window.trajectory.timestepSlider
    slider.setValue(slider.minimum())
    qtbot.keyClick(slider, Qt.Key.Key_Right)
    assert slider.value() == slider.minimum() + 1
    assert messages == []


def test_ddpm_only_views_refuse_a_flow_run_in_words(qtbot, window, messages):
    make_tiny(window, steps=10, preview_every=0)
    choose_flow(window)
    train_until(qtbot, window, 1)
    qtbot.waitUntil(lambda: not window.training, timeout=60_000)
    pipeline = window.session.model_pipeline()
    with pytest.raises(ValueError, match="DDPM analysis.*flow run"):
        pipeline.require_ddpm("The variational bound")


def test_the_paths_view_draws_ddpm_flow_and_reflow_side_by_side(qtbot, window, messages, tmp_path):
    """Run → Paths: the open flow run in its panel, a DDPM run and a reflow run from folders; straightness under
    each, and the reflowed paths straighter than the flow's (M55, M56)."""
    from ddpm_studio.cli import run_cli

    tiny = ["--data", "moons", "--steps", "60", "--quiet", "--preview-every", "0"]
    assert run_cli(["train", *tiny, "--T", "100", "--out", str(tmp_path / "ddpm")]) == 0
    assert run_cli(["train", "--process", "flow", *tiny, "--out", str(tmp_path / "flow")]) == 0
    assert run_cli(["reflow", str(tmp_path / "flow"), "--out", str(tmp_path / "reflow"), "--pairs", "500",
                    "--steps", "40", "--quiet"]) == 0
    make_tiny(window, steps=10, preview_every=0)
    choose_flow(window)
    train_until(qtbot, window, 1)
    qtbot.waitUntil(lambda: not window.training, timeout=60_000)
    window.pathsAction.trigger()
    dialog = window._paths
    assert dialog.objectName() == "pathsDialog" and dialog.sources == {1: None}
    dialog.set_source(0, str(tmp_path / "ddpm"))
    dialog.set_source(2, str(tmp_path / "reflow"))
    qtbot.mouseClick(dialog.drawButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(dialog.pictures) == 3 and dialog.drawButton.isEnabled(), timeout=120_000)
    titles = [dialog.pictures[s].title for s in range(3)]
    assert titles[0].startswith("DDPM (ODE)") and titles[1].startswith("flow,") and titles[2].startswith("flow after")
    assert all("straightness" in dialog.labels[s].text() for s in range(3))
    assert dialog.pictures[2].states.shape[1:] == (48, 2)
    assert "Straightness:" in dialog.statusLabel.text()
    assert messages == []
