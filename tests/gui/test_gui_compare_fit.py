"""The Compare dialog on a 1024 x 768 and a 1280 x 720 projector: it fits, its newest result row is in view, the
thumbnails are large enough to read and the off-support share (compare.md's column) has a column of its own."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from gui_helpers import row_with_far_off
from PIL import Image
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QScreen

from ddpm_studio.gui.dialogs.compare import COLUMNS, CompareDialog
from ddpm_studio.gui.widgets.dialog_fit import FRAME_ALLOWANCE, dialog_size

pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints", "does not support raise"),
]


def test_dialog_size_shrinks_to_the_screen_with_its_frame():
    assert dialog_size(QSize(1040, 700), QRect(0, 0, 1920, 1080)) == QSize(1040, 700)
    assert dialog_size(QSize(1040, 700), QRect(0, 0, 1024, 768)) == QSize(1024 - FRAME_ALLOWANCE.width(), 700)
    assert dialog_size(QSize(1040, 700), QRect(0, 0, 1280, 720)).height() == 720 - FRAME_ALLOWANCE.height()


@pytest.mark.parametrize("screen", [QRect(0, 0, 1024, 768), QRect(0, 0, 1280, 720)], ids=["1024x768", "1280x720"])
def test_the_newest_row_is_in_view_with_a_readable_thumbnail_and_its_off_support_share(
        qtbot, monkeypatch, tmp_path, screen):
    monkeypatch.setattr(QScreen, "availableGeometry", lambda _screen: QRect(screen))
    dialog = CompareDialog(None, "moons", str(tmp_path / "compare"))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.width() + FRAME_ALLOWANCE.width() <= screen.width()
    assert dialog.height() + FRAME_ALLOWANCE.height() <= screen.height()
    png = tmp_path / "samples.png"
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(png)
    table = dialog.compareTable
    for index in range(6):
        off_support = 0.43 if index == 5 else 0.01
        dialog.add_row(dataclasses.replace(row_with_far_off(index), name=f"setting {index}", samples_png=str(png),
                                           extras={"off_support": off_support}))
    qtbot.wait(50)
    last = table.visualItemRect(table.item(5, 0))
    assert table.viewport().rect().contains(last), (last, table.viewport().rect())  # the whole newest row
    thumbnail = table.item(5, COLUMNS.index("samples")).data(Qt.ItemDataRole.DecorationRole)
    assert min(thumbnail.width(), thumbnail.height()) >= 100
    column = COLUMNS.index("off support")
    assert column == COLUMNS.index("far off") + 1
    assert table.item(5, column).text() == "43.0%" and table.item(0, column).text() == "1.0%"
    assert "M37" in table.item(5, column).toolTip()
    images = dataclasses.replace(row_with_far_off(0), extras={})  # images have no off-support share
    dialog.add_row(images)
    assert table.item(6, column).text() == "–"
    dialog.close()
