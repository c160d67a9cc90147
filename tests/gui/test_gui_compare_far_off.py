"""The Compare dialog's far-off column and step-budget note (issue 13), driven offscreen with pytest-qt."""

from __future__ import annotations

import pytest
from gui_helpers import row_with_far_off
from PySide6.QtCore import Qt

from ddpm_studio.core.compare import TABLE2_MIN_STEPS, far_off_text
from ddpm_studio.gui.dialogs.compare import COLUMNS

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]

TIMEOUT_MS = 60_000




def test_the_budget_note_shows_below_the_measured_step_budget_only(dialog):
    needed = TABLE2_MIN_STEPS["points"]
    dialog.compareStepsSpin.setValue(needed - 1)
    assert dialog.compareBudgetNote.isVisible()
    assert f"{needed - 1} steps" in dialog.compareBudgetNote.text()
    dialog.compareStepsSpin.setValue(needed)
    assert not dialog.compareBudgetNote.isVisible()
    dialog.compareDataCombo.setCurrentText("digits")  # the images' threshold
    dialog.compareStepsSpin.setValue(TABLE2_MIN_STEPS["images"] - 1)
    assert dialog.compareBudgetNote.isVisible()


def test_a_row_with_a_far_off_sample_says_so_beside_its_score(dialog):
    dialog.add_row(row_with_far_off(1))
    dialog.add_row(row_with_far_off(0))
    table = dialog.compareTable
    column = COLUMNS.index("far off")
    assert column == COLUMNS.index("score") + 1
    far, none = table.item(0, column), table.item(1, column)
    assert far.text() == "1 (0.24%)" and none.text() == "0"
    assert far.foreground().color() == Qt.GlobalColor.darkRed
    assert none.foreground().color() != Qt.GlobalColor.darkRed
    assert "with them: 1.996" in table.item(0, COLUMNS.index("score")).toolTip()
    assert "bounding box" in far.toolTip()


def test_a_real_comparison_fills_the_far_off_column_and_warns_of_its_budget(qtbot, dialog):
    dialog.compareStepsSpin.setValue(20)
    dialog.compareScheduleCombo.setCurrentText("cosine")
    dialog.compareTimestepsSpin.setValue(20)
    dialog.compareEvalSpin.setValue(32)
    settings = dialog.compareSettingsList
    for i in range(settings.count()):
        item = settings.item(i)
        item.setCheckState(Qt.CheckState.Checked if item.text() == "eps/simple" else Qt.CheckState.Unchecked)
    assert dialog.compareBudgetNote.isVisible() and "Table 2" in dialog.compareBudgetNote.text()

    dialog.start()
    qtbot.waitUntil(lambda: not dialog.running, timeout=TIMEOUT_MS)

    assert dialog.finished is not None, dialog.compareStatusLabel.text()
    (row,) = dialog.rows
    assert row.far_off_count is not None and row.far_off == pytest.approx(row.far_off_count / 409)
    assert dialog.compareTable.item(0, COLUMNS.index("far off")).text() == far_off_text(row)
    assert dialog.compareBudgetNote.isVisible()


def test_setting_tooltips_speak_the_vocabulary_of_choices(dialog):
    """The settings list and the table's setting cell name each choice with core/choices' label and MATH.md
    number (no copy of the vocabulary in the dialog)."""
    from ddpm_studio.core.compare import Setting
    from ddpm_studio.gui.widgets.compare_table import setting_tooltip

    tip = setting_tooltip(Setting("learned", "eps", "learned", "hybrid"))
    assert tip == ("predicts noise (ε) (M7), variance learned: between β̃_t and β_t (M13), "
                   "trained on hybrid: L_simple + 0.001 L_vlb (M19)")
    item = dialog.compareSettingsList.item(0)
    assert item.toolTip().startswith("predicts ") and "(M" in item.toolTip()
