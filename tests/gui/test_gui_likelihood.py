"""The Likelihood dock and the Compare dialog, driven offscreen with pytest-qt on tiny moons models.

The models train 20 steps (T = 20, cosine schedule; T = 1000 only where a computation must last long enough
to be cancelled). An autouse fixture fails any test that leaves a worker QThread running, and Qt warnings fail
the test.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QFileDialog
from torch import nn

from ddpm_studio.core.compare import CSV_NAME
from ddpm_studio.core.config import default_config
from ddpm_studio.core.training.trainer import Trainer
from ddpm_studio.gui.dialogs.compare import COLUMNS, CompareDialog
from ddpm_studio.gui.docks.likelihood import LikelihoodDock
from ddpm_studio.gui.jobs import setup as workers
from ddpm_studio.gui.presenters.bound import BoundPresenter
from ddpm_studio.gui.style import configure_pyqtgraph
from ddpm_studio.gui.widgets.compare_table import THUMBNAIL_SIZE

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

TIMEOUT_MS = 30_000


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """After each test (its widgets shut down by their fixtures) no worker QThread may still run."""
    yield
    assert workers.running_threads() == [], "a worker QThread was left running"


@pytest.fixture(scope="module")
def tiny_trainer():
    """``tiny_trainer(T)``: a moons model trained 20 steps with T timesteps (built once per T)."""
    trainers: dict[int, Trainer] = {}

    def get(num_timesteps: int) -> Trainer:
        if num_timesteps not in trainers:
            config = default_config("moons", "points")
            config.diffusion.schedule = "cosine"
            config.diffusion.num_timesteps = num_timesteps
            config.train.steps = 20
            config.train.preview_every = 0
            trainer = Trainer(config)
            for _event in trainer.train():
                pass
            trainers[num_timesteps] = trainer
        return trainers[num_timesteps]

    return get


@pytest.fixture
def dock(qtbot):
    configure_pyqtgraph()
    widget = LikelihoodDock()
    BoundPresenter(widget)  # the dock only draws: its presenter runs the job (a child of the dock)
    qtbot.addWidget(widget)
    widget.resize(720, 420)
    widget.show()
    yield widget
    widget.shutdown()


def click(qtbot, button) -> None:
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# ---------------------------------------------------------------------------- the Likelihood dock
def test_compute_bound_plots_every_term_and_a_finite_total(qtbot, dock, tiny_trainer):
    trainer = tiny_trainer(20)
    dock.set_source(trainer.pipeline, lambda: trainer.dataset.heldout)
    dock.boundExamplesSpin.setValue(64)
    computed = []
    dock.boundComputed.connect(computed.append)

    click(qtbot, dock.computeBoundButton)
    assert dock.computeBoundButton.text() == "Cancel"
    qtbot.waitUntil(lambda: not dock.running, timeout=TIMEOUT_MS)

    result = dock.result
    assert computed == [result]
    assert result.num_timesteps == 20 and result.num_examples == 64 and result.unit == "nats/dim"
    assert math.isfinite(result.per_dim)
    dock.boundLogYCheck.setChecked(False)  # every term, negative L_0 included, is on a linear axis
    dock.flush()
    assert len(dock.termsCurve.xData) + len(dock.decoderPoint.xData) == 20
    assert list(dock.termsCurve.yData) == pytest.approx(result.terms[1:])
    assert list(dock.priorPoint.xData) == [20.0]
    summary = dock.boundSummaryLabel.text()
    assert f"{result.per_dim:.4g}" in summary and "nats/dim" in summary and "Jacobian" in summary
    assert dock.boundProgressBar.value() == 20
    assert dock.computeBoundButton.text() == "Compute bound" and dock.computeBoundButton.isEnabled()


def test_cancel_midway_keeps_the_partial_terms_and_ends_the_thread(qtbot, dock, tiny_trainer):
    trainer = tiny_trainer(1000)
    dock.set_source(trainer.pipeline, lambda: trainer.dataset.heldout)

    click(qtbot, dock.computeBoundButton)
    qtbot.waitUntil(lambda: dock.boundProgressBar.value() >= 1, timeout=TIMEOUT_MS)
    click(qtbot, dock.computeBoundButton)  # now "Cancel"
    qtbot.waitUntil(lambda: not dock.running, timeout=TIMEOUT_MS)

    assert dock.result is None
    assert "Cancelled after" in dock.boundSummaryLabel.text()
    done = dock.boundProgressBar.value()
    assert 1 <= done < 1000
    assert int(torch.isfinite(torch.tensor(dock.termsCurve.yData)).sum()) >= 1
    assert dock.computeBoundButton.text() == "Compute bound"
    qtbot.waitUntil(lambda: workers.running_threads() == [], timeout=5000)  # without shutdown()


def test_refuses_without_a_model_and_while_busy(qtbot, dock):
    messages = []
    dock.message.connect(messages.append)
    dock.set_source(lambda: None, lambda: None)
    click(qtbot, dock.computeBoundButton)
    assert not dock.running and "train a model or open a run" in messages[-1]

    dock.set_busy(True, "Training: the weights are changing.")
    assert not dock.computeBoundButton.isEnabled()
    assert dock.computeBoundButton.toolTip() == "Training: the weights are changing."
    dock.set_busy(False)
    assert dock.computeBoundButton.isEnabled()


class _NaNNet(nn.Module):
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, float("nan"))


def test_a_failing_network_arrives_as_a_message(qtbot, dock, tiny_trainer):
    trainer = tiny_trainer(20)
    broken = dataclasses.replace(trainer.pipeline(), network=_NaNNet())
    dock.set_source(lambda: broken, lambda: trainer.dataset.heldout[:16])
    errors = []
    dock.failed.connect(errors.append)

    click(qtbot, dock.computeBoundButton)
    qtbot.waitUntil(lambda: not dock.running, timeout=TIMEOUT_MS)

    assert len(errors) == 1 and "NaN" in errors[0]
    assert "could not be computed" in dock.boundSummaryLabel.text()
    assert dock.computeBoundButton.isEnabled()


# ---------------------------------------------------------------------------- the Compare dialog


def tiny_comparison(dialog: CompareDialog, steps: int = 20, keep: tuple[str, ...] = ("eps/simple", "mean/vlb")):
    dialog.compareStepsSpin.setValue(steps)
    dialog.compareScheduleCombo.setCurrentText("cosine")
    dialog.compareTimestepsSpin.setValue(20)
    dialog.compareEvalSpin.setValue(32)
    settings = dialog.compareSettingsList
    for i in range(settings.count()):
        item = settings.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.text() in keep else Qt.CheckState.Unchecked)


def test_compare_fills_one_row_per_setting_with_thumbnails(qtbot, dialog, tmp_path, monkeypatch):
    chosen = tmp_path / "chosen"
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_args, **_kwargs: str(chosen))
    click(qtbot, dialog.compareOutButton)
    assert dialog.compareOutEdit.text() == str(chosen)
    tiny_comparison(dialog)
    formats = []
    dialog.compareProgressBar.valueChanged.connect(lambda _v: formats.append(dialog.compareProgressBar.format()))

    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT_MS)

    table = dialog.compareTable
    assert dialog.finished is not None, dialog.compareStatusLabel.text()
    assert table.rowCount() == 2
    assert [table.item(r, 0).text() for r in range(2)] == ["eps/simple", "mean/vlb"]
    for r in range(2):
        thumbnail = table.item(r, COLUMNS.index("samples")).data(Qt.ItemDataRole.DecorationRole)
        assert isinstance(thumbnail, QPixmap) and not thumbnail.isNull() and thumbnail.width() <= THUMBNAIL_SIZE
        assert math.isfinite(float(table.item(r, COLUMNS.index("bound")).text()))
    assert "real data" in table.horizontalHeaderItem(COLUMNS.index("score")).text()
    assert "nats/dim" in table.horizontalHeaderItem(COLUMNS.index("bound")).text()
    assert any(text.startswith("run 2/2: mean/vlb — training") for text in formats)
    with open(chosen / CSV_NAME, newline="") as handle:
        assert [row["name"] for row in csv.DictReader(handle)] == ["eps/simple", "mean/vlb"]


def test_closing_the_dialog_midrun_joins_the_worker(qtbot, dialog):
    tiny_comparison(dialog, steps=1_000_000, keep=("eps/simple",))
    out_dir = dialog.compareOutEdit.text()

    dialog.start()
    qtbot.waitUntil(lambda: "training" in dialog.compareProgressBar.format(), timeout=TIMEOUT_MS)
    dialog.close()

    assert workers.running_threads() == []
    qtbot.waitUntil(lambda: not dialog.running, timeout=5000)
    assert dialog.rows == [] and dialog.finished is None
    assert not (Path(out_dir) / CSV_NAME).exists()
