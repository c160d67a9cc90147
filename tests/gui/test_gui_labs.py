"""Run → Labs… (issue 29): the labs and their claims, a tiny real lab run to its verdict and plot, a cancel mid-run,
a report opened from its folder, a broken report and another lab's folder refused in words, and the dialog on a
1024 x 768 projector.

The one real run is ``kadkhodaie2024-twins`` with tiny settings (10 training steps, 64 samples, one seed): about a
minute on a busy two-core machine; the presenter's ``overrides`` give them to ``iter_lab``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QScreen

from ddpm_studio.core.labs import LAB_MODULES, get_recipe
from ddpm_studio.core.labs.report import REPORT_JSON, write_report
from ddpm_studio.gui.dialogs.labs import VERDICT_COLORS, VERDICT_WORDS, LabsDialog
from ddpm_studio.gui.jobs.runner import running_jobs
from ddpm_studio.gui.presenters.lab import LabPresenter
from ddpm_studio.gui.widgets.dialog_fit import FRAME_ALLOWANCE

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise",
                              "does not support activateWindow"),
]

TINY_LAB = "kadkhodaie2024-twins"
TINY = {"settings": {"steps": 10, "samples": 64}, "seeds": (0,)}
RUN_TIMEOUT_MS = 240_000  # a tiny lab takes about a minute here, with three other jobs on two cores


@pytest.fixture
def labs(qtbot, tmp_path):
    """The Labs dialog with its presenter (tiny settings), shown; its lab stopped and joined after the test."""
    dialog = LabsDialog(None, str(tmp_path / "labs"))
    presenter = LabPresenter(dialog)
    presenter.overrides = dict(TINY)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    yield dialog, presenter
    dialog.shutdown()
    dialog.close()


def a_report(lab: str = "song2021-ddim", verdict: str = "does not hold") -> dict:
    """A report.json as the core writes it, with a diverged seed ("inf") among the values."""
    recipe = get_recipe(lab)
    return {
        "lab": lab, "claim": recipe.claim, "paper": recipe.paper, "source": recipe.source,
        "paper_numbers": recipe.paper_numbers, "metric": recipe.metric, "budget": "quick",
        "setting": {"seeds": [0, 1], "data": "digits", "steps": 400},
        "rules": [rule.text() for rule in recipe.rules],
        "measurements": {"score DDIM 10": {"seeds": [0, 1], "values": [0.51, 0.55], "mean": 0.53, "spread": 0.028},
                         "score DDPM 10": {"seeds": [0, 1], "values": [0.42, "inf"], "mean": "inf",
                                           "spread": "nan"}},
        "checks": [{"claim": "DDIM beats DDPM at 10 steps", "verdict": verdict,
                    "reason": "score DDIM 10 0.53 against score DDPM 10 inf", "gap": 0.1, "margin": 0.05}],
        "verdict": verdict, "reason": "DDIM 10 steps 0.53 is not below DDPM 10 steps",
        "notes": ["Digits at 8 x 8 pixels, not CIFAR-10."], "plots": ["scores.png"],
        "tables": {"Scores by steps": ["| steps | DDIM | DDPM |", "|---|---|---|", "| 10 | 0.53 | inf |"]},
        "seconds": 321.0, "finished": "2026-12-07 17:00 UTC",
    }


def write_lab_folder(folder: Path, report: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((300, 600, 3), (40, 120, 200), np.uint8)).save(folder / "scores.png")
    write_report(folder, report)
    return folder


def test_the_dialog_lists_every_lab_with_its_claim_and_details(labs):
    dialog, _ = labs
    assert dialog.objectName() == "labsDialog"
    items = [dialog.labsList.item(row) for row in range(dialog.labsList.count())]
    assert [item.data(Qt.ItemDataRole.UserRole) for item in items] == list(LAB_MODULES)
    assert len(items) == 7
    for item in items:
        recipe = get_recipe(item.data(Qt.ItemDataRole.UserRole))
        assert recipe.name in item.text() and recipe.claim in item.text()
    dialog.select("cfg-tradeoff")
    recipe = get_recipe("cfg-tradeoff")
    details = dialog.labsDetails.text()
    for text in (recipe.source, "verdict rules", "quick", "full", f"about {recipe.full.minutes:.0f} min"):
        assert text in details, text
    assert dialog.labsRunQuickButton.text() == f"Run quick (~{recipe.quick.minutes:.0f} min)"
    assert dialog.labsOutEdit.text().endswith("cfg-tradeoff")  # the folder follows the chosen lab
    assert not dialog.labsCancelButton.isEnabled() and dialog.labsRunFullButton.isEnabled()
    assert dialog.labsVerdictLabel.text() == "No report yet"


def test_a_tiny_lab_runs_from_the_menu_to_its_verdict_and_plot(qtbot, window, tmp_path, monkeypatch):
    window.findChild(type(window.labsAction), "labsAction").trigger()
    dialog, presenter = window._labs, window.labs_presenter
    assert dialog.isVisible()
    presenter.overrides = dict(TINY)
    said: list[str] = []
    presenter.message.connect(lambda text, _timeout: said.append(text))
    folder = tmp_path / "twins"
    dialog.select(TINY_LAB)
    dialog.labsOutEdit.setText(str(folder))
    qtbot.mouseClick(dialog.labsRunQuickButton, Qt.MouseButton.LeftButton)
    assert dialog.running and presenter.running
    assert not dialog.labsRunQuickButton.isEnabled() and dialog.labsCancelButton.isEnabled()
    qtbot.waitUntil(lambda: not presenter.running, timeout=RUN_TIMEOUT_MS)
    report = dialog.report
    assert report is not None and report["lab"] == TINY_LAB, dialog.labsStatusLabel.text()
    assert dialog.labsTabs.currentWidget() is dialog.labsResult
    assert dialog.labsVerdictLabel.text() == VERDICT_WORDS[report["verdict"]]
    assert VERDICT_COLORS[report["verdict"]][0] in dialog.labsVerdictLabel.styleSheet()
    assert report["reason"] in dialog.labsReasonLabel.text()
    assert report["claim"] in dialog.labsClaimLabel.text()
    assert dialog.labsChecksTable.rowCount() == len(report["checks"]) == 2
    assert dialog.labsMeasurementsTable.rowCount() == len(report["measurements"])
    assert len(dialog.labsPlots) == 1 and not dialog.labsPlots[0].pixmap().isNull()
    assert (folder / REPORT_JSON).is_file()
    # the status bar said where the lab was, in per cent, and then its verdict
    assert any(text.startswith(f"lab {TINY_LAB}: seed 0") and text.endswith("%)") for text in said), said
    assert said[-1].startswith(f"lab {TINY_LAB}: {report['verdict']}")
    assert window.statusBar().currentMessage() == said[-1]
    assert dialog.labsRunQuickButton.isEnabled() and not dialog.labsCancelButton.isEnabled()

    # the same folder again: the user is asked (Resume / Start over / Cancel); Cancel starts nothing
    asked = []
    monkeypatch.setattr(dialog, "ask_existing", lambda request: asked.append(request) or None)
    dialog.run("quick")
    assert len(asked) == 1 and asked[0].out_dir == folder
    assert not presenter.running and running_jobs() == []


def test_cancel_mid_run_stops_the_lab_and_returns_to_idle(qtbot, labs, tmp_path):
    dialog, presenter = labs
    folder = tmp_path / "cancelled"
    dialog.select(TINY_LAB)
    dialog.labsOutEdit.setText(str(folder))
    dialog.run("quick")
    assert dialog.running
    qtbot.waitUntil(lambda: dialog.labsStageLabel.text().startswith("seed 0"), timeout=RUN_TIMEOUT_MS)
    qtbot.mouseClick(dialog.labsCancelButton, Qt.MouseButton.LeftButton)
    assert not dialog.labsCancelButton.isEnabled()  # asked once
    qtbot.waitUntil(lambda: not dialog.running, timeout=RUN_TIMEOUT_MS)
    assert not presenter.running and running_jobs() == []
    assert dialog.labsStatusLabel.text().startswith("Cancelled")
    assert dialog.report is None and not (folder / REPORT_JSON).exists()
    assert dialog.labsRunQuickButton.isEnabled() and dialog.labsOutEdit.isEnabled()
    assert dialog.labsProgressBar.value() == 0 and dialog.labsStageLabel.text() == ""


def test_a_closed_dialog_keeps_its_lab_and_the_window_stops_it_when_it_closes(qtbot, window, tmp_path):
    window.open_labs()
    dialog, presenter = window._labs, window.labs_presenter
    presenter.overrides = dict(TINY)
    dialog.select(TINY_LAB)
    dialog.labsOutEdit.setText(str(tmp_path / "closing"))
    dialog.run("quick")
    dialog.close()
    qtbot.wait(200)
    assert presenter.running  # closing the dialog does not stop a lab: its progress stays in the status bar
    window.close()  # the window stops it and waits for it
    assert running_jobs() == []


def test_an_existing_lab_folder_shows_its_report(labs, tmp_path):
    dialog, _ = labs
    folder = write_lab_folder(tmp_path / "ddim", a_report())
    dialog.open_folder(str(folder))
    assert dialog.report_folder == folder and dialog.report["lab"] == "song2021-ddim"
    assert dialog.selected_name() == "song2021-ddim" and dialog.labsOutEdit.text() == str(folder)
    assert dialog.labsTabs.currentWidget() is dialog.labsResult
    assert dialog.labsVerdictLabel.text() == "The claim does not hold"
    assert VERDICT_COLORS["does not hold"][0] in dialog.labsVerdictLabel.styleSheet()
    checks = dialog.labsChecksTable
    assert [checks.item(0, c).text() for c in range(3)] == [
        "DDIM beats DDPM at 10 steps", "does not hold", "score DDIM 10 0.53 against score DDPM 10 inf"]
    table = dialog.labsMeasurementsTable
    rows = {table.item(r, 0).text(): (table.item(r, 1).text(), table.item(r, 2).text())
            for r in range(table.rowCount())}
    assert rows["score DDIM 10"] == ("0.51 (seed 0), 0.55 (seed 1)", "0.53 ± 0.0283")
    assert rows["score DDPM 10"] == ("0.42 (seed 0), inf (seed 1)", "inf (diverged)")
    assert len(dialog.labsPlots) == 1 and dialog.labsPlots[0].pixmap().width() <= 600
    assert "Digits at 8 x 8" in dialog.labsNotesLabel.text()
    assert "Scores by steps" in dialog.labsTablesLabel.text()
    assert dialog.labsOpenFolderButton.isEnabled()
    # every verdict in its own words and colour
    for verdict in VERDICT_WORDS:
        write_report(folder, a_report(verdict=verdict))
        dialog.open_folder(str(folder))
        assert dialog.labsVerdictLabel.text() == VERDICT_WORDS[verdict]
        assert VERDICT_COLORS[verdict][1] in dialog.labsVerdictLabel.styleSheet()


def test_a_broken_or_missing_report_is_a_sentence_not_a_traceback(labs, tmp_path):
    dialog, _ = labs
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / REPORT_JSON).write_text("{not json", encoding="utf-8")
    dialog.open_folder(str(broken))
    assert "is not a readable lab report" in dialog.labsStatusLabel.text()
    assert "Traceback" not in dialog.labsStatusLabel.text() and dialog.report is None
    (broken / REPORT_JSON).write_text(json.dumps({"lab": "x"}), encoding="utf-8")
    dialog.open_folder(str(broken))
    assert "it lacks claim" in dialog.labsStatusLabel.text()
    empty = tmp_path / "empty"
    empty.mkdir()
    dialog.open_folder(str(empty))
    assert "holds no lab report" in dialog.labsStatusLabel.text()
    assert dialog.labsVerdictLabel.text() == "No report yet"


def test_another_labs_folder_is_refused_with_its_message(qtbot, labs, tmp_path):
    dialog, presenter = labs
    folder = write_lab_folder(tmp_path / "other", a_report("ho2020-table2", "holds"))
    dialog.select(TINY_LAB)
    dialog.labsOutEdit.setText(str(folder))
    dialog.run("quick")
    qtbot.waitUntil(lambda: not dialog.running and not presenter.running, timeout=30_000)
    text = dialog.labsStatusLabel.text()
    assert "holds the report of lab 'ho2020-table2'" in text, text
    assert "check Start over" in text and "--force" not in text  # the dialog's words, not the CLI's flags
    assert (folder / "scores.png").is_file() and running_jobs() == []  # nothing was touched


@pytest.mark.parametrize("screen", [QRect(0, 0, 1024, 768), QRect(0, 0, 1280, 720)], ids=["1024x768", "1280x720"])
def test_the_dialog_fits_a_small_projector_and_its_result_scrolls(qtbot, monkeypatch, tmp_path, screen):
    monkeypatch.setattr(QScreen, "availableGeometry", lambda _screen: QRect(screen))
    dialog = LabsDialog(None, str(tmp_path / "labs"))
    LabPresenter(dialog)  # it reads the report Open asks for
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.width() + FRAME_ALLOWANCE.width() <= screen.width()
    assert dialog.height() + FRAME_ALLOWANCE.height() <= screen.height()
    assert dialog.minimumSizeHint().width() <= dialog.width() and dialog.minimumSizeHint().height() <= dialog.height()
    dialog.open_folder(str(write_lab_folder(tmp_path / "ddim", a_report())))
    qtbot.wait(50)
    for button in (dialog.labsRunQuickButton, dialog.labsRunFullButton, dialog.labsCancelButton,
                   dialog.labsOpenButton, dialog.labsBrowseButton):
        corner = button.mapTo(dialog, button.rect().bottomRight())
        assert dialog.rect().contains(corner), button.objectName()
    scroll = dialog.labsResult
    body = scroll.widget()
    assert body.width() <= scroll.viewport().width()  # no sideways scrolling: the text wraps, the plots shrink
    assert scroll.verticalScrollBar().maximum() >= body.height() - scroll.viewport().height()
    plot = dialog.labsPlots[0]
    assert plot.pixmap().width() <= scroll.viewport().width()
