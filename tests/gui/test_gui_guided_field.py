"""The Learned dock's Field tab for a class-conditional 2-D run: the guided field (M34) of the class and w chosen in
the Trajectory dock beside the guided ideal denoiser (M38), recomputed when either changes, named in the caption."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gui_helpers import TIMEOUT_MS, make_tiny, sample_and_wait
from PySide6.QtCore import Qt

from ddpm_studio.core.analysis.learned import FieldGuide, denoiser_field
from ddpm_studio.core.pipeline import full_precision
from ddpm_studio.gui.display import reference_points
from ddpm_studio.gui.jobs.learned import field_box

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


def _expected(win, t: int, n: int, label: int | None, w: float):
    """The field computed straight from the core on the session's own model and data (no GUI in between)."""
    make_pipeline, dataset = win.session.sample_source()
    pipe = make_pipeline()
    guide = None if label is None else FieldGuide(label, w, dataset.labels, pipe.num_classes)
    return denoiser_field(full_precision(pipe.network, pipe.device), pipe.diffusion, dataset.train, t,
                          field_box(reference_points(dataset)), n, "x0", pipe.shift, pipe.scale, guide)


def _wait_for(qtbot, win, label, w) -> None:
    field = win.learned.field
    qtbot.waitUntil(lambda: field.shown is not None and field.shown.request.label == label
                    and field.shown.request.guidance == w and not win.learned_runner.running, timeout=TIMEOUT_MS)


def test_the_field_of_a_conditional_run_is_guided_by_the_chosen_class_and_w(qtbot, window) -> None:
    win = window
    win.setup.select_builtin("moons")
    qtbot.waitUntil(lambda: win.setup.data_spec() == "moons" and "moons" in win.setup._data_classes,
                    timeout=TIMEOUT_MS)
    win.setup.conditionalCheck.setChecked(True)
    make_tiny(win, steps=30, preview_every=0)
    qtbot.mouseClick(win.trainButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.training and win.session.trainer is not None, timeout=TIMEOUT_MS)
    bar = win.trajectory.samplingBar
    assert [bar.classCombo.itemText(i) for i in (1, 2)] == ["upper moon", "lower moon"]
    bar.classCombo.setCurrentIndex(bar.classCombo.findData(0))
    sample_and_wait(qtbot, win, steps=10, count=40)
    win.samples_dock.flush()
    legend = win.samples_dock.classLegend  # the Samples dock keys its colours by the data's class names
    assert legend.isVisible() and [label.text for _marker, label in legend.items] == ["upper moon"]
    win.trajectory.timestepSlider.setValue(4)
    win.learned.field.sizeSpin.setValue(6)
    win.trajectory.fieldView.setChecked(True)
    field = win.learned.field
    _wait_for(qtbot, win, 0, 3.0)
    t = field.shown.t
    want = _expected(win, t, 6, 0, 3.0)
    assert np.allclose(field.shown.network, want.network.numpy(), atol=1e-5)
    assert np.allclose(field.shown.ideal, want.ideal.numpy(), atol=1e-5)
    assert "Class upper moon, w = 3.00" in field.fieldLabel.text()
    upper = field.shown

    # another class: a new job, the other moon's guided field on both sides
    bar.classCombo.setCurrentIndex(bar.classCombo.findData(1))
    _wait_for(qtbot, win, 1, 3.0)
    want = _expected(win, t, 6, 1, 3.0)
    assert np.allclose(field.shown.ideal, want.ideal.numpy(), atol=1e-5)
    assert np.allclose(field.shown.network, want.network.numpy(), atol=1e-5)
    assert not np.allclose(field.shown.ideal, upper.ideal, atol=1e-3)  # the class is not ignored
    assert "Class lower moon, w = 3.00" in field.fieldLabel.text()
    assert field.heat.plot.titleLabel.text == "guided to lower moon, w = 3"

    # another w: the guided ideal moves (w is not ignored) and the caption follows
    bar.guidanceSlider.setValue(bar.guidanceSlider.value() - 8)  # w = 1
    _wait_for(qtbot, win, 1, 1.0)
    assert np.allclose(field.shown.ideal, _expected(win, t, 6, 1, 1.0).ideal.numpy(), atol=1e-5)
    assert not np.allclose(field.shown.ideal, want.ideal.numpy(), atol=1e-3)
    assert "Class lower moon, w = 1.00" in field.fieldLabel.text()

    # back to the first choice: from the cache, no job
    bar.guidanceSlider.setValue(bar.guidanceSlider.value() + 8)
    bar.classCombo.setCurrentIndex(bar.classCombo.findData(0))
    assert field.shown is upper and not win.learned_runner.running

    # "all": the unguided field (the null class beside M30's ideal), whatever w says
    bar.classCombo.setCurrentIndex(0)
    _wait_for(qtbot, win, None, 0.0)
    assert np.allclose(field.shown.ideal, _expected(win, t, 6, None, 0.0).ideal.numpy(), atol=1e-5)
    assert field.fieldLabel.text().startswith("All classes, unguided")
    assert "unconditional field" in field.heat.plot.titleLabel.text and "w" not in field.heat.plot.titleLabel.text
    # the trajectory's points in the field are coloured by the class each was asked for
    brushes = {brush.color().name() for brush in field.points.data["brush"]}
    assert len(field.points.data) == 40 and len(brushes) == 1  # all 40 asked for class 0
    assert torch.equal(torch.as_tensor(win.trajectory.labels), torch.zeros(40, dtype=torch.long))
